#!/usr/bin/env bats
# Thin provisioning through bs_sheepdog.so (bss_thin.c): READ CAPACITY (16)
# LBPME/LBPRZ, VPD B0/B2, UNMAP, WRITE SAME 10/16 (UNMAP bit, LBDATA,
# PBDATA, NDOB, 0 blocks, limits), GET LBA STATUS from the allocation map,
# space coming back on the sheep, the `thin` bsopt and tgtadm's
# thin_provisioning param, and a read-only snapshot LUN.
#
# The vdis have 4 MiB objects: 8192 blocks of 512 bytes each.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576
OBJB=8192 # blocks per object

setup() {
	bss_setup
}

teardown() {
	bss_teardown
}

# hexbytes LINE BYTE LEN: LEN bytes from byte BYTE of a "data=HEX" line.
hexbytes() {
	echo "${1:$((5 + 2 * $2)):$((2 * $3))}"
}

# unmap_param FILE LBA:BLOCKS...: an UNMAP parameter list.
unmap_param() {
	local f=$1 hex d n=0
	shift
	hex=""
	for d in "$@"; do
		hex+=$(printf '%016x%08x00000000' "${d%%:*}" "${d##*:}")
		n=$((n + 1))
	done
	hex=$(printf '%04x%04x00000000' $((6 + 16 * n)) $((16 * n)))$hex
	perl -e 'print pack("H*", $ARGV[0])' "$hex" >"$f"
}

# unmap_cdb LEN [FLAGS]
unmap_cdb() {
	printf '42%02x0000000000%04x00' "${2:-0}" "$1"
}

# vdi_vid NAME, vdi_used NAME: from `dog vdi list -r`.
vdi_vid() {
	sd_dog vdi list -r "$1" | awk '$1 == "=" && $3 == 0 { print $8 }'
}

vdi_used() {
	sd_dog vdi list -r "$1" | awk '$1 == "=" && $3 == 0 { print $5 }'
}

# nr_objs VID: data objects of the vid in the sheep's store.
nr_objs() {
	local prefix
	prefix=$(printf '%08x' "0x$1")
	find "$SHEEP_STORE/obj" -maxdepth 1 -name "${prefix}*" | wc -l
}

# lba_status LUN LBA ALLOC: the GET LBA STATUS data as "LBA+BLOCKS:STATUS ..."
lba_status() {
	local line n i out=""
	line=$(bss_raw "$1" "$(printf '9e12%016x%08x0000' "$2" "$3")" --in "$3" --dump | sed -n 2p)
	n=$(((0x$(hexbytes "$line" 0 4) - 4) / 16))
	for ((i = 0; i < n; i++)); do
		out+="$((0x$(hexbytes "$line" $((8 + 16 * i)) 8)))"
		out+="+$((0x$(hexbytes "$line" $((16 + 16 * i)) 4)))"
		out+=":$((0x$(hexbytes "$line" $((20 + 16 * i)) 1))) "
	done
	echo "${out% }"
}

@test "bs_thin: thin by default: READ CAPACITY (16) LBPME+LBPRZ, VPD B2, B0 limits" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_raw 1 "9e10000000000000000000000020 0000" --in 32 --dump
	[ "${lines[0]}" = "status=GOOD" ]
	# last LBA 0x1ffff, 512-byte blocks, LBPME and LBPRZ set
	[ "$(hexbytes "${lines[1]}" 0 16)" = "000000000001ffff000002000000c000" ]
	run bss_raw 1 1201b2000800 --in 8 --dump
	[ "${lines[0]}" = "status=GOOD" ]
	# LBPU LBPWS LBPWS10 LBPRZ, provisioning type 2 (thin)
	[ "${lines[1]}" = "data=00b2000400e40200" ]
	run bss_raw 1 1201b0004000 --in 64 --dump
	[ "${lines[0]}" = "status=GOOD" ]
	b0=${lines[1]}
	echo "$b0"
	[ "$(hexbytes "$b0" 0 4)" = "00b0003c" ]
	[ "$(hexbytes "$b0" 4 2)" = "0080" ]	    # WSNZ 0, COMPARE AND WRITE 128
	[ "$(hexbytes "$b0" 8 4)" = "007fffff" ]    # MAXIMUM TRANSFER LENGTH
	[ "$(hexbytes "$b0" 20 4)" = "00100000" ]   # MAXIMUM UNMAP LBA COUNT
	[ "$(hexbytes "$b0" 24 4)" = "00000100" ]   # ... BLOCK DESCRIPTOR COUNT
	[ "$(hexbytes "$b0" 28 4)" = "00002000" ]   # granularity: one object
	[ "$(hexbytes "$b0" 32 4)" = "80000000" ]   # UGAVALID, alignment 0
	[ "$(hexbytes "$b0" 36 8)" = "0000000000200000" ] # MAXIMUM WRITE SAME LENGTH
}

@test "bs_thin: UNMAP frees whole objects on the sheep, zeroes partial ones, GET LBA STATUS follows" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_io 1 --mode write --qd 16 --bs $MiB --offset 0 --length $((32 * MiB)) --seed 5
	[ "$status" -eq 0 ]
	vid=$(vdi_vid vol)
	[ "$(nr_objs "$vid")" -eq 8 ]
	[ "$(vdi_used vol)" -eq $((32 * MiB)) ]
	run lba_status 1 0 4096
	[ "$output" = "0+65536:0 65536+65536:1" ]

	# Half of object 0, object 1, half of object 2 (crossing two
	# boundaries); objects 5 and 6; a 0-block descriptor (ignored).
	unmap_param "$T/p" 4096:$((2 * OBJB)) $((5 * OBJB)):$((2 * OBJB)) $((7 * OBJB + 1)):0
	run bss_raw 1 "$(unmap_cdb 56)" --out-file "$T/p" --resid
	echo "$output"
	[ "${lines[0]}" = "status=GOOD" ]
	[ "${lines[1]}" = "resid=none" ]

	# Objects 1, 5 and 6 are gone from the store, and from the used size.
	[ "$(nr_objs "$vid")" -eq 5 ]
	[ "$(vdi_used vol)" -eq $((20 * MiB)) ]
	run lba_status 1 0 4096
	[ "$output" = "0+8192:0 8192+8192:1 16384+24576:0 40960+16384:1 57344+8192:0 65536+65536:1" ]
	# From inside a run, and with room for two descriptors only.
	run lba_status 1 100 40
	[ "$output" = "100+8092:0 8192+8192:1" ]

	# Unmapped blocks read as zeros, the rest is untouched.
	bss_pattern 0 $((32 * MiB)) 5 >"$T/want"
	dd if=/dev/zero of="$T/want" bs=512 seek=4096 count=$((2 * OBJB)) conv=notrunc status=none
	dd if=/dev/zero of="$T/want" bs=512 seek=$((5 * OBJB)) count=$((2 * OBJB)) conv=notrunc \
		status=none
	sd_dog vdi read vol 0 $((32 * MiB)) >"$T/got"
	cmp "$T/got" "$T/want"
	run bss_io 1 --mode verify --qd 16 --bs 4096 --offset 0 --length $((2 * MiB)) --seed 5
	[ "$status" -eq 0 ]
}

@test "bs_thin: UNMAP edge cases: lengths, the last block, beyond capacity, limits, ANCHOR" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	last=$((16 * OBJB - 1))
	# Parameter list length 0: nothing to do.
	run bss_raw 1 "$(unmap_cdb 0)" --resid
	[ "$output" = "$(printf 'status=GOOD\nresid=none')" ]
	# No descriptor at all; 0 blocks at end-of-LUN.
	unmap_param "$T/p"
	run bss_raw 1 "$(unmap_cdb 8)" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	unmap_param "$T/p" $((last + 1)):0
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	# The last block; one more is out of range, so is LBA 2^63.
	run bss_io 1 --mode write --qd 1 --bs 4096 --offset $((64 * MiB - 4096)) --length 4096 --seed 3
	[ "$status" -eq 0 ]
	unmap_param "$T/p" $last:1
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	[ "$(sd_dog vdi read vol $((64 * MiB - 512)) 512 | tr -d '\0' | wc -c)" -eq 0 ]
	unmap_param "$T/p" $last:2
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	unmap_param "$T/p" 0:1 $((1 << 63)):1
	run bss_raw 1 "$(unmap_cdb 40)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	# 256 descriptors are fine, 257 are too many.
	set --
	for i in $(seq 0 255); do set -- "$@" $((i * 7)):3; done
	unmap_param "$T/p" "$@"
	run bss_raw 1 "$(unmap_cdb $((8 + 16 * 256)))" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	unmap_param "$T/p" "$@" 5000:1
	run bss_raw 1 "$(unmap_cdb $((8 + 16 * 257)))" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x26 ascq=0x00" ]
	# MAXIMUM UNMAP LBA COUNT 1048576: 8 whole-LUN descriptors are just
	# fine (overlaps count each time), one block more is too many.
	set --
	for i in $(seq 1 8); do set -- "$@" 0:$((last + 1)); done
	unmap_param "$T/p" "$@"
	run bss_raw 1 "$(unmap_cdb $((8 + 16 * 8)))" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	unmap_param "$T/p" "$@" 0:1
	run bss_raw 1 "$(unmap_cdb $((8 + 16 * 9)))" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x26 ascq=0x00" ]
	# Parameter list length 1..7: PARAMETER LIST LENGTH ERROR.
	run bss_raw 1 "$(unmap_cdb 4)" --out-byte 0 --out-len 4
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x1a ascq=0x00" ]
	# ANCHOR is not supported.
	unmap_param "$T/p" 0:1
	run bss_raw 1 "$(unmap_cdb 24 1)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	# More data-out than the parameter list: used up to the list's length,
	# the rest reported as residual (underflow), GOOD and no sense.
	unmap_param "$T/p" 0:1
	head -c 40 /dev/zero >>"$T/p"
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p" --resid
	[ "$output" = "$(printf 'status=GOOD\nresid=under 40')" ]
	# An incomplete last descriptor is ignored.
	unmap_param "$T/p" 0:1 $((last + 5)):1
	head -c 32 "$T/p" >"$T/p2"
	run bss_raw 1 "$(unmap_cdb 32)" --out-file "$T/p2"
	[ "$output" = "status=GOOD" ]
}

@test "bs_thin: WRITE SAME: LBDATA/PBDATA stamp the LBA, NDOB writes zeros, 0 blocks run to the end" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	# LBDATA, WRITE SAME (10), 4 blocks across the first object boundary.
	run bss_raw 1 "$(bss_cdb10 0x41 0x02 $((OBJB - 2)) 4)" --out-byte 0x5a --out-len 512
	[ "$output" = "status=GOOD" ]
	sd_dog vdi read vol $(((OBJB - 2) * 512)) 2048 >"$T/got"
	perl -e 'for $l (@ARGV) { print pack("N", $l), "\x5a" x 508 }' \
		$((OBJB - 2)) $((OBJB - 1)) $OBJB $((OBJB + 1)) >"$T/want"
	cmp "$T/got" "$T/want"
	# PBDATA, WRITE SAME (16): the whole 8-byte LBA.
	run bss_raw 1 "$(bss_cdb16 0x93 0x04 70000 3)" --out-byte 0x11 --out-len 512
	[ "$output" = "status=GOOD" ]
	sd_dog vdi read vol $((70000 * 512)) 1536 >"$T/got"
	perl -e 'for $l (@ARGV) { print pack("NN", 0, $l), "\x11" x 504 }' 70000 70001 70002 \
		>"$T/want"
	cmp "$T/got" "$T/want"
	# A plain block over 3 objects and a bit: read back through dog.
	run bss_raw 1 "$(bss_cdb16 0x93 0 100 $((3 * OBJB + 8)))" --out-byte 0xa5 --out-len 512
	[ "$output" = "status=GOOD" ]
	sd_dog vdi read vol $((100 * 512)) $(((3 * OBJB + 8) * 512)) >"$T/got"
	perl -e 'print "\xa5" x $ARGV[0]' $(((3 * OBJB + 8) * 512)) >"$T/want"
	cmp "$T/got" "$T/want"
	[ "$(sd_dog vdi read vol $((99 * 512)) 512 | tr -d '\0' | wc -c)" -eq 0 ]
	# NDOB: zeros, no data-out at all.
	run bss_raw 1 "$(bss_cdb16 0x93 0x01 100 16)" --resid
	[ "$output" = "$(printf 'status=GOOD\nresid=none')" ]
	[ "$(sd_dog vdi read vol $((100 * 512)) 8192 | tr -d '\0' | wc -c)" -eq 0 ]
	[ "$(sd_dog vdi read vol $((116 * 512)) 512 | tr -d '\245' | wc -c)" -eq 0 ]
	# 0 blocks: from the LBA to the last block; at the end, out of range.
	run bss_raw 1 "$(bss_cdb16 0x93 0 $((16 * OBJB - 10)) 0)" --out-byte 0x77 --out-len 512
	[ "$output" = "status=GOOD" ]
	sd_dog vdi read vol $((64 * MiB - 5120)) 5120 >"$T/got"
	perl -e 'print "\x77" x 5120' >"$T/want"
	cmp "$T/got" "$T/want"
	[ "$(sd_dog vdi read vol $((64 * MiB - 5632)) 512 | tr -d '\0' | wc -c)" -eq 0 ]
	run bss_raw 1 "$(bss_cdb16 0x93 0 $((16 * OBJB)) 0)" --out-byte 0x77 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb10 0x41 0 $((16 * OBJB - 1)) 1)" --out-byte 0x77 --out-len 512
	[ "$output" = "status=GOOD" ]
	run bss_raw 1 "$(bss_cdb10 0x41 0 $((16 * OBJB - 1)) 2)" --out-byte 0x77 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x21 ascq=0x00" ]
}

@test "bs_thin: WRITE SAME: UNMAP frees objects, zeros without UNMAP map them, field and length checks" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	vid=$(vdi_vid vol)
	run bss_io 1 --mode write --qd 16 --bs $MiB --offset $((8 * 4 * MiB)) --length $((8 * MiB)) \
		--seed 9
	[ "$status" -eq 0 ]
	[ "$(nr_objs "$vid")" -eq 2 ]
	# UNMAP bit, a zero block: objects 8 and 9 go away.
	run bss_raw 1 "$(bss_cdb16 0x93 0x08 $((8 * OBJB)) $((2 * OBJB)))" --out-byte 0 --out-len 512
	[ "$output" = "status=GOOD" ]
	[ "$(nr_objs "$vid")" -eq 0 ]
	[ "$(vdi_used vol)" -eq 0 ]
	run lba_status 1 0 64
	[ "$output" = "0+131072:1" ]
	# Zeros without UNMAP write (one object-sized write per object): the
	# blocks are mapped afterwards.
	run bss_raw 1 "$(bss_cdb16 0x93 0 $((3 * OBJB)) $OBJB)" --out-byte 0 --out-len 512
	[ "$output" = "status=GOOD" ]
	[ "$(nr_objs "$vid")" -eq 1 ]
	run lba_status 1 0 64
	[ "$output" = "0+24576:1 24576+8192:0 32768+98304:1" ]
	# WRITE SAME (10) with UNMAP and NDOB-less zeros over it: gone again.
	run bss_raw 1 "$(bss_cdb10 0x41 0x08 $((3 * OBJB)) $OBJB)" --out-byte 0 --out-len 512
	[ "$output" = "status=GOOD" ]
	[ "$(nr_objs "$vid")" -eq 0 ]
	# UNMAP bit with a non-zero block: unmapped all the same (as LIO and
	# tcmu-runner do, and libiscsi's UnmapUntilEnd expects): zeros.
	run bss_raw 1 "$(bss_cdb16 0x93 0 0 2)" --out-byte 0x3c --out-len 512
	[ "$output" = "status=GOOD" ]
	[ "$(sd_dog vdi read vol 0 1024 | tr -d '<' | wc -c)" -eq 0 ]
	[ "$(nr_objs "$vid")" -eq 1 ]
	run bss_raw 1 "$(bss_cdb16 0x93 0x08 0 $OBJB)" --out-byte 0x3c --out-len 512
	[ "$output" = "status=GOOD" ]
	[ "$(sd_dog vdi read vol 0 1024 | tr -d '\0' | wc -c)" -eq 0 ]
	[ "$(nr_objs "$vid")" -eq 0 ]
	# Field checks: LBDATA+PBDATA, WRPROTECT, ANCHOR; data-out of half a
	# block, of two blocks, of none without NDOB.
	for flags in 0x06 0x20 0x10 0x18; do
		run bss_raw 1 "$(bss_cdb16 0x93 $flags 0 1)" --out-byte 0 --out-len 512
		[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	done
	run bss_raw 1 "$(bss_cdb16 0x93 0 0 1)" --out-byte 0 --out-len 256
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x1a ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb10 0x41 0 0 1)" --out-byte 0 --out-len 1024
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x1a ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb16 0x93 0 0 1)"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x1a ascq=0x00" ]
	# MAXIMUM WRITE SAME LENGTH (1 GiB of blocks) on a 2 GiB vdi.
	bss_vdi_create big 2G
	bss_lun 2 "$(bss_tcp big)"
	run bss_raw 2 "$(bss_cdb16 0x93 0x08 0 0)" --out-byte 0 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb16 0x93 0x08 0 $((2097152 + 1)))" --out-byte 0 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb16 0x93 0x08 0 2097152)" --out-byte 0 --out-len 512
	[ "$output" = "status=GOOD" ]
	run bss_raw 2 "$(bss_cdb16 0x93 0x08 2097152 0)" --out-byte 0 --out-len 512
	[ "$output" = "status=GOOD" ]
}

@test "bs_thin: thin=0 bsopt: fully provisioned; thin_provisioning=1 turns it on live" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)" "thin=0"
	run bss_raw 1 "9e10000000000000000000000020 0000" --in 32 --dump
	[ "$(hexbytes "${lines[1]}" 12 4)" = "00000000" ]
	run bss_raw 1 1201b2000800 --in 8 --dump
	[ "${lines[1]}" = "data=00b2000400000000" ]
	run bss_raw 1 1201b0004000 --in 64 --dump
	[ "$(hexbytes "${lines[1]}" 20 16)" = "00000000000000000000000000000000" ]
	[ "$(hexbytes "${lines[1]}" 36 8)" = "0000000000200000" ]
	unmap_param "$T/p" 0:1
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x20 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb16 0x93 0x08 0 1)" --out-byte 0 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	run bss_raw 1 "$(bss_cdb10 0x41 0x08 0 1)" --out-byte 0 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x24 ascq=0x00" ]
	# WRITE SAME without UNMAP still works; every block is "mapped".
	run bss_raw 1 "$(bss_cdb16 0x93 0 0 8)" --out-byte 0x42 --out-len 512
	[ "$output" = "status=GOOD" ]
	run lba_status 1 0 64
	[ "$output" = "0+131072:0" ]
	# tgtadm flips it on a live LUN: everything follows.
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1
	run bss_raw 1 "9e10000000000000000000000020 0000" --in 32 --dump
	[ "$(hexbytes "${lines[1]}" 12 4)" = "0000c000" ]
	run bss_raw 1 1201b0004000 --in 64 --dump
	[ "$(hexbytes "${lines[1]}" 20 4)" = "00100000" ]
	[ "$(hexbytes "${lines[1]}" 28 4)" = "00002000" ]
	run bss_raw 1 1201b2000800 --in 8 --dump
	[ "${lines[1]}" = "data=00b2000400e40200" ]
	run lba_status 1 0 64
	[ "$output" = "0+8192:0 8192+122880:1" ]
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	# ... and off again.
	tgt_adm --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=0
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x05 asc=0x20 ascq=0x00" ]
	run bss_raw 1 1201b0004000 --in 64 --dump
	[ "$(hexbytes "${lines[1]}" 20 4)" = "00000000" ]
	# A bad value of the bsopt is refused.
	run tgt_lun_new 1 2 "$(bss_tcp vol)" sheepdog "thin=2"
	[ "$status" -ne 0 ]
}

@test "bs_thin: a read-only snapshot LUN: UNMAP and WRITE SAME get DATA PROTECT, GET LBA STATUS works" {
	bss_vdi_create vol 64M
	bss_lun 1 "$(bss_tcp vol)"
	run bss_io 1 --mode write --qd 8 --bs $MiB --offset 0 --length $((4 * MiB)) --seed 2
	[ "$status" -eq 0 ]
	sd_dog vdi snapshot -s s vol
	bss_lun 2 "$(bss_tcp vol:s)"
	unmap_param "$T/p" 0:1
	run bss_raw 2 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb16 0x93 0x08 0 1)" --out-byte 0 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb10 0x41 0 0 1)" --out-byte 1 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	# write protection comes before the data-out check
	run bss_raw 2 "$(bss_cdb10 0x41 0x08 0 1)"
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run lba_status 2 0 64
	[ "$output" = "0+8192:0 8192+122880:1" ]
	# Unmapping the working vdi leaves the snapshot's data alone, and the
	# snapshot's object stays on the sheep.
	run bss_raw 1 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=GOOD" ]
	run bss_io 2 --mode verify --qd 8 --bs $MiB --offset 0 --length $((4 * MiB)) --seed 2
	[ "$status" -eq 0 ]
	# Forced writable (readonly=0), the library still refuses: DATA PROTECT.
	tgt_adm --op update --mode logicalunit --tid 1 --lun 2 --params readonly=0
	run bss_raw 2 "$(unmap_cdb 24)" --out-file "$T/p"
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
	run bss_raw 2 "$(bss_cdb16 0x93 0 0 3)" --out-byte 1 --out-len 512
	[ "$output" = "status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00" ]
}

# QEMU's iSCSI block driver is a real initiator of thin provisioning: its
# discard becomes UNMAP, its write-zeroes with unmap WRITE SAME (16) with the
# UNMAP bit, and `qemu-img map` reads GET LBA STATUS.
@test "bs_thin: QEMU's iSCSI driver: discard frees the objects, zeros read back, qemu-img map sees holes" {
	command -v qemu-io >/dev/null || skip "qemu-io not installed"
	bss_vdi_create qv 64M
	bss_lun 1 "$(bss_tcp qv)"
	local u vid
	u=$(tgt_url 1 1)
	vid=$(vdi_vid qv)
	run timeout 60 qemu-io -f raw -c 'write -P 0xab 0 16M' -c 'write -P 0xcd 32M 8M' "$u"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(vdi_used qv)" -eq $((24 << 20)) ]
	[ "$(nr_objs "$vid")" -eq 6 ]
	# discard 16 MiB: four whole objects go away
	run timeout 60 qemu-io -f raw -c 'discard 0 16M' -c 'read -P 0 0 16M' "$u"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"Pattern verification failed"* ]]
	[ "$(vdi_used qv)" -eq $((8 << 20)) ]
	[ "$(nr_objs "$vid")" -eq 2 ]
	# write zeroes, may unmap: WRITE SAME (16) with UNMAP frees the rest
	run timeout 60 qemu-io -f raw -c 'write -z -u 32M 8M' -c 'read -P 0 32M 8M' "$u"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"Pattern verification failed"* ]]
	[ "$(vdi_used qv)" -eq 0 ]
	[ "$(nr_objs "$vid")" -eq 0 ]
	# GET LBA STATUS: all of it deallocated, reading as zeros
	run timeout 60 qemu-img map -f raw --output=json "$u"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"start": 0, "length": 67108864'*'"zero": true, "data": false'* ]]
}
