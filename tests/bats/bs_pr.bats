#!/usr/bin/env bats
# Persistent reservations and RESERVE/RELEASE(6) on sheepdog LUNs
# (bs_sheepdog/bss_pr*.c): libiscsi's reservation families with zero
# failures, then what the suite does not cover, with raw CDBs from
# several I_T nexuses (iscsi-io --mode script): READ FULL STATUS,
# RESERVATION CONFLICT per type and opcode, unit attentions, PR state per
# LUN, across a relogin and across a path update.

load lib/common
load lib/tgtd
load lib/bss

PR_FAMILIES="PrinReadKeys PrinServiceactionRange PrinReportCapabilities ProutRegister
ProutReserve ProutClear ProutPreempt Reserve6"

setup() {
	bss_setup
	bss_vdi_create pr1 16M
	bss_vdi_create pr2 16M
	bss_lun 1 "$(bss_tcp pr1)"
	bss_lun 2 "$(bss_tcp pr2)"
}

teardown() {
	bss_teardown
}

# family LUN FAMILY: ALL.FAMILY with two initiators; prints "passed N";
# fails on any failed test or assert.
family() {
	local lun=$1 fam=$2 tests asserts
	run timeout 300 iscsi-test-cu --dataloss -i "$IQN:init1" -I "$IQN:init2" --test "ALL.$fam" \
		"$(tgt_url 1 "$lun")"
	tests=$(echo "$output" | awk '$1 == "tests" { print $3, $4, $5 }')
	asserts=$(echo "$output" | awk '$1 == "asserts" { print $5 }')
	echo "family $fam: ran/passed/failed tests: $tests; failed asserts: $asserts"
	[ -n "$tests" ] || { echo "$output" | tail -n 30; return 1; }
	set -- $tests
	if [ "$1" -eq 0 ] || [ "$3" -ne 0 ] || [ "$asserts" -ne 0 ] || [ "$status" -ne 0 ]; then
		echo "$output" | grep -E 'FAILED|Test:' | tail -n 40
		return 1
	fi
	PASSED=$((PASSED + $2))
}

# script LUN: runs iscsi-io --mode script on stdin against LUN of target 1.
script() {
	timeout 120 "$IO" "$(tgt_url 1 "$1")" --mode script
}

@test "bs_pr: libiscsi reservation families pass with zero failures" {
	command -v iscsi-test-cu >/dev/null || skip "iscsi-test-cu not installed"
	PASSED=0
	for f in $PR_FAMILIES; do
		family 1 "$f"
	done
	echo "passed tests: $PASSED"
	[ "$PASSED" -ge 27 ]
}
