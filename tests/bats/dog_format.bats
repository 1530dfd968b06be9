#!/usr/bin/env bats
# dog cluster format / cluster info / node list / cluster shutdown.

load lib/common
load lib/dog

setup() {
	DOG_TMP=$(sd_tmpdir)
	sheep_start "$DOG_TMP/store"
}

teardown() {
	local pid
	for pid in ${EXTRA_PIDS:-}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	EXTRA_PIDS=
	dog_teardown
}

# relay_start LISTEN SHEEP [EXTRA...]: lib/nodelist_relay.py in the
# background (its node list gets one node per EXTRA port).
relay_start() {
	python3 "$BATS_TEST_DIRNAME/lib/nodelist_relay.py" "$@" &
	EXTRA_PIDS="${EXTRA_PIDS:-} $!"
	sd_wait_for 10 sd_tcp_open "$1"
}

@test "format: node list and cluster info before and after format" {
	run sd_dog node list
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "  Id   Host:Port         V-Nodes       Zone" ]
	[[ "${lines[1]}" =~ ^\ \ \ 0\ \ \ 127\.0\.0\.1:$SHEEP_PORT\ +$'\t'128\ +16777343$ ]]
	[ "${#lines[@]}" -eq 2 ]
	run sd_dog node list -r
	[ "$status" -eq 0 ]
	[ "$output" = "0 127.0.0.1:$SHEEP_PORT 128 16777343" ]

	run sd_dog cluster info
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Cluster status: Waiting for cluster to be formatted" ]
	[[ "$output" != *"Cluster created at"* ]]

	run sd_dog cluster format
	[ "$status" -eq 0 ]
	[ "$output" = "using backend plain store" ]

	run sd_dog cluster info
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Cluster status: running, auto-recovery enabled" ]
	[[ "${lines[1]}" == "Cluster created at "* ]]
	[[ "${lines[1]}" == *" $(date +%Y)" ]]
	[ "${lines[2]}" = "Epoch Time           Version [Host:Port:V-Nodes,,,]" ]
	[[ "${lines[3]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ {6}1\ \[127\.0\.0\.1:$SHEEP_PORT:128\]$ ]]
	# the blank lines of upstream's layout are there too
	run bash -c "timeout 60 $SD_WRAP '$DOG' cluster info -p $SHEEP_PORT | sed -n '2p;4p'"
	[ "$status" -eq 0 ]
	[ -z "$output" ]

	run sd_dog cluster info -r
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "running, auto-recovery enabled" ]
	[[ "${lines[1]}" =~ ^[0-9]+\ 1\ \[127\.0\.0\.1:$SHEEP_PORT:128\]$ ]]
	# 1.0.1 ends the status with a blank line in raw mode too
	run bash -c "timeout 60 $SD_WRAP '$DOG' cluster info -r -p $SHEEP_PORT | sed -n 2p"
	[ "$status" -eq 0 ]
	[ -z "$output" ]

	run sd_dog node list -r
	[ "$output" = "0 127.0.0.1:$SHEEP_PORT 128 16777343" ]
}

@test "format: cluster creation time is now" {
	local before after created
	before=$(date +%s)
	sd_dog cluster format >/dev/null
	after=$(date +%s)
	created=$(sd_dog cluster info | sed -n 's/^Cluster created at //p')
	created=$(date -d "$created" +%s)
	[ "$created" -ge $((before - 1)) ]
	[ "$created" -le $((after + 1)) ]
}

@test "format: -c and -z set the defaults new vdis get" {
	# more copies than nodes: upstream asks first; "no" leaves it unformatted
	run bash -c "echo no | timeout 60 $SD_WRAP '$DOG' cluster format -c 2 -p $SHEEP_PORT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Number of copies (2) is larger than number of nodes (1)"* ]]
	run sd_dog cluster info
	[ "${lines[0]}" = "Cluster status: Waiting for cluster to be formatted" ]
	sd_dog cluster format -f -c 2 -z 20 >/dev/null
	sd_dog vdi create v1 100M
	run dog_list_raw_line v1 =
	[ "$(echo "$output" | awk '{ print $9 }')" = 2 ]
	[ "$(echo "$output" | awk '{ print $10 }')" = 20 ]
	run sd_dog cluster info -v
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "Cluster store: plain with 2 redundancy policy" ]
	[[ "$output" != *"block size shift"* ]]
	# explicit per-vdi values override the defaults
	sd_dog vdi create -c 1 -z 22 v2 100M
	run dog_list_raw_line v2 =
	[ "$(echo "$output" | awk '{ print $9 }')" = 1 ]
	[ "$(echo "$output" | awk '{ print $10 }')" = 22 ]
}

@test "format: cluster info -v prints 1.0.1's store, vnodes strategy and vnode mode lines" {
	run sd_dog cluster info -v
	[ "$status" -eq 0 ]
	[ "$output" = "Cluster status: Waiting for cluster to be formatted
Cluster store: Waiting for cluster to be formatted
Cluster vnode mode: node" ]
	run sd_dog cluster info -v -r
	[ "$output" = "Waiting for cluster to be formatted
Waiting for cluster to be formatted
node" ]

	sd_dog cluster format -c 2:1 >/dev/null
	run sd_dog cluster info -v
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Cluster status: running, auto-recovery enabled" ]
	[ "${lines[1]}" = "Cluster store: plain with 2:1 redundancy policy" ]
	[ "${lines[2]}" = "Cluster vnodes strategy: auto" ]
	[ "${lines[3]}" = "Cluster vnode mode: node" ]
	[[ "${lines[4]}" == "Cluster created at "* ]]
	# no blank line between the vnode mode and the creation time
	run bash -c "timeout 60 $SD_WRAP '$DOG' cluster info -v -p $SHEEP_PORT | sed -n 5p"
	[[ "$output" == "Cluster created at "* ]]
	run sd_dog cluster info -v -r
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "plain with 2:1 redundancy policy" ]
	[ "${lines[2]}" = "auto" ]
	[ "${lines[3]}" = "node" ]
	[[ "${lines[4]}" =~ ^[0-9]+\ 1\ \[127\.0\.0\.1:$SHEEP_PORT:128\]$ ]]
}

@test "format: default copies is 3 and default object size 4 MiB" {
	sd_dog cluster format >/dev/null
	sd_dog vdi create v1 1G
	run dog_list_raw_line v1 =
	[ "$(echo "$output" | awk '{ print $9 }')" = 3 ]
	[ "$(echo "$output" | awk '{ print $10 }')" = 22 ]
}

@test "format: re-format asks before erasing vdis; -f does not" {
	sd_dog cluster format >/dev/null
	sd_dog vdi create keep 1G
	run bash -c "echo no | timeout 60 $SD_WRAP '$DOG' cluster format -p $SHEEP_PORT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Are you sure you want to continue? [yes/no]"* ]]
	[[ "$output" != *"using backend"* ]]
	[ -n "$(dog_list_raw_line keep =)" ]

	run bash -c "echo yes | timeout 60 $SD_WRAP '$DOG' cluster format -p $SHEEP_PORT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"using backend plain store"* ]]
	[ -z "$(dog_list_raw_line keep =)" ]

	sd_dog vdi create keep2 1G
	run sd_dog cluster format -f </dev/null
	[ "$status" -eq 0 ]
	[ -z "$(sd_dog vdi list -r)" ]
	# and the cluster is usable again
	sd_dog vdi create again 1G
	[ -n "$(dog_list_raw_line again =)" ]
}

@test "format: unknown backend store is refused" {
	run sd_dog cluster format -b nosuchstore
	[ "$status" -eq 2 ]
	[[ "$output" == *"Format failed: Targeted backend store is not found"* ]]
	run sd_dog cluster info
	[ "${lines[0]}" = "Cluster status: Waiting for cluster to be formatted" ]
}

@test "format: cluster shutdown stops sheep" {
	local i
	sd_dog cluster format >/dev/null
	run sd_dog cluster shutdown
	[ "$status" -eq 0 ]
	for i in $(seq 1 100); do
		kill -0 "$SHEEP_PID" 2>/dev/null || break
		sleep 0.1
	done
	sd_refute kill -0 "$SHEEP_PID" 2>/dev/null
	run sd_dog vdi list
	[ "$status" -eq 2 ]
}

@test "format: node info reports the store and the total vdi size" {
	run sd_dog node info
	[ "$status" -eq 2 ]
	[[ "$output" == *"Waiting for cluster to be formatted"* ]]
	sd_dog cluster format >/dev/null
	sd_dog vdi create a 1G
	sd_dog vdi create b 20M
	sd_dog vdi snapshot b
	run sd_dog node info
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf 'Id\tSize\tUsed\tAvail\tUse%%')" ]
	[[ "${lines[1]}" =~ ^\ 0$'\t'[0-9.]+\ [MGTP]B$'\t' ]]
	[[ "${lines[2]}" == "Total"$'\t'* ]]
	[ "${lines[3]}" = "$(printf 'Total virtual image size\t1.0 GB')" ]
	run sd_dog node info -r
	[ "$status" -eq 0 ]
	local size used avail
	read -r _ size used avail _ <<<"${lines[0]}"
	[ "$size" -gt 0 ]
	[ $((used + avail)) -eq "$size" ]
	# working vdis only: 1 GiB + 20 MiB, the snapshot is not counted
	[[ "${lines[1]}" =~ ^Total\ $size\ $used\ $avail\ [0-9]+%\ 1094713344$ ]]
}

@test "format: node info asks every node of the node list at its own address" {
	local p2 relay dead size1 size2 total
	sd_dog cluster format -c 1 >/dev/null
	sd_dog vdi create a 1G
	# a second sheep of ours, formatted, and a relay whose node list
	# names both (the first as the connected sheep, the second by its port)
	p2=$(sd_free_port)
	mkdir -p "$DOG_TMP/store2"
	$SD_WRAP "$SHEEP" -f -b 127.0.0.1 -p "$p2" "$DOG_TMP/store2" >>"$DOG_TMP/store2/stdout.log" 2>&1 &
	EXTRA_PIDS="${EXTRA_PIDS:-} $!"
	sd_wait_for 30 sd_tcp_open "$p2"
	timeout 60 $SD_WRAP "$DOG" cluster format -c 1 -p "$p2" >/dev/null
	relay=$p2
	while [ "$relay" = "$p2" ]; do relay=$(sd_free_port); done
	relay_start "$relay" "$SHEEP_PORT" "$p2"
	run timeout 60 $SD_WRAP "$DOG" node list -r -p "$relay"
	[ "${lines[1]}" = "1 127.0.0.1:$p2 128 16777343" ]

	run timeout 60 $SD_WRAP "$DOG" node info -r -p "$relay"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	read -r id size1 _ <<<"${lines[0]}"
	[ "$id" = 0 ]
	read -r id size2 _ <<<"${lines[1]}"
	[ "$id" = 1 ]
	read -r _ total _ _ _ vdis <<<"${lines[2]}"
	[ "$total" -eq $((size1 + size2)) ]
	# the vdi sizes come from the connected sheep only
	[ "$vdis" = 1073741824 ]

	# a node that does not answer is left out of the rows and the total
	dead=$(sd_free_port)
	relay=$dead
	while [ "$relay" = "$dead" ]; do relay=$(sd_free_port); done
	relay_start "$relay" "$SHEEP_PORT" "$dead"
	run timeout 60 $SD_WRAP "$DOG" node info -r -p "$relay"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Failed to connect to 127.0.0.1:$dead"* ]]
	[[ "$output" =~ (^|$'\n')0\ [0-9]+\  ]]
	[[ "$output" != *$'\n'"1 "* ]]
	[[ "$output" =~ (^|$'\n')Total\ [0-9]+\ [0-9]+\ [0-9]+\ [0-9]+%\ 1073741824$ ]]
}
