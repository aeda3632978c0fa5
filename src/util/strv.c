#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

int strv_push(struct strv *sv, const char *s)
{
	char **v;
	char *copy = strdup(s);

	if (!copy)
		return -1;
	v = realloc(sv->v, (sv->n + 2) * sizeof(*v));
	if (!v) {
		free(copy);
		return -1;
	}
	v[sv->n++] = copy;
	v[sv->n] = NULL;
	sv->v = v;
	return 0;
}

int strv_copy(struct strv *dst, const struct strv *src)
{
	struct strv out = STRV_INIT;

	for (size_t i = 0; i < src->n; i++) {
		if (strv_push(&out, src->v[i])) {
			strv_free(&out);
			return -1;
		}
	}
	*dst = out;
	return 0;
}

void strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}
