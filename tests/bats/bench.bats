#!/usr/bin/env bats
# scripts/bench --quick: the whole benchmark (sheep, two tgtds, the module,
# tgtd's built-in client, rdwr, null, the library floor (over TCP and the
# sheep's UNIX socket), both clients behind
# sd-proxy at 0.1 and 0.5 ms) in about a minute and a half.  Checks the
# output's format, not its numbers (a shared machine makes those noise):
# every table and column is there, and every contender that is built has a
# number, not n/a.  The tables go to the TAP log as "# bench: " lines, which
# scripts/test-all prints, so every CI run shows them.  Runs once per CI run
# (the normal phase): SD_HEAVY=0 (sanitizer phases) skips it.  Its second
# test runs scripts/bench --luns 20 (ours and the built-in client with 20
# LUNs each) and checks that table the same way.

load lib/common

BENCH="$SD_TOP_SRCDIR/scripts/bench"
NUM='^[0-9]+$'
RATIO='^[0-9]+\.[0-9]{2}x$'
US='^[0-9]+\.[0-9]$'

setup() {
	[ "${SD_HEAVY:-1}" != 0 ] || skip "the bench runs in the normal phase only"
	[ -x "$SD_TOOLS/iscsi-io" ] || { echo "iscsi-io not built" >&2; return 1; }
	command -v tgtd >/dev/null || { echo "tgtd not installed" >&2; return 1; }
}

# row NAME...: the fields after the row's name words, from $output.
row() {
	local name="$*"
	awk -v n="$name" '{
		k = split(n, w, " "); ok = 1
		for (i = 1; i <= k; i++) if ($i != w[i]) ok = 0
		if (ok) { for (i = k + 1; i <= NF; i++) printf "%s ", $i; print ""; exit }
	}' <<<"$output"
}

# expect_fields "FIELDS" PATTERN...: field i matches pattern i ("-": any).
expect_fields() {
	local -a f
	read -r -a f <<<"$1"
	shift
	[ "${#f[@]}" -eq $# ] || { echo "want $# fields, got '${f[*]}'" >&2; return 1; }
	local i=0 p
	for p in "$@"; do
		if [ "$p" != - ] && ! [[ ${f[$i]} =~ $p ]]; then
			echo "field $((i + 1)) '${f[$i]}' does not match $p in '${f[*]}'" >&2
			return 1
		fi
		i=$((i + 1))
	done
}

@test "scripts/bench --quick: every table, column and built contender" {
	local wb=n/a wb_r=n/a wb_us=n/a px=n/a px_r=n/a px_us=n/a
	local so="$SD_TOP_BUILDDIR/bs_sheepdog/.libs/bs_sheepdog.so" m q d r
	[ -f "$so" ] || skip "no module built (configure found no tgt source)"
	# the write-back contender exists once the module knows cache_dir=
	if grep -q 'cache_dir' "$so"; then
		wb=$NUM wb_r=$RATIO wb_us=$US
	fi
	if [ -x "$SD_TOOLS/sd-proxy" ]; then
		px=$NUM px_r=$RATIO px_us=$US
	fi
	run timeout 600 "$BENCH" --quick --builddir "$SD_TOP_BUILDDIR"
	{ grep -v '^bench: [a-z0-9.]*,' <<<"$output" | sed 's/^/# bench: /' >&3; } 2>/dev/null || true
	[ "$status" -eq 0 ]

	[[ "$output" == *"4 KiB random I/O on loopback, IOPS (1s each; sheep durable; vdi 64M;"* ]]
	expect_fields "$(row test)" ours built-in rdwr null lib ours/b-in ours/rdwr ours/null ours/lib
	for q in 32 1; do
		for m in randread randwrite; do
			r=$(row "$m" "qd$q")
			expect_fields "$r" "$NUM" "$NUM" "$NUM" "$NUM" "$NUM" \
				"$RATIO" "$RATIO" "$RATIO" "$RATIO"
		done
	done

	[[ "$output" == *"the same machine through the sheep's UNIX socket (ours-ux, lib-ux), IOPS"* ]]
	r=$(awk '/^the same machine through/ { f = 1 } f && $1 == "test" { $1 = ""; print; exit }' <<<"$output")
	expect_fields "$r" ours-ux ours null lib-ux ours-ux/null ours-ux/lib
	for q in 32 1; do
		for m in randread randwrite; do
			r=$(awk -v m="$m" -v q="qd$q" '/^the same machine through/ { f = 1 }
				f && $1 == m && $2 == q { $1 = $2 = ""; print; exit }' <<<"$output")
			expect_fields "$r" "$NUM" "$NUM" "$NUM" "$NUM" "$RATIO" "$RATIO"
		done
	done

	[[ "$output" == *"tgtd CPU time per I/O on loopback, us (user + system, all threads; /proc/PID/stat)"* ]]
	r=$(awk '/^tgtd CPU time per I\/O/ { f = 1 } f && $1 == "test" { $1 = ""; print; exit }' <<<"$output")
	expect_fields "$r" ours ours-ux built-in rdwr null ours/b-in
	for q in 32 1; do
		for m in randread randwrite; do
			r=$(awk -v m="$m" -v q="qd$q" '/^tgtd CPU time per I\/O/ { f = 1 }
				f && $1 == m && $2 == q { $1 = $2 = ""; print; exit }' <<<"$output")
			expect_fields "$r" "$US" "$US" "$US" "$US" "$US" "$RATIO"
		done
	done

	[[ "$output" == *"write-back cache (ours-wb: cache=writeback), randwrite qd32, IOPS"* ]]
	r=$(awk '/^write-back cache/ { f = 1 } f && $1 == "randwrite" { $1 = $2 = ""; print; exit }' \
		<<<"$output")
	expect_fields "$r" "$wb" "$NUM" "$NUM" "$wb_r" "$wb_r"

	[[ "$output" == *"SYNCHRONIZE CACHE cost: randwrite qd32 with one SYNC CACHE(10) every 32 writes"* ]]
	expect_fields "$(row ours)" "$NUM" "$NUM" "$RATIO" "$US"
	expect_fields "$(row ours-wb)" "$wb" "$wb" "$wb_r" "$wb_us"
	expect_fields "$(row rdwr)" "$NUM" "$NUM" "$RATIO" "$US"

	[[ "$output" == *"through sd-proxy (one-way delay per direction), IOPS, mean latency (us) and tgtd CPU per I/O (us)"* ]]
	expect_fields "$(row delay test)" ours built-in ours/b-in ours_lat b-in_lat lat_ratio \
		ours_cpu b-in_cpu
	for d in 0.1 0.5; do
		for q in 1 32 128; do
			for m in randread randwrite; do
				expect_fields "$(row "${d}ms" "$m" "qd$q")" "$px" "$px" "$px_r" \
					"$px_us" "$px_us" "$px_r" "$px_us" "$px_us"
			done
		done
	done

	[[ "$output" == *"CPU per I/O through sd-proxy by process, us (tgtd, sheep, that client's proxy)"* ]]
	r=$(awk '/^CPU per I\/O through sd-proxy/ { f = 1 } f && $1 == "delay" { print; exit }' <<<"$output")
	expect_fields "$r" delay test ours_tgtd ours_sheep ours_prox b-in_tgtd b-in_sheep b-in_prox
	for d in 0.1 0.5; do
		for q in 1 32 128; do
			for m in randread randwrite; do
				r=$(awk -v d="${d}ms" -v m="$m" -v q="qd$q" '/^CPU per I\/O through sd-proxy/ { f = 1 }
					f && $1 == d && $2 == m && $3 == q { $1 = $2 = $3 = ""; print; exit }' <<<"$output")
				expect_fields "$r" "$px_us" "$px_us" "$px_us" "$px_us" "$px_us" "$px_us"
			done
		done
	done

	[[ "$output" == *"targets (issue 3, loopback):"* ]]
	[[ "$output" == *"targets (issue 11):"* ]]
	# 3 + 12 verdicts, each met, NOT met or (for a contender not built) n/a
	[ "$(grep -cE '^  .*: +(met|NOT met|n/a)$' <<<"$output")" -eq 15 ]
	# n/a only where a contender is not built
	local want_px=0 want_wb=0
	[ "$px" != n/a ] || want_px=6
	[ "$wb" != n/a ] || want_wb=2
	[ "$(grep -cE '^  (randread|randwrite|loopback|UNIX) .*: +n/a$' <<<"$output")" -eq 0 ]
	[ "$(grep -cE '^  0\.5ms .*: +n/a$' <<<"$output")" -eq "$want_px" ]
	[ "$(grep -cE '^  write-back .*: +n/a$' <<<"$output")" -eq "$want_wb" ]
	[[ "$output" =~ bench:\ [0-9]+s\ wall ]]
}

@test "scripts/bench: usage errors exit 2" {
	run "$BENCH" --time x --builddir "$SD_TOP_BUILDDIR"
	[ "$status" -eq 2 ]
	run "$BENCH" --delays 0.1ms --builddir "$SD_TOP_BUILDDIR"
	[ "$status" -eq 2 ]
	run "$BENCH" --lat-qd "1 x" --builddir "$SD_TOP_BUILDDIR"
	[ "$status" -eq 2 ]
	run "$BENCH" --bogus
	[ "$status" -eq 2 ]
}

@test "scripts/bench --luns 20 --time 2: the many-LUNs table for ours and the built-in client" {
	local so="$SD_TOP_BUILDDIR/bs_sheepdog/.libs/bs_sheepdog.so" r
	[ -f "$so" ] || skip "no module built (configure found no tgt source)"
	[ -x "$SD_TOOLS/iscsi-luns" ] || { echo "iscsi-luns not built" >&2; return 1; }
	run timeout 600 "$BENCH" --luns 20 --time 2 --builddir "$SD_TOP_BUILDDIR"
	{ sed 's/^/# bench: /' <<<"$output" >&3; } 2>/dev/null || true
	[ "$status" -eq 0 ]
	[[ "$output" == *"20 LUNs of 64M on one tgtd; 2s of random 4 KiB, qd 4 per LUN, all at once"* ]]
	expect_fields "$(row contender)" create/LUN RSS growth "^\+fds$" threads aggr IOPS slowest \
		fastest slow/fast
	for c in ours builtin; do
		r=$(row "$c")
		expect_fields "$r" '^[0-9]+\.[0-9]$' ms "$NUM" KiB "$NUM" "$NUM" "$NUM" "$NUM" "$NUM" \
			"$RATIO"
	done
	# ours: one thread, the pool's fds whatever the LUN count
	[[ "$(row ours)" =~ ^[0-9.]+\ ms\ [0-9]+\ KiB\ 11\ 1\  ]]
	[[ "$output" =~ ours/built-in:\ aggregate\ IOPS\ [0-9]+\.[0-9]{2}x,\ RSS\ growth\ [0-9]+\.[0-9]{2}x ]]
}

@test "scripts/bench --nbd --quick: NBD vs iSCSI tables with ratios" {
	[ -f "$SD_TOP_BUILDDIR/bs_sheepdog/.libs/bs_sheepdog.so" ] || skip "no module built"
	[ -f "$SD_TOP_BUILDDIR/nbdkit/.libs/nbdkit-sheepdog-plugin.so" ] || skip "no nbdkit plugin built"
	local q m r d
	run timeout 600 "$BENCH" --nbd --quick --builddir "$SD_TOP_BUILDDIR"
	{ grep -v '^bench: [a-z0-9.]*,' <<<"$output" | sed 's/^/# bench: /' >&3; } 2>/dev/null || true
	[ "$status" -eq 0 ]
	[[ "$output" == *"NBD (nbdkit-sheepdog-plugin) vs iSCSI (tgtd + bs_sheepdog), same vdi size 64M"* ]]
	expect_fields "$(row test nbd iscsi)" nbd/iscsi
	for q in 32 1; do
		for m in read write; do
			expect_fields "$(row "$m" "qd$q")" "$NUM" "$NUM" "$RATIO"
		done
	done
	for m in read write; do
		expect_fields "$(row "$m" qd32/qd1)" "$RATIO"
	done
	for d in in out; do
		expect_fields "$(row qemu-img convert "$d")" "$NUM" "$NUM" "$RATIO"
		expect_fields "$(row nbdcopy "$d")" "$NUM" n/a "$RATIO"
	done
}
