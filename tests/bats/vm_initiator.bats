#!/usr/bin/env bats
# The real Linux initiator: open-iscsi in a Debian bookworm guest under qemu
# (TCG) against the stock tgtd with bs_sheepdog.so, on a vdi of our sheep.
# The guest (tests/vm/guest-init, built and cached by tests/vm/guest-build)
# runs the filesystem test and prints PASS/FAIL lines on its serial console;
# this file starts the daemons, boots it with a hard time bound, kills a
# gateway when the guest asks for it, asserts on the guest's lines and then
# cross-checks the vdi with dog and on the host (e2fsck of the vdi's image,
# the big file's checksum read back with debugfs).
#
# The multipath test runs on a thin vdi with discards (SD_VM_PREALLOC=0,
# the default): both gateways allocate and free objects, which needs them
# coherent (bsopt shared=1, the default; without it the guest's mount fails:
# gateway b reads the journal that gateway a allocated as zeros).
# SD_VM_PREALLOC=1 preallocates the vdi (`dog vdi create -P`) and keeps the
# guest from discarding.  See docs/testing.md.

load lib/common
load lib/tgtd
load lib/vm
load lib/nbdkit

IQN=iqn.2026-11.org.sheepdog.tests:vm
VDI_SIZE=256M

setup() {
	vm_require
	T=$(sd_tmpdir)
	vm_guest
	sheep_start "$T/store"
	sd_dog cluster format >/dev/null
}

teardown() {
	vm_kill
	nbd_stop_all || true
	tgtd_stop_all || true
	sheep_stop || true
	if [ -n "${T:-}" ] && [ -f "${VM_SERIAL:-}" ]; then
		echo "---- guest results ----" >&2
		vm_lines >&2
		echo "---- guest console (tail) ----" >&2
		grep -av '^SDVM: ' "$VM_SERIAL" | tail -n 40 >&2
	fi
	[ -z "${T:-}" ] || rm -rf "$T"
}

# gateway NAME: a tgtd with the module, target 1 = $IQN, LUN 1 = vdi vol.
gateway() {
	tgtd_start module
	tgtd_save "$1"
	tgt_target_new 1 "$IQN"
	tgt_lun_new 1 1 "tcp:127.0.0.1:$SHEEP_PORT:vol"
}

# expect_pass: the guest printed RESULT PASS, and no FAIL line.
expect_pass() {
	# the guest's PASS/FAIL lines go into the TAP log (test-all prints them)
	{ vm_lines | sed 's/^/# guest: /' >&3; } 2>/dev/null || vm_lines >&2
	[ -z "$(vm_lines | grep '^FAIL')" ]
	vm_lines | grep -qx 'RESULT PASS'
}

# host_check NAME...: the vdi as the guest left it (vol, or $HC_VDI): dog
# vdi check, its image fsck-clean on the host, and each named file's sha256
# equal to the SUM line the guest printed for it.
host_check() {
	local f sum got vdi=${HC_VDI:-vol}
	sd_dog vdi check "$vdi"
	sd_dog vdi read "$vdi" >"$T/vol.img"
	[ "$(stat -c %s "$T/vol.img")" -eq $((256 * 1048576)) ]
	e2fsck -f -n "$T/vol.img"
	for f in "$@"; do
		sum=$(vm_lines | sed -n "s/^SUM $f //p")
		[ ${#sum} -eq 64 ]
		got=$(debugfs -R "cat /$f" "$T/vol.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
		echo "$f: guest $sum host $got" >&2
		[ "$got" = "$sum" ]
	done
}

# The same boot then tests the kernel's NBD client (nbd-client, /dev/nbd0)
# on nbdkit-sheepdog-plugin serving vdi nvol on a loopback TCP port (the
# guest reaches it as 10.0.2.2): a second guest would cost another boot.
@test "vm: open-iscsi, one path, then nbd-client on the nbdkit plugin: mkfs.ext4, files, e2fsck clean, checksums" {
	local nbd=()
	sd_dog vdi create vol "$VDI_SIZE"
	gateway a
	if [ -f "$NBD_PLUGIN" ] || command -v nbdkit >/dev/null; then
		sd_dog vdi create nvol "$VDI_SIZE"
		DOG_TMP=$T nbd_start_tcp nbd vdi=nvol
		nbd=("sd.nbd=10.0.2.2:$NBD_PORT")
	fi
	vm_boot "$T/serial.log" sd.mode=single "sd.iqn=$IQN" "sd.portals=10.0.2.2:$TGTD_PORT" \
		sd.initiator=iqn.2026-11.org.sheepdog.tests:vm-single "${nbd[@]}"
	vm_wait_exit "$VM_TIMEOUT"
	expect_pass
	vm_lines | grep -q '^PASS e2fsck -f -n clean'
	vm_lines | grep -q '^PASS checksums verified (20[0-9] files)'
	host_check big
	[ ${#nbd[@]} -gt 0 ] || { echo "nbdkit not installed: no NBD part" >&2; return 0; }
	vm_lines | grep -q '^PASS nbd: nbd-client 10.0.2.2:'"$NBD_PORT"' /dev/nbd0'
	vm_lines | grep -q '^PASS nbd: e2fsck -f -n clean'
	vm_lines | grep -q '^PASS nbd: checksums verified (10[0-9] files)'
	vm_lines | grep -q '^PASS nbd: nbd-client -d'
	HC_VDI=nvol host_check nbdbig
}

@test "vm: dm-multipath over two gateways, one killed while the guest writes" {
	local prealloc= discard=1
	[ "${SD_VM_PREALLOC:-0}" = 0 ] || { prealloc=-P; discard=0; }
	sd_dog vdi create $prealloc vol "$VDI_SIZE"
	gateway a
	local port_a=$TGTD_PORT pid_a=$TGTD_PID
	gateway b
	local port_b=$TGTD_PORT
	# Without preallocation mkfs may discard and the gateways allocate
	# objects; with it, nothing may free or allocate one (sd.discard=0).
	vm_boot "$T/serial.log" sd.mode=multipath "sd.iqn=$IQN" \
		"sd.portals=10.0.2.2:$port_a,10.0.2.2:$port_b" \
		sd.initiator=iqn.2026-11.org.sheepdog.tests:vm-mpath "sd.discard=$discard"
	vm_wait_line "KILL-GATEWAY 1" "$VM_TIMEOUT"
	echo "killing gateway a (tgtd $pid_a, portal $port_a) after $((SECONDS - VM_T0)) s" >&2
	kill -KILL "$pid_a"
	vm_wait_exit "$VM_TIMEOUT"
	expect_pass
	vm_lines | grep -q '^PASS path sd[a-z]* (10.0.2.2:'"$port_a"') failed while writing'
	vm_lines | grep -q '^PASS writes after the kill'
	vm_lines | grep -q '^PASS checksums verified'
	vm_lines | grep -q '^PASS path sd[a-z]* (10.0.2.2:'"$port_b"') active at the end'
	# The surviving gateway still serves the LUN.
	tgtd_use b
	tgt_adm --op show --mode target | grep -q "Backing store path: tcp:127.0.0.1:$SHEEP_PORT:vol"
	host_check big big2
}
