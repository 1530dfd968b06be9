#!/bin/sh
# make check: the tree follows .clang-format (scripts/check-format).  A plain
# shell test (SH_LOG_COMPILER), never run under a valgrind LOG_COMPILER.
exec "${SD_TOP_SRCDIR:?}/scripts/check-format"
