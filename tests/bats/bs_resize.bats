#!/usr/bin/env bats
# Capacity changes of an exported vdi (bs_sheepdog/bss_main.c, "Capacity
# changes"): after `dog vdi resize`, a re-open of the LU (tgtadm --op update
# --params online=0,path=SAME) or the periodic refresh (bsopts refresh=SEC)
# gives the LU the new capacity, every I_T nexus gets the unit attention
# CAPACITY DATA HAS CHANGED (2A/09) on its next command, I/O beyond the old
# end works and beyond the new end fails with LBA OUT OF RANGE.
#
# Initiators are bss-raw --session processes: one login (one I_T nexus)
# each, fed commands through a fifo, so the unit attention queued for that
# nexus is seen (a fresh login would only see its power-on reset).

load lib/common
load lib/tgtd
load lib/bss

TUR=000000000000
RC16=9e100000000000000000000000200000 # READ CAPACITY (16), 32 bytes

setup() {
	bss_setup
	SESSIONS=
}

teardown() {
	local s pid fd
	for s in $SESSIONS; do
		eval "fd=\$SESS_FD_$s pid=\$SESS_PID_$s"
		eval "exec $fd>&-"
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	bss_teardown
}

# sess_open NAME LUN: a bss-raw session on LUN of target 1 as initiator
# $IQN:NAME, commands through fifo $T/NAME.in, results in $T/NAME.out.
sess_open() {
	local name=$1 lun=$2 fd
	mkfifo "$T/$name.in"
	timeout 300 "$BSS_RAW" "$(tgt_url 1 "$lun")" --session --initiator "$IQN:$name" \
		<"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" 3>&- &
	eval "SESS_PID_$name=$!"
	exec {fd}>"$T/$name.in"
	eval "SESS_FD_$name=$fd"
	SESSIONS="$SESSIONS $name"
}

# sess_cmd NAME CDBHEX [IN_LEN]: runs one command in the session, prints
# its result lines (status=..., data=...); fails if none comes in 10 s.
sess_cmd() {
	local name=$1 fd l0 n0 i
	eval "fd=\$SESS_FD_$name"
	l0=$(wc -l <"$T/$name.out")
	n0=$(grep -c '^status=' "$T/$name.out" || true)
	echo "$2 ${3:-0}" >&"$fd"
	for i in $(seq 1 100); do
		if [ "$(grep -c '^status=' "$T/$name.out" || true)" -gt "$n0" ]; then
			sleep 0.05 # a data line follows in the same flush
			sed -n "$((l0 + 1)),\$p" "$T/$name.out"
			return 0
		fi
		sleep 0.1
	done
	echo "session $name: no answer to $2" >&2
	cat "$T/$name.err" >&2
	return 1
}

# sess_blocks NAME: the capacity in 512-byte blocks from READ CAPACITY (16)
# (fails unless the command was GOOD).
sess_blocks() {
	local out data
	out=$(sess_cmd "$1" "$RC16" 32) || return 1
	echo "$out" | grep -q '^status=GOOD' || { echo "READ CAPACITY: $out" >&2; return 1; }
	data=$(echo "$out" | sed -n 's/^data=//p')
	echo $((0x${data:0:16} + 1))
}

# expect_ua NAME: the session's next command gets CAPACITY DATA HAS CHANGED.
expect_ua() {
	local out
	out=$(sess_cmd "$1" "$TUR") || return 1
	echo "$1: $out"
	[[ "$out" == *"status=CHECK_CONDITION key=0x06 asc=0x2a ascq=0x09"* ]]
}

expect_good() {
	local out
	out=$(sess_cmd "$1" "$TUR") || return 1
	echo "$1: $out"
	[[ "$out" == "status=GOOD" ]]
}

# I/O beyond the old end works, beyond the new end fails (blocks of 512).
check_io_ends() { # OLD_BLOCKS NEW_BLOCKS
	run bss_raw 1 "$(bss_cdb16 0x8a 0 "$1" 8)" --out-byte 0xab --out-len 4096
	echo "write at old end: $output"
	[ "$status" -eq 0 ] && [ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x88 0 $(($2 - 8)) 8)" --in 4096
	echo "read at new end: $output"
	[ "$status" -eq 0 ] && [ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x8a 0 "$2" 1)" --out-byte 0xab --out-len 512
	echo "write beyond new end: $output"
	[[ "$output" == "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00"* ]]
	run bss_raw 1 "$(bss_cdb16 0x88 0 $(($2 - 1)) 2)" --in 1024
	echo "read across new end: $output"
	[[ "$output" == "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00"* ]]
	# what was written beyond the old end is in the vdi
	sd_dog vdi read rs $(($1 * 512)) 4096 >"$T/tail"
	[ "$(od -An -tx1 -v "$T/tail" | tr -s ' \n' '\n\n' | sort -u | grep -v '^$')" = ab ]
}

@test "bs_resize: tgtadm re-open after dog vdi resize: new capacity, 2A/09 on every nexus" {
	bss_vdi_create rs 8M
	bss_lun 1 "$(bss_tcp rs)" "refresh=0"
	sess_open a 1
	sess_open b 1
	[ "$(sess_blocks a)" -eq 16384 ]
	[ "$(sess_blocks b)" -eq 16384 ]

	sd_dog vdi resize rs 16M
	# refresh=0: nothing changes until the admin re-opens the LU
	sleep 1
	expect_good a
	[ "$(sess_blocks a)" -eq 16384 ]

	run tgt_adm --op update --mode logicalunit --tid 1 --lun 1 \
		--params "online=0,path=$(bss_tcp rs)"
	echo "$output"
	[ "$status" -eq 0 ]
	bss_log_has "re-opened with 16777216 bytes (was 8388608)"

	expect_ua a
	[ "$(sess_blocks a)" -eq 32768 ]
	expect_good a
	# b's first command gets the unit attention too.  A TEST UNIT READY:
	# tgtd 1.0.85 answers a unit attention on a data-in command with its
	# data-in buffer sent unwritten (valgrind flags it, with rdwr and no
	# module loaded as well), which would fail the valgrind phase.
	expect_ua b
	[ "$(sess_blocks b)" -eq 32768 ]

	check_io_ends 16384 32768

	# a re-open with the size unchanged raises nothing
	run tgt_adm --op update --mode logicalunit --tid 1 --lun 1 \
		--params "online=0,path=$(bss_tcp rs)"
	[ "$status" -eq 0 ]
	expect_good a
	expect_good b
}

@test "bs_resize: periodic refresh (refresh=1) sees the resize without any admin step" {
	bss_vdi_create rs 8M
	bss_lun 1 "$(bss_tcp rs)" "refresh=1"
	sess_open a 1
	sess_open b 1
	[ "$(sess_blocks a)" -eq 16384 ]
	[ "$(sess_blocks b)" -eq 16384 ]
	# several refresh periods with no change: no unit attention
	sleep 2.5
	expect_good a
	expect_good b

	sd_dog vdi resize rs 12M
	bss_log_has "grew from 8388608 to 12582912 bytes"
	expect_ua a
	expect_ua b
	[ "$(sess_blocks a)" -eq 24576 ]
	[ "$(sess_blocks b)" -eq 24576 ]
	expect_good a

	check_io_ends 16384 24576

	# and again: a second resize is seen the same way
	sd_dog vdi resize rs 20M
	bss_log_has "grew from 12582912 to 20971520 bytes"
	expect_ua b
	[ "$(sess_blocks b)" -eq 40960 ]
}

@test "bs_resize: a vdi re-created smaller under the same name keeps the exported capacity" {
	bss_vdi_create rs 16M
	bss_lun 1 "$(bss_tcp rs)" "refresh=1"
	sess_open a 1
	[ "$(sess_blocks a)" -eq 32768 ]
	sd_dog vdi delete rs
	bss_vdi_create rs 8M
	bss_log_has "is now 8388608 bytes, less than the 16777216 exported"
	expect_good a
	[ "$(sess_blocks a)" -eq 32768 ]
	# inside the new vdi: fine; beyond its end: LBA OUT OF RANGE
	run bss_raw 1 "$(bss_cdb16 0x88 0 0 8)" --in 4096
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x88 0 16384 8)" --in 4096
	echo "$output"
	[[ "$output" == "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00"* ]]
}
