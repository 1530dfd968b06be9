#!/usr/bin/env bats
# sheep's command line, pid and log files, store lock, signals, daemon mode.

load lib/common
load lib/raw

setup() {
	STORE=$(sd_tmpdir)
	DPID=
}

teardown() {
	sheep_stop || true
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null || true
		for i in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null || true
	fi
	rm -rf "$STORE"
}

@test "-h prints usage and exits 0" {
	run "$SHEEP" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: sheep"* ]]
	[[ "$output" == *"--nosync"* ]]
}

@test "-v and --version print the version and exit 0, as upstream" {
	local v
	v=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$SD_TOP_BUILDDIR/config.h")
	[ -n "$v" ]
	for opt in -v --version; do
		run "$SHEEP" $opt
		[ "$status" -eq 0 ]
		[ "$output" = "sheep version $v (tgt-sheepdog)" ]
	done
	# upstream stops at -v even with a store and other options
	run "$SHEEP" -f -p 7 -v "$STORE"
	[ "$status" -eq 0 ]
	[ "$output" = "sheep version $v (tgt-sheepdog)" ]
	[ ! -e "$STORE/sock" ]
}

@test "cluster-only options are rejected, naming the option" {
	for opt in "-c corosync" "-z 1" "-w size=1G" "-j dir=/tmp" "-g" "-r :8000" "-V 64" \
		   "-y 10.0.0.1" "-i host=10.0.0.1" "--cluster local" "--zone 3"; do
		run "$SHEEP" $opt -f "$STORE"
		echo "$opt -> $status: $output"
		[ "$status" -ne 0 ]
		name=${opt%% *}
		[[ "$output" == *"$name"* || "$output" == *"-${name#--}"* ]]
		[[ "$output" == *"not supported"* ]]
	done
	# nothing was started
	[ ! -e "$STORE/sock" ]
}

@test "bad command lines fail with a message" {
	run "$SHEEP" -f
	[ "$status" -ne 0 ]
	[[ "$output" == *"missing STORE_DIR"* ]]
	run "$SHEEP" -f -p 0 "$STORE"
	[ "$status" -ne 0 ]
	[[ "$output" == *"invalid port"* ]]
	run "$SHEEP" -f -p 70000 "$STORE"
	[ "$status" -ne 0 ]
	run "$SHEEP" -f -p 12ab "$STORE"
	[ "$status" -ne 0 ]
	run "$SHEEP" --bogus "$STORE"
	[ "$status" -ne 0 ]
	[[ "$output" == *"unknown option"* ]]
	run "$SHEEP" -f "$STORE" extra
	[ "$status" -ne 0 ]
}

@test "pid file, log file with timestamps and levels, UNIX socket" {
	sheep_start_any "$STORE"
	[ "$(cat "$STORE/sheep.pid")" = "$SHEEP_PID" ]
	[ -S "$STORE/sock" ]
	sd_wait_for 20 grep -Eq '^[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} INFO .*listening on 127\.0\.0\.1 port '"$SHEEP_PORT" "$STORE/sheep.log"
	run timeout 20 "$SD_RAW" -u "$STORE/sock" req 0x82 --len 491520
	[ "$(sd_field result "$output")" = 0x00 ]
	sheep_stop
	[ ! -e "$STORE/sheep.pid" ]
	[ ! -e "$STORE/sock" ]
	grep -q "signal 15 received" "$STORE/sheep.log"
}

@test "a second sheep on the same store is refused" {
	sheep_start_any "$STORE"
	run timeout 20 "$SHEEP" -f -b 127.0.0.1 -p "$(sd_free_port)" "$STORE"
	[ "$status" -ne 0 ]
	[[ "$output" == *"in use by another sheep (pid $SHEEP_PID)"* ]]
	# the first one is unaffected
	sheep_alive
	[ "$(cat "$STORE/sheep.pid")" = "$SHEEP_PID" ]
}

@test "SIGINT is a graceful exit 0" {
	sheep_start_any "$STORE"
	kill -INT "$SHEEP_PID"
	rc=0
	for i in $(seq 1 100); do kill -0 "$SHEEP_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$SHEEP_PID" || rc=$?
	SHEEP_PID=
	[ "$rc" -eq 0 ]
	[ ! -e "$STORE/sheep.pid" ]
}

@test "without -f sheep daemonizes once it serves" {
	port=$(sd_free_port)
	run timeout 30 "$SHEEP" -b 127.0.0.1 -p "$port" "$STORE"
	[ "$status" -eq 0 ]
	DPID=$(cat "$STORE/sheep.pid")
	[ -n "$DPID" ]
	kill -0 "$DPID"
	SHEEP_PORT=$port
	out=$(sd_raw req 0x82 --len 491520)
	[ "$(sd_field result "$out")" = 0x00 ]
	kill -TERM "$DPID"
	for i in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	sd_refute kill -0 "$DPID" 2>/dev/null
	DPID=
	[ ! -e "$STORE/sheep.pid" ]
}

@test "stale temp files are removed at start-up" {
	mkdir -p "$STORE/obj"
	echo junk >"$STORE/obj/.tmp.007c2b2500000000.1.1"
	echo junk >"$STORE/.tmp.config.1.1"
	sheep_start_any "$STORE"
	[ ! -e "$STORE/obj/.tmp.007c2b2500000000.1.1" ]
	[ ! -e "$STORE/.tmp.config.1.1" ]
	grep -q "removing stale temp file" "$STORE/sheep.log"
}

@test "-n (nosync): writes work and FLUSH_VDI answers SUCCESS" {
	sheep_start_any "$STORE" -n
	grep -q "nosync" "$STORE/sheep.log"
	sd_format
	vid=$(sd_new_vdi ns 8388608)
	sd_req_ok 0x01 --oid $(sd_data_oid $vid 0) --fill 0x33:4096 >/dev/null
	sd_req_ok 0x16 --oid $(sd_vdi_oid $vid) --proto 1 >/dev/null
	run sd_raw req 0x02 --oid $(sd_data_oid $vid 0) --len 2 --hex 2
	[ "$(sd_field data "$output")" = 3333 ]
}
