# libsheepdog: the async client library (installed) and an uninstalled
# convenience copy that unit tests link to reach the internals.
LIBSHEEPDOG_SRCS = \
	lib/alloc.c lib/transport.c lib/engine.c lib/cluster.c lib/vdi.c lib/io.c \
	lib/admin.c lib/sdl_priv.h lib/sdl_io.h lib/sdl_list.h

# Intrusive lists (container_of) are compiled like the kernel's: GCC's
# type-based alias analysis miscompiled the send-queue accounting at -O2.
LIBSHEEPDOG_CFLAGS = $(AM_CFLAGS) -fno-strict-aliasing

lib_LTLIBRARIES += lib/libsheepdog.la
lib_libsheepdog_la_SOURCES = $(LIBSHEEPDOG_SRCS)
lib_libsheepdog_la_CFLAGS = $(LIBSHEEPDOG_CFLAGS)
lib_libsheepdog_la_LIBADD = common/libsdcommon.la
lib_libsheepdog_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(LIBSHEEPDOG_LT_VERSION) \
	-Wl,--version-script=$(top_srcdir)/lib/libsheepdog.sym
EXTRA_lib_libsheepdog_la_DEPENDENCIES = lib/libsheepdog.sym
EXTRA_DIST += lib/libsheepdog.sym lib/README.md

noinst_LTLIBRARIES += lib/libsheepdog_internal.la
lib_libsheepdog_internal_la_SOURCES = $(LIBSHEEPDOG_SRCS)
lib_libsheepdog_internal_la_CFLAGS = $(LIBSHEEPDOG_CFLAGS)
lib_libsheepdog_internal_la_LIBADD = common/libsdcommon.la

# installed as <sheepdog/sheepdog.h> and <sheepdog/proto.h>
sheepdogincludedir = $(includedir)/sheepdog
sheepdoginclude_HEADERS = include/sheepdog/sheepdog.h include/sheepdog/proto.h
pkgconfig_DATA += lib/libsheepdog.pc

# Unit tests of the request engine against a fake socketpair transport.
LIB_TEST_LDADD = lib/libsheepdog_internal.la tests/unit/libsdl_fake.la
check_LTLIBRARIES += tests/unit/libsdl_fake.la
tests_unit_libsdl_fake_la_SOURCES = tests/unit/sdl_fake.c tests/unit/sdl_fake.h tests/unit/sdl_check.h
tests_unit_libsdl_fake_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib

check_PROGRAMS += tests/unit/test_lib_io tests/unit/test_lib_engine
tests_unit_test_lib_io_SOURCES = tests/unit/test_lib_io.c
tests_unit_test_lib_io_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_io_LDADD = $(LIB_TEST_LDADD)
tests_unit_test_lib_engine_SOURCES = tests/unit/test_lib_engine.c
tests_unit_test_lib_engine_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_engine_LDADD = $(LIB_TEST_LDADD)
TESTS += tests/unit/test_lib_io tests/unit/test_lib_engine

# Integration test program against a real sheep (tests/bats/lib_sheep.bats);
# it uses only the installed API and links the shared library.
check_PROGRAMS += tests/unit/test_lib_sheep
tests_unit_test_lib_sheep_SOURCES = tests/unit/test_lib_sheep.c
tests_unit_test_lib_sheep_LDADD = lib/libsheepdog.la
TESTS += tests/bats/lib_sheep.bats
dist_noinst_DATA += tests/bats/lib_sheep.bats
