# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# The NBD section of scripts/bench (`scripts/bench --nbd`), sourced by it
# after its options, its build and its helpers: the same vdi served by
# nbdkit-sheepdog-plugin over NBD and by tgtd + bs_sheepdog.so over iSCSI,
# driven by the same client (qemu-img, whose NBD and libiscsi drivers are
# both in Debian's qemu-utils / qemu-block-extra), so the ratio compares the
# two gateways and not two load generators:
#   - 4 KiB I/O at queue depths --qd (default "32 1"): `qemu-img bench`,
#     reads and writes at a stride of 9973 blocks modulo the vdi size
#     (coprime with any power-of-two size: every block once per pass,
#     consecutive requests on different objects, so scattered like random
#     I/O), --time x 2000 requests per run;
#   - a sequential copy of the whole vdi in and out: `qemu-img convert` for
#     both, and `nbdcopy` (NBD only; libnbd's copier, several connections)
#     for reference.
# Also the plugin's own overlap: qd32 / qd1 on NBD, > 1 when requests of
# one connection really are in flight together.
# Both vdis are pre-allocated and opened by one gateway each (the plugin
# with shared=false, the LUN with --ours-bsopts, default shared=0).
# Uses from scripts/bench: work, builddir, size, bytes, time_s, qds, nosync,
# ours_bsopts, note, IQN and the helpers of tests/bats/lib.

nbd_plugin=$builddir/nbdkit/.libs/nbdkit-sheepdog-plugin.so
[ -f "$nbd_plugin" ] || { echo "bench: $nbd_plugin not built" >&2; exit 1; }
[ -f "$so" ] || { echo "bench: $so not built: no tgtd side to compare with" >&2; exit 1; }
for t in nbdkit nbdcopy qemu-img; do
	command -v "$t" >/dev/null || { echo "bench: $t not installed (scripts/install-deps)" >&2; exit 1; }
done

nbd_pid=
nbd_cleanup() {
	if [ -n "$nbd_pid" ]; then
		kill "$nbd_pid" 2>/dev/null
		wait "$nbd_pid" 2>/dev/null
	fi
	cleanup
}
trap nbd_cleanup EXIT

sheep_args=()
[ -z "$nosync" ] || sheep_args=(-n)
sheep_start_port4 "$work/store" "${sheep_args[@]}" || { note "sheep did not start"; exit 1; }
port=$SHEEP_PORT
sd_dog cluster format -c 1 >/dev/null
for v in bench-nbd bench-iscsi; do
	timeout 3600 "$DOG" vdi create -P "$v" "$size" -a 127.0.0.1 -p "$port" >/dev/null
done

tgtd_start module
tgt_target_new 1 "$IQN:nbd-vs"
tgt_lun_new 1 1 "tcp:127.0.0.1:$port:bench-iscsi" sheepdog "$ours_bsopts"
url_iscsi=$(tgt_url 1 1)

LD_LIBRARY_PATH="$builddir/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	nbdkit -f -U "$work/nbd.sock" "$nbd_plugin" vdi=bench-nbd address="127.0.0.1:$port" \
	shared=false >"$work/nbdkit.log" 2>&1 &
nbd_pid=$!
url_nbd="nbd+unix:///?socket=$work/nbd.sock"
sd_wait_for 30 timeout 10 nbdinfo --size "$url_nbd" ||
	{ note "nbdkit did not start:"; cat "$work/nbdkit.log" >&2; exit 1; }
note "setup took ${SECONDS}s"

declare -A N
count=$((time_s * 2000))
stride=$((4096 * 9973))
# qbench KEY URL QD [-w]: 4 KiB scattered requests; N[KEY] = IOPS.
qbench() {
	local key=$1 url=$2 q=$3 out secs; shift 3
	note "$key"
	out=$(timeout $((time_s * 60 + 120)) qemu-img bench -f raw "$@" -d "$q" -c "$count" \
		-s 4096 -S "$stride" "$url" 2>&1) || { echo "bench: $key failed: $out" >&2; exit 1; }
	secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' <<<"$out")
	[ -n "$secs" ] || { echo "bench: $key: no time in: $out" >&2; exit 1; }
	N[$key]=$(awk -v c="$count" -v s="$secs" 'BEGIN { printf "%d\n", c / s }')
}
# copy KEY CMD...: N[KEY] = MB/s for the vdi's size.
copy() {
	local key=$1 t0 t1; shift
	note "$key"
	t0=$(date +%s.%N)
	timeout 1800 "$@" >"$work/copy.log" 2>&1 || { echo "bench: $key failed:" >&2; cat "$work/copy.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	N[$key]=$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%d\n", b / 1048576 / (z - a) }')
}

for q in $qds; do
	for m in read write; do
		w=()
		[ $m = read ] || w=(-w)
		qbench "nbd,$m,$q" "$url_nbd" "$q" "${w[@]}"
		qbench "iscsi,$m,$q" "$url_iscsi" "$q" "${w[@]}"
	done
done
head -c "$bytes" /dev/urandom >"$work/img"
copy nbd,in qemu-img convert -n -f raw -O raw "$work/img" "$url_nbd"
copy iscsi,in qemu-img convert -n -f raw -O raw "$work/img" "$url_iscsi"
copy nbd,out qemu-img convert -f raw -O raw "$url_nbd" "$work/out"
copy iscsi,out qemu-img convert -f raw -O raw "$url_iscsi" "$work/out"
copy nbdcopy,in nbdcopy "$work/img" "$url_nbd"
copy nbdcopy,out nbdcopy "$url_nbd" "$work/out"
cmp "$work/img" "$work/out" || { echo "bench: the NBD copy differs from what was written" >&2; exit 1; }

get() { echo "${N[$1]:-n/a}"; }
ratio() {
	case "$1$2" in *n/a*) echo n/a; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx\n", a / b; else print "n/a" }'
}
echo
echo "NBD (nbdkit-sheepdog-plugin) vs iSCSI (tgtd + bs_sheepdog), same vdi size $size," \
	"sheep ${nosync:+-n}${nosync:-durable}, LUN --bsopts '$ours_bsopts'"
echo "4 KiB requests at a stride of 9973 blocks (qemu-img bench, $count per run), IOPS"
f='%-15s %8s %8s %10s\n'
printf "$f" test nbd iscsi nbd/iscsi
for q in $qds; do
	for m in read write; do
		printf "$f" "$m qd$q" "$(get "nbd,$m,$q")" "$(get "iscsi,$m,$q")" \
			"$(ratio "$(get "nbd,$m,$q")" "$(get "iscsi,$m,$q")")"
	done
done
echo
echo "requests in flight through the plugin: NBD qdN / qd1"
f='%-15s %8s\n'
printf "$f" test ratio
for q in $qds; do
	[ "$q" != 1 ] || continue
	for m in read write; do
		printf "$f" "$m qd$q/qd1" "$(ratio "$(get "nbd,$m,$q")" "$(get "nbd,$m,1")")"
	done
done
echo
echo "sequential copy of the whole vdi ($size), MB/s"
f='%-24s %8s %8s %10s\n'
printf "$f" test nbd iscsi nbd/iscsi
for d in in out; do
	printf "$f" "qemu-img convert $d" "$(get "nbd,$d")" "$(get "iscsi,$d")" \
		"$(ratio "$(get "nbd,$d")" "$(get "iscsi,$d")")"
done
for d in in out; do
	printf "$f" "nbdcopy $d" "$(get "nbdcopy,$d")" n/a \
		"$(ratio "$(get "nbdcopy,$d")" "$(get "iscsi,$d")")"
done
echo "(nbdcopy/iscsi: nbdcopy over NBD against qemu-img convert over iSCSI)"
note "took ${SECONDS}s"
exit 0
