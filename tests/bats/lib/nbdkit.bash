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
# runtime loaded first (as tgtd in scripts/test-all's asan phase).  Leak
# checking is off there, since nbdkit's own allocations are not ours.
# One more thing of that setup, not of the plugin: once anything in the
# process has formatted an errno text (strerror, %m: nbdkit's own file
# plugin does the same), Debian 12's nbdkit with libasan preloaded hangs
# at exit, after the plugin's cleanup and unload, in libp11-kit's
# destructor (freelocale waiting on glibc's setlocale lock), its only
# thread in a futex wait.  nbd_wait_exit recognises exactly that state in
# this setup and ends the process.
NBD_PRELOAD=()
if ldd "$NBD_PLUGIN" 2>/dev/null | grep -q 'libasan\.so'; then
	NBD_PRELOAD=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
		"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
fi

# nbd_exit_hung PID: the preloaded-ASan exit hang above (one thread left,
# in futex(2), syscall 202 on x86-64).
nbd_exit_hung() {
	[ ${#NBD_PRELOAD[@]} -gt 0 ] || return 1
	[ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" = 1 ] &&
		[ "$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)" = 202 ]
}

# nbd_wait_exit PID SECS: wait for nbdkit PID to exit; its status, 0 for
# the ASan exit hang (seen for 2 s in a row), 124 if still running at SECS.
nbd_wait_exit() {
	local pid=$1 i hung=0 st=0
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		if nbd_exit_hung "$pid"; then hung=$((hung + 1)); else hung=0; fi
		if [ $hung -ge 20 ]; then
			echo "nbdkit $pid: the libasan-preload exit hang, killed" >&2
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		return 124
	fi
	wait "$pid" 2>/dev/null || st=$?
	return $st
}

# Under valgrind (SD_WRAP), nbdkit's own leaks are suppressed, the
# plugin's are not (tests/valgrind/nbdkit.supp).
NBD_WRAP=$SD_WRAP
case $SD_WRAP in
valgrind\ *) NBD_WRAP="$SD_WRAP --suppressions=$SD_TOP_SRCDIR/tests/valgrind/nbdkit.supp" ;;
esac

NBD_PIDS=()

# nbd_start NAME ARGS...: nbdkit with the plugin on $DOG_TMP/NAME.sock with
# the plugin's ARGS (address= added); its log in $DOG_TMP/NAME.log; NBD_URI
# is its URI.  Fails (with the log) when the socket does not appear in 60 s
# or nbdkit exits first.
nbd_start() {
	local name=$1 sock="$DOG_TMP/$1.sock" pid; shift
	rm -f "$sock"
	"${NBD_PRELOAD[@]}" $NBD_WRAP nbdkit -f -v -U "$sock" "$NBD_PLUGIN" \
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

# nbd_start_tcp NAME ARGS...: the same on a free TCP port of 127.0.0.1
# (NBD_PORT), for a qemu guest, which reaches it as 10.0.2.2:NBD_PORT.
nbd_start_tcp() {
	local name=$1 pid; shift
	NBD_PORT=$(sd_free_port)
	"${NBD_PRELOAD[@]}" $NBD_WRAP nbdkit -f -v -i 127.0.0.1 -p "$NBD_PORT" "$NBD_PLUGIN" \
		address="127.0.0.1:$SHEEP_PORT" "$@" >>"$DOG_TMP/$name.log" 2>&1 &
	pid=$!
	NBD_PIDS+=("$pid")
	NBD_URI="nbd://127.0.0.1:$NBD_PORT"
	if ! sd_wait_for 60 nbd_ready_uri "$pid" "$NBD_URI"; then
		echo "nbdkit $name did not start:" >&2
		tail -n 20 "$DOG_TMP/$name.log" >&2
		return 1
	fi
}

nbd_ready_uri() {
	kill -0 "$1" 2>/dev/null && timeout 10 nbdinfo --size "$2"
}

nbd_ready() {
	kill -0 "$1" 2>/dev/null && [ -S "$2" ] && timeout 10 nbdinfo --size "nbd+unix:///?socket=$2"
}

# nbd_run_bad ARGS...: nbdkit with the plugin and ARGS must exit non-zero
# at startup, within 60 s; its output in $output (printed).
nbd_run_bad() {
	local pid st=0
	"${NBD_PRELOAD[@]}" $NBD_WRAP nbdkit -U "$DOG_TMP/bad.sock" "$NBD_PLUGIN" "$@" --run true \
		>"$DOG_TMP/bad.log" 2>&1 &
	pid=$!
	nbd_wait_exit "$pid" 60 || st=$?
	[ "$st" -ne 124 ] || kill -KILL "$pid" 2>/dev/null || true
	output=$(cat "$DOG_TMP/bad.log")
	echo "$output"
	# (0 only for the ASan exit hang: the callers check the message)
	[ "$st" -ne 124 ] && { [ "$st" -ne 0 ] || [ ${#NBD_PRELOAD[@]} -gt 0 ]; }
}

# nbd_stop_all: TERM every nbdkit started here, wait at most 30 s each;
# returns non-zero if one had to be killed or exited non-zero (a valgrind
# finding is 99).
nbd_stop_all() {
	local pid rc=0 st
	for pid in "${NBD_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		st=0
		nbd_wait_exit "$pid" 30 || st=$?
		if [ "$st" -eq 124 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			echo "nbdkit $pid did not exit on TERM" >&2
			rc=1
		elif [ "$st" -ne 0 ]; then
			echo "nbdkit $pid exited with $st" >&2
			rc=1
		fi
	done
	NBD_PIDS=()
	return $rc
}
