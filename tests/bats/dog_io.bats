#!/usr/bin/env bats
# dog vdi write / vdi read: round trips at object boundaries, unaligned
# offsets, holes reading as zeros, clipping at the end of the vdi.

load lib/common
load lib/dog

MiB=1048576
OBJ=4194304

setup() {
	dog_setup_formatted
	sd_dog vdi create io 20M
	# the expected image of the vdi, kept in step with every write
	truncate -s 20M "$DOG_TMP/expect"
}

teardown() {
	dog_teardown
}

# write file $1 at offset $2 to vdi io and to the expected image
io_write() {
	sd_dog vdi write io "$2" <"$1"
	dog_overlay "$DOG_TMP/expect" "$1" "$2"
}

io_check_all() {
	sd_dog vdi read io >"$DOG_TMP/all"
	dog_same "$DOG_TMP/all" "$DOG_TMP/expect"
}

@test "io: fresh vdi reads as zeros without allocating" {
	io_check_all
	[ "$(dog_list_field io = 0 5)" = 0 ]
}

@test "io: pattern spanning two object ends at an unaligned offset" {
	# 9 MiB from 4 MiB - 1000: touches objects 0, 1, 2 and 3
	dog_random_file "$DOG_TMP/p" $((9 * MiB))
	io_write "$DOG_TMP/p" $((OBJ - 1000))
	io_check_all
	[ "$(dog_list_field io = 0 5)" = $((4 * OBJ)) ]
	# the written range alone, and slices across each boundary
	sd_dog vdi read io $((OBJ - 1000)) $((9 * MiB)) >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/p"
	for off in $((OBJ - 1)) $((2 * OBJ - 4097)) $((3 * OBJ - 7)) 12345; do
		sd_dog vdi read io "$off" 8193 >"$DOG_TMP/s1"
		dog_slice "$DOG_TMP/expect" "$off" 8193 >"$DOG_TMP/s2"
		dog_same "$DOG_TMP/s1" "$DOG_TMP/s2"
	done
	# holes before and after read as zeros
	sd_dog vdi read io 0 $((OBJ - 1000)) >"$DOG_TMP/h"
	head -c $((OBJ - 1000)) /dev/zero >"$DOG_TMP/z"
	dog_same "$DOG_TMP/h" "$DOG_TMP/z"
}

@test "io: exact object-sized and object-aligned writes" {
	dog_random_file "$DOG_TMP/o" "$OBJ"
	io_write "$DOG_TMP/o" "$OBJ"
	io_write "$DOG_TMP/o" $((4 * OBJ))
	io_check_all
	[ "$(dog_list_field io = 0 5)" = $((2 * OBJ)) ]
	sd_dog vdi read io 4M 4M >"$DOG_TMP/b"
	dog_same "$DOG_TMP/b" "$DOG_TMP/o"
}

@test "io: small unaligned writes into allocated and unallocated objects" {
	dog_random_file "$DOG_TMP/a" 3
	dog_random_file "$DOG_TMP/b" 5000
	dog_random_file "$DOG_TMP/c" 1
	io_write "$DOG_TMP/a" 1
	io_write "$DOG_TMP/b" $((OBJ - 2500))
	io_write "$DOG_TMP/c" $((20 * MiB - 1))
	# rewrite inside an object that already exists
	io_write "$DOG_TMP/b" 100
	io_check_all
	[ "$(dog_list_field io = 0 5)" = $((3 * OBJ)) ]
}

@test "io: whole-vdi write and sha256 round trip" {
	dog_random_file "$DOG_TMP/w" $((20 * MiB))
	sd_dog vdi write io <"$DOG_TMP/w"
	[ "$(sd_dog vdi read io | sha256sum)" = "$(sha256sum <"$DOG_TMP/w")" ]
	[ "$(dog_list_field io = 0 5)" = $((20 * MiB)) ]
}

@test "io: offsets and lengths take size suffixes" {
	dog_random_file "$DOG_TMP/p" $((2 * MiB))
	sd_dog vdi write io 3M 1M <"$DOG_TMP/p"
	dog_slice "$DOG_TMP/p" 0 "$MiB" >"$DOG_TMP/first"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/first" $((3 * MiB))
	io_check_all
	sd_dog vdi read io 3M 1M >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/first"
	sd_dog vdi read io 3MB 1MB >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/first"
}

@test "io: length bounds the write; short stdin writes what it gets" {
	dog_random_file "$DOG_TMP/p" 10000
	sd_dog vdi write io 5000 3000 <"$DOG_TMP/p"
	dog_slice "$DOG_TMP/p" 0 3000 >"$DOG_TMP/part"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/part" 5000
	io_check_all
	# stdin shorter than the length: only the available bytes are written
	sd_dog vdi write io 9M 1M <"$DOG_TMP/p"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/p" $((9 * MiB))
	io_check_all
	# empty stdin: nothing written, nothing allocated beyond the above
	sd_dog vdi write io 16M </dev/null
	[ "$(dog_list_field io = 0 5)" = $((2 * OBJ)) ]
}

@test "io: reads and writes are clipped at the end of the vdi" {
	dog_random_file "$DOG_TMP/p" $((2 * MiB))
	# 2 MiB at 19 MiB: only the last MiB fits
	run sd_dog vdi write io 19M <"$DOG_TMP/p"
	[ "$status" -eq 0 ]
	dog_slice "$DOG_TMP/p" 0 "$MiB" >"$DOG_TMP/fit"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/fit" $((19 * MiB))
	io_check_all
	sd_dog vdi read io 19M 5M >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/fit"
	# reading at the very end yields nothing
	run sd_dog vdi read io 20M
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# beyond the end is an error
	run sd_dog vdi read io 21M
	[ "$status" -eq 1 ]
	[[ "$output" == *"Read offset is beyond the end of the VDI"* ]]
	run sd_dog vdi write io 21M <"$DOG_TMP/p"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Write offset is beyond the end of the VDI"* ]]
}

@test "io: 1 MiB objects (-z 20) boundaries" {
	sd_dog vdi create -z 20 small 5M
	truncate -s 5M "$DOG_TMP/exp1"
	dog_random_file "$DOG_TMP/p" $((2 * MiB + 333))
	sd_dog vdi write small $((MiB - 111)) <"$DOG_TMP/p"
	dog_overlay "$DOG_TMP/exp1" "$DOG_TMP/p" $((MiB - 111))
	sd_dog vdi read small >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/exp1"
	# objects 0..3 are allocated, 1 MiB each
	[ "$(dog_list_field small = 0 5)" = $((4 * MiB)) ]
}
