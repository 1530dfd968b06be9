// SPDX-License-Identifier: GPL-2.0-or-later
/* dog: parsing and formatting helpers with no I/O to sheep (unit-tested). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "dog.h"

void dog_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Multiplier for a size suffix letter, 0 if the letter is not one. */
static uint64_t suffix_mult(char c)
{
	switch (toupper((unsigned char)c)) {
	case 'K': return UINT64_C(1) << 10;
	case 'M': return UINT64_C(1) << 20;
	case 'G': return UINT64_C(1) << 30;
	case 'T': return UINT64_C(1) << 40;
	case 'P': return UINT64_C(1) << 50;
	default: return 0;
	}
}

int dog_parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 1, v;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		/* Digits beyond the 15th cannot change a 2^50 multiple. */
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < UINT64_C(1000000000000000)) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
		}
	}
	if (*p && suffix_mult(*p)) {
		mult = suffix_mult(*p);
		p++;
		if (*p == 'B' || *p == 'b')
			p++;
	} else if (*p == 'B' || *p == 'b') {
		p++;
	}
	if (*p)
		return -EINVAL;
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	v = whole * mult;
	/* frac < frac_div <= 10^15 and mult <= 2^50: split to avoid overflow. */
	if (frac) {
		uint64_t add = (mult / frac_div) * frac + ((mult % frac_div) * frac) / frac_div;

		if (v > UINT64_MAX - add)
			return -ERANGE;
		v += add;
	}
	*out = v;
	return 0;
}

int dog_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

const char *dog_strnumber(uint64_t size, bool raw, char *buf, size_t len)
{
	static const char *const units[] = { "MB", "GB", "TB", "PB", "EB" };
	double v;
	size_t i = 0;

	if (raw) {
		snprintf(buf, len, "%" PRIu64, size);
		return buf;
	}
	v = (double)size / (1024.0 * 1024.0);
	while (i < sizeof(units) / sizeof(units[0]) - 1 && v >= 1024.0) {
		i++;
		v /= 1024.0;
	}
	if (v >= 10.0)
		snprintf(buf, len, "%.0f %s", v, units[i]);
	else
		snprintf(buf, len, "%.1f %s", v, units[i]);
	return buf;
}

void dog_fput_escaped(FILE *f, const char *name)
{
	for (; *name; name++) {
		if (isspace((unsigned char)*name) || *name == '\\')
			fputc('\\', f);
		fputc(*name, f);
	}
}

const char *dog_redundancy_str(uint8_t copies, uint8_t policy, char *buf, size_t len)
{
	if (policy)
		snprintf(buf, len, "%d:%d", (policy >> 4) * 2, policy & 0x0f);
	else
		snprintf(buf, len, "%d", copies);
	return buf;
}

int dog_parse_copies(const char *s, uint8_t *copies, uint8_t *policy)
{
	const char *colon = strchr(s, ':');
	uint64_t d, p;
	char dbuf[8];

	if (!colon) {
		if (dog_parse_uint(s, 1, SD_MAX_COPIES, &d))
			return -EINVAL;
		*copies = (uint8_t)d;
		*policy = 0;
		return 0;
	}
	if ((size_t)(colon - s) >= sizeof(dbuf))
		return -EINVAL;
	memcpy(dbuf, s, (size_t)(colon - s));
	dbuf[colon - s] = '\0';
	if (dog_parse_uint(dbuf, 2, 16, &d) || dog_parse_uint(colon + 1, 1, 15, &p))
		return -EINVAL;
	if ((d != 2 && d != 4 && d != 8 && d != 16) || p >= d)
		return -EINVAL;
	*copies = (uint8_t)(d + p);
	*policy = (uint8_t)(((d / 2) << 4) | p);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t dog_progress_format(char *buf, size_t len, uint64_t done, uint64_t total, int width)
{
	double frac = total ? (double)(done < total ? done : total) / (double)total : 1.0;
	char a[32], b[32];
	int bar, fill, i;
	size_t n;

	if (width < DOG_PROGRESS_MIN_WIDTH)
		width = DOG_PROGRESS_MIN_WIDTH;
	if ((size_t)width >= len)
		width = (int)len - 1;
	/* upstream's proportions: the bar takes all but 30 columns */
	bar = width - 30;
	fill = (int)(frac * bar);
	n = (size_t)snprintf(buf, len, "%5.1f %% [", frac * 100.0);
	if (n >= len)
		n = len - 1; /* truncated: the loops below add nothing */
	for (i = 0; i < bar && n < len - 1; i++)
		buf[n++] = i < fill ? '=' : (i == fill ? '>' : ' ');
	buf[n] = '\0';
	n += (size_t)snprintf(buf + n, len - n, "] %s / %s",
			      dog_strnumber(done, false, a, sizeof(a)),
			      dog_strnumber(total, false, b, sizeof(b)));
	if (n >= len)
		n = len - 1;
	/* blank the rest of the line, short of the last column (no wrap) */
	while (n < (size_t)width - 1)
		buf[n++] = ' ';
	buf[n] = '\0';
	return n;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col)
		return 80;
	return ws.ws_col;
}

static void progress_draw(const struct dog_progress *p, uint64_t done)
{
	char line[DOG_PROGRESS_MAX_WIDTH + 1];

	dog_progress_format(line, sizeof(line), done, p->total, term_width());
	fprintf(stderr, "\r%s", line);
	fflush(stderr);
}

void dog_progress_begin(struct dog_progress *p, uint64_t total)
{
	p->enabled = isatty(STDERR_FILENO) == 1;
	p->drawn = false;
	p->total = total;
	p->last_ms = now_ms();
}

void dog_progress_update(struct dog_progress *p, uint64_t done)
{
	int64_t t;

	if (!p->enabled)
		return;
	t = now_ms();
	if (t - p->last_ms < 200)
		return;
	p->last_ms = t;
	p->drawn = true;
	progress_draw(p, done);
}

void dog_progress_end(struct dog_progress *p, uint64_t done)
{
	if (!p->enabled || !p->drawn)
		return;
	progress_draw(p, done);
	fputc('\n', stderr);
}
