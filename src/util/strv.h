/* NULL-terminated string vectors. */
#ifndef BRIG_UTIL_STRV_H
#define BRIG_UTIL_STRV_H

#include <stddef.h>

struct strv {
	char **v; /* NULL-terminated; NULL when empty */
	size_t n;
};

#define STRV_INIT                                                                                  \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* Append a copy of s.  Returns 0 or -1 on allocation failure. */
int strv_push(struct strv *sv, const char *s);
/* Deep copy. */
int strv_copy(struct strv *dst, const struct strv *src);
void strv_free(struct strv *sv);

#endif
