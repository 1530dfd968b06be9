#!/usr/bin/env bats
# Power loss of the sheep (issue 12; docs/reliability.md, "Power loss").
# sd-crash.so (tests/tools/sd-crash.c) cuts the power at the Nth
# durability-relevant call sheep makes under its store and undoes everything
# not yet durable; sd-powerloss writes stamped blocks, snapshots, creates and
# deletes vdis, journals what was acknowledged, and after a restart without
# the shim verifies it all.  The first tests check the shim itself, so its
# bugs do not decide the verdict on sheep.
#
# Time (normal phase, 2-core machine shared): shim tests ~1 s; the dense
# snapshot window (13 cuts) ~50 s (~20 s quiet), the create/delete window
# (27 cuts) ~7 s quiet, the format (6 cuts) ~1 s; the crash-point
# sweep ~2 minutes for 40 points of a 200-write run, ~3 s a point
# (SD_HEAVY=0: 6 points of a 100-write run, ~40 s under ASan; under valgrind,
# SD_WRAP set, 2 points of a 50-write run and every 4th dense cut, ~2-3
# minutes in all); the nosync run ~5 s (~30 s under valgrind).

load lib/common
load lib/raw

SHIM="$SD_TOOLS/.libs/sd-crash.so"
PROBE="$SD_TOOLS/sd-crash-probe"
PL="$SD_TOOLS/sd-powerloss"
# an ASan build wants its runtime first among the loaded libraries; the
# shim (never instrumented) comes first here, which is harmless
ASAN_PL="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

setup() {
	T=$(sd_tmpdir)
	mkdir -p "$T/d"
	# one port for every sheep of a test: sd_free_port costs a second
	# on a loaded machine, and sheep rebinds a port at once
	PORT=$(sd_free_port)
	# the stores of the sweep live in tmpfs when there is one: the shim
	# decides what survives, not the disk, and real fsyncs on a disk
	# shared with other jobs only make the run slow and noisy
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		ST=$(mktemp -d /dev/shm/sd-pl.XXXXXX)
	else
		ST=$T/st
		mkdir -p "$ST"
	fi
}

teardown() {
	sheep_stop KILL >/dev/null 2>&1 || true
	rm -rf "$T" "$ST"
}

# probe with the shim: crash before step $1 (0: never)
probe() {
	local at=$1; shift
	SD_CRASH_DIR="$T/d" SD_CRASH_AT=$at SD_CRASH_STATS="$T/stats" \
		LD_PRELOAD="$SHIM" ASAN_OPTIONS="$ASAN_PL" "$PROBE" "$T/d" "$@"
}

base() { probe 0 new a dirsync w a 0 hello ds a new b w b 0 bbb ds b dirsync; }

@test "shim: a write without fdatasync is lost at the cut" {
	base
	run probe 2 w a 0 HELLO dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = hello ]
	[ "$(cat "$T/stats")" = "crashed 2" ]
}

@test "shim: a write made durable by fdatasync survives the cut" {
	base
	run probe 3 w a 0 HELLO ds a dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = HELLO ]
}

@test "shim: a directory fsync does not make file data durable; growth is undone" {
	base
	run probe 3 w a 3 LONGER dirsync dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = hello ]
}

@test "shim: rename without a directory fsync leaves the old names and the replaced file" {
	base
	run probe 2 mv a b dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = hello ]
	[ "$(cat "$T/d/b")" = bbb ]
	run probe 3 mv a b dirsync dirsync
	[ "$status" -eq 113 ]
	[ ! -e "$T/d/a" ]
	[ "$(cat "$T/d/b")" = hello ]
}

@test "shim: create and unlink need the directory fsync; truncation is undone" {
	base
	run probe 4 new c w c 0 xx ds c dirsync
	[ "$status" -eq 113 ]
	[ ! -e "$T/d/c" ]
	run probe 2 rm a dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = hello ]
	run probe 2 trunc a 2 dirsync
	[ "$status" -eq 113 ]
	[ "$(cat "$T/d/a")" = hello ]
	[ -z "$(ls -A "$T/d.crash-save")" ]
}

# A formatted store in $ST/store, sheep stopped: a copy of one formatted
# once per test (a format per crash point would cost a sheep start/stop).
fresh_store() {
	if [ ! -d "$ST/template" ]; then
		sheep_start "$ST/template" "$PORT" || return 1
		sd_format >/dev/null || return 1
		sheep_stop || return 1
		rm -f "$ST/template/"*.log
	fi
	rm -rf "$ST/store" "$ST/store.crash-save"
	cp -a "$ST/template" "$ST/store"
}

# One crash point: sheep under the shim cut before call $1, the workload
# until it fails, a restart without the shim, the checks.  Sets RUN_OUT.
crash_point() {
	local at=$1 extra=${2:-} rc=0 bad
	fresh_store || return 1
	SD_CRASH_DIR="$ST/store" SD_CRASH_AT=$at SD_CRASH_STATS="$T/stats" \
		LD_PRELOAD="$SHIM" ASAN_OPTIONS="$ASAN_PL" \
		sheep_start "$ST/store" "$PORT" $extra || return 1
	# the workload's seed: the cut's own (the sweep), or SEED (a window
	# of calls counted by calls_of with the same seed)
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" "${SEED:-$at}" "$W" \
		>"$T/run.out" || return 1
	# the power must have been cut during the workload, or at the latest
	# while sheep shuts down (the calls a delete leaves to shutdown)
	if ! sd_wait_for 3 grep -q crashed "$T/stats"; then
		kill -TERM "$SHEEP_PID" 2>/dev/null || true
		sd_wait_for 10 grep -q crashed "$T/stats" || { echo "no crash at $at"; return 1; }
	fi
	sheep_stop KILL
	sheep_start "$ST/store" "$PORT" || return 1
	# nothing half-made: no temp file left, every object file whole
	# (SD_INODE_SIZE for inodes, 4 MiB for data objects)
	bad=$(cd "$ST/store/obj" && stat -c '%n %s' -- * .tmp* 2>/dev/null | awk '
		/^\.tmp/ { print "temp file left: " $1; next }
		/^80/ && $2 != 12587576 { print "inode " $1 ": " $2 }
		/^00/ && $2 != 4194304 { print "object " $1 ": " $2 }')
	[ -z "$bad" ] || { echo "$bad"; rc=1; }
	RUN_OUT=$(timeout 120 "$PL" verify "127.0.0.1:$SHEEP_PORT" "$T/journal") || rc=1
	echo "$RUN_OUT"
	# a snapshot cut between its new inode and the mark, finished at start
	! grep -q "cut short" "$ST/store/sheep.log" || FINISHED=$(( ${FINISHED:-0} + 1 ))
	sheep_stop || rc=1
	return $rc
}

@test "power cut at many points: every acknowledged write, snapshot and vdi survives" {
	local points=40 total at i acked=0 n ok=0
	W=200
	if [ "${SD_HEAVY:-1}" = 0 ]; then points=6 W=100; fi
	if [ -n "$SD_WRAP" ]; then points=2 W=50; fi
	# calibration: the whole workload without a cut counts the calls
	fresh_store
	SD_CRASH_DIR="$ST/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="$ASAN_PL" \
		sheep_start "$ST/store" "$PORT"
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" 1 "$W"
	sheep_stop
	total=$(awk '/^ops/ {print $2}' "$T/stats")
	echo "calls per full run: $total"
	[ "$total" -gt $(( points * 4 )) ]
	for i in $(seq 1 "$points"); do
		# spread over the run, with a per-point jitter so that runs hit
		# different steps of the create/rename/sync sequences
		at=$(( total * i / (points + 1) + i % 7 ))
		if ! crash_point "$at"; then
			echo "crash point $at failed"
			return 1
		fi
		n=$(sed -n 's/.*writes acknowledged \([0-9]*\).*/\1/p' <<<"$RUN_OUT")
		acked=$(( acked + n ))
		ok=$(( ok + 1 ))
	done
	echo "# crash points $ok, acknowledged writes verified $acked, snapshots finished at start ${FINISHED:-0}" >&3
}

# The calls of a run of $1 writes, without a cut (the workload is one
# request at a time: the count is the same run after run).
calls_of() {
	fresh_store || return 1
	SD_CRASH_DIR="$ST/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="$ASAN_PL" sheep_start "$ST/store" "$PORT" || return 1
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" "$SEED" "$1" >/dev/null || return 1
	sheep_stop || return 1
	awk '/^ops/ {print $2}' "$T/stats"
}

# Cut at every call of write $1 and what follows it in the workload (write
# 25: the first snapshot; write 20: the create of vdi t2 and the delete of
# t1); every $2nd call.  Sets N.  The calibration and every cut run the
# workload with one seed: with the cut's own seed (as the sweep does) the
# random writes before the window make other calls, and the window's last
# calls never came in some cut runs.
every_call_of() {
	local lo hi at step=$2 SEED=1
	lo=$(calls_of $(( $1 - 1 ))) && hi=$(calls_of "$1") || return 1
	echo "write $1: calls $(( lo + 1 ))..$hi"
	[ "$hi" -gt $(( lo + 5 )) ] || return 1
	W=$1
	for (( at = lo + 1; at <= hi; at += step )); do
		crash_point "$at" >"$T/point.out" || { cat "$T/point.out"; echo "cut at $at failed"; return 1; }
		N=$(( N + 1 ))
	done
}

@test "power cut at every call of a write and the snapshot after it" {
	local step=1 N=0
	[ -z "$SD_WRAP" ] || step=4
	every_call_of 25 "$step"
	echo "# dense crash points $N, snapshots finished at start ${FINISHED:-0}" >&3
	[ "${FINISHED:-0}" -gt 0 ] || [ "$step" -gt 1 ]
}

@test "power cut at every call of a vdi create and the delete of the one before" {
	local step=1 N=0
	[ -z "$SD_WRAP" ] || step=4
	every_call_of 20 "$step"
	echo "# dense crash points $N (create and delete)" >&3
}

# The calls sheep makes from its start to its stop with `dog cluster
# format` in between (or without it: $1 = 0), under the shim.
format_calls() {
	rm -rf "$ST/store" "$ST/store.crash-save"
	mkdir -p "$ST/store"
	SD_CRASH_DIR="$ST/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="$ASAN_PL" sheep_start "$ST/store" "$PORT" || return 1
	[ "$1" = 0 ] || sd_dog cluster format >/dev/null || return 1
	sheep_stop || return 1
	awk '/^ops/ {print $2}' "$T/stats"
}

@test "power cut at every call of dog cluster format: formatted or not, never half" {
	local lo hi at n=0 formatted=0 acked
	lo=$(format_calls 0) && hi=$(format_calls 1)
	echo "format: calls $((lo + 1))..$hi"
	[ "$hi" -gt $((lo + 2)) ]
	for ((at = lo + 1; at <= hi; at++)); do
		rm -rf "$ST/store" "$ST/store.crash-save"
		mkdir -p "$ST/store"
		SD_CRASH_DIR="$ST/store" SD_CRASH_AT=$at SD_CRASH_STATS="$T/stats" \
			LD_PRELOAD="$SHIM" ASAN_OPTIONS="$ASAN_PL" sheep_start "$ST/store" "$PORT"
		acked=0
		! sd_dog cluster format >/dev/null 2>&1 || acked=1
		if ! sd_wait_for 3 grep -q crashed "$T/stats"; then
			kill -TERM "$SHEEP_PID" 2>/dev/null || true
			sd_wait_for 10 grep -q crashed "$T/stats" || { echo "no crash at $at"; return 1; }
		fi
		sheep_stop KILL
		sheep_start "$ST/store" "$PORT"
		# either formatted (then it works) or not at all (a format now
		# works): never a store that refuses both
		if sd_dog vdi create v 4M >/dev/null 2>&1; then
			formatted=$((formatted + 1))
		else
			run sd_dog cluster info
			echo "cut at $at (format acknowledged: $acked): $output"
			[[ "$output" == *"Waiting for cluster to be formatted"* ]]
			# an acknowledged format survives the cut
			[ "$acked" = 0 ]
			sd_dog cluster format >/dev/null
			sd_dog vdi create v 4M >/dev/null
		fi
		sd_dog vdi write v 0 512 < <(head -c 512 /dev/urandom)
		[ "$(sd_dog vdi list -r | wc -l)" -eq 1 ]
		sheep_stop
		n=$((n + 1))
	done
	echo "# format cuts $n, formatted after the cut $formatted" >&3
}

@test "the checker can fail: sheep -n (nosync) loses acknowledged writes at a cut" {
	local total W=100
	[ -z "$SD_WRAP" ] || W=50
	fresh_store
	SD_CRASH_DIR="$ST/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="$ASAN_PL" \
		sheep_start "$ST/store" "$PORT" -n
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" 1 "$W"
	sheep_stop
	total=$(awk '/^ops/ {print $2}' "$T/stats")
	run crash_point $(( total * 9 / 10 )) -n
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"LOST"* || "$output" == *"not listed"* ]]
}
