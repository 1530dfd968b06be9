# Man pages (plain man(7) macros): installed by `make install` and shipped
# in the dist tarball.  tests/bats/man_pages.bats renders each one with
# warnings fatal and checks that they name every bsopts key, dog subcommand
# and sheep option the code has.
dist_man1_MANS = man/nbdkit-sheepdog-plugin.1
dist_man3_MANS = man/libsheepdog.3
dist_man8_MANS = man/sheep.8 man/dog.8 man/bs_sheepdog.8
# sheepfs(8) is installed with sheepfs (sheepfs/local.mk), shipped always.
EXTRA_DIST += man/sheepfs.8

TESTS += tests/bats/man_pages.bats
