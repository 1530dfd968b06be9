#!/usr/bin/env bats
# dog command-line handling: usage errors, help, bad input, unreachable sheep.
# Exit codes are upstream dog's: 0 ok, 1 failure, 2 sheep unreachable or
# cluster unusable, 3 exists, 5 missing, 64 usage.

load lib/common
load lib/dog

teardown() {
	dog_teardown
}

@test "dog: no arguments prints usage and exits 64" {
	run dog_raw
	[ "$status" -eq 64 ]
	[[ "$output" == *"Usage: dog <command> <subcommand>"* ]]
}

@test "dog: --help prints usage and exits 0" {
	run dog_raw --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"vdi create"* ]]
	[[ "$output" == *"cluster format"* ]]
}

@test "dog: unknown command and subcommand are usage errors" {
	run dog_raw frobnicate list
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid command 'frobnicate'"* ]]
	run dog_raw vdi frobnicate
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid vdi subcommand 'frobnicate'"* ]]
	run dog_raw vdi
	[ "$status" -eq 64 ]
	[[ "$output" == *"Available vdi subcommands"* ]]
}

@test "dog: per-command -h/--help" {
	run dog_raw vdi create -h
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Usage: dog vdi create"*"<vdiname> <size>" ]]
	[[ "$output" == *"--prealloc"* ]]
	run dog_raw vdi read --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Usage: dog vdi read"*"<vdiname> [<offset> [<len>]]" ]]
	run dog_raw cluster format --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--copies"* ]]
	run dog_raw node list -h
	[ "$status" -eq 0 ]
}

@test "dog: missing and extra arguments" {
	run dog_raw vdi create onlyname
	[ "$status" -eq 64 ]
	[[ "$output" == *"Missing argument <size>"* ]]
	run dog_raw vdi create
	[ "$status" -eq 64 ]
	[[ "$output" == *"Missing argument <vdiname>"* ]]
	run dog_raw vdi delete
	[ "$status" -eq 64 ]
	run dog_raw vdi read a 0 1 extra
	[ "$status" -eq 64 ]
	[[ "$output" == *"Too many arguments"* ]]
	run dog_raw cluster info extra
	[ "$status" -eq 64 ]
}

@test "dog: bad options and option values" {
	run dog_raw vdi list -Z
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid option '-Z'"* ]]
	run dog_raw vdi list --bogus
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid option '--bogus'"* ]]
	# an option of another subcommand
	run dog_raw vdi list -P
	[ "$status" -eq 64 ]
	run dog_raw vdi create -c
	[ "$status" -eq 64 ]
	[[ "$output" == *"requires an argument"* ]]
	# a bad value of a subcommand option is exit 1 in 1.0.1, not 64
	run dog_raw vdi create -c 0 a 1G
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid number of copies '0'"* ]]
	run dog_raw vdi create -c 32 a 1G
	[ "$status" -eq 1 ]
	run dog_raw vdi create -z 19 a 1G
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid block size shift '19'"* ]]
	run dog_raw vdi list -p 70000
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid port number '70000'"* ]]
	run dog_raw vdi list -p abc
	[ "$status" -eq 64 ]
	run dog_raw vdi list -a '[::1'
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid address"* ]]
}

@test "dog: bad sizes are rejected before contacting sheep" {
	local port
	port=$(sd_free_port)
	for s in 12Q 1GG "" 1.2.3 0x10 G 99999999999999999999P; do
		run dog_raw vdi create x "$s" -p "$port"
		[ "$status" -eq 64 ]
		[[ "$output" == *"Invalid size '$s'"* ]]
		[[ "$output" != *"Failed to connect"* ]]
	done
	run dog_raw vdi resize x 3Z -p "$port"
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid size '3Z'"* ]]
	run dog_raw vdi read x 1Q -p "$port"
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid offset '1Q'"* ]]
	run dog_raw vdi write x 0 zz -p "$port" </dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"Invalid length 'zz'"* ]]
}

@test "dog: unreachable sheep names the address and the cause" {
	local port
	port=$(sd_free_port)
	# exit codes as 1.0.1's: 2 where it asks for the node list first, 1
	# where the failed request is the command's own (vdi delete: 0 there)
	for cmd in "vdi list:2" "node list:2" "node info:2" "cluster info:2" "vdi create x 1G:2" \
	    "vdi check x:2" "cluster shutdown:1" "vdi read x:1" "vdi snapshot x:1" \
	    "vdi delete x:1"; do
		run dog_raw ${cmd%:*} -a 127.0.0.1 -p "$port"
		[ "$status" -eq "${cmd##*:}" ]
		[[ "$output" == *"Failed to connect to 127.0.0.1:$port: Connection refused"* ]]
	done
	# a bare IPv6 literal is accepted, as upstream
	run dog_raw vdi list -a ::1 -p "$port"
	[ "$status" -eq 2 ]
	[[ "$output" == *"Failed to connect to [::1]:$port: "* ]]
}

@test "dog: unix socket address and -a/-p anywhere on the line" {
	DOG_TMP=$(sd_tmpdir)
	sheep_start "$DOG_TMP/store"
	run dog_raw -a 127.0.0.1 -p "$SHEEP_PORT" cluster format
	[ "$status" -eq 0 ]
	run dog_raw vdi -p "$SHEEP_PORT" create -a 127.0.0.1 v1 1G
	[ "$status" -eq 0 ]
	run dog_raw vdi list -r v1 --port "$SHEEP_PORT" --address 127.0.0.1
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "= v1 0 1073741824 "* ]]
	run dog_raw vdi list -r -a "unix:$SHEEP_STORE/sock"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "= v1 0 1073741824 "* ]]
}

@test "dog: commands on an unformatted cluster fail with the reason" {
	DOG_TMP=$(sd_tmpdir)
	sheep_start "$DOG_TMP/store"
	run sd_dog vdi create v1 1G
	[ "$status" -ne 0 ]
	[[ "$output" == *"Failed to create VDI v1: Waiting for cluster to be formatted"* ]]
	run sd_dog vdi read v1
	[ "$status" -ne 0 ]
	[[ "$output" == *"Failed to open VDI v1: Waiting for cluster to be formatted"* ]]
	# listing an empty, unformatted cluster is fine
	run sd_dog vdi list -r
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
