# sheepfs: a FUSE file system over libsheepdog (cluster state and vdis as files).
if HAVE_FUSE3
bin_PROGRAMS += sheepfs/sheepfs
sheepfs_sheepfs_SOURCES = sheepfs/main.c sheepfs/service.c sheepfs/volume.c sheepfs/info.c \
	sheepfs/sheepfs.h
sheepfs_sheepfs_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
sheepfs_sheepfs_LDADD = lib/libsheepdog.la common/libsdcommon.la $(FUSE3_LIBS)
TESTS += tests/bats/sheepfs.bats
man8_MANS = man/sheepfs.8
endif
dist_noinst_DATA += tests/bats/sheepfs.bats
