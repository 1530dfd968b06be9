#!/usr/bin/env bats
# scripts/fetch-tgt-source derives its deb-src entries from the machine's apt
# configuration.  These tests feed it fake configurations (SD_APT_ETC) and
# check the entries it derives (--print-sources: no network), then run a
# whole fetch offline against a local file: repository holding a stand-in
# source package of the installed tgt version.

load lib/common

FETCH="$SD_TOP_SRCDIR/scripts/fetch-tgt-source"

setup() {
	T=$(sd_tmpdir)
	mkdir -p "$T/apt/sources.list.d"
	# Every fixture URI is this machine's own first apt URI or a path under
	# it (so no registry address is written here); a local path where there
	# is none.
	MIRROR=$("$FETCH" --print-sources 2>/dev/null |
		awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit }}')
	[ -n "$MIRROR" ] || MIRROR="file://$T/mirror"
}

teardown() {
	rm -rf "$T"
}

derive() {
	SD_APT_ETC="$T/apt" "$FETCH" --print-sources
}

# has LINE: the derived list (in $output) holds exactly this line.
has() {
	printf '%s\n' "$output" | grep -Fxq -- "$1" || {
		printf 'missing: %s\nin:\n%s\n' "$1" "$output" >&2
		return 1
	}
}

nlines() {
	printf '%s\n' "$output" | grep -c .
}

@test "one-line entries: deb becomes deb-src, keys kept, arch dropped, comments and other files ignored" {
	cat >"$T/apt/sources.list" <<-EOF
	# a comment
	deb ${MIRROR} bookworm main contrib

	deb [arch=amd64 signed-by=/usr/share/keyrings/a.gpg] ${MIRROR} bookworm-updates main # trailing
	deb-src [ trusted=yes ] ${MIRROR}/src bookworm main
	#deb ${MIRROR}/commented bookworm main
	rpm ${MIRROR}/other fedora core
	EOF
	cat >"$T/apt/sources.list.d/extra.list" <<-EOF
	deb ${MIRROR}/extra ./
	deb ${MIRROR} bookworm main contrib
	EOF
	echo "deb ${MIRROR}/ignored bookworm main" >"$T/apt/sources.list.d/old.list.disabled"
	run derive
	[ "$status" -eq 0 ]
	has "deb-src ${MIRROR} bookworm main contrib"
	has "deb-src [signed-by=/usr/share/keyrings/a.gpg] ${MIRROR} bookworm-updates main"
	has "deb-src [trusted=yes] ${MIRROR}/src bookworm main"
	has "deb-src ${MIRROR}/extra ./"
	[ "$(nlines)" -eq 4 ]
	[[ "$output" != *"${MIRROR}/commented"* ]]
	[[ "$output" != *"${MIRROR}/ignored"* ]]
	[[ "$output" != *"${MIRROR}/other"* ]]
	[[ "$output" != *arch=* ]]
}

@test "deb822 entries: several URIs and suites, Enabled: no skipped, deb and deb-src merged" {
	cat >"$T/apt/sources.list.d/debian.sources" <<-EOF
	Types: deb
	# a comment inside the paragraph
	URIs: ${MIRROR}
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/archive.gpg

	types: deb deb-src
	uris: ${MIRROR}/a-sec
	 ${MIRROR}/b-sec
	suites: bookworm-security
	components: main non-free-firmware

	Types: deb
	Enabled: no
	URIs: ${MIRROR}/disabled
	Suites: bookworm
	Components: main

	Types: deb
	URIs: ${MIRROR}/flat
	Suites: ./
	EOF
	printf 'Types: deb\nURIs: %s\nSuites: s\nComponents: c\n' "${MIRROR}/hidden" \
		>"$T/apt/sources.list.d/off.sources.disabled"
	run derive
	[ "$status" -eq 0 ]
	has "deb-src [signed-by=/usr/share/keyrings/archive.gpg] ${MIRROR} bookworm main"
	has "deb-src [signed-by=/usr/share/keyrings/archive.gpg] ${MIRROR} bookworm-updates main"
	has "deb-src ${MIRROR}/a-sec bookworm-security main non-free-firmware"
	has "deb-src ${MIRROR}/b-sec bookworm-security main non-free-firmware"
	has "deb-src ${MIRROR}/flat ./"
	[ "$(nlines)" -eq 5 ]
	[[ "$output" != *"${MIRROR}/disabled"* ]]
	[[ "$output" != *"${MIRROR}/hidden"* ]]
}

@test "deb822 inline key and fingerprints become signed-by; both styles together" {
	cat >"$T/apt/sources.list.d/k.sources" <<-EOF
	Types: deb
	URIs: ${MIRROR}/inline
	Suites: bookworm
	Components: main
	Signed-By:
	 -----BEGIN PGP PUBLIC KEY BLOCK-----
	 .
	 mQINBFAKE
	 -----END PGP PUBLIC KEY BLOCK-----

	Types: deb
	URIs: ${MIRROR}/fpr
	Suites: bookworm
	Components: main
	Signed-By: 0123456789ABCDEF 89ABCDEF01234567
	Enabled: yes
	EOF
	echo "deb ${MIRROR}/one bookworm main" >"$T/apt/sources.list"
	run derive
	[ "$status" -eq 0 ]
	has "deb-src ${MIRROR}/one bookworm main"
	has "deb-src [signed-by=0123456789ABCDEF,89ABCDEF01234567] ${MIRROR}/fpr bookworm main"
	printf '%s\n' "$output" | grep -F " ${MIRROR}/inline bookworm main" |
		grep -Eq '^deb-src \[signed-by=/[^] ]*\.asc\] [^ ]+ bookworm main$'
	[ "$(nlines)" -eq 3 ]
}

@test "nothing usable: a clear error, exit 1" {
	cat >"$T/apt/sources.list" <<-EOF
	# deb ${MIRROR} bookworm main
	EOF
	printf 'Types: deb\nEnabled: no\nURIs: '"$MIRROR"'\nSuites: bookworm\nComponents: main\n' \
		>"$T/apt/sources.list.d/d.sources"
	run derive
	[ "$status" -eq 1 ]
	[[ "$output" == *"no usable deb or deb-src entry in $T/apt/sources.list"* ]]
	SD_APT_ETC="$T/nosuchdir" run "$FETCH" --print-sources
	[ "$status" -eq 1 ]
	[[ "$output" == *"no usable deb or deb-src entry"* ]]
}

@test "whole fetch, offline: a file: repository from the derived entries, private lists only" {
	local version upstream lists_before
	command -v dpkg-scansources >/dev/null || skip "dpkg-dev missing"
	version=$(dpkg-query -W -f='${Version}' tgt 2>/dev/null) || skip "tgt not installed"
	upstream=${version#*:}
	upstream=${upstream%-*}
	# A stand-in source package of the installed tgt version.
	mkdir -p "$T/pkg/tgt-$upstream/debian" "$T/pkg/tgt-$upstream/usr" "$T/repo"
	printf 'tgt (%s) unstable; urgency=low\n\n  * test\n\n -- T <t@example.invalid>  Thu, 01 Jan 2026 00:00:00 +0000\n' \
		"$version" >"$T/pkg/tgt-$upstream/debian/changelog"
	printf 'Source: tgt\nMaintainer: T <t@example.invalid>\n\nPackage: tgt\nArchitecture: any\nDescription: t\n t\n' \
		>"$T/pkg/tgt-$upstream/debian/control"
	echo '/* stand-in */' >"$T/pkg/tgt-$upstream/usr/tgtd.h"
	(cd "$T/pkg" && dpkg-source --format=1.0 -b "tgt-$upstream") >"$T/build.log" 2>&1 ||
		{ cat "$T/build.log"; false; }
	mv "$T/pkg"/tgt_* "$T/repo/"
	(cd "$T/repo" && dpkg-scansources . >Sources)
	echo "deb [trusted=yes] file:$T/repo ./" >"$T/apt/sources.list"
	lists_before=$(ls -l /var/lib/apt/lists | md5sum)
	SD_APT_ETC="$T/apt" run timeout 120 "$FETCH" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$T/out/usr/tgtd.h" ]
	[ "$(sed -n '1s/^tgt (\(.*\)).*/\1/p' "$T/out/debian/changelog")" = "$version" ]
	[[ "$output" == *"deb-src [trusted=yes] file:$T/repo ./"* ]]
	[ "$(ls -l /var/lib/apt/lists | md5sum)" = "$lists_before" ]
	# A second run sees the tree in place and does nothing.
	SD_APT_ETC="$T/apt" run timeout 120 "$FETCH" "$T/out"
	[ "$status" -eq 0 ]
	[[ "$output" == *"already holds tgt $version"* ]]
}
