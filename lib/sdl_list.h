/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal intrusive doubly linked list for libsheepdog internals.
 * A node that is not on any list is self-linked (sdl_list_init), so
 * sdl_list_del() on it is harmless and sdl_list_linked() tells membership.
 */
#ifndef SDL_LIST_H
#define SDL_LIST_H

#include <stddef.h>

struct sdl_list {
	struct sdl_list *next, *prev;
};

#define sdl_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void sdl_list_init(struct sdl_list *l)
{
	l->next = l->prev = l;
}

static inline int sdl_list_empty(const struct sdl_list *l)
{
	return l->next == l;
}

/* True when node n sits on some list (nodes are kept self-linked otherwise). */
static inline int sdl_list_linked(const struct sdl_list *n)
{
	return n->next != n;
}

static inline void sdl_list_insert(struct sdl_list *n, struct sdl_list *prev, struct sdl_list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}

static inline void sdl_list_add_tail(struct sdl_list *n, struct sdl_list *head)
{
	sdl_list_insert(n, head->prev, head);
}

static inline void sdl_list_add(struct sdl_list *n, struct sdl_list *head)
{
	sdl_list_insert(n, head, head->next);
}

static inline void sdl_list_del(struct sdl_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	sdl_list_init(n);
}

/* Move every node of src to the tail of dst (in order); src becomes empty. */
static inline void sdl_list_splice_tail(struct sdl_list *src, struct sdl_list *dst)
{
	if (sdl_list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	sdl_list_init(src);
}

/* Move every node of src to the front of dst (in order); src becomes empty. */
static inline void sdl_list_splice_front(struct sdl_list *src, struct sdl_list *dst)
{
	if (sdl_list_empty(src))
		return;
	src->prev->next = dst->next;
	dst->next->prev = src->prev;
	src->next->prev = dst;
	dst->next = src->next;
	sdl_list_init(src);
}

static inline struct sdl_list *sdl_list_pop(struct sdl_list *head)
{
	struct sdl_list *n;

	if (sdl_list_empty(head))
		return NULL;
	n = head->next;
	sdl_list_del(n);
	return n;
}

#endif
