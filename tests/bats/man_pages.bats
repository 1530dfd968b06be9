#!/usr/bin/env bats
# The man pages in man/: each renders without a single groff or man warning,
# lexgrog finds its NAME line (what mandb and whatis index), and they keep up
# with the code: every --bsopts key of bs_sheepdog/bss_config.c with its
# default and range, every dog subcommand of dog/dog.c's table with its
# options, every option of sheep/main.c.  Adding one of those without
# documenting it fails here.  Every command runs under `timeout`.

MAN_DIR="$SD_TOP_SRCDIR/man"
PAGES=(sheep.8 dog.8 bs_sheepdog.8 sheepfs.8 libsheepdog.3 nbdkit-sheepdog-plugin.1)

setup() {
	export LC_ALL=C.UTF-8 MAN_DISABLE_SECCOMP=1
}

# render PAGE WIDTH: the page as plain text, words that groff hyphenated
# at a line end joined again (stderr kept apart, must be empty).
render() {
	MANWIDTH=$2 timeout 30 man --warnings -l "$MAN_DIR/$1" 2>"$BATS_TEST_TMPDIR/err" |
		col -bx | sed -e ':a' -e 'N' -e '$!ba' -e 's/\xe2\x80\x90\n *//g'
}

@test "man_pages: every page renders with man and groff without warnings" {
	local p out
	for p in "${PAGES[@]}"; do
		out=$(MANWIDTH=80 timeout 30 man --warnings -l "$MAN_DIR/$p" 2>&1 >/dev/null)
		[ -z "$out" ] || { echo "man $p: $out"; return 1; }
		out=$(timeout 30 groff -man -ww -z -Tutf8 "$MAN_DIR/$p" 2>&1)
		[ -z "$out" ] || { echo "groff $p: $out"; return 1; }
		[ "$(render "$p" 80 | wc -l)" -gt 20 ]
		[ ! -s "$BATS_TEST_TMPDIR/err" ]
	done
}

@test "man_pages: lexgrog parses each NAME section" {
	local p name
	for p in "${PAGES[@]}"; do
		name=${p%.*}
		run timeout 30 lexgrog "$MAN_DIR/$p"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == "$MAN_DIR/$p: \"$name - "?* ]]
	done
}

@test "man_pages: each page has the usual sections and its section number" {
	local p s sect
	local sections=(NAME SYNOPSIS DESCRIPTION 'EXAMPLES?' 'SEE ALSO')
	for p in "${PAGES[@]}"; do
		sect=${p##*.}
		grep -Eq "^\.TH [A-Z_-]+ $sect " "$MAN_DIR/$p"
		for s in "${sections[@]}"; do
			grep -Eq "^\.SH \"?$s\"?\$" "$MAN_DIR/$p" || { echo "$p: no $s"; return 1; }
		done
	done
}

@test "man_pages: bs_sheepdog(8) documents every bsopts key with its default and range" {
	local src="$SD_TOP_SRCDIR/bs_sheepdog/bss_config.c" text key field lo hi def para n=0
	text=$(render bs_sheepdog.8 200)
	# { "conns", offsetof(struct bss_opts, conns), 1, 64 },
	while read -r key field lo hi; do
		n=$((n + 1))
		def=$(sed -n "/^void bss_opts_init/,/^}/s/^\to->$field = \([0-9]*\);/\1/p" "$src")
		[ -n "$def" ] || { echo "no default for $field in bss_opts_init"; return 1; }
		# The key's paragraph: its tag line and the text up to the next tag.
		para=$(printf '%s\n' "$text" | awk -v k="$key=" '
			$1 ~ "^" k { on = 1; print; next }
			on && /^       [a-z_]+=/ { exit }
			on && /^[A-Z]/ { exit }
			on { print }')
		echo "$key ($field, $lo..$hi, default $def): $para"
		[ -n "$para" ]
		[[ "$para" == *"$lo to $hi"* ]]
		[[ "$para" == *"default $def."* ]]
	done < <(sed -n '/bss_opt_table\[\] = {/,/^};/s/^\t{ "\([a-z_]*\)", offsetof(struct bss_opts, \([a-z_]*\)), \([0-9]*\), \([0-9]*\) },$/\1 \2 \3 \4/p' "$src")
	# The table was found and parsed (five keys when this test was written).
	[ "$n" -ge 5 ]
}

@test "man_pages: dog(8) documents every subcommand of dog.c with its options" {
	local src="$SD_TOP_SRCDIR/dog/dog.c" text cmd sub opts line c i n=0 long code
	text=$(render dog.8 200)
	# { "vdi", "create", "Pc:z:", { "<vdiname>", "<size>" }, 2,
	while read -r cmd sub opts; do
		n=$((n + 1))
		opts=${opts//\"/}
		line=$(printf '%s\n' "$text" | grep -E "^ {7}$cmd $sub( |\$)" | head -n 1)
		echo "$cmd $sub [$opts]: $line"
		[ -n "$line" ]
		for ((i = 0; i < ${#opts}; i++)); do
			c=${opts:i:1}
			[ "$c" = ":" ] && continue
			[[ "$line" == *"-$c"* ]] || { echo "  -$c missing"; return 1; }
		done
	done < <(sed -n 's/^\t{ "\([a-z]*\)", "\([a-z]*\)", "\([^"]*\)",.*/\1 \2 "\3"/p' "$src")
	[ "$n" -ge 14 ]
	# Every long option dog accepts.
	n=0
	while read -r long; do
		n=$((n + 1))
		[[ "$text" == *"--$long"* ]] || { echo "--$long missing"; return 1; }
	done < <(sed -n '/g_long_opts\[\] = {/,/^};/s/^\t{ "\([a-z_]*\)",.*/\1/p' "$src")
	[ "$n" -ge 11 ]
	# Every exit code of dog.h.
	while read -r code; do
		printf '%s\n' "$text" | grep -Eq "^ {7}$code( |\$)" || { echo "exit $code missing"; return 1; }
	done < <(sed -n 's/^#define DOG_EXIT_[A-Z]*[[:space:]]*\([0-9]*\).*/\1/p' \
		"$SD_TOP_SRCDIR/dog/dog.h")
}

@test "man_pages: sheep(8) documents every option of sheep/main.c" {
	local src="$SD_TOP_SRCDIR/sheep/main.c" text line long c refused=0 n=0
	text=$(render sheep.8 200)
	# Options up to the "refused" comment are served and documented by
	# their long and short names; the upstream ones after it by short name.
	while read -r line; do
		case "$line" in
		*refused*) refused=1; continue ;;
		esac
		long=$(sed -n 's/^{ "\([a-z-]*\)", [a-z_]*, NULL, .\(.\). },$/\1 \2/p' <<<"$line")
		[ -n "$long" ] || continue
		n=$((n + 1))
		c=${long#* }
		long=${long% *}
		[[ "$text" == *"-$c"* ]] || { echo "-$c missing"; return 1; }
		if [ $refused -eq 0 ]; then
			[[ "$text" == *"-$c, --$long"* ]] || { echo "-$c, --$long missing"; return 1; }
		fi
	done < <(sed -n '/long_opts\[\] = {/,/^};/s/^\t//p' "$src")
	[ "$n" -ge 5 ]
	[ $refused -eq 1 ]
}

@test "man_pages: libsheepdog(3) names every public function of sheepdog.h" {
	local h="$SD_TOP_SRCDIR/include/sheepdog/sheepdog.h" text fn n=0
	text=$(render libsheepdog.3 200)
	while read -r fn; do
		n=$((n + 1))
		[[ "$text" == *"$fn"* ]] || { echo "$fn missing"; return 1; }
	done < <(grep -oE '\bsd_[a-z_]+\(' "$h" | tr -d '(' | sort -u)
	[ "$n" -ge 20 ]
}

@test "man_pages: sheepfs(8) documents every option and every file of sheepfs/main.c" {
	local src="$SD_TOP_SRCDIR/sheepfs/main.c" text opt path n=0
	text=$(render sheepfs.8 200)
	# SFS_OPT("--address=%s", addr),  SFS_OPT("-a %s", addr),
	while read -r opt; do
		n=$((n + 1))
		[[ "$text" == *"$opt"* ]] || { echo "$opt missing"; return 1; }
	done < <(sed -n 's/^\tSFS_OPT("\(-[-a-zA-Z]*\).*/\1/p' "$src")
	[ "$n" -ge 10 ]
	# { "/cluster/info", 0444, ... }: each file under FILES, without the slash
	n=0
	while read -r path; do
		n=$((n + 1))
		printf '%s\n' "$text" | grep -Eq "^ {7}${path#/}\$" || { echo "$path missing"; return 1; }
	done < <(sed -n 's/^\t{ "\(\/[a-z_/]*\)", 0[0-7]*,.*/\1/p' "$src")
	[ "$n" -ge 6 ]
}

@test "man_pages: nbdkit-sheepdog-plugin(1) documents every parameter of the plugin" {
	local src="$SD_TOP_SRCDIR/nbdkit/sdnbd_config.c" text keys key n=0
	text=$(render nbdkit-sheepdog-plugin.1 200)
	# the plugin's own list of its keys, from its "unknown parameter" message
	keys=$(sed -n 's/.*(known: \([a-z, ]*\)).*/\1/p' "$src" | tr -d ',')
	for key in $keys; do
		n=$((n + 1))
		grep -q "^ *$key=" <<<"$text" || { echo "$key= not documented"; return 1; }
		grep -q "strcmp(key, \"$key\")" "$src" || { echo "$key not parsed"; return 1; }
	done
	[ "$n" -eq 5 ]
}
