#!/usr/bin/env bats
# Persistent reservations across gateways (bsopt shared=1, the default):
# two tgtds export one vdi, the PR state lives in the vdi's attributes
# (bs_sheepdog/bss_pr_cluster.c) and every gateway checks commands against
# the current state.  iscsi-io --mode script logs sessions in through either
# gateway (login ... url=) and runs Windows failover-cluster validation's
# sequence with raw CDBs.

load lib/common
load lib/tgtd
load lib/bss

setup() {
	bss_setup
	bss_vdi_create mg 16M
	bss_lun 1 "$(bss_tcp mg)"
	URL_A=$(tgt_url 1 1)
	gw_b_start
}

# A second tgtd ("b") with target 1 named ${IQN}b and LUN 1 on the same vdi.
gw_b_start() {
	tgtd_start module || return 1
	tgtd_save b
	tgt_target_new 1 "${IQN}b" || return 1
	bss_lun 1 "$(bss_tcp mg)" || return 1
	URL_B=$(tgt_url 1 1)
	tgtd_use a
}

teardown() {
	tgtd_use b
	tgtd_stop || true
	bss_teardown
}

script() {
	timeout 120 "$IO" "$URL_A" --mode script
}

prout() { # SA TYPE KEY SAKEY -> "CDB out=PARAMS"
	printf '5f%02x%02x000000000018%02x out=%016x%016x%016x' "$1" "$2" 0 "$3" "$4" 0
}
prin() { # SA
	printf '5e%02x000000000020%04x in=8192' "$1" 0
}
ZERO512=$(printf '0%.0s' $(seq 1 1024))
write10() { printf '2a00%08x000001%02x out=%s' "$1" 0 "$ZERO512"; }
read10() { printf '28%02x%08x000001%02x in=512' 0 "$1" 0; }
TUR=000000000000
status_of() { echo "$output" | sed -n "${1}p" | sed -n 's/.* status=\([^ ]*\).*/\1/p'; }
line_of() { echo "$output" | sed -n "${1}p"; }

@test "bs_pr_multigw: failover-cluster sequence through two gateways (register, reserve, preempt, register-and-ignore, release by a non-holder, clear)" {
	run script <<EOT
login n1 $IQN:node1 url=$URL_A
login n2 $IQN:node2 url=$URL_B
login n3 $IQN:node3 url=$URL_B
n1 $(prout 6 0 0 0xa1)
n2 $(prout 6 0 0 0xb2)
n1 $(prout 1 1 0xa1 0)
n2 $(prin 0)
n2 $(prin 1)
n1 $(prin 0)
n3 $(write10 8)
n3 $(read10 8)
n2 $(write10 8)
n1 $(write10 8)
n2 $(prout 4 1 0xb2 0xa1)
n1 $(write10 8)
n1 $TUR
n2 $(write10 8)
n1 $(prout 6 0 0 0xa1)
n2 $(prin 0)
n1 $(prout 2 1 0xa1 0)
n2 $(prin 1)
n1 $(prout 3 0 0xa1 0)
n2 $(write10 8)
n2 $TUR
n3 $(prin 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(status_of 1)" = GOOD ]	# node1 registers through A
	[ "$(status_of 2)" = GOOD ]	# node2 registers through B
	[ "$(status_of 3)" = GOOD ]	# node1 reserves WRITE EXCLUSIVE through A
	# B sees both keys and A's reservation; A reads the same keys
	line_of 4 | grep -q 'data=0000000200000010\(00000000000000a100000000000000b2\)$'
	line_of 5 | grep -q 'data=000000020000001000000000000000a1000000000001\(0000\)$'
	[ "$(line_of 6 | sed 's/^n1/n2/')" = "$(line_of 4)" ]
	[ "$(status_of 7)" = 0x18 ]	# unregistered node3's WRITE through B
	[ "$(status_of 8)" = GOOD ]	# its READ passes WRITE EXCLUSIVE
	[ "$(status_of 9)" = 0x18 ]	# registered non-holder's WRITE through B
	[ "$(status_of 10)" = GOOD ]	# the holder's WRITE through A
	[ "$(status_of 11)" = GOOD ]	# node2 preempts node1 through B
	[ "$(status_of 12)" = 0x18 ]	# ... and A conflicts node1's next WRITE
	line_of 13 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x2a ascq=0x05'
	[ "$(status_of 14)" = GOOD ]	# the new holder writes through B
	[ "$(status_of 15)" = GOOD ]	# REGISTER AND IGNORE through A
	line_of 16 | grep -q 'data=0000000400000010\(00000000000000b200000000000000a1\)$'
	[ "$(status_of 17)" = GOOD ]	# RELEASE by a non-holder: GOOD, no effect
	line_of 18 | grep -q 'data=000000040000001000000000000000b2000000000001\(0000\)$'
	[ "$(status_of 19)" = GOOD ]	# CLEAR through A
	[ "$(status_of 20)" = GOOD ]	# no reservation any more: B's write passes
	line_of 21 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x2a ascq=0x03'
	line_of 22 | grep -q 'data=0000000500000000$'
}

@test "bs_pr_multigw: the state survives a restart of both gateways" {
	run script <<EOT
login n1 $IQN:node1 url=$URL_A
login n2 $IQN:node2 url=$URL_B
n1 $(prout 6 0 0 0xa1)
n2 $(prout 6 0 0 0xb2)
n2 $(prout 1 3 0xb2 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(status_of 3)" = GOOD ]
	tgtd_stop
	tgtd_use b
	tgtd_stop
	tgtd_start module
	tgtd_save a
	tgt_target_new 1 "$IQN"
	bss_lun 1 "$(bss_tcp mg)"
	URL_A=$(tgt_url 1 1)
	gw_b_start
	run script <<EOT
login n1 $IQN:node1 url=$URL_A
login n2 $IQN:node2 url=$URL_B
n1 $(prin 1)
n1 $(read10 0)
n2 $(read10 0)
n1 $(prin 0)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	# EXCLUSIVE ACCESS held by node2's key, read through the other gateway
	line_of 1 | grep -q 'data=000000020000001000000000000000b2000000000003\(0000\)$'
	[ "$(status_of 2)" = 0x18 ]
	[ "$(status_of 3)" = GOOD ]
	line_of 4 | grep -q 'data=0000000200000010\(00000000000000a100000000000000b2\)$'
}

@test "bs_pr_multigw: concurrent PR OUT through both gateways: every registration lands (compare and swap)" {
	local i
	for g in A B; do
		{
			for i in 1 2 3 4 5 6; do
				url=$URL_A
				[ $g = A ] || url=$URL_B
				echo "login s$i $IQN:race$g$i url=$url"
			done
			for i in 1 2 3 4 5 6; do
				echo "s$i $(prout 0 0 0 0x$g$i)"
			done
		} >"$T/race$g"
	done
	timeout 120 "$IO" "$URL_A" --mode script <"$T/raceA" >"$T/outA" &
	pa=$!
	timeout 120 "$IO" "$URL_A" --mode script <"$T/raceB" >"$T/outB" &
	pb=$!
	wait $pa
	wait $pb
	cat "$T/outA" "$T/outB"
	[ "$(grep -c 'status=GOOD$' "$T/outA")" -eq 6 ]
	[ "$(grep -c 'status=GOOD$' "$T/outB")" -eq 6 ]
	run script <<EOT
login x $IQN:reader url=$URL_B
x $(prin 0)
EOT
	echo "$output"
	# generation 12, twelve keys
	line_of 1 | grep -q 'data=0000000c00000060'
	for k in a1 a2 a3 a4 a5 a6 b1 b2 b3 b4 b5 b6; do
		line_of 1 | grep -q "00000000000000$k"
	done
}

@test "bs_pr_multigw: shared=0 keeps the state in each gateway (a reservation through A is not seen through B)" {
	tgtd_use b
	tgt_lun_del 1 1
	bss_lun 2 "$(bss_tcp mg)" "shared=0"
	URL_B2=$(tgt_url 1 2)
	tgtd_use a
	bss_lun 2 "$(bss_tcp mg)" "shared=0"
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
login n3 $IQN:node3 url=$URL_B2
n1 $(prout 6 0 0 0xa1)
n1 $(prout 1 1 0xa1 0)
n3 $(prin 1)
n3 $(write10 8)
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(status_of 2)" = GOOD ]
	line_of 3 | grep -q 'data=0000000000000000$'
	[ "$(status_of 4)" = GOOD ]
}

@test "bs_pr_multigw: an unreachable cluster fails the check with ABORTED COMMAND, never skips it" {
	tgtd_use b
	tgt_lun_del 1 1
	tgtd_use a
	bss_lun 2 "$(bss_tcp mg)" "timeout=2;retry=0"
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
n1 $(read10 0)
EOT
	[ "$(status_of 1)" = GOOD ]
	sheep_stop
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
n1 $(read10 0)
n1 $(write10 0)
EOT
	echo "$output"
	line_of 1 | grep -q 'status=CHECK_CONDITION key=0x0b asc=0x08'
	line_of 2 | grep -q 'status=CHECK_CONDITION key=0x0b asc=0x08'
	bss_log_has "reservation check of op 0x28 failed"
}

@test "bs_pr_multigw: a hung sheep (SIGSTOP) fails the check within the timeouts, tgtd stays responsive" {
	local t0 t1
	bss_lun 2 "$(bss_tcp mg)" "timeout=2;retry=2"
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
n1 $(write10 0)
EOT
	[ "$(status_of 1)" = GOOD ]
	kill -STOP "$SHEEP_PID"
	t0=$(date +%s)
	timeout 120 "$IO" "$(tgt_url 1 2)" --mode script >"$T/hung" <<EOT &
login n1 $IQN:node1
n1 $(read10 0)
n1 $(write10 0)
EOT
	pid=$!
	# tgtd answers its admin socket while the checks wait for sheep
	sleep 1
	timeout 5 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode target >/dev/null
	wait $pid
	t1=$(date +%s)
	kill -CONT "$SHEEP_PID"
	output=$(cat "$T/hung")
	echo "$output (after $((t1 - t0)) s)"
	line_of 1 | grep -q 'status=CHECK_CONDITION key=0x0b asc=0x08'
	line_of 2 | grep -q 'status=CHECK_CONDITION key=0x0b asc=0x08'
	[ $((t1 - t0)) -le 30 ]
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
n1 $(read10 0)
EOT
	[ "$(status_of 1)" = GOOD ]
}

@test "bs_pr_multigw: a LUN reset through one gateway is a unit attention on every nexus of both gateways, once" {
	run script <<EOT
login n1 $IQN:node1 url=$URL_A
login n2 $IQN:node2 url=$URL_B
login n3 $IQN:node3 url=$URL_B
lunreset n1
n2 $TUR
n2 $TUR
n3 $(read10 0)
n3 $TUR
n1 $TUR
n1 $TUR
n2 $TUR
lunreset n3
n1 $TUR
n1 $TUR
n2 $TUR
n2 $TUR
n3 $TUR
n3 $TUR
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(line_of 1)" = "n1 tmf=0" ]
	# B learns A's reset from the cluster on its next check: TUR included
	line_of 2 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 3)" = GOOD ]
	line_of 4 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 5)" = GOOD ]
	# A's own nexus: core's unit attention, then nothing more
	line_of 6 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 7)" = GOOD ]
	[ "$(status_of 8)" = GOOD ]	# A's detection did not publish it twice
	# and the other way round
	[ "$(line_of 9)" = "n3 tmf=0" ]
	line_of 10 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 11)" = GOOD ]
	line_of 12 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 13)" = GOOD ]
	line_of 14 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 15)" = GOOD ]
}

@test "bs_pr_multigw: shared=0: a LUN reset through A is no unit attention through B" {
	tgtd_use b
	tgt_lun_del 1 1
	bss_lun 2 "$(bss_tcp mg)" "shared=0"
	URL_B2=$(tgt_url 1 2)
	tgtd_use a
	bss_lun 2 "$(bss_tcp mg)" "shared=0"
	run timeout 120 "$IO" "$(tgt_url 1 2)" --mode script <<EOT
login n1 $IQN:node1
login n2 $IQN:node2 url=$URL_B2
lunreset n1
n2 $TUR
n1 $TUR
n1 $TUR
EOT
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(line_of 1)" = "n1 tmf=0" ]
	[ "$(status_of 2)" = GOOD ]
	line_of 3 | grep -q 'status=CHECK_CONDITION key=0x06 asc=0x29 ascq=0x00'
	[ "$(status_of 4)" = GOOD ]
}

@test "bs_pr_multigw: at qd32 one reservation lookup serves several commands (under 3 lookups per 4 commands)" {
	run timeout 120 "$IO" "$URL_A" --mode randwrite --qd 32 --bs 4096 --count 3000
	echo "$output"
	[ "$status" -eq 0 ]
	# the LU logs its counts when it goes
	tgt_lun_del 1 1
	local line checked lookups
	line=$(grep 'reservation checks:' "$TGTD_LOG" | tail -1)
	echo "$line"
	checked=$(sed -n 's/.* \([0-9]*\) commands, .*/\1/p' <<<"$line")
	lookups=$(sed -n 's/.* \([0-9]*\) lookups;.*/\1/p' <<<"$line")
	# the first command loads the state synchronously, the rest are counted
	[ "$checked" -ge 2990 ]
	[ "$lookups" -gt 0 ]
	[ $(( lookups * 4 )) -lt $(( checked * 3 )) ]
}
