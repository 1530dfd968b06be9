// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guard for the GCC 12 loop-invariant-motion bug that made libsheepdog
 * send a request twice (see the comment in lib/local.mk).  This is the bug
 * reduced to plain, UB-free C: every object is accessed through its own
 * declared type, and there is no cast at all.
 *
 * The outer loop reads the head's next pointer through an inline helper
 * (GIMPLE: MEM[(struct list *)conn + 8B].next), the inner loop reads the
 * same field by name (conn->sendq.next) and unlinks that node, which stores
 * to it through n->prev->next.  GCC 12.2.0 -O2/-O3/-Os with strict aliasing
 * merges the two forms of the read into one LIM memory reference, finds it
 * "independent" of the stores in the inner loop and hoists the read out of
 * it: the inner loop unlinks the same node over and over and the list never
 * drains.  GCC 11.3 and clang 14 compile it correctly; -fno-strict-aliasing
 * or -fno-tree-loop-im avoid it.
 *
 * This file is built with the library's CFLAGS, so it fails if the
 * workaround is dropped while the compiler still has the bug.
 */
#include <stdio.h>

#if defined(__GNUC__) && !defined(__clang__)
#define LIM_NOIPA __attribute__((noipa))
#else
#define LIM_NOIPA __attribute__((noinline))
#endif

struct lim_list {
	struct lim_list *next, *prev;
};

struct lim_conn {
	long pad;
	struct lim_list sendq;
};

static int lim_rounds;

static inline int lim_list_empty(const struct lim_list *l)
{
	return l->next == l;
}

/* Bounds the outer loop: a miscompiled drain would spin forever. */
LIM_NOIPA static int lim_give_up(void)
{
	return ++lim_rounds > 100;
}

/* Unlink the first k nodes of conn->sendq, then expect it to be empty. */
LIM_NOIPA static void lim_drain(struct lim_conn *conn, int k)
{
	while (!lim_list_empty(&conn->sendq)) {
		if (lim_give_up())
			return;
		while (k-- > 0) {
			struct lim_list *n = conn->sendq.next;

			n->prev->next = n->next;
			n->next->prev = n->prev;
		}
	}
}

int main(void)
{
	struct lim_conn conn;
	struct lim_list a, b, c;

	conn.sendq.next = &a;
	a.next = &b;
	b.next = &c;
	c.next = &conn.sendq;
	conn.sendq.prev = &c;
	c.prev = &b;
	b.prev = &a;
	a.prev = &conn.sendq;
	lim_drain(&conn, 3);
	if (!lim_list_empty(&conn.sendq) || lim_rounds != 1) {
		printf("FAIL: list not drained after %d rounds: the compiler hoisted a load "
		       "the loop stores to (GCC 12 LIM bug; keep -fno-strict-aliasing)\n",
		       lim_rounds);
		return 1;
	}
	printf("PASS: lim_drain\n");
	return 0;
}
