#!/usr/bin/env bats
# tests/tools/sd-proxy: the delay is applied per direction and measured, the
# byte stream is kept whole and in order under load (also while the delay
# changes), a receiver that stops reading bounds the proxy's queue, the
# control commands (cut, reset, blackhole, refuse, delay, stats) do what
# they say, bad arguments are refused, and it carries well over 100k small
# messages per second.  The clients and the echo server are
# tests/tools/sd-pingpong (every echoed byte checked).

load lib/common

PROXY="$SD_TOOLS/sd-proxy"
PINGPONG="$SD_TOOLS/sd-pingpong"

setup() {
	T=$(sd_tmpdir)
	PIDS=()
	ECHO_PORT=$(sd_free_port)
	"$PINGPONG" echo --listen "$ECHO_PORT" >"$T/echo.out" 2>&1 &
	ECHO_PID=$!
	PIDS+=("$ECHO_PID")
	sd_wait_for 10 grep -qx ready "$T/echo.out"
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}

# proxy_start [ARGS...]: a proxy to the echo server with a control socket;
# sets PROXY_PORT.
proxy_start() {
	PROXY_PORT=$(sd_free_port)
	CTL="$T/ctl"
	"$PROXY" --listen "$PROXY_PORT" --target "127.0.0.1:$ECHO_PORT" --control "$CTL" "$@" \
		>"$T/proxy.out" 2>"$T/proxy.err" &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	sd_wait_for 10 grep -qx ready "$T/proxy.out" || {
		cat "$T/proxy.err" >&2
		return 1
	}
}

ctl() { "$PROXY" --control "$CTL" --send "$*"; }

# field NAME TEXT: the value of NAME=... in TEXT.
field() { sed -n "s/.*\b$1=\([0-9.a-z]*\).*/\1/p" <<<"$2" | head -n1; }

# stat NAME: one field of the proxy's stats line.
stat() { field "$1" "$(ctl stats)"; }

stat_gt() { [ "$(stat "$1")" -gt "$2" ]; }
stat_is() { [ "$(stat "$1")" = "$2" ]; }

# pingpong ARGS...: a run through the proxy, its output in $output.
pingpong() {
	run timeout 120 "$PINGPONG" run --port "$PROXY_PORT" "$@"
	echo "sd-pingpong $* -> status $status: $output"
}

# rtt_within DELAY_MS MAX_P50_US: window 1 round trips take at least twice the
# one-way delay (it is applied to each direction) and their median stays
# below MAX_P50_US (a loaded 2-CPU machine adds some wake-up latency).
rtt_within() {
	local min p50 floor=$(awk -v d="$1" 'BEGIN { printf "%d", 2 * d * 1000 }')
	pingpong --window 1 --seconds 1
	[ "$status" -eq 0 ]
	min=$(field rtt_us_min "$output")
	p50=$(field rtt_us_p50 "$output")
	echo "delay $1 ms: rtt min $min us, p50 $p50 us (floor $floor, p50 bound $2)"
	[ "$min" -ge "$floor" ]
	[ "$p50" -lt "$2" ]
}

@test "sd_proxy: the delay applies to each direction: 5 ms gives a 10 ms round trip, 0.5 ms gives 1 ms" {
	proxy_start --delay 5
	rtt_within 5 16000
	ctl delay 0.5
	rtt_within 0.5 3000
	# Without the proxy's delay the same round trip is well below 1 ms
	# (so the floors above are the proxy's doing).
	ctl delay 0
	pingpong --window 1 --seconds 1
	[ "$status" -eq 0 ]
	[ "$(field rtt_us_p50 "$output")" -lt 1000 ]
}

@test "sd_proxy: order and content kept under load with a delay, also while the delay changes" {
	local pid msgs
	proxy_start --delay 1
	timeout 120 "$PINGPONG" run --port "$PROXY_PORT" --conns 8 --window 64 --size 200 \
		--seconds 3 >"$T/pp.out" 2>&1 &
	pid=$!
	# Shrinking the delay must not let later chunks overtake earlier ones.
	for d in 0 2 0.1 0 3 0.5; do
		sleep 0.4
		ctl delay "$d"
	done
	wait "$pid"
	cat "$T/pp.out"
	msgs=$(field messages "$(cat "$T/pp.out")")
	[ "$msgs" -gt 1000 ]
	# Every byte went through once each way.
	[ "$(stat up_bytes)" -eq $((msgs * 200)) ]
	[ "$(stat down_bytes)" -eq $((msgs * 200)) ]
	[ "$(stat queued_bytes)" -eq 0 ]
	# Large messages: the sockets fill, writes are partial, order still kept.
	pingpong --conns 4 --window 16 --size 65536 --seconds 2
	[ "$status" -eq 0 ]
}

@test "sd_proxy: a receiver that stops reading stops the sender; the queue stays bounded" {
	local rc=0 q up
	proxy_start
	kill -STOP "$ECHO_PID"
	timeout 5 bash -c "head -c $((64 * 1048576)) /dev/zero >/dev/tcp/127.0.0.1/$PROXY_PORT" || rc=$?
	echo "writer: status $rc; $(ctl stats)"
	[ "$rc" -eq 124 ] # still blocked when the timeout hit
	q=$(stat queued_bytes)
	up=$(stat up_bytes)
	# The queue filled to its limit (4 MiB) and no further (one read more).
	[ "$q" -ge $((4 * 1048576)) ]
	[ "$q" -le $((4 * 1048576 + 65536)) ]
	[ "$up" -lt $((64 * 1048576)) ]
}

@test "sd_proxy: cut gives the client EOF; new connections still work" {
	local pid rc=0
	proxy_start --delay 0.2
	"$PINGPONG" run --port "$PROXY_PORT" --window 4 --seconds 30 >"$T/pp.out" 2>&1 &
	pid=$!
	sd_wait_for 10 stat_gt down_bytes 0
	ctl cut
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid" || rc=$?
	cat "$T/pp.out"
	[ "$rc" -eq 3 ]
	grep -q "EOF from the peer" "$T/pp.out"
	# The pair is gone once the client closed; the proxy accepts again.
	sd_wait_for 10 stat_is conns 0
	pingpong --window 4 --seconds 0.5
	[ "$status" -eq 0 ]
}

@test "sd_proxy: reset gives the client ECONNRESET" {
	local pid rc=0
	proxy_start --delay 0.2
	"$PINGPONG" run --port "$PROXY_PORT" --window 4 --seconds 30 >"$T/pp.out" 2>&1 &
	pid=$!
	sd_wait_for 10 stat_gt down_bytes 0
	ctl reset
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid" || rc=$?
	cat "$T/pp.out"
	[ "$rc" -eq 4 ]
	grep -q "Connection reset by peer" "$T/pp.out"
	[ "$(stat conns)" -eq 0 ]
	pingpong --window 4 --seconds 0.5
	[ "$status" -eq 0 ]
}

@test "sd_proxy: blackhole drops both ways and off resumes the same connection" {
	local line rc S
	proxy_start
	exec {S}<>"/dev/tcp/127.0.0.1/$PROXY_PORT"
	echo one >&"$S"
	read -t 5 -r line <&"$S"
	[ "$line" = one ]
	ctl blackhole on
	echo two >&"$S"
	rc=0
	read -t 1 -r line <&"$S" || rc=$?
	[ "$rc" -gt 128 ] # timed out: nothing came back
	ctl blackhole off
	echo three >&"$S"
	read -t 5 -r line <&"$S"
	[ "$line" = three ] # "two" was lost, the connection works
	# Bytes already queued (here: delayed) when it turns on are lost too.
	ctl delay 300
	echo four >&"$S"
	ctl blackhole on
	rc=0
	read -t 1 -r line <&"$S" || rc=$?
	[ "$rc" -gt 128 ]
	ctl blackhole off
	ctl delay 0
	echo five >&"$S"
	read -t 5 -r line <&"$S"
	[ "$line" = five ]
	exec {S}>&-
	[ "$(stat dropped_bytes)" -eq 9 ] # "two\n" and "four\n"
	# Neither reached the echo server: only "one\nthree\nfive\n" went up.
	[ "$(stat up_bytes)" -eq 15 ]
	[ "$(stat down_bytes)" -eq 15 ]
	# A checked stream stalls while it is on.
	ctl blackhole on
	pingpong --window 4 --seconds 0.5 --timeout 1
	[ "$status" -eq 5 ]
}

@test "sd_proxy: refuse resets new clients, not the connected ones; off accepts again" {
	local pid
	proxy_start
	"$PINGPONG" run --port "$PROXY_PORT" --window 1 --seconds 3 >"$T/pp.out" 2>&1 &
	pid=$!
	sd_wait_for 10 stat_is conns 1
	ctl refuse on
	pingpong --window 1 --seconds 0.5
	[ "$status" -eq 4 ]
	[ "$(stat refused)" -eq 1 ]
	ctl refuse off
	pingpong --window 1 --seconds 0.5
	[ "$status" -eq 0 ]
	wait "$pid"
}

@test "sd_proxy: SIGSTOP freezes every connection, SIGCONT resumes, SIGKILL closes them (a hung, then a dead sheep)" {
	local pid rc=0
	proxy_start
	"$PINGPONG" run --port "$PROXY_PORT" --window 4 --seconds 30 >"$T/pp.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sd_wait_for 10 stat_gt down_bytes 0
	kill -STOP "$PROXY_PID"
	# A new client is accepted by the kernel but gets no echo.
	pingpong --window 1 --seconds 0.5 --timeout 1
	[ "$status" -eq 5 ]
	kill -CONT "$PROXY_PID"
	pingpong --window 1 --seconds 0.5
	[ "$status" -eq 0 ]
	kill -0 "$pid" # the first client rode out the freeze
	kill -KILL "$PROXY_PID"
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid" || rc=$?
	cat "$T/pp.out"
	[ "$rc" -eq 3 ] || [ "$rc" -eq 4 ] # EOF or reset, as the kernel closes it
}

@test "sd_proxy: SIGTERM resets every connection and removes the control socket" {
	local pid rc=0
	proxy_start --delay 0.2
	"$PINGPONG" run --port "$PROXY_PORT" --window 4 --seconds 30 >"$T/pp.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sd_wait_for 10 stat_gt down_bytes 0
	kill -TERM "$PROXY_PID"
	rc=0
	wait "$PROXY_PID" || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -e "$CTL" ]
	timeout 10 tail --pid="$pid" -f /dev/null
	rc=0
	wait "$pid" || rc=$?
	cat "$T/pp.out"
	[ "$rc" -eq 4 ]
	grep -q "Connection reset by peer" "$T/pp.out"
}

@test "sd_proxy: half-close: the EOF follows every delayed byte" {
	proxy_start --delay 20
	run timeout 30 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
data = bytes(range(256)) * 4096
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("sent", len(data), "got", len(got), "same", got == data)' "$PROXY_PORT"
	echo "$output"
	[ "$output" = "sent 1048576 got 1048576 same True" ]
}

@test "sd_proxy: a target that refuses resets the client; the proxy keeps running" {
	local dead
	dead=$(sd_free_port)
	ECHO_PORT=$dead proxy_start
	pingpong --window 1 --seconds 0.5
	[ "$status" -eq 4 ]
	grep -q "cannot connect to the target: Connection refused" "$T/proxy.err"
	kill -0 "$PROXY_PID"
	[ "$(stat conns)" -eq 0 ]
}

@test "sd_proxy: over 100k messages/s at delay 0 and at 0.5 ms one-way" {
	local r
	proxy_start
	pingpong --conns 8 --window 64 --seconds 2
	[ "$status" -eq 0 ]
	r=$(field msgs_per_s "$output")
	echo "delay 0: $r messages/s"
	[ "$r" -gt 100000 ]
	ctl delay 0.5
	# 1 ms round trip: 100k/s needs 100+ in flight; 1024 are.
	pingpong --conns 16 --window 64 --seconds 2
	[ "$status" -eq 0 ]
	r=$(field msgs_per_s "$output")
	echo "delay 0.5 ms: $r messages/s"
	[ "$r" -gt 100000 ]
	[ "$(field rtt_us_min "$output")" -ge 1000 ]
}

@test "sd_proxy: control replies, errors and --send" {
	proxy_start --delay 0.25
	run ctl stats
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^conns=0\ accepted=0\ refused=0\ up_bytes=0\ down_bytes=0\ up_chunks=0\ down_chunks=0\ dropped_bytes=0\ queued_bytes=0\ delay_ms=0.25\ blackhole=off\ refuse=off$ ]]
	run ctl delay 1.5
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[ "$(stat delay_ms)" = 1.5 ]
	for bad in "delay" "delay -1" "delay x" "delay 1 2" "delay 60001" "blackhole" \
		"blackhole maybe" "refuse 1" "cut now" "stats please" "frobnicate" ""; do
		run ctl "$bad"
		echo "'$bad' -> $status: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == "error: "* ]]
	done
	# Several commands on one connection, one reply line each.
	run python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"delay 0\nbogus\nrefuse on\nrefuse off\n"); s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(4096)
    if not b: break
    out += b
print(out.decode().replace("\n", "|"))' "$CTL"
	echo "$output"
	[ "$output" = "ok|error: unknown command 'bogus'|ok|ok|" ]
	# --send to nothing fails clearly.
	run "$PROXY" --control "$T/nothing" --send stats
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot connect to control socket"* ]]
}

@test "sd_proxy: bad arguments exit 2 with usage; a port in use exits 1" {
	local p=$(sd_free_port)
	bad() {
		run "$PROXY" "$@"
		echo "$* -> $status: $output"
		[ "$status" -eq 2 ]
		[[ "$output" == *"usage: sd-proxy"* ]]
	}
	bad
	bad --listen "$p"
	bad --target "127.0.0.1:$ECHO_PORT"
	bad --listen "$p" --target "127.0.0.1:$ECHO_PORT" --delay x
	bad --listen "$p" --target "127.0.0.1:$ECHO_PORT" --delay -1
	bad --listen "$p" --target "127.0.0.1:$ECHO_PORT" --delay 0.5ms
	bad --listen 0 --target "127.0.0.1:$ECHO_PORT"
	bad --listen 70000 --target "127.0.0.1:$ECHO_PORT"
	bad --listen "$p" --target 127.0.0.1
	bad --listen "$p" --target "127.0.0.1:"
	bad --listen "$p" --target "127.0.0.1:$ECHO_PORT" extra
	bad --listen "$p" --target "127.0.0.1:$ECHO_PORT" --bogus
	bad --send stats
	bad --control "$T/c" --send stats --listen "$p"
	run "$PROXY" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: sd-proxy"* ]]
	# The echo server holds ECHO_PORT.
	run "$PROXY" --listen "$ECHO_PORT" --target "127.0.0.1:$p"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot bind 127.0.0.1:$ECHO_PORT"* || "$output" == *"cannot bind $ECHO_PORT"* ]]
}
