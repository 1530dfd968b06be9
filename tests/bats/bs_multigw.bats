#!/usr/bin/env bats
# Several gateways on one vdi: two tgtds (each loading bs_sheepdog.so, in
# its own private namespace) export the same vdi of one sheep.  A write
# acknowledged through gateway A must read back through gateway B right
# after (iscsi-io --mode xwrite: qd 32, each write read through B as soon as
# A acknowledged it), for objects A allocated after B opened the vdi, and
# across `dog vdi snapshot`s taken mid-run; dog agrees at the end; both
# gateways report the same device identity.  With shared=0 on B the same
# run reads stale zeros, which shows the test can fail.

load lib/common
load lib/tgtd
load lib/bss

MiB=1048576
IQN_B=iqn.2026-11.org.sheepdog.tests:bss-b

setup() {
	bss_setup || return 1
	tgtd_start module || return 1
	tgtd_save b
	tgt_target_new 1 "$IQN_B" || return 1
	tgtd_use a
}

teardown() {
	local rc=0
	tgtd_use b
	if [ -n "${TGTD_LOG:-}" ] && [ -f "$TGTD_LOG" ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
		cp "$TGTD_LOG" "$T/tgtd-b.log" 2>/dev/null
	fi
	tgtd_stop || rc=1
	bss_teardown || rc=1
	return $rc
}

# lun_on a|b LUN BACKING [BSOPTS]
lun_on() {
	local gw=$1; shift
	tgtd_use "$gw"
	bss_lun "$@"
	local rc=$?
	tgtd_use a
	return $rc
}

# url_of a|b LUN
url_of() {
	tgtd_use "$1"
	tgt_url 1 "$2"
	tgtd_use a
}

# xwrite FROM TO LUN ARGS...: writes through FROM, each read back through TO
xwrite() {
	local from to lun=$3
	from=$(url_of "$1" "$lun")
	to=$(url_of "$2" "$lun")
	shift 3
	timeout 300 "$IO" "$from" --mode xwrite --peer "$to" "$@"
}

field() {
	sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2" | head -n 1
}

@test "bs_multigw: qd32 fresh 1 MiB writes through A read back through B at once, and B to A; dog agrees" {
	bss_vdi_create vol 128M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)"
	# every 1 MiB of the vdi once, in pseudo-random order: 32 fresh objects,
	# each allocated by A after B opened the vdi
	run xwrite a b 1 --qd 32 --bs 1M --seed 11 --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 128 ]
	[ "$(field xreads "$output")" -eq 128 ]
	[ "$(field stale "$output")" -eq 0 ]
	sd_dog vdi read vol 0 $((128 * MiB)) >"$T/got"
	bss_pattern 0 $((128 * MiB)) 11 >"$T/want"
	cmp "$T/got" "$T/want"
	# the other way round, over objects both have seen
	run xwrite b a 1 --qd 32 --bs 256k --seed 12 --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 512 ]
	[ "$(field stale "$output")" -eq 0 ]
	sd_dog vdi read vol 0 $((128 * MiB)) >"$T/got"
	bss_pattern 0 $((128 * MiB)) 12 >"$T/want"
	cmp "$T/got" "$T/want"
}

@test "bs_multigw: snapshots taken between and during runs: B follows, COW data reads through B" {
	bss_vdi_create vol 64M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)"
	run xwrite a b 1 --qd 32 --bs 1M --seed 21 --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field stale "$output")" -eq 0 ]
	# B has every object cached as the vdi's own; after the snapshot A's
	# writes go to new (COW) objects of the new working vdi.  B never
	# writes: only the snapshot's invalidation tells it.
	sd_dog vdi snapshot -s s1 vol
	run xwrite a b 1 --qd 32 --bs 1M --seed 22 --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 64 ]
	[ "$(field stale "$output")" -eq 0 ]
	# a snapshot while a run is in flight (4096 writes + reads of 16 KiB)
	(sleep 0.3 && sd_dog vdi snapshot -s s2 vol >/dev/null) &
	snap=$!
	run xwrite a b 1 --qd 32 --bs 16k --seed 23 --time 120
	wait "$snap"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 4096 ]
	[ "$(field stale "$output")" -eq 0 ]
	sd_dog vdi read vol 0 $((64 * MiB)) >"$T/got"
	bss_pattern 0 $((64 * MiB)) 23 >"$T/want"
	cmp "$T/got" "$T/want"
	sd_dog vdi read -s s1 vol 0 $((64 * MiB)) >"$T/got"
	bss_pattern 0 $((64 * MiB)) 21 >"$T/want"
	cmp "$T/got" "$T/want"
	# and B, reading on its own after all that, sees the working vdi
	tgtd_use b
	run bss_io 1 --mode verify --qd 32 --bs 1M --seed 23
	tgtd_use a
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "bs_multigw: A and B write the two halves of the same fresh objects at once; nothing is lost" {
	local k pids=() urla urlb
	bss_vdi_create vol 32M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)"
	urla=$(url_of a 1)
	urlb=$(url_of b 1)
	# both gateways see a hole and create each object: the second create
	# must write its half into the object the first one made, not replace it
	for k in 0 1 2 3 4 5 6 7; do
		timeout 120 "$IO" "$urla" --mode write --qd 8 --bs 64k --offset $((k * 4 * MiB)) \
			--length $((2 * MiB)) --seed 51 >/dev/null &
		pids+=($!)
		timeout 120 "$IO" "$urlb" --mode write --qd 8 --bs 64k \
			--offset $((k * 4 * MiB + 2 * MiB)) --length $((2 * MiB)) --seed 51 >/dev/null &
		pids+=($!)
	done
	for k in "${pids[@]}"; do
		wait "$k"
	done
	sd_dog vdi read vol 0 $((32 * MiB)) >"$T/got"
	bss_pattern 0 $((32 * MiB)) 51 >"$T/want"
	cmp "$T/got" "$T/want"
	run timeout 120 "$IO" "$urla" --mode verify --qd 32 --bs 1M --seed 51
	[ "$status" -eq 0 ]
	run timeout 120 "$IO" "$urlb" --mode verify --qd 32 --bs 1M --seed 51
	[ "$status" -eq 0 ]
}

@test "bs_multigw: sheep restarts (participants lost): fresh writes through A still read through B at once" {
	bss_vdi_create vol 96M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)"
	# both gateways join and cache the index of the first third
	run xwrite a b 1 --qd 32 --bs 1M --seed 61 --offset 0 --length $((32 * MiB)) --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field stale "$output")" -eq 0 ]
	# a new sheep on the same store and port knows no participant: both
	# gateways must join again before trusting their cached index
	sheep_stop KILL
	sheep_start "$SHEEP_STORE" "$SHEEP_PORT"
	# the second third is fresh: B holds holes there that A now allocates
	run xwrite a b 1 --qd 32 --bs 1M --seed 62 --offset $((32 * MiB)) --length $((32 * MiB)) \
		--time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 32 ]
	[ "$(field xreads "$output")" -eq 32 ]
	[ "$(field stale "$output")" -eq 0 ]
	# again, the other way: B allocates the holes of the last third
	sheep_stop KILL
	sheep_start "$SHEEP_STORE" "$SHEEP_PORT"
	run xwrite b a 1 --qd 32 --bs 1M --seed 63 --offset $((64 * MiB)) --length $((32 * MiB)) \
		--time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 32 ]
	[ "$(field stale "$output")" -eq 0 ]
	sd_dog vdi read vol $((32 * MiB)) $((32 * MiB)) >"$T/got"
	bss_pattern $((32 * MiB)) $((32 * MiB)) 62 >"$T/want"
	cmp "$T/got" "$T/want"
	sd_dog vdi read vol $((64 * MiB)) $((32 * MiB)) >"$T/got"
	bss_pattern $((64 * MiB)) $((32 * MiB)) 63 >"$T/want"
	cmp "$T/got" "$T/want"
}

@test "bs_multigw: both gateways report the same VPD 0x83 and 0x80" {
	command -v iscsi-inq >/dev/null || skip "iscsi-inq not installed"
	bss_vdi_create vol 16M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)"
	local page a b
	for page in 0x83 0x80; do
		a=$(timeout 20 iscsi-inq -e 1 -c "$page" "$(url_of a 1)")
		b=$(timeout 20 iscsi-inq -e 1 -c "$page" "$(url_of b 1)")
		echo "A $page: $a"
		echo "B $page: $b"
		[ -n "$a" ]
		[ "$a" = "$b" ]
	done
}

@test "bs_multigw: the test can fail: with shared=0 on B the fresh writes of A read as stale zeros" {
	bss_vdi_create vol 32M
	lun_on a 1 "$(bss_tcp vol)"
	lun_on b 1 "$(bss_tcp vol)" "shared=0"
	run xwrite a b 1 --qd 32 --bs 1M --seed 31 --time 120
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(field xreads "$output")" -eq 32 ]
	# B answers holes from its copy of the index: every read is zeros
	[ "$(field stale "$output")" -eq 32 ]
	[ "$(field zeros "$output")" -eq 32 ]
	# the data is there all the same (dog and a shared gateway see it)
	sd_dog vdi read vol 0 $((32 * MiB)) >"$T/got"
	bss_pattern 0 $((32 * MiB)) 31 >"$T/want"
	cmp "$T/got" "$T/want"
}

@test "bs_multigw: tgt's built-in client as the second gateway reads what the module wrote" {
	# tgt's parser takes 4-digit ports only: move sheep to one
	sheep_stop
	sheep_start_port4 "$T/store4"
	sd_dog cluster format -c 1 >/dev/null
	tgtd_use b
	tgtd_stop
	tgtd_start builtin || return 1
	tgtd_save b
	tgt_target_new 1 "$IQN_B"
	tgtd_use a
	bss_vdi_create vol 32M
	lun_on a 1 "$(bss_tcp vol)"
	tgtd_use b
	tgt_lun_new 1 1 "$(bss_tcp vol)" sheepdog
	tgtd_use a
	# tgt's client is anonymous (no EXT_HELLO): one participant for all its
	# connections, told of the module's index writes like any other; it
	# probes before answering a hole (7.2)
	run xwrite a b 1 --qd 32 --bs 1M --seed 41 --time 120
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field xwrites "$output")" -eq 32 ]
	[ "$(field stale "$output")" -eq 0 ]
}
