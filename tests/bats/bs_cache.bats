#!/usr/bin/env bats
# The gateway object cache (bs_sheepdog/bss_cache.c, --bsopts
# cache=writeback|writethrough): acknowledged writes survive kill -9 of
# tgtd (replayed at the next open), SYNCHRONIZE CACHE and FUA leave nothing
# dirty, WCE toggled by MODE SELECT, the refusals (shared=1, a second
# shared LU while a write-back owner exists, a locked directory), reclaim
# under cache_size, a full or unwritable cache directory, snapshots, and
# the power-loss rule (another boot id discards the files).
#
# The cache directory of LU vdi "vol" is $CDIR/<cluster ctime>-vol; its
# `dirty` file has one byte per 4 MiB unit (1: holds acknowledged data not
# yet on the sheep).  Data is checked with iscsi-io's pattern (verify mode)
# and with `dog vdi read` against `iscsi-io --mode pattern`.

load lib/common
load lib/tgtd
load lib/bss

MiB=$((1024 * 1024))
SYNC10=35000000000000000000
# bsopts of a write-back LU that never flushes on its own during a test
WB_SLOW="cache=writeback;cache_age=3600;cache_dir="

setup() {
	bss_setup
	CDIR=$T/cache
	bss_vdi_create vol 64M
}

teardown() {
	tgtd_stop_all || true
	bss_teardown
}

# The LU's cache directory (one vdi "vol" per test).
cdir() {
	local d
	for d in "$CDIR"/*-vol; do
		[ -d "$d" ] && echo "$d" && return 0
	done
	return 1
}

# Number of dirty units (non-zero bytes of `dirty`).
dirty_units() {
	local f
	f=$(cdir)/dirty
	[ -f "$f" ] || { echo 0; return; }
	tr -d '\000' <"$f" | wc -c
}

# sheep_has OFF LEN SEED: the sheep holds the pattern there.
sheep_has() {
	sd_dog vdi read vol "$1" "$2" >"$T/sheep.bin" || return 2
	bss_pattern "$1" "$2" "$3" >"$T/want.bin"
	cmp -s "$T/sheep.bin" "$T/want.bin"
}

# A new tgtd (instance "a") with target 1, after the old one is gone.
tgtd_restart() {
	tgtd_start module || return 1
	tgtd_save a
	tgt_target_new 1 "$IQN"
}

@test "bs_cache: write-back acknowledges into the cache, SYNCHRONIZE CACHE leaves nothing dirty" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	bss_log_has "cache=writeback in $CDIR/"
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 3
	[ "$status" -eq 0 ]
	# acknowledged, in the cache, not on the sheep yet
	[ "$(dirty_units)" -eq 4 ]
	run sheep_has 0 $((16 * MiB)) 3
	[ "$status" -eq 1 ]
	run bss_io 1 --mode verify --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 3
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[ "$status" -eq 0 ]
	[[ "$output" == *"status=GOOD"* ]]
	[ "$(dirty_units)" -eq 0 ]
	sheep_has 0 $((16 * MiB)) 3
}
