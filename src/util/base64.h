/* Standard base64 (RFC 4648, with padding). */
#ifndef BRIG_UTIL_BASE64_H
#define BRIG_UTIL_BASE64_H

#include <stddef.h>

/* The encoding of n bytes as a malloc'd string, or NULL when memory runs out. */
char *base64_encode(const void *data, size_t n);

#endif
