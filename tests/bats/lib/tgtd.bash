# tgtd harness: run the stock /usr/sbin/tgtd with a private backing-store
# directory, a private control socket and a loopback portal.  Every wait is
# bounded; tgtd is stopped by PID.  Source after lib/common:
#
#	load lib/common
#	load lib/tgtd
#
# tgtd_start module|builtin
#	Starts `tgtd -f -C $TGTD_CTL --iscsi portal=127.0.0.1:$TGTD_PORT` in a
#	private mount namespace in which /usr/lib/tgt/backing-store is a bind
#	mount of a temp dir: with `module` it holds a copy of the built
#	bs_sheepdog.so ($BS_SHEEPDOG_SO, default
#	$SD_TOP_BUILDDIR/bs_sheepdog/.libs/bs_sheepdog.so); with `builtin` it is
#	empty, so tgtd's own built-in sheepdog client serves --bstype sheepdog.
#	If /usr/lib/tgt does not exist, an overlayfs (upper/work dirs in the temp
#	dir) is mounted over /usr/lib inside the namespace first.  Nothing on
#	the real filesystem changes: the management socket lives under
#	$TGT_IPC_SOCKET (exported; tgtd and tgtadm both honour it), not in
#	/var/run/tgtd.
#	Sets and exports TGTD_PID (the tgtd process itself: unshare and the
#	setup shell exec it), TGTD_CTL (control port number), TGTD_PORT (iSCSI
#	portal port), TGTD_LOG (tgtd's stdout+stderr), TGTD_DIR (temp dir).
#	Returns non-zero (and prints the log) if tgtd does not answer
#	`tgtadm --op show --mode sys` within $TGTD_START_TIMEOUT seconds (20).
#	TGTD_WRAP: optional command prefix for tgtd (e.g. valgrind).
#	TGTD_ARGS: optional extra tgtd arguments (e.g. "-t 4").
#
# tgtd_stop
#	Stops the instance whose variables are current (see tgtd_save /
#	tgtd_use for several instances): State offline, every target deleted
#	with --force, `--op delete --mode system`, bounded wait for the PID,
#	then SIGKILL.  Returns non-zero if tgtd had to be killed or exited
#	with a non-zero status.
#
# tgt_target_new TID IQN		new target, all initiators bound
# tgt_lun_new TID LUN BACKING [BSTYPE] [BSOPTS]
#					new LUN (BSTYPE defaults to sheepdog);
#					prints tgtadm's error, returns its status
# tgt_lun_del TID LUN
# tgt_url TID LUN			iscsi://127.0.0.1:$TGTD_PORT/$IQN/$LUN
# tgt_adm ARGS...			tgtadm -C $TGTD_CTL ARGS, bounded
# tgtd_save NAME / tgtd_use NAME	remember / switch between instances
# tgtd_stop_all				stop every instance this shell started
#					(use it in teardown)
#
# Threading/ownership: plain bash; the temp dir belongs to the instance and
# is removed by tgtd_stop unless TGTD_KEEP is set.

: "${TGTD_BIN:=/usr/sbin/tgtd}"
: "${TGTADM_BIN:=/usr/sbin/tgtadm}"
: "${TGTD_WRAP:=}"
: "${TGTD_ARGS:=}"
: "${TGTD_START_TIMEOUT:=20}"
: "${TGTD_STOP_TIMEOUT:=20}"

TGTD_BSDIR_REAL=/usr/lib/tgt/backing-store

# One private directory for the management sockets of all tgtds started by
# this shell.  sun_path is limited to 108 bytes, so keep it short.
_tgtd_ipc_init() {
	if [ -z "${TGTD_IPC_DIR:-}" ] || [ ! -d "$TGTD_IPC_DIR" ]; then
		TGTD_IPC_DIR=$(mktemp -d /tmp/sdtgt.XXXXXX) || return 1
		export TGTD_IPC_DIR
	fi
	export TGT_IPC_SOCKET="$TGTD_IPC_DIR/socket"
}

# A control port (tgtd keeps it in a short int) whose socket is unused.
_tgtd_free_ctl() {
	local i p
	for i in $(seq 1 100); do
		p=$(( 1000 + RANDOM % 30000 ))
		if [ ! -e "$TGT_IPC_SOCKET.$p" ] && [ ! -e "$TGT_IPC_SOCKET.$p.lock" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

tgt_adm() {
	timeout 60 "$TGTADM_BIN" -C "$TGTD_CTL" "$@"
}

# Alive and not a zombie (an exited child stays visible to kill -0 until
# it is reaped).
_tgtd_alive() {
	local st
	[ -n "${TGTD_PID:-}" ] || return 1
	st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$TGTD_PID/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_tgtd_answers() {
	_tgtd_alive || return 2
	timeout 5 "$TGTADM_BIN" -C "$TGTD_CTL" --op show --mode sys >/dev/null 2>&1
}

_tgtd_start_once() {
	local mode=$1 so dir setup end rc
	case "$mode" in
	module)
		so=${BS_SHEEPDOG_SO:-$SD_TOP_BUILDDIR/bs_sheepdog/.libs/bs_sheepdog.so}
		if [ ! -f "$so" ]; then
			echo "tgtd_start: module $so not built" >&2
			return 1
		fi
		;;
	builtin) so= ;;
	*)
		echo "tgtd_start: mode must be module or builtin, not '$mode'" >&2
		return 1
		;;
	esac
	_tgtd_ipc_init || return 1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/sdtgtd.XXXXXX") || return 1
	mkdir -p "$dir/bs" "$dir/upper" "$dir/work"
	[ -z "$so" ] || cp "$so" "$dir/bs/" || return 1
	TGTD_DIR=$dir
	TGTD_CTL=$(_tgtd_free_ctl) || return 1
	TGTD_PORT=$(sd_free_port) || return 1
	TGTD_LOG=$dir/tgtd.log
	export TGTD_DIR TGTD_CTL TGTD_PORT TGTD_LOG

	# Runs inside the new namespace; the final exec keeps the PID, so
	# $! below is tgtd's own PID.
	setup=$dir/setup.sh
	cat >"$setup" <<-EOF
	set -e
	# The new namespace holds a copy of every mount, a FUSE file system
	# of another test (sheepfs) too, and its daemon exits only when the
	# last copy is gone: drop this one, or an unmount there waits for
	# this tgtd to end.
	awk '{ for (i = 7; i < NF; i++) if (\$i == "-") { if (\$(i + 1) ~ /^fuse/) print \$5; break } }' \\
		/proc/self/mountinfo | while read -r m; do umount -l "\$(printf '%b' "\$m")" || true; done
	bsdir=$TGTD_BSDIR_REAL
	if [ ! -d "\$bsdir" ]; then
		mount -t overlay sd-tgt-overlay \\
			-o lowerdir=/usr/lib,upperdir=$dir/upper,workdir=$dir/work /usr/lib
		mkdir -p "\$bsdir"
	fi
	mount --bind $dir/bs "\$bsdir"
	exec $TGTD_WRAP $TGTD_BIN -f -C $TGTD_CTL $TGTD_ARGS --iscsi portal=127.0.0.1:$TGTD_PORT
	EOF
	# 3>&-: bats waits for its fd 3 to close; a leaked tgtd must not hang it.
	unshare -m --propagation private /bin/bash "$setup" >"$TGTD_LOG" 2>&1 </dev/null 3>&- &
	TGTD_PID=$!
	TGTD_OWNER=$BASHPID
	export TGTD_PID TGTD_OWNER
	_TGTD_STARTED="${_TGTD_STARTED:-} $TGTD_PID:$TGTD_OWNER:$TGTD_CTL:$TGTD_PORT:$TGTD_DIR"

	end=$(( $(date +%s) + TGTD_START_TIMEOUT ))
	while :; do
		rc=0
		_tgtd_answers || rc=$?	# set -e safe (bats, scripts/demo)
		[ $rc -eq 0 ] && return 0
		if [ $rc -eq 2 ] || [ "$(date +%s)" -ge "$end" ]; then
			break
		fi
		sleep 0.1
	done
	echo "tgtd_start: tgtd (pid $TGTD_PID, ctl $TGTD_CTL, portal $TGTD_PORT) did not come up" >&2
	cat "$TGTD_LOG" >&2
	if _tgtd_alive; then
		kill -KILL "$TGTD_PID" 2>/dev/null || true
		rc=3
	fi
	wait "$TGTD_PID" 2>/dev/null || true
	TGTD_PID=
	[ -n "${TGTD_KEEP:-}" ] || rm -rf "$dir"
	return $rc
}

# Retries (new ports) when tgtd died at startup, e.g. because another
# process took the portal port between sd_free_port and tgtd's bind.
tgtd_start() {
	local i rc=1
	for i in 1 2 3; do
		rc=0
		_tgtd_start_once "${1:-module}" || rc=$?
		[ $rc -eq 2 ] || return $rc
		echo "tgtd_start: tgtd exited during startup, retrying ($i)" >&2
	done
	return 1
}

# Target ids currently configured in the instance.
tgt_tids() {
	tgt_adm --op show --mode target 2>/dev/null |
		sed -n 's/^Target \([0-9][0-9]*\): .*/\1/p'
}

tgtd_stop() {
	local tid i rc=0 st=0
	[ -n "${TGTD_PID:-}" ] || return 0
	if _tgtd_alive; then
		# Failures here are expected when tgtd is wedged: the bounded wait
		# and KILL below deal with it.
		tgt_adm --op update --mode sys --name State -v offline >/dev/null 2>&1 || true
		for tid in $(tgt_tids); do
			tgt_adm --op delete --mode target --tid "$tid" --force >/dev/null 2>&1 || true
		done
		tgt_adm --op delete --mode system >/dev/null 2>&1 || true
		for i in $(seq 1 $(( TGTD_STOP_TIMEOUT * 10 ))); do
			_tgtd_alive || break
			sleep 0.1
		done
		if _tgtd_alive; then
			echo "tgtd $TGTD_PID did not exit; killing it" >&2
			kill -KILL "$TGTD_PID" 2>/dev/null || true
			rc=1
		fi
	fi
	# Only the shell that started tgtd can reap it and know its status
	# (not `run`'s subshell, nor a test when it started in setup_file).
	if [ "${TGTD_OWNER:-}" = "$BASHPID" ]; then
		wait "$TGTD_PID" 2>/dev/null || st=$?
	fi
	if [ $rc -eq 0 ] && [ $st -ne 0 ] && [ $st -ne 127 ]; then
		echo "tgtd $TGTD_PID exited with status $st" >&2
		rc=1
	fi
	TGTD_PID=
	if [ $rc -ne 0 ]; then
		echo "--- tail of $TGTD_LOG ---" >&2
		tail -n 40 "$TGTD_LOG" >&2 2>/dev/null || true
	fi
	if [ -z "${TGTD_KEEP:-}" ] && [ -n "${TGTD_DIR:-}" ]; then
		# Keep the log next to the test's files if asked to.
		[ -z "${TGTD_LOG_SAVE:-}" ] || cp "$TGTD_LOG" "$TGTD_LOG_SAVE" 2>/dev/null || true
		rm -rf "$TGTD_DIR"
	fi
	rm -f "$TGT_IPC_SOCKET.$TGTD_CTL" "$TGT_IPC_SOCKET.$TGTD_CTL.lock"
	rmdir "$TGTD_IPC_DIR" 2>/dev/null || true
	return $rc
}

# Stops every instance this shell started that is still running (for
# teardown: also catches instances whose variables were overwritten).
# Returns non-zero if any had to be killed.
tgtd_stop_all() {
	local e pid rest rc=0
	for e in ${_TGTD_STARTED:-}; do
		pid=${e%%:*}
		rest=${e#*:}
		TGTD_PID=$pid
		TGTD_OWNER=${rest%%:*}
		rest=${rest#*:}
		TGTD_CTL=${rest%%:*}
		rest=${rest#*:}
		TGTD_PORT=${rest%%:*}
		TGTD_DIR=${rest#*:}
		TGTD_LOG=$TGTD_DIR/tgtd.log
		if _tgtd_alive; then
			tgtd_stop || rc=1
		else
			[ "$TGTD_OWNER" != "$BASHPID" ] || wait "$pid" 2>/dev/null || true
			[ -n "${TGTD_KEEP:-}" ] || rm -rf "$TGTD_DIR"
		fi
	done
	_TGTD_STARTED=
	TGTD_PID=
	return $rc
}

# Several instances: tgtd_save NAME stores the current variables under
# NAME, tgtd_use NAME makes them current again.
tgtd_save() {
	local v
	for v in TGTD_PID TGTD_CTL TGTD_PORT TGTD_LOG TGTD_DIR TGTD_OWNER; do
		eval "_TGTD_${1}_$v=\${$v:-}"
	done
}

tgtd_use() {
	local v
	for v in TGTD_PID TGTD_CTL TGTD_PORT TGTD_LOG TGTD_DIR TGTD_OWNER; do
		eval "$v=\${_TGTD_${1}_$v:-}"
		export "${v?}"
	done
}

tgt_target_new() {
	local tid=$1 iqn=$2 out
	if ! out=$(tgt_adm --lld iscsi --op new --mode target --tid "$tid" -T "$iqn" 2>&1); then
		echo "tgt_target_new $tid $iqn: $out" >&2
		return 1
	fi
	if ! out=$(tgt_adm --lld iscsi --op bind --mode target --tid "$tid" -I ALL 2>&1); then
		echo "tgt_target_new $tid: bind: $out" >&2
		return 1
	fi
	eval "_TGT_IQN_${TGTD_CTL}_$tid=\$iqn"
}

tgt_lun_new() {
	local tid=$1 lun=$2 backing=$3 bstype=${4:-sheepdog} bsopts=${5:-} out rc=0
	local args=(--lld iscsi --op new --mode logicalunit --tid "$tid" --lun "$lun"
		--backing-store "$backing" --bstype "$bstype")
	[ -z "$bsopts" ] || args+=(--bsopts "$bsopts")
	out=$(tgt_adm "${args[@]}" 2>&1) || rc=$?
	[ -z "$out" ] || echo "$out"
	return $rc
}

tgt_lun_del() {
	tgt_adm --lld iscsi --op delete --mode logicalunit --tid "$1" --lun "$2"
}

tgt_url() {
	local iqn
	eval "iqn=\${_TGT_IQN_${TGTD_CTL}_$1:-}"
	if [ -z "$iqn" ]; then
		iqn=$(tgt_adm --op show --mode target 2>/dev/null |
			sed -n "s/^Target $1: \(.*\)/\1/p")
	fi
	echo "iscsi://127.0.0.1:$TGTD_PORT/$iqn/$2"
}
