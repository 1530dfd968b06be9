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

# Under valgrind (scripts/test-all's valgrind phase) Reserve6.LUNReset is
# left out: after the reset, tgt core answers the next data-in command with
# the POWER ON RESET unit attention but still sends its whole, never
# written, data-in buffer (scsi_cmd_perform returns before any residual is
# set); valgrind flags that write in tgtd's iSCSI layer on tgt's rdwr store
# just the same.
@test "bs_pr: libiscsi reservation families pass with zero failures" {
	command -v iscsi-test-cu >/dev/null || skip "iscsi-test-cu not installed"
	sd_skip_heavy "reservation families"
	local fams=$PR_FAMILIES want=27
	case "${TGTD_WRAP:-}" in
	*valgrind*)
		fams=${fams/Reserve6/Reserve6.Simple Reserve6.2Initiators Reserve6.Logout
			Reserve6.ITNexusLoss Reserve6.TargetColdReset Reserve6.TargetWarmReset}
		want=26
		;;
	esac
	PASSED=0
	for f in $fams; do
		family 1 "$f"
	done
	echo "passed tests: $PASSED"
	[ "$PASSED" -eq "$want" ]
}

# CDBs and parameter lists in hex for the script lines.
prout() { # SA TYPE KEY SAKEY -> "CDB out=PARAMS"
	printf '5f%02x%02x000000000018%02x out=%016x%016x%016x' "$1" "$2" 0 "$3" "$4" 0
}
prin() { # SA
	printf '5e%02x000000000020%04x in=8192' "$1" 0
}
ZERO512=$(printf '0%.0s' $(seq 1 1024))
write10() { printf '2a00%08x000001%02x out=%s' "$1" 0 "$ZERO512"; }
read10() { printf '28%02x%08x000001%02x in=512' 0 "$1" 0; }
hexstr() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }

# status LINE: the status= field of output line LINE of the last run.
status_of() { echo "$output" | sed -n "${1}p" | sed -n 's/.* status=\([^ ]*\).*/\1/p'; }
line_of() { echo "$output" | sed -n "${1}p"; }

@test "bs_pr: READ FULL STATUS names each registration by initiator port, with the holder" {
	run script 1 <<EOT
login a $IQN:pra
login b $IQN:prb
a $(prout 6 0 0 0xaa)
b $(prout 6 0 0 0xbb)
a $(prout 1 1 0xaa 0)
a $(prin 3)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	data=$(line_of 4 | sed -n 's/.*data=//p')
	# PRgeneration 2; two descriptors of 24 bytes + a TransportID each
	ida=$(hexstr "$IQN:pra,i,0x80d000000000")
	idb=$(hexstr "$IQN:prb,i,0x80d000000001")
	[ "${data:0:8}" = 00000002 ]
	desc1=${data:16}
	# key 0xaa, R_HOLDER=1, type WE, relative target port 1, TransportID
	# format 01b iSCSI (0x45) with the name and ISID, NUL-padded
	[ "${desc1:0:16}" = 00000000000000aa ]
	[ "${desc1:24:4}" = 0101 ]
	[ "${desc1:36:4}" = 0001 ]
	[ "${desc1:48:2}" = 45 ]
	[ "${desc1:56:${#ida}}" = "$ida" ]
	len1=$((16#${desc1:40:8}))
	desc2=${desc1:$(((24 + len1) * 2))}
	[ "${desc2:0:16}" = 00000000000000bb ]
	[ "${desc2:24:4}" = 0000 ]
	[ "${desc2:56:${#idb}}" = "$idb" ]
	len2=$((16#${desc2:40:8}))
	# ADDITIONAL LENGTH covers exactly the two descriptors
	[ $((16#${data:8:8})) -eq $((48 + len1 + len2)) ]
}

@test "bs_pr: RESERVATION CONFLICT per type, nexus and opcode (COMPARE AND WRITE, UNMAP, PRE-FETCH), preempt, unit attentions" {
	run script 1 <<EOT
login a $IQN:pra
login b $IQN:prb
login c $IQN:prc
a $(prout 6 0 0 0xaa)
b $(prout 6 0 0 0xbb)
a $(prout 1 1 0xaa 0)
c $(write10 8)
c $(read10 8)
b $(write10 8)
a $(write10 8)
c 35000000000000000000
c 1a003f00ff00 in=255
c 000000000000
c 89000000000000000008000000010000 out=${ZERO512}${ZERO512}
c 420000000000000018$(printf %02x 0) out=001600100000000000000000000000080000000100000000
c 34000000000800000100
b $(prout 4 3 0xbb 0xaa)
a 000000000000
a $(prin 0)
c $(read10 8)
c 34000000000800000100
b $(read10 8)
b $(prout 2 3 0xbb 0)
c $(write10 8)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	# WRITE EXCLUSIVE held by a: writes from others conflict, reads pass
	[ "$(status_of 1)" = GOOD ]
	[ "$(status_of 2)" = GOOD ]
	[ "$(status_of 3)" = GOOD ]
	[ "$(status_of 4)" = 0x18 ]	# unregistered WRITE
	[ "$(status_of 5)" = GOOD ]	# unregistered READ
	[ "$(status_of 6)" = 0x18 ]	# registered non-holder WRITE
	[ "$(status_of 7)" = GOOD ]	# holder WRITE
	[ "$(status_of 8)" = 0x18 ]	# SYNCHRONIZE CACHE writes
	[ "$(status_of 9)" = GOOD ]	# MODE SENSE passes WRITE EXCLUSIVE
	[ "$(status_of 10)" = GOOD ]	# TEST UNIT READY
	[ "$(status_of 11)" = 0x18 ]	# COMPARE AND WRITE writes
	[ "$(status_of 12)" = 0x18 ]	# UNMAP writes
	[ "$(status_of 13)" = GOOD ]	# PRE-FETCH reads
	# b preempts a into EXCLUSIVE ACCESS: a gets REGISTRATIONS PREEMPTED
	[ "$(status_of 14)" = GOOD ]
	line_of 15 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x2a ascq=0x05'
	line_of 16 | grep -q 'data=000000030000000800000000000000bb$' # only b's key left
	[ "$(status_of 17)" = 0x18 ]	# reads conflict under EXCLUSIVE ACCESS
	[ "$(status_of 18)" = 0x18 ]	# PRE-FETCH too
	[ "$(status_of 19)" = GOOD ]
	[ "$(status_of 20)" = GOOD ]	# release
	[ "$(status_of 21)" = GOOD ]	# no reservation: writes pass again
}

@test "bs_pr: RESERVE(6) against registrations, PR commands against RESERVE(6)" {
	run script 1 <<EOT
login a $IQN:pra
login b $IQN:prb
a 160000000000
b $(prin 0)
a $(prin 0)
b 1a003f00ff00 in=255
b 120000002400 in=36
a 170000000000
b $(prout 6 0 0 0xbb)
a 160000000000
b 160000000000
b $(prout 1 5 0xbb 0)
b 170000000000
a 170000000000
b $(prout 6 0 0xbb 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(status_of 1)" = GOOD ]	# RESERVE(6) by a
	[ "$(status_of 2)" = 0x18 ]	# PR IN conflicts with a RESERVE in force,
	[ "$(status_of 3)" = 0x18 ]	# from the holder too (SPC-2 5.5.1)
	[ "$(status_of 4)" = 0x18 ]	# MODE SENSE from b
	[ "$(status_of 5)" = GOOD ]	# INQUIRY passes
	[ "$(status_of 6)" = GOOD ]	# RELEASE(6)
	[ "$(status_of 7)" = GOOD ]	# b registers
	[ "$(status_of 8)" = 0x18 ]	# RESERVE(6) with registrations present
	[ "$(status_of 9)" = 0x18 ]	# ... also from the registrant, no PR held
	[ "$(status_of 10)" = GOOD ]	# b reserves WRITE EXCLUSIVE - REGISTRANTS ONLY
	[ "$(status_of 11)" = GOOD ]	# RELEASE(6) from the holder: no effect, GOOD
	[ "$(status_of 12)" = 0x18 ]	# from an unregistered nexus: conflict
	[ "$(status_of 13)" = GOOD ]
}

@test "bs_pr: PR state is per LUN" {
	run script 1 <<EOT
login a $IQN:pra
a $(prout 6 0 0 0xaa)
a $(prout 1 3 0xaa 0)
EOT
	[ "$status" -eq 0 ]
	run script 2 <<EOT
login c $IQN:prc
c $(prin 0)
c $(prin 1)
c $(read10 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	line_of 1 | grep -q 'status=GOOD data=0000000000000000$'
	line_of 2 | grep -q 'status=GOOD data=0000000000000000$'
	[ "$(status_of 3)" = GOOD ]
	run script 1 <<EOT
login c $IQN:prc
c $(read10 0)
EOT
	[ "$(status_of 1)" = 0x18 ]
}

@test "bs_pr: registrations survive a relogin and a path update to the same vdi, not a change of vdi" {
	run script 1 <<EOT
login a $IQN:pra 000000001234
a $(prout 6 0 0 0xaa)
a $(prout 1 1 0xaa 0)
logout a
login a $IQN:pra 000000001234
a $(write10 0)
login b $IQN:pra 000000005678
b $(write10 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(status_of 3)" = GOOD ]	# same initiator port after relogin: holder
	[ "$(status_of 4)" = 0x18 ]	# same name, other ISID: another nexus
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params online=0
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params "path=$(bss_tcp pr1)"
	run script 1 <<EOT
login a $IQN:pra 000000001234
a $(prin 1)
login c $IQN:prc
c $(write10 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	line_of 1 | grep -q 'status=GOOD data=000000010000001000000000000000aa0000000000010000$'
	[ "$(status_of 2)" = 0x18 ]
	bss_vdi_create pr3 16M
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params online=0
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params "path=$(bss_tcp pr3)"
	run script 1 <<EOT
login c $IQN:prc
c $(prin 0)
c $(write10 0)
EOT
	echo "$output"
	line_of 1 | grep -q 'status=GOOD data=0000000000000000$'
	[ "$(status_of 2)" = GOOD ]
}

# The same families on tgt's rdwr store in the same tgtd: core's own PR code
# still serves other backing stores (the module swaps handlers per LU only).
# Measured, not asserted: with tgt 1.0.85 it fails PrinServiceactionRange,
# four ProutReserve.Ownership tests and Reserve6.2Initiators.
@test "bs_pr: with the sheep stopped, PR OUT, PR IN, RESERVE(6) and a LU's first commands wait for it without holding tgtd's loop" {
	# the LU's first command loads its state (synchronously); a's key
	run script 1 <<EOT
login a $IQN:pra
a $(prout 6 0 0 0xaa)
EOT
	[ "$status" -eq 0 ]
	[ "$(status_of 1)" = GOOD ]
	# b logs in while the sheep runs; its commands come through a fifo
	mkfifo "$T/in"
	script 1 <"$T/in" >"$T/s.out" 2>&1 &
	local pid=$! t0 ms
	exec 7>"$T/in"
	printf 'login b %s\nb 000000000000\n' "$IQN:prb" >&7
	sd_wait_for 30 grep -q status= "$T/s.out"
	kill -STOP "$SHEEP_PID"
	printf 'b %s\nb %s\nb 160000000000\nb 170000000000\n' "$(prout 6 0 0 0xbb)" "$(prin 0)" >&7
	# and LUN 2's first commands ever: its state is not loaded yet
	printf 'login c %s\nc %s\n' "$IQN:prc" "$(read10 0)" | script 2 >"$T/c.out" 2>&1 &
	local cpid=$!
	# PR commands wait at most 2 s for their reservation lookup before
	# their handler runs, which then needs the state from the sheep
	sleep 3.5
	t0=$(date +%s%N)
	timeout 60 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target >/dev/null
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "tgtadm answered in $ms ms while the PR OUT waited for the sheep"
	local answered
	answered=$(grep -c status= "$T/s.out")
	kill -CONT "$SHEEP_PID"
	exec 7>&-
	wait "$pid"
	wait "$cpid"
	cut -c1-40 "$T/c.out"
	grep -q '^c status=GOOD data=00' "$T/c.out"
	output=$(cat "$T/s.out")
	echo "$output"
	[ "$ms" -lt 2000 ]
	# nothing but the TUR was answered while the sheep was stopped
	[ "$answered" -eq 1 ]
	[ "$(status_of 1)" = GOOD ] # TUR
	[ "$(status_of 2)" = GOOD ] # b registers
	# READ KEYS: PRgeneration 2, 16 bytes of keys, 0xaa and 0xbb
	line_of 3 | grep -q 'status=GOOD data=000000020000001000000000000000aa00000000000000bb'
	# RESERVE(6) and RELEASE(6) with registrations present: conflict (CRH)
	[ "$(status_of 4)" = 0x18 ]
	[ "$(status_of 5)" = 0x18 ]
	tgt_lun_del 1 1
	bss_log_has "PR commands without waiting on tgtd's loop"
	n=$(sed -n "s/.* \([0-9]*\) PR commands without waiting.*/\1/p" "$TGTD_LOG" | tail -1)
	echo "$n PR commands ran asynchronously"
	[ "$n" -ge 4 ]
}

@test "bs_pr: the families on tgt's rdwr store in the same tgtd (measurement)" {
	command -v iscsi-test-cu >/dev/null || skip "iscsi-test-cu not installed"
	sd_skip_heavy "reservation families on rdwr"
	case "${TGTD_WRAP:-}" in
	*valgrind*) skip "measures tgt core, whose PR and unit attention paths send unwritten data-in bytes" ;;
	esac
	local f tests ran=0 failed=0
	truncate -s 16M "$T/file.img"
	tgt_lun_new 1 3 "$T/file.img" rdwr
	for f in $PR_FAMILIES; do
		run timeout 300 iscsi-test-cu --dataloss -i "$IQN:init1" -I "$IQN:init2" \
			--test "ALL.$f" "$(tgt_url 1 3)"
		tests=$(echo "$output" | awk '$1 == "tests" { print $3, $4, $5 }')
		echo "rdwr family $f: ran/passed/failed tests: $tests"
		set -- $tests
		ran=$((ran + ${1:-0}))
		failed=$((failed + ${3:-0}))
	done
	echo "rdwr: $ran tests ran, $failed failed"
	[ "$ran" -eq 27 ]
}
