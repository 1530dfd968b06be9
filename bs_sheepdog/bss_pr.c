/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent reservation rules (SPC-4 5.13, 6.15, 6.16; SBC-3 4.17): pure
 * functions of the state, the sending I_T nexus and the command.  See
 * bss_pr.h for the contract; bss_pr_tgt.c connects them to tgtd.
 *
 * Deliberate choices, where SPC leaves room or core tgt differs:
 *  - SPEC_I_PT, ALL_TG_PT and APTPL are not supported (REPORT CAPABILITIES
 *    says SIP_C = ATP_C = PTPL_C = 0); setting one is INVALID FIELD IN
 *    PARAMETER LIST.
 *  - Compatible reservation handling (CRH = 1): RESERVE/RELEASE(6) follow
 *    SPC-4 5.13.3.
 *  - PREEMPT AND ABORT preempts like PREEMPT and reports r->aborts: tgt
 *    gives a backing store no way to abort other nexuses' tasks, so their
 *    commands already running complete; later ones meet the new state.
 *  - REGISTER AND MOVE takes an iSCSI TransportID with an ISID (format
 *    01b) and the relative target port identifier of the receiving port.
 */
#include "bss_pr.h"

#include <string.h>

#define PR_IN_READ_KEYS	  0x00
#define PR_IN_READ_RES	  0x01
#define PR_IN_REPORT_CAPS 0x02
#define PR_IN_FULL_STATUS 0x03
#define PR_OUT_REGISTER	  0x00
#define PR_OUT_RESERVE	  0x01
#define PR_OUT_RELEASE	  0x02
#define PR_OUT_CLEAR	  0x03
#define PR_OUT_PREEMPT	  0x04
#define PR_OUT_PREEMPT_AB 0x05
#define PR_OUT_REG_IGNORE 0x06
#define PR_OUT_REG_MOVE	  0x07

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static int type_valid(unsigned int t)
{
	return t == BSS_PR_WE || t == BSS_PR_EA || t == BSS_PR_WE_RO || t == BSS_PR_EA_RO ||
	       t == BSS_PR_WE_AR || t == BSS_PR_EA_AR;
}

static int type_ar(unsigned int t)
{
	return t == BSS_PR_WE_AR || t == BSS_PR_EA_AR;
}

static int type_ro(unsigned int t)
{
	return t == BSS_PR_WE_RO || t == BSS_PR_EA_RO;
}

static int nexus_eq(const struct bss_pr_nexus *a, const struct bss_pr_nexus *b)
{
	return !strcmp(a->initiator, b->initiator) && !strcmp(a->target, b->target);
}

void bss_pr_state_init(struct bss_pr_state *st)
{
	memset(st, 0, sizeof(*st));
	st->holder = -1;
}

int bss_pr_find(const struct bss_pr_state *st, const struct bss_pr_nexus *n)
{
	unsigned int i;

	for (i = 0; i < st->nr_regs; i++)
		if (nexus_eq(&st->regs[i].nexus, n))
			return (int)i;
	return -1;
}

static int reg_holds(const struct bss_pr_state *st, int i)
{
	if (!st->type || i < 0)
		return 0;
	return type_ar(st->type) || st->holder == i;
}

int bss_pr_is_holder(const struct bss_pr_state *st, const struct bss_pr_nexus *n)
{
	return reg_holds(st, bss_pr_find(st, n));
}

static void set_sense(struct bss_pr_result *r, uint16_t asc)
{
	r->status = BSS_PR_CHECK;
	r->key = BSS_PR_KEY_ILLEGAL_REQUEST;
	r->asc = asc;
}

/* ---- PERSISTENT RESERVE IN ---------------------------------------------- */

/* Writes what fits of the response; `off` counts the full length. */
struct pr_out_buf {
	uint8_t *p;
	size_t cap;
	size_t off;
};

static void ob_put(struct pr_out_buf *b, const void *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, b->off++)
		if (b->off < b->cap)
			b->p[b->off] = ((const uint8_t *)src)[i];
}

static void ob_be(struct pr_out_buf *b, uint64_t v, int n)
{
	uint8_t tmp[8];

	put_be(tmp, v, n);
	ob_put(b, tmp, (size_t)n);
}

static void ob_fix_be(struct pr_out_buf *b, size_t at, uint64_t v, int n)
{
	uint8_t tmp[8];
	int i;

	put_be(tmp, v, n);
	for (i = 0; i < n; i++)
		if (at + (size_t)i < b->cap)
			b->p[at + (size_t)i] = tmp[i];
}

/*
 * The iSCSI TransportID of an initiator port (SPC-4 7.6.4.6): format 01b
 * with ISID when the name has ",i,0x", else 00b (name only); the name is
 * NUL-terminated and padded to a multiple of 4, at least 20 bytes.
 */
static size_t transport_id_len(const char *initiator)
{
	size_t n = strlen(initiator) + 1;

	n = (n + 3) & ~(size_t)3;
	return 4 + (n < 20 ? 20 : n);
}

static void ob_transport_id(struct pr_out_buf *b, const char *initiator)
{
	size_t total = transport_id_len(initiator), n = strlen(initiator);
	uint8_t hdr[4] = { 0x05, 0, 0, 0 };
	static const uint8_t zeros[BSS_PR_PORT_LEN + 24];

	if (strstr(initiator, ",i,0x"))
		hdr[0] |= 0x40;
	put_be(&hdr[2], total - 4, 2);
	ob_put(b, hdr, 4);
	ob_put(b, initiator, n);
	ob_put(b, zeros, total - 4 - n);
}

void bss_pr_in(const struct bss_pr_state *st, const struct bss_pr_cmd *c, struct bss_pr_result *r)
{
	unsigned int sa = c->cdb[1] & 0x1f, i;
	size_t alloc = (size_t)get_be(&c->cdb[7], 2), at;
	struct pr_out_buf b;
	uint8_t d[8];

	memset(r, 0, sizeof(*r));
	b.p = c->in;
	b.cap = c->in ? (alloc < c->in_len ? alloc : c->in_len) : 0;
	b.off = 0;

	switch (sa) {
	case PR_IN_READ_KEYS:
		ob_be(&b, st->generation, 4);
		ob_be(&b, 8ULL * st->nr_regs, 4);
		for (i = 0; i < st->nr_regs; i++)
			ob_be(&b, st->regs[i].key, 8);
		break;
	case PR_IN_READ_RES:
		ob_be(&b, st->generation, 4);
		ob_be(&b, st->type ? 16 : 0, 4);
		if (st->type) {
			/* all-registrants: the key is zero (SPC-4 5.13.10) */
			ob_be(&b, type_ar(st->type) ? 0 : st->regs[st->holder].key, 8);
			ob_be(&b, 0, 4); /* obsolete */
			ob_be(&b, 0, 1);
			ob_be(&b, (uint64_t)(st->scope << 4 | st->type), 1);
			ob_be(&b, 0, 2); /* obsolete */
		}
		break;
	case PR_IN_REPORT_CAPS:
		memset(d, 0, sizeof(d));
		put_be(d, 8, 2);
		d[2] = 0x10; /* CRH; SIP_C, ATP_C, PTPL_C = 0 */
		/*
		 * TMV, ALLOW COMMANDS 011b: TEST UNIT READY passes WE and EA
		 * reservations, MODE SENSE, READ BUFFER, RECEIVE COPY
		 * RESULTS, RECEIVE DIAGNOSTIC RESULTS and REPORT SUPPORTED
		 * OPERATION CODES/TMF pass WE ones.
		 */
		d[3] = 0x80 | 0x30;
		d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WE_AR EA_RO WE_RO EA WE */
		d[5] = 0x01;				 /* EA_AR */
		ob_put(&b, d, sizeof(d));
		break;
	case PR_IN_FULL_STATUS:
		ob_be(&b, st->generation, 4);
		at = b.off;
		ob_be(&b, 0, 4); /* ADDITIONAL LENGTH, fixed below */
		for (i = 0; i < st->nr_regs; i++) {
			const struct bss_pr_reg *reg = &st->regs[i];
			int holds = reg_holds(st, (int)i);
			uint16_t rtpi = 0;

			if (!strcmp(reg->nexus.target, c->nexus->target))
				rtpi = c->rel_tgt_port;
			ob_be(&b, reg->key, 8);
			ob_be(&b, 0, 4);
			ob_be(&b, holds ? 1 : 0, 1); /* ALL_TG_PT = 0, R_HOLDER */
			ob_be(&b, holds ? (uint64_t)(st->scope << 4 | st->type) : 0, 1);
			ob_be(&b, 0, 4);
			ob_be(&b, rtpi, 2);
			ob_be(&b, transport_id_len(reg->nexus.initiator), 4);
			ob_transport_id(&b, reg->nexus.initiator);
		}
		ob_fix_be(&b, at, b.off - 8, 4);
		break;
	default: set_sense(r, BSS_PR_ASC_INVALID_FIELD_CDB); return;
	}
	r->status = BSS_PR_GOOD;
	r->in_done = b.off < b.cap ? b.off : b.cap;
}

/* ---- PERSISTENT RESERVE OUT --------------------------------------------- */

struct pr_work {
	struct bss_pr_state *st;
	unsigned int old_nr; /* registrations before the command */
	uint8_t drop[BSS_PR_MAX_REGS];
	struct bss_pr_result *r;
};

static void add_ua(struct pr_work *w, unsigned int reg, uint16_t asc)
{
	if (reg < w->old_nr && w->r->nr_ua < BSS_PR_MAX_REGS) {
		w->r->ua[w->r->nr_ua].reg = (int)reg;
		w->r->ua[w->r->nr_ua].asc = asc;
		w->r->nr_ua++;
	}
}

/* UA `asc` to every registration still kept, except `self`. */
static void ua_others(struct pr_work *w, int self, uint16_t asc)
{
	unsigned int j;

	for (j = 0; j < w->st->nr_regs; j++)
		if ((int)j != self && !w->drop[j])
			add_ua(w, j, asc);
}

static int kept_regs(const struct pr_work *w)
{
	unsigned int j;
	int n = 0;

	for (j = 0; j < w->st->nr_regs; j++)
		n += !w->drop[j];
	return n;
}

/* Remove dropped registrations, renumbering the holder. */
static void compact(struct pr_work *w)
{
	struct bss_pr_state *st = w->st;
	unsigned int i, n = 0;
	int holder = -1;

	for (i = 0; i < st->nr_regs; i++) {
		if (w->drop[i])
			continue;
		if ((int)i == st->holder)
			holder = (int)n;
		if (n != i)
			st->regs[n] = st->regs[i];
		n++;
	}
	st->nr_regs = n;
	st->holder = holder;
	if (!st->type || type_ar(st->type))
		st->holder = -1;
	if (!st->type)
		st->scope = 0;
}

/* SPC-4 5.13.11.3: unregister `i`, releasing what it held. */
static void unregister(struct pr_work *w, int i)
{
	struct bss_pr_state *st = w->st;

	w->drop[i] = 1;
	if (!st->type)
		return;
	if (type_ar(st->type)) {
		if (!kept_regs(w))
			st->type = 0;
	} else if (st->holder == i) {
		if (type_ro(st->type))
			ua_others(w, i, BSS_PR_ASC_RESERVATIONS_RELEASED);
		st->type = 0;
	}
}

static int append_reg(struct pr_work *w, const struct bss_pr_nexus *n, uint64_t key)
{
	struct bss_pr_state *st = w->st;

	if (st->nr_regs >= BSS_PR_MAX_REGS) {
		set_sense(w->r, BSS_PR_ASC_INSUFFICIENT_REG);
		return -1;
	}
	st->regs[st->nr_regs].key = key;
	st->regs[st->nr_regs].nexus = *n;
	w->drop[st->nr_regs] = 0;
	return (int)st->nr_regs++;
}

static void pr_register(struct pr_work *w, const struct bss_pr_cmd *c, int ignore, uint64_t res_key,
			uint64_t sa_key)
{
	struct bss_pr_state *st = w->st;
	int i = bss_pr_find(st, c->nexus);

	if (i < 0) {
		if (!ignore && res_key) {
			w->r->status = BSS_PR_CONFLICT;
			return;
		}
		if (!sa_key)
			return; /* nothing to do, generation unchanged */
		if (append_reg(w, c->nexus, sa_key) < 0)
			return;
	} else {
		if (!ignore && res_key != st->regs[i].key) {
			w->r->status = BSS_PR_CONFLICT;
			return;
		}
		if (sa_key)
			st->regs[i].key = sa_key;
		else
			unregister(w, i);
	}
	st->generation++;
	w->r->changed = 1;
}

static void pr_reserve(struct pr_work *w, int i, unsigned int type, unsigned int scope)
{
	struct bss_pr_state *st = w->st;

	if (st->type) {
		/* a holder may repeat its own reservation; nobody else */
		if (!reg_holds(st, i) || st->type != type || st->scope != scope)
			w->r->status = BSS_PR_CONFLICT;
		return;
	}
	st->type = (uint8_t)type;
	st->scope = (uint8_t)scope;
	st->holder = type_ar(type) ? -1 : i;
	w->r->changed = 1;
}

static void pr_release(struct pr_work *w, int i, unsigned int type, unsigned int scope)
{
	struct bss_pr_state *st = w->st;
	unsigned int old = st->type;

	if (!reg_holds(st, i))
		return; /* no reservation, or not the holder: GOOD, no change */
	if (st->type != type || st->scope != scope) {
		set_sense(w->r, BSS_PR_ASC_INVALID_RELEASE);
		return;
	}
	st->type = 0;
	if (type_ro(old) || type_ar(old))
		ua_others(w, i, BSS_PR_ASC_RESERVATIONS_RELEASED);
	w->r->changed = 1;
}

static void pr_clear(struct pr_work *w, int i)
{
	struct bss_pr_state *st = w->st;
	unsigned int j;

	for (j = 0; j < st->nr_regs; j++) {
		if ((int)j != i)
			add_ua(w, j, BSS_PR_ASC_RESERVATIONS_PREEMPTED);
		w->drop[j] = 1;
	}
	st->type = 0;
	st->generation++;
	w->r->changed = 1;
}

/* SPC-4 5.13.11.4: PREEMPT and PREEMPT AND ABORT. */
static void pr_preempt(struct pr_work *w, int i, unsigned int type, unsigned int scope,
		       uint64_t sa_key, int abort)
{
	struct bss_pr_state *st = w->st;
	int ar = st->type && type_ar(st->type);
	unsigned int j, matched = 0;

	if (!ar && !sa_key) {
		set_sense(w->r, BSS_PR_ASC_INVALID_FIELD_PARAM);
		return;
	}
	if (!st->type || (ar && sa_key) || (!ar && st->regs[st->holder].key != sa_key)) {
		/* Removing registrations; the reservation stays as it is. */
		for (j = 0; j < st->nr_regs; j++)
			matched += st->regs[j].key == sa_key;
		if (!matched) {
			w->r->status = BSS_PR_CONFLICT;
			return;
		}
		for (j = 0; j < st->nr_regs; j++) {
			if (st->regs[j].key != sa_key)
				continue;
			w->drop[j] = 1;
			if ((int)j != i)
				add_ua(w, j, BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
		}
		if (ar && !kept_regs(w))
			st->type = 0;
	} else {
		/* Preempting the reservation (all-registrants with key 0). */
		int changed = st->type != type || st->scope != scope;

		for (j = 0; j < st->nr_regs; j++) {
			if ((int)j == i || (!ar && st->regs[j].key != sa_key))
				continue;
			w->drop[j] = 1;
			add_ua(w, j, BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
		}
		st->type = (uint8_t)type;
		st->scope = (uint8_t)scope;
		st->holder = type_ar(type) ? -1 : i;
		if (changed)
			ua_others(w, i, BSS_PR_ASC_RESERVATIONS_RELEASED);
	}
	st->generation++;
	w->r->changed = 1;
	w->r->aborts = abort;
}

/* Parse an iSCSI TransportID (format 01b) into an initiator port name. */
static int parse_transport_id(const uint8_t *p, size_t len, char *out)
{
	size_t add, n, k;
	const char *sep;

	if (len < 24 || (p[0] & 0x0f) != 0x05 || (p[0] >> 6) != 1)
		return -1;
	add = (size_t)get_be(&p[2], 2);
	if (add < 20 || add % 4 || 4 + add > len)
		return -1;
	n = strnlen((const char *)p + 4, add);
	if (n == add || n >= BSS_PR_PORT_LEN)
		return -1;
	memcpy(out, p + 4, n);
	out[n] = 0;
	sep = strstr(out, ",i,0x");
	if (!sep || strlen(sep + 5) != 12)
		return -1;
	/* ISIDs compare as numbers: hex digits in lower case */
	for (k = (size_t)(sep + 5 - out); k < n; k++) {
		char ch = out[k];

		if (ch >= 'A' && ch <= 'F')
			out[k] = (char)(ch - 'A' + 'a');
		else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -1;
	}
	return 0;
}

static void pr_register_move(struct pr_work *w, const struct bss_pr_cmd *c, int i, uint64_t sa_key,
			     size_t plen)
{
	struct bss_pr_state *st = w->st;
	const uint8_t *p = c->out;
	size_t tid_len = (size_t)get_be(&p[20], 4);
	struct bss_pr_nexus dest;
	int d;

	if (!st->type) {
		set_sense(w->r, BSS_PR_ASC_INVALID_FIELD_CDB);
		return;
	}
	if (!reg_holds(st, i) || type_ar(st->type)) {
		w->r->status = BSS_PR_CONFLICT;
		return;
	}
	if (!sa_key) {
		set_sense(w->r, BSS_PR_ASC_INVALID_FIELD_PARAM);
		return;
	}
	if (tid_len > plen - 24) {
		set_sense(w->r, BSS_PR_ASC_PARAM_LIST_LENGTH);
		return;
	}
	memset(&dest, 0, sizeof(dest));
	if (parse_transport_id(p + 24, tid_len, dest.initiator) ||
	    get_be(&p[18], 2) != c->rel_tgt_port) {
		set_sense(w->r, BSS_PR_ASC_INVALID_FIELD_PARAM);
		return;
	}
	memcpy(dest.target, c->nexus->target, sizeof(dest.target));
	if (nexus_eq(&dest, c->nexus)) {
		set_sense(w->r, BSS_PR_ASC_INVALID_FIELD_PARAM);
		return;
	}
	d = bss_pr_find(st, &dest);
	if (d < 0) {
		d = append_reg(w, &dest, sa_key);
		if (d < 0)
			return;
	} else {
		st->regs[d].key = sa_key;
	}
	st->holder = d;
	if (p[17] & 0x02) /* UNREG */
		w->drop[i] = 1;
	st->generation++;
	w->r->changed = 1;
}

void bss_pr_out(struct bss_pr_state *st, const struct bss_pr_cmd *c, struct bss_pr_result *r)
{
	unsigned int sa = c->cdb[1] & 0x1f, scope = c->cdb[2] >> 4, type = c->cdb[2] & 0x0f;
	size_t plen = (size_t)get_be(&c->cdb[5], 4);
	uint64_t res_key, sa_key;
	struct pr_work w;
	int i;

	memset(r, 0, sizeof(*r));
	r->status = BSS_PR_GOOD;
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.old_nr = st->nr_regs;
	w.r = r;

	if (sa > PR_OUT_REG_MOVE) {
		set_sense(r, BSS_PR_ASC_INVALID_FIELD_CDB);
		return;
	}
	if (plen < 24 || !c->out || c->out_len < plen) {
		set_sense(r, BSS_PR_ASC_PARAM_LIST_LENGTH);
		return;
	}
	res_key = get_be(c->out, 8);
	sa_key = get_be(c->out + 8, 8);
	if (sa != PR_OUT_REG_MOVE) {
		if (c->out[20] & 0x08) { /* SPEC_I_PT */
			set_sense(r, BSS_PR_ASC_INVALID_FIELD_PARAM);
			return;
		}
		if (plen != 24) {
			set_sense(r, BSS_PR_ASC_PARAM_LIST_LENGTH);
			return;
		}
		/* ALL_TG_PT and APTPL count for the register service actions */
		if ((sa == PR_OUT_REGISTER || sa == PR_OUT_REG_IGNORE) && (c->out[20] & 0x05)) {
			set_sense(r, BSS_PR_ASC_INVALID_FIELD_PARAM);
			return;
		}
	} else if (c->out[17] & 0x01) { /* APTPL */
		set_sense(r, BSS_PR_ASC_INVALID_FIELD_PARAM);
		return;
	}
	if ((sa == PR_OUT_RESERVE || sa == PR_OUT_PREEMPT || sa == PR_OUT_PREEMPT_AB) &&
	    (scope != 0 || !type_valid(type))) {
		set_sense(r, BSS_PR_ASC_INVALID_FIELD_CDB);
		return;
	}

	if (sa == PR_OUT_REGISTER || sa == PR_OUT_REG_IGNORE) {
		pr_register(&w, c, sa == PR_OUT_REG_IGNORE, res_key, sa_key);
		goto out;
	}
	/* Every other service action needs a registered nexus and its key. */
	i = bss_pr_find(st, c->nexus);
	if (i < 0) {
		if (sa == PR_OUT_REG_MOVE && !st->type)
			set_sense(r, BSS_PR_ASC_INVALID_FIELD_CDB);
		else
			r->status = BSS_PR_CONFLICT;
		return;
	}
	if (res_key != st->regs[i].key) {
		r->status = BSS_PR_CONFLICT;
		return;
	}
	switch (sa) {
	case PR_OUT_RESERVE: pr_reserve(&w, i, type, scope); break;
	case PR_OUT_RELEASE: pr_release(&w, i, type, scope); break;
	case PR_OUT_CLEAR: pr_clear(&w, i); break;
	case PR_OUT_PREEMPT:
	case PR_OUT_PREEMPT_AB:
		pr_preempt(&w, i, type, scope, sa_key, sa == PR_OUT_PREEMPT_AB);
		break;
	case PR_OUT_REG_MOVE: pr_register_move(&w, c, i, sa_key, plen); break;
	}
out:
	if (r->changed)
		compact(&w);
}

/* ---- access checks ---------------------------------------------------- */

enum pr_class { PR_ALLOW, PR_READ, PR_WRITE };

/*
 * SPC-4 table 66 and SBC-3 table 13, reduced to three classes: allowed
 * under every reservation; "read" (conflicts only under exclusive-access
 * types); "write" (conflicts under every type).  Registrants under the
 * registrants-only/all-registrants types may do everything.  Unknown
 * opcodes count as writes.
 */
static enum pr_class pr_class_of(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
	case 0x03: /* REQUEST SENSE */
	case 0x12: /* INQUIRY */
	case 0x25: /* READ CAPACITY(10) */
	case 0x4d: /* LOG SENSE */
	case 0x5e: /* PERSISTENT RESERVE IN */
	case 0x5f: /* PERSISTENT RESERVE OUT: bss_pr_out decides */
	case 0x16: /* RESERVE(6), RELEASE(6): 5.13.3 decides */
	case 0x17:
	case 0xa0: /* REPORT LUNS */
	case 0xab: /* READ MEDIA SERIAL NUMBER */ return PR_ALLOW;
	case 0x9e:						     /* SERVICE ACTION IN(16) */
		return (cdb[1] & 0x1f) == 0x10 ? PR_ALLOW : PR_READ; /* READ CAPACITY(16) */
	case 0xa3:						     /* MAINTENANCE IN */
		switch (cdb[1] & 0x1f) {
		case 0x05: /* REPORT IDENTIFYING INFORMATION */
		case 0x0a: /* REPORT TARGET PORT GROUPS */
		case 0x0b: /* REPORT ALIASES */
		case 0x0e: /* REPORT PRIORITY */
		case 0x0f: /* REPORT TIMESTAMP */ return PR_ALLOW;
		default: /* REPORT SUPPORTED OPERATION CODES / TMF, ... */ return PR_READ;
		}
	case 0x1b: /* START STOP UNIT: START=1 and POWER CONDITION 0 pass */
		return (cdb[4] & 0x01) && !(cdb[4] & 0xf0) ? PR_ALLOW : PR_WRITE;
	case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL: PREVENT=0 passes */
		return cdb[4] & 0x03 ? PR_WRITE : PR_ALLOW;
	case 0x08: /* READ(6/10/12/16) */
	case 0x28:
	case 0xa8:
	case 0x88:
	case 0x2f: /* VERIFY(10/12/16) */
	case 0xaf:
	case 0x8f:
	case 0x34: /* PRE-FETCH(10/16) */
	case 0x90:
	case 0x1a: /* MODE SENSE(6/10) */
	case 0x5a:
	case 0x1c: /* RECEIVE DIAGNOSTIC RESULTS */
	case 0x3c: /* READ BUFFER */
	case 0x3e: /* READ LONG */
	case 0x37: /* READ DEFECT DATA(10/12) */
	case 0xb7:
	case 0x84: /* RECEIVE COPY RESULTS */
	case 0x8c: /* READ ATTRIBUTE */
	case 0xa2: /* SECURITY PROTOCOL IN */ return PR_READ;
	default: /* writes, UNMAP, WRITE SAME, COMPARE AND WRITE, ORWRITE,
		  * SYNCHRONIZE CACHE, MODE SELECT, FORMAT UNIT, EXTENDED
		  * COPY, SEND DIAGNOSTIC, ... */
		return PR_WRITE;
	}
}

int bss_pr_conflict(const struct bss_pr_state *st, const struct bss_pr_nexus *n, const uint8_t *cdb)
{
	enum pr_class cls;
	int i;

	if (!st->type)
		return 0;
	cls = pr_class_of(cdb);
	if (cls == PR_ALLOW)
		return 0;
	i = bss_pr_find(st, n);
	if (reg_holds(st, i))
		return 0;
	switch (st->type) {
	case BSS_PR_WE: return cls == PR_WRITE;
	case BSS_PR_EA: return 1;
	case BSS_PR_WE_RO:
	case BSS_PR_WE_AR: return i < 0 && cls == PR_WRITE;
	default: return i < 0; /* EA_RO, EA_AR */
	}
}

int bss_pr_checked(const uint8_t *cdb)
{
	return pr_class_of(cdb) != PR_ALLOW;
}

int bss_pr_scsi2_allowed(const struct bss_pr_state *st, const struct bss_pr_nexus *n)
{
	int i = bss_pr_find(st, n);

	if (reg_holds(st, i))
		return 1;
	if (i >= 0 && (type_ro(st->type) || type_ar(st->type)))
		return 1;
	return st->nr_regs ? -1 : 0;
}

int bss_pr_scsi2_conflict(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case 0x12: /* INQUIRY */
	case 0x03: /* REQUEST SENSE */
	case 0xa0: /* REPORT LUNS */
	case 0x17: /* RELEASE(6): no effect from a non-holder */
	case 0x57: /* RELEASE(10) */ return 0;
	case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL with PREVENT=0 */ return (cdb[4] & 0x03) != 0;
	default: return 1;
	}
}
