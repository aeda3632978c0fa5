/* Parsing of user-supplied quantities.  Pure functions, no side effects. */
#ifndef BRIG_UTIL_PARSE_H
#define BRIG_UTIL_PARSE_H

#include <stdint.h>

/*
 * "500ms", "2s", "1.5s", "1m", "1h", or a bare number of seconds.
 * Returns 0 and sets *ms, or -1 on a malformed, negative, zero or
 * overflowing value.
 */
int parse_duration_ms(const char *s, uint64_t *ms);

/*
 * "64m", "1g", "256mb", "512k", "1GiB", "100" (bytes).  Binary multiples.
 * Returns 0, or -1 on malformed, zero or overflowing values.
 */
int parse_size(const char *s, uint64_t *bytes);

/* A decimal unsigned integer that fits in 32 bits and is > 0. */
int parse_count(const char *s, uint32_t *out);

#endif
