# Shared bats helpers: temp dirs, ports, starting and stopping sheep by PID.
# Every wait is bounded.  Source from a .bats file:  load lib/common
#
# Environment (set by `make check`, or by hand):
#   SHEEP, DOG            built binaries
#   SD_TOP_SRCDIR, SD_TOP_BUILDDIR
#   SD_WRAP               optional command prefix for daemons/tools
#                         (e.g. "valgrind --error-exitcode=99 ...")

: "${SD_TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${SD_TOP_BUILDDIR:=$SD_TOP_SRCDIR}"
: "${SHEEP:=$SD_TOP_BUILDDIR/sheep/sheep}"
: "${DOG:=$SD_TOP_BUILDDIR/dog/dog}"
: "${SD_WRAP:=}"
SD_TOOLS="$SD_TOP_BUILDDIR/tests/tools"

# sd_libtool_unwrap VAR: a program linked to the uninstalled shared
# libsheepdog (dog) is a libtool wrapper script.  Under SD_WRAP (valgrind)
# that would check bash, not the program: point VAR at the real binary and
# put the library's build directory on the loader path, as
# `libtool --mode=execute` does.  Nothing changes without SD_WRAP.
sd_libtool_unwrap() {
	local var=$1 lt="$SD_TOP_BUILDDIR/libtool" out
	[ -n "$SD_WRAP" ] && [ -x "$lt" ] || return 0
	head -c 400 "${!var}" 2>/dev/null | grep -q libtool || return 0
	mapfile -t out < <("$lt" --mode=execute sh -c \
		'printf "%s\n%s\n" "$LD_LIBRARY_PATH" "$1"' sh "${!var}")
	[ "${#out[@]}" -eq 2 ] && [ -x "${out[1]}" ] || return 1
	export LD_LIBRARY_PATH="${out[0]}" "$var=${out[1]}"
}
sd_libtool_unwrap DOG

# sd_refute CMD...: fails when CMD succeeds.  Write this, not `! CMD`, in
# the middle of a test: bash exempts a `!` command from errexit, so there
# `! CMD` never fails the test (only as a test's last command does it).
sd_refute() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
	return 0
}

# A free TCP port on 127.0.0.1.  digits=4 keeps it below 10000 (the built-in
# tgt sheepdog client truncates 5-digit ports).
sd_free_port() {
	local digits=${1:-5} lo hi p i
	# stay below Linux's ephemeral range (32768+): a port that is some
	# client's local port makes bind() fail with EADDRINUSE
	if [ "$digits" = 4 ]; then lo=7100; hi=9900; else lo=20000; hi=32700; fi
	for i in $(seq 1 200); do
		p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo) ))
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"; return 0
		fi
	done
	return 1
}

# Poll a command until it succeeds, at most $1 seconds.
sd_wait_for() {
	local secs=$1; shift
	local end=$(( $(date +%s) + secs ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

sd_tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# sheep_start STORE [PORT] [extra sheep args...]: runs sheep in the
# foreground (as a background job), records SHEEP_PID and SHEEP_PORT.
sheep_start() {
	local store=$1; shift
	local port=${1:-}; [ $# -gt 0 ] && shift
	[ -n "$port" ] || port=$(sd_free_port)
	mkdir -p "$store"
	$SD_WRAP "$SHEEP" -f -b 127.0.0.1 -p "$port" "$@" "$store" \
		>>"$store/stdout.log" 2>&1 &
	SHEEP_PID=$!
	SHEEP_PORT=$port
	SHEEP_STORE=$store
	export SHEEP_PID SHEEP_PORT SHEEP_STORE
	if ! sd_wait_for 30 sd_tcp_open "$port"; then
		echo "sheep did not start listening on $port" >&2
		cat "$store/stdout.log" "$store/sheep.log" >&2 2>/dev/null
		return 1
	fi
}

# sheep_start_port4 STORE [extra sheep args...]: sheep_start on a free
# 4-digit port (tgtd's built-in client truncates 5-digit ones), trying up
# to three ports (another process may take one between the check and the
# bind); SHEEP_PORT is the port.
sheep_start_port4() {
	local store=$1 i; shift
	for i in 1 2 3; do
		sheep_start "$store" "$(sd_free_port 4)" "$@" && return 0
		sheep_stop >/dev/null 2>&1 || true
	done
	return 1
}

# sheep_stop [signal]: stop by PID with a bounded wait; returns sheep's exit
# status (0 for a clean TERM exit; valgrind findings surface as 99).
sheep_stop() {
	local sig=${1:-TERM} i rc=0
	[ -n "${SHEEP_PID:-}" ] || return 0
	kill -"$sig" "$SHEEP_PID" 2>/dev/null || true
	for i in $(seq 1 300); do
		kill -0 "$SHEEP_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SHEEP_PID" 2>/dev/null; then
		kill -KILL "$SHEEP_PID" 2>/dev/null || true
		echo "sheep $SHEEP_PID did not exit on $sig" >&2
		rc=1
	fi
	wait "$SHEEP_PID" 2>/dev/null || rc=$?
	SHEEP_PID=
	[ "$sig" = TERM ] || rc=0
	return $rc
}

# sd_skip_heavy WHAT: skip a test that runs libiscsi's conformance families
# when SD_HEAVY=0.  scripts/test-all sets it in the ASan and valgrind phases:
# the families run once per CI run, in the normal phase (scripts/conformance
# and these tests), not again under every sanitizer.
sd_skip_heavy() {
	[ "${SD_HEAVY:-1}" != 0 ] || skip "$1: conformance families run in the normal phase only"
}

# dog against the sheep started by sheep_start, bounded in time.
sd_dog() {
	timeout 120 $SD_WRAP "$DOG" "$@" -a 127.0.0.1 -p "$SHEEP_PORT"
}

# A fresh per-test directory under bats' temp dir.
sd_tmpdir() {
	mktemp -d "${BATS_TMPDIR:-/tmp}/sd.XXXXXX"
}
