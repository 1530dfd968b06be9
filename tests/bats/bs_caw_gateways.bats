#!/usr/bin/env bats
# COMPARE AND WRITE across gateways: two tgtds export one vdi, each through
# its own LUN, and hammer one counter block with compare-and-swap
# increments (iscsi-io --mode caw --shared: read the counter, COMPARE AND
# WRITE it from v to v+1).  With shared=1 (the default) the sheep compares
# and writes under the object's lock (EXT_CMP_WRITE_OBJ), so the final
# counter equals the successful increments of both gateways together; with
# shared=0 each gateway only locks against itself and increments are lost.
#
# The counter's object is allocated before the LUNs open: a gateway's
# reads of a hole the other one filled need coherence between gateways
# (the inode index each one caches), which is not what this file tests.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576
CTR=$((8 * MiB + 4096)) # counter block, in object 2, neighbours in it too

setup() {
	bss_setup
	bss_vdi_create vol 64M
	head -c 16384 /dev/zero >"$T/zero"
	sd_dog vdi write vol $((8 * MiB)) 16384 <"$T/zero"
	tgtd_start module
	tgtd_save b
	tgt_target_new 1 "$IQN"
}

teardown() {
	tgtd_use b
	tgtd_stop || true
	bss_teardown
}

# gw_luns BSOPTS: LUN 1 on vdi vol in both tgtds
gw_luns() {
	tgtd_use a
	bss_lun 1 "$(bss_tcp vol)" "$1"
	tgtd_use b
	bss_lun 1 "$(bss_tcp vol)" "$1"
}

# gw_hammer SECONDS [IO_OPTION...]: both gateways at once; sets OK_A OK_B
# MIS FINAL
gw_hammer() {
	local secs=$1 url_a url_b
	shift
	tgtd_use a
	url_a=$(tgt_url 1 1)
	tgtd_use b
	url_b=$(tgt_url 1 1)
	timeout 300 "$IO" "$url_a" --mode caw --shared --offset $CTR --bs 512 --qd 8 \
		--writers 2 --time "$secs" "$@" >"$T/a.out" 2>&1 &
	local pid_a=$!
	timeout 300 "$IO" "$url_b" --mode caw --shared --offset $CTR --bs 512 --qd 8 \
		--writers 2 --time "$secs" "$@" >"$T/b.out" 2>&1 &
	local pid_b=$! rc_a=0 rc_b=0
	wait $pid_a || rc_a=$?
	wait $pid_b || rc_b=$?
	cat "$T/a.out" "$T/b.out"
	OK_A=$(sed -n 's/.*caw_ok=\([0-9]*\).*/\1/p' "$T/a.out")
	OK_B=$(sed -n 's/.*caw_ok=\([0-9]*\).*/\1/p' "$T/b.out")
	MIS=$(($(sed -n 's/.*caw_miscompare=\([0-9]*\).*/\1/p' "$T/a.out") +
		$(sed -n 's/.*caw_miscompare=\([0-9]*\).*/\1/p' "$T/b.out")))
	sd_dog vdi read vol $CTR 8 >"$T/ctr"
	FINAL=$(od -An -t u8 "$T/ctr" | tr -d ' ')
	echo "gateway a: $OK_A, gateway b: $OK_B, miscompares $MIS, counter $FINAL (rc $rc_a $rc_b)"
	[ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ]
}

@test "bs_caw_gateways: shared=1 (default): COMPARE AND WRITE from two tgtds on one vdi loses no increment" {
	gw_luns ""
	run gw_hammer 8
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"torn="[1-9]* ]]
	eval "$(echo "$output" | sed -n 's/^gateway a: \([0-9]*\), gateway b: \([0-9]*\), miscompares \([0-9]*\), counter \([0-9]*\).*/OK_A=\1 OK_B=\2 MIS=\3 FINAL=\4/p')"
	# both gateways made progress and really raced
	[ "$OK_A" -ge 20 ]
	[ "$OK_B" -ge 20 ]
	[ "$MIS" -gt 20 ]
	[ "$FINAL" -eq $((OK_A + OK_B)) ]
	for g in a b; do
		tgtd_use $g
		sd_refute grep -q "no compare-and-write extension" "$TGTD_LOG"
	done
}

@test "bs_caw_gateways: shared=0: each tgtd locks only against itself, and increments are lost" {
	gw_luns "shared=0"
	# Without a lock between the gateways a locker may also read a torn
	# counter (the other gateway's write half applied): --torn-ok counts
	# those and reads again, so that neither gateway stops at its first
	# one and both keep incrementing for the whole run.
	run gw_hammer 8 --torn-ok
	echo "$output"
	[ "$status" -eq 0 ]
	eval "$(echo "$output" | sed -n 's/^gateway a: \([0-9]*\), gateway b: \([0-9]*\), miscompares \([0-9]*\), counter \([0-9]*\).*/OK_A=\1 OK_B=\2 MIS=\3 FINAL=\4/p')"
	[ "$OK_A" -ge 20 ]
	[ "$OK_B" -ge 20 ]
	# two successful CAWs from the same old value: one increment lost
	[ "$FINAL" -lt $((OK_A + OK_B)) ]
}

@test "bs_caw_gateways: a sheep without the compare-and-write extension: the LUN says so at creation and keeps the local lock" {
	local relay pid code
	# upstream: no HELLO ack, and the relay dies if an extension opcode
	# reaches it (upstream 1.0.1's sheep crashes on one); then a sheep that
	# acked the HELLO but answers the op with INVALID_PARMS or NO_SUPPORT
	for code in upstream 0x05 0x8B; do
		relay=$(sd_free_port)
		python3 "$BATS_TEST_DIRNAME/lib/noext_relay.py" "$relay" "$SHEEP_PORT" $code &
		pid=$!
		sd_wait_for 10 sd_tcp_open "$relay"
		tgtd_use a
		bss_lun 1 "tcp:127.0.0.1:$relay:vol"
		bss_log_has "tid 1 lun 1: sheepdog: the sheep at 127.0.0.1:$relay has no compare-and-write extension (Operation not supported): COMPARE AND WRITE (ATS) of vdi 'vol' is atomic within this gateway only"
		# the local read-compare-write: atomic within this tgtd
		run bss_io 1 --mode caw --offset $CTR --bs 512 --qd 16 --count 300 --time 60
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *" torn=0"* ]]
		kill -0 "$pid" # the relay saw no extension opcode
		tgt_lun_del 1 1
		kill "$pid"
		wait "$pid" || true
		: >"$TGTD_LOG"
	done
	# shared=0 asks nothing and says nothing
	bss_lun 1 "$(bss_tcp vol)" "shared=0"
	run bss_io 1 --mode caw --offset $CTR --bs 512 --qd 4 --count 50 --time 60
	[ "$status" -eq 0 ]
	! grep -q "compare-and-write" "$TGTD_LOG"
}
