#!/usr/bin/env bats
# nbdkit-sheepdog-plugin against a sheep: what nbdinfo reports, nbdcopy,
# qemu-io and qemu-img convert over NBD checked against `dog vdi read/write`,
# trim and zero freeing whole objects, extents, snapshots read-only, the
# shared and exclusive opens, and clear errors for bad parameters.

load lib/common
load lib/dog
load lib/nbdkit

MiB=1048576
OBJ=4194304

setup() {
	if [ ! -f "$NBD_PLUGIN" ]; then
		command -v nbdkit >/dev/null || skip "nbdkit is not installed"
		echo "nbdkit is installed but the plugin is not built: $NBD_PLUGIN" >&2
		return 1
	fi
	dog_setup_formatted
	sd_dog vdi create nv 20M
	truncate -s 20M "$DOG_TMP/expect"
}

teardown() {
	local rc=0
	nbd_stop_all || rc=$?
	dog_teardown || rc=$?
	return $rc
}

# The objects vdi nv uses, from `dog vdi list -r` (field 5: used bytes).
used() {
	dog_list_field nv = 0 5
}

# The whole vdi through dog equals the expected image.
check_dog() {
	sd_dog vdi read nv >"$DOG_TMP/all"
	dog_same "$DOG_TMP/all" "$DOG_TMP/expect"
}

# `nbdinfo --map` of the export as "offset length type" lines.
nbd_map() {
	timeout 30 nbdinfo --map "$NBD_URI" | awk '{ print $1, $2, $3 }'
}

# qio URI EXPECT ARGS...: qemu-io on URI with ARGS must print EXPECT (a
# grep -E pattern) and no "failed" (qemu-io reports a pattern mismatch or
# an I/O error that way, and may still exit 0 and print "read N/N").
qio() {
	local uri=$1 expect=$2 out; shift 2
	out=$(timeout 60 qemu-io -f raw "$uri" "$@" 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	if grep -q 'failed' <<<"$out"; then return 1; fi
	grep -Eq "$expect" <<<"$out"
}

@test "nbdkit: nbdinfo shows the vdi's size and what the plugin can do" {
	nbd_start a vdi=nv
	run timeout 30 nbdinfo --json "$NBD_URI"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"export-size": 20971520' <<<"$output"
	for f in is_read_only is_rotational can_cache; do
		grep -q "\"$f\": false" <<<"$output"
	done
	for f in can_flush can_fua can_trim can_zero can_fast_zero can_multi_conn; do
		grep -q "\"$f\": true" <<<"$output" || { echo "no $f"; return 1; }
	done
	grep -q '"base:allocation"' <<<"$output"
	# a fresh vdi is one hole, and nothing got allocated by looking
	[ "$(nbd_map)" = "0 20971520 1" ]
	[ "$(used)" = 0 ]
}

@test "nbdkit: nbdcopy round trips against dog vdi write and vdi read" {
	# dog writes across an object boundary; nbdcopy reads it all back
	dog_random_file "$DOG_TMP/p" $((5 * MiB))
	sd_dog vdi write nv $((OBJ - 4096)) <"$DOG_TMP/p"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/p" $((OBJ - 4096))
	nbd_start a vdi=nv
	timeout 60 nbdcopy "$NBD_URI" "$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/expect"
	# holes around the written objects, data where dog wrote (objects 0-2)
	[ "$(nbd_map)" = "0 12582912 0
12582912 8388608 1" ]
	# nbdcopy writes a whole image through the plugin, many requests in
	# flight on several connections (multi-conn); dog reads it back
	dog_random_file "$DOG_TMP/expect" $((20 * MiB))
	timeout 60 nbdcopy --connections=4 --requests=16 "$DOG_TMP/expect" "$NBD_URI"
	check_dog
	[ "$(used)" = $((5 * OBJ)) ]
}

@test "nbdkit: qemu-io writes, FUA, zeroes and reads back over nbd://" {
	nbd_start a vdi=nv
	local q=(timeout 60 qemu-io -f raw "$NBD_URI")
	# a patterned write with FUA straddling objects 1 and 2, unaligned
	qio "$NBD_URI" 'wrote 8000/8000' -c "write -f -P 0xab $((2 * OBJ - 1000)) 8000"
	printf '\xab%.0s' $(seq 1 8000) >"$DOG_TMP/ab"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/ab" $((2 * OBJ - 1000))
	check_dog
	qio "$NBD_URI" 'read 8000/8000' -c "read -P 0xab $((2 * OBJ - 1000)) 8000"
	qio "$NBD_URI" "read $((2 * OBJ - 1000))/" -c "read -P 0 0 $((2 * OBJ - 1000))"
	sd_refute "${q[@]}" -c "read -P 0xab 0 512" 2>&1 | grep -q 'Pattern verification failed'
	# write zeroes without unmap: the range reads as zeros, still allocated
	qio "$NBD_URI" 'wrote 1000/1000' -c "write -z $((2 * OBJ - 500)) 1000"
	head -c 1000 /dev/zero >"$DOG_TMP/z"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/z" $((2 * OBJ - 500))
	check_dog
	[ "$(used)" = $((2 * OBJ)) ]
	# several requests at once from one client (aio), then a flush
	qio "$NBD_URI" 'read 65536/65536' -c "aio_write -P 0x11 0 64k" \
		-c "aio_write -P 0x22 64k 64k" -c "aio_write -P 0x33 128k 64k" -c aio_flush -c flush \
		-c "read -P 0x22 64k 64k"
	for p in 11:0 22:65536 33:131072; do
		printf "\x${p%%:*}%.0s" $(seq 1 65536) >"$DOG_TMP/pp"
		dog_overlay "$DOG_TMP/expect" "$DOG_TMP/pp" "${p#*:}"
	done
	check_dog
}

@test "nbdkit: trim and zero with unmap free whole objects, map shows the holes" {
	dog_random_file "$DOG_TMP/p" $((4 * OBJ))
	sd_dog vdi write nv 0 <"$DOG_TMP/p"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/p" 0
	[ "$(used)" = $((4 * OBJ)) ]
	nbd_start a vdi=nv
	local q=(timeout 60 qemu-io -f raw "$NBD_URI")
	# trim object 1 whole and 4 KiB of object 0's end: one object freed,
	# the partial range zeroed (as UNMAP does)
	qio "$NBD_URI" '^discard .* bytes' -c "discard $((OBJ - 4096)) $((OBJ + 4096))"
	head -c $((OBJ + 4096)) /dev/zero >"$DOG_TMP/z"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/z" $((OBJ - 4096))
	check_dog
	[ "$(used)" = $((3 * OBJ)) ]
	# zero with unmap, and fast (no fallback): object 3 whole leaves too
	qio "$NBD_URI" "wrote $OBJ/$OBJ" -c "write -z -u -n $((3 * OBJ)) $OBJ"
	head -c "$OBJ" /dev/zero >"$DOG_TMP/z"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/z" $((3 * OBJ))
	check_dog
	[ "$(used)" = $((2 * OBJ)) ]
	# a fast zero that would have to write is refused, nothing changes
	run "${q[@]}" -c "write -z -n $((2 * OBJ)) $OBJ"
	echo "$output"
	grep -q 'Operation not supported' <<<"$output"
	check_dog
	[ "$(used)" = $((2 * OBJ)) ]
	# the map: data, hole, data, holes (shared: holes not promised zero)
	[ "$(nbd_map)" = "0 4194304 0
4194304 4194304 1
8388608 4194304 0
12582912 8388608 1" ]
}

@test "nbdkit: qemu-img convert to and from nbd:// matches dog" {
	nbd_start a vdi=nv
	dog_random_file "$DOG_TMP/img" $((20 * MiB))
	# a zero run of two objects in the image: convert may skip or zero it
	head -c $((2 * OBJ)) /dev/zero | dog_overlay "$DOG_TMP/img" /dev/stdin $OBJ
	cp "$DOG_TMP/img" "$DOG_TMP/expect"
	timeout 60 qemu-img convert -n -f raw -O raw "$DOG_TMP/img" "$NBD_URI"
	check_dog
	timeout 60 qemu-img convert -f raw -O raw "$NBD_URI" "$DOG_TMP/out"
	dog_same "$DOG_TMP/out" "$DOG_TMP/expect"
	timeout 60 qemu-img compare -f raw -F raw "$DOG_TMP/img" "$NBD_URI" | grep -q 'identical'
}

@test "nbdkit: a snapshot is exported read-only, by tag and by id" {
	dog_random_file "$DOG_TMP/p" $((3 * MiB))
	sd_dog vdi write nv $MiB <"$DOG_TMP/p"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/p" $MiB
	sd_dog vdi snapshot -s before nv
	# the working vdi moves on
	dog_random_file "$DOG_TMP/q" $MiB
	sd_dog vdi write nv 0 <"$DOG_TMP/q"
	local id
	id=$(sd_dog vdi list -r | awk '$1 == "s" && $2 == "nv" && $10 == "before" { print $3 }')
	[ -n "$id" ]
	nbd_start tag vdi=nv snapshot=before
	local tag_uri=$NBD_URI
	nbd_start id vdi=nv snapshot="$id"
	for u in "$tag_uri" "$NBD_URI"; do
		[ "$(timeout 30 nbdinfo --is read-only "$u"; echo $?)" = 0 ]
		timeout 60 nbdcopy "$u" "$DOG_TMP/snap"
		dog_same "$DOG_TMP/snap" "$DOG_TMP/expect"
		run timeout 60 qemu-io -f raw "$u" -c "write -P 1 0 4096"
		echo "$output"
		[ "$status" -ne 0 ]
		grep -q -i 'read-only\|Operation not permitted\|Permission denied' <<<"$output"
	done
	# the snapshot is unchanged, the working vdi holds the new data
	sd_dog vdi read -s before nv >"$DOG_TMP/all"
	dog_same "$DOG_TMP/all" "$DOG_TMP/expect"
}

@test "nbdkit: bad parameters stop nbdkit at startup with a clear error" {
	nbd_run_bad address="127.0.0.1:$SHEEP_PORT"
	grep -q 'vdi=NAME is required' <<<"$output"
	nbd_run_bad vdi=nope address="127.0.0.1:$SHEEP_PORT"
	grep -q "cannot open vdi 'nope' at 127.0.0.1:$SHEEP_PORT: No such file or directory" <<<"$output"
	nbd_run_bad vdi=nv snapshot=nosuch address="127.0.0.1:$SHEEP_PORT"
	grep -q "cannot open snapshot 'nosuch' of vdi 'nv'" <<<"$output"
	local port
	port=$(sd_free_port)
	nbd_run_bad vdi=nv address="127.0.0.1:$port"
	grep -q "cannot connect to sheep at 127.0.0.1:$port: Connection refused" <<<"$output"
	nbd_run_bad vdi=nv address="127.0.0.1:notaport"
	grep -q "cannot connect to sheep at 127.0.0.1:notaport: Invalid argument" <<<"$output"
	nbd_run_bad vdi=nv adress=x
	grep -q "unknown parameter 'adress'" <<<"$output"
	nbd_run_bad vdi=nv connections=0
	grep -q "connections=0: expected 1 to 64" <<<"$output"
	nbd_run_bad vdi=nv shared=perhaps
	grep -q "shared=perhaps: expected true or false" <<<"$output"
	nbd_run_bad vdi=nv snapshot=0
	grep -q "a snapshot id is 1 to" <<<"$output"
}

@test "nbdkit: two shared exports of one vdi see each other's writes" {
	nbd_start a vdi=nv
	local a=$NBD_URI
	nbd_start b vdi=nv
	# b reads the object a allocates (b's index has it as a hole)
	qio "$a" 'wrote 4096/4096' -c "write -P 0x5a $((OBJ + 512)) 4096"
	qio "$NBD_URI" 'read 4096/4096' -c "read -P 0x5a $((OBJ + 512)) 4096"
	# and the other way, after a trim through a
	qio "$a" '^discard .* bytes' -c "discard $OBJ $OBJ"
	qio "$NBD_URI" 'read 4096/4096' -c "read -P 0 $((OBJ + 512)) 4096"
}

@test "nbdkit: shared=false opens the vdi exclusively and maps holes as zero" {
	nbd_start a vdi=nv shared=false
	[ "$(nbd_map)" = "0 20971520 3" ]
	# a second exporter (or a LUN, or dog vdi write) is refused meanwhile
	nbd_run_bad vdi=nv address="127.0.0.1:$SHEEP_PORT"
	grep -q "cannot open vdi 'nv'.*Device or resource busy" <<<"$output"
	dog_random_file "$DOG_TMP/p" 4096
	sd_refute sd_dog vdi write nv 0 <"$DOG_TMP/p"
	qio "$NBD_URI" 'wrote 4096/4096' -c "write -P 7 0 4096"
	[ "$(nbd_map)" = "0 4194304 0
4194304 16777216 3" ]
	# released when nbdkit exits: dog can write again
	nbd_stop_all
	sd_dog vdi write nv 0 <"$DOG_TMP/p"
}

@test "nbdkit: a sheep restart under a running export: it reconnects, nothing lost" {
	nbd_start a vdi=nv
	qio "$NBD_URI" 'wrote 65536/65536' -c "write -P 0x11 0 64k"
	sheep_stop
	sheep_start "$DOG_TMP/store" "$SHEEP_PORT"
	# the same export, no restart of nbdkit: old data, new writes
	qio "$NBD_URI" 'read 65536/65536' -c "read -P 0x11 0 64k"
	qio "$NBD_URI" 'wrote 65536/65536' -c "write -P 0x22 $OBJ 64k"
	printf '\x11%.0s' $(seq 1 65536) >"$DOG_TMP/a"
	printf '\x22%.0s' $(seq 1 65536) >"$DOG_TMP/b"
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/a" 0
	dog_overlay "$DOG_TMP/expect" "$DOG_TMP/b" "$OBJ"
	check_dog
	grep -q 'connection [0-9]* to 127.0.0.1:'"$SHEEP_PORT"' lost' "$DOG_TMP/a.log"
}
