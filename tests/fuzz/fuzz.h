/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contract every fuzz target of tests/fuzz/ implements: libFuzzer's entry
 * point over one input, which must never crash, leak or hit undefined
 * behaviour whatever the bytes.  Built two ways (tests/fuzz/local.mk): with
 * libFuzzer (--enable-fuzzers, clang) and, in every build, with driver.c as
 * a plain program that replays the target's corpus and regression inputs as
 * a unit test.
 */
#ifndef SD_FUZZ_H
#define SD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A cursor over the input, for targets that cut it into fields: take()
 * copies up to len bytes (zero-filling what is missing) and returns how
 * many were really there.
 */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline size_t fuzz_take(struct fuzz_in *in, void *dst, size_t len)
{
	size_t n = len < in->left ? len : in->left;
	size_t i;

	for (i = 0; i < n; i++)
		((uint8_t *)dst)[i] = in->p[i];
	for (; i < len; i++)
		((uint8_t *)dst)[i] = 0;
	in->p += n;
	in->left -= n;
	return n;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_take(in, &v, 1);
	return v;
}

#endif
