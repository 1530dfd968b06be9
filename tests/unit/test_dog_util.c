// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of dog/util.c: size/number parsing, strnumber, escapes, copies,
 * the progress line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dog/dog.h"
#include "sdl_check.h"

int g_check_failed;

static void check_size(const char *s, int want_ret, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int ret = dog_parse_size(s, &v);

	if (ret != want_ret || (!ret && v != want)) {
		fprintf(stderr, "dog_parse_size(\"%s\") = %d, %llu; want %d, %llu\n", s, ret,
			(unsigned long long)v, want_ret, (unsigned long long)want);
		g_check_failed++;
	}
}

static void test_parse_size(void)
{
	check_size("0", 0, 0);
	check_size("512", 0, 512);
	check_size("512B", 0, 512);
	check_size("512b", 0, 512);
	check_size("4k", 0, 4096);
	check_size("4K", 0, 4096);
	check_size("4KB", 0, 4096);
	check_size("4kb", 0, 4096);
	check_size("10M", 0, 10ull << 20);
	check_size("10MB", 0, 10ull << 20);
	check_size("1G", 0, 1ull << 30);
	check_size("1GB", 0, 1ull << 30);
	check_size("2T", 0, 2ull << 40);
	check_size("4TB", 0, 4ull << 40);
	check_size("1P", 0, 1ull << 50);
	check_size("1.5G", 0, 3ull << 29);
	check_size("0.5M", 0, 512ull << 10);
	check_size("18446744073709551615", 0, UINT64_MAX);
	check_size("16383P", 0, 16383ull << 50);

	check_size("", -EINVAL, 0);
	check_size("12Q", -EINVAL, 0);
	check_size("G", -EINVAL, 0);
	check_size("-1", -EINVAL, 0);
	check_size("+1", -EINVAL, 0);
	check_size(" 1", -EINVAL, 0);
	check_size("1 ", -EINVAL, 0);
	check_size("1GG", -EINVAL, 0);
	check_size("1GBB", -EINVAL, 0);
	check_size("1BK", -EINVAL, 0);
	check_size("1.", -EINVAL, 0);
	check_size("1.G", -EINVAL, 0);
	check_size("0x10", -EINVAL, 0);
	check_size("1e3", -EINVAL, 0);
	check_size("18446744073709551616", -ERANGE, 0);
	check_size("16384P", -ERANGE, 0);
	check_size("99999999999999999999999", -ERANGE, 0);
	CHECK(dog_parse_size(NULL, &(uint64_t){ 0 }) == -EINVAL);
}

static void test_parse_uint(void)
{
	uint64_t v = 0;

	CHECK(dog_parse_uint("7000", 1, 65535, &v) == 0 && v == 7000);
	CHECK(dog_parse_uint("65535", 1, 65535, &v) == 0 && v == 65535);
	CHECK(dog_parse_uint("65536", 1, 65535, &v) == -ERANGE);
	CHECK(dog_parse_uint("0", 1, 65535, &v) == -ERANGE);
	CHECK(dog_parse_uint("12x", 1, 65535, &v) == -EINVAL);
	CHECK(dog_parse_uint("", 1, 65535, &v) == -EINVAL);
	CHECK(dog_parse_uint("-3", 0, 65535, &v) == -EINVAL);
}

static void check_num(uint64_t n, bool raw, const char *want)
{
	char buf[32];

	dog_strnumber(n, raw, buf, sizeof(buf));
	if (strcmp(buf, want)) {
		fprintf(stderr, "dog_strnumber(%llu, %d) = \"%s\"; want \"%s\"\n",
			(unsigned long long)n, raw, buf, want);
		g_check_failed++;
	}
}

static void test_strnumber(void)
{
	check_num(0, false, "0.0 MB");
	check_num(4ull << 20, false, "4.0 MB");
	check_num(12ull << 20, false, "12 MB");
	check_num(1023ull << 20, false, "1023 MB");
	check_num(1ull << 30, false, "1.0 GB");
	check_num(10ull << 30, false, "10 GB");
	check_num(3ull << 39, false, "1.5 TB");
	check_num(4ull << 40, false, "4.0 TB");
	check_num(16ull << 50, false, "16 PB");
	check_num(1ull << 60, false, "1.0 EB");
	check_num(UINT64_MAX, false, "16 EB");
	check_num(0, true, "0");
	check_num(4ull << 20, true, "4194304");
	check_num(UINT64_MAX, true, "18446744073709551615");
}

static void check_escape(const char *in, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	dog_fput_escaped(f, in);
	fclose(f);
	if (strcmp(out, want)) {
		fprintf(stderr, "escape(\"%s\") = \"%s\"; want \"%s\"\n", in, out, want);
		g_check_failed++;
	}
	free(out);
}

static void test_escape(void)
{
	check_escape("plain", "plain");
	check_escape("a b", "a\\ b");
	check_escape("a\\b", "a\\\\b");
	check_escape("tab\there", "tab\\\there");
	check_escape("", "");
}

static void test_copies(void)
{
	uint8_t c = 0, p = 0;
	char buf[16];

	CHECK(dog_parse_copies("1", &c, &p) == 0 && c == 1 && p == 0);
	CHECK(dog_parse_copies("3", &c, &p) == 0 && c == 3 && p == 0);
	CHECK(dog_parse_copies("31", &c, &p) == 0 && c == 31 && p == 0);
	CHECK(dog_parse_copies("32", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies("0", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies("x", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies("4:2", &c, &p) == 0 && c == 6 && p == 0x22);
	CHECK(dog_parse_copies("2:1", &c, &p) == 0 && c == 3 && p == 0x11);
	CHECK(dog_parse_copies("16:15", &c, &p) == 0 && c == 31 && p == 0x8f);
	CHECK(dog_parse_copies("3:1", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies("4:4", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies("4:", &c, &p) == -EINVAL);
	CHECK(dog_parse_copies(":1", &c, &p) == -EINVAL);
	CHECK(!strcmp(dog_redundancy_str(3, 0, buf, sizeof(buf)), "3"));
	CHECK(!strcmp(dog_redundancy_str(6, 0x22, buf, sizeof(buf)), "4:2"));
	CHECK(!strcmp(dog_redundancy_str(31, 0x8f, buf, sizeof(buf)), "16:15"));
}

static void test_progress_format(void)
{
	char line[DOG_PROGRESS_MAX_WIDTH + 1];
	size_t n;

	/* 80 columns: a 50-cell bar, padded to 79 (the last column stays free) */
	n = dog_progress_format(line, sizeof(line), 180ull << 20, 400ull << 20, 80);
	CHECK_EQ(n, 79);
	CHECK_EQ(strlen(line), 79);
	CHECK(!strncmp(line, " 45.0 % [======================>", 32));
	CHECK(strstr(line, "] 180 MB / 400 MB ") != NULL);
	CHECK_EQ(strchr(line, ']') - strchr(line, '['), 51);
	/* done: every cell filled */
	dog_progress_format(line, sizeof(line), 400ull << 20, 400ull << 20, 80);
	CHECK(!strncmp(line, "100.0 % [==================================================]", 60));
	/* start: the arrow in the first cell */
	dog_progress_format(line, sizeof(line), 0, 400ull << 20, 80);
	CHECK(!strncmp(line, "  0.0 % [>  ", 12));
	/* an empty transfer counts as complete; never more than 100 % */
	dog_progress_format(line, sizeof(line), 0, 0, 80);
	CHECK(!strncmp(line, "100.0 % [=", 10));
	dog_progress_format(line, sizeof(line), 500, 100, 80);
	CHECK(!strncmp(line, "100.0 % [=", 10));
	/* the bar follows the width; tiny and huge terminals are clamped */
	dog_progress_format(line, sizeof(line), 1, 2, 130);
	CHECK_EQ(strchr(line, ']') - strchr(line, '['), 101);
	n = dog_progress_format(line, sizeof(line), 1, 2, 5);
	CHECK_EQ(n, DOG_PROGRESS_MIN_WIDTH - 1);
	n = dog_progress_format(line, sizeof(line), 1, 2, 100000);
	CHECK(n < sizeof(line));
	CHECK_EQ(strlen(line), n);
	/* a buffer too small for the line is never overrun */
	memset(line, 'x', sizeof(line));
	n = dog_progress_format(line, 6, 1, 2, 80);
	CHECK_EQ(n, 5);
	CHECK_EQ(strlen(line), 5);
	CHECK_EQ(line[6], 'x');
	/* huge totals do not overflow the cell arithmetic */
	dog_progress_format(line, sizeof(line), UINT64_MAX / 2, UINT64_MAX, 80);
	CHECK(!strncmp(line, " 50.0 % [=========================>", 35));
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_parse_size, passed, failed);
	RUN_TEST(test_parse_uint, passed, failed);
	RUN_TEST(test_strnumber, passed, failed);
	RUN_TEST(test_escape, passed, failed);
	RUN_TEST(test_copies, passed, failed);
	RUN_TEST(test_progress_format, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
