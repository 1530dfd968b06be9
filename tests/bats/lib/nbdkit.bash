# Helpers for the nbdkit plugin tests (tests/bats/nbdkit_plugin.bats) and
# scripts/bench.  Loaded after lib/common and lib/dog.
#
# The plugin runs uninstalled: nbdkit is given its path, and the loader is
# pointed at the uninstalled libsheepdog.so.  Every nbdkit is started in the
# foreground in the background, by PID, on a UNIX socket in the test's temp
# dir, and stopped by PID with a bounded wait (nbd_stop_all in teardown).

NBD_PLUGIN="$SD_TOP_BUILDDIR/nbdkit/.libs/nbdkit-sheepdog-plugin.so"
export LD_LIBRARY_PATH="$SD_TOP_BUILDDIR/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# nbdkit is not built with the sanitizers: an ASan build's plugin needs the
# runtime loaded first (as tgtd in scripts/test-all's asan phase).  nbdkit's
# own allocations are not ours to check: leak checking stays on, for the
# plugin's, only when the plugin is not ASan-instrumented (it is then under
# valgrind or nothing).
NBD_PRELOAD=()
if ldd "$NBD_PLUGIN" 2>/dev/null | grep -q 'libasan\.so'; then
	NBD_PRELOAD=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
		"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
fi

NBD_PIDS=()

# nbd_start NAME ARGS...: nbdkit with the plugin on $DOG_TMP/NAME.sock with
# the plugin's ARGS (address= added); its log in $DOG_TMP/NAME.log; NBD_URI
# is its URI.  Fails (with the log) when the socket does not appear in 60 s
# or nbdkit exits first.
nbd_start() {
	local name=$1 sock="$DOG_TMP/$1.sock" pid; shift
	rm -f "$sock"
	"${NBD_PRELOAD[@]}" $SD_WRAP nbdkit -f -v -U "$sock" "$NBD_PLUGIN" \
		address="127.0.0.1:$SHEEP_PORT" "$@" >>"$DOG_TMP/$name.log" 2>&1 &
	pid=$!
	NBD_PIDS+=("$pid")
	NBD_URI="nbd+unix:///?socket=$sock"
	if ! sd_wait_for 60 nbd_ready "$pid" "$sock"; then
		echo "nbdkit $name did not start:" >&2
		tail -n 20 "$DOG_TMP/$name.log" >&2
		return 1
	fi
}

nbd_ready() {
	kill -0 "$1" 2>/dev/null && [ -S "$2" ] && timeout 10 nbdinfo --size "nbd+unix:///?socket=$2"
}

# nbd_run_bad ARGS...: nbdkit with the plugin and ARGS must exit non-zero
# at startup, within 60 s; its output in $output.
nbd_run_bad() {
	run timeout 60 "${NBD_PRELOAD[@]}" $SD_WRAP nbdkit -U "$DOG_TMP/bad.sock" "$NBD_PLUGIN" "$@" --run true
	echo "$output"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
}

# nbd_stop_all: TERM every nbdkit started here, wait at most 30 s each;
# returns non-zero if one had to be killed or exited non-zero (a valgrind
# finding is 99).
nbd_stop_all() {
	local pid i rc=0 st
	for pid in "${NBD_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			echo "nbdkit $pid did not exit on TERM" >&2
			rc=1
		fi
		st=0; wait "$pid" 2>/dev/null || st=$?
		[ "$st" -eq 0 ] || { echo "nbdkit $pid exited with $st" >&2; rc=1; }
	done
	NBD_PIDS=()
	return $rc
}
