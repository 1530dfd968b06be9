dnl SD_CHECK_TGT: find the source tree of the installed tgt for bs_sheepdog.so.
dnl Provisional version; bs_sheepdog owns the final one.
AC_DEFUN([SD_CHECK_TGT], [
	AC_ARG_WITH([tgt-source],
		[AS_HELP_STRING([--with-tgt-source=DIR], [tgt source tree matching the installed tgtd])],
		[TGT_SOURCE_DIR="$withval"], [TGT_SOURCE_DIR=""])
	build_bs_sheepdog=no
	TGT_VERSION=""
	AS_IF([test -n "$TGT_SOURCE_DIR" && test -f "$TGT_SOURCE_DIR/usr/tgtd.h"], [build_bs_sheepdog=yes])
	AC_SUBST([TGT_SOURCE_DIR])
	AC_SUBST([TGT_VERSION])
	AM_CONDITIONAL([BUILD_BS_SHEEPDOG], [test "x$build_bs_sheepdog" = xyes])
])
