/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tiny test harness for the libsheepdog unit tests. */
#ifndef SDL_CHECK_H
#define SDL_CHECK_H

#include <stdio.h>

extern int g_check_failed;

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			g_check_failed++; \
		} \
	} while (0)

#define CHECK_EQ(a, b) \
	do { \
		long long _a = (long long)(a), _b = (long long)(b); \
		if (_a != _b) { \
			fprintf(stderr, \
				"%s:%d: CHECK failed: %s == %s " \
				"(%lld vs %lld)\n", \
				__FILE__, __LINE__, #a, #b, _a, _b); \
			g_check_failed++; \
		} \
	} while (0)

/* Runs fn; returns 1 if it passed. */
#define RUN_TEST(fn, passed, failed) \
	do { \
		int _before = g_check_failed; \
		fn(); \
		if (g_check_failed == _before) { \
			printf("PASS: %s\n", #fn); \
			(passed)++; \
		} else { \
			printf("FAIL: %s\n", #fn); \
			(failed)++; \
		} \
	} while (0)

#endif
