/*
 * Shared by the fuzz targets.  Each target is one file defining
 * LLVMFuzzerTestOneInput; it links either with libFuzzer (`make fuzz`, clang)
 * or with replay.c, which runs a checked-in corpus through it (`meson test`).
 */
#ifndef BRIG_FUZZ_H
#define BRIG_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An invariant of the code under test.  abort() is what libFuzzer and the
 * sanitizers report as a crash, with the input saved.
 */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The unread rest of an input. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/*
 * The next NUL-terminated part of the input (up to a NUL byte or the end) as
 * a malloc'd string; NULL when out of memory.  NUL never occurs in the text
 * formats the targets read, so it separates fields unambiguously.
 */
static inline char *fuzz_take_str(struct fuzz_in *in)
{
	const uint8_t *nul = in->n ? memchr(in->p, 0, in->n) : NULL;
	size_t len = nul ? (size_t)(nul - in->p) : in->n;
	char *s = malloc(len + 1);

	if (!s)
		return NULL;
	if (len)
		memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len + (nul != NULL);
	in->n -= len + (nul != NULL);
	return s;
}

/* One byte of the input, 0 once it is used up. */
static inline uint8_t fuzz_take_byte(struct fuzz_in *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = in->p[0];
		in->p++;
		in->n--;
	}
	return b;
}

/* Whether s[0..len) is well-formed UTF-8: every message ends up in JSON. */
static inline bool fuzz_utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* A 64-bit FNV-1a hash: compared instead of the bytes, so the fuzzer cannot learn them. */
static inline uint64_t fuzz_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

#endif
