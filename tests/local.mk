# Shared test infrastructure and codec tests. Component tests live in each
# component's local.mk.
check_PROGRAMS += tests/unit/test_proto
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_LDADD = common/libsdcommon.la
TESTS += tests/unit/test_proto

dist_noinst_DATA += tests/bats/lib/common.bash

# The real Linux initiator in a qemu guest (docs/testing.md): the guest's
# build script and init travel with the bats file.
TESTS += tests/bats/vm_initiator.bats
EXTRA_DIST += tests/vm/guest-build tests/vm/guest-init
