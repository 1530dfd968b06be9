#!/usr/bin/env bats
# The SCSI identity of a sheepdog LUN (VPD 0x80 unit serial number, VPD 0x83
# T10 vendor id + NAA designators): the same vdi of the same cluster is the
# same device through every gateway and across tgtd restarts; a vdi of the
# same name in another cluster (formatted separately) is another device; a
# snapshot is its own device; --bsopts ident=TEXT overrides it.

load lib/common
load lib/tgtd
load lib/bss

setup() {
	bss_setup
	SHEEP2_PID=
}

teardown() {
	if [ -n "${SHEEP2_PID:-}" ]; then
		kill "$SHEEP2_PID" 2>/dev/null || true
		wait "$SHEEP2_PID" 2>/dev/null || true
	fi
	tgtd_stop_all || true
	bss_teardown
}

# ids URL: prints "SN ID" (the hex of VPD 0x80 and 0x83), fails on error.
ids() {
	local sn id
	sn=$(timeout 60 "$BSS_RAW" "$1" 12018000ff00 --in 255 --dump | sed -n 's/^data=//p')
	id=$(timeout 60 "$BSS_RAW" "$1" 12018300ff00 --in 255 --dump | sed -n 's/^data=//p')
	[ -n "$sn" ] && [ -n "$id" ] || return 1
	echo "$sn $id"
}

@test "bs_identity: the same vdi name in two clusters gives two devices; one cluster, one device" {
	local port2 a b c
	bss_vdi_create vol 16M
	# A second cluster: another sheep, formatted on its own.
	port2=$(sd_free_port)
	mkdir -p "$T/store2"
	$SD_WRAP "$SHEEP" -f -b 127.0.0.1 -p "$port2" "$T/store2" >>"$T/store2/stdout.log" 2>&1 &
	SHEEP2_PID=$!
	sd_wait_for 30 sd_tcp_open "$port2"
	timeout 60 "$DOG" cluster format -a 127.0.0.1 -p "$port2"
	timeout 60 "$DOG" vdi create vol 16M -a 127.0.0.1 -p "$port2"
	bss_lun 1 "$(bss_tcp vol)"
	bss_lun 2 "tcp:127.0.0.1:$port2:vol"
	a=$(ids "$(tgt_url 1 1)")
	b=$(ids "$(tgt_url 1 2)")
	echo "cluster 1: $a"
	echo "cluster 2: $b"
	[ "${a% *}" != "${b% *}" ] # 0x80 differs
	[ "${a#* }" != "${b#* }" ] # 0x83 differs
	# The first cluster's vdi through another address of the same sheep
	# (its unix socket) and another LUN: the same device.
	bss_lun 3 "unix:$SHEEP_STORE/sock:vol"
	c=$(ids "$(tgt_url 1 3)")
	[ "$c" = "$a" ]
}

@test "bs_identity: identical through two tgtds and across a tgtd restart; a snapshot differs" {
	local a b r s
	bss_vdi_create vol 16M
	bss_lun 1 "$(bss_tcp vol)"
	a=$(ids "$(tgt_url 1 1)")
	# A second gateway (another tgtd, another tid and LUN number).
	tgtd_start module
	tgtd_save b
	tgt_target_new 3 "$IQN.gw2"
	tgt_lun_new 3 4 "$(bss_tcp vol)"
	b=$(ids "$(tgt_url 3 4)")
	[ "$b" = "$a" ]
	tgtd_stop
	# The first tgtd restarted: the LUN created again has the same ids.
	tgtd_use a
	tgtd_stop
	tgtd_start module
	tgtd_save a
	tgt_target_new 1 "$IQN"
	bss_lun 1 "$(bss_tcp vol)"
	r=$(ids "$(tgt_url 1 1)")
	[ "$r" = "$a" ]
	# A snapshot is another device.
	sd_dog vdi snapshot -s s1 vol
	bss_lun 2 "$(bss_tcp vol:s1)"
	s=$(ids "$(tgt_url 1 2)")
	[ "${s% *}" != "${a% *}" ]
	[ "${s#* }" != "${a#* }" ]
	# The working vdi after the snapshot keeps its identity (re-opened).
	tgt_lun_del 1 1
	bss_lun 1 "$(bss_tcp vol)"
	[ "$(ids "$(tgt_url 1 1)")" = "$a" ]
}

@test "bs_identity: ident= overrides the identity; ident=VDINAME gives the ids without the cluster" {
	local a o1 o2 p
	bss_vdi_create vol 16M
	bss_vdi_create other 16M
	bss_lun 1 "$(bss_tcp vol)"
	a=$(ids "$(tgt_url 1 1)")
	# The same text names the same device, whatever vdi it is on.
	bss_lun 2 "$(bss_tcp vol)" "ident=disk-42"
	bss_lun 3 "$(bss_tcp other)" "ident=disk-42"
	o1=$(ids "$(tgt_url 1 2)")
	o2=$(ids "$(tgt_url 1 3)")
	[ "$o1" = "$o2" ]
	[ "${o1% *}" != "${a% *}" ]
	# ident=vol: the serial of earlier releases, FNV-1a of "vol" + vid 0
	# (bss_make_ids without a cluster), 16 hex digits right-aligned in 0x80.
	bss_lun 4 "$(bss_tcp vol)" "ident=vol"
	p=$(ids "$(tgt_url 1 4)")
	want=$(python3 -c 'h = 0xcbf29ce484222325
for x in b"vol" + bytes(4):
    h = ((h ^ x) * 0x100000001b3) % 2**64
print("%016x" % h)')
	[[ "${p% *}" == *"$(printf '%s' "$want" | od -An -tx1 -v | tr -d ' \n')" ]]
	[ "${p% *}" != "${a% *}" ]
	# A bad ident is refused.
	run tgt_lun_new 1 5 "$(bss_tcp vol)" sheepdog "ident="
	[ "$status" -ne 0 ]
	bss_log_has "ident needs 1..63 characters"
}
