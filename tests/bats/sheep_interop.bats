#!/usr/bin/env bats
# Interop with an independent client: stock tgtd 1.0.85 with its BUILT-IN
# sheepdog backing store (private mount namespace without our module)
# exports vdis of this sheep; libiscsi initiators drive I/O.  The built-in
# client truncates 5-digit ports, so sheep gets a 4-digit one.

load lib/common
load lib/tgtd
load lib/raw

IO="$SD_TOOLS/iscsi-io"
IQN=iqn.2026-11.org.sheepdog.tests:interop
MiB=1048576

setup() {
	[ -x "$IO" ] || { echo "$IO not built (libiscsi-dev missing?)" >&2; return 1; }
	[ -x "$DOG" ] || { echo "$DOG not built" >&2; return 1; }
	T=$(sd_tmpdir)
	SD_PORT_DIGITS=4 sheep_start_any "$T/store" || return 1
	sd_dog cluster format -c 1 >/dev/null
	tgtd_start builtin || return 1
	tgtd_save a
	tgt_target_new 1 "$IQN"
}

teardown() {
	local rc=0
	tgtd_use a
	tgtd_stop || rc=1
	sheep_stop || rc=1
	rm -rf "$T"
	return $rc
}

io() {
	local lun=$1; shift
	timeout 300 "$IO" "$(tgt_url 1 "$lun")" "$@"
}

pattern() {
	"$IO" - --mode pattern --offset "$1" --length "$2" --seed "$3"
}

@test "interop: built-in tgt client writes across objects, reads back, snapshot under I/O" {
	sd_dog vdi create vol 24M
	tgt_lun_new 1 1 "tcp:127.0.0.1:$SHEEP_PORT:vol" sheepdog
	# 12 MiB from 1 MiB: spans objects 0-3, many commands cross a boundary
	run io 1 --mode write --qd 8 --bs 196608 --offset $MiB --length $((12 * MiB)) --seed 3
	echo "$output"
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 8 --bs 131072 --offset $MiB --length $((12 * MiB)) --seed 3
	echo "$output"
	[ "$status" -eq 0 ]
	# dog sees the same bytes
	sd_dog vdi read vol $((4 * MiB - 4096)) 8192 >"$T/got"
	pattern $((4 * MiB - 4096)) 8192 3 >"$T/want"
	cmp "$T/got" "$T/want"
	# snapshot while the LUN is exported, then keep writing through tgtd
	sd_dog vdi snapshot -s before vol
	run io 1 --mode write --qd 4 --bs 65536 --offset $((3 * MiB)) --length $((6 * MiB)) --seed 4
	echo "$output"
	[ "$status" -eq 0 ]
	# the live vdi has the new data where it was written, the old elsewhere
	run io 1 --mode verify --qd 8 --bs 65536 --offset $((3 * MiB)) --length $((6 * MiB)) --seed 4
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 8 --bs 65536 --offset $((9 * MiB)) --length $((4 * MiB)) --seed 3
	[ "$status" -eq 0 ]
	sd_dog vdi read vol $((3 * MiB)) $((6 * MiB)) >"$T/got"
	pattern $((3 * MiB)) $((6 * MiB)) 4 >"$T/want"
	cmp "$T/got" "$T/want"
	# the snapshot still holds the old data
	sd_dog vdi read -s before vol $MiB $((12 * MiB)) >"$T/got"
	pattern $MiB $((12 * MiB)) 3 >"$T/want"
	cmp "$T/got" "$T/want"
	# tgt got READONLY on the old objects and COWed: the working inode owns
	# objects 0-2 (written after the snapshot), object 3 is still shared
	old=$(sd_vdi_vid vol before)
	new=$(sd_vdi_vid vol)
	[ "$old" != "$new" ]
	le() { printf '%02x%02x%02x00' $(( $1 & 255 )) $(( $1 >> 8 & 255 )) $(( $1 >> 16 )); }
	run sd_raw req 0x02 --oid $(sd_vdi_oid $new) --len 16 --offset 4664 --hex 16
	[ "$(sd_field data "$output")" = "$(le $new)$(le $new)$(le $new)$(le $old)" ]
	run sd_raw req 0x02 --oid $(sd_vdi_oid $old) --len 16 --offset 4664 --hex 16
	[ "$(sd_field data "$output")" = "$(le $old)$(le $old)$(le $old)$(le $old)" ]
}

@test "interop: built-in client over the UNIX socket" {
	sd_dog vdi create uvol 8M
	tgt_lun_new 1 1 "unix:$T/store/sock:uvol" sheepdog
	run io 1 --mode write --qd 4 --bs 65536 --offset 0 --length $((8 * MiB)) --seed 9
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 4 --bs 65536 --offset 0 --length $((8 * MiB)) --seed 9
	[ "$status" -eq 0 ]
}

@test "interop: iscsi-test-cu Read10 Read16 Write10 Write16 on a built-in client LUN" {
	command -v iscsi-test-cu >/dev/null || { echo "iscsi-test-cu missing" >&2; return 1; }
	sd_dog vdi create conf 64M
	tgt_lun_new 1 1 "tcp:127.0.0.1:$SHEEP_PORT:conf" sheepdog
	for fam in Read10 Read16 Write10 Write16; do
		run timeout 600 iscsi-test-cu --dataloss -i "$IQN:init1" -I "$IQN:init2" \
			--test "ALL.$fam" "$(tgt_url 1 1)"
		echo "$output" | tail -n 12
		tests=$(echo "$output" | awk '$1 == "tests" { print $3, $5 }')
		asserts=$(echo "$output" | awk '$1 == "asserts" { print $5 }')
		[ -n "$tests" ]
		set -- $tests
		[ "$1" -gt 0 ]
		[ "$2" -eq 0 ]
		[ "$asserts" -eq 0 ]
		[ "$status" -eq 0 ]
	done
}
