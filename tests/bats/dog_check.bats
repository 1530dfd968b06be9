#!/usr/bin/env bats
# dog vdi check against our sheep: a clean vdi passes; removed, truncated
# and foreign objects are reported with upstream's messages and exit codes
# (a single node has no other copy to repair from); snapshots; -e.

load lib/common
load lib/dog
load lib/raw

MiB=1048576

setup() {
	dog_setup_formatted -c 1
	sd_dog vdi create v 12M
	dog_random_file "$DOG_TMP/A" $((9 * MiB))
	sd_dog vdi write v 0 <"$DOG_TMP/A"
	VID=$(sd_vdi_vid v)
}

teardown() {
	dog_teardown
}

# dog with stdout in $output (under run) and stderr in $DOG_TMP/err
dog_err_to_file() {
	sd_dog "$@" 2>"$DOG_TMP/err"
}

# oid as upstream prints it (%PRIx64, no padding) and as the store names it
oid_hex() { printf '%x' $(( ($1 << 32) | $2 )); }
oid_file() { printf '%s/store/obj/%016x' "$DOG_TMP" $(( ($1 << 32) | $2 )); }

@test "a clean vdi passes, with nothing on stderr (no progress off a tty)" {
	run dog_err_to_file vdi check v
	[ "$status" -eq 0 ]
	[ "$output" = "finish check&repair v" ]
	[ ! -s "$DOG_TMP/err" ]
	run dog_err_to_file vdi check -e v
	[ "$status" -eq 0 ]
	[ "$output" = "v is fine, no object is missing." ]
}

@test "a removed object is reported, exit 0 as upstream; -e says lost, exit 1" {
	rm "$(oid_file $VID 1)"
	run dog_err_to_file vdi check v
	[ "$status" -eq 0 ]
	[ "$output" = "finish check&repair v" ]
	grep -qx "no node has $(oid_hex $VID 1)" "$DOG_TMP/err"
	[ "$(wc -l <"$DOG_TMP/err")" -eq 1 ]
	run dog_err_to_file vdi check --exist v
	[ "$status" -eq 1 ]
	[[ "$output" == *"oid $(printf '%016x' $(( (VID << 32) | 1 ))) is missing."* ]]
	[[ "$output" == *"v lost 1 object(s)." ]]
	# nothing was "repaired" behind our back: the entry still names the object
	run sd_dog vdi read v 4M 4096
	[ "$status" -ne 0 ]
}

@test "a truncated (corrupt) object fails the check with exit 1" {
	truncate -s 4096 "$(oid_file $VID 2)"
	run dog_err_to_file vdi check v
	[ "$status" -eq 1 ]
	grep -q "^failed to read $(oid_hex $VID 2) from 127.0.0.1:$SHEEP_PORT, " "$DOG_TMP/err"
	[[ "$output" != *"finish check&repair"* ]]
}

@test "an index entry naming a vdi outside the family is reported" {
	local other
	sd_dog vdi create other 12M
	dog_random_file "$DOG_TMP/B" $MiB
	sd_dog vdi write other 0 <"$DOG_TMP/B"
	other=$(sd_vdi_vid other)
	# entry 0 of v now names vdi `other` (which has an object 0)
	sd_req_ok 0x03 --oid $(sd_vdi_oid $VID) --offset 4664 --hexdata \
		"$(printf '%02x%02x%02x00' $(( other & 255 )) $(( other >> 8 & 255 )) $(( other >> 16 )))" >/dev/null
	run dog_err_to_file vdi check v
	[ "$status" -eq 0 ]
	grep -q "^index 0 of v points to vdi $(printf '%x' $other), which is neither v nor one of its ancestors$" "$DOG_TMP/err"
	# the other entries are fine and no object is missing
	sd_refute grep -q "no node has" "$DOG_TMP/err"
	# the vdi `other` itself is clean
	run dog_err_to_file vdi check other
	[ "$status" -eq 0 ]
	[ ! -s "$DOG_TMP/err" ]
}

@test "snapshots: inherited entries are fine; a lost snapshot object shows in both" {
	local snap
	sd_dog vdi snapshot -s s1 v
	snap=$(sd_vdi_vid v s1)
	# rewrite object 0 only: 1 and 2 stay inherited from the snapshot
	dog_random_file "$DOG_TMP/C" 4096
	sd_dog vdi write v 0 <"$DOG_TMP/C"
	run dog_err_to_file vdi check v
	[ "$status" -eq 0 ]
	[ ! -s "$DOG_TMP/err" ]
	run dog_err_to_file vdi check -s s1 v
	[ "$status" -eq 0 ]
	[ "$output" = "finish check&repair v" ]
	[ ! -s "$DOG_TMP/err" ]
	rm "$(oid_file $snap 1)"
	run dog_err_to_file vdi check v
	[ "$status" -eq 0 ]
	grep -qx "no node has $(oid_hex $snap 1)" "$DOG_TMP/err"
	run dog_err_to_file vdi check -s 1 v
	[ "$status" -eq 0 ]
	grep -qx "no node has $(oid_hex $snap 1)" "$DOG_TMP/err"
}

@test "exit codes: unknown vdi or snapshot is 1, usage is 64, no sheep is 2" {
	run dog_err_to_file vdi check nosuch
	[ "$status" -eq 1 ]
	grep -q "FATAL: no inode objects" "$DOG_TMP/err"
	run dog_err_to_file vdi check -s 7 v
	[ "$status" -eq 1 ]
	run sd_dog vdi check
	[ "$status" -eq 64 ]
	run dog_raw vdi check v -a 127.0.0.1 -p 1
	[ "$status" -eq 2 ]
}
