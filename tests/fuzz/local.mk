# Fuzz targets (tests/fuzz/README.md).  Each fuzz_NAME.c is built twice:
#  - always, with driver.c, as tests/fuzz/replay_NAME: a unit test that runs
#    every file of tests/fuzz/corpus/NAME/ and tests/fuzz/regress/NAME/
#    through the target (so the ASan and valgrind phases replay them);
#  - with --enable-fuzzers (CC=clang), as tests/fuzz/fuzz_NAME, a libFuzzer
#    binary (-fsanitize=fuzzer,address,undefined; the rest of the tree is
#    built with fuzzer-no-link instrumentation): scripts/test-all's fuzz phase.
FUZZ_SHEEP_SRC = tests/fuzz/fuzz_sheep_req.c tests/fuzz/fuzz.h
FUZZ_SHEEP_CPP = $(AM_CPPFLAGS) -I$(top_srcdir)/sheep
FUZZ_LIB_SRC = tests/fuzz/fuzz_lib_reply.c tests/fuzz/fuzz.h
FUZZ_LIB_CPP = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/tests/unit
FUZZ_LIB_LIBS = lib/libsheepdog_internal.la tests/unit/libsdl_fake.la
FUZZ_BSS_SRC = tests/fuzz/fuzz_bss_config.c tests/fuzz/fuzz.h bs_sheepdog/bss_config.c \
	bs_sheepdog/bss_config.h
FUZZ_BSS_CPP = $(AM_CPPFLAGS) -I$(top_srcdir)/bs_sheepdog
# dog without main.c: the command table references every handler
FUZZ_DOG_SRC = tests/fuzz/fuzz_dog_args.c tests/fuzz/fuzz.h dog/dog.c dog/dog.h dog/util.c \
	dog/conn.c dog/cluster.c dog/vdi.c dog/transfer.c dog/vdi_check.c dog/vdi_attr.c
FUZZ_DOG_CPP = $(AM_CPPFLAGS) -I$(top_srcdir)/dog
FUZZ_DOG_LIBS = lib/libsheepdog_internal.la common/libsdcommon.la
FUZZ_INODE_SRC = tests/fuzz/fuzz_inode.c tests/fuzz/fuzz.h

FUZZ_REPLAY = tests/fuzz/replay_sheep_req tests/fuzz/replay_lib_reply \
	tests/fuzz/replay_bss_config tests/fuzz/replay_dog_args tests/fuzz/replay_inode
check_PROGRAMS += $(FUZZ_REPLAY)
TESTS += $(FUZZ_REPLAY)
tests_fuzz_replay_sheep_req_SOURCES = $(FUZZ_SHEEP_SRC) tests/fuzz/driver.c
tests_fuzz_replay_sheep_req_CPPFLAGS = $(FUZZ_SHEEP_CPP) -DFUZZ_NAME='"sheep_req"'
tests_fuzz_replay_sheep_req_LDADD = sheep/libsheep.la
tests_fuzz_replay_lib_reply_SOURCES = $(FUZZ_LIB_SRC) tests/fuzz/driver.c
tests_fuzz_replay_lib_reply_CPPFLAGS = $(FUZZ_LIB_CPP) -DFUZZ_NAME='"lib_reply"'
tests_fuzz_replay_lib_reply_LDADD = $(FUZZ_LIB_LIBS)
tests_fuzz_replay_bss_config_SOURCES = $(FUZZ_BSS_SRC) tests/fuzz/driver.c
tests_fuzz_replay_bss_config_CPPFLAGS = $(FUZZ_BSS_CPP) -DFUZZ_NAME='"bss_config"'
tests_fuzz_replay_bss_config_LDADD = common/libsdcommon.la
tests_fuzz_replay_dog_args_SOURCES = $(FUZZ_DOG_SRC) tests/fuzz/driver.c
tests_fuzz_replay_dog_args_CPPFLAGS = $(FUZZ_DOG_CPP) -DFUZZ_NAME='"dog_args"'
tests_fuzz_replay_dog_args_LDADD = $(FUZZ_DOG_LIBS)
tests_fuzz_replay_inode_SOURCES = $(FUZZ_INODE_SRC) tests/fuzz/driver.c
tests_fuzz_replay_inode_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"inode"'
tests_fuzz_replay_inode_LDADD = common/libsdcommon.la

if ENABLE_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_sheep_req tests/fuzz/fuzz_lib_reply \
	tests/fuzz/fuzz_bss_config tests/fuzz/fuzz_dog_args tests/fuzz/fuzz_inode
tests_fuzz_fuzz_sheep_req_SOURCES = $(FUZZ_SHEEP_SRC)
tests_fuzz_fuzz_sheep_req_CPPFLAGS = $(FUZZ_SHEEP_CPP)
tests_fuzz_fuzz_sheep_req_LDADD = sheep/libsheep.la
tests_fuzz_fuzz_sheep_req_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_lib_reply_SOURCES = $(FUZZ_LIB_SRC)
tests_fuzz_fuzz_lib_reply_CPPFLAGS = $(FUZZ_LIB_CPP)
tests_fuzz_fuzz_lib_reply_LDADD = $(FUZZ_LIB_LIBS)
tests_fuzz_fuzz_lib_reply_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_bss_config_SOURCES = $(FUZZ_BSS_SRC)
tests_fuzz_fuzz_bss_config_CPPFLAGS = $(FUZZ_BSS_CPP)
tests_fuzz_fuzz_bss_config_LDADD = common/libsdcommon.la
tests_fuzz_fuzz_bss_config_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_dog_args_SOURCES = $(FUZZ_DOG_SRC)
tests_fuzz_fuzz_dog_args_CPPFLAGS = $(FUZZ_DOG_CPP)
tests_fuzz_fuzz_dog_args_LDADD = $(FUZZ_DOG_LIBS)
tests_fuzz_fuzz_dog_args_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_inode_SOURCES = $(FUZZ_INODE_SRC)
tests_fuzz_fuzz_inode_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_fuzz_inode_LDADD = common/libsdcommon.la
tests_fuzz_fuzz_inode_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
endif

# The corpora and regression inputs travel with the sources.
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/corpus tests/fuzz/regress tests/fuzz/mkcorpus.py
