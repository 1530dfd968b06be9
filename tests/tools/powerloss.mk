# Power loss of the sheep (issue 12): sd-crash.so, an LD_PRELOAD shim that
# cuts the power at a chosen call and undoes every change not yet durable;
# sd-crash-probe, the driver of the shim's own tests; sd-powerloss, the
# stamp-and-verify workload and checker over libsheepdog.
# The shim is a libtool module that is never installed (-rpath only makes
# libtool build a shared object).  It gets no sanitizer flags: it is
# preloaded into sheep, and an instrumented shim would need its runtime.
noinst_LTLIBRARIES += tests/tools/sd-crash.la
tests_tools_sd_crash_la_SOURCES = tests/tools/sd-crash.c
tests_tools_sd_crash_la_CFLAGS = -std=gnu11 -fno-strict-aliasing $(WARN_CFLAGS)
tests_tools_sd_crash_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_tools_sd_crash_la_LIBADD = -ldl -lpthread
noinst_PROGRAMS += tests/tools/sd-crash-probe tests/tools/sd-powerloss
tests_tools_sd_crash_probe_SOURCES = tests/tools/sd-crash-probe.c
tests_tools_sd_powerloss_SOURCES = tests/tools/sd-powerloss.c tests/tools/stamp.h
tests_tools_sd_powerloss_LDADD = lib/libsheepdog.la
TESTS += tests/bats/sheep_powerloss.bats
EXTRA_DIST += tests/bats/sheep_powerloss.bats
