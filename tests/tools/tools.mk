# Test tools and the tgtd test harness (tgt-harness engineer).
dist_noinst_DATA += tests/bats/lib/tgtd.bash

# iscsi-io: libiscsi async I/O driver used by the tgt tests and scripts/bench.
if HAVE_LIBISCSI
noinst_PROGRAMS += tests/tools/iscsi-io
tests_tools_iscsi_io_SOURCES = tests/tools/iscsi-io.c
tests_tools_iscsi_io_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_io_LDADD = $(LIBISCSI_LIBS)
endif
