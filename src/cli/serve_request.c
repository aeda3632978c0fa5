#include "cli/serve_request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *key;
	enum serve_field bit;
} fields[] = {
    {"lang", SF_LANG},
    {"code", SF_CODE},
    {"stdin", SF_STDIN},
    {"limits", SF_LIMITS},
    {"hosts", SF_HOSTS},
    {"mounts", SF_MOUNTS},
    {"kv", SF_KV},
    {"functions", SF_FUNCTIONS},
    {"wallClockTimeoutMs", SF_WALL},
    {"cpuTimeoutMs", SF_CPU},
    {"name", SF_NAME},
    {"event", SF_EVENT},
    {"snapshot", SF_SNAPSHOT},
    {"session_id", SF_SESSION},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* A string member without NUL bytes (names, paths, hosts). */
static const char *plain_string(json_t *v)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static int string_list(json_t *a, const char *key, const char **out, size_t *n, char *err,
		       size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return serve_errf(err, errlen, "'%s' must be an array of strings", key);
	if (json_array_size(a) > SERVE_MAX_ASK)
		return serve_errf(err, errlen, "'%s' holds more than %d entries", key,
				  SERVE_MAX_ASK);
	json_array_foreach(a, i, v)
	{
		if (!(out[(*n)++] = plain_string(v)))
			return serve_errf(err, errlen, "'%s' must be an array of strings", key);
	}
	return 0;
}

/* ["/data", {"path": "/out", "mode": "rwc"}] */
static int mount_list(json_t *a, struct serve_req *r, char *err, size_t errlen)
{
	const char *want = "'mounts' must be an array of paths or {\"path\": P, \"mode\": M}";
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > SERVE_MAX_ASK)
		return serve_errf(err, errlen, "%s (at most %d)", want, SERVE_MAX_ASK);
	json_array_foreach(a, i, v)
	{
		struct serve_ask_mount *m = &r->mounts[r->nmounts++];
		json_t *mode = json_object_get(v, "mode");

		m->mode = BRIG_MOUNT_RO;
		if ((m->vpath = plain_string(v)))
			continue;
		if (!json_is_object(v) || !(m->vpath = plain_string(json_object_get(v, "path"))) ||
		    json_object_size(v) != 1u + (mode != NULL) ||
		    (mode && serve_mount_mode_parse(plain_string(mode), &m->mode)))
			return serve_errf(err, errlen, "%s", want);
	}
	return 0;
}

static int positive(json_t *v, const char *key, uint64_t *out, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return serve_errf(err, errlen, "'%s' must be a positive integer", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int req_limits(json_t *o, brig_limits *l, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return serve_errf(err, errlen, "'limits' must be an object");
	json_object_foreach(o, key, v)
	{
		size_t i = 0;
		uint64_t n = 0;

		while (i < serve_nlimit_fields && strcmp(serve_limit_fields[i].key, key) != 0)
			i++;
		if (i == serve_nlimit_fields)
			return serve_errf(err, errlen, "unknown limit '%s'", key);
		if (positive(v, key, &n, err, errlen))
			return -1;
		if (serve_limit_fields[i].size == 4 && n > UINT32_MAX)
			return serve_errf(err, errlen, "limit '%s' is too large", key);
		serve_limit_set(l, &serve_limit_fields[i], n);
	}
	return 0;
}

static int text(json_t *v, const char *key, const char **s, size_t *len, char *err, size_t errlen)
{
	if (!json_is_string(v))
		return serve_errf(err, errlen, "'%s' must be a string", key);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

static int name_member(json_t *v, const char *key, const char **out, char *err, size_t errlen)
{
	if (!(*out = plain_string(v)) || !**out)
		return serve_errf(err, errlen, "'%s' must be a non-empty string", key);
	return 0;
}

static int member(enum serve_field bit, const char *key, json_t *v, struct serve_req *r, char *err,
		  size_t errlen)
{
	switch (bit) {
	case SF_LANG:
		if (!plain_string(v) || brig_lang_parse(json_string_value(v), &r->lang))
			return serve_errf(err, errlen, "'lang' must be python, javascript or sh");
		return 0;
	case SF_CODE:
		return text(v, key, &r->code, &r->code_len, err, errlen);
	case SF_STDIN:
		return text(v, key, &r->stdin_data, &r->stdin_len, err, errlen);
	case SF_LIMITS:
		return req_limits(v, &r->limits, err, errlen);
	case SF_HOSTS:
		return string_list(v, key, r->hosts, &r->nhosts, err, errlen);
	case SF_MOUNTS:
		return mount_list(v, r, err, errlen);
	case SF_KV:
		return name_member(v, key, &r->kv, err, errlen);
	case SF_FUNCTIONS:
		return string_list(v, key, r->fns, &r->nfns, err, errlen);
	case SF_WALL:
		return positive(v, key, &r->wall_ms, err, errlen);
	case SF_CPU:
		return positive(v, key, &r->cpu_ms, err, errlen);
	case SF_NAME:
		return name_member(v, key, &r->name, err, errlen);
	case SF_EVENT:
		r->event_json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		return r->event_json ? 0 : serve_errf(err, errlen, "'event' cannot be encoded");
	case SF_SNAPSHOT:
		return name_member(v, key, &r->snapshot, err, errlen);
	case SF_SESSION:
		return name_member(v, key, &r->session, err, errlen);
	}
	return serve_errf(err, errlen, "unknown field '%s'", key);
}

int serve_req_from_json(void *obj, unsigned allowed, unsigned required, struct serve_req *r,
			char *err, size_t errlen)
{
	json_t *root = obj, *v;
	const char *key;

	memset(r, 0, sizeof(*r));
	brig_limits_init(&r->limits);
	if (!json_is_object(root))
		return serve_errf(err, errlen, "the body must be a JSON object");
	r->root = json_incref(root);
	json_object_foreach(root, key, v)
	{
		size_t i = 0;

		while (i < NFIELDS && strcmp(fields[i].key, key) != 0)
			i++;
		if (i == NFIELDS || !(allowed & fields[i].bit))
			return serve_errf(err, errlen, "unknown field '%s'", key);
		if (member(fields[i].bit, key, v, r, err, errlen))
			return -1;
		r->present |= fields[i].bit;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		if ((required & fields[i].bit) && !(r->present & fields[i].bit))
			return serve_errf(err, errlen, "missing field '%s'", fields[i].key);
	}
	return 0;
}

int serve_req_parse(const char *body, size_t len, unsigned allowed, unsigned required,
		    struct serve_req *r, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		root = json_object();
	else
		root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root)
		return serve_errf(err, errlen, "invalid JSON at offset %d: %s", jerr.position,
				  jerr.text);
	rc = serve_req_from_json(root, allowed, required, r, err, errlen);
	json_decref(root);
	return rc;
}

void serve_req_free(struct serve_req *r)
{
	free(r->event_json);
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

static const struct serve_mount_grant *find_mount(const struct serve_grant *g, const char *v)
{
	for (size_t i = 0; g && i < g->nmounts; i++) {
		if (strcmp(g->mounts[i].vpath, v) == 0)
			return &g->mounts[i];
	}
	return NULL;
}

static const struct serve_named *find_named(const struct serve_named *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	}
	return NULL;
}

static bool host_granted(const struct serve_grant *g, const char *h)
{
	for (size_t i = 0; g && i < g->nhosts; i++) {
		if (strcmp(g->hosts[i], h) == 0)
			return true;
	}
	return false;
}

static int check_limits(const brig_limits *asked, const struct serve_grant *g,
			const brig_limits *ceiling, brig_limits *eff, char *out, size_t len)
{
	brig_limits_init(eff);
	for (size_t i = 0; i < serve_nlimit_fields; i++) {
		const struct serve_limit_field *f = &serve_limit_fields[i];
		uint64_t max = g ? serve_limit_get(&g->limits, f) : 0,
			 want = serve_limit_get(asked, f);

		if (!max && ceiling)
			max = serve_limit_get(ceiling, f);
		if (max && want > max)
			return serve_errf(out, len, "limit %s %llu (at most %llu)", f->key,
					  (unsigned long long)want, (unsigned long long)max);
		serve_limit_set(eff, f, want ? want : max);
	}
	return 0;
}

int serve_req_check(const struct serve_req *r, const struct serve_grant *g,
		    const brig_limits *ceiling, brig_limits *eff, char *refused, size_t len)
{
	static const char *const modes[] = {"ro", "rw", "rwc"};

	for (size_t i = 0; i < r->nhosts; i++) {
		if (!host_granted(g, r->hosts[i]))
			return serve_errf(refused, len, "host '%s'", r->hosts[i]);
	}
	for (size_t i = 0; i < r->nmounts; i++) {
		const struct serve_mount_grant *m = find_mount(g, r->mounts[i].vpath);

		if (!m)
			return serve_errf(refused, len, "mount '%s'", r->mounts[i].vpath);
		if (r->mounts[i].mode > m->mode)
			return serve_errf(refused, len, "mount '%s' in mode %s (at most %s)",
					  r->mounts[i].vpath, modes[r->mounts[i].mode],
					  modes[m->mode]);
	}
	if (r->kv && (!g || !find_named(g->kvs, g->nkvs, r->kv)))
		return serve_errf(refused, len, "kv store '%s'", r->kv);
	for (size_t i = 0; i < r->nfns; i++) {
		if (!g || !find_named(g->fns, g->nfns, r->fns[i]))
			return serve_errf(refused, len, "function '%s'", r->fns[i]);
	}
	return check_limits(&r->limits, g, ceiling, eff, refused, len);
}

int serve_req_caps(const struct serve_req *r, const struct serve_grant *g, brig_host_fn fn,
		   brig_caps *caps)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < r->nhosts; i++)
		rc = brig_caps_allow_host(caps, r->hosts[i]);
	for (size_t i = 0; !rc && i < r->nmounts; i++) {
		const struct serve_mount_grant *m = find_mount(g, r->mounts[i].vpath);
		rc =
		    m ? brig_caps_mount(caps, m->vpath, m->host, r->mounts[i].mode) : BRIG_E_DENIED;
	}
	if (!rc && r->kv) {
		const struct serve_named *kv = find_named(g->kvs, g->nkvs, r->kv);
		rc = kv && kv->kv ? brig_caps_set_kv(caps, kv->kv) : BRIG_E_DENIED;
	}
	for (size_t i = 0; !rc && i < r->nfns; i++) {
		const struct serve_named *f = find_named(g->fns, g->nfns, r->fns[i]);
		rc = f ? brig_caps_add_function(caps, f->name, fn, f->value) : BRIG_E_DENIED;
	}
	return rc;
}
