#!/usr/bin/env bats
# Hundreds of LUNs on one tgtd: the LUNs of one sheep share one connection
# pool (bss_pool.c), so memory, sockets and threads grow with the work and
# not with the LUN count; the pool's admission keeps LUNs fair and a vdi
# that fails leaves its neighbours alone.  Ceilings, not timings: every
# figure is printed for the closing table (docs/performance.md).

load lib/common
load lib/tgtd
load lib/bss

LUNS_TOOL="$SD_TOOLS/iscsi-luns"

setup() {
	[ -x "$LUNS_TOOL" ] || skip "iscsi-luns not built (libiscsi missing)"
	bss_setup
}

teardown() {
	bss_teardown
}

# tgtd's resident set (KiB), open fds and threads, as "RSS FDS THREADS".
tgtd_usage() {
	local rss thr fds
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$TGTD_PID/status")
	thr=$(awk '/^Threads:/ {print $2}' "/proc/$TGTD_PID/status")
	fds=$(ls "/proc/$TGTD_PID/fd" | wc -l)
	echo "$rss $fds $thr"
}

# Count of a fixed string's lines in tgtd's log.
log_count() {
	grep -cF -- "$1" "$TGTD_LOG" || true
}

# LUNs per target: libiscsi addresses LUNs above 255 in a format tgt
# takes for another LUN, so 1,000 LUNs are 4 targets of 250.
PER_TARGET=250

# scale_lun TID LUN: the LUN of vdi s<TID>_<LUN> (fails with tgtadm's words)
scale_lun() {
	local out
	out=$(tgt_lun_new "$1" "$2" "$(bss_tcp "s$1_$2")" sheepdog 2>&1) || {
		echo "LUN $1/$2: $out" >&2
		return 1
	}
}

@test "bs_scale: 1,000 LUNs of 64 MiB: created, each read once, deleted; RSS, fds and threads stay under the ceilings" {
	# the sanitizer phases (SD_HEAVY=0) run 100: the same paths, a tenth
	# of the time under valgrind; the ceilings hold the same
	local n=${SD_SCALE_LUNS:-1000} i t0 t1 tid lun ntg
	[ "${SD_HEAVY:-1}" != 0 ] || n=${SD_SCALE_LUNS:-100}
	ntg=$(((n + PER_TARGET - 1) / PER_TARGET))
	for tid in $(seq 2 "$ntg"); do
		tgt_target_new "$tid" "$IQN-$tid" || return 1
	done
	for i in $(seq 0 $((n - 1))); do
		sd_dog vdi create "s$((i / PER_TARGET + 1))_$((i % PER_TARGET + 1))" 64M || return 1
	done
	read -r rss0 fds0 thr0 < <(tgtd_usage)
	echo "before: rss ${rss0} KiB, ${fds0} fds, ${thr0} threads"
	t0=$(date +%s%N)
	for i in $(seq 0 $((n - 1))); do
		scale_lun $((i / PER_TARGET + 1)) $((i % PER_TARGET + 1)) || return 1
	done
	t1=$(date +%s%N)
	echo "created $n LUNs in $(((t1 - t0) / 1000000)) ms ($(((t1 - t0) / 1000 / n)) us each, tgtadm included)"
	read -r rss1 fds1 thr1 < <(tgtd_usage)
	echo "with $n LUNs: rss ${rss1} KiB (+$((rss1 - rss0))), ${fds1} fds (+$((fds1 - fds0))), ${thr1} threads"
	# one I/O pool and one reservation pool for all of them
	[ "$(log_count "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: 4 connections")" -eq 1 ]
	[ "$(log_count "sheepdog reservations pool at 127.0.0.1:$SHEEP_PORT: 1 connection")" -eq 1 ]

	# every LUN its own vdi: a stamp of (LUN, seed) written, then read back
	for tid in $(seq 1 "$ntg"); do
		lun=$((n - (tid - 1) * PER_TARGET))
		[ "$lun" -le "$PER_TARGET" ] || lun=$PER_TARGET
		run timeout 300 "$LUNS_TOOL" "$(tgt_url "$tid" 1)" --luns "1-$lun" --mode stamp \
			--seed "$tid"
		echo "target $tid stamp: $output"
		[ "$status" -eq 0 ]
		run timeout 300 "$LUNS_TOOL" "$(tgt_url "$tid" 1)" --luns "1-$lun" --mode check \
			--seed "$tid"
		echo "target $tid check: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"luns=$lun ok=$lun errors=0 mismatches=0"* ]]
	done
	# and the bytes are in the right vdis: the last LUN's, read by dog, is
	# iscsi-luns's pattern of that LUN (iscsi-io's, with the LUN in the seed)
	sd_dog vdi read "s${ntg}_$lun" 0 4096 >"$T/last" || return 1
	"$IO" - --mode pattern --length 4096 --seed $((ntg ^ (lun << 40))) >"$T/want"
	cmp "$T/last" "$T/want"

	read -r rss2 fds2 thr2 < <(tgtd_usage)
	echo "after I/O: rss ${rss2} KiB (+$((rss2 - rss0)), $(((rss2 - rss0) / n)) KiB per LUN), ${fds2} fds (+$((fds2 - fds0))), ${thr2} threads"
	[ $((rss2 - rss0)) -lt $((100 * 1024)) ]
	[ $((fds2 - fds0)) -lt 100 ]
	[ "$thr2" -eq "$thr0" ]

	t0=$(date +%s%N)
	for i in $(seq 0 $((n - 1))); do
		tgt_lun_del $((i / PER_TARGET + 1)) $((i % PER_TARGET + 1)) || return 1
	done
	t1=$(date +%s%N)
	echo "deleted $n LUNs in $(((t1 - t0) / 1000000)) ms"
	# every vdi released, then the pools closed: back to the first fds
	sd_wait_for 60 test "$(log_count "sheepdog: released vdi 's")" -ge "$n"
	sd_wait_for 30 bss_log_has "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: closed"
	sd_wait_for 30 test "$(ls "/proc/$TGTD_PID/fd" | wc -l)" -le "$fds0"
	read -r rss3 fds3 thr3 < <(tgtd_usage)
	echo "after delete: rss ${rss3} KiB, ${fds3} fds, ${thr3} threads"
	# the vdis are free again: one opens exclusively
	bss_lun 1 "$(bss_tcp s1_1)" "cache=writethrough;cache_dir=$T/cache"
}

# The sheep's file of object IDX of vdi NAME (data objects are named by
# vid << 32 | index).
object_file() {
	local vid
	vid=$(sd_dog vdi list -r | awk -v n="$1" '$2 == n {print $8}')
	[ -n "$vid" ] || return 1
	printf '%s/obj/%016x' "$SHEEP_STORE" $((0x$vid << 32 | $2))
}

@test "bs_scale: 16 LUNs under 4 KiB random load at once: no errors, every read verified, the slowest LUN at least half the fastest" {
	local i w
	# max_inflight=32: the pool admits 32 of the 128 commands at a time,
	# so its round robin decides who goes next
	for i in $(seq 1 16); do
		bss_vdi_create "f$i" 64M
		bss_lun "$i" "$(bss_tcp "f$i")" "max_inflight=32"
	done
	run timeout 120 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-1 --mode load --time 4 --qd 8 --seed 3
	echo "$output"
	[ "$status" -eq 0 ]
	one=$(sed -n 's/.*aggregate_iops=\([0-9]*\).*/\1/p' <<<"$output")
	run timeout 300 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-16 --mode load --time 8 --qd 8 --seed 3
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" errors=0 mismatches=0"* ]]
	min=$(sed -n 's/.* min_iops=\([0-9]*\).*/\1/p' <<<"$output")
	max=$(sed -n 's/.* max_iops=\([0-9]*\).*/\1/p' <<<"$output")
	agg=$(sed -n 's/.*aggregate_iops=\([0-9]*\).*/\1/p' <<<"$output")
	echo "one LUN alone: $one IOPS; 16 at once: $agg IOPS in all, slowest $min, fastest $max"
	[ "$min" -gt 0 ]
	[ $((2 * min)) -ge "$max" ]
	# every LUN shares the one pool, and its admission was at work
	[ "$(log_count "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: 4 connections")" -eq 1 ]
	for i in $(seq 1 16); do
		tgt_lun_del 1 "$i"
	done
	sd_wait_for 10 test "$(log_count "waited for a slot of the pool")" -ge 16
	w=$(sed -n "s/.*closed vdi 'f[0-9]*' .* \([0-9]*\) waited for a slot.*/\1/p" "$TGTD_LOG" |
		awk '$1 > 0' | wc -l)
	echo "LUNs whose commands waited for a slot: $w of 16"
	[ "$w" -eq 16 ]
}

@test "bs_scale: a vdi whose objects fail on the sheep fails only its own LUN's commands" {
	local i f
	for i in 1 2 3 4; do
		bss_vdi_create "e$i" 64M
		bss_lun "$i" "$(bss_tcp "e$i")"
	done
	# fill the 8 MiB each LUN's load covers (no errors yet)
	run timeout 120 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-4 --mode load --time 1 --qd 4 --seed 5
	[ "$status" -eq 0 ]
	# LUN 2's first object: cut short on the sheep's disk, so the sheep
	# answers every request on it with an error (restarted, so that it
	# does not keep the object's descriptor and size; the LUs reconnect)
	f=$(object_file e2 0)
	[ -f "$f" ]
	sheep_stop
	truncate -s 512 "$f"
	sheep_start "$T/store" "$SHEEP_PORT" || return 1
	run timeout 120 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-4 --mode load --time 4 --qd 4 \
		--seed 5 --expect-errors 2
	echo "$output"
	# the others: no error, every read verified; LUN 2: errors
	[ "$status" -eq 0 ]
	[[ "$output" == *"luns=4 "*" errors=0 mismatches=0"* ]]
	e2=$(sed -n 's/^lun=2 .* errors=\([0-9]*\) .*/\1/p' <<<"$output")
	[ "$e2" -gt 0 ]
	for i in 1 3 4; do
		[[ "$output" == *"lun=$i "*" errors=0 mismatches=0"* ]]
	done
}

@test "bs_scale: LUNs created and deleted while others of the pool are under load; a second LUN of one vdi gets a pool of its own" {
	local i round pid
	bss_vdi_create l1 64M
	bss_vdi_create l2 64M
	for i in $(seq 1 40); do
		bss_vdi_create "c$i" 64M
	done
	bss_lun 1 "$(bss_tcp l1)"
	bss_lun 2 "$(bss_tcp l2)"
	# the same load without churn first, for its slowest command (printed
	# for comparison with the churn's, not checked: timings)
	run timeout 120 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-2 --mode load --time 3 --qd 8 \
		--seed 21
	[ "$status" -eq 0 ]
	echo "without churn: ${lines[-1]}"
	# LUNs 1 and 2 busy for the whole churn; every read checked
	timeout 300 "$LUNS_TOOL" "$(tgt_url 1 1)" --luns 1-2 --mode load --time 10 --qd 8 \
		--seed 21 >"$T/load" 2>&1 &
	pid=$!
	sleep 1
	# the opens and closes run while the pool carries LUNs 1 and 2 (an
	# open's own wait completes their commands meanwhile)
	for round in 1 2 3; do
		for i in $(seq 1 40); do
			bss_lun $((10 + i)) "$(bss_tcp "c$i")" || { kill "$pid"; return 1; }
		done
		for i in $(seq 1 40); do
			tgt_lun_del 1 $((10 + i)) || { kill "$pid"; return 1; }
		done
	done
	wait "$pid" || { cat "$T/load"; return 1; }
	echo "with 120 LUNs created and deleted meanwhile:"
	cat "$T/load"
	grep -q '^luns=2 .* errors=0 mismatches=0' "$T/load"
	sd_wait_for 30 test "$(log_count "sheepdog: released vdi 'c")" -ge 120
	[ "$(log_count "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: 4 connections")" -eq 1 ]

	# LUN 3 on l1 too (multipath through one gateway): its own pool, so
	# the sheep sees two clients of l1 and keeps them coherent
	bss_lun 3 "$(bss_tcp l1)"
	[ "$(log_count "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: 4 connections")" -eq 2 ]
	run bss_io 3 --mode write --offset $((40 << 20)) --length $((4 << 20)) --bs 65536 --qd 8 \
		--seed 23
	[ "$status" -eq 0 ]
	run bss_io 1 --mode verify --offset $((40 << 20)) --length $((4 << 20)) --bs 65536 --qd 8 \
		--seed 23
	echo "$output"
	[ "$status" -eq 0 ]
	# and the first pool goes on serving LUN 2 after LUN 3's pool closes
	tgt_lun_del 1 3
	sd_wait_for 30 bss_log_has "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: closed"
	run bss_io 2 --mode randread --offset 0 --length $((8 << 20)) --count 500 --qd 8
	[ "$status" -eq 0 ]
}

@test "bs_scale: LUNs added and deleted under a logged-in session: another LUN reports the change once, not once per change" {
	local pid i
	bss_vdi_create l1 64M
	bss_vdi_create c1 64M
	bss_lun 1 "$(bss_tcp l1)"
	# one nexus on LUN 1 that stays logged in while LUN 2 comes and goes
	mkfifo "$T/cmds"
	timeout 120 "$IO" "$(tgt_url 1 1)" --mode script <"$T/cmds" >"$T/out" 2>&1 &
	pid=$!
	exec 7>"$T/cmds"
	printf 'login S iqn.2026-12.org.sheepdog.tests:ua\nS 000000000000\n' >&7
	sd_wait_for 30 grep -q '^S status=' "$T/out" || { exec 7>&-; return 1; }
	# 20 adds and 20 deletes: tgt core queues 40 REPORTED LUNS DATA HAS
	# CHANGED for the nexus; an initiator that retries a command 5 times
	# after unit attentions (Linux's sd) would fail its next command
	for i in $(seq 1 20); do
		bss_lun 2 "$(bss_tcp c1)" || { exec 7>&-; return 1; }
		tgt_lun_del 1 2 || { exec 7>&-; return 1; }
	done
	printf 'S 000000000000\nS 000000000000\n' >&7
	exec 7>&-
	wait "$pid"
	cat "$T/out"
	# the module's LUN keeps one of identical unit attentions
	[ "$(grep -c '^S status=' "$T/out")" -eq 3 ]
	[ "$(grep '^S status=' "$T/out" | sed -n 2p)" = "S status=CHECK_CONDITION key=0x06 asc=0x3f ascq=0x0e" ]
	[ "$(grep '^S status=' "$T/out" | sed -n 3p)" = "S status=GOOD" ]
}

@test "bs_scale: a gold image, its snapshot and ten clones as LUNs of one pool: every clone reads the inherited data and diverges on its own" {
	local i
	bss_vdi_create gold 16M
	bss_lun 1 "$(bss_tcp gold)"
	run bss_io 1 --mode write --qd 8 --bs 65536 --offset 0 --length $((12 << 20)) --seed 41
	[ "$status" -eq 0 ]
	sd_dog vdi snapshot -s v1 gold
	for i in $(seq 1 10); do
		sd_dog vdi clone -s v1 gold "desk$i"
		bss_lun $((1 + i)) "$(bss_tcp "desk$i")"
	done
	# the base LUN (now on gold's new working vid) and the ten clones
	# share the pool: one client to the sheep, whose participation in
	# the snapshot's vid the base left stale
	[ "$(log_count "sheepdog I/O pool at 127.0.0.1:$SHEEP_PORT: 4 connections")" -eq 1 ]
	for i in $(seq 1 10); do
		run bss_io $((1 + i)) --mode verify --qd 8 --bs 65536 --offset 0 \
			--length $((12 << 20)) --seed 41
		echo "desk$i: $output"
		[ "$status" -eq 0 ]
	done
	# each clone writes its own object 1; the others and the base keep v1's
	run bss_io 2 --mode write --qd 8 --bs 65536 --offset $((4 << 20)) --length $((4 << 20)) \
		--seed 42
	[ "$status" -eq 0 ]
	run bss_io 2 --mode verify --qd 8 --bs 65536 --offset $((4 << 20)) --length $((4 << 20)) \
		--seed 42
	[ "$status" -eq 0 ]
	run bss_io 3 --mode verify --qd 8 --bs 65536 --offset 0 --length $((12 << 20)) --seed 41
	[ "$status" -eq 0 ]
	run bss_io 1 --mode verify --qd 8 --bs 65536 --offset 0 --length $((12 << 20)) --seed 41
	[ "$status" -eq 0 ]
}
