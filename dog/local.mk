# dog: the admin CLI (upstream syntax) and its tests.
bin_PROGRAMS += dog/dog
dog_dog_SOURCES = dog/main.c dog/dog.c dog/dog.h dog/util.c dog/conn.c dog/cluster.c \
	dog/vdi.c dog/transfer.c dog/vdi_check.c dog/vdi_attr.c
# dog has no client of its own: every request goes through libsheepdog.
dog_dog_LDADD = lib/libsheepdog.la common/libsdcommon.la

# Unit tests of the pure helpers (size parsing, number formatting, escapes).
check_PROGRAMS += tests/unit/test_dog_util
tests_unit_test_dog_util_SOURCES = tests/unit/test_dog_util.c tests/unit/sdl_check.h dog/util.c \
	dog/dog.h
tests_unit_test_dog_util_LDADD = common/libsdcommon.la
TESTS += tests/unit/test_dog_util

# System tests: sheep + dog end to end.
dog_bats = tests/bats/dog_cli.bats tests/bats/dog_format.bats \
	tests/bats/dog_vdi.bats tests/bats/dog_io.bats tests/bats/dog_snapshot.bats \
	tests/bats/dog_persist.bats tests/bats/dog_check.bats tests/bats/dog_attr.bats \
	tests/bats/dog_progress.bats
TESTS += $(dog_bats)
dist_noinst_DATA += $(dog_bats) tests/bats/lib/dog.bash
