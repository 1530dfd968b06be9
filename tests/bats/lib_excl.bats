#!/usr/bin/env bats
# SD_VDI_EXCLUSIVE (libsheepdog) with our sheep's exclusive lock: the open
# checks of tests/unit/test_lib_excl against a real sheep, the lock taken
# again after a sheep restart, and a holder cut off while another gateway
# took the vdi: its I/O fails with EBUSY until that gateway lets go; on the
# wire (sd-raw, an anonymous connection like tgt's built-in client), lock
# type 2 and the fencing of other clients' I/O.

load lib/common
load lib/raw

LX="$SD_TOP_BUILDDIR/tests/unit/test_lib_excl"
# Under SD_WRAP (valgrind) run the real program, not its libtool wrapper.
sd_libtool_unwrap LX
PROXY="$SD_TOOLS/sd-proxy"

setup() {
	LX_TMP=$(sd_tmpdir)
	HOLD_PID=
	PROXY_PID=
	TRY_PID=
	sheep_start "$LX_TMP/store"
	run sd_dog cluster format
	[ "$status" -eq 0 ]
}

teardown() {
	local p
	# TERM: timeout(1) passes it on to the program it runs (KILL would not)
	for p in $HOLD_PID $TRY_PID $PROXY_PID; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# shown when the test failed
	cat "$LX_TMP/hold.out" "$LX_TMP/try.out" 2>/dev/null || true
	sheep_stop || true
	rm -rf "$LX_TMP"
}

# ok_over N: the holder reported more than N successful writes.
ok_over() {
	[ "$(awk '$1 == "ok" { n = $2 } END { print n + 0 }' "$LX_TMP/hold.out")" -gt "$1" ]
}

ok_now() {
	awk '$1 == "ok" { n = $2 } END { print n + 0 }' "$LX_TMP/hold.out"
}

lx_try() {
	timeout 60 $SD_WRAP "$LX" "127.0.0.1:$SHEEP_PORT" --try "$@"
}

@test "lib_excl: exclusive refuses and is refused by other clients' opens, a killed holder frees the vdi at once, snapshots" {
	run timeout 300 $SD_WRAP "$LX" "127.0.0.1:$SHEEP_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *OK* ]]
}

@test "lib_excl: the holder takes its lock again after a sheep restart, before writing on" {
	run sd_dog vdi create hv 8M
	[ "$status" -eq 0 ]
	timeout 120 $SD_WRAP "$LX" "127.0.0.1:$SHEEP_PORT" --hold hv 12 >"$LX_TMP/hold.out" 2>&1 &
	HOLD_PID=$!
	sd_wait_for 30 grep -q '^held' "$LX_TMP/hold.out"
	run lx_try hv 0
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"exclusive open refused"* ]]
	sheep_stop KILL
	local n
	n=$(ok_now)
	sheep_start "$LX_TMP/store" "$SHEEP_PORT"
	# the write in flight is resent; the next one waits for the lock
	sd_wait_for 60 ok_over $((n + 2))
	run lx_try hv 0
	echo "$output"
	[ "$status" -eq 2 ]
	local rc=0
	wait "$HOLD_PID" || rc=$?
	HOLD_PID=
	cat "$LX_TMP/hold.out"
	[ "$rc" -eq 0 ]
	grep -q '^hold done' "$LX_TMP/hold.out"
	sd_refute grep -q 'write failed' "$LX_TMP/hold.out"
	# released at the end
	run lx_try hv 0
	[ "$status" -eq 0 ]
}

@test "lib_excl: a holder cut off while another gateway took the vdi fails its I/O with EBUSY, then goes on once it is free" {
	run sd_dog vdi create cv 8M
	[ "$status" -eq 0 ]
	local pport
	pport=$(sd_free_port)
	"$PROXY" --listen "$pport" --target "127.0.0.1:$SHEEP_PORT" >"$LX_TMP/proxy.log" 2>&1 &
	PROXY_PID=$!
	sd_wait_for 10 sd_tcp_open "$pport"
	timeout 180 $SD_WRAP "$LX" "127.0.0.1:$pport" --hold cv 150 >"$LX_TMP/hold.out" 2>&1 &
	HOLD_PID=$!
	sd_wait_for 30 grep -q '^held' "$LX_TMP/hold.out"
	sd_wait_for 30 ok_over 3
	# every connection of the holder closes: the sheep lets the lock go at once
	kill -KILL "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
	timeout 180 $SD_WRAP "$LX" "127.0.0.1:$SHEEP_PORT" --try cv 150 >"$LX_TMP/try.out" 2>&1 &
	TRY_PID=$!
	sd_wait_for 30 grep -q '^opened' "$LX_TMP/try.out"
	# the holder comes back and is refused: its writes fail, none is lost silently
	"$PROXY" --listen "$pport" --target "127.0.0.1:$SHEEP_PORT" >>"$LX_TMP/proxy.log" 2>&1 &
	PROXY_PID=$!
	# (a write already sent is fenced by the sheep: "VDI is already locked";
	# the next ones ask for the lock again first: "another gateway ...")
	sd_wait_for 60 grep -q 'write failed: Device or resource busy' "$LX_TMP/hold.out"
	sd_wait_for 30 grep -q 'write failed: .*another gateway' "$LX_TMP/hold.out"
	sd_refute grep -q '^recovered' "$LX_TMP/hold.out"
	# the other gateway dies (TERM: timeout(1) passes it on): the holder
	# takes the lock back and writes on
	kill -TERM "$TRY_PID"
	wait "$TRY_PID" 2>/dev/null || true
	TRY_PID=
	sd_wait_for 60 grep -q '^recovered' "$LX_TMP/hold.out"
	local n
	n=$(ok_now)
	sd_wait_for 30 ok_over "$n"
	cat "$LX_TMP/hold.out"
	[ "$(grep -E '^(recovered|write failed)' "$LX_TMP/hold.out" | tail -1)" = recovered ]
	# it holds the vdi again
	run lx_try cv 0
	echo "$output"
	[ "$status" -eq 2 ]
}

@test "lib_excl: on the wire: lock type 2 needs a client id; a holder refuses the anonymous client's lock and TGT-flagged I/O, not dog's untagged reads" {
	local vid
	vid=$(sd_new_vdi wv 8388608)
	# anonymous (no HELLO): nothing could release it
	run sd_raw req 0x12 --name wv --type 2
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0x01 --oid "$(sd_data_oid "$vid" 0)" --fill 0x61:4096 --flags 0x21
	[ "$(sd_field result "$output")" = 0x00 ]
	timeout 120 $SD_WRAP "$LX" "127.0.0.1:$SHEEP_PORT" --hold wv 60 >"$LX_TMP/hold.out" 2>&1 &
	HOLD_PID=$!
	sd_wait_for 30 grep -q '^held' "$LX_TMP/hold.out"
	# tgt's built-in client: its LOCK_VDI SHARED and its I/O are refused
	run sd_raw req 0x12 --proto 1 --name wv --tag "" --type 1
	[ "$(sd_field result "$output")" = 0x07 ]
	run sd_raw req 0x02 --oid "$(sd_data_oid "$vid" 0)" --len 4096 --flags 0x20
	[ "$(sd_field result "$output")" = 0x07 ]
	run sd_raw req 0x03 --oid "$(sd_data_oid "$vid" 0)" --fill 0x62:4096 --flags 0x21
	[ "$(sd_field result "$output")" = 0x07 ]
	# NORMAL stays a lookup; untagged reads (dog) pass
	run sd_raw req 0x12 --name wv --type 0
	[ "$(sd_field result "$output")" = 0x00 ]
	run sd_raw req 0x02 --oid "$(sd_data_oid "$vid" 0)" --len 4 --hex 4
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data "$output")" = 61616161 ]
	kill -TERM "$HOLD_PID"
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
	# the holder died: free at once
	run sd_raw req 0x03 --oid "$(sd_data_oid "$vid" 0)" --fill 0x62:4096 --flags 0x21
	[ "$(sd_field result "$output")" = 0x00 ]
	run sd_raw req 0x12 --proto 1 --name wv --tag "" --type 1
	[ "$(sd_field result "$output")" = 0x00 ]
}
