#!/usr/bin/env bats
# Interop with an independent client, part 2 (part 1 is sheep_interop.bats:
# sequential pattern across objects, snapshot under I/O with the COW check,
# the UNIX socket, iscsi-test-cu Read/Write 10/16).  Stock tgtd 1.0.85 with
# its built-in sheepdog store (private mount namespace, no module), a sheep
# on a 4-digit port (the built-in client truncates 5-digit ones):
#   - 32 outstanding commands from the initiator (16 tgtd worker threads
#     hitting sheep concurrently), dog and tgtd agreeing on the bytes in
#     both directions;
#   - random mixed I/O on two LUNs at once, verified;
#   - a clone exported and written (COW from the parent's objects);
#   - LUN delete / re-add (RELEASE_VDI, LOCK_VDI again) and a sheep restart
#     between exports;
#   - two snapshots while exported; iscsi-test-cu Read/Write 10/16 on a
#     clone, whose writes COW from the parent.

load lib/common
load lib/tgtd

IO="$SD_TOOLS/iscsi-io"
IQN=iqn.2026-11.org.sheepdog.tests:builtin-interop
MiB=1048576

setup() {
	[ -x "$IO" ] || { echo "$IO not built (libiscsi-dev missing?)" >&2; return 1; }
	[ -x "$SHEEP" ] || { echo "$SHEEP not built" >&2; return 1; }
	[ -x "$DOG" ] || { echo "$DOG not built" >&2; return 1; }
	T=$(sd_tmpdir)
	start_sheep
	sd_dog cluster format -c 1 >/dev/null
	tgtd_start builtin
	tgt_target_new 1 "$IQN"
}

teardown() {
	local rc=0
	tgtd_stop_all || rc=1
	sheep_stop || rc=1
	rm -rf "$T"
	return $rc
}

# sheep on a free 4-digit port; on restart, the same port again.
start_sheep() {
	local port=${1:-} i
	for i in 1 2 3; do
		[ -n "${1:-}" ] || port=$(sd_free_port 4)
		sheep_start "$T/store" "$port" && return 0
		sheep_stop >/dev/null 2>&1 || true
		[ -z "${1:-}" ] || return 1
	done
	return 1
}

lun() {
	tgt_lun_new 1 "$1" "tcp:127.0.0.1:$SHEEP_PORT:$2" sheepdog
}

io() {
	local l=$1; shift
	timeout 300 "$IO" "$(tgt_url 1 "$l")" "$@"
}

pattern() {
	"$IO" - --mode pattern --offset "$1" --length "$2" --seed "$3"
}

# same_as_pattern VDI OFF LEN SEED [dog -s TAG]: dog vdi read == pattern
same_as_pattern() {
	local vdi=$1 off=$2 len=$3 seed=$4; shift 4
	sd_dog vdi read "$@" "$vdi" "$off" "$len" >"$T/got"
	pattern "$off" "$len" "$seed" >"$T/want"
	cmp "$T/got" "$T/want"
}

@test "built-in client at qd 32: tgtd and dog agree on the bytes, both ways" {
	sd_dog vdi create vol 32M
	lun 1 vol
	# 2 MiB + 512 .. 22 MiB + 512 in 192.5 KiB commands: objects 0-5,
	# most commands unaligned, many crossing an object boundary.
	run io 1 --mode write --qd 32 --bs 197120 --offset $((2 * MiB + 512)) --length $((20 * MiB)) --seed 21
	echo "$output"
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 32 --bs 65536 --offset $((2 * MiB + 512)) --length $((20 * MiB)) --seed 21
	echo "$output"
	[ "$status" -eq 0 ]
	same_as_pattern vol $((2 * MiB + 512)) $((20 * MiB)) 21
	# never-written parts of written objects read as zeros through both
	sd_dog vdi read vol 0 $((2 * MiB)) | cmp - <(head -c $((2 * MiB)) /dev/zero)
	run io 1 --mode verify --offset 0 --length $((2 * MiB)) --seed 21
	[ "$status" -eq 1 ]
	# dog overwrites allocated objects; tgtd reads sheep's data, not a cache
	pattern $((6 * MiB)) $((5 * MiB)) 22 | sd_dog vdi write vol $((6 * MiB)) $((5 * MiB))
	run io 1 --mode verify --qd 32 --bs 131072 --offset $((6 * MiB)) --length $((5 * MiB)) --seed 22
	echo "$output"
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 32 --bs 131072 --offset $((11 * MiB)) --length $((11 * MiB + 512)) --seed 21
	[ "$status" -eq 0 ]
}

@test "built-in client: random mixed I/O on two LUNs at once, verified" {
	sd_dog vdi create va 24M
	sd_dog vdi create vb 24M
	lun 1 va
	lun 2 vb
	run io 1 --mode write --qd 32 --bs 1M --seed 31
	[ "$status" -eq 0 ]
	run io 2 --mode write --qd 32 --bs 1M --seed 32
	[ "$status" -eq 0 ]
	# Random writes carry the same pattern, so reads can be verified while
	# writes race with them; both LUNs at once.
	io 1 --mode randrw --qd 32 --bs 4096 --count 4000 --seed 31 --verify-reads >"$T/a.out" 2>&1 &
	local a=$!
	io 2 --mode randrw --qd 32 --bs 16384 --count 2000 --seed 32 --verify-reads >"$T/b.out" 2>&1 &
	local b=$!
	local ra=0 rb=0
	wait $a || ra=$?
	wait $b || rb=$?
	cat "$T/a.out" "$T/b.out"
	[ $ra -eq 0 ]
	[ $rb -eq 0 ]
	grep -q "ops=4000 errors=0" "$T/a.out"
	grep -q "ops=2000 errors=0" "$T/b.out"
	run io 1 --mode verify --qd 32 --bs 1M --seed 31
	[ "$status" -eq 0 ]
	run io 2 --mode verify --qd 32 --bs 1M --seed 32
	[ "$status" -eq 0 ]
	same_as_pattern va 0 $((24 * MiB)) 31
	same_as_pattern vb 0 $((24 * MiB)) 32
}

@test "built-in client: a clone exported and written, parent and snapshot untouched" {
	sd_dog vdi create base 16M
	pattern 0 $((16 * MiB)) 41 | sd_dog vdi write base 0 $((16 * MiB))
	sd_dog vdi snapshot -s s1 base
	sd_dog vdi clone -s s1 base cl
	lun 1 cl
	# reads of a fresh clone come from the parent's objects
	run io 1 --mode verify --qd 16 --bs 1M --seed 41
	echo "$output"
	[ "$status" -eq 0 ]
	# partial-object writes: tgt COWs objects 1 and 2 from the parent
	run io 1 --mode write --qd 16 --bs 65536 --offset $((5 * MiB)) --length $((4 * MiB)) --seed 42
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 16 --bs 1M --length $((5 * MiB)) --seed 41
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 16 --bs 1M --offset $((5 * MiB)) --length $((4 * MiB)) --seed 42
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 16 --bs 1M --offset $((9 * MiB)) --length $((7 * MiB)) --seed 41
	[ "$status" -eq 0 ]
	same_as_pattern cl $((4 * MiB)) $((MiB)) 41
	same_as_pattern cl $((5 * MiB)) $((4 * MiB)) 42
	same_as_pattern cl $((9 * MiB)) $((3 * MiB)) 41
	same_as_pattern base 0 $((16 * MiB)) 41
	same_as_pattern base 0 $((16 * MiB)) 41 -s s1
}

@test "built-in client: LUN delete and re-add, and a sheep restart between exports" {
	sd_dog vdi create keep 12M
	lun 1 keep
	run io 1 --mode write --qd 16 --bs 256k --seed 51
	[ "$status" -eq 0 ]
	# delete (tgt releases the vdi) and export again at once
	tgt_lun_del 1 1
	lun 1 keep
	run io 1 --mode verify --qd 16 --bs 256k --seed 51
	[ "$status" -eq 0 ]
	run io 1 --mode write --qd 16 --bs 256k --offset $((4 * MiB)) --length $((2 * MiB)) --seed 52
	[ "$status" -eq 0 ]
	tgt_lun_del 1 1
	local port=$SHEEP_PORT
	sheep_stop
	start_sheep "$port"
	lun 1 keep
	run io 1 --mode verify --qd 16 --bs 256k --length $((4 * MiB)) --seed 51
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 16 --bs 256k --offset $((4 * MiB)) --length $((2 * MiB)) --seed 52
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 16 --bs 256k --offset $((6 * MiB)) --length $((6 * MiB)) --seed 51
	[ "$status" -eq 0 ]
	# tgtd stops cleanly with the LUN still open
	run tgtd_stop
	[ "$status" -eq 0 ]
}

@test "built-in client: two snapshots while exported, each keeps its generation" {
	sd_dog vdi create gen 8M
	lun 1 gen
	run io 1 --mode write --qd 32 --bs 128k --seed 61
	[ "$status" -eq 0 ]
	sd_dog vdi snapshot -s s1 gen
	run io 1 --mode write --qd 32 --bs 128k --offset $((2 * MiB)) --length $((4 * MiB)) --seed 62
	echo "$output"
	[ "$status" -eq 0 ]
	sd_dog vdi snapshot -s s2 gen
	run io 1 --mode write --qd 32 --bs 128k --offset $((4 * MiB)) --length $((4 * MiB)) --seed 63
	echo "$output"
	[ "$status" -eq 0 ]
	# live: 61 | 62 | 63 | 63
	run io 1 --mode verify --qd 8 --bs 1M --length $((2 * MiB)) --seed 61
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 8 --bs 1M --offset $((2 * MiB)) --length $((2 * MiB)) --seed 62
	[ "$status" -eq 0 ]
	run io 1 --mode verify --qd 8 --bs 1M --offset $((4 * MiB)) --length $((4 * MiB)) --seed 63
	[ "$status" -eq 0 ]
	same_as_pattern gen $((2 * MiB)) $((2 * MiB)) 62
	same_as_pattern gen $((4 * MiB)) $((4 * MiB)) 63
	# s1: all 61; s2: 61 | 62 62 | 61
	same_as_pattern gen 0 $((8 * MiB)) 61 -s s1
	same_as_pattern gen 0 $((2 * MiB)) 61 -s s2
	same_as_pattern gen $((2 * MiB)) $((4 * MiB)) 62 -s s2
	same_as_pattern gen $((6 * MiB)) $((2 * MiB)) 61 -s s2
}

@test "built-in client: iscsi-test-cu Read/Write 10/16 on an exported clone (COW writes)" {
	command -v iscsi-test-cu >/dev/null || { echo "iscsi-test-cu missing" >&2; return 1; }
	sd_dog vdi create par 64M
	pattern 0 $((8 * MiB)) 71 | sd_dog vdi write par 0 $((8 * MiB))
	pattern $((60 * MiB)) $((4 * MiB)) 71 | sd_dog vdi write par $((60 * MiB)) $((4 * MiB))
	sd_dog vdi snapshot -s base par
	sd_dog vdi clone -s base par child
	lun 1 child
	local fam tests asserts
	for fam in Read10 Read16 Write10 Write16; do
		run timeout 600 iscsi-test-cu --dataloss -i "$IQN:cu1" -I "$IQN:cu2" \
			--test "SCSI.$fam" "$(tgt_url 1 1)"
		echo "$output" >"$T/cu.$fam.log"
		echo "$output" | tail -n 8
		tests=$(echo "$output" | awk '$1 == "tests" { print $3, $5 }')
		asserts=$(echo "$output" | awk '$1 == "asserts" { print $5 }')
		[ -n "$tests" ]
		set -- $tests
		[ "$1" -gt 0 ]
		[ "$2" -eq 0 ]
		[ "$asserts" -eq 0 ]
		[ "$status" -eq 0 ]
	done
	# the writes COWed into the clone; parent and snapshot are untouched
	same_as_pattern par 0 $((8 * MiB)) 71
	same_as_pattern par $((60 * MiB)) $((4 * MiB)) 71
	same_as_pattern par 0 $((8 * MiB)) 71 -s base
	sd_dog vdi read par $((8 * MiB)) $((52 * MiB)) | cmp - <(head -c $((52 * MiB)) /dev/zero)
}
