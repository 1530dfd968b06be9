#!/usr/bin/env bats
# LU and target delete never wait for the sheep (bs_sheepdog/bss_reap.c):
# with the sheep hung (SIGSTOP) or dead, `tgtadm --op delete` returns
# within 2 s, the tgtd main loop keeps serving the LUs of another sheep
# meanwhile, and the vdi's lock is released in the background once the sheep
# answers again, so the vdi can be exported again.  A write-back cache whose
# sheep makes no progress keeps its dirty data in the cache directory and
# replays it at the next open.  Each test takes 10-25 s.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576

setup() {
	bss_setup
	A_PID=$SHEEP_PID A_PORT=$SHEEP_PORT A_STORE=$SHEEP_STORE
	# a second sheep whose LU must not notice the first one's trouble
	sheep_start "$T/storeb" || return 1
	B_PID=$SHEEP_PID B_PORT=$SHEEP_PORT
	timeout 60 "$DOG" cluster format -a 127.0.0.1 -p "$B_PORT" >/dev/null
	timeout 60 "$DOG" vdi create other 16M -a 127.0.0.1 -p "$B_PORT"
	use_a
	bss_vdi_create vol 16M
	bss_lun 1 "$(bss_tcp vol)"
	# on a target of its own: a LU deleted in target 1 gives target 1's
	# nexuses a REPORTED LUNS DATA HAS CHANGED unit attention, not its
	tgt_target_new 2 "$IQN-b"
	tgt_lun_new 2 1 "tcp:127.0.0.1:$B_PORT:other" sheepdog
	run bss_io 1 --mode write --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	[ "$status" -eq 0 ]
	run io_b --mode write --qd 8 --bs 65536 --offset 0 --length $((16 * MiB)) --seed 6
	[ "$status" -eq 0 ]
}

# iscsi-io on sheep B's LU
io_b() {
	timeout 300 "$IO" "$(tgt_url 2 1)" "$@"
}

teardown() {
	[ -z "${A_PID:-}" ] || kill -CONT "$A_PID" 2>/dev/null || true
	if [ -n "${B_PID:-}" ]; then
		SHEEP_PID=$B_PID
		sheep_stop || true
	fi
	use_a
	bss_teardown
}

use_a() {
	SHEEP_PID=$A_PID SHEEP_PORT=$A_PORT SHEEP_STORE=$A_STORE
}

now_ms() { date +%s%3N; }

# timed_del LUN: delete it, print how long it took (ms) in DEL_MS.
timed_del() {
	local t0
	t0=$(now_ms)
	run tgt_lun_del 1 "$1"
	DEL_MS=$(($(now_ms) - t0))
	echo "delete of LUN $1: status $status $output after $DEL_MS ms"
}

# wait_log TEXT SECONDS: tgtd's log gets TEXT within SECONDS.
wait_log() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		grep -qF -- "$1" "$TGTD_LOG" && return 0
		sleep 0.1
	done
	echo "tgtd log lacks '$1' after $2 s:"
	tail -n 20 "$TGTD_LOG"
	return 1
}

@test "bs_delete: hung sheep: LU delete within 2 s, the other sheep's LU keeps serving, release after SIGCONT" {
	local io_pid rc=0
	# shared=0: no reservation lookup, so the PRE-FETCH below needs no sheep
	tgt_lun_del 1 1
	bss_lun 1 "$(bss_tcp vol)" "shared=0"
	# verified I/O on sheep B's LU throughout
	io_b --mode randrw --verify-reads --qd 8 --bs 4096 --offset 0 \
		--length $((16 * MiB)) --seed 6 --time 8 >"$T/io2.out" 2>&1 &
	io_pid=$!
	kill -STOP "$A_PID"
	# a detached PRE-FETCH (IMMED) leaves library reads in flight on LU 1
	run bss_raw 1 "$(printf '3402%08x00%04x00' 0 2048)"
	echo "prefetch: $output"
	[ "$output" = "status=GOOD" ]
	timed_del 1
	[ "$status" -eq 0 ]
	[ "$DEL_MS" -le 2000 ]
	run timeout 2 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target
	[ "$status" -eq 0 ]
	# target 1's section: LUN 0 (the controller) only
	run awk '/^Target 1:/ { t = 1; next } /^Target [0-9]+:/ { t = 0 } t && /LUN: /' <<<"$output"
	echo "$output"
	[[ "$output" == *"LUN: 0"* ]]
	[[ "$output" != *"LUN: 1"* ]]
	wait "$io_pid" || rc=$?
	cat "$T/io2.out"
	[ "$rc" -eq 0 ]
	# the release goes out once the sheep answers again
	kill -CONT "$A_PID"
	wait_log "released vdi 'vol'" 30
	run bss_lun 1 "$(bss_tcp vol)" "shared=0"
	[ "$status" -eq 0 ]
	run bss_io 1 --mode verify --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "bs_delete: dead sheep: LU delete within 2 s; a new LU opens when it is back" {
	sheep_stop KILL
	timed_del 1
	[ "$status" -eq 0 ]
	[ "$DEL_MS" -le 2000 ]
	run io_b --mode verify --qd 8 --bs 65536 --offset 0 --length $((16 * MiB)) --seed 6
	[ "$status" -eq 0 ]
	sheep_start "$A_STORE" "$A_PORT"
	A_PID=$SHEEP_PID
	run bss_lun 1 "$(bss_tcp vol)"
	[ "$status" -eq 0 ]
	run bss_io 1 --mode verify --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 5
	[ "$status" -eq 0 ]
}

@test "bs_delete: target delete with three LUs on a hung sheep returns within 2 s" {
	local t0 ms
	bss_vdi_create v3 8M
	bss_vdi_create v4 8M
	bss_lun 3 "$(bss_tcp v3)"
	bss_lun 4 "$(bss_tcp v4)" "shared=0"
	kill -STOP "$A_PID"
	t0=$(now_ms)
	run tgt_adm --lld iscsi --op delete --force --mode target --tid 1
	ms=$(($(now_ms) - t0))
	echo "target delete: status $status $output after $ms ms"
	[ "$status" -eq 0 ]
	[ "$ms" -le 2000 ]
	run timeout 2 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target
	[ "$status" -eq 0 ]
	[[ "$output" != *"Target 1:"* ]]
	[[ "$output" == *"Target 2:"* ]]
	run io_b --mode verify --qd 8 --bs 65536 --offset 0 --length $((16 * MiB)) --seed 6
	[ "$status" -eq 0 ]
	kill -CONT "$A_PID"
	wait_log "released vdi 'v4'" 30
	wait_log "released vdi 'vol'" 30
}

@test "bs_delete: write-back LU on a hung sheep: delete within 2 s, dirty data replayed at the next open" {
	local wb="cache=writeback;cache_age=3600;cache_dir=$T/cache"
	bss_vdi_create wb 8M
	bss_lun 3 "$(bss_tcp wb)" "$wb"
	run bss_io 3 --mode write --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 7
	[ "$status" -eq 0 ]
	kill -STOP "$A_PID"
	timed_del 3
	[ "$status" -eq 0 ]
	[ "$DEL_MS" -le 2000 ]
	grep -F "made no progress" "$TGTD_LOG"
	kill -CONT "$A_PID"
	wait_log "released vdi 'wb'" 30
	# the next open replays the cache; its delete (sheep healthy) flushes
	run bss_lun 3 "$(bss_tcp wb)" "$wb"
	[ "$status" -eq 0 ]
	run bss_io 3 --mode verify --qd 8 --bs 65536 --offset 0 --length $((4 * MiB)) --seed 7
	[ "$status" -eq 0 ]
	timed_del 3
	[ "$status" -eq 0 ]
	sd_dog vdi read wb 0 $((4 * MiB)) >"$T/got"
	bss_pattern 0 $((4 * MiB)) 7 >"$T/want"
	cmp "$T/got" "$T/want"
}
