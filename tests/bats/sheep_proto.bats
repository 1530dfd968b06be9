#!/usr/bin/env bats
# sheep over the wire, driven by sd-raw: status before format, version
# checks, admin ops, vdi ops, object I/O with COW and READONLY, pipelining.

load lib/common
load lib/raw

setup() {
	STORE=$(sd_tmpdir)
	sheep_start_any "$STORE"
}

teardown() {
	local rc=0
	sheep_stop || rc=$?
	rm -rf "$STORE"
	[ "$rc" -eq 0 ]
}

@test "before format: non-force ops get WAIT_FOR_FORMAT, force ops answer" {
	run sd_raw req 0x11 --name test --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x16 ]
	run sd_raw req 0x02 --oid 0x007c2b2500000000 --len 16
	[ "$(sd_field result "$output")" = 0x16 ]
	run sd_raw req 0x86
	[ "$(sd_field result "$output")" = 0x16 ]
	run sd_raw req 0xb0 --oid 0x807c2b2500000000
	[ "$(sd_field result "$output")" = 0x16 ]
	# force ops
	run sd_raw req 0x82 --len 491520
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field epoch "$output")" = 0 ]
	run sd_raw req 0x87 --len 48
	[ "$(sd_field result "$output")" = 0x16 ]
	[ "$(sd_field data_length "$output")" = 0 ]
	run sd_raw req 0xbe --len 491568 --hex 24
	[ "$(sd_field result "$output")" = 0x00 ]
	# proto 0x0a, status WAIT (2) at byte 20, ctime 0
	[[ "$(sd_field data "$output")" =~ ^0a.{14}0000000000000000.{8}02 ]]
	run sd_raw req 0x15 --len 2097152
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data_length "$output")" = 2097152 ]
	run sd_raw req 0x18
	[ "$(sd_field result "$output")" = 0x00 ]
}

@test "protocol version checks" {
	sd_format
	# admin op with a client version
	run sd_raw req 0x82 --len 491520 --proto 2
	[ "$(sd_field result "$output")" = 0x14 ]
	# client op with a version above 2
	run sd_raw req 0x14 --name x --proto 3
	[ "$(sd_field result "$output")" = 0x14 ]
	# 0, 1, 2 accepted for client ops (tgt sends 1, RELEASE_VDI 0)
	for v in 0 1 2; do
		run sd_raw req 0x14 --name nosuch --proto $v
		[ "$(sd_field result "$output")" = 0x08 ]
	done
	run sd_raw req 0x13 --proto 0 --base 0x1234 --type 1
	[ "$(sd_field result "$output")" = 0x00 ]
	# replies echo id and opcode
	run sd_raw req 0x14 --name nosuch --id 0xdeadbeef
	[ "$(sd_field id "$output")" = 3735928559 ]
	[ "$(sd_field opcode "$output")" = 0x14 ]
}

@test "format and cluster admin ops" {
	run sd_raw req 0x84 --str tree
	[ "$(sd_field result "$output")" = 0x8a ]
	run sd_raw req 0x90 --len 64 --hex 7
	[ "$(sd_field data "$output")" = 706c61696e2000 ]
	sd_format --cshift 23
	run sd_raw req 0x18
	[ "$(sd_field cd_copies "$output")" = 1 ]
	[ "$(sd_field cd_shift "$output")" = 23 ]
	[ "$(sd_field epoch "$output")" = 1 ]
	# CLUSTER_INFO: status OK, AUTO_VNODES set in flags (byte 16), shift 23 at byte 21
	run sd_raw req 0xbe --len 491568 --hex 22
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data_length "$output")" = 491568 ]
	data=$(sd_field data "$output")
	[ "${data:40:2}" = 01 ]
	[ $(( 0x${data:32:2} & 4 )) -ne 0 ]
	[ "${data:42:2}" = 17 ]
	# STAT_CLUSTER: one epoch record of 48 + 80 bytes, epoch 1
	run sd_raw req 0x87 --len 1280 --nodes-nr 1 --hex 48
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data_length "$output")" = 128 ]
	data=$(sd_field data "$output")
	[ "${data:32:8}" = 01000000 ]
	run sd_raw req 0x87 --len 100 --nodes-nr 1
	[ "$(sd_field result "$output")" = 0x88 ]
	# GET_NODE_LIST: one node, 127.0.0.1 and our port, 128 vnodes
	run sd_raw req 0x82 --len 491520 --hex 80
	[ "$(sd_field nr_nodes "$output")" = 1 ]
	[ "$(sd_field data_length "$output")" = 80 ]
	data=$(sd_field data "$output")
	[ "${data:72:8}" = 7f000001 ]
	[ "${data:80:4}" = "$(printf '%02x%02x' $(( SHEEP_PORT & 255 )) $(( SHEEP_PORT >> 8 )))" ]
	[ "${data:128:4}" = 8000 ]
	run sd_raw req 0x86
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field store_size "$output")" -gt 0 ]
	run sd_raw req 0x98 --oid 0x1
	[ "$(sd_field result "$output")" = 0x00 ]
}

@test "vdi create, lookup, lock, release, delete" {
	sd_format
	vid=$(sd_new_vdi test 41943040)
	[ "$vid" = 0x7c2b25 ]
	run sd_raw req 0x11 --name test --vdi-size 4194304
	[ "$(sd_field result "$output")" = 0x04 ]
	[ "$(sd_vdi_vid test)" = 0x7c2b25 ]
	# LOCK_VDI as tgt sends it (proto 1, name + empty tag, SHARED)
	run sd_raw req 0x12 --proto 1 --name test --tag "" --type 1
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field vdi_id "$output")" = 0x7c2b25 ]
	[ "$(sd_field block_size_shift "$output")" = 22 ]
	[ "$(sd_field copies "$output")" = 1 ]
	run sd_raw req 0x14 --name nosuch
	[ "$(sd_field result "$output")" = 0x08 ]
	# the inode is readable at full size and the bitmap has the bit
	run sd_raw req 0x02 --oid 0x807c2b2500000000 --len 12587576 --hex 5
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data "$output")" = 7465737400 ]
	run sd_raw req 0x15 --len 2097152 --out "$STORE/bm"
	byte=$(od -An -tu1 -j $(( 0x7c2b25 / 8 )) -N1 "$STORE/bm" | tr -d ' ')
	[ $(( byte >> (0x7c2b25 % 8) & 1 )) -eq 1 ]
	run sd_raw req 0x17 --name test
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field vdi_id "$output")" = 0x7c2b25 ]
	run sd_raw req 0x14 --name test
	[ "$(sd_field result "$output")" = 0x08 ]
	run sd_raw req 0xc9 --len 2097152 --out "$STORE/dbm"
	byte=$(od -An -tu1 -j $(( 0x7c2b25 / 8 )) -N1 "$STORE/dbm" | tr -d ' ')
	[ $(( byte >> (0x7c2b25 % 8) & 1 )) -eq 1 ]
}

@test "object I/O: create, read, write, COW, discard, remove, exist" {
	sd_format
	vid=$(sd_new_vdi test 41943040)
	o0=$(sd_data_oid $vid 0)
	o1=$(sd_data_oid $vid 1)
	run sd_raw req 0x02 --oid $o0 --len 16
	[ "$(sd_field result "$output")" = 0x02 ]
	run sd_raw req 0x03 --oid $o0 --fill 0x41:16
	[ "$(sd_field result "$output")" = 0x02 ]
	sd_req_ok 0x01 --oid $o0 --fill 0x41:4096 --offset 4190208
	run sd_raw req 0x02 --oid $o0 --len 8 --offset 4190204 --hex 8
	[ "$(sd_field data "$output")" = 0000000041414141 ]
	[ "$(sd_field data_length "$output")" = 8 ]
	sd_req_ok 0x03 --oid $o0 --fill 0x42:2 --offset 0
	run sd_raw req 0x02 --oid $o0 --len 3 --hex 3
	[ "$(sd_field data "$output")" = 424200 ]
	# zero-length create (dog's preallocation) makes a zero object
	sd_req_ok 0x01 --oid $o1 --flags 1
	run sd_raw req 0x02 --oid $o1 --len 4194304 --hex 4
	[ "$(sd_field data_length "$output")" = 4194304 ]
	[ "$(sd_field data "$output")" = 00000000 ]
	# COW from o0 into another vdi's object
	vid2=$(sd_new_vdi other 41943040)
	c0=$(sd_data_oid $vid2 0)
	sd_req_ok 0x01 --oid $c0 --cow-oid $o0 --flags 3 --fill 0x43:1 --offset 1
	run sd_raw req 0x02 --oid $c0 --len 3 --hex 3
	[ "$(sd_field data "$output")" = 424300 ]
	run sd_raw req 0x02 --oid $c0 --len 4 --offset 4190208 --hex 4
	[ "$(sd_field data "$output")" = 41414141 ]
	run sd_raw req 0x02 --oid $o0 --len 3 --hex 3
	[ "$(sd_field data "$output")" = 424200 ]
	# COW from a missing source
	run sd_raw req 0x01 --oid $(sd_data_oid $vid2 5) --cow-oid $(sd_data_oid $vid 9) --flags 3 --fill 0x1:1
	[ "$(sd_field result "$output")" = 0x02 ]
	# EXIST, REMOVE
	run sd_raw req 0xbd --oid $c0
	[ "$(sd_field result "$output")" = 0x00 ]
	sd_req_ok 0x04 --oid $c0
	run sd_raw req 0xbd --oid $c0
	[ "$(sd_field result "$output")" = 0x02 ]
	# DISCARD: the entry is cleared and the unreferenced object goes
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 4664 --hexdata "$(printf '%02x%02x%02x00' $(( vid & 255 )) $(( vid >> 8 & 255 )) $(( vid >> 16 )))"
	sd_req_ok 0x05 --oid $o0
	run sd_raw req 0x02 --oid $(sd_vdi_oid $vid) --len 4 --offset 4664 --hex 4
	[ "$(sd_field data "$output")" = 00000000 ]
	run sd_raw req 0xbd --oid $o0
	[ "$(sd_field result "$output")" = 0x02 ]
	# FLUSH_VDI and cache no-ops
	sd_req_ok 0x16 --oid $(sd_vdi_oid $vid)
	sd_req_ok 0xb0 --oid $(sd_vdi_oid $vid)
}

@test "EXT_CMP_WRITE_OBJ: probe, a hole compared as zeros and recorded in the index, MISCOMPARE offset, COW from the parent, bad requests" {
	sd_format
	vid=$(sd_new_vdi cw 41943040)
	o0=$(sd_data_oid $vid 0)
	hex() { head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "0x$1")" | od -An -v -tx1 | tr -d ' \n'; }
	# the probe (WRITE flag, no payload) touches nothing
	sd_req_ok 0xf1 --oid $o0 --flags 1 --len 0
	run sd_raw req 0xbd --oid $o0
	[ "$(sd_field result "$output")" = 0x02 ]
	# a hole: zeros compare equal, the object is created, the index says so
	sd_req_ok 0xf1 --oid $o0 --offset 512 --hexdata "$(hex 00 16)$(hex 41 16)"
	run sd_raw req 0x02 --oid $o0 --len 4 --offset 510 --hex 4
	[ "$(sd_field data "$output")" = 00004141 ]
	entry=$(printf '%02x%02x%02x00' $((vid & 255)) $((vid >> 8 & 255)) $((vid >> 16)))
	run sd_raw req 0x02 --oid $(sd_vdi_oid $vid) --len 4 --offset 4664 --hex 4
	[ "$(sd_field data "$output")" = "$entry" ]
	# stale compare: MISCOMPARE (0xf0), rsp.obj.offset (the low half shows as
	# vdi_id) = first differing byte, nothing written
	run sd_raw req 0xf1 --oid $o0 --offset 512 --hexdata "$(hex 41 5)42$(hex 41 10)$(hex 43 16)"
	[ "$(sd_field result "$output")" = 0xf0 ]
	[ "$(sd_field vdi_id "$output")" = 0x000005 ]
	run sd_raw req 0x02 --oid $o0 --len 2 --offset 512 --hex 2
	[ "$(sd_field data "$output")" = 4141 ]
	sd_req_ok 0xf1 --oid $o0 --offset 512 --hexdata "$(hex 41 16)$(hex 43 16)"
	run sd_raw req 0x02 --oid $o0 --len 2 --offset 527 --hex 2
	[ "$(sd_field data "$output")" = 4300 ]
	# a snapshot: its object is READONLY; the new working vdi's entry is
	# the snapshot's, compared against the snapshot's object (COW)
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 256 --tag s1 >/dev/null
	out=$(sd_req_ok 0x11 --name cw --vdi-size 41943040 --base $vid --snapid 1)
	vid2=$(( $(sd_field vdi_id "$out") ))
	run sd_raw req 0xf1 --oid $o0 --offset 512 --hexdata "$(hex 43 16)$(hex 44 16)"
	[ "$(sd_field result "$output")" = 0x1a ]
	c0=$(sd_data_oid $vid2 0)
	run sd_raw req 0xf1 --oid $c0 --offset 512 --hexdata "$(hex 00 16)$(hex 44 16)"
	[ "$(sd_field result "$output")" = 0xf0 ]
	sd_req_ok 0xf1 --oid $c0 --offset 512 --hexdata "$(hex 43 16)$(hex 44 16)"
	run sd_raw req 0x02 --oid $c0 --len 4 --offset 510 --hex 4
	[ "$(sd_field data "$output")" = 00004444 ]
	run sd_raw req 0x02 --oid $o0 --len 4 --offset 510 --hex 4
	[ "$(sd_field data "$output")" = 00004343 ]
	# bad requests: odd length, an inode, past the object, no WRITE flag
	run sd_raw req 0xf1 --oid $o0 --hexdata 000000
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0xf1 --oid $(sd_vdi_oid $vid) --hexdata 0000
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0xf1 --oid $o0 --offset 4194303 --hexdata 00000000
	[ "$(sd_field result "$output")" = 0x05 ]
	run sd_raw req 0xf1 --oid $o0 --flags 0 --len 2
	[ "$(sd_field result "$output")" = 0x05 ]
}

@test "GET_HASH: SHA-1 of the whole object, NO_OBJ when missing, EIO when short" {
	local o0 o1 want
	sd_format
	vid=$(sd_new_vdi hashme 41943040 )
	o0=$(sd_data_oid $vid 0)
	o1=$(sd_data_oid $vid 1)
	sd_req_ok 0x01 --oid $o0 --fill 0x5a:4096 --offset 8192 >/dev/null
	sd_req_ok 0x02 --oid $o0 --len 4194304 --out "$STORE/o0.bin" >/dev/null
	want=$(sha1sum "$STORE/o0.bin" | cut -d' ' -f1)
	run sd_raw req 0xb4 --oid $o0
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field digest "$output")" = "$want" ]
	# the digest follows the content
	sd_req_ok 0x03 --oid $o0 --fill 0x01:1 >/dev/null
	run sd_raw req 0xb4 --oid $o0
	[ "$(sd_field digest "$output")" != "$want" ]
	# the inode is hashed over its full 12587576 bytes
	sd_req_ok 0x02 --oid $(sd_vdi_oid $vid) --len 12587576 --out "$STORE/ino.bin" >/dev/null
	run sd_raw req 0xb4 --oid $(sd_vdi_oid $vid)
	[ "$(sd_field digest "$output")" = "$(sha1sum "$STORE/ino.bin" | cut -d' ' -f1)" ]
	run sd_raw req 0xb4 --oid $o1
	[ "$(sd_field result "$output")" = 0x02 ]
	# a truncated object cannot be hashed whole
	sd_req_ok 0x01 --oid $o1 --flags 1 >/dev/null
	truncate -s 1000 "$STORE/obj/$(printf '%016x' $o1)"
	run sd_raw req 0xb4 --oid $o1
	[ "$(sd_field result "$output")" = 0x03 ]
	sheep_alive
}

@test "snapshot: old data objects become READONLY, new working vdi inherits the index" {
	sd_format
	vid=$(sd_new_vdi snappy 41943040)
	o0=$(sd_data_oid $vid 0)
	sd_req_ok 0x01 --oid $o0 --fill 0x61:512
	entry=$(printf '%02x%02x%02x00' $(( vid & 255 )) $(( vid >> 8 & 255 )) $(( vid >> 16 )))
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 4664 --hexdata "$entry"
	# dog's sequence: write the tag into the working inode, then NEW_VDI snapid=1
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 256 --tag snap1
	out=$(sd_req_ok 0x11 --name snappy --vdi-size 41943040 --base $vid --snapid 1)
	new=$(sd_field vdi_id "$out")
	[ "$new" != "$vid" ]
	[ "$(sd_vdi_vid snappy)" = "$new" ]
	[ "$(sd_vdi_vid snappy snap1)" = "$vid" ]
	run sd_raw req 0x03 --oid $o0 --fill 0x62:1
	[ "$(sd_field result "$output")" = 0x1a ]
	run sd_raw req 0x01 --oid $o0 --fill 0x62:1
	[ "$(sd_field result "$output")" = 0x1a ]
	# the new inode points at the snapshot's object; COW into the new vdi works
	run sd_raw req 0x02 --oid $(sd_vdi_oid $new) --len 4 --offset 4664 --hex 4
	[ "$(sd_field data "$output")" = "$entry" ]
	# a header write that clears snap_ctime makes the objects writable again
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 520 --fill 0:8 >/dev/null
	sd_req_ok 0x03 --oid $o0 --fill 0x61:1 >/dev/null
	sd_req_ok 0x03 --oid $(sd_vdi_oid $vid) --offset 516 --hexdata 0000000001000000 >/dev/null
	run sd_raw req 0x03 --oid $o0 --fill 0x62:1
	[ "$(sd_field result "$output")" = 0x1a ]
	sd_req_ok 0x01 --oid $(sd_data_oid $new 0) --cow-oid $o0 --flags 0x27 --fill 0x62:1
	run sd_raw req 0x02 --oid $(sd_data_oid $new 0) --len 2 --hex 2
	[ "$(sd_field data "$output")" = 6261 ]
	run sd_raw req 0x02 --oid $o0 --len 2 --hex 2
	[ "$(sd_field data "$output")" = 6161 ]
}

@test "pipelined requests on one TCP connection are all answered, matched by id" {
	sd_format
	vid=$(sd_new_vdi pipe 41943040)
	run sd_raw pipeline --vid $vid --objects 8 --count 3000 --size 4096 --errors
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^ok\ requests=6008 ]]
	run sd_raw pipeline --vid $vid --objects 4 --count 200 --size 65536
	[ "$status" -eq 0 ]
}

@test "a client that half-closes after its request still gets the reply" {
	sd_format
	vid=$(sd_new_vdi half 8388608)
	sd_req_ok 0x01 --oid $(sd_data_oid $vid 0) --fill 0x48:8 >/dev/null
	run sd_raw req 0x02 --oid $(sd_data_oid $vid 0) --len 4194304 --hex 2 --shut-wr
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field data "$output")" = 4848 ]
	sheep_alive
}

@test "pipelined requests on the UNIX socket" {
	sd_format
	vid=$(sd_new_vdi unixpipe 41943040)
	run timeout 60 "$SD_RAW" -u "$STORE/sock" pipeline --vid $vid --objects 4 --count 1000
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^ok ]]
}

@test "SHUTDOWN: sheep answers, then exits 0" {
	sd_format
	run sd_raw req 0x85
	[ "$(sd_field result "$output")" = 0x00 ]
	for i in $(seq 1 100); do kill -0 "$SHEEP_PID" 2>/dev/null || break; sleep 0.1; done
	sd_refute kill -0 "$SHEEP_PID" 2>/dev/null
	rc=0
	wait "$SHEEP_PID" || rc=$?
	SHEEP_PID=
	[ "$rc" -eq 0 ]
	[ ! -e "$STORE/sheep.pid" ]
}

@test "EXT_HELLO (0xf0): the connection's client id is taken at any version, even before format; a payload is refused" {
	run sd_raw req 0xf0 --oid 0x1234abcd
	[ "$(sd_field result "$output")" = 0x00 ]
	[ "$(sd_field opcode "$output")" = 0xf0 ]
	# no other connection of that client: SD_EXT_HELLO_NEW (re-join)
	[ "$(sd_field hello_flags "$output")" = 0x1 ]
	run sd_raw req 0xf0 --oid 0x1 --proto 2
	[ "$(sd_field result "$output")" = 0x00 ]
	run sd_raw req 0xf0 --oid 0x1 --fill 0x55:8
	[ "$(sd_field result "$output")" = 0x05 ]
	# the form libsheepdog sends (safe against upstream, which crashes on
	# 0xf0): GET_CLUSTER_DEFAULT with the magic in cow_oid; the ack
	# ("HELLOACK") comes back at offset 24, and only for that form
	run sd_raw req 0x18 --oid 0x77 --cow-oid 0x4f4c4c4548545854
	[ "$(sd_field result "$output")" = 0x00 ]
	[[ "$(sd_field digest "$output")" == 48454c4c4f41434b* ]]
	run sd_raw req 0x18 --oid 0x77
	[ "$(sd_field result "$output")" = 0x00 ]
	[[ "$(sd_field digest "$output")" == 0000000000000000* ]]
	sheep_alive
	! grep -q 'unsupported opcode 0xf0' "$STORE/sheep.log"
}
