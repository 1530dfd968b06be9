#!/usr/bin/env bats
# libiscsi's multipath family (iscsi-test-cu SCSI.MultipathIO) with one path
# per gateway: two tgtds export the same vdi, each through its own LUN, and
# iscsi-test-cu gets one URL per tgtd.  The two LUNs are one device to the
# initiator (the identifiers come from the vdi, not from the tgtd), which
# the family checks before it runs.
#
#   Simple                 WRITE 1..256 blocks on one path, READ them on the
#                          other, both ways
#   Reset                  LUN RESET on one path: every path reports the
#                          unit attention
#   CompareAndWrite[Async] COMPARE AND WRITE from both paths on one block
#
# On a preallocated vdi Simple and the CompareAndWrite tests need nothing but
# the sheep (no gateway caches data; COMPARE AND WRITE is the sheep's
# compare-and-write with shared=1).  The whole family on a thin vdi also
# needs coherence between gateways and the LUN reset published to every
# gateway.

load lib/common
load lib/tgtd
load lib/bss

setup() {
	command -v iscsi-test-cu >/dev/null || skip "iscsi-test-cu not installed"
	bss_setup
	tgtd_start module
	tgtd_save b
	tgt_target_new 1 "$IQN"
}

teardown() {
	tgtd_use b
	tgtd_stop || true
	bss_teardown
}

# mp_luns VDI: LUN 1 on VDI in both tgtds; sets URL_A URL_B
mp_luns() {
	tgtd_use a
	bss_lun 1 "$(bss_tcp "$1")"
	URL_A=$(tgt_url 1 1)
	tgtd_use b
	bss_lun 1 "$(bss_tcp "$1")"
	URL_B=$(tgt_url 1 1)
}

# mp_run TESTS WANT: iscsi-test-cu --test TESTS over both paths; WANT tests
# must run and pass, with no failed assert and nothing skipped
mp_run() {
	local tests asserts
	run timeout 600 iscsi-test-cu --dataloss -i "$IQN:init1" -I "$IQN:init2" --test "$1" \
		"$URL_A" "$URL_B"
	tests=$(echo "$output" | awk '$1 == "tests" { print $3, $4, $5 }')
	asserts=$(echo "$output" | awk '$1 == "asserts" { print $5 }')
	echo "$1: ran/passed/failed tests: $tests; failed asserts: $asserts"
	echo "$output" | grep -E 'Test: |SKIPPED|skipped' || true
	[ -n "$tests" ] || { echo "$output" | tail -n 30; return 1; }
	set -- $tests "$2"
	[ "$1" -eq "$4" ] && [ "$2" -eq "$4" ] && [ "$3" -eq 0 ] && [ "$asserts" -eq 0 ] &&
		[ "$status" -eq 0 ] || return 1
	! echo "$output" | grep -qiE 'skipped|not run'
}

@test "bs_multipath_cu: Simple and CompareAndWrite(Async) through two tgtds on one preallocated vdi" {
	run sd_dog vdi create -P vol 64M
	[ "$status" -eq 0 ]
	mp_luns vol
	mp_run "SCSI.MultipathIO.Simple" 1
	mp_run "SCSI.MultipathIO.CompareAndWrite" 1
	mp_run "SCSI.MultipathIO.CompareAndWriteAsync" 1
}

@test "bs_multipath_cu: the whole SCSI.MultipathIO family through two tgtds on one thin vdi" {
	# Simple writes blocks into a hole through one gateway and reads them
	# through the other (coherence between gateways, shared=1); Reset
	# needs the LUN reset's unit attention in the other tgtd (published
	# in the cluster PR state, bss_pr_tgt.c).
	bss_vdi_create vol 64M
	mp_luns vol
	mp_run "SCSI.MultipathIO" 4
}
