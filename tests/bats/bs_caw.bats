#!/usr/bin/env bats
# COMPARE AND WRITE, ORWRITE 16 and PRE-FETCH 10/16 through bs_sheepdog.so:
# raw CDBs (bss-raw) checked against `dog vdi read`, core's checks kept by
# the module's replacement handlers, a read-only snapshot LUN, and CAW
# atomicity at qd 32 (iscsi-io --mode caw: concurrent lockers incrementing
# a counter region across an object boundary, plain WRITEs next to it).

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576
BLOCKS=$((64 * MiB / 512)) # LBAs of the 64 MiB test vdi

setup() {
	bss_setup
}

teardown() {
	[ -z "${SHEEP_PID:-}" ] || kill -CONT "$SHEEP_PID" 2>/dev/null || true
	bss_teardown
}

# caw_cdb FLAGS LBA BLOCKS: COMPARE AND WRITE (0x89) in hex
caw_cdb() {
	printf '89%02x%016x000000%02x0000' "$1" "$2" "$3"
}

# bytes FILE COUNT BYTE: COUNT bytes of BYTE (hex) appended to FILE
bytes() {
	head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "0x$3")" >>"$1"
}

# dog_is OFFSET LEN BYTE: the vdi holds LEN bytes of BYTE (hex) at OFFSET
dog_is() {
	rm -f "$T/want"
	bytes "$T/want" "$2" "$3"
	sd_dog vdi read vol "$1" "$2" >"$T/got"
	cmp "$T/got" "$T/want"
}

@test "bs_caw: COMPARE AND WRITE writes on a match; a miscompare reports the first differing byte and writes nothing" {
	local lba=8191 # 2 blocks across the 4 MiB object boundary
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_raw 1 "$(bss_cdb16 0x8a 0 $lba 2)" --out-byte 0x41 --out-len 1024
	[ "$output" = "status=GOOD" ]

	# verify data: 'A' but byte 700 (in the second object); write data 'B'
	rm -f "$T/bad"
	bytes "$T/bad" 700 41
	bytes "$T/bad" 1 43
	bytes "$T/bad" 323 41
	bytes "$T/bad" 1024 42
	run bss_raw 1 "$(caw_cdb 0 $lba 2)" --out-file "$T/bad"
	echo "$output"
	[ "$output" = "status=CHECK_CONDITION key=0x0e asc=0x1d ascq=0x00 info=700" ]
	dog_is $((lba * 512)) 1024 41

	# the first byte differs: INFORMATION 0
	rm -f "$T/bad0"
	bytes "$T/bad0" 1 40
	bytes "$T/bad0" 2047 41
	run bss_raw 1 "$(caw_cdb 0 $lba 2)" --out-file "$T/bad0"
	[ "$output" = "status=CHECK_CONDITION key=0x0e asc=0x1d ascq=0x00 info=0" ]
	dog_is $((lba * 512)) 1024 41

	# a match writes the second half; FUA too
	rm -f "$T/good"
	bytes "$T/good" 1024 41
	bytes "$T/good" 1024 42
	run bss_raw 1 "$(caw_cdb 0 $lba 2)" --out-file "$T/good"
	[ "$output" = "status=GOOD" ]
	dog_is $((lba * 512)) 1024 42
	rm -f "$T/good2"
	bytes "$T/good2" 1024 42
	bytes "$T/good2" 1024 43
	run bss_raw 1 "$(caw_cdb 0x08 $lba 2)" --out-file "$T/good2"
	[ "$output" = "status=GOOD" ]
	dog_is $((lba * 512)) 1024 43
	# the same CAW again no longer matches (the blocks hold 'C' now)
	run bss_raw 1 "$(caw_cdb 0 $lba 2)" --out-file "$T/good2"
	[ "$output" = "status=CHECK_CONDITION key=0x0e asc=0x1d ascq=0x00 info=0" ]
	# the neighbours are untouched
	dog_is $(((lba - 1) * 512)) 512 00
	dog_is $(((lba + 2) * 512)) 512 00
}

@test "bs_caw: COMPARE AND WRITE keeps core's checks: last block, beyond the end, 0 blocks, too many blocks, data-out length, PI" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	# the last block (never written: compares with zeros)
	rm -f "$T/z"
	bytes "$T/z" 512 00
	bytes "$T/z" 512 5a
	run bss_raw 1 "$(caw_cdb 0 $((BLOCKS - 1)) 1)" --out-file "$T/z"
	[ "$output" = "status=GOOD" ]
	dog_is $((64 * MiB - 512)) 512 5a
	# beyond the end: LBA OUT OF RANGE, nothing written
	run bss_raw 1 "$(caw_cdb 0 $((BLOCKS - 1)) 2)" --out-byte 0 --out-len 2048
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(caw_cdb 0 $BLOCKS 1)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(caw_cdb 0 0xffffffffffffffff 1)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	# 0 blocks: GOOD without I/O; past the end still out of range
	run bss_raw 1 "$(caw_cdb 0 0 0)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(caw_cdb 0 $((BLOCKS + 1)) 0)"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	# more blocks than VPD B0's MAXIMUM COMPARE AND WRITE LENGTH (128)
	run bss_raw 1 1201b000ff00 --in 255 --dump
	[ "${lines[0]}" = "status=GOOD" ]
	[ "${lines[1]:15:2}" = "80" ] # VPD B0 byte 5
	run bss_raw 1 "$(caw_cdb 0 0 129)" --out-byte 0 --out-len $((129 * 1024))
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 1 "$(caw_cdb 0 0 128)" --out-byte 0 --out-len $((128 * 1024))
	[ "$output" = "status=GOOD" ]
	# data-out must be exactly 2 x N blocks
	run bss_raw 1 "$(caw_cdb 0 0 1)" --out-byte 0 --out-len 1536
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 1 "$(caw_cdb 0 0 2)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	# WRPROTECT (no protection information)
	run bss_raw 1 "$(caw_cdb 0x20 0 1)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	dog_is 0 $((128 * 512)) 00
	# REPORT SUPPORTED OPERATION CODES lists COMPARE AND WRITE and ORWRITE
	run bss_raw 1 a30c01890000000000ff0000 --in 255 --dump
	[ "${lines[0]}" = "status=GOOD" ]
	[ "${lines[1]:7:2}" = "03" ] # SUPPORT: supported as per the standard
	run bss_raw 1 a30c018b0000000000ff0000 --in 255 --dump
	[ "${lines[1]:7:2}" = "03" ]
}

@test "bs_caw: ORWRITE 16 ORs the data into the blocks, across an object boundary" {
	local lba=8190
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_raw 1 "$(bss_cdb16 0x8a 0 $lba 4)" --out-byte 0x0f --out-len 2048
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x8b 0 $lba 4)" --out-byte 0x30 --out-len 2048
	[ "$output" = "status=GOOD" ]
	dog_is $((lba * 512)) 2048 3f
	# FUA; never-written blocks OR with zeros
	run bss_raw 1 "$(bss_cdb16 0x8b 0x08 $((lba + 4)) 1)" --out-byte 0xa5 --out-len 512
	[ "$output" = "status=GOOD" ]
	dog_is $(((lba + 4) * 512)) 512 a5
	dog_is $(((lba - 1) * 512)) 512 00
	# 0 blocks GOOD, beyond the end, PI bits
	run bss_raw 1 "$(bss_cdb16 0x8b 0 0 0)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x8b 0 $((BLOCKS - 1)) 2)" --out-byte 1 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb16 0x8b 0x20 0 1)" --out-byte 1 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	dog_is 0 512 00
}

@test "bs_caw: PRE-FETCH reads through sheep: GOOD, an error when sheep hangs, IMMED answers at once" {
	local t0 t1
	bss_vdi_create vol 64M
	# shared=0: with the default shared=1 every PRE-FETCH first asks sheep
	# for the reservation state, so a hung sheep fails even IMMED ones
	# (bs_pr_multigw.bats); this test is about the module's reads.
	bss_lun 1 "$(bss_tcp vol)" "timeout=2;retry=2;shared=0"
	run bss_io 1 --mode write --qd 8 --bs $MiB --offset 0 --length $((16 * MiB)) --seed 5
	[ "$status" -eq 0 ]
	# PRE-FETCH 10 and 16 over allocated objects; PREFETCH LENGTH 0 = to the end
	run bss_raw 1 "$(bss_cdb10 0x34 0 0 16384)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x90 0 8000 400)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x90 0 $((BLOCKS - 8)) 0)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb16 0x90 0 $((BLOCKS - 1)) 2)"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb10 0x34 0 $BLOCKS 0)"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	# Not a no-op: with sheep stopped the read times out (ABORTED COMMAND).
	kill -STOP "$SHEEP_PID"
	t0=$(date +%s)
	run bss_raw 1 "$(bss_cdb10 0x34 0 0 8)"
	t1=$(date +%s)
	wait_s=$((t1 - t0))
	echo "$output (after $wait_s s)"
	[[ "$output" == "status=CHECK_CONDITION key=0x0b asc=0x08 ascq=0x0"[01] ]]
	[ "$wait_s" -ge 2 ]
	# IMMED: GOOD once the CDB is valid (the reads, which will fail, go on
	# detached), sooner than the timeout the reads wait for
	t0=$(date +%s)
	run bss_raw 1 "$(bss_cdb10 0x34 0x02 0 2048)"
	t1=$(date +%s)
	echo "IMMED: $output (after $((t1 - t0)) s)"
	[ "$output" = "status=GOOD" ]
	[ $((t1 - t0)) -lt "$wait_s" ]
	kill -CONT "$SHEEP_PID"
	run bss_raw 1 "$(bss_cdb16 0x90 0x02 0 2048)"
	[ "$output" = "status=GOOD" ]
	run bss_io 1 --mode verify --qd 8 --bs $MiB --offset 0 --length $((16 * MiB)) --seed 5
	[ "$status" -eq 0 ]
	# the LUN closes cleanly with detached reads maybe still out
	tgt_lun_del 1 1
	! grep -q "still in flight after close" "$TGTD_LOG"
}

@test "bs_caw: a read-only snapshot LUN: COMPARE AND WRITE and ORWRITE get DATA PROTECT, PRE-FETCH works" {
	bss_vdi_create vol 16M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_raw 1 "$(bss_cdb10 0x2a 0 0 8)" --out-byte 0x61 --out-len 4096
	[ "$output" = "status=GOOD" ]
	sd_dog vdi snapshot -s ro vol
	bss_lun 2 "$(bss_tcp vol:ro)"
	rm -f "$T/d"
	bytes "$T/d" 512 61
	bytes "$T/d" 512 62
	run bss_raw 2 "$(caw_cdb 0 0 1)" --out-file "$T/d"
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb16 0x8b 0 0 1)" --out-byte 0x01 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb10 0x34 0 0 32)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 2 "$(bss_cdb16 0x90 0x02 0 32)"
	[ "$output" = "status=GOOD" ]
	run bss_raw 2 "$(bss_cdb10 0x34 0 $((16 * MiB / 512)) 1)"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	# the working vdi still takes a CAW
	run bss_raw 1 "$(caw_cdb 0 0 1)" --out-file "$T/d"
	[ "$output" = "status=GOOD" ]
	run bss_raw 2 "$(bss_cdb10 0x28 0 0 1)" --in 512 --dump
	[ "${lines[1]}" = "data=$(printf '61%.0s' $(seq 1 512))" ]
}

@test "bs_caw: COMPARE AND WRITE is atomic at qd 32 against other CAWs, reads and neighbouring writes" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	# Counter region: 2 blocks across the 4 MiB object boundary; 24
	# lockers and 8 writers hammering the blocks on either side.
	# 1500 CAWs take ~10 s here; under valgrind (CI) the time bound ends it.
	run bss_io 1 --mode caw --offset $((4 * MiB - 512)) --bs 1024 --qd 32 --writers 8 \
		--count 1500 --time 60
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" torn=0"* ]]
	ok=$(echo "$output" | sed -n 's/.*caw_ok=\([0-9]*\).*/\1/p')
	mis=$(echo "$output" | sed -n 's/.*caw_miscompare=\([0-9]*\).*/\1/p')
	writes=$(echo "$output" | sed -n 's/.* writes=\([0-9]*\).*/\1/p')
	final=$(echo "$output" | sed -n 's/.*final=\([0-9]*\).*/\1/p')
	[ "$ok" -ge 100 ]
	[ "$final" -eq "$ok" ]
	# the lockers really raced (a serial run never miscompares)
	[ "$mis" -gt 50 ]
	[ "$writes" -gt 50 ]
	# what iSCSI counted is what dog reads: the counter as 8-byte words
	sd_dog vdi read vol $((4 * MiB - 512)) 8 >"$T/ctr"
	[ "$(od -An -t u8 "$T/ctr" | tr -d ' ')" = "$ok" ]
}

@test "bs_caw: 4096-byte logical blocks: COMPARE AND WRITE and ORWRITE count in 4 KiB blocks" {
	bss_vdi_create vol 32M
	run tgt_adm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 \
		--backing-store "$(bss_tcp vol)" --bstype sheepdog --blocksize 4096
	[ "$status" -eq 0 ]
	# LBA 1023..1024: across the 4 MiB object boundary
	run bss_raw 1 "$(bss_cdb16 0x8a 0 1023 2)" --out-byte 0x11 --out-len 8192
	[ "$output" = "status=GOOD" ]
	rm -f "$T/d"
	bytes "$T/d" 5000 11
	bytes "$T/d" 1 12
	bytes "$T/d" 3191 11
	bytes "$T/d" 8192 22
	run bss_raw 1 "$(caw_cdb 0 1023 2)" --out-file "$T/d"
	[ "$output" = "status=CHECK_CONDITION key=0x0e asc=0x1d ascq=0x00 info=5000" ]
	dog_is $((1023 * 4096)) 8192 11
	rm -f "$T/d"
	bytes "$T/d" 8192 11
	bytes "$T/d" 8192 22
	run bss_raw 1 "$(caw_cdb 0 1023 2)" --out-file "$T/d"
	[ "$output" = "status=GOOD" ]
	dog_is $((1023 * 4096)) 8192 22
	# data-out counted in 4 KiB blocks: 2 x 512 bytes is wrong here
	run bss_raw 1 "$(caw_cdb 0 0 1)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 1 "$(caw_cdb 0 8191 2)" --out-byte 0 --out-len 16384
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb16 0x8b 0 1024 1)" --out-byte 0x40 --out-len 4096
	[ "$output" = "status=GOOD" ]
	dog_is $((1024 * 4096)) 4096 62
	run bss_raw 1 "$(bss_cdb10 0x34 0 8000 192)"
	[ "$output" = "status=GOOD" ]
}
