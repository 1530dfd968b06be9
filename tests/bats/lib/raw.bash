# Helpers for the sheep_*.bats tests: drive sheep with the raw-frame client
# tests/tools/sd-raw (no dependency on dog).  Load after lib/common.
#
#   sd_raw ARGS...            sd-raw against $SHEEP_PORT (bounded in time)
#   sd_field KEY "$output"    value of KEY=... in sd-raw's output
#   sd_req_ok ARGS...         sd_raw req ...; fails unless result=0x00
#   sd_format                 MAKE_FS "plain", 1 copy
#   sd_new_vdi NAME SIZE      NEW_VDI; prints the vid (0x......)
#   sd_vdi_vid NAME [TAG]     GET_VDI_INFO; prints the vid
#   sheep_alive               another connection still gets answers

SD_RAW="$SD_TOOLS/sd-raw"

sd_raw() {
	timeout 60 "$SD_RAW" -a 127.0.0.1 -p "$SHEEP_PORT" "$@"
}

sd_field() {
	sed -n "s/^$1=//p" <<<"$2" | head -n 1
}

sd_req_ok() {
	local out
	out=$(sd_raw req "$@") || { echo "sd-raw failed: $out" >&2; return 1; }
	if [ "$(sd_field result "$out")" != 0x00 ]; then
		echo "request $* failed: $out" >&2
		return 1
	fi
	echo "$out"
}

sd_format() {
	sd_req_ok 0x84 --str plain --ccopies 1 "$@" >/dev/null
}

sd_new_vdi() {
	local out
	out=$(sd_req_ok 0x11 --name "$1" --vdi-size "$2") || return 1
	sd_field vdi_id "$out"
}

sd_vdi_vid() {
	local out
	out=$(sd_req_ok 0x14 --name "$1" --tag "${2:-}") || return 1
	sd_field vdi_id "$out"
}

# oid helpers: data object (vid, idx) and inode of vid, as 0x... strings
sd_data_oid() { printf '0x%02x%06x%08x' 0 $(( $1 )) $(( $2 )); }
sd_vdi_oid() { printf '0x80%06x00000000' $(( $1 )); }

sheep_alive() {
	local out
	kill -0 "$SHEEP_PID" || { echo "sheep died" >&2; return 1; }
	out=$(sd_raw req 0x82 --len 491520) || return 1
	[ "$(sd_field result "$out")" = 0x00 ] && [ "$(sd_field nr_nodes "$out")" = 1 ]
}

# sheep_start_any STORE [args]: sheep_start on a random free port (of
# $SD_PORT_DIGITS digits, default 5), retrying
# with another port if the chosen one was taken meanwhile (sd_free_port only
# sees listeners, not the local ports of other machines' connections).
sheep_start_any() {
	local store=$1 i; shift
	for i in 1 2 3; do
		if sheep_start "$store" "$(sd_free_port "${SD_PORT_DIGITS:-5}")" "$@"; then
			return 0
		fi
		grep -q "Address already in use" "$store/sheep.log" 2>/dev/null || return 1
		sheep_stop >/dev/null 2>&1 || true
		: >"$store/sheep.log"
	done
	return 1
}
