# bs_sheepdog: the tgtd backing-store module (owned by the bs_sheepdog engineer).
#
# bs_sheepdog.so is a libtool module loaded by the stock tgtd with
# dlopen(RTLD_NOW|RTLD_LOCAL) from /usr/lib/tgt/backing-store.  It resolves
# tgtd's own symbols at load time (tgtd is linked -Wl,-E), so it is linked
# without -no-undefined.  libsheepdog is linked in statically (its
# uninstalled convenience library, PIC): the module is one self-contained file
# that works wherever tgtd loads it, with no runtime search path for
# libsheepdog.so; the version script keeps every symbol but
# register_bs_module local.
#
# bsdir: tgtd loads modules only from its compiled-in BSDIR,
# /usr/lib/tgt/backing-store, whatever our prefix; configure's
# --with-tgt-bsdir (or `make install bsdir=DIR`) changes it; DESTDIR is
# honoured; distcheck installs below its own prefix.

bsdir = $(TGT_BSDIR)

BSS_COMMON_SOURCES = \
	bs_sheepdog/bss_config.c bs_sheepdog/bss_config.h \
	bs_sheepdog/bss_sense.c bs_sheepdog/bss_sense.h

if BUILD_BS_SHEEPDOG
bs_LTLIBRARIES = bs_sheepdog/bs_sheepdog.la
bs_sheepdog_bs_sheepdog_la_SOURCES = \
	bs_sheepdog/bss.h bs_sheepdog/bss_tgt.h \
	bs_sheepdog/bss_main.c bs_sheepdog/bss_pool.c bs_sheepdog/bss_reap.c bs_sheepdog/bss_io.c \
	bs_sheepdog/bss_range.c bs_sheepdog/bss_sbc.c bs_sheepdog/bss_caw.c bs_sheepdog/bss_thin.c bs_sheepdog/bss_defect.c \
	bs_sheepdog/bss_pr_tgt.c bs_sheepdog/bss_pr_job.c bs_sheepdog/bss_pr_reset.c bs_sheepdog/bss_pr_attrs.c bs_sheepdog/bss_pr.c bs_sheepdog/bss_pr_store.c \
	bs_sheepdog/bss_pr_cluster.c \
	bs_sheepdog/bss_pr.h bs_sheepdog/bss_pr_tgt.h \
	bs_sheepdog/bss_xcopy.c \
	bs_sheepdog/bss_ats.c \
	bs_sheepdog/bss_cache.c bs_sheepdog/bss_cache.h bs_sheepdog/bss_cache_util.c \
	$(BSS_COMMON_SOURCES)
bs_sheepdog_bs_sheepdog_la_CPPFLAGS = $(AM_CPPFLAGS) $(TGT_CPPFLAGS) -D_GNU_SOURCE
bs_sheepdog_bs_sheepdog_la_LDFLAGS = -module -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/bs_sheepdog/bs_sheepdog.map
bs_sheepdog_bs_sheepdog_la_LIBADD = lib/libsheepdog_internal.la
EXTRA_bs_sheepdog_bs_sheepdog_la_DEPENDENCIES = bs_sheepdog/bs_sheepdog.map

# The module's unit tests: its data path against stubs of tgt core
# (bss_tgt_stub.c, which wraps malloc: every test using it links with
# --wrap=malloc, and test_bss_io fails chosen malloc() calls to reach
# submit's failure returns) and a fake libsheepdog in each test.
BSS_UNIT_SRC = bs_sheepdog/tests/bss_tgt_stub.c bs_sheepdog/tests/bss_tgt_stub.h \
	bs_sheepdog/bss_range.c bs_sheepdog/bss_io.c bs_sheepdog/bss_sbc.c bs_sheepdog/bss_caw.c \
	bs_sheepdog/bss_sense.c tests/unit/sdl_check.h
BSS_UNIT_CPP = $(AM_CPPFLAGS) $(TGT_CPPFLAGS) -D_GNU_SOURCE
BSS_UNIT_LINK = $(AM_LDFLAGS) -Wl,--wrap=malloc

# Data path: READ/WRITE/VERIFY/SYNC, range locks, CAW, ORWRITE, PRE-FETCH.
check_PROGRAMS += bs_sheepdog/tests/test_bss_io
bs_sheepdog_tests_test_bss_io_SOURCES = bs_sheepdog/tests/test_bss_io.c bs_sheepdog/bss_ats.c \
	$(BSS_UNIT_SRC)
bs_sheepdog_tests_test_bss_io_CPPFLAGS = $(BSS_UNIT_CPP)
bs_sheepdog_tests_test_bss_io_LDFLAGS = $(BSS_UNIT_LINK)
TESTS += bs_sheepdog/tests/test_bss_io

# UNMAP, WRITE SAME, B0 and GET LBA STATUS.
check_PROGRAMS += bs_sheepdog/tests/test_bss_thin
bs_sheepdog_tests_test_bss_thin_SOURCES = bs_sheepdog/tests/test_bss_thin.c \
	bs_sheepdog/bss_thin.c $(BSS_UNIT_SRC)
bs_sheepdog_tests_test_bss_thin_CPPFLAGS = $(BSS_UNIT_CPP)
bs_sheepdog_tests_test_bss_thin_LDFLAGS = $(BSS_UNIT_LINK)
TESTS += bs_sheepdog/tests/test_bss_thin

# EXTENDED COPY: two LUs and a fake tgt_drivers[].
check_PROGRAMS += bs_sheepdog/tests/test_bss_xcopy
bs_sheepdog_tests_test_bss_xcopy_SOURCES = bs_sheepdog/tests/test_bss_xcopy.c \
	bs_sheepdog/bss_xcopy.c $(BSS_UNIT_SRC)
bs_sheepdog_tests_test_bss_xcopy_CPPFLAGS = $(BSS_UNIT_CPP)
bs_sheepdog_tests_test_bss_xcopy_LDFLAGS = $(BSS_UNIT_LINK)
TESTS += bs_sheepdog/tests/test_bss_xcopy

TESTS += $(BSS_BATS)
endif

# Unit tests of the tgt-independent parts (built even without tgt sources).
check_PROGRAMS += bs_sheepdog/tests/test_bss_config bs_sheepdog/tests/test_bss_sense
# Persistent reservation rules and state codec (bss_pr.c, bss_pr_store.c).
check_PROGRAMS += bs_sheepdog/tests/test_bss_pr
bs_sheepdog_tests_test_bss_pr_SOURCES = bs_sheepdog/tests/test_bss_pr.c \
	bs_sheepdog/bss_pr.c bs_sheepdog/bss_pr_store.c bs_sheepdog/bss_pr.h tests/unit/sdl_check.h
TESTS += bs_sheepdog/tests/test_bss_pr
# The cluster PR store (bss_pr_cluster.c) over a fake attribute table.
check_PROGRAMS += bs_sheepdog/tests/test_bss_pr_cluster
bs_sheepdog_tests_test_bss_pr_cluster_SOURCES = bs_sheepdog/tests/test_bss_pr_cluster.c \
	bs_sheepdog/bss_pr_cluster.c bs_sheepdog/bss_pr.h tests/unit/sdl_check.h
TESTS += bs_sheepdog/tests/test_bss_pr_cluster
bs_sheepdog_tests_test_bss_config_SOURCES = bs_sheepdog/tests/test_bss_config.c \
	$(BSS_COMMON_SOURCES) tests/unit/sdl_check.h
bs_sheepdog_tests_test_bss_sense_SOURCES = bs_sheepdog/tests/test_bss_sense.c \
	$(BSS_COMMON_SOURCES) tests/unit/sdl_check.h
TESTS += bs_sheepdog/tests/test_bss_config bs_sheepdog/tests/test_bss_sense
# The cache's pure helpers: chunk bitmaps, directory name, state file.
check_PROGRAMS += bs_sheepdog/tests/test_bss_cache
bs_sheepdog_tests_test_bss_cache_SOURCES = bs_sheepdog/tests/test_bss_cache.c \
	bs_sheepdog/bss_cache_util.c bs_sheepdog/bss_cache.h tests/unit/sdl_check.h
TESTS += bs_sheepdog/tests/test_bss_cache

BSS_BATS = \
	tests/bats/bs_io.bats \
	tests/bats/bs_caw.bats \
	tests/bats/bs_errors.bats \
	tests/bats/bs_delete.bats \
	tests/bats/bs_conformance.bats \
	tests/bats/bs_thin.bats \
	tests/bats/bs_resize.bats \
	tests/bats/bs_pr.bats \
	tests/bats/bs_scale.bats \
	tests/bats/bs_xcopy.bats \
	tests/bats/bs_failover.bats \
	tests/bats/bs_initiator_faults.bats \
	tests/bats/bs_identity.bats \
	tests/bats/bs_caw_gateways.bats \
	tests/bats/bs_multipath_cu.bats \
	tests/bats/bs_multigw.bats \
	tests/bats/bs_pr_multigw.bats \
	tests/bats/bs_cache.bats \
	tests/bats/bs_stamp.bats \
	tests/bats/bs_netfault.bats

EXTRA_DIST += bs_sheepdog/bs_sheepdog.map $(BSS_BATS) \
	tests/bats/lib/bss.bash \
	conf/targets.conf.example conf/sheep.service conf/sheep@.service \
	docs/export.md

# bss-raw: one raw CDB through libiscsi, prints status and parsed sense.
if HAVE_LIBISCSI
check_PROGRAMS += bs_sheepdog/tests/bss-raw
bs_sheepdog_tests_bss_raw_SOURCES = bs_sheepdog/tests/bss_raw.c
bs_sheepdog_tests_bss_raw_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
bs_sheepdog_tests_bss_raw_LDADD = $(LIBISCSI_LIBS)
endif

# tgtd dlopen()s every file in its module directory: do not leave
# bs_sheepdog.la there (it would log "invalid ELF header" at each start).
# Dependency-only hook lines, so other fragments can hook in too.
if BUILD_BS_SHEEPDOG
install-data-hook: bss-install-data-hook
uninstall-hook: bss-uninstall-hook
endif
bss-install-data-hook:
	rm -f "$(DESTDIR)$(bsdir)/bs_sheepdog.la"
bss-uninstall-hook:
	rm -f "$(DESTDIR)$(bsdir)/bs_sheepdog.so"
.PHONY: bss-install-data-hook bss-uninstall-hook
