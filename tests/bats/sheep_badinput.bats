#!/usr/bin/env bats
# Bad input: every class gets a protocol error or a closed connection, and
# sheep keeps serving other clients afterwards (sheep_alive uses a fresh
# connection).  teardown also requires a clean exit 0 on SIGTERM.

load lib/common
load lib/raw

setup() {
	STORE=$(sd_tmpdir)
	sheep_start_any "$STORE"
	sd_format
	VID=$(sd_new_vdi bad 41943040)
	OID=$(sd_data_oid $VID 0)
	sd_req_ok 0x01 --oid $OID --flags 1 >/dev/null
}

teardown() {
	local rc=0
	sheep_stop || rc=$?
	rm -rf "$STORE"
	[ "$rc" -eq 0 ]
}

# (0xf0 and 0xf1 are our extensions: EXT_HELLO, EXT_CMP_WRITE_OBJ)
@test "unknown opcodes get NO_SUPPORT, logged once per opcode" {
	local i
	run sd_raw req 0x7e
	[ "$(sd_field result "$output")" = 0x8b ]
	run sd_raw req 0xef
	[ "$(sd_field result "$output")" = 0x8b ]
	# with a (small) payload: it is consumed and the stream stays in sync
	run sd_raw req 0x7e --fill 0x55:1000
	[ "$(sd_field result "$output")" = 0x8b ]
	# obsolete 0xC3 with proto 0x0a is NO_SUPPORT, with proto 2 VER_MISMATCH
	run sd_raw req 0xc3
	[ "$(sd_field result "$output")" = 0x8b ]
	run sd_raw req 0xc3 --proto 2
	[ "$(sd_field result "$output")" = 0x14 ]
	for i in 1 2 3; do
		run sd_raw req 0x7e
		[ "$(sd_field result "$output")" = 0x8b ]
	done
	sheep_alive
	# one log line per opcode value, however often it was sent
	[ "$(grep -c 'unsupported opcode 0x7e' "$STORE/sheep.log")" -eq 1 ]
	[ "$(grep -c 'unsupported opcode 0xef' "$STORE/sheep.log")" -eq 1 ]
	[ "$(grep -c 'unsupported opcode 0xc3' "$STORE/sheep.log")" -eq 1 ]
}

@test "payload lengths beyond the op's limit close the connection" {
	# WRITE_OBJ claiming 4 GiB - 1 of payload: more than any object
	run sd_raw req 0x03 --oid $OID --flags 1 --len 0xffffffff --expect-close
	[ "$status" -eq 0 ]
	sheep_alive
	# NEW_VDI claiming 1 MiB of name
	run sd_raw req 0x11 --flags 1 --len 1048576 --expect-close
	[ "$status" -eq 0 ]
	# unknown opcode with a large payload
	run sd_raw req 0x7e --flags 1 --len 16777216 --expect-close
	[ "$status" -eq 0 ]
	sheep_alive
	grep -q "exceeds" "$STORE/sheep.log"
}

@test "huge read lengths and out-of-range offsets get INVALID_PARMS" {
	run sd_raw req 0x02 --oid $OID --len 0xffffffff
	[ "$(sd_field result "$output")" = 0x05 ]
	[ "$(sd_field data_length "$output")" = 0 ]
	run sd_raw req 0x02 --oid $OID --len 2 --offset 4194303
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x02 --oid $OID --len 1 --offset 0xffffffff
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x03 --oid $OID --fill 1:2 --offset 4194303
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x01 --oid $OID --fill 1:16 --offset 4194300
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x01 --oid $OID --fill 1:16 --offset 0xfffffff0
	[ "$(sd_field result "$output")" = 0x05 ]
	# inode index write running past the index
	run sd_raw req 0x03 --oid $(sd_vdi_oid $VID) --fill 0:8 --offset 12587572
	[ "$(sd_field result "$output")" = 0x05 ]
	# list buffers of the wrong size
	run sd_raw req 0x15 --len 4096
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0xc9 --len 0xffffffff
	[ "$(sd_field result "$output")" = 0x05 ]
	# the object is untouched
	run sd_raw req 0x02 --oid $OID --len 4194304 --hex 4
	[ "$(sd_field data_length "$output")" = 4194304 ]
	sheep_alive
}

@test "names: wrong payload sizes and missing NULs get INVALID_PARMS" {
	long=$(printf 'A%.0s' $(seq 1 256))
	# name without NUL (256 non-zero bytes)
	run sd_raw req 0x11 --hexdata "$(printf '41%.0s' $(seq 1 256))" --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x14 --hexdata "$(printf '41%.0s' $(seq 1 256))"
	[ "$(sd_field result "$output")" = 0x05 ]
	# tag without NUL
	run sd_raw req 0x14 --name bad --hexdata "$(printf '42%.0s' $(seq 1 256))"
	[ "$(sd_field result "$output")" = 0x05 ]
	# NEW_VDI must be exactly 256 bytes
	run sd_raw req 0x11 --name x --tag "" --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x11 --fill 0x41:255 --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x17 --fill 0:100
	[ "$(sd_field result "$output")" = 0x05 ]
	# empty name
	run sd_raw req 0x11 --name "" --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x05 ]
	# MAKE_FS store name without NUL
	run sd_raw req 0x84 --hexdata 706c61696e
	[ "$(sd_field result "$output")" = 0x05 ]
	# bad NEW_VDI parameters: shift out of range, oversized flat vdi
	run sd_raw req 0x11 --name y --vdi-size 4194304 --shift 40
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x11 --name y --vdi-size 0x100000000000000
	[ "$(sd_field result "$output")" = 0x05 ]
	[ "$(sd_vdi_vid bad)" = "$VID" ]
	sheep_alive
}

@test "WRITE flag mismatches get INVALID_PARMS" {
	# ops that need a payload, sent without the WRITE flag
	run sd_raw req 0x11 --flags 0 --len 256 --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x03 --oid $OID --flags 0 --len 16
	[ "$(sd_field result "$output")" = 0x05 ]
	# a read that carries a payload
	run sd_raw req 0x02 --oid $OID --fill 0x41:16
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x02 --oid $OID --len 4 --hex 4
	[ "$(sd_field data "$output")" = 00000000 ]
	sheep_alive
}

@test "truncated frames: peer closes mid-header and mid-payload" {
	# 20 bytes of a header
	run sd_raw req 0x14 --name bad --send-bytes 20
	[ "$status" -eq 0 ]
	# full header, part of a 256-byte name
	run sd_raw req 0x14 --name bad --send-bytes 100
	[ "$status" -eq 0 ]
	# a write whose 1 MiB payload stops after 4 KiB
	run sd_raw req 0x03 --oid $OID --fill 0x77:1048576 --send-bytes 4144
	[ "$status" -eq 0 ]
	sd_wait_for 10 grep -q "mid-frame" "$STORE/sheep.log"
	sheep_alive
	# the partial write was never applied
	run sd_raw req 0x02 --oid $OID --len 4 --hex 4
	[ "$(sd_field data "$output")" = 00000000 ]
}

@test "garbage bytes and clients vanishing with requests in flight" {
	head -c 65536 /dev/urandom >"$STORE/garbage"
	( exec 5<>"/dev/tcp/127.0.0.1/$SHEEP_PORT"; cat "$STORE/garbage" >&5 ) || true
	sheep_alive
	# many requests in flight, client killed mid-way
	for i in 1 2 3; do
		timeout -s KILL 0.3 "$SD_RAW" -a 127.0.0.1 -p "$SHEEP_PORT" pipeline --vid $VID --objects 20 --count 20000 --size 4096 >/dev/null 2>&1 || true
	done
	sheep_alive
	# and many short-lived connections at once
	pids=
	for i in $(seq 1 50); do
		( exec 5<>"/dev/tcp/127.0.0.1/$SHEEP_PORT"; printf 'xx' >&5 ) 2>/dev/null &
		pids="$pids $!"
	done
	wait $pids || true
	sheep_alive
}
