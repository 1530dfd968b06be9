# Test tools and the tgtd test harness (tgt-harness engineer).
dist_noinst_DATA += tests/bats/lib/tgtd.bash

# iscsi-io: libiscsi async I/O driver used by the tgt tests and scripts/bench.
if HAVE_LIBISCSI
noinst_PROGRAMS += tests/tools/iscsi-io
tests_tools_iscsi_io_SOURCES = tests/tools/iscsi-io.c tests/tools/iscsi-io.h \
	tests/tools/iscsi-script.c tests/tools/iscsi-ifault.c tests/tools/iscsi-stamp.c \
	tests/tools/iscsi-stamp.h tests/tools/stamp.h tests/tools/tool.h
tests_tools_iscsi_io_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_io_LDADD = $(LIBISCSI_LIBS)

# iscsi-luns: many LUNs of one target through one session (the LUN pool's
# scale and fairness tests, scripts/bench --luns).
noinst_PROGRAMS += tests/tools/iscsi-luns
tests_tools_iscsi_luns_SOURCES = tests/tools/iscsi-luns.c tests/tools/tool.h
tests_tools_iscsi_luns_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_luns_LDADD = $(LIBISCSI_LIBS)
TESTS += tests/bats/tgt_harness.bats tests/bats/tgt_builtin_interop.bats
# scripts/bench --quick, its output format (the tables land in the TAP log)
TESTS += tests/bats/bench.bats
endif
EXTRA_DIST += tests/bats/tgt_harness.bats tests/bats/tgt_builtin_interop.bats
EXTRA_DIST += tests/bats/bench.bats

# tgt build plumbing, benchmark and testing notes.
dist_noinst_SCRIPTS += scripts/fetch-tgt-source scripts/bench scripts/cpu-per-io scripts/soak
# sd-bench: libsheepdog straight to sheep, the floor of scripts/bench.
noinst_PROGRAMS += tests/tools/sd-bench
tests_tools_sd_bench_SOURCES = tests/tools/sd-bench.c tests/tools/tool.h
tests_tools_sd_bench_LDADD = lib/libsheepdog.la
# fetch-tgt-source's deb-src entries from fake apt configurations (offline).
TESTS += tests/bats/fetch_tgt_source.bats
EXTRA_DIST += tests/bats/fetch_tgt_source.bats
# `make distcheck` configures the unpacked tarball, which has no tgt-src/.
# (AM_DISTCHECK_CONFIGURE_FLAGS in the top Makefile.am passes TGT_DISTCHECK_CONFIGURE_FLAGS)

# sd-proxy: a TCP proxy with a fixed one-way delay per direction and
# connection faults on command (cut, reset, blackhole, refuse); sd-pingpong:
# an echo server and a many-messages-in-flight client that measures it.
noinst_PROGRAMS += tests/tools/sd-proxy tests/tools/sd-pingpong
tests_tools_sd_proxy_SOURCES = tests/tools/sd-proxy.c
tests_tools_sd_proxy_LDADD = -lm
tests_tools_sd_pingpong_SOURCES = tests/tools/sd-pingpong.c
TESTS += tests/bats/sd_proxy.bats
