/* Option structs, defaults and the small tables they hold. */
#include "lib/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void brig_limits_init(brig_limits *l)
{
	memset(l, 0, sizeof(*l));
}

void brig_config_init(brig_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host_uid = 65534;
	cfg->host_gid = 65534;
}

void brig_run_opts_init(brig_run_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
}

#define TAKE(field)                                                                                \
	do {                                                                                       \
		if (over->field)                                                                   \
			dst->field = over->field;                                                  \
	} while (0)

/* Overlay the nonzero fields of over onto dst. */
void limits_resolve(brig_limits *dst, const brig_limits *over)
{
	TAKE(wall_timeout_ms);
	TAKE(cpu_timeout_ms);
	TAKE(memory_bytes);
	TAKE(max_pids);
	TAKE(max_output_bytes);
	TAKE(tmp_bytes);
	TAKE(max_code_bytes);
	TAKE(max_frame_bytes);
	TAKE(mount_write_bytes);
	TAKE(tmp_inodes);
	TAKE(max_open_files);
	TAKE(stack_bytes);
}

static const struct {
	const char *name;
	brig_lang lang;
} langs[] = {
    {"python", BRIG_LANG_PYTHON}, {"py", BRIG_LANG_PYTHON},	{"python3", BRIG_LANG_PYTHON},
    {"js", BRIG_LANG_JS},	  {"javascript", BRIG_LANG_JS}, {"node", BRIG_LANG_JS},
    {"sh", BRIG_LANG_SH},	  {"shell", BRIG_LANG_SH},
};

int brig_lang_parse(const char *name, brig_lang *out)
{
	if (!name || !out)
		return BRIG_E_INVAL;
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
		if (strcasecmp(name, langs[i].name) == 0) {
			*out = langs[i].lang;
			return BRIG_OK;
		}
	}
	return BRIG_E_INVAL;
}

const char *brig_lang_name(brig_lang lang)
{
	switch (lang) {
	case BRIG_LANG_PYTHON:
		return "python";
	case BRIG_LANG_JS:
		return "js";
	case BRIG_LANG_SH:
		return "sh";
	}
	return "unknown";
}

int fn_table_add(struct fn_table *t, const char *name, brig_host_fn fn, void *ud)
{
	struct host_fn *v;
	char *copy;

	if (!name || !*name || !fn || strlen(name) > 128)
		return BRIG_E_INVAL;
	if (fn_table_find(t, name))
		return BRIG_E_INVAL;
	if (!(copy = strdup(name)))
		return BRIG_E_NOMEM;
	v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return BRIG_E_NOMEM;
	}
	v[t->n++] = (struct host_fn){copy, fn, ud};
	t->v = v;
	return BRIG_OK;
}

int fn_table_copy(struct fn_table *dst, const struct fn_table *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = fn_table_add(dst, src->v[i].name, src->v[i].fn, src->v[i].userdata);

		if (rc)
			return rc;
	}
	return BRIG_OK;
}

const struct host_fn *fn_table_find(const struct fn_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	}
	return NULL;
}

void fn_table_free(struct fn_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
