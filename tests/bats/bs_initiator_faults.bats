#!/usr/bin/env bats
# Initiator faults while commands are inside bs_sheepdog.so (issue 12):
# the connection dropped without a logout, ABORT TASK, LOGICAL UNIT RESET
# and target warm/cold reset, each many rounds of `iscsi-io --mode ifault`
# (tests/tools/iscsi-io.c): qd 32 4 KiB WRITE16/READ16 of stamped blocks
# (tests/tools/stamp.h) in flight through a tests/tools/sd-proxy forwarder
# that delays every byte 10 ms each way, so each command spends at least
# 20 ms in the module when the fault hits.  The tool checks that tgtd
# answers every task management function as SPC allows and that every
# block holds the last acknowledged write or one never acknowledged (old or
# new, never torn); here we check that tgtd stays alive and answers tgtadm
# within 2 s throughout, and that nothing leaks: after the rounds, tgtd's
# and the sheep's open descriptors are back to their level after a warm-up
# and tgtd's RSS grew by at most 4 MiB.  Two tests stop the sheep (SIGSTOP)
# at every fault: for 1.5 s (the TMF answers wait for it: tgt answers only
# once the commands have left the module) and for 2.5 s on a LU with
# timeout=1 (the commands fail with sense data during the hang, and the
# sheep wakes up to requests whose connection the library gave up); the
# ASan and valgrind phases check that nothing is completed twice or touched
# after free.  The last test stops the sheep before a LU RESET: the reset
# is answered within 2 s without holding tgtd's loop, and published to the
# cluster once the sheep is back.
#
# Time (2 cores shared with other runs): normal phase about 2 min
# (20 rounds of each fault; the hang tests 25 s and 35 s); SD_HEAVY=0 runs
# 6 rounds of each (2 per kind in the hang tests): 72 s under ASan, 110 s
# under valgrind.

load lib/common
load lib/tgtd
load lib/bss

PROXY="$SD_TOOLS/sd-proxy"

setup() {
	bss_setup
	PROXY_PID=
	PROBE_PID=
	ROUNDS=20
	[ "${SD_HEAVY:-1}" != 0 ] || ROUNDS=6
	bss_vdi_create vol 64M
	PROXY_PORT=$(sd_free_port)
	"$PROXY" --listen "$PROXY_PORT" --target "127.0.0.1:$SHEEP_PORT" --delay 10 \
		>"$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	sd_wait_for 10 grep -qx ready "$T/proxy.log" || {
		echo "proxy did not start on $PROXY_PORT" >&2
		return 1
	}
	bss_lun 1 "tcp:127.0.0.1:$PROXY_PORT:vol"
}

# The proxy goes last: a LU closing through a dead proxy waits for its
# connect timeout.
teardown() {
	local rc=0
	[ -z "${SHEEP_PID:-}" ] || kill -CONT "$SHEEP_PID" 2>/dev/null || true
	probe_stop || true
	bss_teardown || rc=1
	if [ -n "${PROXY_PID:-}" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null || true
		wait "$PROXY_PID" 2>/dev/null || true
	fi
	return $rc
}

# probe_start: tgtadm against tgtd every 0.2 s in the background until
# probe_stop (at most 3000 probes); the slowest answer in ms goes to
# $T/probe.max, failures to $T/probe.fail.
probe_start() {
	rm -f "$T/probe.stop" "$T/probe.fail"
	echo 0 >"$T/probe.max"
	(
		max=0
		for _ in $(seq 1 3000); do
			[ ! -e "$T/probe.stop" ] || break
			t0=$(date +%s%N)
			timeout 10 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target \
				>/dev/null 2>&1 || echo "probe failed" >>"$T/probe.fail"
			ms=$((($(date +%s%N) - t0) / 1000000))
			[ "$ms" -le "$max" ] || { max=$ms; echo "$max" >"$T/probe.max"; }
			sleep 0.2
		done
	) &
	PROBE_PID=$!
}

probe_stop() {
	[ -n "${PROBE_PID:-}" ] || return 0
	touch "$T/probe.stop"
	wait "$PROBE_PID" 2>/dev/null || true
	PROBE_PID=
}

nfds() { ls "/proc/$1/fd" | wc -l; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# ifault KIND ROUNDS [ARGS...]: the tool against LUN 1, its line in $T/out
# and $T/out.KIND
ifault() {
	local kind=$1 rounds=$2 t0=$SECONDS; shift 2
	bss_io "${IF_LUN:-1}" --mode ifault --fault "$kind" --count "$rounds" --qd 32 --bs 4k \
		--length 512k --seed "$RANDOM" "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	cat "$T/out"
	cp "$T/out" "$T/out.$kind"
	echo "($((SECONDS - t0)) s)"
	[ $rc -eq 0 ] || { echo "iscsi-io ifault $kind: exit $rc" >&2; cat "$T/err" >&2; }
	return $rc
}

# field NAME [KIND]: the value of NAME= in $T/out (or $T/out.KIND)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$T/out${2:+.$2}"; }

# run_faults KIND...: warm up, take the baselines, run $ROUNDS rounds of
# each KIND under the tgtadm probe, then check for leaks.
run_faults() {
	local kind fd0 sfd0 rss0 fd1 sfd1 rss1 i
	# warm-up: the first kind with the same arguments (a first hang past
	# the LU's timeout grows tgtd's RSS by about 4 MiB once: buffers of
	# the library's reconnects, flat from then on)
	ifault "$1" 2 ${HANG_ARGS:-} || return 1
	sleep 0.5
	fd0=$(nfds "$TGTD_PID") sfd0=$(nfds "$SHEEP_PID") rss0=$(rss_kib "$TGTD_PID")
	probe_start
	for kind in "$@"; do
		ifault "$kind" "$ROUNDS" ${HANG_ARGS:-} || return 1
		[ "$(field rounds)" = "$ROUNDS" ] || return 1
		# the faults hit commands that were really in flight
		[ "$(field inflight_at_fault)" -ge $((ROUNDS * 16)) ] ||
			{ echo "too few commands in flight at the faults" >&2; return 1; }
		[ "$(field bad)" = 0 ] || return 1
		[ -n "${IF_FAILS_OK:-}" ] || [ "$(field io_failed)" = 0 ] || return 1
		# every drop loses its writes; the other faults let some finish
		[ "$kind" = drop ] || [ -n "${IF_FAILS_OK:-}" ] ||
			[ "$(field writes_acked)" -gt 0 ] || return 1
	done
	probe_stop
	echo "slowest tgtadm answer: $(cat "$T/probe.max") ms"
	[ ! -s "$T/probe.fail" ] || { echo "tgtadm failed during the faults" >&2; return 1; }
	[ "$(cat "$T/probe.max")" -lt 2000 ] ||
		{ echo "tgtadm took $(cat "$T/probe.max") ms" >&2; return 1; }
	_tgtd_answers || { echo "tgtd gone" >&2; return 1; }
	# descriptors: back to the baseline once the closed sessions are gone
	for i in $(seq 1 50); do
		fd1=$(nfds "$TGTD_PID") sfd1=$(nfds "$SHEEP_PID")
		[ "$fd1" -gt "$fd0" ] || [ "$sfd1" -gt "$sfd0" ] || break
		sleep 0.1
	done
	rss1=$(rss_kib "$TGTD_PID")
	echo "tgtd fds $fd0 -> $fd1, sheep fds $sfd0 -> $sfd1, tgtd rss $rss0 -> $rss1 KiB"
	[ "$fd1" -le "$fd0" ] || { echo "tgtd leaks descriptors" >&2; return 1; }
	[ "$sfd1" -le "$sfd0" ] || { echo "sheep connections leak" >&2; return 1; }
	# RSS only without a wrapper: ASan's quarantine and valgrind grow it
	if [ -z "${TGTD_WRAP:-}" ]; then
		[ $((rss1 - rss0)) -le 4096 ] || { echo "tgtd RSS grew $((rss1 - rss0)) KiB" >&2; return 1; }
	fi
	# later I/O is correct: a fresh pattern over the region, read back
	bss_io "${IF_LUN:-1}" --mode write --qd 8 --bs 64k --length 2M --seed 77 >/dev/null &&
		bss_io "${IF_LUN:-1}" --mode verify --qd 8 --bs 64k --length 2M --seed 77 >/dev/null
}

# One tgtd and sheep for the four faults (each setup costs about 40 s under
# valgrind); the leak check spans all of them.
@test "bs_initiator_faults: dropped connections, ABORT TASK, LU RESET, target resets" {
	run_faults drop abort lunreset reset
	# drop: every round logged in again, its LU RESET barrier completed
	[ "$(field reconnects drop)" = "$ROUNDS" ]
	[ "$(field tmf_complete drop)" = "$ROUNDS" ]
	# every ABORT TASK answered FUNCTION COMPLETE or TASK DOES NOT EXIST
	[ "$(field tmf abort)" -gt 0 ]
	[ $(($(field tmf_complete abort) + $(field tmf_not_found abort))) = "$(field tmf abort)" ]
	[ "$(field tmf_complete lunreset)" = "$ROUNDS" ]
	# tgt 1.0.85 answers target warm and cold reset FUNCTION NOT SUPPORTED
	[ $(($(field tmf_complete reset) + $(field tmf_not_supported reset))) = "$ROUNDS" ]
}

@test "bs_initiator_faults: aborts, resets and drops while the sheep is hung" {
	ROUNDS=4
	[ "${SD_HEAVY:-1}" != 0 ] || ROUNDS=2
	HANG_ARGS="--hang-pid $SHEEP_PID --hang-ms 1500"
	run_faults abort lunreset drop
	# the TMF answers waited for the sheep: tgt answers them only once the
	# aborted commands left the module
	[ "$(field tmf_wait_ms_max abort)" -ge 1000 ]
	[ "$(field tmf_wait_ms_max lunreset)" -ge 1000 ]
}

@test "bs_initiator_faults: a sheep hung past the LU's timeout: commands fail, tgtd answers" {
	# timeout=1;retry=0: the commands inside the module fail 1 s into the
	# 2.5 s hang (the library gives their connection up); the sheep then
	# wakes up to requests whose connection is gone.
	bss_vdi_create vol2 64M
	bss_lun 2 "tcp:127.0.0.1:$PROXY_PORT:vol2" "timeout=1;retry=0"
	ROUNDS=3
	[ "${SD_HEAVY:-1}" != 0 ] || ROUNDS=2
	IF_LUN=2 IF_FAILS_OK=1 HANG_ARGS="--hang-pid $SHEEP_PID --hang-ms 2500"
	run_faults abort lunreset drop
	# the hang made commands fail with sense data, not hang the initiator
	[ $(($(field io_failed abort) + $(field io_failed lunreset))) -gt 0 ]
	# the whole region was read back at the end of every run
	[ "$(field reads_verified drop)" -ge 128 ]
}

@test "bs_initiator_faults: a LU RESET while the sheep is hung: tgtd's loop goes on, the reset is answered within 2 s and published when the sheep is back" {
	# shared=1: the reset is published to the other gateways through the
	# vdi's attributes, asynchronously; the TMF's response waits for that
	# at most 2 s (bss_pr_tmf_done).  Before, the publication ran on
	# tgtd's loop: with the sheep stopped and the default timeout tgtd
	# answered nothing for about 40 s.
	local iopid t0 ms
	bss_io 1 --mode write --length 1M --qd 4 >/dev/null
	kill -STOP "$SHEEP_PID"
	t0=$(date +%s%N)
	printf 'login S iqn.2026-11.org.sheepdog.tests:ifault\nlunreset S\n' |
		timeout 120 "$IO" "$(tgt_url 1 1)" --mode script >"$T/script.out" 2>&1 &
	iopid=$!
	# the answers: the login's TEST UNIT READYs (clearing its unit
	# attentions) wait 2 s for their reservation lookup, the reset 2 s
	# for its publication, then both go on without the sheep
	for _ in $(seq 1 80); do
		kill -0 "$iopid" 2>/dev/null || break
		sleep 0.1
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "login and LU RESET answered after $ms ms"
	cat "$T/script.out"
	if kill -0 "$iopid" 2>/dev/null; then
		kill -CONT "$SHEEP_PID"
		false
	fi
	wait "$iopid"
	grep -qx 'S tmf=0' "$T/script.out"
	t0=$(date +%s%N)
	timeout 60 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target >/dev/null
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "tgtadm answered in $ms ms with the sheep still stopped"
	[ "$ms" -lt 2000 ]
	bss_log_has "LUN reset: answering after 2 s, still publishing it"
	kill -CONT "$SHEEP_PID"
	bss_log_has "LUN reset published to the other gateways"
	grep "LUN reset" "$TGTD_LOG"
	# and I/O goes on
	bss_io 1 --mode verify --length 1M --qd 4 >/dev/null
}
