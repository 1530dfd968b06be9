# Internal code shared by every program (not installed).
noinst_LTLIBRARIES += common/libsdcommon.la
common_libsdcommon_la_SOURCES = common/proto.c common/codec.h common/net.c common/net.h \
	common/fullio.c common/fullio.h common/inode.c common/mapbuf.c common/mapbuf.h \
	common/clusterfmt.c common/clusterfmt.h
