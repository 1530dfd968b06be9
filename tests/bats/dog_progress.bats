#!/usr/bin/env bats
# Progress display of long dog commands (vdi write, vdi read, vdi create -P):
# upstream's percentage bar on stderr when stderr is a terminal, nothing
# otherwise.  The terminal is a pseudo-terminal from script(1).

load lib/common
load lib/dog

MiB=1048576

setup() {
	command -v script >/dev/null || skip "script(1) (util-linux) is not installed"
	dog_setup_formatted
	dog_random_file "$DOG_TMP/data" $((64 * MiB))
	DOG_AP="-a 127.0.0.1 -p $SHEEP_PORT"
}

teardown() {
	dog_teardown
}

# on_tty CMDLINE: run a shell command line whose stdin, stdout and stderr
# are a pseudo-terminal unless it redirects them; what reached the terminal
# is left in $DOG_TMP/tty.  Returns the command's status.
on_tty() {
	timeout 300 script -qec "$1" /dev/null </dev/null >"$DOG_TMP/tty"
}

# The terminal showed upstream's bar, ending at 100 % of $1.
drew_progress() {
	grep -q '[0-9]\.[0-9] % \[=*>\? *\] ' "$DOG_TMP/tty" &&
		grep -q "100\.0 % \[=*\] $1 / $1" "$DOG_TMP/tty"
}

@test "progress: vdi write and vdi read draw a bar on a terminal" {
	sd_dog vdi create v 64M
	# stdin pauses after 8 MiB, so the write lasts past the first redraw
	on_tty "{ head -c $((8 * MiB)) '$DOG_TMP/data'; sleep 1;
		  tail -c +$((8 * MiB + 1)) '$DOG_TMP/data'; } |
		$SD_WRAP '$DOG' vdi write v $DOG_AP"
	drew_progress "64 MB"
	sd_dog vdi read v >"$DOG_TMP/back"
	dog_same "$DOG_TMP/back" "$DOG_TMP/data"

	# stdout is a pipe to a reader that starts late
	on_tty "$SD_WRAP '$DOG' vdi read v $DOG_AP | { sleep 1; cat >'$DOG_TMP/back2'; }"
	drew_progress "64 MB"
	# byte for byte: the bar went to the terminal only, not into the data
	dog_same "$DOG_TMP/back2" "$DOG_TMP/data"
}

@test "progress: vdi create -P draws a bar on a terminal" {
	# 256 objects of 1 MiB: long enough to pass the first redraw
	on_tty "$SD_WRAP '$DOG' vdi create -P -z 20 pre 256M $DOG_AP"
	drew_progress "256 MB"
	[ "$(dog_list_field pre = 0 5)" = $((256 * MiB)) ]
}

@test "progress: nothing is drawn when stderr is not a terminal" {
	sd_dog vdi create v 64M
	# stdout on the terminal, stderr to a file: still no bar anywhere
	on_tty "{ head -c $((8 * MiB)) '$DOG_TMP/data'; sleep 1;
		  tail -c +$((8 * MiB + 1)) '$DOG_TMP/data'; } |
		$SD_WRAP '$DOG' vdi write v $DOG_AP 2>'$DOG_TMP/err'"
	[ ! -s "$DOG_TMP/err" ]
	[ "$(grep -c '% \[' "$DOG_TMP/tty")" = 0 ]
	on_tty "$SD_WRAP '$DOG' vdi read v $DOG_AP 2>'$DOG_TMP/err' |
		{ sleep 1; cat >'$DOG_TMP/back'; }"
	[ ! -s "$DOG_TMP/err" ]
	[ "$(grep -c '% \[' "$DOG_TMP/tty")" = 0 ]
	dog_same "$DOG_TMP/back" "$DOG_TMP/data"
	on_tty "$SD_WRAP '$DOG' vdi create -P -z 20 pre 256M $DOG_AP 2>'$DOG_TMP/err'"
	[ ! -s "$DOG_TMP/err" ]
	[ "$(grep -c '% \[' "$DOG_TMP/tty")" = 0 ]
	# and without any terminal at all
	sd_dog vdi read v >"$DOG_TMP/back" 2>"$DOG_TMP/err"
	[ ! -s "$DOG_TMP/err" ]
	dog_same "$DOG_TMP/back" "$DOG_TMP/data"
}
