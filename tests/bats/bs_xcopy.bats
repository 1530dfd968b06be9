#!/usr/bin/env bats
# EXTENDED COPY (LID1) and RECEIVE COPY RESULTS on bs_sheepdog LUNs: the
# gateway copies between its LUNs through libsheepdog.  Parameter lists are
# built here (xc_cscd / xc_seg / xc_list) and sent with bss-raw; results
# are checked with `dog vdi read` against the iscsi-io pattern.
#
# LUNs of target 1: 1 = vdi src (64M, pattern seed 7), 2 = vdi dst (64M),
# 3 = read-only snapshot of src, 4 = tgt's rdwr store on a file.

load lib/common
load lib/tgtd
load lib/bss

MiB=$((1024 * 1024))

setup_file() {
	command -v python3 >/dev/null || skip "python3 not installed"
}

setup() {
	bss_setup
	bss_vdi_create src 64M
	bss_vdi_create dst 64M
	bss_lun 1 "$(bss_tcp src)"
	bss_lun 2 "$(bss_tcp dst)"
	bss_io 1 --mode write --qd 16 --bs 1M --seed 7 >/dev/null
}

teardown() {
	[ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
	bss_teardown
}

# xc_desig LUN: the LU's 8-byte NAA designator (VPD 0x83) as descriptor hex
# "code set, type, 0, length, designator".
xc_desig() {
	local out
	out=$(bss_raw "$1" 120183010000 --in 256 --dump) || return 1
	python3 - "$out" <<'EOF'
import sys
data = bytes.fromhex(sys.argv[1].split("data=")[1].strip())
page, off = data[4:4 + (data[2] << 8 | data[3])], 0
while off + 4 <= len(page):
    n = page[off + 3]
    if page[off + 1] & 0x3f == 0x03 and n == 8:
        print(page[off:off + 4 + n].hex())
        sys.exit(0)
    off += 4 + n
sys.exit(1)
EOF
}

# xc_cscd DESIGHEX: a 32-byte identification CSCD descriptor (0xE4), block
# device, 512-byte blocks.
xc_cscd() {
	python3 -c '
import sys
d = bytes.fromhex(sys.argv[1])
print((bytes([0xe4, 0, 0, 0]) + d + bytes(24 - len(d)) + bytes([0, 0, 2, 0])).hex())' "$1"
}

# xc_seg SRCIDX DSTIDX BLOCKS SRCLBA DSTLBA: a block -> block segment.
xc_seg() {
	printf '02000018%04x%04x0000%04x%016x%016x' "$1" "$2" "$3" "$4" "$5"
}

# xc_list FILE LISTID FLAGS CSCDHEX SEGHEX: header + descriptors into FILE.
xc_list() {
	python3 -c '
import sys
f, lid, flags, t, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), sys.argv[4], sys.argv[5]
t, s = bytes.fromhex(t), bytes.fromhex(s)
hdr = bytes([lid, flags]) + len(t).to_bytes(2, "big") + bytes(4) + len(s).to_bytes(4, "big") + bytes(4)
open(f, "wb").write(hdr + t + s)' "$@"
}

# xc_send LUN FILE: EXTENDED COPY with FILE as parameter list.
xc_send() {
	local n
	n=$(stat -c %s "$2")
	bss_raw "$1" "$(printf '83000000000000000000%08x0000' "$n")" --out-file "$2"
}

# xc_rcr_cdb SA LISTID: RECEIVE COPY RESULTS for 1024 bytes.
xc_rcr_cdb() {
	printf '84%02x%02x0000000000000000040000' "$1" "$2"
}

# xc_rcr LUN SA LISTID: RECEIVE COPY RESULTS, data dumped.
xc_rcr() {
	bss_raw "$1" "$(xc_rcr_cdb "$2" "$3")" --in 1024 --dump
}

# xc_send_rcr LUN FILE SA LISTID: EXTENDED COPY, then RECEIVE COPY RESULTS
# on the same I_T nexus (results are kept per nexus): each command's status
# line, and its data line when GOOD.
xc_send_rcr() {
	local n
	n=$(stat -c %s "$2")
	bss_raw "$1" "$(printf '83000000000000000000%08x0000' "$n")" --out-file "$2" \
		--then "$(xc_rcr_cdb "$3" "$4")" --then-in 1024 --dump
}

# vdi_matches VDI OFF LEN SEED [PATOFF]: bytes OFF..OFF+LEN of VDI equal the
# pattern of seed SEED at PATOFF (default OFF).
vdi_matches() {
	local pat=${5:-$2}
	cmp <(sd_dog vdi read "$1" "$2" "$3") <(bss_pattern "$pat" "$3" "$4")
}

vdi_zero() {
	cmp <(sd_dog vdi read "$1" "$2" "$3") <(head -c "$3" /dev/zero)
}

@test "bs_xcopy: INQUIRY sets 3PC; OPERATING PARAMETERS lists the limits" {
	run bss_raw 1 120000006000 --in 96 --dump
	[ "$status" -eq 0 ]
	byte5=$(echo "$output" | sed -n 's/^data=//p' | cut -c11-12)
	[ $((0x$byte5 & 0x08)) -ne 0 ]

	run xc_rcr 1 3 0
	echo "$output"
	[[ "$output" == *status=GOOD* ]]
	data=$(echo "$output" | sed -n 's/^data=//p')
	[ "${data:16:4}" = 0010 ]	# max CSCD descriptors 16
	[ "${data:20:4}" = 0040 ]	# max segment descriptors 64
	[ "${data:24:8}" = 00001000 ]	# max descriptor list length 4096
	[ "${data:86:2}" = 02 ]		# 2 implemented descriptor codes: 02, e4
	[ "${data:88:4}" = 02e4 ]
}

@test "bs_xcopy: copy between two LUNs across object boundaries; rest of destination untouched" {
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	# 6 MiB + 512 from src byte 3 MiB - 512 to dst byte 9 MiB + 512:
	# crosses the 4 MiB objects on both sides, unaligned.
	xc_list "$T/p" 1 0 "$t1$t2" "$(xc_seg 0 1 12289 6143 18433)"
	run xc_send_rcr 1 "$T/p" 0 1
	echo "$output"
	# status, empty data line, status, data
	[ "${lines[0]}" = status=GOOD ]
	[ "${lines[2]}" = status=GOOD ]
	data=$(echo "$output" | sed -n 's/^data=//p' | tail -n 1)
	vdi_matches dst $((9 * MiB + 512)) $((6 * MiB + 512)) 7 $((3 * MiB - 512))
	vdi_zero dst 0 $((9 * MiB + 512))
	vdi_zero dst $((15 * MiB + 1024)) $((64 * MiB - 15 * MiB - 1024))

	[ "${data:8:2}" = 01 ]			# completed, good
	[ "${data:10:4}" = 0001 ]		# 1 segment processed
	[ "$((0x${data:16:8}))" -eq $((12289 * 512)) ]	# bytes
}

@test "bs_xcopy: several segments, the last block, sent to a third LUN" {
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	last=$((64 * MiB / 512 - 1))
	segs="$(xc_seg 0 1 8 0 100)$(xc_seg 0 1 1 $last $last)$(xc_seg 0 1 16 200 0)"
	xc_list "$T/p" 2 0 "$t1$t2" "$segs"
	# The copy manager is LUN 2 itself here (the destination).
	run xc_send 2 "$T/p"
	[ "$output" = status=GOOD ]
	vdi_matches dst $((100 * 512)) 4096 7 0
	vdi_matches dst $((last * 512)) 512 7
	vdi_matches dst 0 8192 7 $((200 * 512))
	vdi_zero dst 8192 $((100 * 512 - 8192))
}

@test "bs_xcopy: within one LUN, apart and overlapping in both directions" {
	t1=$(xc_cscd "$(xc_desig 1)")
	xc_list "$T/p" 3 0 "$t1" "$(xc_seg 0 0 2048 0 $((40 * MiB / 512)))"
	run xc_send 1 "$T/p"
	[ "$output" = status=GOOD ]
	vdi_matches src $((40 * MiB)) $MiB 7 0

	# Overlap, destination above the source by 1 MiB: 20 MiB (more than one
	# 16 MiB batch) from 8 MiB to 9 MiB, as memmove.
	xc_list "$T/p" 4 0 "$t1" "$(xc_seg 0 0 40960 $((8 * MiB / 512)) $((9 * MiB / 512)))"
	run xc_send 1 "$T/p"
	[ "$output" = status=GOOD ]
	vdi_matches src $((9 * MiB)) $((20 * MiB)) 7 $((8 * MiB))
	vdi_matches src $((8 * MiB)) $MiB 7

	# Destination below the source.
	xc_list "$T/p" 5 0 "$t1" "$(xc_seg 0 0 40960 $((9 * MiB / 512)) $((2 * MiB / 512)))"
	run xc_send 1 "$T/p"
	[ "$output" = status=GOOD ]
	vdi_matches src $((2 * MiB)) $((20 * MiB)) 7 $((8 * MiB))
}

@test "bs_xcopy: 64 MiB in 2 segments is pipelined (16 chunk requests in flight)" {
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	xc_list "$T/p" 6 0 "$t1$t2" "$(xc_seg 0 1 65535 0 0)$(xc_seg 0 1 1 65535 65535)"
	# 65536 blocks = 32 MiB, twice over the two vdis' halves
	run xc_send 1 "$T/p"
	[ "$output" = status=GOOD ]
	xc_list "$T/p" 7 0 "$t1$t2" "$(xc_seg 0 1 65535 65536 65536)$(xc_seg 0 1 1 131071 131071)"
	run xc_send 1 "$T/p"
	[ "$output" = status=GOOD ]
	cmp <(sd_dog vdi read dst 0 $((64 * MiB))) <(sd_dog vdi read src 0 $((64 * MiB)))
	tgt_lun_del 1 1
	bss_log_has "xcopy: 2 copies, $((64 * MiB)) bytes, at most 16 chunk requests in flight"
}

@test "bs_xcopy: the source LUN deleted while the copy's reads hang: the delete returns, the copy aborts at once, the vdi is released later" {
	# LUN 1 again, through a proxy that delays 100 ms each way: the copy
	# (8 batches, each a round trip to the source) takes over 1.6 s
	port=$(sd_free_port)
	"$SD_TOOLS/sd-proxy" --listen "$port" --target "127.0.0.1:$SHEEP_PORT" --delay 100 \
		--control "$T/ctl" >"$T/proxy.out" 2>"$T/proxy.err" &
	PROXY_PID=$!
	sd_wait_for 10 grep -qx ready "$T/proxy.out"
	tgt_lun_del 1 1
	bss_lun 1 "tcp:127.0.0.1:$port:src"
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	xc_list "$T/p" 15 0 "$t1$t2" "$(xc_seg 0 1 65535 0 0)$(xc_seg 0 1 65535 65535 65535)"
	xc_send 2 "$T/p" >"$T/out" &
	pid=$!
	sleep 0.5
	# the source's sheep stops answering: its reads are out for good
	"$SD_TOOLS/sd-proxy" --control "$T/ctl" --send "blackhole on" >/dev/null
	t0=$(date +%s%N)
	tgt_lun_del 1 1
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "delete took $ms ms"
	[ "$ms" -lt 2000 ]
	# the copy answers without waiting for the sheep (bounded: the
	# library would give up on the reads only after 30 + 10 s)
	for _ in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "copy answered $ms ms after the delete began"
	if kill -0 "$pid" 2>/dev/null; then
		echo "the copy is still waiting for the sheep"
		kill "$pid"
		false
	fi
	wait "$pid"
	cat "$T/out"
	grep -q "key=0x0a asc=0x0d ascq=0x02 csi=[01] sks=0xa00004" "$T/out"
	bss_log_has "its source LU (tid 1 lun 1) was deleted: copy aborted"
	# the copy manager still answers, and a new copy from the gone LUN is refused
	run xc_send 2 "$T/p"
	[[ "$output" == *"key=0x0a asc=0x0d ascq=0x02 csi=0 sks=0xa00004"* ]]
	# the path returns: the deleted LU's close finishes in the background
	"$SD_TOOLS/sd-proxy" --control "$T/ctl" --send "blackhole off" >/dev/null
	bss_log_has "released vdi 'src'"
}

@test "bs_xcopy: beyond capacity, unknown designator, bad index: COPY ABORTED with the segment" {
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	last=$((64 * MiB / 512 - 1))
	# second segment: destination 2 blocks from the last one
	xc_list "$T/p" 8 0 "$t1$t2" "$(xc_seg 0 1 8 0 0)$(xc_seg 0 1 2 0 $last)"
	run xc_send 1 "$T/p"
	echo "$output"
	[[ "$output" == *"key=0x0a asc=0x00 ascq=0x00 csi=1 sks=0xa00014"* ]]
	vdi_zero dst 0 4096	# nothing copied: checked before any data moved

	# the source side; FAILED SEGMENT DETAILS keeps the sense of list 8
	xc_list "$T/p" 8 0 "$t1$t2" "$(xc_seg 0 1 8 $((last + 1)) 0)"
	run xc_send_rcr 1 "$T/p" 4 8
	echo "$output"
	[[ "${lines[0]}" == *"key=0x0a asc=0x00 ascq=0x00 csi=0 sks=0xa0000c"* ]]
	[ "${lines[1]}" = status=GOOD ]
	data=$(echo "$output" | sed -n 's/^data=//p')
	[ "${data:112:2}" = 02 ]	# copy command status: CHECK CONDITION
	[ "${data:124:2}" = 0a ]	# sense key COPY ABORTED

	# a NAA no LU has
	xc_list "$T/p" 9 0 "$t1$(xc_cscd 01030008600000000000abcd)" "$(xc_seg 0 1 8 0 0)"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x0a asc=0x0d ascq=0x02 csi=0"* ]]

	# a CSCD index past the list
	xc_list "$T/p" 9 0 "$t1" "$(xc_seg 0 1 8 0 0)"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x0a asc=0x08 ascq=0x04 csi=0"* ]]
}

@test "bs_xcopy: rdwr LUN as copy target is refused; read-only snapshot: source yes, destination DATA PROTECT" {
	truncate -s 64M "$T/file"
	tgt_lun_new 1 4 "$T/file" rdwr
	sd_dog vdi snapshot -s s1 src
	bss_lun 3 "$(bss_tcp src:s1)"
	t1=$(xc_cscd "$(xc_desig 1)")
	t2=$(xc_cscd "$(xc_desig 2)")
	t3=$(xc_cscd "$(xc_desig 3)")
	t4=$(xc_cscd "$(xc_desig 4)")

	xc_list "$T/p" 10 0 "$t1$t4" "$(xc_seg 0 1 8 0 0)"
	run xc_send 1 "$T/p"
	echo "$output"
	[[ "$output" == *"key=0x0a asc=0x0d ascq=0x02 csi=0 sks=0xa00006"* ]]
	cmp "$T/file" <(head -c $((64 * MiB)) /dev/zero)

	xc_list "$T/p" 11 0 "$t3$t2" "$(xc_seg 0 1 64 0 1000)"
	run xc_send 3 "$T/p"
	[ "$output" = status=GOOD ]
	vdi_matches dst $((1000 * 512)) $((64 * 512)) 7 0

	xc_list "$T/p" 12 0 "$t1$t3" "$(xc_seg 0 1 8 0 0)"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x07 asc=0x27 ascq=0x00"* ]]
}

@test "bs_xcopy: parameter list checks" {
	t1=$(xc_cscd "$(xc_desig 1)")
	seg=$(xc_seg 0 0 8 0 100)
	# truncated segment descriptor
	xc_list "$T/p" 13 0 "$t1" "$seg"
	head -c $((16 + 32 + 27)) "$T/p" >"$T/q"
	run xc_send 1 "$T/q"
	[[ "$output" == *"key=0x05 asc=0x1a ascq=0x00"* ]]
	# unsupported CSCD type, unsupported segment type
	xc_list "$T/p" 13 0 "e0${t1:2}" "$seg"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x05 asc=0x26 ascq=0x07"* ]]
	xc_list "$T/p" 13 0 "$t1" "03${seg:2}"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x05 asc=0x26 ascq=0x09"* ]]
	# 17 CSCD descriptors, 65 segments
	xc_list "$T/p" 13 0 "$(for i in $(seq 17); do echo -n "$t1"; done)" "$seg"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x05 asc=0x26 ascq=0x06"* ]]
	xc_list "$T/p" 13 0 "$t1" "$(for i in $(seq 65); do echo -n "$seg"; done)"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x05 asc=0x26 ascq=0x08"* ]]
	# LIST ID USAGE 01b (reserved), inline data
	xc_list "$T/p" 13 0x08 "$t1" "$seg"
	run xc_send 1 "$T/p"
	[[ "$output" == *"key=0x05 asc=0x26 ascq=0x00"* ]]
	# LID4 service action in the CDB
	run bss_raw 1 83010000000000000000000000100000 --out-byte 0 --out-len 16
	[[ "$output" == *"key=0x05 asc=0x24 ascq=0x00"* ]]
	# empty list, a segment of 0 blocks: nothing to do
	run bss_raw 1 83000000000000000000000000000000
	[ "$output" = status=GOOD ]
	xc_list "$T/p" 14 0 "$t1" "$(xc_seg 0 0 0 0 100)"
	run xc_send_rcr 1 "$T/p" 0 14
	[ "${lines[0]}" = status=GOOD ]
	[ "${lines[2]}" = status=GOOD ]
	[ "$(echo "$output" | sed -n 's/^data=//p' | tail -n 1 | cut -c9-14)" = 010001 ]
	# COPY STATUS of an unknown list id; RECEIVE DATA
	run xc_rcr 1 0 99
	[[ "$output" == *"key=0x05 asc=0x24 ascq=0x00"* ]]
	run xc_rcr 1 1 0
	[[ "$output" == *"key=0x05 asc=0x24 ascq=0x00"* ]]
}

@test "bs_xcopy: iscsi-test-cu ExtendedCopy and ReceiveCopyResults, Inquiry" {
	command -v iscsi-test-cu >/dev/null || skip "iscsi-test-cu not installed"
	sd_skip_heavy "ExtendedCopy, ReceiveCopyResults, Inquiry"
	for fam in ExtendedCopy ReceiveCopyResults Inquiry; do
		run timeout 600 iscsi-test-cu --dataloss -i "$IQN:init1" -I "$IQN:init2" \
			--test "ALL.$fam" "$(tgt_url 1 2)"
		echo "$output" | tail -n 30
		tests=$(echo "$output" | awk '$1 == "tests" { print $3, $5 }')
		asserts=$(echo "$output" | awk '$1 == "asserts" { print $5 }')
		skips=$(echo "$output" | grep -c 'SKIPPED' || true)
		echo "family $fam: ran/failed tests: $tests; failed asserts: $asserts; skips: $skips"
		set -- $tests
		[ "$1" -gt 0 ]
		[ "$2" -eq 0 ]
		[ "$asserts" -eq 0 ]
		# Inquiry.BlockLimits skips on a fully provisioned LU (bs_conformance)
		[ "$skips" -le $([ $fam = Inquiry ] && echo 1 || echo 0) ]
		[ "$status" -eq 0 ]
	done
}

# A re-open (tgtadm --params path=) runs every handler override again on a
# template the reservation check already wraps: INQUIRY once chained to that
# wrapper and recursed until tgtd crashed.
@test "bs_xcopy: after a re-open with path=, INQUIRY keeps 3PC and a copy still runs" {
	run iscsi-inq "$(tgt_url 1 2)"
	echo "$output" | grep -q '^3PC:1'
	tgt_adm --op update --mode logicalunit --tid 1 --lun 2 --params "online=0,path=$(bss_tcp dst)"
	tgt_adm --op update --mode logicalunit --tid 1 --lun 2 --params online=1
	run timeout 20 iscsi-inq "$(tgt_url 1 2)"
	echo "$output" | tail -n 5
	kill -0 "$TGTD_PID"
	[ "$status" -eq 0 ]
	echo "$output" | grep -q '^3PC:1'
	# the wrapped handlers still reach the module: a RECEIVE COPY RESULTS
	# OPERATING PARAMETERS answer, then a second INQUIRY
	run xc_rcr 2 3 0
	echo "$output"
	[[ "$output" == *status=GOOD* ]]
	run timeout 20 iscsi-inq "$(tgt_url 1 2)"
	[ "$status" -eq 0 ]
}
