/* UTF-8 validation.  Pure. */
#ifndef BRIG_UTIL_UTF8_H
#define BRIG_UTIL_UTF8_H

#include <stddef.h>

#include "util/buf.h"

/* Length (1-4) of the valid UTF-8 sequence at p, or 0 if it is invalid. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);
/* Copy s to out, replacing invalid sequences with U+FFFD (NUL is kept). */
int utf8_sanitize(struct buf *out, const char *s, size_t len);
/*
 * Make the string s UTF-8 in place: every byte that is not part of a valid
 * sequence becomes '?'.  For messages that quote outside text and may have
 * been cut in the middle of a character to fit a buffer.
 */
void utf8_scrub(char *s);

#endif
