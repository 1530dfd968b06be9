#!/usr/bin/env bats
# bs_sheepdog.so failure handling: bad --backing-store strings, unknown vdis
# and snapshots, unreachable or silent sheep, unknown --bsopts make tgtadm
# fail quickly with the reason in tgtd's log; tgtd survives and keeps serving
# the other LUNs; a sheep that dies under an exported LUN turns I/O into
# ABORTED COMMAND within the retry window and LUN deletion takes at most 2 s;
# the module reconnects when sheep comes back.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576

setup() {
	bss_setup
	bss_vdi_create vol 16M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_io 1 --mode write --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	[ "$status" -eq 0 ]
}

teardown() {
	[ -z "${SILENT_PID:-}" ] || kill "$SILENT_PID" 2>/dev/null || true
	bss_teardown
}

# expect_lun_fails LUN BACKING BSOPTS LOGTEXT: tgtadm fails within 15 s and
# tgtd's log explains why; LUN 1 still serves I/O afterwards.
expect_lun_fails() {
	local lun=$1 backing=$2 bsopts=$3 text=$4 t0 t1
	t0=$(date +%s)
	run tgt_lun_new 1 "$lun" "$backing" sheepdog "$bsopts"
	t1=$(date +%s)
	echo "tgtadm: status $status output: $output (took $((t1 - t0)) s)"
	[ "$status" -ne 0 ]
	[ $((t1 - t0)) -le 15 ]
	if ! bss_log_has "$text"; then
		echo "tgtd log lacks '$text':"
		tail -n 20 "$TGTD_LOG"
		return 1
	fi
	# The LUN does not exist.
	run tgt_adm --op show --mode target
	[[ "$output" != *"LUN: $lun"* ]]
	# tgtd is alive and LUN 1 still works.
	run bss_io 1 --mode verify --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	[ "$status" -eq 0 ]
}

@test "bs_errors: malformed backing-store strings are refused with the reason" {
	expect_lun_fails 2 "vol" "" "bad backing store 'vol'"
	expect_lun_fails 2 "tcp:127.0.0.1:$SHEEP_PORT" "" "expected tcp:HOST:PORT:VDI"
	expect_lun_fails 2 "tcp:127.0.0.1:99999:vol" "" "bad port '99999'"
	expect_lun_fails 2 "unix::vol" "" "empty socket path"
	expect_lun_fails 2 "tcp:[::1:$SHEEP_PORT:vol" "" "unterminated '['"
	expect_lun_fails 2 "tcp:127.0.0.1:$SHEEP_PORT:vol:" "" "empty snapshot tag/id"
	expect_lun_fails 2 "rbd:pool/img" "" "expected unix:SOCKET:VDI"
}

@test "bs_errors: unknown vdi, unknown snapshot tag and id are refused" {
	expect_lun_fails 2 "$(bss_tcp nosuch)" "" "cannot open vdi 'nosuch'"
	expect_lun_fails 2 "$(bss_tcp vol:nosuchtag)" "" "cannot open snapshot 'nosuchtag' of vdi 'vol'"
	expect_lun_fails 2 "$(bss_tcp vol:42)" "" "cannot open snapshot id 42 of vdi 'vol'"
}

@test "bs_errors: unknown or bad bsopts and bsoflags are refused" {
	expect_lun_fails 2 "$(bss_tcp vol)" "bogus=1" "unknown option 'bogus'"
	expect_lun_fails 2 "$(bss_tcp vol)" "conns=4;timeout=0" "bad value '0' for timeout"
	expect_lun_fails 2 "$(bss_tcp vol)" "conns" "expected key=value"
	# Known options work (LUN 2 on another vdi).
	bss_vdi_create vol2 8M
	run tgt_lun_new 1 2 "$(bss_tcp vol2)" sheepdog "conns=2;timeout=10;retry=5;connect_timeout=2;max_inflight=64"
	[ "$status" -eq 0 ]
	run bss_io 2 --mode write --qd 8 --bs 65536 --offset 0 --length $((2 * MiB)) --seed 6
	[ "$status" -eq 0 ]
	# The module accepts no open flags: tgtd refuses them before bs_open.
	run tgt_adm --lld iscsi --op new --mode logicalunit --tid 1 --lun 3 \
		--backing-store "$(bss_tcp vol2)" --bstype sheepdog --bsoflags direct
	[ "$status" -ne 0 ]
	bss_log_has "bsoflags direct not supported by backing store sheepdog"
}

@test "bs_errors: unreachable sheep (refused, unix socket missing) fails fast" {
	local port
	port=$(sd_free_port)
	expect_lun_fails 2 "tcp:127.0.0.1:$port:vol" "" "cannot connect to sheep at 127.0.0.1:$port"
	expect_lun_fails 2 "unix:$T/no/such/sock:vol" "" "cannot connect to sheep at unix:$T/no/such/sock"
	# The UNIX socket of the real sheep works.
	bss_vdi_create vol3 8M
	run tgt_lun_new 1 3 "unix:$SHEEP_STORE/sock:vol3"
	[ "$status" -eq 0 ]
	run bss_io 3 --mode write --qd 8 --bs 65536 --offset 0 --length $((2 * MiB)) --seed 8
	[ "$status" -eq 0 ]
	run bss_io 3 --mode verify --qd 8 --bs 65536 --offset 0 --length $((2 * MiB)) --seed 8
	[ "$status" -eq 0 ]
}

@test "bs_errors: a sheep that accepts but never answers: open bounded by the timeout" {
	local port
	port=$(sd_free_port)
	# Listens (the kernel completes the handshake) but never reads.
	python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(120)' "$port" &
	SILENT_PID=$!
	sd_wait_for 10 sd_tcp_open "$port"
	expect_lun_fails 2 "tcp:127.0.0.1:$port:vol" "timeout=2;retry=2;connect_timeout=2" \
		"cannot open vdi 'vol' at 127.0.0.1:$port"
}

@test "bs_errors: sheep dies under an exported LUN: ABORTED COMMAND, bounded delete, reconnect" {
	local t0 t1
	# LUN 2 with short timeouts.
	bss_vdi_create fast 8M
	run tgt_lun_new 1 2 "$(bss_tcp fast)" sheepdog "timeout=2;retry=3;connect_timeout=1"
	[ "$status" -eq 0 ]
	run bss_io 2 --mode write --qd 4 --bs 65536 --offset 0 --length $((MiB)) --seed 9
	[ "$status" -eq 0 ]

	sheep_stop KILL
	t0=$(date +%s)
	run bss_raw 2 "$(bss_cdb10 0x28 0 0 8)" --in 4096
	t1=$(date +%s)
	echo "$output (after $((t1 - t0)) s)"
	[[ "$output" == "status=CHECK_CONDITION key=0x0b asc=0x08 ascq=0x0"[01] ]]
	[ $((t1 - t0)) -le 30 ]
	run bss_raw 2 "$(bss_cdb10 0x2a 0 0 8)" --out-byte 1 --out-len 4096
	[[ "$output" == "status=CHECK_CONDITION key=0x0b asc=0x08 ascq=0x0"[01] ]]
	# tgtd's main loop is not blocked meanwhile.
	run timeout 5 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode sys
	[ "$status" -eq 0 ]

	# Deleting a LUN whose sheep is dead never waits for it (bs_delete.bats).
	t0=$(date +%s%3N)
	run tgt_lun_del 1 2
	t1=$(date +%s%3N)
	echo "delete: $status $output (after $((t1 - t0)) ms)"
	[ "$status" -eq 0 ]
	[ $((t1 - t0)) -le 2000 ]

	# sheep comes back on the same port and store: LUN 1 reconnects by
	# itself and serves the data written before.
	sheep_start "$SHEEP_STORE" "$SHEEP_PORT"
	run bss_io 1 --mode verify --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	echo "$output"
	[ "$status" -eq 0 ]
	run bss_io 1 --mode write --qd 8 --bs 65536 --offset $((4 * MiB)) --length $((MiB)) --seed 10
	[ "$status" -eq 0 ]
}

@test "bs_errors: retry=0: with sheep gone a command fails at once, not after a window" {
	local t0 t1
	bss_vdi_create noretry 8M
	run tgt_lun_new 1 2 "$(bss_tcp noretry)" sheepdog "timeout=20;retry=0;connect_timeout=2"
	[ "$status" -eq 0 ]
	run bss_io 2 --mode write --qd 4 --bs 65536 --offset 0 --length $((MiB)) --seed 9
	[ "$status" -eq 0 ]

	sheep_stop KILL
	# Read allocated blocks (a hole would not need sheep).  retry=0 used
	# to mean libsheepdog's 60 s default window: bounded here at 15 s.
	t0=$(date +%s)
	run timeout 15 "$BSS_RAW" "$(tgt_url 1 2)" "$(bss_cdb10 0x28 0 0 8)" --in 4096
	t1=$(date +%s)
	echo "$output (status $status after $((t1 - t0)) s)"
	[[ "$output" == "status=CHECK_CONDITION key=0x0b asc=0x08 ascq=0x0"[01] ]]
	[ $((t1 - t0)) -le 5 ]
	run timeout 5 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode sys
	[ "$status" -eq 0 ]
}

@test "bs_errors: default options: with sheep gone, I/O fails before 30 s and delete is bounded" {
	local t0 t1
	sheep_stop KILL
	t0=$(date +%s)
	run bss_raw 1 "$(bss_cdb10 0x28 0 0 8)" --in 4096
	t1=$(date +%s)
	echo "$output (after $((t1 - t0)) s)"
	[[ "$output" == "status=CHECK_CONDITION key=0x0b asc=0x08 ascq=0x0"[01] ]]
	# Below Linux's 30 s SCSI command timeout, so the initiator retries
	# instead of aborting.
	[ $((t1 - t0)) -lt 30 ]
	t0=$(date +%s%3N)
	run tgt_lun_del 1 1
	t1=$(date +%s%3N)
	echo "delete: $status $output (after $((t1 - t0)) ms)"
	[ "$status" -eq 0 ]
	[ $((t1 - t0)) -le 2000 ]
	run timeout 5 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode sys
	[ "$status" -eq 0 ]
}

@test "bs_errors: sheep restarts under qd32 writes: the commands ride it out" {
	local io_pid rc=0
	# Random 4 KiB writes at qd 32 for 6 s while sheep is killed and
	# restarted on the same port and store; libsheepdog reconnects and
	# resends within the retry window, so every command completes GOOD and
	# the data verifies (the range is first written with the same pattern).
	run bss_io 1 --mode write --qd 32 --bs 1048576 --offset 0 --length $((16 * MiB)) --seed 91
	[ "$status" -eq 0 ]
	bss_io 1 --mode randwrite --qd 32 --bs 4096 --offset 0 --length $((16 * MiB)) --seed 91 \
		--time 6 >"$T/io.out" 2>&1 &
	io_pid=$!
	sleep 1.5
	kill -0 "$io_pid"	# still running: the outage hits in-flight I/O
	sheep_stop KILL
	sleep 1
	sheep_start "$SHEEP_STORE" "$SHEEP_PORT"
	wait "$io_pid" || rc=$?
	cat "$T/io.out"
	[ "$rc" -eq 0 ]
	run bss_io 1 --mode verify --qd 32 --bs 65536 --offset 0 --length $((16 * MiB)) --seed 91
	echo "$output"
	[ "$status" -eq 0 ]
	sd_dog vdi read vol $((8 * MiB)) $((MiB)) >"$T/got"
	bss_pattern $((8 * MiB)) $((MiB)) 91 >"$T/want"
	cmp "$T/got" "$T/want"
}

@test "bs_errors: a hung sheep (SIGSTOP): commands time out, tgtd stays responsive, recovery after SIGCONT" {
	local t0 t1 io_pid rc=0
	bss_vdi_create hung 8M
	run tgt_lun_new 1 2 "$(bss_tcp hung)" sheepdog "timeout=2;retry=4"
	[ "$status" -eq 0 ]
	run bss_io 2 --mode write --qd 8 --bs 65536 --offset 0 --length $((MiB)) --seed 95
	[ "$status" -eq 0 ]
	kill -STOP "$SHEEP_PID"
	# qd 32 of reads outstanding against the hung sheep.
	bss_io 2 --mode randread --qd 32 --bs 4096 --offset 0 --length $((MiB)) --count 64 \
		>"$T/io.out" 2>&1 &
	io_pid=$!
	t0=$(date +%s)
	# The main loop keeps answering management requests meanwhile.
	run timeout 3 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target
	[ "$status" -eq 0 ]
	wait "$io_pid" || rc=$?
	t1=$(date +%s)
	kill -CONT "$SHEEP_PID"
	cat "$T/io.out"
	echo "failed after $((t1 - t0)) s"
	[ "$rc" -eq 1 ]
	grep -q "key=0xb" "$T/io.out"
	[ $((t1 - t0)) -le 30 ]
	# sheep is back: the same LUN serves I/O again.
	run bss_io 2 --mode verify --qd 8 --bs 65536 --offset 0 --length $((MiB)) --seed 95
	echo "$output"
	[ "$status" -eq 0 ]
}
