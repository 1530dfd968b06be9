#!/usr/bin/env bats
# dog vdi create / list / delete / resize (control path).

load lib/common
load lib/dog

setup() {
	dog_setup_formatted
}

teardown() {
	dog_teardown
}

@test "vdi: create then list (human and raw fields)" {
	local before after line
	before=$(date +%s)
	run sd_dog vdi create test 10G
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	after=$(date +%s)

	run sd_dog vdi list
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "  Name        Id    Size    Used  Shared    Creation time   VDI id  Copies  Tag   Block Size Shift" ]
	# "test" hashes to vid 0x7c2b25 (FNV-1a, protocol sheet 5.1)
	[[ "${lines[1]}" =~ ^\ \ test\ +0\ +10\ GB\ +0\.0\ MB\ +0\.0\ MB\ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}\ +7c2b25\ +3\ +22$ ]]

	run sd_dog vdi list -r
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	line=${lines[0]}
	[[ "$line" =~ ^=\ test\ 0\ 10737418240\ 0\ 0\ [0-9]+\ 7c2b25\ 3\ \ 22$ ]]
	local ctime
	ctime=$(echo "$line" | awk '{ print $7 }')
	[ "$ctime" -ge $((before - 1)) ]
	[ "$ctime" -le $((after + 1)) ]
}

@test "vdi: list filters by name and escapes names in raw mode" {
	sd_dog vdi create alpha 1G
	sd_dog vdi create beta 2G
	sd_dog vdi create "with space" 1M
	sd_dog vdi create 'back\slash' 1M
	run sd_dog vdi list -r beta
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "= beta 0 2147483648 "* ]]
	run sd_dog vdi list -r
	[ "${#lines[@]}" -eq 4 ]
	[[ "$output" == *'= with\ space 0 1048576 '* ]]
	[[ "$output" == *'= back\\slash 0 1048576 '* ]]
	run sd_dog vdi list nosuch
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "vdi: size suffixes with and without B" {
	sd_dog vdi create s1 1536K
	sd_dog vdi create s2 3MB
	sd_dog vdi create s3 1.5G
	sd_dog vdi create s4 4096
	sd_dog vdi create s5 1T
	[ "$(dog_list_field s1 = 0 4)" = 1572864 ]
	[ "$(dog_list_field s2 = 0 4)" = 3145728 ]
	[ "$(dog_list_field s3 = 0 4)" = 1610612736 ]
	[ "$(dog_list_field s4 = 0 4)" = 4096 ]
	[ "$(dog_list_field s5 = 0 4)" = 1099511627776 ]
}

@test "vdi: duplicate create fails with exit 1 (as 1.0.1) and the reason" {
	sd_dog vdi create dup 1G
	run sd_dog vdi create dup 2G
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to create VDI dup: VDI exists already"* ]]
	# the original is untouched
	[ "$(dog_list_field dup = 0 4)" = 1073741824 ]
}

@test "vdi: size limits of the flat index" {
	run sd_dog vdi create big 4T
	[ "$status" -eq 0 ]
	run sd_dog vdi create toobig 5T
	[ "$status" -eq 64 ]
	[[ "$output" == *"VDI size is too large"* ]]
	[ -z "$(dog_list_raw_line toobig =)" ]
	# 1 MiB objects: at most 1 TiB
	run sd_dog vdi create -z 20 small 1025G
	[ "$status" -eq 64 ]
	run sd_dog vdi create -z 20 small 1T
	[ "$status" -eq 0 ]
	[ "$(dog_list_field small = 0 10)" = 20 ]
}

@test "vdi: -c sets the copies column" {
	sd_dog vdi create -c 2 two 1G
	[ "$(dog_list_field two = 0 9)" = 2 ]
	run sd_dog vdi list
	[[ "${lines[1]}" =~ \ 2\ +22$ ]]
}

@test "vdi: prealloc allocates every object" {
	run sd_dog vdi create -P pre 12M
	[ "$status" -eq 0 ]
	[ "$(dog_list_field pre = 0 5)" = 12582912 ]
	[ "$(dog_list_field pre = 0 6)" = 0 ]
	# and the objects read as zeros
	sd_dog vdi read pre >"$DOG_TMP/out"
	head -c 12582912 /dev/zero >"$DOG_TMP/zero"
	dog_same "$DOG_TMP/out" "$DOG_TMP/zero"
	# a size that is not a multiple of the object size
	run sd_dog vdi create -P pre2 5000000
	[ "$status" -eq 0 ]
	[ "$(dog_list_field pre2 = 0 5)" = 8388608 ]
}

@test "vdi: delete empty and written vdis; unknown vdi is exit 0" {
	sd_dog vdi create empty 1G
	sd_dog vdi create full 32M
	dog_random_file "$DOG_TMP/data" 12582912
	sd_dog vdi write full 1M <"$DOG_TMP/data"
	[ "$(dog_list_field full = 0 5)" = 16777216 ]

	run sd_dog vdi delete empty
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$(dog_list_raw_line empty =)" ]
	run sd_dog vdi delete full
	[ "$status" -eq 0 ]
	[ -z "$(sd_dog vdi list -r)" ]

	# 1.0.1 reports a missing vdi but exits 0
	run sd_dog vdi delete full
	[ "$status" -eq 0 ]
	[[ "$output" == *"Failed to open VDI full: No VDI found"* ]]
	run sd_dog vdi delete never
	[ "$status" -eq 0 ]
	[[ "$output" == *"No VDI found"* ]]

	# a new vdi of the same name starts empty
	sd_dog vdi create full 32M
	[ "$(dog_list_field full = 0 5)" = 0 ]
	sd_dog vdi read full >"$DOG_TMP/out"
	head -c 33554432 /dev/zero >"$DOG_TMP/zero"
	dog_same "$DOG_TMP/out" "$DOG_TMP/zero"
}

@test "vdi: operations on unknown vdis name the vdi and the cause, exit 1 as 1.0.1" {
	run sd_dog vdi read ghost
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to open VDI ghost: No VDI found"* ]]
	run sd_dog vdi write ghost </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to open VDI ghost: No VDI found"* ]]
	run sd_dog vdi resize ghost 2G
	[ "$status" -eq 1 ]
	run sd_dog vdi snapshot ghost
	[ "$status" -eq 1 ]
	run sd_dog vdi clone -s 1 ghost copy
	[ "$status" -eq 1 ]
}

@test "vdi: resize grows, refuses to shrink or exceed the limit" {
	sd_dog vdi create r 1G
	dog_random_file "$DOG_TMP/data" 1048576
	# a write at exactly the end writes nothing and succeeds
	run sd_dog vdi write r 1073741824 <"$DOG_TMP/data"
	[ "$status" -eq 0 ]
	[ "$(dog_list_field r = 0 5)" = 0 ]
	run sd_dog vdi resize r 2G
	[ "$status" -eq 0 ]
	[ "$(dog_list_field r = 0 4)" = 2147483648 ]
	# the new space is usable and reads zeros until written
	sd_dog vdi read r 1G 1M >"$DOG_TMP/out"
	head -c 1048576 /dev/zero >"$DOG_TMP/zero"
	dog_same "$DOG_TMP/out" "$DOG_TMP/zero"
	sd_dog vdi write r 2047M <"$DOG_TMP/data"
	sd_dog vdi read r 2047M >"$DOG_TMP/out"
	dog_same "$DOG_TMP/out" "$DOG_TMP/data"

	run sd_dog vdi resize r 1G
	[ "$status" -eq 64 ]
	[[ "$output" == *"Shrinking VDIs is not implemented"* ]]
	run sd_dog vdi resize r 5T
	[ "$status" -eq 64 ]
	[[ "$output" == *"New VDI size is too large"* ]]
	run sd_dog vdi resize r 4T
	[ "$status" -eq 0 ]
	[ "$(dog_list_field r = 0 4)" = 4398046511104 ]
	# data written before the resize is intact
	sd_dog vdi read r 2047M 1M >"$DOG_TMP/out"
	dog_same "$DOG_TMP/out" "$DOG_TMP/data"
}

@test "vdi: zero-sized vdi" {
	run sd_dog vdi create zero 0
	[ "$status" -eq 0 ]
	[ "$(dog_list_field zero = 0 4)" = 0 ]
	run sd_dog vdi read zero
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run sd_dog vdi delete zero
	[ "$status" -eq 0 ]
}
