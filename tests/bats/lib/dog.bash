# Helpers for the dog system tests (tests/bats/dog_*.bats).  Loaded after
# lib/common:   load lib/common; load lib/dog
#
# Every daemon is started by PID through sheep_start and stopped by
# sheep_stop; every dog call is bounded by `timeout`.

# dog without the automatic -a/-p of sd_dog (for CLI error tests).
dog_raw() {
	timeout 120 $SD_WRAP "$DOG" "$@"
}

# A fresh store, a sheep on a random port, formatted with extra format args.
dog_setup_formatted() {
	DOG_TMP=$(sd_tmpdir)
	sheep_start "$DOG_TMP/store"
	sd_dog cluster format "$@" >/dev/null
}

dog_teardown() {
	local rc=0
	sheep_stop || rc=$?
	[ -n "${DOG_TMP:-}" ] && rm -rf "$DOG_TMP"
	DOG_TMP=
	return $rc
}

# Random data of $2 bytes into file $1.
dog_random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# Overlay file $2 onto file $1 at byte offset $3 (file $1 keeps its size
# unless the overlay extends it).
dog_overlay() {
	dd if="$2" of="$1" bs=1M oflag=seek_bytes seek="$3" conv=notrunc status=none
}

# Bytes [$2, $2+$3) of file $1 to stdout.
dog_slice() {
	dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}

# Fail with a readable message unless files $1 and $2 are identical.
dog_same() {
	if ! cmp "$1" "$2"; then
		echo "files differ: $1 $2 (sizes $(stat -c %s "$1") $(stat -c %s "$2"))" >&2
		return 1
	fi
}

# The `vdi list -r` line of the working vdi (or snapshot/clone) named $1
# with type $2 ('=' working, 's' snapshot, 'c' clone) and snapshot id $3.
dog_list_raw_line() {
	sd_dog vdi list -r | awk -v n="$1" -v t="$2" -v id="${3:-0}" \
		'$1 == t && $2 == n && $3 == id'
}

# Field $4 (1-based) of that line.
dog_list_field() {
	dog_list_raw_line "$1" "$2" "$3" | awk -v f="$4" '{ print $f }'
}
