# Linux-initiator guest for tests/bats/vm_initiator.bats: a Debian bookworm
# guest (tests/vm/guest-build) under qemu with TCG, running open-iscsi
# against tgtds on the host.  Source after lib/common:
#
#	load lib/common
#	load lib/vm
#
# vm_require			skips the test when qemu-system-x86_64 or
#				debootstrap is missing, unless SD_VM_REQUIRED=1
#				(scripts/test-all), which fails it instead
# vm_guest			builds or finds the cached guest; sets VM_GUEST
#				(the directory with rootfs.img, vmlinuz,
#				initrd.img)
# vm_boot SERIAL PARAMS...	boots the guest in the background with
#				init=/sbin/sd-vm-init and the kernel parameters
#				PARAMS (sd.mode=..., see tests/vm/guest-init);
#				its console goes to the file SERIAL.  Sets
#				VM_PID (qemu's PID) and VM_SERIAL
# vm_wait_line TEXT SECS	waits at most SECS for a console line starting
#				with "SDVM: TEXT"; fails if qemu exits first
# vm_wait_exit SECS		waits at most SECS for qemu to exit; kills it
#				by PID (SIGKILL) and fails on timeout
# vm_lines			the guest's "SDVM: " lines, prefix stripped
# vm_kill			kills qemu by PID if it still runs (teardown)
#
# The root image is opened with snapshot=on, so concurrent guests share it
# and nothing writes it.  The guest reaches the host's 127.0.0.1 as
# 10.0.2.2 (qemu's user network), so tgtd keeps its loopback portal.
# Knobs: VM_QEMU (default qemu-system-x86_64), VM_MEM (512), VM_TIMEOUT
# (seconds for one guest run, 300).

: "${VM_QEMU:=qemu-system-x86_64}"
: "${VM_MEM:=512}"
: "${VM_TIMEOUT:=300}"

vm_require() {
	local miss=
	command -v "$VM_QEMU" >/dev/null 2>&1 || miss="$VM_QEMU"
	command -v debootstrap >/dev/null 2>&1 || miss="$miss debootstrap"
	[ -z "$miss" ] && return 0
	if [ "${SD_VM_REQUIRED:-0}" = 1 ]; then
		echo "vm: $miss not installed (scripts/install-deps)" >&2
		return 1
	fi
	skip "$miss not installed (scripts/install-deps installs it)"
}

vm_guest() {
	local out
	out=$(timeout 900 "$SD_TOP_SRCDIR/tests/vm/guest-build") || {
		echo "vm: tests/vm/guest-build failed" >&2
		return 1
	}
	VM_GUEST=$(echo "$out" | tail -n 1)
	[ -f "$VM_GUEST/rootfs.img" ] || {
		echo "vm: no guest image in '$VM_GUEST'" >&2
		return 1
	}
}

vm_boot() {
	local serial=$1
	shift
	VM_SERIAL=$serial
	: >"$serial"
	# -no-reboot: the guest's power-off (or a panic, panic=1) ends qemu.
	# 3>&-: bats waits for fd 3 to close; a leaked qemu must not hang it.
	"$VM_QEMU" -nodefaults -no-user-config -display none -no-reboot \
		-accel tcg -cpu max -smp 1 -m "$VM_MEM" -machine q35 \
		-kernel "$VM_GUEST/vmlinuz" -initrd "$VM_GUEST/initrd.img" \
		-append "root=/dev/vda rootfstype=ext4 rw console=ttyS0 quiet panic=1 net.ifnames=0 init=/sbin/sd-vm-init $*" \
		-drive "file=$VM_GUEST/rootfs.img,format=raw,if=virtio,snapshot=on" \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
		-serial "file:$serial" </dev/null >"$serial.qemu" 2>&1 3>&- &
	VM_PID=$!
	VM_T0=$SECONDS
}

_vm_alive() {
	[ -n "${VM_PID:-}" ] && kill -0 "$VM_PID" 2>/dev/null &&
		! grep -q '^[^ ]* ([^)]*) Z' "/proc/$VM_PID/stat" 2>/dev/null
}

vm_wait_line() {
	local text=$1 secs=$2 end
	end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		grep -a -q "^SDVM: $text" "$VM_SERIAL" 2>/dev/null && return 0
		_vm_alive || {
			grep -a -q "^SDVM: $text" "$VM_SERIAL" 2>/dev/null && return 0
			echo "vm: qemu exited before 'SDVM: $text'" >&2
			return 1
		}
		sleep 0.2
	done
	echo "vm: no 'SDVM: $text' within $secs s" >&2
	return 1
}

vm_wait_exit() {
	local secs=$1 end rc=0
	end=$((SECONDS + secs))
	while _vm_alive && [ $SECONDS -lt $end ]; do
		sleep 0.5
	done
	if _vm_alive; then
		echo "vm: guest still running after $secs s; killing qemu $VM_PID" >&2
		kill -KILL "$VM_PID" 2>/dev/null
		rc=1
	fi
	wait "$VM_PID" 2>/dev/null
	VM_PID=
	# A TAP comment (bats' fd 3), so the test log shows the time also when
	# the test passes.
	{ echo "# vm: guest ran $((SECONDS - VM_T0)) s" >&3; } 2>/dev/null ||
		echo "vm: guest ran $((SECONDS - VM_T0)) s" >&2
	return $rc
}

vm_lines() {
	sed -n 's/^SDVM: //p' "$VM_SERIAL" | tr -d '\r'
}

vm_kill() {
	if _vm_alive; then
		kill -KILL "$VM_PID" 2>/dev/null
		wait "$VM_PID" 2>/dev/null
	fi
	VM_PID=
}
