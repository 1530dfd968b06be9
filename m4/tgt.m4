dnl SPDX-License-Identifier: GPL-2.0-or-later
dnl
dnl SD_CHECK_TGT: find the source tree of the installed tgt, whose headers
dnl bs_sheepdog.so is compiled against (tgtd has no -dev package).
dnl
dnl   --with-tgt-source=DIR   use DIR (an unpacked Debian source package or an
dnl                           upstream tree); default: $srcdir/tgt-src, as
dnl                           written by scripts/fetch-tgt-source
dnl   --disable-bs-sheepdog   do not build the tgt module
dnl
dnl The source version (debian/changelog's first line, else VERSION in the
dnl top Makefile of an upstream tree) must equal the installed tgt package's
dnl version (dpkg-query), else configure fails naming both.  tgt installed
dnl but no source tree: configure fails and says how to get one.  Neither
dnl tgt nor a source tree: the module is skipped with a warning.
dnl
dnl Sets: TGT_SOURCE_DIR (absolute), TGT_VERSION, TGT_CPPFLAGS
dnl (-I$(TGT_SOURCE_DIR)/usr), TGT_DISTCHECK_CONFIGURE_FLAGS,
dnl AM_CONDITIONAL BUILD_BS_SHEEPDOG, shell variable build_bs_sheepdog.
AC_DEFUN([SD_CHECK_TGT], [
	AC_ARG_ENABLE([bs-sheepdog],
		[AS_HELP_STRING([--disable-bs-sheepdog],
			[do not build bs_sheepdog.so, the tgtd backing-store module])],
		[], [enable_bs_sheepdog=auto])
	AC_ARG_WITH([tgt-source],
		[AS_HELP_STRING([--with-tgt-source=DIR],
			[source tree of the installed tgt version (default: SRCDIR/tgt-src, see scripts/fetch-tgt-source)])],
		[], [with_tgt_source=])

	build_bs_sheepdog=no
	TGT_SOURCE_DIR=""
	TGT_VERSION=""
	TGT_CPPFLAGS=""
	TGT_DISTCHECK_CONFIGURE_FLAGS="--disable-bs-sheepdog"

	AS_IF([test "x$enable_bs_sheepdog" != xno], [
		AC_MSG_CHECKING([for the installed tgt package version])
		sd_tgt_installed=`dpkg-query -W -f='${db:Status-Status} ${Version}' tgt 2>/dev/null | sed -n 's/^installed //p'`
		AS_IF([test -z "$sd_tgt_installed" && test -x /usr/sbin/tgtd],
			[sd_tgt_installed=unknown])
		AC_MSG_RESULT([${sd_tgt_installed:-none}])

		AC_MSG_CHECKING([for the tgt source tree])
		sd_tgt_dir=""
		AS_CASE(["$with_tgt_source"],
			[yes|""], [AS_IF([test -d "$srcdir/tgt-src"], [sd_tgt_dir="$srcdir/tgt-src"])],
			[no], [],
			[sd_tgt_dir="$with_tgt_source"])
		AS_IF([test -n "$sd_tgt_dir"], [
			AS_IF([test -d "$sd_tgt_dir"], [sd_tgt_dir=`cd "$sd_tgt_dir" && pwd`],
				[AC_MSG_RESULT([no])
				 AC_MSG_ERROR([--with-tgt-source: $sd_tgt_dir is not a directory])])])
		AC_MSG_RESULT([${sd_tgt_dir:-none}])

		AS_IF([test -z "$sd_tgt_dir"], [
			AS_IF([test -n "$sd_tgt_installed" && test "x$enable_bs_sheepdog" != xno],
				[AC_MSG_ERROR([tgt $sd_tgt_installed is installed but its source tree was not found.
  bs_sheepdog.so is compiled against the headers of the installed tgt.  Either
    run scripts/fetch-tgt-source (fetches Debian's source package into tgt-src/), or
    pass --with-tgt-source=DIR (an unpacked source tree of tgt $sd_tgt_installed), or
    pass --disable-bs-sheepdog (build without the tgt module).])])
			AS_IF([test "x$enable_bs_sheepdog" = xyes],
				[AC_MSG_ERROR([--enable-bs-sheepdog: no tgt source tree; see scripts/fetch-tgt-source])])
			AC_MSG_WARN([tgt is not installed and no tgt source tree was given: not building bs_sheepdog.so])
		], [
			for sd_h in tgtd.h scsi.h target.h list.h util.h log.h bs_thread.h tgtadm_error.h parser.h scsi_cmnd.h; do
				AS_IF([test -f "$sd_tgt_dir/usr/$sd_h"], [],
					[AC_MSG_ERROR([$sd_tgt_dir is not a tgt source tree: usr/$sd_h is missing])])
			done

			AC_MSG_CHECKING([for the tgt source version])
			sd_tgt_src_version=""
			AS_IF([test -f "$sd_tgt_dir/debian/changelog"], [
				sd_tgt_src_version=`sed -n '1s/^[[^ ]]* (\([[^)]]*\)).*/\1/p' "$sd_tgt_dir/debian/changelog"`
				sd_tgt_cmp_installed="$sd_tgt_installed"
			], [
				dnl An upstream tree: compare with the upstream part of the
				dnl installed version (no epoch, no Debian revision).
				sd_tgt_src_version=`sed -n 's/^VERSION *?*= *\([[0-9.]]*\).*/\1/p' "$sd_tgt_dir/Makefile" 2>/dev/null | sed -n 1p`
				sd_tgt_cmp_installed=`echo "$sd_tgt_installed" | sed 's/^[[0-9]]*://; s/-[[^-]]*$//'`
			])
			AC_MSG_RESULT([${sd_tgt_src_version:-unknown}])
			AS_IF([test -z "$sd_tgt_src_version"],
				[AC_MSG_ERROR([cannot read the tgt version of $sd_tgt_dir (no debian/changelog, no VERSION in Makefile)])])
			AS_IF([test -n "$sd_tgt_installed" && test "x$sd_tgt_installed" != xunknown &&
			       test "x$sd_tgt_src_version" != "x$sd_tgt_cmp_installed"],
				[AC_MSG_ERROR([tgt source version $sd_tgt_src_version (in $sd_tgt_dir) does not match the installed tgt $sd_tgt_installed; run scripts/fetch-tgt-source with the old tree removed, or pass --with-tgt-source=DIR of tgt $sd_tgt_installed])])
			AS_IF([test -z "$sd_tgt_installed"],
				[AC_MSG_WARN([tgt is not installed; building bs_sheepdog.so against tgt $sd_tgt_src_version unchecked])])
			AS_IF([test "x$sd_tgt_installed" = xunknown],
				[AC_MSG_WARN([/usr/sbin/tgtd is not from a Debian package; its version was not checked against tgt $sd_tgt_src_version])])

			build_bs_sheepdog=yes
			TGT_SOURCE_DIR="$sd_tgt_dir"
			TGT_VERSION="$sd_tgt_src_version"
			TGT_CPPFLAGS='-I$(TGT_SOURCE_DIR)/usr'
			TGT_DISTCHECK_CONFIGURE_FLAGS="--with-tgt-source=$sd_tgt_dir"
		])
	])

	AC_SUBST([TGT_SOURCE_DIR])
	AC_SUBST([TGT_VERSION])
	AC_SUBST([TGT_CPPFLAGS])
	AC_SUBST([TGT_DISTCHECK_CONFIGURE_FLAGS])
	AM_CONDITIONAL([BUILD_BS_SHEEPDOG], [test "x$build_bs_sheepdog" = xyes])
])
