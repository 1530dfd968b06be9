#!/usr/bin/env bats
# dog vdi snapshot / clone: copy-on-write semantics seen through dog.

load lib/common
load lib/dog

MiB=1048576
OBJ=4194304

setup() {
	dog_setup_formatted
	sd_dog vdi create base 16M
	# A: 10 MiB from offset 1 MiB (objects 0..2)
	dog_random_file "$DOG_TMP/A" $((10 * MiB))
	sd_dog vdi write base 1M <"$DOG_TMP/A"
	truncate -s 16M "$DOG_TMP/imgA"
	dog_overlay "$DOG_TMP/imgA" "$DOG_TMP/A" "$MiB"
}

teardown() {
	dog_teardown
}

@test "snapshot: then write; the snapshot keeps the old data (COW)" {
	run sd_dog vdi snapshot -s snap1 base
	[ "$status" -eq 0 ]
	# B: unaligned, across the object 1/2 boundary and into unallocated object 3
	dog_random_file "$DOG_TMP/B" $((8 * MiB + 77))
	sd_dog vdi write base $((2 * OBJ - 3 * MiB - 5)) <"$DOG_TMP/B"
	cp "$DOG_TMP/imgA" "$DOG_TMP/imgAB"
	dog_overlay "$DOG_TMP/imgAB" "$DOG_TMP/B" $((2 * OBJ - 3 * MiB - 5))

	sd_dog vdi read -s snap1 base >"$DOG_TMP/snap"
	dog_same "$DOG_TMP/snap" "$DOG_TMP/imgA"
	sd_dog vdi read base -s 1 >"$DOG_TMP/snap_by_id"
	dog_same "$DOG_TMP/snap_by_id" "$DOG_TMP/imgA"
	sd_dog vdi read base >"$DOG_TMP/cur"
	dog_same "$DOG_TMP/cur" "$DOG_TMP/imgAB"

	# list: the snapshot row ('s', id 1, tag) and the working vdi (id 0)
	run sd_dog vdi list -r base
	[ "${#lines[@]}" -eq 2 ]
	local snap cur
	snap=$(dog_list_raw_line base s 1)
	cur=$(dog_list_raw_line base = 0)
	# "base" hashes to vid 0x54c278; the snapshot keeps it
	[[ "$snap" =~ ^s\ base\ 1\ 16777216\ 12582912\ 0\ [0-9]+\ 54c278\ 3\ snap1\ 22$ ]]
	[ "$(echo "$snap" | awk '{ print $10 }')" = snap1 ]
	# working vdi: objects 1, 2, 3 are its own now; object 0 is still shared
	[ "$(echo "$cur" | awk '{ print $5 }')" = $((3 * OBJ)) ]
	[ "$(echo "$cur" | awk '{ print $6 }')" = "$OBJ" ]
	# different vdi ids; the snapshot kept the original one
	[ "$(echo "$snap" | awk '{ print $8 }')" != "$(echo "$cur" | awk '{ print $8 }')" ]
	run sd_dog vdi list
	[[ "$output" =~ (^|$'\n')s\ base\ +1\ .*snap1\ +22 ]]
}

@test "snapshot: several snapshots; tag and id agree; vdi write targets the working vdi" {
	sd_dog vdi snapshot -s first base
	sd_dog vdi snapshot base
	sd_dog vdi snapshot -s third base
	run sd_dog vdi list -r base
	[ "${#lines[@]}" -eq 4 ]
	[ -n "$(dog_list_raw_line base s 1)" ]
	[ -n "$(dog_list_raw_line base s 2)" ]
	[ -n "$(dog_list_raw_line base s 3)" ]
	sd_dog vdi read -s third base >"$DOG_TMP/t"
	sd_dog vdi read -s 3 base >"$DOG_TMP/t3"
	dog_same "$DOG_TMP/t" "$DOG_TMP/t3"
	dog_same "$DOG_TMP/t" "$DOG_TMP/imgA"
	# vdi write always targets the working vdi
	dog_random_file "$DOG_TMP/C" 4096
	sd_dog vdi write base 0 <"$DOG_TMP/C"
	sd_dog vdi read -s first base >"$DOG_TMP/f"
	dog_same "$DOG_TMP/f" "$DOG_TMP/imgA"
	# the rest of the COWed object came from the snapshot
	cp "$DOG_TMP/imgA" "$DOG_TMP/imgAC"
	dog_overlay "$DOG_TMP/imgAC" "$DOG_TMP/C" 0
	sd_dog vdi read base >"$DOG_TMP/w"
	dog_same "$DOG_TMP/w" "$DOG_TMP/imgAC"
}

@test "snapshot: tag errors (exit 1 as 1.0.1, 64 for usage)" {
	sd_dog vdi snapshot -s dup base
	run sd_dog vdi snapshot -s dup base
	[ "$status" -eq 1 ]
	[[ "$output" == *"tag 'dup' is already used"* ]]
	run sd_dog vdi snapshot -s 42 base
	[ "$status" -eq 64 ]
	[[ "$output" == *"non-integer value for a snapshot tag"* ]]
	run sd_dog vdi read -s nosuch base
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to open VDI base (snapshot tag 'nosuch'): Failed to find requested tag"* ]]
	run sd_dog vdi read -s 9 base
	[ "$status" -eq 1 ]
	run sd_dog vdi snapshot nosuchvdi
	[ "$status" -eq 1 ]
	[[ "$output" == *"No VDI found"* ]]
}

@test "snapshot: -v prints the new and old vdi ids" {
	run sd_dog vdi snapshot -v -s s1 base
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^new\ VID\ of\ original\ VDI:\ [0-9a-f]+,\ VDI\ ID\ of\ newly\ created\ snapshot:\ 54c278$ ]]
	local newvid
	newvid=$(echo "$output" | sed 's/^new VID of original VDI: \([0-9a-f]*\),.*/\1/')
	[ "$(dog_list_field base = 0 8)" = "$newvid" ]
}

@test "clone: from a snapshot, then write; parent and snapshot untouched" {
	sd_dog vdi snapshot -s gold base
	run sd_dog vdi clone -s gold base child
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# the clone shows as 'c' with everything shared
	local c
	c=$(dog_list_raw_line child c 0)
	[ -n "$c" ]
	[ "$(echo "$c" | awk '{ print $4 }')" = 16777216 ]
	[ "$(echo "$c" | awk '{ print $5 }')" = 0 ]
	[ "$(echo "$c" | awk '{ print $6 }')" = $((3 * OBJ)) ]
	sd_dog vdi read child >"$DOG_TMP/c0"
	dog_same "$DOG_TMP/c0" "$DOG_TMP/imgA"

	# write into the clone: a shared object (COW) and a new one
	dog_random_file "$DOG_TMP/D" $((5 * MiB))
	sd_dog vdi write child $((OBJ + 12345)) <"$DOG_TMP/D"
	cp "$DOG_TMP/imgA" "$DOG_TMP/imgAD"
	dog_overlay "$DOG_TMP/imgAD" "$DOG_TMP/D" $((OBJ + 12345))
	sd_dog vdi read child >"$DOG_TMP/c1"
	dog_same "$DOG_TMP/c1" "$DOG_TMP/imgAD"

	# the snapshot and the parent's working vdi are untouched
	sd_dog vdi read -s gold base >"$DOG_TMP/g"
	dog_same "$DOG_TMP/g" "$DOG_TMP/imgA"
	sd_dog vdi read base >"$DOG_TMP/b"
	dog_same "$DOG_TMP/b" "$DOG_TMP/imgA"

	# and the parent's writes do not leak into the clone
	dog_random_file "$DOG_TMP/E" "$MiB"
	sd_dog vdi write base 0 <"$DOG_TMP/E"
	sd_dog vdi read child >"$DOG_TMP/c2"
	dog_same "$DOG_TMP/c2" "$DOG_TMP/imgAD"
	c=$(dog_list_raw_line child c 0)
	[ "$(echo "$c" | awk '{ print $5 }')" = $((2 * OBJ)) ]
	[ "$(echo "$c" | awk '{ print $6 }')" = "$OBJ" ]
}

@test "clone: -P copies every object" {
	sd_dog vdi snapshot -s gold base
	run sd_dog vdi clone -P -s gold base full
	[ "$status" -eq 0 ]
	local c
	c=$(dog_list_raw_line full c 0)
	[ "$(echo "$c" | awk '{ print $5 }')" = 16777216 ]
	[ "$(echo "$c" | awk '{ print $6 }')" = 0 ]
	sd_dog vdi read full >"$DOG_TMP/f"
	dog_same "$DOG_TMP/f" "$DOG_TMP/imgA"
}

@test "clone: errors" {
	run sd_dog vdi clone base other
	[ "$status" -eq 64 ]
	[[ "$output" == *"Only snapshot VDIs can be cloned"* ]]
	sd_dog vdi snapshot -s gold base
	sd_dog vdi create taken 1G
	run sd_dog vdi clone -s gold base taken
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to create VDI taken: VDI exists already"* ]]
	run sd_dog vdi clone -s nosuch base x
	[ "$status" -eq 1 ]
	run sd_dog vdi clone -s gold base
	[ "$status" -eq 64 ]
	[[ "$output" == *"Missing argument <dst vdi>"* ]]
}

@test "delete: a snapshot or the working vdi leaves the other readable" {
	sd_dog vdi snapshot -s s1 base
	dog_random_file "$DOG_TMP/B" "$MiB"
	sd_dog vdi write base 2M <"$DOG_TMP/B"
	cp "$DOG_TMP/imgA" "$DOG_TMP/imgAB"
	dog_overlay "$DOG_TMP/imgAB" "$DOG_TMP/B" $((2 * MiB))
	sd_dog vdi clone -s s1 base kid

	run sd_dog vdi delete -s s1 base
	[ "$status" -eq 0 ]
	[ -z "$(dog_list_raw_line base s 1)" ]
	sd_dog vdi read base >"$DOG_TMP/b"
	dog_same "$DOG_TMP/b" "$DOG_TMP/imgAB"
	sd_dog vdi read kid >"$DOG_TMP/k"
	dog_same "$DOG_TMP/k" "$DOG_TMP/imgA"

	sd_dog vdi snapshot -s s2 base
	run sd_dog vdi delete base
	[ "$status" -eq 0 ]
	[ -z "$(dog_list_raw_line base = 0)" ]
	sd_dog vdi read -s s2 base >"$DOG_TMP/s2"
	dog_same "$DOG_TMP/s2" "$DOG_TMP/imgAB"
	# already gone: 1.0.1 says so and exits 0
	run sd_dog vdi delete -s s1 base
	[ "$status" -eq 0 ]
	[[ "$output" == *"Failed to find requested tag"* ]]
}

@test "rollback: back to a snapshot, after confirmation" {
	sd_dog vdi snapshot -s s1 base
	dog_random_file "$DOG_TMP/B" $((5 * MiB))
	sd_dog vdi write base 0 <"$DOG_TMP/B"
	cp "$DOG_TMP/imgA" "$DOG_TMP/imgAB"
	dog_overlay "$DOG_TMP/imgAB" "$DOG_TMP/B" 0

	# "no" keeps the current state
	run bash -c "echo no | timeout 60 $SD_WRAP '$DOG' vdi rollback -s s1 base -p $SHEEP_PORT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Continue? [yes/no]"* ]]
	sd_dog vdi read base >"$DOG_TMP/cur"
	dog_same "$DOG_TMP/cur" "$DOG_TMP/imgAB"

	run sd_dog vdi rollback -f -s s1 base
	[ "$status" -eq 0 ]
	sd_dog vdi read base >"$DOG_TMP/cur"
	dog_same "$DOG_TMP/cur" "$DOG_TMP/imgA"
	# the snapshot is still there, and the new working vdi is writable
	sd_dog vdi read -s s1 base >"$DOG_TMP/snap"
	dog_same "$DOG_TMP/snap" "$DOG_TMP/imgA"
	[ -n "$(dog_list_raw_line base = 0)" ]
	sd_dog vdi write base 0 <"$DOG_TMP/B"
	sd_dog vdi read base >"$DOG_TMP/cur"
	dog_same "$DOG_TMP/cur" "$DOG_TMP/imgAB"
	sd_dog vdi read -s s1 base >"$DOG_TMP/snap"
	dog_same "$DOG_TMP/snap" "$DOG_TMP/imgA"

	run sd_dog vdi rollback base
	[ "$status" -eq 64 ]
	[[ "$output" == *"Please specify the '-s' option"* ]]
	run sd_dog vdi rollback -f -s nosuch base
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to find requested tag"* ]]
}
