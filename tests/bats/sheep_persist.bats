#!/usr/bin/env bats
# Restart persistence: the format, vdis (working, snapshot, deleted) and
# data survive a clean stop and a SIGKILL.

load lib/common
load lib/raw

setup() {
	STORE=$(sd_tmpdir)
}

teardown() {
	local rc=0
	sheep_stop || rc=$?
	rm -rf "$STORE"
	[ "$rc" -eq 0 ]
}

# Build some state: formatted with shift 21, vdi "keep" with data in objects
# 0 and 3, a snapshot "s1", vdi "gone" deleted.
make_state() {
	sd_format --cshift 21
	KEEP=$(sd_new_vdi keep 20971520)
	entry=$(printf '%02x%02x%02x00' $(( KEEP & 255 )) $(( KEEP >> 8 & 255 )) $(( KEEP >> 16 )))
	sd_req_ok 0x01 --oid $(sd_data_oid $KEEP 0) --fill 0x71:65536 --offset 4096 >/dev/null
	sd_req_ok 0x03 --oid $(sd_vdi_oid $KEEP) --offset 4664 --hexdata "$entry" >/dev/null
	sd_req_ok 0x01 --oid $(sd_data_oid $KEEP 3) --fill 0x72:2097152 >/dev/null
	sd_req_ok 0x03 --oid $(sd_vdi_oid $KEEP) --offset 4676 --hexdata "$entry" >/dev/null
	sd_req_ok 0x03 --oid $(sd_vdi_oid $KEEP) --offset 256 --tag s1 >/dev/null
	out=$(sd_req_ok 0x11 --name keep --vdi-size 20971520 --base $KEEP --snapid 1)
	NEWKEEP=$(sd_field vdi_id "$out")
	GONE=$(sd_new_vdi gone 4194304)
	sd_req_ok 0x17 --name gone >/dev/null
	CTIME_INFO=$(sd_raw req 0xbe --len 491568 --hex 24 | sed -n 's/^data=//p')
}

check_state() {
	run sd_raw req 0xbe --len 491568 --hex 24
	[ "$(sd_field data "$output")" = "$CTIME_INFO" ]
	run sd_raw req 0x18
	[ "$(sd_field cd_shift "$output")" = 21 ]
	[ "$(sd_field epoch "$output")" = 1 ]
	[ "$(sd_vdi_vid keep)" = "$NEWKEEP" ]
	[ "$(sd_vdi_vid keep s1)" = "$KEEP" ]
	run sd_raw req 0x14 --name gone
	[ "$(sd_field result "$output")" = 0x08 ]
	run sd_raw req 0xc9 --len 2097152 --out "$STORE/dbm"
	byte=$(od -An -tu1 -j $(( GONE / 8 )) -N1 "$STORE/dbm" | tr -d ' ')
	[ $(( byte >> (GONE % 8) & 1 )) -eq 1 ]
	# data: both objects complete, object size 2 MiB (shift 21)
	run sd_raw req 0x02 --oid $(sd_data_oid $KEEP 0) --len 8 --offset 4092 --hex 8
	[ "$(sd_field data "$output")" = 0000000071717171 ]
	run sd_raw req 0x02 --oid $(sd_data_oid $KEEP 3) --len 2097152 --hex 4
	[ "$(sd_field data_length "$output")" = 2097152 ]
	[ "$(sd_field data "$output")" = 72727272 ]
	# snapshot semantics survive: old objects are read-only
	run sd_raw req 0x03 --oid $(sd_data_oid $KEEP 0) --fill 1:1
	[ "$(sd_field result "$output")" = 0x1a ]
	# the new working inode still points at the snapshot's objects
	run sd_raw req 0x02 --oid $(sd_vdi_oid $NEWKEEP) --len 16 --offset 4664 --hex 16
	[ "$(sd_field data "$output")" = "${entry}0000000000000000${entry}" ]
	# a new vdi does not reuse a taken VID
	v=$(sd_new_vdi after 4194304)
	[ "$v" != "$KEEP" ] && [ "$v" != "$NEWKEEP" ] && [ "$v" != "$GONE" ]
}

@test "format, vdis and data survive a clean restart" {
	sheep_start_any "$STORE"
	make_state
	sheep_stop
	sheep_start_any "$STORE"
	check_state
}

@test "format, vdis and data survive SIGKILL" {
	sheep_start_any "$STORE"
	make_state
	sheep_stop KILL
	# the pid file stays behind but is not locked any more
	[ -e "$STORE/sheep.pid" ]
	sheep_start_any "$STORE"
	check_state
}

@test "nosync mode: data flushed with FLUSH_VDI survives SIGKILL" {
	sheep_start_any "$STORE" -n
	make_state
	sd_req_ok 0x16 --oid $(sd_vdi_oid $NEWKEEP) >/dev/null
	sheep_stop KILL
	sheep_start_any "$STORE" -n
	check_state
}

@test "an unformatted store stays unformatted across restarts" {
	sheep_start_any "$STORE"
	sheep_stop
	sheep_start_any "$STORE"
	run sd_raw req 0x11 --name x --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x16 ]
	run sd_raw req 0x87 --len 48
	[ "$(sd_field result "$output")" = 0x16 ]
}

@test "a damaged config file stops start-up with a message" {
	sheep_start_any "$STORE"
	sd_format
	sheep_stop
	echo "ctime=garbage" >"$STORE/config"
	run timeout 20 "$SHEEP" -f -b 127.0.0.1 -p "$(sd_free_port)" "$STORE"
	[ "$status" -ne 0 ]
	grep -q "config file is unreadable" "$STORE/sheep.log"
}
