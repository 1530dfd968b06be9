#!/usr/bin/env bats
# dog vdi setattr / getattr against our sheep: upstream syntax, messages and
# exit codes; persistence across a sheep restart; attributes go with the vdi.

load lib/common
load lib/dog

setup() {
	dog_setup_formatted -c 1
	sd_dog vdi create v 8M
}

teardown() {
	dog_teardown
}

# dog with stdout in $output (under run) and stderr in $DOG_TMP/err
dog_err_to_file() {
	sd_dog "$@" 2>"$DOG_TMP/err"
}

@test "set, get, replace; getattr prints the value without a newline" {
	run sd_dog vdi setattr v owner alice
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	sd_dog vdi getattr v owner >"$DOG_TMP/out"
	[ "$(od -An -c "$DOG_TMP/out" | tr -d ' \n')" = alice ]
	sd_dog vdi setattr v owner bob
	[ "$(sd_dog vdi getattr v owner)" = bob ]
	sd_dog vdi setattr v other x
	[ "$(sd_dog vdi getattr v owner)" = bob ]
	[ "$(sd_dog vdi getattr v other)" = x ]
}

@test "-x: exclusive create fails with exit 3 when the key exists" {
	run sd_dog vdi setattr -x v k first
	[ "$status" -eq 0 ]
	run dog_err_to_file vdi setattr -x v k second
	[ "$status" -eq 3 ]
	grep -qx "The attribute 'k' already exists" "$DOG_TMP/err"
	[ "$(sd_dog vdi getattr v k)" = first ]
	run sd_dog vdi setattr --exclusive v k2 z
	[ "$status" -eq 0 ]
}

@test "-d deletes; a missing key is exit 5 for getattr and for -d" {
	sd_dog vdi setattr v k val
	run sd_dog vdi setattr -d v k
	[ "$status" -eq 0 ]
	run dog_err_to_file vdi getattr v k
	[ "$status" -eq 5 ]
	grep -qx "Attribute 'k' not found" "$DOG_TMP/err"
	run dog_err_to_file vdi setattr --delete v k
	[ "$status" -eq 5 ]
	grep -qx "Attribute 'k' not found" "$DOG_TMP/err"
	# after a delete, an exclusive create succeeds again
	run sd_dog vdi setattr -x v k again
	[ "$status" -eq 0 ]
	[ "$(sd_dog vdi getattr v k)" = again ]
}

@test "value from stdin when omitted" {
	printf 'line one\nline two' | sd_dog vdi setattr v note
	sd_dog vdi getattr v note >"$DOG_TMP/out"
	printf 'line one\nline two' | cmp - "$DOG_TMP/out"
	# the largest value: 65536 bytes
	head -c 65536 /dev/zero | tr '\0' a >"$DOG_TMP/big"
	sd_dog vdi setattr v big <"$DOG_TMP/big"
	sd_dog vdi getattr v big | cmp - "$DOG_TMP/big"
}

@test "unknown vdi: exit 5, 'VDI not found'; usage errors: exit 64" {
	run dog_err_to_file vdi setattr nosuch k v
	[ "$status" -eq 5 ]
	grep -qx "VDI not found" "$DOG_TMP/err"
	run dog_err_to_file vdi getattr nosuch k
	[ "$status" -eq 5 ]
	grep -qx "VDI not found" "$DOG_TMP/err"
	run sd_dog vdi getattr v
	[ "$status" -eq 64 ]
	run sd_dog vdi setattr v
	[ "$status" -eq 64 ]
}

@test "attributes persist across a sheep restart" {
	local port=$SHEEP_PORT
	sd_dog vdi setattr v k persisted
	sd_dog vdi setattr v gone x
	sd_dog vdi setattr -d v gone
	sheep_stop
	sheep_start "$DOG_TMP/store" "$port"
	[ "$(sd_dog vdi getattr v k)" = persisted ]
	run sd_dog vdi getattr v gone
	[ "$status" -eq 5 ]
}

@test "attributes follow the working vdi across a snapshot, and go with the last vdi of the name" {
	sd_dog vdi setattr v k kept
	sd_dog vdi snapshot -s s1 v
	# the working vdi has a new vid; its attributes are still there
	[ "$(sd_dog vdi getattr v k)" = kept ]
	# deleting the working vdi keeps them while the snapshot lives
	sd_dog vdi delete v
	ls "$DOG_TMP/store/obj" | grep -q '^20'
	sd_dog vdi delete -s s1 v
	[ -z "$(ls "$DOG_TMP/store/obj" | grep '^20')" ]
	# a new vdi of the same name starts without attributes
	sd_dog vdi create v 8M
	run sd_dog vdi getattr v k
	[ "$status" -eq 5 ]
}

@test "deleting a vdi removes its attributes but not another vdi's" {
	sd_dog vdi create w 8M
	sd_dog vdi setattr v k fromv
	sd_dog vdi setattr w k fromw
	sd_dog vdi delete v
	[ "$(sd_dog vdi getattr w k)" = fromw ]
	sd_dog vdi create v 8M
	run sd_dog vdi getattr v k
	[ "$status" -eq 5 ]
}
