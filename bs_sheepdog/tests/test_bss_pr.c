/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the persistent reservation rules (bss_pr.c) and of the
 * state blob and memory store (bss_pr_store.c), without tgt: commands are
 * built as CDB + parameter list, results checked field by field.
 *
 * Checks: REGISTER / REGISTER AND IGNORE (conflicts, no-op, generation),
 * parameter list errors, RESERVE/RELEASE (conflicts, INVALID RELEASE, unit
 * attentions per type), unregistering the holder per type (the libiscsi
 * Ownership cases), CLEAR, PREEMPT (registrations, the reservation,
 * all-registrants, key 0, unknown key), REGISTER AND MOVE, READ KEYS
 * truncation, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS
 * layout, the access table per type for reads/writes/other opcodes,
 * RESERVE(6) interplay, blob round trip and rejection of every truncation
 * and of corruptions, store compare-and-swap.
 */
#include "../bss_pr.h"
#include "../../tests/unit/sdl_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int g_check_failed;

static struct bss_pr_nexus g_a, g_b, g_c;
static struct bss_pr_state g_st, g_before;
static struct bss_pr_result g_r;

static void nexus(struct bss_pr_nexus *n, const char *ini)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->initiator, sizeof(n->initiator), "%s", ini);
	snprintf(n->target, sizeof(n->target), "iqn.2026-11.test:t,t,0x1");
}

static void setup(void)
{
	nexus(&g_a, "iqn.2026-11.test:a,i,0x23d000000001");
	nexus(&g_b, "iqn.2026-11.test:b,i,0x23d000000002");
	nexus(&g_c, "iqn.2026-11.test:c,i,0x23d000000003");
	bss_pr_state_init(&g_st);
}

static void put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* PR OUT from `n`: service action, type, keys, flags byte 20. */
static int prout_flags(const struct bss_pr_nexus *n, int sa, int type, uint64_t key,
		       uint64_t sa_key, uint8_t flags)
{
	uint8_t cdb[10] = { 0x5f, (uint8_t)sa, (uint8_t)type, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t out[24];
	struct bss_pr_cmd c = { 0 };

	memset(out, 0, sizeof(out));
	put64(out, key);
	put64(out + 8, sa_key);
	out[20] = flags;
	c.cdb = cdb;
	c.out = out;
	c.out_len = sizeof(out);
	c.nexus = n;
	c.rel_tgt_port = 1;
	g_before = g_st;
	bss_pr_out(&g_st, &c, &g_r);
	return g_r.status;
}

static int prout(const struct bss_pr_nexus *n, int sa, int type, uint64_t key, uint64_t sa_key)
{
	return prout_flags(n, sa, type, key, sa_key, 0);
}

static uint8_t g_in[4096];

static int prin(const struct bss_pr_nexus *n, int sa, unsigned int alloc)
{
	uint8_t cdb[10] = { 0x5e, (uint8_t)sa, 0, 0, 0, 0, 0, (uint8_t)(alloc >> 8), (uint8_t)alloc,
			    0 };
	struct bss_pr_cmd c = { 0 };

	memset(g_in, 0xee, sizeof(g_in));
	c.cdb = cdb;
	c.in = g_in;
	c.in_len = sizeof(g_in);
	c.nexus = n;
	c.rel_tgt_port = 1;
	bss_pr_in(&g_st, &c, &g_r);
	return g_r.status;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* The UA the last command raised for registration `who` (by name), or 0. */
static unsigned int ua_for(const struct bss_pr_nexus *who)
{
	unsigned int i;

	for (i = 0; i < g_r.nr_ua; i++)
		if (!strcmp(g_before.regs[g_r.ua[i].reg].nexus.initiator, who->initiator))
			return g_r.ua[i].asc;
	return 0;
}

static void test_register(void)
{
	setup();
	CHECK_EQ(prout(&g_a, 0, 0, 5, 0x11), BSS_PR_CONFLICT); /* unregistered, key != 0 */
	CHECK_EQ(prout(&g_a, 0, 0, 0, 0), BSS_PR_GOOD);	       /* no-op */
	CHECK_EQ(g_r.changed, 0);
	CHECK_EQ(g_st.generation, 0);
	CHECK_EQ(prout(&g_a, 0, 0, 0, 0x11), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 1);
	CHECK_EQ(g_st.generation, 1);
	CHECK_EQ(prout(&g_a, 0, 0, 0x12, 0x13), BSS_PR_CONFLICT); /* wrong key */
	CHECK_EQ(prout(&g_a, 6, 0, 0x99, 0x13), BSS_PR_GOOD);	  /* ignore existing */
	CHECK_EQ(g_st.regs[0].key, 0x13);
	CHECK_EQ(prout(&g_b, 6, 0, 0, 0x21), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 2);
	CHECK_EQ(prout(&g_a, 0, 0, 0x13, 0), BSS_PR_GOOD); /* unregister */
	CHECK_EQ(g_st.nr_regs, 1);
	CHECK_EQ(bss_pr_find(&g_st, &g_b), 0);
	CHECK_EQ(g_st.generation, 4);
	/* parameter list checks */
	CHECK_EQ(prout_flags(&g_a, 0, 0, 0, 1, 0x01), BSS_PR_CHECK); /* APTPL */
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INVALID_FIELD_PARAM);
	CHECK_EQ(prout_flags(&g_a, 0, 0, 0, 1, 0x04), BSS_PR_CHECK); /* ALL_TG_PT */
	CHECK_EQ(prout_flags(&g_a, 0, 0, 0, 1, 0x08), BSS_PR_CHECK); /* SPEC_I_PT */
	CHECK_EQ(prout(&g_a, 9, 0, 0, 1), BSS_PR_CHECK);	     /* bad service action */
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INVALID_FIELD_CDB);
	CHECK_EQ(g_st.nr_regs, 1);
}

static void test_param_list_length(void)
{
	uint8_t cdb[10] = { 0x5f, 0, 0, 0, 0, 0, 0, 0, 20, 0 };
	uint8_t out[32] = { 0 };
	struct bss_pr_cmd c = { 0 };

	setup();
	c.cdb = cdb;
	c.out = out;
	c.out_len = sizeof(out);
	c.nexus = &g_a;
	bss_pr_out(&g_st, &c, &g_r);
	CHECK_EQ(g_r.status, BSS_PR_CHECK);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_PARAM_LIST_LENGTH);
	cdb[8] = 32;
	bss_pr_out(&g_st, &c, &g_r);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_PARAM_LIST_LENGTH);
	cdb[8] = 24;
	c.out_len = 10; /* less data than announced */
	bss_pr_out(&g_st, &c, &g_r);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_PARAM_LIST_LENGTH);
}

static void test_reserve_release(void)
{
	setup();
	CHECK_EQ(prout(&g_a, 1, BSS_PR_WE, 0, 0), BSS_PR_CONFLICT); /* not registered */
	prout(&g_a, 0, 0, 0, 0xa);
	prout(&g_b, 0, 0, 0, 0xb);
	CHECK_EQ(prout(&g_a, 1, BSS_PR_WE, 0xb, 0), BSS_PR_CONFLICT);	  /* wrong key */
	CHECK_EQ(prout(&g_a, 1, 2, 0xa, 0), BSS_PR_CHECK);		  /* bad type */
	CHECK_EQ(prout(&g_a, 1, 0x10 | BSS_PR_WE, 0xa, 0), BSS_PR_CHECK); /* bad scope */
	CHECK_EQ(prout(&g_a, 1, BSS_PR_WE, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.generation, 2);				      /* RESERVE does not count */
	CHECK_EQ(prout(&g_a, 1, BSS_PR_WE, 0xa, 0), BSS_PR_GOOD);     /* again: no-op */
	CHECK_EQ(prout(&g_a, 1, BSS_PR_EA, 0xa, 0), BSS_PR_CONFLICT); /* other type */
	CHECK_EQ(prout(&g_b, 1, BSS_PR_WE, 0xb, 0), BSS_PR_CONFLICT);
	CHECK_EQ(prout(&g_b, 2, BSS_PR_WE, 0xb, 0), BSS_PR_GOOD); /* non-holder: no-op */
	CHECK_EQ(g_st.type, BSS_PR_WE);
	CHECK_EQ(prout(&g_a, 2, BSS_PR_EA, 0xa, 0), BSS_PR_CHECK);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INVALID_RELEASE);
	CHECK_EQ(prout(&g_a, 2, BSS_PR_WE, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.type, 0);
	CHECK_EQ(g_r.nr_ua, 0); /* WE: no UA on release */
	/* registrants-only: release tells the other registrants */
	CHECK_EQ(prout(&g_a, 1, BSS_PR_WE_RO, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(prout(&g_a, 2, BSS_PR_WE_RO, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(ua_for(&g_b), BSS_PR_ASC_RESERVATIONS_RELEASED);
	CHECK_EQ(ua_for(&g_a), 0);
	/* all-registrants: any registrant holds and may release */
	CHECK_EQ(prout(&g_a, 1, BSS_PR_EA_AR, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(prout(&g_b, 1, BSS_PR_EA_AR, 0xb, 0), BSS_PR_GOOD);
	CHECK_EQ(prout(&g_b, 2, BSS_PR_EA_AR, 0xb, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.type, 0);
	CHECK_EQ(ua_for(&g_a), BSS_PR_ASC_RESERVATIONS_RELEASED);
}

/* libiscsi ProutReserve.Ownership*: the holder unregisters. */
static void ownership(int type, int shared)
{
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	CHECK_EQ(prout(&g_a, 1, type, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(prout(&g_a, 0, 0, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.type, shared ? type : 0);
	CHECK_EQ(ua_for(&g_a), 0);
	CHECK_EQ(ua_for(&g_b), type == BSS_PR_WE_RO || type == BSS_PR_EA_RO
				       ? BSS_PR_ASC_RESERVATIONS_RELEASED
				       : 0);
	if (shared) {
		CHECK(bss_pr_is_holder(&g_st, &g_b));
		CHECK_EQ(prout(&g_b, 2, type, 0xb, 0), BSS_PR_GOOD);
		CHECK_EQ(g_st.type, 0);
	}
	CHECK_EQ(prout(&g_b, 0, 0, 0xb, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 0);
}

static void test_ownership(void)
{
	ownership(BSS_PR_EA, 0);
	ownership(BSS_PR_WE, 0);
	ownership(BSS_PR_EA_RO, 0);
	ownership(BSS_PR_WE_RO, 0);
	ownership(BSS_PR_EA_AR, 1);
	ownership(BSS_PR_WE_AR, 1);
	/* the last all-registrants registrant leaving ends it */
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_a, 1, BSS_PR_WE_AR, 0xa, 0);
	prout(&g_a, 6, 0, 0, 0);
	CHECK_EQ(g_st.type, 0);
	CHECK_EQ(g_st.nr_regs, 0);
}

static void test_clear(void)
{
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	prout(&g_a, 1, BSS_PR_EA, 0xa, 0);
	CHECK_EQ(prout(&g_c, 3, 0, 0, 0), BSS_PR_CONFLICT);
	CHECK_EQ(prout(&g_b, 3, 0, 0xa, 0), BSS_PR_CONFLICT);
	CHECK_EQ(prout(&g_b, 3, 0, 0xb, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 0);
	CHECK_EQ(g_st.type, 0);
	CHECK_EQ(g_st.generation, 3);
	CHECK_EQ(ua_for(&g_a), BSS_PR_ASC_RESERVATIONS_PREEMPTED);
	CHECK_EQ(ua_for(&g_b), 0);
}

static void test_preempt(void)
{
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	prout(&g_c, 6, 0, 0, 0xc);
	/* no reservation: removes registrations */
	CHECK_EQ(prout(&g_a, 4, BSS_PR_WE, 0xa, 0x77), BSS_PR_CONFLICT); /* unknown key */
	CHECK_EQ(prout(&g_a, 4, BSS_PR_WE, 0xa, 0), BSS_PR_CHECK);	 /* key 0 */
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INVALID_FIELD_PARAM);
	CHECK_EQ(prout(&g_a, 4, BSS_PR_WE, 0xa, 0xc), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 2);
	CHECK_EQ(g_st.type, 0);
	CHECK_EQ(ua_for(&g_c), BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
	CHECK_EQ(g_st.generation, 4);
	/* preempting the holder: takes the reservation with the new type */
	prout(&g_c, 6, 0, 0, 0xc);
	prout(&g_b, 1, BSS_PR_WE, 0xb, 0);
	CHECK_EQ(prout(&g_a, 5, BSS_PR_EA, 0xa, 0xb), BSS_PR_GOOD);
	CHECK(g_r.aborts);
	CHECK_EQ(g_st.type, BSS_PR_EA);
	CHECK(bss_pr_is_holder(&g_st, &g_a));
	CHECK_EQ(bss_pr_find(&g_st, &g_b), -1);
	CHECK_EQ(ua_for(&g_b), BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
	CHECK_EQ(ua_for(&g_c), BSS_PR_ASC_RESERVATIONS_RELEASED); /* type changed */
	/* holder preempting itself keeps its registration */
	CHECK_EQ(prout(&g_a, 4, BSS_PR_EA, 0xa, 0xa), BSS_PR_GOOD);
	CHECK(bss_pr_is_holder(&g_st, &g_a));
	CHECK_EQ(g_r.nr_ua, 0);
	/* all-registrants, key 0: everyone else goes */
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	prout(&g_c, 6, 0, 0, 0xc);
	prout(&g_b, 1, BSS_PR_WE_AR, 0xb, 0);
	CHECK_EQ(prout(&g_a, 4, BSS_PR_WE, 0xa, 0), BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 1);
	CHECK_EQ(g_st.type, BSS_PR_WE);
	CHECK(bss_pr_is_holder(&g_st, &g_a));
	CHECK_EQ(ua_for(&g_b), BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
	CHECK_EQ(ua_for(&g_c), BSS_PR_ASC_REGISTRATIONS_PREEMPTED);
}

static void test_register_and_move(void)
{
	uint8_t cdb[10] = { 0x5f, 7, 0, 0, 0, 0, 0, 0, 64, 0 };
	uint8_t out[64];
	struct bss_pr_cmd c = { 0 };
	const char *dest = "iqn.2026-11.test:b,i,0x23D000000002";

	setup();
	memset(out, 0, sizeof(out));
	put64(out, 0xa);
	put64(out + 8, 0xbb);
	out[17] = 0x02; /* UNREG */
	out[19] = 1;	/* RTPI */
	out[23] = 40;	/* TransportID length */
	out[24] = 0x45;
	out[27] = 36;
	memcpy(out + 28, dest, strlen(dest));
	c.cdb = cdb;
	c.out = out;
	c.out_len = sizeof(out);
	c.nexus = &g_a;
	c.rel_tgt_port = 1;
	prout(&g_a, 6, 0, 0, 0xa);
	bss_pr_out(&g_st, &c, &g_r);
	CHECK_EQ(g_r.status, BSS_PR_CHECK); /* no reservation */
	prout(&g_a, 1, BSS_PR_EA, 0xa, 0);
	bss_pr_out(&g_st, &c, &g_r);
	CHECK_EQ(g_r.status, BSS_PR_GOOD);
	CHECK_EQ(g_st.nr_regs, 1);
	CHECK(bss_pr_is_holder(&g_st, &g_b)); /* ISID case folded */
	CHECK_EQ(g_st.regs[0].key, 0xbb);
	CHECK_EQ(g_st.type, BSS_PR_EA);
}

static void test_prin(void)
{
	size_t off;

	setup();
	prout(&g_a, 6, 0, 0, 0x0102030405060708ULL);
	prout(&g_b, 6, 0, 0, 0xb);
	CHECK_EQ(prin(&g_a, 0, 8), BSS_PR_GOOD); /* truncated READ KEYS */
	CHECK_EQ(g_r.in_done, 8);
	CHECK_EQ(be(g_in, 4), 2);
	CHECK_EQ(be(g_in + 4, 4), 16);
	CHECK_EQ(g_in[8], 0xee);
	CHECK_EQ(prin(&g_a, 0, 100), BSS_PR_GOOD);
	CHECK_EQ(g_r.in_done, 24);
	CHECK_EQ(be(g_in + 8, 8), 0x0102030405060708ULL);
	CHECK_EQ(prin(&g_a, 1, 100), BSS_PR_GOOD);
	CHECK_EQ(g_r.in_done, 8);
	prout(&g_b, 1, BSS_PR_EA_RO, 0xb, 0);
	CHECK_EQ(prin(&g_a, 1, 100), BSS_PR_GOOD);
	CHECK_EQ(g_r.in_done, 24);
	CHECK_EQ(be(g_in + 8, 8), 0xb);
	CHECK_EQ(g_in[21], BSS_PR_EA_RO);
	CHECK_EQ(prin(&g_a, 2, 100), BSS_PR_GOOD);
	CHECK_EQ(g_r.in_done, 8);
	CHECK_EQ(be(g_in, 2), 8);
	CHECK_EQ(g_in[2], 0x10);
	CHECK_EQ(g_in[3] & 0x80, 0x80);
	CHECK_EQ(prin(&g_a, 4, 100), BSS_PR_CHECK);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INVALID_FIELD_CDB);
	/* READ FULL STATUS: two descriptors, the second holds */
	CHECK_EQ(prin(&g_a, 3, 4000), BSS_PR_GOOD);
	CHECK_EQ(be(g_in + 4, 4) + 8, g_r.in_done);
	off = 8;
	CHECK_EQ(be(g_in + off, 8), 0x0102030405060708ULL);
	CHECK_EQ(g_in[off + 12], 0);
	CHECK_EQ(be(g_in + off + 18, 2), 1);
	CHECK_EQ(g_in[off + 24], 0x45);
	CHECK(!strcmp((char *)g_in + off + 28, g_a.initiator));
	off += 24 + be(g_in + off + 20, 4);
	CHECK_EQ(be(g_in + off, 8), 0xb);
	CHECK_EQ(g_in[off + 12], 1);
	CHECK_EQ(g_in[off + 13], BSS_PR_EA_RO);
	CHECK_EQ(off + 24 + be(g_in + off + 20, 4), g_r.in_done);
}

static int conflict(const struct bss_pr_nexus *n, uint8_t op, uint8_t b1, uint8_t b4)
{
	uint8_t cdb[16] = { op, b1, 0, 0, b4 };

	return bss_pr_conflict(&g_st, n, cdb);
}

static void access_type(int type, int reg_read, int reg_write, int unreg_read, int unreg_write)
{
	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	prout(&g_a, 1, type, 0xa, 0);
	CHECK_EQ(conflict(&g_a, 0x28, 0, 0), 0);
	CHECK_EQ(conflict(&g_a, 0x2a, 0, 0), 0);
	CHECK_EQ(conflict(&g_b, 0x28, 0, 0), !reg_read);
	CHECK_EQ(conflict(&g_b, 0x8a, 0, 0), !reg_write);
	CHECK_EQ(conflict(&g_c, 0x88, 0, 0), !unreg_read);
	CHECK_EQ(conflict(&g_c, 0x2a, 0, 0), !unreg_write);
	CHECK_EQ(conflict(&g_c, 0x42, 0, 0), !unreg_write);    /* UNMAP */
	CHECK_EQ(conflict(&g_c, 0x89, 0, 0), !unreg_write);    /* COMPARE AND WRITE */
	CHECK_EQ(conflict(&g_c, 0x83, 0, 0), !unreg_write);    /* EXTENDED COPY */
	CHECK_EQ(conflict(&g_c, 0x84, 0, 0), !unreg_read);     /* RECEIVE COPY RESULTS */
	CHECK_EQ(conflict(&g_c, 0x41, 0, 0), !unreg_write);    /* WRITE SAME(10) */
	CHECK_EQ(conflict(&g_c, 0x93, 0, 0), !unreg_write);    /* WRITE SAME(16) */
	CHECK_EQ(conflict(&g_c, 0x8b, 0, 0), !unreg_write);    /* ORWRITE(16) */
	CHECK_EQ(conflict(&g_c, 0x8e, 0, 0), !unreg_write);    /* WRITE AND VERIFY(16) */
	CHECK_EQ(conflict(&g_c, 0x34, 0, 0), !unreg_read);     /* PRE-FETCH(10) */
	CHECK_EQ(conflict(&g_c, 0x90, 0, 0), !unreg_read);     /* PRE-FETCH(16) */
	CHECK_EQ(conflict(&g_c, 0x9e, 0x12, 0), !unreg_read);  /* GET LBA STATUS */
	CHECK_EQ(conflict(&g_c, 0xa3, 0x0c, 0), !unreg_read);  /* REPORT SUPPORTED OPCODES */
	CHECK_EQ(conflict(&g_c, 0x04, 0, 0), !unreg_write);    /* FORMAT UNIT */
	CHECK_EQ(conflict(&g_c, 0x15, 0, 0), !unreg_write);    /* MODE SELECT(6) */
	CHECK_EQ(conflict(&g_c, 0xa0, 0, 0), 0);	       /* REPORT LUNS */
	CHECK_EQ(conflict(&g_c, 0x5e, 0, 0), 0);	       /* PERSISTENT RESERVE IN */
	CHECK_EQ(conflict(&g_c, 0x35, 0, 0), !unreg_write);    /* SYNCHRONIZE CACHE */
	CHECK_EQ(conflict(&g_c, 0x1a, 0, 0), !unreg_read);     /* MODE SENSE */
	CHECK_EQ(conflict(&g_c, 0x00, 0, 0), 0);	       /* TEST UNIT READY */
	CHECK_EQ(conflict(&g_c, 0x12, 0, 0), 0);	       /* INQUIRY */
	CHECK_EQ(conflict(&g_c, 0x9e, 0x10, 0), 0);	       /* READ CAPACITY(16) */
	CHECK_EQ(conflict(&g_c, 0x1b, 0, 0x01), 0);	       /* START */
	CHECK_EQ(conflict(&g_c, 0x1b, 0, 0x00), !unreg_write); /* STOP */
}

static void test_access(void)
{
	/* the libiscsi ProutReserve.Access* expectations */
	access_type(BSS_PR_EA, 0, 0, 0, 0);
	access_type(BSS_PR_WE, 1, 0, 1, 0);
	access_type(BSS_PR_EA_RO, 1, 1, 0, 0);
	access_type(BSS_PR_WE_RO, 1, 1, 1, 0);
	access_type(BSS_PR_EA_AR, 1, 1, 0, 0);
	access_type(BSS_PR_WE_AR, 1, 1, 1, 0);
	setup();
	CHECK_EQ(conflict(&g_c, 0x2a, 0, 0), 0); /* no reservation */
}

static void test_scsi2(void)
{
	uint8_t inq[6] = { 0x12 }, tur[6] = { 0 }, rel[6] = { 0x17 };

	setup();
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_a), 0);
	prout(&g_a, 6, 0, 0, 0xa);
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_b), -1);
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_a), -1);
	prout(&g_a, 1, BSS_PR_WE, 0xa, 0);
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_a), 1);
	prout(&g_b, 6, 0, 0, 0xb);
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_b), -1);
	prout(&g_a, 2, BSS_PR_WE, 0xa, 0);
	prout(&g_a, 1, BSS_PR_WE_RO, 0xa, 0);
	CHECK_EQ(bss_pr_scsi2_allowed(&g_st, &g_b), 1);
	CHECK_EQ(bss_pr_scsi2_conflict(inq), 0);
	CHECK_EQ(bss_pr_scsi2_conflict(rel), 0);
	CHECK_EQ(bss_pr_scsi2_conflict(tur), 1);
}

static void test_blob(void)
{
	static uint8_t buf[BSS_PR_BLOB_MAX], bad[BSS_PR_BLOB_MAX];
	static struct bss_pr_state out;
	size_t len, i;

	setup();
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_b, 6, 0, 0, 0xb);
	prout(&g_b, 1, BSS_PR_WE_RO, 0xb, 0);
	len = bss_pr_encode(&g_st, buf);
	CHECK(len <= BSS_PR_BLOB_MAX);
	CHECK_EQ(bss_pr_decode(buf, len, &out), 0);
	CHECK_EQ(out.generation, g_st.generation);
	CHECK_EQ(out.type, BSS_PR_WE_RO);
	CHECK_EQ(out.holder, 1);
	CHECK_EQ(out.nr_regs, 2);
	CHECK(!strcmp(out.regs[1].nexus.initiator, g_b.initiator));
	CHECK(!strcmp(out.regs[1].nexus.target, g_b.target));
	for (i = 0; i < len; i++)
		CHECK_EQ(bss_pr_decode(buf, i, &out), -EINVAL);
	memcpy(bad, buf, len);
	bad[len] = 0;
	CHECK_EQ(bss_pr_decode(bad, len + 1, &out), -EINVAL); /* trailing byte */
	memcpy(bad, buf, len);
	bad[14] = 2; /* holder out of range */
	CHECK_EQ(bss_pr_decode(bad, len, &out), -EINVAL);
	memcpy(bad, buf, len);
	bad[12] = 9; /* type */
	CHECK_EQ(bss_pr_decode(bad, len, &out), -EINVAL);
	memcpy(bad, buf, len);
	bad[15] = BSS_PR_MAX_REGS + 1;
	CHECK_EQ(bss_pr_decode(bad, len, &out), -EINVAL);
	memcpy(bad, buf, len);
	bad[24 + 8 + 2] = 0; /* NUL inside a name */
	CHECK_EQ(bss_pr_decode(bad, len, &out), -EINVAL);
	/* the largest state fits the bound */
	setup();
	for (i = 0; i < BSS_PR_MAX_REGS; i++) {
		memset(&g_c, 'x', sizeof(g_c));
		g_c.initiator[BSS_PR_PORT_LEN - 1] = 0;
		g_c.target[BSS_PR_PORT_LEN - 1] = 0;
		g_c.initiator[0] = (char)('A' + i);
		CHECK_EQ(prout(&g_c, 6, 0, 0, i + 1), BSS_PR_GOOD);
	}
	CHECK_EQ(prout(&g_a, 6, 0, 0, 99), BSS_PR_CHECK);
	CHECK_EQ(g_r.asc, BSS_PR_ASC_INSUFFICIENT_REG);
	len = bss_pr_encode(&g_st, buf);
	CHECK_EQ(len, BSS_PR_BLOB_MAX - BSS_PR_MAX_REGS * 2);
	CHECK_EQ(bss_pr_decode(buf, len, &out), 0);
	CHECK_EQ(out.nr_regs, BSS_PR_MAX_REGS);
}

/* The LUN reset counter (bytes 16..19): round trip, position, old blobs,
 * and the rules carry it through every PR OUT untouched. */
static void test_blob_resets(void)
{
	static uint8_t buf[BSS_PR_BLOB_MAX];
	static struct bss_pr_state out;
	size_t len;

	setup();
	g_st.resets = 0x01020304;
	prout(&g_a, 6, 0, 0, 0xa);
	prout(&g_a, 1, BSS_PR_WE, 0xa, 0);
	CHECK_EQ(g_st.resets, 0x01020304);
	prout(&g_a, 3, 0, 0xa, 0); /* CLEAR */
	CHECK_EQ(g_st.resets, 0x01020304);
	len = bss_pr_encode(&g_st, buf);
	CHECK_EQ(len, 24);
	CHECK(!memcmp(buf + 16, "\x01\x02\x03\x04\0\0\0\0", 8));
	CHECK_EQ(bss_pr_decode(buf, len, &out), 0);
	CHECK_EQ(out.resets, 0x01020304);
	/* a blob of a gateway that predates the counter: zeros there */
	memset(buf + 16, 0, 4);
	CHECK_EQ(bss_pr_decode(buf, len, &out), 0);
	CHECK_EQ(out.resets, 0);
	g_st.resets = 0xffffffff;
	len = bss_pr_encode(&g_st, buf);
	CHECK_EQ(bss_pr_decode(buf, len, &out), 0);
	CHECK_EQ(out.resets, 0xffffffff);
}

static void test_mem_store(void)
{
	struct bss_pr_store *s = bss_pr_mem_store_create();
	uint8_t buf[16];
	uint64_t v, v2;
	size_t len;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(s->ops->load(s, buf, sizeof(buf), &len, &v), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(s->ops->commit(s, (const uint8_t *)"abc", 3, v, &v2), 0);
	CHECK(v2 != v);
	CHECK_EQ(s->ops->commit(s, (const uint8_t *)"xyz", 3, v, &v2), -ESTALE);
	CHECK_EQ(s->ops->load(s, buf, sizeof(buf), &len, &v), 0);
	CHECK_EQ(len, 3);
	CHECK(!memcmp(buf, "abc", 3));
	CHECK_EQ(s->ops->load(s, buf, 2, &len, &v), -EOVERFLOW);
	s->ops->destroy(s);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_register, passed, failed);
	RUN_TEST(test_param_list_length, passed, failed);
	RUN_TEST(test_reserve_release, passed, failed);
	RUN_TEST(test_ownership, passed, failed);
	RUN_TEST(test_clear, passed, failed);
	RUN_TEST(test_preempt, passed, failed);
	RUN_TEST(test_register_and_move, passed, failed);
	RUN_TEST(test_prin, passed, failed);
	RUN_TEST(test_access, passed, failed);
	RUN_TEST(test_scsi2, passed, failed);
	RUN_TEST(test_blob, passed, failed);
	RUN_TEST(test_blob_resets, passed, failed);
	RUN_TEST(test_mem_store, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
