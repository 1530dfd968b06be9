# libsheepdog: the async client library (installed) and an uninstalled
# convenience copy that unit tests link to reach the internals.
LIBSHEEPDOG_SRCS = \
	lib/alloc.c lib/opts.c lib/transport.c lib/engine.c lib/cluster.c lib/vdi.c lib/io.c \
	lib/admin.c lib/attr.c lib/sdl_alloc.h lib/sdl_engine.h lib/sdl_priv.h lib/sdl_io.h \
	lib/sdl_list.h

# -fno-strict-aliasing works around a GCC 12 bug, not undefined behaviour in
# this code.  Evidence (root-caused 2026-11-22, Debian gcc 12.2.0-14):
# - Built without it, test_lib_engine fails (test_max_inflight,
#   test_reconnect_resend, test_send_batch: 16 queued requests reach the
#   sheep 136 times).  Per-file bisection: only engine.c matters.
# - In sdl_conn_flush, the loop that retires fully sent requests reads
#   conn->sendq.next each round and unlinks that request, which stores to
#   conn->sendq.next through req->link.prev->next.  -fdump-tree-lim2-details
#   shows loop invariant motion calling that read "independent" of the
#   stores and hoisting it: the loop keeps retiring the first request and
#   the second is sent again.  The trigger is the outer loop reading the
#   same field through sdl_list_empty(&conn->sendq), a second form of the
#   same reference (MEM[(struct sdl_list *)conn + 64B].next) that LIM
#   merges with conn->sendq.next; with the outer read written out by name,
#   nothing is hoisted.
# - Reduced to 20 lines of cast-free C, tests/unit/test_lib_gcc_lim.c (no
#   container_of; every access uses its declared type; clean under
#   -fsanitize=address,undefined): GCC 12.2 -O2/-O3/-Os miscompile it,
#   GCC 11.3 and clang 14 do not, -fno-strict-aliasing and
#   -fno-tree-loop-im fix it.  That test is built with these flags and fails
#   if the workaround is dropped while the compiler still has the bug.
# - Diffing the LIM dumps (lim2, lim4 at -O2) with and without the flag for
#   every non-test source of the project: outside lib/ no hoist depends on
#   it; in lib/ the other differences (engine.c c->nr_inflight, io.c
#   vdi->shift/obj_size/index) are loads the loops really do not store to.
#   sheep, dog, common and bs_sheepdog are built with strict aliasing and
#   stay exposed to this compiler bug if their code changes shape.
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

# The data path, its reloads and the caller's loop, each with the shared
# environment of tests/unit/sdl_env.c.
check_PROGRAMS += tests/unit/test_lib_io tests/unit/test_lib_reload tests/unit/test_lib_loop
check_PROGRAMS += tests/unit/test_lib_engine
LIB_ENV_SOURCES = tests/unit/sdl_env.c tests/unit/sdl_env.h
tests_unit_test_lib_io_SOURCES = tests/unit/test_lib_io.c $(LIB_ENV_SOURCES)
tests_unit_test_lib_io_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_io_LDADD = $(LIB_TEST_LDADD)
tests_unit_test_lib_reload_SOURCES = tests/unit/test_lib_reload.c $(LIB_ENV_SOURCES)
tests_unit_test_lib_reload_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_reload_LDADD = $(LIB_TEST_LDADD)
tests_unit_test_lib_loop_SOURCES = tests/unit/test_lib_loop.c $(LIB_ENV_SOURCES)
tests_unit_test_lib_loop_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_loop_LDADD = $(LIB_TEST_LDADD)
tests_unit_test_lib_engine_SOURCES = tests/unit/test_lib_engine.c
tests_unit_test_lib_engine_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_engine_LDADD = $(LIB_TEST_LDADD)
TESTS += tests/unit/test_lib_io tests/unit/test_lib_reload tests/unit/test_lib_loop
TESTS += tests/unit/test_lib_engine

# SD_VDI_EXCLUSIVE: against the fake here, against a real sheep from
# tests/bats/lib_excl.bats (the same program with an address).
check_PROGRAMS += tests/unit/test_lib_excl
tests_unit_test_lib_excl_SOURCES = tests/unit/test_lib_excl.c
tests_unit_test_lib_excl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
tests_unit_test_lib_excl_LDADD = $(LIB_TEST_LDADD)
TESTS += tests/unit/test_lib_excl tests/bats/lib_excl.bats
dist_noinst_DATA += tests/bats/lib_excl.bats

# The GCC 12 bug above, reduced; built with the library's flags.
check_PROGRAMS += tests/unit/test_lib_gcc_lim
tests_unit_test_lib_gcc_lim_SOURCES = tests/unit/test_lib_gcc_lim.c
tests_unit_test_lib_gcc_lim_CFLAGS = $(LIBSHEEPDOG_CFLAGS)
TESTS += tests/unit/test_lib_gcc_lim

# Integration test program against a real sheep (tests/bats/lib_sheep.bats);
# it uses only the installed API and links the shared library.
check_PROGRAMS += tests/unit/test_lib_sheep
tests_unit_test_lib_sheep_SOURCES = tests/unit/test_lib_sheep.c
tests_unit_test_lib_sheep_LDADD = lib/libsheepdog.la
TESTS += tests/bats/lib_sheep.bats
dist_noinst_DATA += tests/bats/lib_sheep.bats

# One-way layers: no object references a symbol of a higher layer.
TESTS += tests/lib_layers.sh
dist_noinst_SCRIPTS += tests/lib_layers.sh
EXTRA_DIST += lib/layers.txt

# Address resolution (common/net.c, used by the engine too): numeric
# addresses never reach the resolver; getaddrinfo is interposed.
check_PROGRAMS += tests/unit/test_net
tests_unit_test_net_SOURCES = tests/unit/test_net.c tests/unit/sdl_check.h
tests_unit_test_net_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/tests/unit
tests_unit_test_net_LDADD = lib/libsheepdog_internal.la -ldl
TESTS += tests/unit/test_net
