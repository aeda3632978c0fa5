/* A growable byte buffer with an optional hard cap. */
#ifndef BRIG_UTIL_BUF_H
#define BRIG_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* Append n bytes.  Returns 0, or -1 when memory runs out. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Make room for n more bytes without changing len. */
int buf_reserve(struct buf *b, size_t n);
void buf_free(struct buf *b);
/* Hand the storage to the caller (never NULL on success; "" when empty). */
char *buf_steal(struct buf *b);

#endif
