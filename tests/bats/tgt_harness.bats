#!/usr/bin/env bats
# Self-tests of the tgtd harness (tests/bats/lib/tgtd.bash) and of the
# libiscsi I/O tool (tests/tools/iscsi-io), against tgt's own rdwr store on
# a file, so they need neither sheep nor the module.

load lib/common
load lib/tgtd

IO="$SD_TOOLS/iscsi-io"
IQN=iqn.2026-11.org.sheepdog.tests:harness

setup() {
	[ -x "$IO" ] || { echo "$IO not built (libiscsi-dev missing?)" >&2; return 1; }
	T=$(sd_tmpdir)
	truncate -s 48M "$T/disk.img"
}

teardown() {
	tgtd_stop_all || true
	rm -rf "$T"
}

# tgtd with one rdwr LUN on $T/disk.img; saved as instance "a".
start_rdwr() {
	tgtd_start builtin
	tgtd_save a
	tgt_target_new 1 "$IQN"
	tgt_lun_new 1 1 "$T/disk.img" rdwr
	URL=$(tgt_url 1 1)
}

@test "tgtd_start builtin: empty private backing-store dir, real filesystem untouched" {
	local before after
	before=$(ls -d /usr/lib/tgt /var/run/tgtd 2>&1; findmnt -rn -o TARGET | sort | md5sum)
	tgtd_start builtin
	tgtd_save a
	[ "$(cat /proc/$TGTD_PID/comm)" = tgtd ]
	run nsenter -t "$TGTD_PID" -m ls -A /usr/lib/tgt/backing-store
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# The socket is private, not under /var/run/tgtd.
	[ -S "$TGT_IPC_SOCKET.$TGTD_CTL" ]
	run tgt_adm --op show --mode sys
	[ "$status" -eq 0 ]
	[[ "$output" == *"State: ready"* ]]
	after=$(ls -d /usr/lib/tgt /var/run/tgtd 2>&1; findmnt -rn -o TARGET | sort | md5sum)
	[ "$before" = "$after" ]
	run tgtd_stop
	[ "$status" -eq 0 ]
	after=$(ls -d /usr/lib/tgt /var/run/tgtd 2>&1; findmnt -rn -o TARGET | sort | md5sum)
	[ "$before" = "$after" ]
}

@test "tgtd_start module: tgtd loads the module from the private dir" {
	command -v cc >/dev/null || { echo "no C compiler" >&2; return 1; }
	cat >"$T/dummy.c" <<-'EOF'
	#include <stdio.h>
	#include <stdlib.h>
	void register_bs_module(void);
	void register_bs_module(void)
	{
		const char *p = getenv("SD_HARNESS_MARK");
		FILE *f = p ? fopen(p, "w") : NULL;

		if (f) {
			fputs("loaded\n", f);
			fclose(f);
		}
	}
	EOF
	cc -shared -fPIC -o "$T/bs_sheepdog.so" "$T/dummy.c"
	SD_HARNESS_MARK=$T/mark BS_SHEEPDOG_SO=$T/bs_sheepdog.so tgtd_start module
	tgtd_save a
	run nsenter -t "$TGTD_PID" -m ls -A /usr/lib/tgt/backing-store
	[ "$output" = bs_sheepdog.so ]
	[ "$(cat "$T/mark")" = loaded ]
	[ ! -e /usr/lib/tgt/backing-store/bs_sheepdog.so ]
	run tgtd_stop
	[ "$status" -eq 0 ]
}

@test "tgtd_start module fails cleanly when the module is missing" {
	BS_SHEEPDOG_SO=$T/nonexistent.so run tgtd_start module
	[ "$status" -ne 0 ]
	[[ "$output" == *"not built"* ]]
	run tgtd_start bogus
	[ "$status" -ne 0 ]
}

@test "tgtd_start gives up after retries when tgtd dies at startup, leaving nothing" {
	TMPDIR=$T TGTD_BIN=/bin/false run tgtd_start builtin
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(grep -c "exited during startup, retrying" <<<"$output")" -eq 3 ]
	run ls -d "$T"/sdtgtd.*
	[ "$status" -ne 0 ]
}

@test "two tgtd instances coexist and both stop cleanly" {
	start_rdwr
	tgtd_start builtin
	tgtd_save b
	[ "$_TGTD_a_TGTD_PID" != "$_TGTD_b_TGTD_PID" ]
	[ "$_TGTD_a_TGTD_CTL" != "$_TGTD_b_TGTD_CTL" ]
	[ "$_TGTD_a_TGTD_PORT" != "$_TGTD_b_TGTD_PORT" ]
	tgt_target_new 1 "$IQN.b"
	truncate -s 8M "$T/b.img"
	tgt_lun_new 1 1 "$T/b.img" rdwr
	run timeout 60 "$IO" "$(tgt_url 1 1)" --mode write --qd 4 --bs 64k
	[ "$status" -eq 0 ]
	run tgtd_stop
	[ "$status" -eq 0 ]
	tgtd_use a
	# instance a still serves
	run timeout 60 "$IO" "$URL" --mode write --qd 4 --bs 64k --length 1M
	[ "$status" -eq 0 ]
	run tgtd_stop
	[ "$status" -eq 0 ]
}

@test "tgt_lun_new prints tgtadm's error and fails for a missing file" {
	tgtd_start builtin
	tgtd_save a
	tgt_target_new 1 "$IQN"
	run tgt_lun_new 1 1 "$T/missing.img" rdwr
	[ "$status" -ne 0 ]
	[[ "$output" == *tgtadm* ]]
	[ "$(tgt_url 1 1)" = "iscsi://127.0.0.1:$TGTD_PORT/$IQN/1" ]
}

@test "iscsi-io: 32 outstanding writes then verify; the file holds exactly the pattern" {
	start_rdwr
	# 3 MiB + 512 offset, 96 KiB + 512 chunks: nothing is aligned.
	run timeout 120 "$IO" "$URL" --mode write --qd 32 --bs 98816 --offset 3146240 --length 20M --seed 11
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"errors=0"* ]]
	run timeout 120 "$IO" "$URL" --mode verify --qd 8 --bs 1M --offset 3146240 --length 20M --seed 11
	echo "$output"
	[ "$status" -eq 0 ]
	cmp <(dd if="$T/disk.img" bs=512 skip=6145 count=40960 status=none) \
		<("$IO" - --mode pattern --offset 3146240 --length 20M --seed 11)
	# READ10/WRITE10 path
	run timeout 60 "$IO" "$URL" --mode write --op10 --qd 4 --bs 4k --length 1M --seed 12
	[ "$status" -eq 0 ]
	run timeout 60 "$IO" "$URL" --mode verify --op10 --qd 4 --bs 64k --length 1M --seed 12
	[ "$status" -eq 0 ]
}

@test "iscsi-io verify reports the lowest mismatching LBA and exits 1" {
	start_rdwr
	timeout 60 "$IO" "$URL" --mode write --qd 16 --bs 256k --length 8M --seed 1
	# Two foreign blocks; the lower one must be reported.
	timeout 60 "$IO" "$URL" --mode write --qd 1 --bs 512 --offset 5M --length 512 --seed 2 --fua
	timeout 60 "$IO" "$URL" --mode write --qd 1 --bs 1k --offset 1536k --length 1k --seed 2
	run timeout 60 "$IO" "$URL" --mode verify --qd 16 --bs 256k --length 8M --seed 1
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"first bad lba=3072 "* ]]
	[[ "$output" == *", 3 bad 512-byte blocks"* ]]
	# Zeros never verify either.
	run timeout 60 "$IO" "$URL" --mode verify --offset 16M --length 64k
	[ "$status" -eq 1 ]
}

@test "iscsi-io prints the sense and exits 1 on a SCSI error (read-only LUN)" {
	start_rdwr
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params readonly=1
	run timeout 60 "$IO" "$URL" --mode write --qd 8 --bs 4k --length 64k
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"WRITE16 lba="*"sense key=0x7 ("*") asc=0x27 ascq=0x00"* ]]
	[[ "$output" == *"errors="[1-9]* ]]
	# reads still work
	run timeout 60 "$IO" "$URL" --mode read --qd 8 --bs 4k --length 64k
	[ "$status" -eq 0 ]
}

@test "iscsi-io random modes: count- and time-bounded, stats line, verified reads" {
	start_rdwr
	timeout 120 "$IO" "$URL" --mode write --qd 32 --bs 1M --seed 5
	run timeout 60 "$IO" "$URL" --mode randwrite --qd 32 --bs 4k --count 2000 --seed 5
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^iops=[0-9]+\ mbps=[0-9]+\.[0-9]\ ops=2000\ errors=0\ lat_us=[0-9]+\.[0-9]$ ]]
	[[ "$output" != *" lat_us=0.0" ]]
	# a SYNCHRONIZE CACHE after every 10 WRITEs queued, 20 of them
	run timeout 60 "$IO" "$URL" --mode randwrite --qd 8 --bs 4k --count 200 --seed 5 --sync-every 10
	[ "$status" -eq 0 ]
	[[ "$output" =~ \ ops=200\ errors=0\ lat_us=[0-9]+\.[0-9]\ syncs=20\ sync_lat_us=[0-9]+\.[0-9]$ ]]
	run "$IO" "$URL" --mode write --sync-every 10
	[ "$status" -eq 2 ]
	run timeout 60 "$IO" "$URL" --mode randrw --qd 4 --bs 8k --count 500 --seed 5 --verify-reads
	[ "$status" -eq 0 ]
	[[ "$output" == *"ops=500 errors=0"* ]]
	local t0=$SECONDS
	run timeout 60 "$IO" "$URL" --mode randread --qd 32 --bs 4k --time 2 --seed 5 --verify-reads
	[ "$status" -eq 0 ]
	[ $((SECONDS - t0)) -le 10 ]
	# everything still verifies after the random writes (same seed)
	run timeout 120 "$IO" "$URL" --mode verify --qd 32 --bs 1M --seed 5
	[ "$status" -eq 0 ]
}

@test "iscsi-io usage and geometry errors exit 2" {
	start_rdwr
	run "$IO" "$URL"
	[ "$status" -eq 2 ]
	run "$IO" "$URL" --mode bogus
	[ "$status" -eq 2 ]
	run "$IO" "$URL" --mode read --bs 1000
	[ "$status" -eq 2 ]
	run timeout 60 "$IO" "$URL" --mode read --offset 40M --length 16M
	[ "$status" -eq 2 ]
	[[ "$output" == *"beyond the LUN"* ]]
	run timeout 60 "$IO" "iscsi://127.0.0.1:$TGTD_PORT/$IQN/9" --mode read --count 1
	[ "$status" -eq 2 ]
}
