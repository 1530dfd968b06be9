#!/usr/bin/env bats
# Power loss of the sheep (issue 12; docs/reliability.md, "Power loss").
# sd-crash.so (tests/tools/sd-crash.c) cuts the power at the Nth
# durability-relevant call sheep makes under its store and undoes everything
# not yet durable; sd-powerloss writes stamped blocks, snapshots, creates and
# deletes vdis, journals what was acknowledged, and after a restart without
# the shim verifies it all.  The first tests check the shim itself, so its
# bugs do not decide the verdict on sheep.
#
# Time (normal phase, 2-core machine shared): shim tests ~1 s; the crash-point
# sweep ~60-90 s for 40 points (SD_HEAVY=0: 8 points, ~15 s; under valgrind
# 3 points); the nosync run ~3 s.

load lib/common
load lib/raw

SHIM="$SD_TOOLS/.libs/sd-crash.so"
PROBE="$SD_TOOLS/sd-crash-probe"
PL="$SD_TOOLS/sd-powerloss"

setup() {
	T=$(sd_tmpdir)
	mkdir -p "$T/d"
}

teardown() {
	sheep_stop KILL >/dev/null 2>&1 || true
	rm -rf "$T"
}

# probe with the shim: crash before step $1 (0: never)
probe() {
	local at=$1; shift
	SD_CRASH_DIR="$T/d" SD_CRASH_AT=$at SD_CRASH_STATS="$T/stats" \
		LD_PRELOAD="$SHIM" "$PROBE" "$T/d" "$@"
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

# A formatted store in $T/store, sheep stopped.
fresh_store() {
	rm -rf "$T/store" "$T/store.crash-save"
	sheep_start "$T/store" || return 1
	sd_format >/dev/null || return 1
	sheep_stop
}

# One crash point: sheep under the shim cut before call $1, the workload
# until it fails, a restart without the shim, the checks.  Sets RUN_OUT.
crash_point() {
	local at=$1 extra=${2:-} rc=0 f
	fresh_store || return 1
	SD_CRASH_DIR="$T/store" SD_CRASH_AT=$at SD_CRASH_STATS="$T/stats" \
		LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		sheep_start "$T/store" "" $extra || return 1
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" "$at" "${PL_WRITES:-400}" \
		>"$T/run.out" || return 1
	# the power must have been cut during the workload
	sd_wait_for 10 grep -q crashed "$T/stats" || { echo "no crash at $at"; return 1; }
	sheep_stop KILL
	sheep_start "$T/store" || return 1
	# nothing half-made: no temp file served or left, every object whole
	for f in "$T/store/obj/"* "$T/store/obj/".tmp*; do
		[ -e "$f" ] || continue
		case $(basename "$f") in
		.tmp*) echo "temp file left: $f"; rc=1 ;;
		80*) # SD_INODE_SIZE
			[ "$(stat -c %s "$f")" -eq 12587576 ] || { echo "inode $f: $(stat -c %s "$f")"; rc=1; } ;;
		00*) [ "$(stat -c %s "$f")" -eq 4194304 ] || { echo "object $f: $(stat -c %s "$f")"; rc=1; } ;;
		esac
	done
	RUN_OUT=$(timeout 120 "$PL" verify "127.0.0.1:$SHEEP_PORT" "$T/journal") || rc=1
	echo "$RUN_OUT"
	sheep_stop || rc=1
	return $rc
}

@test "power cut at many points: every acknowledged write, snapshot and vdi survives" {
	local points=40 total at i acked=0 n ok=0
	if [ "${SD_HEAVY:-1}" = 0 ]; then points=8; fi
	if [ -n "$SD_WRAP" ]; then points=3; fi
	# calibration: the whole workload without a cut counts the calls
	fresh_store
	SD_CRASH_DIR="$T/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		sheep_start "$T/store"
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" 1 "${PL_WRITES:-400}"
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
	echo "# crash points $ok, acknowledged writes verified $acked" >&3
}

@test "the checker can fail: sheep -n (nosync) loses acknowledged writes at a cut" {
	local total
	fresh_store
	SD_CRASH_DIR="$T/store" SD_CRASH_STATS="$T/stats" LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		sheep_start "$T/store" "" -n
	timeout 120 "$PL" run "127.0.0.1:$SHEEP_PORT" "$T/journal" 1 100
	sheep_stop
	total=$(awk '/^ops/ {print $2}' "$T/stats")
	run crash_point $(( total * 9 / 10 )) -n
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"LOST"* || "$output" == *"not listed"* ]]
}
