#!/usr/bin/env bats
# Stamp-and-verify through tgtd (issue 12): iscsi-io --mode stamp writes
# self-describing blocks (tests/tools/stamp.h) and journals which writes were
# acknowledged; --mode stampcheck reads the LUN back and finds every block
# that holds something it may not.  First the checker is shown to catch what
# it must (a block rolled back to an older generation, zeroed, torn, another
# block's, never written), then sheep is killed (-9) and restarted 20 times
# under qd 32 of stamped writes on one LUN and write-back cached stamped
# writes on a second: not one acknowledged write may be lost or torn, and
# tgtd must answer tgtadm within 2 s all along.
#
# Time (measured on the shared 2-core machine): the whole file ~1.5 min;
# with SD_HEAVY=0 (5 cycles, the sanitizer phases) ~1.2 min, also with tgtd
# under valgrind.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576

setup() {
	bss_setup
}

teardown() {
	[ -z "${POLL_PID:-}" ] || kill "$POLL_PID" 2>/dev/null || true
	[ -z "${STAMP1_PID:-}" ] || kill -KILL "$STAMP1_PID" 2>/dev/null || true
	[ -z "${STAMP2_PID:-}" ] || kill -KILL "$STAMP2_PID" 2>/dev/null || true
	bss_teardown
}

# field NAME TEXT: the value of NAME=... in TEXT.
field() { sed -n "s/.*\b$1=\([0-9a-z:,.-]*\).*/\1/p" <<<"$2" | head -n1; }

# stampfill OFF LEN SEED GEN: stamp blocks on stdout.
stampfill() {
	"$IO" - --mode stampfill --offset "$1" --length "$2" --seed "$3" --gen "$4"
}

# stamp_bg LUN OUT ARGS...: a stamp run in the background, iscsi-io itself
# (so signals reach it), bounded by its own --timeout; $! is its PID.
stamp_bg() {
	local lun=$1 out=$2; shift 2
	"$IO" "$(tgt_url 1 "$lun")" --mode stamp --timeout 400 "$@" >"$out" 2>"$out.err" &
}

# chunk_with_acked JOURNAL SKIP: the SKIP-th (0-based) chunk whose last
# acknowledged generation is >= 2, as "INDEX ACKED".
chunk_with_acked() {
	awk -v skip="$2" '$1 == "c" && $3 >= 2 { if (n++ == skip) { print $2, $3; exit } }' "$1"
}

@test "bs_stamp: stampcheck passes a clean run and finds lost, torn, foreign and illegal blocks" {
	local j=$T/j1 k a off blk
	bss_vdi_create vol 8M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_io 1 --mode stamp --journal "$j" --qd 8 --bs 4096 --length $((512 * 1024)) \
		--seed 77 --time 3
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field failed "$output")" -eq 0 ]
	[ "$(field acked "$output")" -ge 300 ]
	run bss_io 1 --mode stampcheck --journal "$j"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field blocks "$output")" -eq 1024 ]
	[ "$(field lost "$output")" -eq 0 ]
	[ "$(field ok "$output")" -gt 0 ]

	# --resume goes on with higher generations; still clean.
	run bss_io 1 --mode stamp --journal "$j" --qd 8 --bs 4096 --length $((512 * 1024)) \
		--seed 77 --time 1 --resume
	echo "$output"
	[ "$status" -eq 0 ]
	run bss_io 1 --mode stampcheck --journal "$j"
	[ "$status" -eq 0 ]

	# Behind the checker's back, through dog (straight to sheep):
	# an acknowledged write rolled back to an older generation ...
	read -r k a < <(chunk_with_acked "$j" 0)
	off=$((k * 4096))
	stampfill "$off" 512 77 $((a - 1)) | sd_dog vdi write vol "$off" 512
	# ... one zeroed ...
	read -r k a < <(chunk_with_acked "$j" 1)
	off=$((k * 4096 + 512))
	head -c 512 /dev/zero | sd_dog vdi write vol "$off" 512
	# ... one torn (a byte of its filler flipped) ...
	read -r k a < <(chunk_with_acked "$j" 2)
	off=$((k * 4096 + 1024))
	sd_dog vdi read vol "$off" 512 >"$T/blk"
	blk=$(od -An -tx1 -j 100 -N1 "$T/blk" | tr -d ' ')
	printf "\\x$(printf %02x $((0x$blk ^ 0x55)))" |
		dd of="$T/blk" bs=1 seek=100 conv=notrunc status=none
	sd_dog vdi write vol "$off" 512 <"$T/blk"
	# ... one holding the stamp of another block ...
	read -r k a < <(chunk_with_acked "$j" 3)
	off=$((k * 4096 + 1536))
	stampfill $((off + 512)) 512 77 "$a" | sd_dog vdi write vol "$off" 512
	# ... and one with a generation never issued to it.
	read -r k a < <(chunk_with_acked "$j" 4)
	off=$((k * 4096 + 2048))
	stampfill "$off" 512 77 $((a + 1000000)) | sd_dog vdi write vol "$off" 512

	run bss_io 1 --mode stampcheck --journal "$j"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(field lost "$output")" -eq 2 ]
	[ "$(field torn "$output")" -eq 1 ]
	[ "$(field foreign "$output")" -eq 1 ]
	[ "$(field illegal "$output")" -eq 1 ]
	[[ "$output" == *"lost: byte offset"* ]]
}

@test "bs_stamp: SIGTERM ends a stamp run with its journal written" {
	local j=$T/j2 pid rc=0
	bss_vdi_create vol 8M
	bss_lun 1 "$(bss_tcp vol)"
	stamp_bg 1 "$T/out" --journal "$j" --qd 16 --bs 4096 --length $((4 * MiB)) \
		--seed 5 --time 300
	pid=$!
	sleep 2
	kill -TERM "$pid"
	timeout 20 tail --pid="$pid" -f /dev/null
	wait "$pid" || rc=$?
	cat "$T/out" "$T/out.err"
	[ "$rc" -eq 0 ]
	grep -q '^end$' "$j"
	[ "$(field acked "$(cat "$T/out")")" -gt 0 ]
	run bss_io 1 --mode stampcheck --journal "$j"
	echo "$output"
	[ "$status" -eq 0 ]
}

# tgtadm_poll FILE STOPFILE: every second, `tgtadm --op show --mode target`
# (bounded at 10 s); one line "ms rc" per call into FILE, until STOPFILE
# exists (at most 600 calls).
tgtadm_poll() {
	local out=$1 stop=$2 i t0 t1 rc
	for i in $(seq 1 600); do
		[ ! -e "$stop" ] || return 0
		t0=$(date +%s%N)
		rc=0
		timeout 10 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target >/dev/null 2>&1 ||
			rc=$?
		t1=$(date +%s%N)
		echo "$(((t1 - t0) / 1000000)) $rc" >>"$out"
		sleep 1
	done
}

@test "bs_stamp: 20 sheep kill -9/restart cycles under qd32 stamped writes: no acknowledged write lost" {
	local cycles=20 i rc out1 out2 slow calls min1=2000 min2=200
	# the sanitizer phases: 5 cycles, and valgrind's tgtd is far slower
	[ "${SD_HEAVY:-1}" != 0 ] || { cycles=5; min1=200; min2=20; }
	bss_vdi_create vol 64M
	bss_vdi_create wb 16M
	bss_lun 1 "$(bss_tcp vol)"
	# LUN 2: write-back gateway cache; a sheep crash must not lose what it
	# acknowledged either (only a gateway crash may lose unflushed writes).
	mkdir -p "$T/cache"
	bss_lun 2 "$(bss_tcp wb)" "cache=writeback;cache_dir=$T/cache"

	tgtadm_poll "$T/poll" "$T/poll.stop" &
	POLL_PID=$!
	stamp_bg 1 "$T/s1.out" --journal "$T/j1" --qd 32 --bs 4096 --length $((32 * MiB)) \
		--seed 11 --time 300
	STAMP1_PID=$!
	stamp_bg 2 "$T/s2.out" --journal "$T/j2" --qd 8 --bs 8192 --length $((8 * MiB)) \
		--seed 12 --time 300 --sync-every 200
	STAMP2_PID=$!
	sleep 2
	for i in $(seq 1 "$cycles"); do
		kill -0 "$STAMP1_PID"
		kill -0 "$STAMP2_PID"
		sheep_stop KILL
		sleep 0.$((RANDOM % 8 + 2))
		sheep_start "$SHEEP_STORE" "$SHEEP_PORT"
		sleep 1.$((RANDOM % 10))
	done
	# Load goes on after the last restart, then the runs end.
	sleep 3
	kill -TERM "$STAMP1_PID" "$STAMP2_PID"
	rc=0
	wait "$STAMP1_PID" || rc=$?
	STAMP1_PID=
	wait "$STAMP2_PID" || rc=$((rc + $?))
	STAMP2_PID=
	touch "$T/poll.stop"
	timeout 15 tail --pid="$POLL_PID" -f /dev/null || true
	POLL_PID=
	out1=$(cat "$T/s1.out")
	out2=$(cat "$T/s2.out")
	echo "LUN 1: $out1"
	echo "LUN 2: $out2"
	head -n 5 "$T/s1.out.err" "$T/s2.out.err"
	[ "$rc" -eq 0 ]
	# tgtd answered every poll, each within 2 s.
	calls=$(wc -l <"$T/poll")
	slow=$(awk '$1 > 2000 || $2 != 0' "$T/poll" | wc -l)
	echo "# stamp: $cycles sheep kill -9/restart cycles; tgtadm: $calls calls, slowest" \
		"$(sort -n "$T/poll" | tail -n1 | cut -d' ' -f1) ms, $slow slow or failed" >&3
	echo "# stamp: LUN 1: $out1" >&3
	echo "# stamp: LUN 2 (cache=writeback): $out2" >&3
	[ "$calls" -ge 10 ]
	[ "$slow" -eq 0 ]
	# Real load went through both LUNs.
	[ "$(field acked "$out1")" -ge "$min1" ]
	[ "$(field acked "$out2")" -ge "$min2" ]

	run bss_io 1 --mode stampcheck --journal "$T/j1"
	echo "# stamp: LUN 1: $output" >&3
	[ "$status" -eq 0 ]
	run bss_io 2 --mode stampcheck --journal "$T/j2"
	echo "# stamp: LUN 2: $output" >&3
	[ "$status" -eq 0 ]
	# And new I/O is clean after all the cycles.
	run bss_io 1 --mode stamp --journal "$T/j1" --qd 32 --bs 4096 --length $((32 * MiB)) \
		--seed 11 --time 2 --resume
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field failed "$output")" -eq 0 ]
	[ "$(field acked "$output")" -gt 0 ]
	run bss_io 1 --mode stampcheck --journal "$T/j1"
	[ "$status" -eq 0 ]
}
