#!/usr/bin/env bats
# Hostile input at a running sheep (issue 12): while one client writes and
# verifies data in its vdi through dog (libsheepdog), another connection
# throws thousands of random, valid and mutated frames (sd-raw chaos: random
# bytes, valid requests on its own vdi, and such requests with bytes
# overwritten or cut short, on connections closed every 1..64 frames).
# Afterwards the sheep is alive, the first client's data verifies, and
# `dog vdi check` and `dog vdi list` are intact; teardown requires a clean
# exit 0 on SIGTERM (under valgrind: no errors).
# Takes ~15-30 s (6 rounds of 2000 frames); SD_HEAVY=0 (the ASan and
# valgrind phases): 3 rounds of 500 frames.

load lib/common
load lib/raw

setup() {
	TMP=$(sd_tmpdir)
	sheep_start_any "$TMP/store"
	sd_format
}

teardown() {
	local rc=0
	sheep_stop || rc=$?
	rm -rf "$TMP"
	[ "$rc" -eq 0 ]
}

@test "random and mutated frames never crash sheep or touch another client's data" {
	local rounds=6 frames=2000 size=$((16 << 20)) r off victim chaos pid
	if [ "${SD_HEAVY:-1}" = 0 ]; then
		rounds=3 frames=500
	fi
	sd_dog vdi create victim $size
	sd_dog vdi create chaos $size
	victim=$(sd_vdi_vid victim)
	chaos=$(sd_vdi_vid chaos)
	head -c $size /dev/urandom >"$TMP/ref"
	sd_dog vdi write victim <"$TMP/ref"

	for r in $(seq 1 $rounds); do
		sd_raw chaos --vid "$chaos" --avoid "$victim" --seed "$r" --frames $frames \
			>"$TMP/chaos.out" 2>&1 &
		pid=$!
		# the victim writes 1 MiB at a fresh offset and reads everything back,
		# while the frames fly
		off=$(( (r * 5 % 15) << 20 ))
		head -c $((1 << 20)) /dev/urandom >"$TMP/chunk"
		dd if="$TMP/chunk" of="$TMP/ref" bs=1M seek=$((off >> 20)) conv=notrunc status=none
		sd_dog vdi write victim $off $((1 << 20)) <"$TMP/chunk"
		sd_dog vdi read victim >"$TMP/got"
		cmp "$TMP/ref" "$TMP/got"
		wait $pid || { cat "$TMP/chaos.out"; false; }
		grep '^ok frames=' "$TMP/chaos.out"
		sheep_alive
	done
	sd_dog vdi read victim >"$TMP/got"
	cmp "$TMP/ref" "$TMP/got"
	run sd_dog vdi check victim
	[ "$status" -eq 0 ]
	run sd_dog vdi list -r
	[ "$status" -eq 0 ]
	grep -q '^= victim 0 16777216 ' <<<"$output"
	grep -q '^= chaos 0 16777216 ' <<<"$output"
	sheep_alive
}
