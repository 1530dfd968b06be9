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

@test "bs_cache: kill -9 of tgtd under write load loses nothing acknowledged: the next open replays" {
	local io
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((32 * MiB)) --bs 65536 --qd 32 --seed 5
	[ "$status" -eq 0 ]
	# dirty data existed: the sheep lacks what was acknowledged
	[ "$(dirty_units)" -eq 8 ]
	run sheep_has 0 $((32 * MiB)) 5
	[ "$status" -eq 1 ]
	# more writes (the same pattern) in flight when tgtd dies
	# (timeout itself is the job, so the kill below reaches iscsi-io)
	timeout 300 "$IO" "$(tgt_url 1 1)" --mode randwrite --offset 0 --length $((32 * MiB)) \
		--bs 4096 --qd 32 --seed 5 --time 20 >"$T/load.out" 2>&1 3>&- &
	io=$!
	sleep 2
	kill -KILL "$TGTD_PID"
	# the writer would go on reconnecting to the dead portal: every write
	# it had acknowledged is in the pattern checked below
	kill "$io" 2>/dev/null || true
	wait "$io" || true
	tgtd_stop || true
	[ "$(dirty_units)" -gt 0 ]
	tgtd_restart
	# the dead gateway's exclusive lock went with its connections, but its
	# owner attribute still keeps every other gateway off the vdi
	run bss_lun 2 "$(bss_tcp vol)" "shared=1"
	[ "$status" -ne 0 ]
	bss_log_has "vdi 'vol' has write-back data in the cache of gateway"
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	bss_log_has "cache: replayed"
	# on the sheep before the LU served anything, and through the new LU
	sheep_has 0 $((32 * MiB)) 5
	[ "$(dirty_units)" -eq 0 ]
	run bss_io 1 --mode verify --offset 0 --length $((32 * MiB)) --bs 65536 --qd 16 --seed 5
	[ "$status" -eq 0 ]
}

@test "bs_cache: a FUA write is on the sheep when it completes; its unit is clean, others stay dirty" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((4 * MiB)) --bs 65536 --qd 8 --seed 7
	[ "$status" -eq 0 ]
	run bss_io 1 --mode write --offset $((8 * MiB)) --length $((1 * MiB)) --bs 65536 --qd 8 \
		--seed 8 --fua
	[ "$status" -eq 0 ]
	sheep_has $((8 * MiB)) $((1 * MiB)) 8
	[ "$(dirty_units)" -eq 1 ]
	run sheep_has 0 $((4 * MiB)) 7
	[ "$status" -eq 1 ]
	# closing the LU flushes everything and marks the directory clean
	tgt_lun_del 1 1
	[ "$(dirty_units)" -eq 0 ]
	sheep_has 0 $((4 * MiB)) 7
	grep -q '^clean 1$' "$(cdir)/state"
	run sd_dog vdi getattr vol bss.cache.owner
	[ "$status" -ne 0 ]
}

# mode_page_wce LUN 0|1: MODE SELECT(6) of the caching page with WCE set
# or cleared (the rest of the page as MODE SENSE returns it).
mode_page_wce() {
	local lun=$1 wce=$2 page b2
	run bss_raw "$lun" 1a080800ff00 --in 255 --dump
	[ "${lines[0]}" = "status=GOOD" ] || return 1
	# DBD=1: 4-byte header, then page 08 (2 + 0x12 bytes)
	page=${lines[1]:13:40}
	[ "${page:0:4}" = "0812" ] || return 1
	b2=$((0x${page:4:2}))
	if [ "$wce" -eq 1 ]; then b2=$((b2 | 4)); else b2=$((b2 & ~4)); fi
	page="0812$(printf '%02x' $b2)${page:6}"
	printf '00000000%s' "$page" | xxd -r -p >"$T/ms.bin"
	run bss_raw "$lun" 151000001800 --out-file "$T/ms.bin"
	[ "$output" = "status=GOOD" ] || return 1
	run bss_raw "$lun" 1a080800ff00 --in 255 --dump
	[ $(((0x${lines[1]:17:2} & 4) >> 2)) -eq "$wce" ]
}

@test "bs_cache: WCE=1 is reported; MODE SELECT turning it off sends writes through, on again restores write-back" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_raw 1 1a080800ff00 --in 255 --dump
	[ $((0x${lines[1]:17:2} & 4)) -eq 4 ]
	run bss_io 1 --mode write --offset 0 --length $((4 * MiB)) --bs 65536 --qd 8 --seed 9
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 1 ]
	mode_page_wce 1 0
	# the dirty unit is flushed promptly (the timer, every second; 20 s
	# leave room for valgrind)
	for i in $(seq 1 200); do
		[ "$(dirty_units)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(dirty_units)" -eq 0 ]
	sheep_has 0 $((4 * MiB)) 9
	# writes complete on the sheep
	run bss_io 1 --mode write --offset $((16 * MiB)) --length $((2 * MiB)) --bs 65536 --qd 8 \
		--seed 10
	[ "$status" -eq 0 ]
	sheep_has $((16 * MiB)) $((2 * MiB)) 10
	[ "$(dirty_units)" -eq 0 ]
	mode_page_wce 1 1
	run bss_io 1 --mode write --offset $((32 * MiB)) --length $((1 * MiB)) --bs 65536 --qd 8 \
		--seed 11
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 1 ]
	run sheep_has $((32 * MiB)) $((1 * MiB)) 11
	[ "$status" -eq 1 ]
}

@test "bs_cache: write-back refuses shared=1; while it runs every other LU is refused the vdi" {
	run bss_lun 1 "$(bss_tcp vol)" "cache=writeback;shared=1;cache_dir=$CDIR"
	[ "$status" -ne 0 ]
	bss_log_has "cache=writeback needs exclusive access to the vdi"
	bss_lun 1 "$(bss_tcp vol)" "cache=writeback;cache_dir=$CDIR"
	run sd_dog vdi getattr vol bss.cache.owner
	[ "$status" -eq 0 ]
	[[ "$output" == *":$CDIR/"*"-vol"* ]]
	# our sheep refuses the live holder's vdi to any other gateway
	run bss_lun 2 "$(bss_tcp vol)" "shared=1"
	[ "$status" -ne 0 ]
	bss_log_has "vdi 'vol' is open exclusively by another gateway"
	# a second LU with the same directory (write-through needs one too):
	# our sheep refuses its open before the directory's lock is reached
	# (the lock is what stops it against an upstream sheep, which cannot
	# enforce the exclusive open; a relay cannot fake that: the sheep
	# behind it still refuses the plain lock)
	run bss_lun 3 "$(bss_tcp vol)" "cache=writethrough;cache_dir=$CDIR"
	[ "$status" -ne 0 ]
	bss_log_has "tid 1 lun 3: sheepdog: cannot open vdi 'vol' at 127.0.0.1:$SHEEP_PORT: Device or resource busy"
	# after a clean close the owner is gone and a shared LU opens
	tgt_lun_del 1 1
	bss_lun 2 "$(bss_tcp vol)" "shared=1"
}

@test "bs_cache: reclaim keeps u/ within cache_size (least recently used clean units go)" {
	local n max=0
	bss_lun 1 "$(bss_tcp vol)" "cache=writeback;cache_size=12M;cache_age=0;cache_dir=$CDIR"
	# 48 MiB of writes through a 3-unit cache: dirty units cannot be
	# reclaimed, so the rest goes straight to the sheep
	bss_io 1 --mode write --offset 0 --length $((48 * MiB)) --bs 65536 --qd 16 --seed 12 \
		>"$T/w.out" 2>&1 3>&- &
	while kill -0 $! 2>/dev/null; do
		n=$(ls "$(cdir)/u" | wc -l)
		[ "$n" -le "$max" ] || max=$n
		sleep 0.05
	done
	wait $!
	[ "$max" -le 3 ]
	run bss_io 1 --mode verify --offset 0 --length $((48 * MiB)) --bs 65536 --qd 16 --seed 12
	[ "$status" -eq 0 ]
	# reads fill and reclaim clean units
	for i in 1 2; do
		run bss_io 1 --mode randread --offset 0 --length $((48 * MiB)) --bs 4096 --qd 16 \
			--seed 12 --verify-reads --count 2000
		[ "$status" -eq 0 ]
		n=$(ls "$(cdir)/u" | wc -l)
		[ "$n" -le 3 ]
		[ "$n" -ge 1 ]
	done
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	sheep_has 0 $((48 * MiB)) 12
}

# tgtd_with_tmpfs OPTS: restart tgtd with a tmpfs (mount OPTS) on $CDIR
# inside its private mount namespace; the test sees it as
# /proc/$TGTD_PID/root$CDIR.  A TGTD_WRAP of the caller (valgrind, the
# ASan runtime) still wraps tgtd.
tgtd_with_tmpfs() {
	tgtd_stop
	mkdir -p "$CDIR"
	cat >"$T/wrap.sh" <<-WRAP
	#!/bin/bash
	mount -t tmpfs -o $1 sd-cache-test "$CDIR" || exit 1
	exec ${TGTD_WRAP:-} "\$@"
	WRAP
	chmod +x "$T/wrap.sh"
	TGTD_WRAP=$T/wrap.sh tgtd_restart
}

@test "bs_cache: a full cache directory sends I/O straight to the sheep, with a log line; nothing lost" {
	local root
	tgtd_with_tmpfs size=10m
	root=/proc/$TGTD_PID/root$CDIR
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((32 * MiB)) --bs 65536 --qd 16 --seed 21
	[ "$status" -eq 0 ]
	bss_log_has "cache: no room for a unit in $CDIR/"
	# two 4 MiB units fit the 10 MiB file system; they hold dirty data
	[ "$(ls "$root"/*-vol/u | wc -l)" -eq 2 ]
	[ "$(tr -d '\000' <"$root"/*-vol/dirty | wc -c)" -eq 2 ]
	run bss_io 1 --mode verify --offset 0 --length $((32 * MiB)) --bs 65536 --qd 16 --seed 21
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	sheep_has 0 $((32 * MiB)) 21
}

@test "bs_cache: an unwritable cache directory: the LU comes up without a cache (logged), writes go through" {
	tgtd_with_tmpfs ro,size=1m
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	bss_log_has "the LU runs without a cache (cache=none"
	run bss_io 1 --mode write --offset 0 --length $((8 * MiB)) --bs 65536 --qd 16 --seed 22
	[ "$status" -eq 0 ]
	sheep_has 0 $((8 * MiB)) 22
}

@test "bs_cache: write-through: writes complete on the sheep, reads fill the cache and hit it" {
	bss_lun 1 "$(bss_tcp vol)" "cache=writethrough;cache_dir=$CDIR"
	bss_log_has "cache=writethrough in $CDIR/"
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 23
	[ "$status" -eq 0 ]
	sheep_has 0 $((16 * MiB)) 23
	[ "$(dirty_units)" -eq 0 ]
	[ "$(ls "$(cdir)/u" | wc -l)" -eq 0 ]
	run bss_io 1 --mode verify --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 23
	[ "$status" -eq 0 ]
	[ "$(ls "$(cdir)/u" | wc -l)" -eq 4 ]
	# a cached unit is updated by a write, and read back from it
	run bss_io 1 --mode write --offset $((1 * MiB)) --length 65536 --bs 4096 --qd 4 --seed 24
	[ "$status" -eq 0 ]
	sheep_has $((1 * MiB)) 65536 24
	run bss_io 1 --mode verify --offset $((1 * MiB)) --length 65536 --bs 4096 --qd 4 --seed 24
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 0 ]
}

@test "bs_cache: snapshot after SYNCHRONIZE CACHE holds every write" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 25
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	sd_dog vdi snapshot -s s1 vol
	# later dirty writes land in the working vdi, not in the snapshot
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 26
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	sd_dog vdi read -s s1 vol 0 $((16 * MiB)) >"$T/snap.bin"
	bss_pattern 0 $((16 * MiB)) 25 >"$T/want.bin"
	cmp "$T/snap.bin" "$T/want.bin"
	sheep_has 0 $((16 * MiB)) 26
}

@test "bs_cache: snapshot of dirty data: the working vdi gets everything at the next SYNC, each 4 KiB block of the snapshot is old or new" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 27
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	# new data, acknowledged and dirty (never flushed) when the snapshot is taken
	run bss_io 1 --mode randwrite --offset 0 --length $((16 * MiB)) --bs 4096 --qd 16 \
		--seed 28 --count 3000
	[ "$status" -eq 0 ]
	run bss_io 1 --mode write --offset 0 --length $((8 * MiB)) --bs 65536 --qd 16 --seed 28
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 4 ]
	sd_dog vdi snapshot -s s2 vol
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	[ "$(dirty_units)" -eq 0 ]
	# the working vdi holds every acknowledged write (first 8 MiB: all new)
	sheep_has 0 $((8 * MiB)) 28
	sd_dog vdi read vol 0 $((16 * MiB)) >"$T/work.bin"
	sd_dog vdi read -s s2 vol 0 $((16 * MiB)) >"$T/snap.bin"
	bss_pattern 0 $((16 * MiB)) 27 >"$T/old.bin"
	bss_pattern 0 $((16 * MiB)) 28 >"$T/new.bin"
	# every 4 KiB block: working == new where new was written, snapshot old or new
	python3 - "$T" <<-'PY'
	import sys
	d = sys.argv[1]
	rd = lambda n: open(f"{d}/{n}.bin", "rb").read()
	work, snap, old, new = rd("work"), rd("snap"), rd("old"), rd("new")
	torn = 0
	for i in range(0, len(old), 4096):
	    s = snap[i:i + 4096]
	    if s != old[i:i + 4096] and s != new[i:i + 4096]:
	        torn += 1
	    if work[i:i + 4096] not in (old[i:i + 4096], new[i:i + 4096]):
	        torn += 1
	print("torn blocks:", torn)
	sys.exit(1 if torn else 0)
	PY
	# the unit files stay valid across the snapshot: reads through the LU
	run bss_io 1 --mode verify --offset 0 --length $((8 * MiB)) --bs 65536 --qd 16 --seed 28
	[ "$status" -eq 0 ]
}

@test "bs_cache: power loss (another boot id, not closed cleanly) discards the cache with a warning" {
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((8 * MiB)) --bs 65536 --qd 16 --seed 29
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 2 ]
	kill -KILL "$TGTD_PID"
	tgtd_stop || true
	grep -q '^clean 0$' "$(cdir)/state"
	sed -i 's/^boot_id .*/boot_id 00000000-0000-0000-0000-000000000000/' "$(cdir)/state"
	tgtd_restart
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	bss_log_has "WARNING: cache $CDIR/"
	bss_log_has "dropping 2 dirty units"
	[ "$(dirty_units)" -eq 0 ]
	[ "$(ls "$(cdir)/u" | wc -l)" -eq 0 ]
	# what was only in the cache is gone (as WCE=1 allows), never half-replayed
	run sheep_has 0 $((8 * MiB)) 29
	[ "$status" -eq 1 ]
	sd_dog vdi read vol 0 $((8 * MiB)) | cmp - <(head -c $((8 * MiB)) /dev/zero)
}

# lu_hex LUN LBA BLOCKS: READ(16) through the LU, the data as one hex line.
lu_hex() {
	run bss_raw "$1" "$(bss_cdb16 0x88 0 "$2" "$3")" --in $(($3 * 512)) --dump
	[ "${lines[0]}" = "status=GOOD" ] || return 1
	echo "${lines[1]#data=}"
}

# file_hex FILE OFF LEN
file_hex() {
	dd if="$1" bs=512 skip=$(($2 / 512)) count=$(($3 / 512)) status=none | xxd -p | tr -d '\n'
}

@test "bs_cache: WRITE SAME, UNMAP and COMPARE AND WRITE go around the cache without losing or resurrecting dirty data" {
	local caw
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	run bss_io 1 --mode write --offset 0 --length $((16 * MiB)) --bs 65536 --qd 16 --seed 30
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 4 ]
	bss_pattern 0 $((16 * MiB)) 30 >"$T/want.bin"
	# WRITE SAME(16): 16 blocks of 0xa5 at LBA 100 (inside dirty unit 0)
	run bss_raw 1 "$(bss_cdb16 0x93 0 100 16)" --out-byte 0xa5 --out-len 512
	[ "$output" = "status=GOOD" ]
	head -c 8192 /dev/zero | tr '\0' '\245' |
		dd of="$T/want.bin" bs=512 seek=100 conv=notrunc status=none
	# UNMAP unit 1 (4 MiB at LBA 8192)
	printf '%04x%04x00000000%016x%08x00000000' 22 16 8192 8192 | xxd -r -p >"$T/unmap"
	run bss_raw 1 42000000000000001800 --out-file "$T/unmap"
	[ "$output" = "status=GOOD" ]
	dd if=/dev/zero of="$T/want.bin" bs=512 seek=8192 count=8192 conv=notrunc status=none
	# COMPARE AND WRITE of block 200: compares against the acknowledged data
	bss_pattern $((200 * 512)) 512 30 >"$T/caw"
	head -c 512 /dev/zero | tr '\0' 'Z' >>"$T/caw"
	run bss_raw 1 "$(printf '8900%016x000000010000' 200)" --out-file "$T/caw"
	[ "$output" = "status=GOOD" ]
	head -c 512 /dev/zero | tr '\0' 'Z' |
		dd of="$T/want.bin" bs=512 seek=200 conv=notrunc status=none
	# through the LU (the units are filled again) ...
	[ "$(lu_hex 1 96 128)" = "$(file_hex "$T/want.bin" $((96 * 512)) $((128 * 512)))" ]
	[ "$(lu_hex 1 8190 4)" = "$(file_hex "$T/want.bin" $((8190 * 512)) 2048)" ]
	run bss_io 1 --mode verify --offset $((8 * MiB)) --length $((8 * MiB)) --bs 65536 --qd 16 \
		--seed 30
	[ "$status" -eq 0 ]
	# ... and on the sheep after SYNCHRONIZE CACHE
	run bss_raw 1 $SYNC10
	[ "$output" = "status=GOOD" ]
	[ "$(dirty_units)" -eq 0 ]
	sd_dog vdi read vol 0 $((16 * MiB)) | cmp - "$T/want.bin"
}

@test "bs_cache: writes that start and end inside the file's 16 KiB write pieces, over filled units, across a unit boundary and far apart, read back whole" {
	# the sheep holds seed 31 on [0, 8 MiB): a cached unit is filled from it
	bss_pattern 0 $((8 * MiB)) 31 >"$T/old.bin"
	sd_dog vdi write vol 0 $((8 * MiB)) <"$T/old.bin"
	bss_lun 1 "$(bss_tcp vol)" "$WB_SLOW$CDIR"
	# A: 11 sectors in, 511 sectors long, in 71-sector commands
	local a=5632 alen=261632 b=$((4 * MiB - 15872)) blen=40960
	run bss_io 1 --mode write --offset $a --length $alen --bs 36352 --qd 4 --seed 32
	[ "$status" -eq 0 ]
	# B: one command across the boundary of units 0 and 1
	run bss_io 1 --mode write --offset $b --length $blen --bs $blen --qd 1 --seed 33
	[ "$status" -eq 0 ]
	# C, D: small writes far apart in unit 1: its flush sends three runs,
	# each read from the file on its own
	local c=$((5 * MiB + 512)) clen=8192 d=$((7 * MiB - 4608)) dlen=4096
	run bss_io 1 --mode write --offset $c --length $clen --bs $clen --qd 1 --seed 34
	[ "$status" -eq 0 ]
	run bss_io 1 --mode write --offset $d --length $dlen --bs $dlen --qd 1 --seed 35
	[ "$status" -eq 0 ]
	[ "$(dirty_units)" -eq 2 ]
	check() { # through the LU (cache) or on the sheep (after SYNC)
		local how=$1 off len seed
		while read -r off len seed; do
			if [ "$how" = lu ]; then
				bss_io 1 --mode verify --offset "$off" --length "$len" --bs 65536 \
					--qd 4 --seed "$seed" || return 1
			else
				sheep_has "$off" "$len" "$seed" || return 1
			fi
		done <<-LIST
			0 $a 31
			$a $alen 32
			$((a + alen)) $((b - a - alen)) 31
			$b $blen 33
			$((b + blen)) $((c - b - blen)) 31
			$c $clen 34
			$((c + clen)) $((d - c - clen)) 31
			$d $dlen 35
			$((d + dlen)) $((8 * MiB - d - dlen)) 31
		LIST
	}
	run check lu
	[ "$status" -eq 0 ]
	run bss_raw 1 $SYNC10
	[[ "$output" == *"status=GOOD"* ]]
	[ "$(dirty_units)" -eq 0 ]
	run check sheep
	[ "$status" -eq 0 ]
}
