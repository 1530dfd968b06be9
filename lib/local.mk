# libsheepdog: the async client library (installed) and an uninstalled
# convenience copy that unit tests link to reach the internals.
LIBSHEEPDOG_SRCS = \
	lib/alloc.c lib/transport.c lib/engine.c lib/cluster.c lib/vdi.c lib/io.c \
	lib/admin.c lib/sdl_priv.h lib/sdl_io.h lib/sdl_list.h

lib_LTLIBRARIES += lib/libsheepdog.la
lib_libsheepdog_la_SOURCES = $(LIBSHEEPDOG_SRCS)
lib_libsheepdog_la_LIBADD = common/libsdcommon.la
lib_libsheepdog_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(LIBSHEEPDOG_LT_VERSION) \
	-Wl,--version-script=$(top_srcdir)/lib/libsheepdog.sym
EXTRA_lib_libsheepdog_la_DEPENDENCIES = lib/libsheepdog.sym
EXTRA_DIST += lib/libsheepdog.sym

noinst_LTLIBRARIES += lib/libsheepdog_internal.la
lib_libsheepdog_internal_la_SOURCES = $(LIBSHEEPDOG_SRCS)
lib_libsheepdog_internal_la_LIBADD = common/libsdcommon.la

# installed as <sheepdog/sheepdog.h> and <sheepdog/proto.h>
sheepdogincludedir = $(includedir)/sheepdog
sheepdoginclude_HEADERS = include/sheepdog/sheepdog.h include/sheepdog/proto.h
pkgconfig_DATA += lib/libsheepdog.pc

