#!/usr/bin/env bats
# sheepfs: the FUSE file system over libsheepdog.  Each test starts its own
# sheep and mounts sheepfs (foreground, by PID) on a private directory; the
# info files, attaching vdis and snapshots, the volume file against dog,
# concurrent readers and writers, errors (unknown vdi, read-only snapshot, a
# sheep that is gone), reconnecting through config/sheep_info after the sheep
# moved, releasing the vdi locks at unmount, and ext4 on a volume (through a
# loop device where there is one).  Every wait is bounded; teardown unmounts
# and kills by PID even when a test failed.

load lib/common
load lib/dog
load lib/tgtd

SHEEPFS="$SD_TOP_BUILDDIR/sheepfs/sheepfs"
# Under SD_WRAP (valgrind) run the real program, not its libtool wrapper.
sd_libtool_unwrap SHEEPFS
LX="$SD_TOP_BUILDDIR/tests/unit/test_lib_excl"
sd_libtool_unwrap LX
MiB=1048576

setup() {
	# Only sheepfs runs under SD_WRAP here: sheep, dog and the lock probe
	# have their own suites under valgrind, and unwrapped they keep this
	# file quick.  (Here, not at the top: bats sources the file in a
	# parent process too, which must keep SD_WRAP for the next file.)
	SFS_WRAP=$SD_WRAP
	SD_WRAP=
	# sheepfs -t: its request timeout and retry window (longer under valgrind)
	SFS_T=2
	[ -z "$SFS_WRAP" ] || SFS_T=5
	[ -e /dev/fuse ] || skip "no /dev/fuse on this machine"
	command -v fusermount3 >/dev/null || skip "fusermount3 (package fuse3) is not installed"
	dog_setup_formatted
	M="$DOG_TMP/mnt"
	mkdir -p "$M"
	SFS_PID=
	LOOP=
	sd_dog vdi create vol 32M
}

teardown() {
	exec 5<&-
	[ -n "${LOOP:-}" ] && losetup -d "$LOOP" 2>/dev/null
	if [ -n "${SFS_PID:-}" ]; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null || true
		sfs_wait_exit 30 || kill -KILL "$SFS_PID" 2>/dev/null || true
	fi
	tgtd_stop_all || true
	# shown when the test failed
	cat "$DOG_TMP/sheepfs.log" 2>/dev/null || true
	dog_teardown
}

# sfs_start [sheepfs options...]: mount on $M against the test's sheep and
# wait (at most 30 s) until the tree answers.
sfs_start() {
	$SFS_WRAP "$SHEEPFS" "$M" -f -a 127.0.0.1 -p "$SHEEP_PORT" "$@" \
		>>"$DOG_TMP/sheepfs.log" 2>&1 &
	SFS_PID=$!
	sd_wait_for 30 test -e "$M/cluster/info"
}

# sfs_wait_exit SECS: wait for sheepfs to exit; its status in SFS_RC.
sfs_wait_exit() {
	local end=$(($(date +%s) + $1))
	while kill -0 "$SFS_PID" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$end" ]; then
			# where its threads wait, for the failure's output
			local t
			for t in /proc/"$SFS_PID"/task/*; do
				echo "sheepfs thread ${t##*/}: $(cut -d' ' -f3 "$t/stat" 2>/dev/null)" \
					"wchan=$(cat "$t/wchan" 2>/dev/null)" \
					"syscall=$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
			done
			return 1
		fi
		sleep 0.1
	done
	SFS_RC=0
	wait "$SFS_PID" || SFS_RC=$?
	SFS_PID=
}

# sfs_unmount: fusermount3 -u and sheepfs exits 0 within 120 s.  How long
# the exit took, and what sheepfs had logged by then, go to the TAP output
# (fd 3), so CI's log shows them for passing tests too.
sfs_unmount() {
	local t0 t1
	t0=$(date +%s%N)
	timeout 30 fusermount3 -u "$M"
	t1=$(date +%s%N)
	sfs_wait_exit 120
	echo "# sheepfs: unmount $(((t1 - t0) / 1000000)) ms, exit $((($(date +%s%N) - t1) / 1000000)) ms after it;" \
		"last log line: $(tail -n 1 "$DOG_TMP/sheepfs.log")" >&3
	[ "$SFS_RC" -eq 0 ]
	grep -q "exiting with status 0" "$DOG_TMP/sheepfs.log"
}

# lock_held NAME: another gateway's exclusive open of NAME is refused (the
# sheep sees NAME open); lock_free NAME: it succeeds.
lock_held() {
	run timeout 60 "$LX" "127.0.0.1:$SHEEP_PORT" --try "$1" 0
	echo "$output"
	[ "$status" -eq 2 ]
}

lock_free() {
	run timeout 60 "$LX" "127.0.0.1:$SHEEP_PORT" --try "$1" 0
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *opened* ]]
}

# attach SPEC: write it to vdi/mount.
attach() {
	timeout 60 bash -c 'printf "%s\n" "$1" >"$2"' sh "$1" "$M/vdi/mount"
}

@test "sheepfs: the tree and its info files" {
	sfs_start
	run ls "$M"
	[ "$output" = "$(printf 'cluster\nconfig\nnode\nvdi\nvolume')" ]
	run timeout 30 cat "$M/cluster/info"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Cluster status: running, auto-recovery enabled" ]]
	[[ "$output" == *"127.0.0.1:$SHEEP_PORT:"* ]]
	# the same text as dog prints
	[ "$output" = "$(sd_dog cluster info)" ]
	run timeout 30 cat "$M/node/list"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == *"127.0.0.1:$SHEEP_PORT"* ]]
	[ "$output" = "$(sd_dog node list)" ]
	sd_dog vdi snapshot -s tag1 vol
	run timeout 30 cat "$M/vdi/list"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "$output" == *" vol:1"* ]]
	grep -q '^s vol .* tag1 .* 33554432  vol:1$' "$M/vdi/list"
	grep -q '^  vol .* 33554432  vol$' "$M/vdi/list"
	[ "$(cat "$M/config/sheep_info")" = "127.0.0.1:$SHEEP_PORT" ]
	# info files are read-only, mount files write-only, with clear errors
	sd_refute bash -c 'echo x >"$1"' sh "$M/cluster/info"
	sd_refute cat "$M/vdi/mount"
	[ ! -e "$M/volume/vol" ]
	sfs_unmount
}

@test "sheepfs: bad options and an unreachable sheep exit non-zero with a message" {
	run timeout 30 "$SHEEPFS" "$M" -p 70000
	[ "$status" -ne 0 ]
	[[ "$output" == *"invalid port '70000'"* ]]
	run timeout 30 "$SHEEPFS" "$M" -p "$SHEEP_PORT" -t 0
	[ "$status" -ne 0 ]
	[[ "$output" == *"invalid timeout"* ]]
	run timeout 30 "$SHEEPFS" "$M" -p "$(sd_free_port)" -t 2
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot connect to sheep at 127.0.0.1:"* ]]
	# the mount point is checked before connecting
	run timeout 30 "$SHEEPFS" -p "$SHEEP_PORT"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no mount point given"* ]]
	run timeout 30 "$SHEEPFS" "$M/nonexistent" -p "$SHEEP_PORT"
	[ "$status" -eq 2 ]
	[[ "$output" == *"bad mount point"* ]]
	run timeout 30 "$SHEEPFS" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: sheepfs MOUNTPOINT"* ]]
	# nothing was mounted
	sd_refute mountpoint -q "$M"
}

@test "sheepfs: an attached vdi reads as dog reads it, writes land in the vdi" {
	dog_random_file "$DOG_TMP/a" $((5 * MiB + 123))
	sd_dog vdi write vol 3000000 <"$DOG_TMP/a"
	sfs_start
	attach vol
	[ "$(stat -c %s "$M/volume/vol")" -eq $((32 * MiB)) ]
	[ "$(stat -c %a "$M/volume/vol")" = 644 ]
	sd_dog vdi read vol >"$DOG_TMP/dog"
	dog_same "$M/volume/vol" "$DOG_TMP/dog"
	# write through the file at an unaligned offset across an object end, fsync
	dog_random_file "$DOG_TMP/b" $((3 * MiB + 7))
	dd if="$DOG_TMP/b" of="$M/volume/vol" bs=64k oflag=seek_bytes seek=$((4 * MiB - 4097)) \
		conv=notrunc,fsync status=none
	sd_dog vdi read vol $((4 * MiB - 4097)) $((3 * MiB + 7)) >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/b"
	dog_overlay "$DOG_TMP/dog" "$DOG_TMP/b" $((4 * MiB - 4097))
	sd_dog vdi read vol >"$DOG_TMP/dog2"
	dog_same "$DOG_TMP/dog2" "$DOG_TMP/dog"
	# past the end: nothing to read, no room to write
	[ "$(dd if="$M/volume/vol" bs=1 skip=$((32 * MiB)) count=10 status=none | wc -c)" -eq 0 ]
	run dd if=/dev/zero of="$M/volume/vol" bs=512 count=1 seek=$((64 * 1024)) conv=notrunc
	[ "$status" -ne 0 ]
	[[ "$output" == *"No space left on device"* ]]
	# the size is the vdi's: truncate to it is fine, to anything else is EINVAL
	truncate -s 32M "$M/volume/vol"
	run truncate -s 1M "$M/volume/vol"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Invalid argument"* ]]
	grep -q "volume vol: cannot change its size" "$DOG_TMP/sheepfs.log"
	sfs_unmount
}

@test "sheepfs: concurrent readers and writers in several processes" {
	local i pids=()
	sd_dog vdi read vol >"$DOG_TMP/expect"
	sfs_start
	attach vol
	# 4 writers of 3 MiB each, unaligned, over shared object boundaries
	for i in 0 1 2 3; do
		dog_random_file "$DOG_TMP/w$i" $((3 * MiB))
		dog_overlay "$DOG_TMP/expect" "$DOG_TMP/w$i" $((i * 3 * MiB + 1000))
	done
	for i in 0 1 2 3; do
		dd if="$DOG_TMP/w$i" of="$M/volume/vol" bs=128k oflag=seek_bytes \
			seek=$((i * 3 * MiB + 1000)) conv=notrunc status=none &
		pids+=($!)
	done
	# readers at the same time (what they see of the written range races)
	for i in 0 1; do
		timeout 120 cat "$M/volume/vol" >"$DOG_TMP/r$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	sync "$M/volume/vol"
	sd_dog vdi read vol >"$DOG_TMP/dog"
	dog_same "$DOG_TMP/dog" "$DOG_TMP/expect"
	# 4 readers of distinct ranges now all see the written data
	pids=()
	for i in 0 1 2 3; do
		dog_slice "$M/volume/vol" $((i * 3 * MiB + 1000)) $((3 * MiB)) >"$DOG_TMP/c$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in 0 1 2 3; do
		dog_same "$DOG_TMP/c$i" "$DOG_TMP/w$i"
	done
	sfs_unmount
}

@test "sheepfs: unknown names, bad names and a second attach fail clearly" {
	sfs_start
	run attach nosuchvdi
	[ "$status" -ne 0 ]
	[[ "$output" == *"No such file or directory"* ]]
	grep -q "vdi/mount: cannot attach nosuchvdi: no such vdi or snapshot" "$DOG_TMP/sheepfs.log"
	run attach vol@nosuchtag
	[[ "$output" == *"No such file or directory"* ]]
	run attach 'vol:x'
	[[ "$output" == *"Invalid argument"* ]]
	grep -q "is not NAME, NAME@TAG or NAME:SNAPID" "$DOG_TMP/sheepfs.log"
	attach vol
	run attach vol
	[[ "$output" == *"File exists"* ]]
	run timeout 30 bash -c 'echo nosuch >"$1"' sh "$M/vdi/unmount"
	[[ "$output" == *"No such file or directory"* ]]
	[ "$(ls "$M/volume")" = vol ]
	sfs_unmount
}

@test "sheepfs: snapshots attach read-only by tag and by id" {
	# 8 MiB: the file is read whole four times (slow under valgrind)
	sd_dog vdi create sv 8M
	dog_random_file "$DOG_TMP/s" $((2 * MiB))
	sd_dog vdi write sv $MiB <"$DOG_TMP/s"
	sd_dog vdi snapshot -s snap1 sv
	# the working vdi moves on; the snapshot keeps the old bytes
	dog_random_file "$DOG_TMP/n" $MiB
	sd_dog vdi write sv $MiB <"$DOG_TMP/n"
	sd_dog vdi read -s snap1 sv >"$DOG_TMP/snap"
	sfs_start
	attach sv@snap1
	attach sv:1
	attach sv
	[ "$(stat -c %a "$M/volume/sv@snap1")" = 444 ]
	dog_same "$M/volume/sv@snap1" "$DOG_TMP/snap"
	dog_same "$M/volume/sv:1" "$DOG_TMP/snap"
	sd_refute cmp -s "$M/volume/sv" "$DOG_TMP/snap"
	run dd if=/dev/zero of="$M/volume/sv@snap1" bs=4k count=1 conv=notrunc
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	run truncate -s 8M "$M/volume/sv:1"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	dog_same "$M/volume/sv@snap1" "$DOG_TMP/snap"
	sfs_unmount
}

@test "sheepfs: a sheep that is gone gives EIO; config/sheep_info moves to where it went" {
	local old=$SHEEP_PORT new
	sfs_start -t "$SFS_T"
	attach vol
	dog_random_file "$DOG_TMP/a" $MiB
	dd if="$DOG_TMP/a" of="$M/volume/vol" bs=64k conv=notrunc,fsync status=none
	sheep_stop
	# a write goes to sheepfs and fails within the retry window, no hang
	SECONDS=0
	run timeout 120 dd if="$DOG_TMP/a" of="$M/volume/vol" bs=64k seek=64 conv=notrunc,fsync
	echo "$output"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	[ "$SECONDS" -le $((3 * SFS_T + 10)) ]
	# so does a read of written data past the page cache, and an info file
	# (unwritten ranges read as zeros from the handle's index, no request)
	SECONDS=0
	run timeout 120 dd if="$M/volume/vol" of=/dev/null bs=64k count=1 iflag=direct
	echo "$output"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	run timeout 120 cat "$M/cluster/info"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	[ "$SECONDS" -le $((6 * SFS_T + 20)) ]
	# a new address that does not answer: EIO, the old connection stays
	run timeout 60 bash -c 'echo "127.0.0.1:$2" >"$1"' sh "$M/config/sheep_info" "$(sd_free_port)"
	[ "$status" -ne 0 ]
	[ "$(cat "$M/config/sheep_info")" = "127.0.0.1:$old" ]
	# the sheep comes back on another port, with its store
	new=$(sd_free_port)
	sheep_start "$DOG_TMP/store" "$new"
	timeout 60 bash -c 'echo "127.0.0.1:$2" >"$1"' sh "$M/config/sheep_info" "$new"
	[ "$(cat "$M/config/sheep_info")" = "127.0.0.1:$new" ]
	grep -q "reconnected from 127.0.0.1:$old to 127.0.0.1:$new (1 volumes)" "$DOG_TMP/sheepfs.log"
	[[ "$(cat "$M/cluster/info")" == *"127.0.0.1:$new:"* ]]
	# the attached volume works on the new connection: write, read back with dog
	dog_random_file "$DOG_TMP/b" $MiB
	dd if="$DOG_TMP/b" of="$M/volume/vol" bs=64k seek=128 conv=notrunc,fsync status=none
	sd_dog vdi read vol $((8 * MiB)) $MiB >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/b"
	sd_dog vdi read vol 0 $MiB >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/a"
	dog_slice "$M/volume/vol" $((8 * MiB)) $MiB >"$DOG_TMP/back2"
	dog_same "$DOG_TMP/back2" "$DOG_TMP/b"
	# and holds the vdi on the new sheep until unmount
	lock_held vol
	sfs_unmount
	lock_free vol
}

@test "sheepfs: config/sheep_info while writers and readers are busy loses nothing" {
	local i n=0 wpid rpid
	sfs_start
	attach vol
	dog_random_file "$DOG_TMP/a" $((6 * MiB))
	# small writes keep many requests going while the connection moves
	dd if="$DOG_TMP/a" of="$M/volume/vol" bs=4k oflag=direct conv=notrunc status=none &
	wpid=$!
	# (the reader stops at a file, not a signal: a killed loop would leave
	# its cat reading, holding the volume open when the unmount comes)
	timeout 120 sh -c 'while [ ! -e "$2" ]; do cat "$1" >/dev/null || exit 1; done' sh \
		"$M/volume/vol" "$DOG_TMP/stop-reader" &
	rpid=$!
	for i in 1 2 3 4 5; do
		timeout 60 bash -c 'echo "$2" >"$1"' sh "$M/config/sheep_info" "127.0.0.1:$SHEEP_PORT"
		n=$((n + 1))
	done
	# the moves happened under load: the writer is still at it
	kill -0 "$wpid"
	wait "$wpid"
	# the reader ends its pass and exits 0: none of its reads failed
	touch "$DOG_TMP/stop-reader"
	wait "$rpid"
	[ "$(grep -c "reconnected from" "$DOG_TMP/sheepfs.log")" -eq "$n" ]
	sync "$M/volume/vol"
	sd_dog vdi read vol 0 $((6 * MiB)) >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/a"
	lock_held vol
	sfs_unmount
	lock_free vol
}

@test "sheepfs: vdi/unmount and fusermount3 -u close the vdis and release their locks" {
	sd_dog vdi create vol2 8M
	sfs_start
	attach vol
	attach vol2
	lock_held vol
	lock_held vol2
	# an open volume cannot be detached
	exec 5<"$M/volume/vol2"
	run timeout 30 bash -c 'echo vol2 >"$1"' sh "$M/vdi/unmount"
	[[ "$output" == *"Device or resource busy"* ]]
	exec 5<&-
	timeout 30 bash -c 'echo vol2 >"$1"' sh "$M/vdi/unmount"
	[ ! -e "$M/volume/vol2" ]
	lock_free vol2
	# I/O done, then unmount: sheepfs flushes, closes and exits 0
	dog_random_file "$DOG_TMP/a" $MiB
	dd if="$DOG_TMP/a" of="$M/volume/vol" bs=64k conv=notrunc status=none
	lock_held vol
	sfs_unmount
	grep -q "detached vol$" "$DOG_TMP/sheepfs.log"
	grep -q "unmounted" "$DOG_TMP/sheepfs.log"
	sd_refute mountpoint -q "$M"
	lock_free vol
	sd_dog vdi read vol 0 $MiB >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/a"
}

@test "sheepfs: a tgtd started while it is mounted does not keep it alive after the unmount" {
	sfs_start
	attach vol
	lock_held vol
	# The harness's tgtd runs in a mount namespace of its own, made with
	# a copy of this mount, and FUSE ends the connection only when the
	# last copy goes: the harness drops its copy (lib/tgtd.bash).  Before
	# it did, sheepfs served on until that tgtd ended (CI's ASan phase,
	# next to other suites: exits past 30 s).
	tgtd_start builtin
	sfs_unmount
	kill -0 "$TGTD_PID" # sheepfs exited while tgtd still runs
	lock_free vol
}

@test "sheepfs: ext4 on a volume file, checked by e2fsck, also through a loop device" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 (e2fsprogs) is not installed"
	sfs_start
	attach vol
	timeout 120 mkfs.ext4 -F -q "$M/volume/vol"
	sync "$M/volume/vol"
	run timeout 120 e2fsck -n -f "$M/volume/vol"
	echo "$output"
	[ "$status" -eq 0 ]
	# what dog reads is the same file system
	sd_dog vdi read vol >"$DOG_TMP/img"
	timeout 120 e2fsck -n -f "$DOG_TMP/img"
	if LOOP=$(losetup -f --show "$M/volume/vol" 2>/dev/null); then
		run timeout 120 e2fsck -n -f "$LOOP"
		echo "$output"
		[ "$status" -eq 0 ]
		cmp "$LOOP" "$DOG_TMP/img"
		losetup -d "$LOOP"
		LOOP=
	else
		echo "# no loop device here: checked the volume file only" >&3
	fi
	sfs_unmount
}
