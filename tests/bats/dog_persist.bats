#!/usr/bin/env bats
# Restart persistence: format, vdis, snapshots and data survive a sheep
# restart (clean TERM stop, and SIGKILL after acknowledged writes).

load lib/common
load lib/dog

MiB=1048576

setup() {
	dog_setup_formatted -c 1
	sd_dog vdi create keep 16M
	dog_random_file "$DOG_TMP/A" $((6 * MiB + 5))
	sd_dog vdi write keep 3M <"$DOG_TMP/A"
	sd_dog vdi snapshot -s before keep
	dog_random_file "$DOG_TMP/B" $((2 * MiB))
	sd_dog vdi write keep 5M <"$DOG_TMP/B"
	sd_dog vdi create other 1G
	sd_dog vdi snapshot other
	sd_dog vdi clone -s 1 other kid
	sd_dog vdi create gone 8M
	sd_dog vdi write gone 0 <"$DOG_TMP/B"
	sd_dog vdi delete gone
	sd_dog vdi read keep >"$DOG_TMP/keep.cur"
	sd_dog vdi read -s before keep >"$DOG_TMP/keep.snap"
	sd_dog vdi list -r >"$DOG_TMP/list"
	sd_dog cluster info | grep '^Cluster created at' >"$DOG_TMP/created"
}

teardown() {
	dog_teardown
}

# Everything recorded in setup() is still there, byte for byte.
check_state() {
	sd_dog vdi list -r >"$DOG_TMP/list2"
	dog_same "$DOG_TMP/list2" "$DOG_TMP/list"
	run sd_dog cluster info
	[ "${lines[0]}" = "Cluster status: running, auto-recovery enabled" ]
	[ "${lines[1]}" = "$(cat "$DOG_TMP/created")" ]
	sd_dog vdi read keep >"$DOG_TMP/r1"
	dog_same "$DOG_TMP/r1" "$DOG_TMP/keep.cur"
	sd_dog vdi read -s before keep >"$DOG_TMP/r2"
	dog_same "$DOG_TMP/r2" "$DOG_TMP/keep.snap"
	[ -z "$(dog_list_raw_line gone =)" ]
}

# The store keeps working after the restart: new vdis, writes, COW.
check_usable() {
	sd_dog vdi create fresh 8M
	sd_dog vdi write fresh 1M <"$DOG_TMP/B"
	sd_dog vdi read fresh 1M 2M >"$DOG_TMP/r3"
	dog_same "$DOG_TMP/r3" "$DOG_TMP/B"
	# object 0 is still shared with the snapshot: this write is a COW
	sd_dog vdi write keep 0 <"$DOG_TMP/B"
	sd_dog vdi read -s before keep >"$DOG_TMP/r4"
	dog_same "$DOG_TMP/r4" "$DOG_TMP/keep.snap"
	cp "$DOG_TMP/keep.cur" "$DOG_TMP/keep.new"
	dog_overlay "$DOG_TMP/keep.new" "$DOG_TMP/B" 0
	sd_dog vdi read keep >"$DOG_TMP/r6"
	dog_same "$DOG_TMP/r6" "$DOG_TMP/keep.new"
	run sd_dog vdi create keep 1G
	[ "$status" -eq 1 ]
	[[ "$output" == *"VDI exists already"* ]]
}

@test "persist: clean stop and restart on the same store" {
	sheep_stop
	sheep_start "$DOG_TMP/store"
	check_state
	check_usable
}

@test "persist: restart on another port" {
	local old=$SHEEP_PORT
	sheep_stop
	sheep_start "$DOG_TMP/store" "$(sd_free_port)"
	[ "$SHEEP_PORT" != "$old" ]
	check_state
	run sd_dog node list -r
	[ "$output" = "0 127.0.0.1:$SHEEP_PORT 128 16777343" ]
}

@test "persist: SIGKILL after acknowledged writes loses nothing" {
	sheep_stop KILL
	sheep_start "$DOG_TMP/store"
	check_state
	check_usable
	# and once more after the post-restart writes
	sd_dog vdi read keep >"$DOG_TMP/keep.cur"
	sd_dog vdi list -r >"$DOG_TMP/list"
	sheep_stop KILL
	sheep_start "$DOG_TMP/store"
	sd_dog vdi list -r >"$DOG_TMP/list2"
	dog_same "$DOG_TMP/list2" "$DOG_TMP/list"
	sd_dog vdi read keep >"$DOG_TMP/r5"
	dog_same "$DOG_TMP/r5" "$DOG_TMP/keep.cur"
}
