#!/usr/bin/env bats
# bs_sheepdog.so with several sheep addresses in one backing-store path
# (tcp:H1:P1+H2:P2:VDI): the LUN is created when the first address is dead,
# a qd32 writer through tgtd rides out the death of the address its
# connections use with no lost or corrupted write, and bad address lists are
# refused with the reason.  The two addresses are two tests/tools/sd-proxy
# forwarders (3 ms each way) in front of one sheep: killing one is a sheep that
# died (every connection through it closed at once, requests in flight
# lost).

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576
PROXY="$SD_TOOLS/sd-proxy"

setup() {
	bss_setup
	PROXY_PIDS=()
}

teardown() {
	local p
	for p in "${PROXY_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	bss_teardown
}

# proxy_start: a forwarder to the sheep on a free port; sets PROXY_PORT and
# PROXY_PID (also remembered for teardown).  3 ms each way, a slow network:
# every request spends at least 6 ms on the path, so the connection through
# it under a qd32 writer has several in flight when the proxy is killed
# (without a delay sd-proxy is fast enough that, now and then, it had none
# and the resend was not tested; with 1 ms it had 3, with 5 ms 9).
proxy_start() {
	PROXY_PORT=$(sd_free_port)
	"$PROXY" --listen "$PROXY_PORT" --target "127.0.0.1:$SHEEP_PORT" --delay 3 \
		>"$T/proxy.$PROXY_PORT.log" 2>&1 &
	PROXY_PID=$!
	PROXY_PIDS+=("$PROXY_PID")
	sd_wait_for 10 grep -qx ready "$T/proxy.$PROXY_PORT.log" || {
		echo "proxy did not start on $PROXY_PORT" >&2
		return 1
	}
}

# objs_over N: the sheep stores more than N objects.
objs_over() {
	[ "$(find "$SHEEP_STORE/obj" -type f | wc -l)" -gt "$1" ]
}

# check_vdi NAME LEN SEED: the vdi's first LEN bytes, read by dog (not
# through tgtd), are the iscsi-io pattern of SEED.
check_vdi() {
	sd_dog vdi read "$1" 0 "$2" >"$T/read.bin"
	bss_pattern 0 "$2" "$3" >"$T/want.bin"
	cmp "$T/read.bin" "$T/want.bin"
}

@test "bs_failover: qd32 writes survive the death of one sheep address, nothing lost or corrupted" {
	local len=$((384 * MiB)) a b wpid rc=0 t0 t1
	bss_vdi_create vol 512M
	proxy_start
	a=$PROXY_PORT
	local apid=$PROXY_PID
	proxy_start
	b=$PROXY_PORT
	# One connection per address at first (conns are spread over the list).
	bss_lun 1 "tcp:127.0.0.1:$a+127.0.0.1:$b:vol" "conns=2"
	timeout 300 "$IO" "$(tgt_url 1 1)" --mode write --qd 32 --bs 65536 --offset 0 \
		--length "$len" --seed 7 >"$T/writer.out" 2>&1 &
	wpid=$!
	# Let the writer get going (some objects written), then kill A.
	sd_wait_for 30 objs_over 20
	kill -0 "$wpid" # still writing: the kill lands mid-run
	# Freeze A first so that requests pile up on its connection: the kill
	# then always lands with requests in flight there (their resend is
	# what this test checks; a 64 KiB writer waiting on object creation
	# can otherwise have none on A at that instant).
	kill -STOP "$apid"
	sleep 1
	t0=$(date +%s)
	kill -KILL "$apid"
	wait "$wpid" || rc=$?
	t1=$(date +%s)
	cat "$T/writer.out"
	[ "$rc" -eq 0 ]
	# The connection through A was lost with requests on it, which were
	# resent through B.
	bss_log_has "to 127.0.0.1:$a lost"
	bss_log_has "moves from 127.0.0.1:$a to 127.0.0.1:$b"
	grep -F "to 127.0.0.1:$a lost" "$TGTD_LOG" | grep -qv ", 0 requests to resend"
	echo "writer finished $((t1 - t0)) s after the kill"
	# Every block holds what was written: through tgtd and through dog.
	run bss_io 1 --mode verify --qd 32 --bs 65536 --offset 0 --length "$len" --seed 7
	echo "$output"
	[ "$status" -eq 0 ]
	check_vdi vol "$len" 7
	# The rest of the vdi was never written: still zeros.
	sd_dog vdi read vol "$len" $((512 * MiB - len)) | cmp - <(head -c $((512 * MiB - len)) /dev/zero)
}

@test "bs_failover: the LUN is created when the first address is dead, or hangs" {
	local dead silent spid
	bss_vdi_create vol 16M
	proxy_start
	dead=$(sd_free_port) # nothing listens there: connect refused
	bss_lun 1 "tcp:127.0.0.1:$dead+127.0.0.1:$PROXY_PORT:vol"
	run bss_io 1 --mode write --qd 32 --bs 65536 --offset 0 --length $((8 * MiB)) --seed 3
	[ "$status" -eq 0 ]
	check_vdi vol $((8 * MiB)) 3
	# A first address that accepts and never answers (a hung sheep) costs
	# one request timeout (timeout=2), then the LUN opens through the second.
	silent=$(sd_free_port)
	python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(600)' "$silent" &
	spid=$!
	PROXY_PIDS+=("$spid")
	sd_wait_for 10 sd_tcp_open "$silent"
	bss_lun 2 "tcp:127.0.0.1:$silent+unix:$SHEEP_STORE/sock:vol" "timeout=2;conns=2"
	run bss_io 2 --mode verify --qd 32 --bs 65536 --offset 0 --length $((8 * MiB)) --seed 3
	[ "$status" -eq 0 ]
}

@test "bs_failover: bad address lists are refused with the reason" {
	local out
	bss_vdi_create vol 16M
	bad() {
		run tgt_lun_new 1 2 "$1" sheepdog ""
		echo "$1 -> status $status: $output"
		[ "$status" -ne 0 ]
		bss_log_has "$2"
	}
	bad "tcp:127.0.0.1:$SHEEP_PORT+:vol" "empty host"
	bad "tcp:127.0.0.1:$SHEEP_PORT+:" "empty host"
	bad "tcp:127.0.0.1:$SHEEP_PORT+127.0.0.1:vol" "expected tcp:HOST:PORT:VDI"
	bad "tcp:a:1+b:2+c:3+d:4+e:5:vol" "more than 4 sheep addresses"
	bad "unix:$SHEEP_STORE/sock+:vol" "empty socket path"
	# ',' is tgtadm's parameter separator: tgtd cuts the path there.
	bad "tcp:127.0.0.1:$SHEEP_PORT,127.0.0.1:$SHEEP_PORT:vol" "expected tcp:HOST:PORT:VDI"
	run tgt_adm --op show --mode target
	[[ "$output" != *"LUN: 2"* ]]
}

@test "bs_failover: tgt-admin passes an address list through targets.conf" {
	bss_vdi_create avol 16M
	proxy_start
	cat >"$T/failover.conf" <<-CONF
	default-driver iscsi
	<target $IQN.fo>
		bs-type rbd
		<backing-store tcp:127.0.0.1:$PROXY_PORT+[::1]:$SHEEP_PORT+unix:$SHEEP_STORE/sock:avol>
			bs-type sheepdog
			lun 1
		</backing-store>
		initiator-address ALL
	</target>
	CONF
	run timeout 60 tgt-admin -C "$TGTD_CTL" -c "$T/failover.conf" -e
	echo "$output"
	[ "$status" -eq 0 ]
	run tgt_adm --op show --mode target
	[[ "$output" == *"Backing store path: tcp:127.0.0.1:$PROXY_PORT+[::1]:$SHEEP_PORT+unix:$SHEEP_STORE/sock:avol"* ]]
}
