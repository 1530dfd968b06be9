# sheep: the single-node server, its unit tests, its raw-protocol test tool
# and its system tests.
sbin_PROGRAMS += sheep/sheep

# Everything but main() goes into a convenience library the unit tests link.
noinst_LTLIBRARIES += sheep/libsheep.la
sheep_libsheep_la_SOURCES = \
	sheep/sheep.h sheep/sheep_ops.h \
	sheep/log.c sheep/store.c sheep/vdi.c sheep/work.c \
	sheep/ops.c sheep/admin.c sheep/event.c sheep/attr.c sheep/coh.c
sheep_libsheep_la_CPPFLAGS = $(AM_CPPFLAGS) $(NETTLE_CFLAGS)
sheep_libsheep_la_LIBADD = common/libsdcommon.la $(NETTLE_LIBS)

sheep_sheep_SOURCES = sheep/main.c
sheep_sheep_LDADD = sheep/libsheep.la

# Raw-frame test client used by the bats tests.
check_PROGRAMS += tests/tools/sd-raw
tests_tools_sd_raw_SOURCES = tests/tools/sd-raw.c
tests_tools_sd_raw_LDADD = common/libsdcommon.la

check_PROGRAMS += tests/unit/test_sheep_store tests/unit/test_sheep_vdi tests/unit/test_sheep_attr \
	tests/unit/test_sheep_coh
tests_unit_test_sheep_coh_SOURCES = tests/unit/test_sheep_coh.c tests/unit/sdl_check.h
tests_unit_test_sheep_coh_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sheep
tests_unit_test_sheep_coh_LDADD = sheep/libsheep.la
tests_unit_test_sheep_store_SOURCES = tests/unit/test_sheep_store.c tests/unit/sdl_check.h
tests_unit_test_sheep_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sheep
tests_unit_test_sheep_store_LDADD = sheep/libsheep.la
tests_unit_test_sheep_vdi_SOURCES = tests/unit/test_sheep_vdi.c tests/unit/sdl_check.h \
	tests/unit/sheep_fixture.c tests/unit/sheep_fixture.h
tests_unit_test_sheep_vdi_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sheep
tests_unit_test_sheep_vdi_LDADD = sheep/libsheep.la
tests_unit_test_sheep_attr_SOURCES = tests/unit/test_sheep_attr.c tests/unit/sdl_check.h \
	tests/unit/sheep_fixture.c tests/unit/sheep_fixture.h
tests_unit_test_sheep_attr_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sheep
tests_unit_test_sheep_attr_LDADD = sheep/libsheep.la
TESTS += tests/unit/test_sheep_store tests/unit/test_sheep_vdi tests/unit/test_sheep_attr \
	tests/unit/test_sheep_coh

dist_noinst_DATA += tests/bats/lib/raw.bash
TESTS += \
	tests/bats/sheep_cli.bats \
	tests/bats/sheep_proto.bats \
	tests/bats/sheep_badinput.bats \
	tests/bats/sheep_hostile.bats \
	tests/bats/sheep_persist.bats \
	tests/bats/sheep_interop.bats
EXTRA_DIST += \
	tests/bats/sheep_cli.bats \
	tests/bats/sheep_proto.bats \
	tests/bats/sheep_badinput.bats \
	tests/bats/sheep_hostile.bats \
	tests/bats/sheep_persist.bats \
	tests/bats/sheep_interop.bats
