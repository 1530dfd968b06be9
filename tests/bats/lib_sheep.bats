#!/usr/bin/env bats
# libsheepdog's sync and async API against a real sheep (TCP and UNIX socket),
# cross-checked with dog.

load lib/common

LT="$SD_TOP_BUILDDIR/tests/unit/test_lib_sheep"
# Under SD_WRAP (valgrind) run the real program, not its libtool wrapper.
sd_libtool_unwrap LT

setup() {
	LT_TMP=$(sd_tmpdir)
	sheep_start "$LT_TMP/store"
	run sd_dog cluster format
	[ "$status" -eq 0 ]
}

teardown() {
	sheep_stop || true
	rm -rf "$LT_TMP"
}

@test "libsheepdog: create, open, write/read across objects, snapshot while open (COW), clone, close over TCP" {
	run timeout 300 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *OK* ]]
	# what the library left behind is what dog sees
	run sd_dog vdi list
	[ "$status" -eq 0 ]
	[[ "$output" == *lt* ]]
	[[ "$output" == *pre* ]]
	[[ "$output" != *s1* ]]
	[[ "$output" != *lt-clone* ]]
	# prealloc allocated every object of "pre" (3 x 1 MiB): used == size
	run sd_dog vdi list -r pre
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | awk '$2 == "pre" { print $4 "/" $5 }')" = "3145728/3145728" ]
}

@test "libsheepdog: the same over the UNIX socket" {
	run timeout 300 $SD_WRAP "$LT" "unix:$SHEEP_STORE/sock"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "libsheepdog: data written by dog reads back through the library and vice versa" {
	run sd_dog vdi create x 8M
	[ "$status" -eq 0 ]
	head -c 5000000 /dev/urandom >"$LT_TMP/in"
	sd_dog vdi write x 1000 5000000 <"$LT_TMP/in"
	timeout 120 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --read x 1000 5000000 >"$LT_TMP/out"
	cmp "$LT_TMP/in" "$LT_TMP/out"
	# and the other way, into unallocated objects and across a boundary
	head -c 3000000 /dev/urandom >"$LT_TMP/in2"
	timeout 120 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --write x 3000000 3000000 <"$LT_TMP/in2"
	sd_dog vdi read x 3000000 3000000 >"$LT_TMP/out2"
	cmp "$LT_TMP/in2" "$LT_TMP/out2"
	# the part dog wrote before 3000000 is intact
	sd_dog vdi read x 1000 2999000 >"$LT_TMP/out3"
	cmp <(head -c 2999000 "$LT_TMP/in") "$LT_TMP/out3"
}

@test "libsheepdog: writes in flight survive a sheep crash and restart (reconnect + resend)" {
	run sd_dog vdi create soak 16M
	[ "$status" -eq 0 ]
	timeout 120 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --soak soak 8 >"$LT_TMP/soak.out" 2>&1 &
	local lt_pid=$!
	# crash sheep once the writes are flowing
	sd_wait_for 60 grep -q "soak started" "$LT_TMP/soak.out"
	sleep 1
	sheep_stop KILL
	sleep 2
	sheep_start "$LT_TMP/store" "$SHEEP_PORT"
	local rc=0
	wait "$lt_pid" || rc=$?
	cat "$LT_TMP/soak.out"
	[ "$rc" -eq 0 ]
	grep -q "soak OK" "$LT_TMP/soak.out"
	# the crash was seen and survived: requests were resent
	grep -q "requests to resend" "$LT_TMP/soak.out"
}

@test "libsheepdog: the installed headers compile as C99 and as C++" {
	printf '#include <sheepdog/sheepdog.h>\nint main(void) { struct sd_cluster_opts o; sd_cluster_opts_init(&o); return (int)(sd_hash_vdi("x") & 0); }\n' >"$LT_TMP/h.c"
	cc -std=gnu99 -Wall -Wextra -Werror -I"$SD_TOP_SRCDIR/include" -fsyntax-only "$LT_TMP/h.c"
	if ! command -v g++ >/dev/null; then
		skip "no C++ compiler"
	fi
	cp "$LT_TMP/h.c" "$LT_TMP/h.cc"
	g++ -Wall -Wextra -Werror -I"$SD_TOP_SRCDIR/include" -fsyntax-only "$LT_TMP/h.cc"
}

@test "libsheepdog: compare-and-write (sd_vdi_cmp_write): holes, miscompare offsets, COW, two clients on one counter" {
	run sd_dog vdi create cw 16M
	[ "$status" -eq 0 ]
	run timeout 300 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --caw cw
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"caw OK"* ]]
	# the sheep recorded the objects it created in the inode: dog sees them
	[ "$(sd_dog vdi read cw 512 512 | tr -d B | wc -c)" -eq 0 ]
	# two clients, each with its own connection, 300 compare-and-swap
	# increments each of the counter at 4 MiB + 4096: none is lost
	local ctr=$((4 * 1048576 + 4096)) pa pb rc_a=0 rc_b=0
	timeout 300 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --caw-hammer cw $ctr >"$LT_TMP/a" 2>&1 &
	pa=$!
	timeout 300 $SD_WRAP "$LT" "unix:$SHEEP_STORE/sock" --caw-hammer cw $ctr >"$LT_TMP/b" 2>&1 &
	pb=$!
	wait $pa || rc_a=$?
	wait $pb || rc_b=$?
	cat "$LT_TMP/a" "$LT_TMP/b"
	[ $rc_a -eq 0 ] && [ $rc_b -eq 0 ]
	grep -q "hammer: 300 increments" "$LT_TMP/a"
	grep -q "hammer: 300 increments" "$LT_TMP/b"
	[ "$(sd_dog vdi read cw $ctr 8 | od -An -t u8 | tr -d ' ')" = 600 ]
}

@test "libsheepdog: vdi attributes (sd_vdi_setattr/getattr), cross-checked with dog" {
	run sd_dog vdi create av 8M
	[ "$status" -eq 0 ]
	run timeout 120 $SD_WRAP "$LT" "127.0.0.1:$SHEEP_PORT" --attr av
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"attr OK"* ]]
	# what the library set, dog reads; what dog sets, the library sees
	[ "$(sd_dog vdi getattr av from-lib)" = lib-value ]
	run sd_dog vdi setattr -x av k nope
	[ "$status" -eq 3 ]
	[ "$(sd_dog vdi getattr av k)" = back ]
}
