/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tgt 1.0.85's internal headers, included in the only order that compiles
 * (they are not self-contained; see docs/tgt-backing-store.md 4.2):
 * standard integer and thread headers, then list.h, util.h, tgtd.h, then the
 * rest.  Never add <sys/signalfd.h> here: 1.0.85's util.h redefines
 * struct signalfd_siginfo.
 *
 * The directory comes from $(TGT_CPPFLAGS) (-I$(TGT_SOURCE_DIR)/usr).
 */
#ifndef BSS_TGT_H
#define BSS_TGT_H

#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>

#include "list.h"
#include "util.h"
#include "tgtd.h"
#include "target.h"
#include "scsi.h"
#include "spc.h"
#include "work.h"

#endif
