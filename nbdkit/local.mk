# nbdkit-sheepdog-plugin: a Sheepdog vdi as an NBD export (docs/nbd.md).
#
# A libtool module nbdkit dlopens by name (`nbdkit sheepdog vdi=NAME`) from
# its plugin directory, which only its pkg-config knows
# (`pkg-config --variable=plugindir nbdkit`); `make install plugindir=DIR`
# changes it, DESTDIR is honoured, distcheck installs below its own prefix.
# It uses libsheepdog's public API only, so it links the installed shared
# library (the link sees nothing else: lib/libsheepdog.sym).
# Built when configure finds nbdkit's plugin headers (nbdkit-plugin-dev).

SDNBD_PURE_SOURCES = nbdkit/sdnbd_config.c nbdkit/sdnbd_map.c nbdkit/sdnbd.h

if BUILD_NBDKIT_PLUGIN
nbdkitplugindir = $(NBDKIT_PLUGINDIR)
nbdkitplugin_LTLIBRARIES = nbdkit/nbdkit-sheepdog-plugin.la
nbdkit_nbdkit_sheepdog_plugin_la_SOURCES = nbdkit/sdnbd_plugin.c nbdkit/sdnbd_loop.c \
	$(SDNBD_PURE_SOURCES)
nbdkit_nbdkit_sheepdog_plugin_la_CFLAGS = $(AM_CFLAGS) $(NBDKIT_CFLAGS)
nbdkit_nbdkit_sheepdog_plugin_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/nbdkit/nbdkit-sheepdog-plugin.map
nbdkit_nbdkit_sheepdog_plugin_la_LIBADD = lib/libsheepdog.la -lpthread
EXTRA_nbdkit_nbdkit_sheepdog_plugin_la_DEPENDENCIES = nbdkit/nbdkit-sheepdog-plugin.map
# nbdkit loads the .so by name; a libtool archive beside it is of no use
# (and without it, libtool's uninstall does not find the .so: the hook does).
install-data-hook: sdnbd-install-data-hook
uninstall-hook: sdnbd-uninstall-hook
endif
sdnbd-install-data-hook:
	rm -f "$(DESTDIR)$(nbdkitplugindir)/nbdkit-sheepdog-plugin.la"
sdnbd-uninstall-hook:
	rm -f "$(DESTDIR)$(nbdkitplugindir)/nbdkit-sheepdog-plugin.so"
.PHONY: sdnbd-install-data-hook sdnbd-uninstall-hook

# System tests: nbdkit with the plugin against a sheep, nbdinfo, nbdcopy,
# qemu-io and qemu-img convert over NBD.  Always listed: without the plugin
# they skip only where nbdkit is not installed at all, and fail where it is
# (scripts/install-deps installs it, so CI cannot skip them silently).
TESTS += tests/bats/nbdkit_plugin.bats
dist_noinst_DATA += tests/bats/lib/nbdkit.bash
EXTRA_DIST += nbdkit/nbdkit-sheepdog-plugin.map

# The parameters and the extent walk need no nbdkit: tested everywhere.
check_PROGRAMS += tests/unit/test_sdnbd
tests_unit_test_sdnbd_SOURCES = tests/unit/test_sdnbd.c tests/unit/sdl_check.h \
	$(SDNBD_PURE_SOURCES)
TESTS += tests/unit/test_sdnbd

# scripts/bench --nbd: the plugin against tgtd + the module (docs/nbd.md).
EXTRA_DIST += scripts/bench-nbd.sh
