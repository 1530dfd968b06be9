# Helpers for the bs_sheepdog end-to-end tests (tests/bats/bs_*.bats).
# Source after lib/common and lib/tgtd:
#
#	load lib/common
#	load lib/tgtd
#	load lib/bss
#
# bss_setup			temp dir $T, a formatted sheep, tgtd with the
#				module (saved as instance "a"), target 1 ($IQN)
# bss_teardown			stops tgtd and sheep by PID, removes $T
# bss_vdi_create NAME SIZE	dog vdi create
# bss_lun NUM BACKING [BSOPTS]	new sheepdog LUN on target 1 (fails the test
#				with tgtadm's output and tgtd's log on error)
# bss_tcp VDI[:SNAP]		tcp:127.0.0.1:$SHEEP_PORT:VDI[:SNAP]
# bss_raw LUN CDBHEX [ARGS]	bs_sheepdog/tests/bss-raw against target 1
# bss_io LUN ARGS...		tests/tools/iscsi-io against target 1, bounded
# bss_pattern OFF LEN SEED	the iscsi-io pattern bytes on stdout
# bss_log_has TEXT		tgtd's log contains TEXT (waits up to 10 s for it:
#				tgtd's log reaches the file asynchronously)
#
# All waits are bounded; daemons are stopped by PID.

IO="$SD_TOOLS/iscsi-io"
BSS_RAW="$SD_TOP_BUILDDIR/bs_sheepdog/tests/bss-raw"
IQN=iqn.2026-11.org.sheepdog.tests:bss

bss_setup() {
	[ -x "$IO" ] || { echo "$IO not built" >&2; return 1; }
	[ -x "$BSS_RAW" ] || { echo "$BSS_RAW not built (make check builds it)" >&2; return 1; }
	T=$(sd_tmpdir)
	sheep_start "$T/store" || return 1
	sd_dog cluster format >/dev/null || { echo "dog cluster format failed" >&2; return 1; }
	tgtd_start module || return 1
	tgtd_save a
	tgt_target_new 1 "$IQN" || return 1
}

bss_teardown() {
	local rc=0
	tgtd_use a
	if [ -n "${TGTD_LOG:-}" ] && [ -f "$TGTD_LOG" ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
		cp "$TGTD_LOG" "$T/tgtd.log" 2>/dev/null
	fi
	tgtd_stop || rc=1
	sheep_stop || true
	if [ -n "${T:-}" ]; then
		rm -rf "$T"
	fi
	return $rc
}

bss_vdi_create() {
	sd_dog vdi create "$1" "$2"
}

bss_tcp() {
	echo "tcp:127.0.0.1:$SHEEP_PORT:$1"
}

bss_lun() {
	local lun=$1 backing=$2 bsopts=${3:-} out rc=0
	out=$(tgt_lun_new 1 "$lun" "$backing" sheepdog "$bsopts" 2>&1) || rc=$?
	if [ $rc -ne 0 ]; then
		echo "tgtadm failed for LUN $lun ($backing): $out" >&2
		tail -n 20 "$TGTD_LOG" >&2
	fi
	return $rc
}

bss_raw() {
	local lun=$1; shift
	timeout 60 "$BSS_RAW" "$(tgt_url 1 "$lun")" "$@"
}

bss_io() {
	local lun=$1; shift
	timeout 300 "$IO" "$(tgt_url 1 "$lun")" "$@"
}

bss_pattern() {
	"$IO" - --mode pattern --offset "$1" --length "$2" --seed "$3"
}

bss_log_has() {
	local i
	for i in $(seq 1 100); do
		grep -qF -- "$1" "$TGTD_LOG" && return 0
		sleep 0.1
	done
	return 1
}

# CDB helpers: 10- and 16-byte READ/WRITE-family CDBs in hex.
# bss_cdb10 OPCODE FLAGS LBA BLOCKS ; bss_cdb16 OPCODE FLAGS LBA BLOCKS
bss_cdb10() {
	printf '%02x%02x%08x00%04x00' "$1" "$2" "$3" "$4"
}

bss_cdb16() {
	printf '%02x%02x%016x%08x0000' "$1" "$2" "$3" "$4"
}
