#include "cli/serve_policy.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN_BYTES 16
#define NAME_MAX_BYTES 64

const struct serve_limit_field serve_limit_fields[] = {
    {"wallTimeoutMs", offsetof(brig_limits, wall_timeout_ms), 8},
    {"cpuTimeoutMs", offsetof(brig_limits, cpu_timeout_ms), 8},
    {"memoryBytes", offsetof(brig_limits, memory_bytes), 8},
    {"maxPids", offsetof(brig_limits, max_pids), 4},
    {"maxOutputBytes", offsetof(brig_limits, max_output_bytes), 8},
    {"tmpBytes", offsetof(brig_limits, tmp_bytes), 8},
    {"maxCodeBytes", offsetof(brig_limits, max_code_bytes), 8},
    {"mountWriteBytes", offsetof(brig_limits, mount_write_bytes), 8},
    {"maxOpenFiles", offsetof(brig_limits, max_open_files), 4},
};
const size_t serve_nlimit_fields = sizeof(serve_limit_fields) / sizeof(serve_limit_fields[0]);

uint64_t serve_limit_get(const brig_limits *l, const struct serve_limit_field *f)
{
	const char *p = (const char *)l + f->offset;

	if (f->size == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void serve_limit_set(brig_limits *l, const struct serve_limit_field *f, uint64_t v)
{
	char *p = (char *)l + f->offset;

	if (f->size == 4) {
		uint32_t v32 = (uint32_t)v;
		memcpy(p, &v32, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

int serve_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_limits(json_t *o, const char *who, brig_limits *l, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return serve_errf(err, errlen, "%s: limits must be an object", who);
	json_object_foreach(o, key, v)
	{
		size_t i = 0;

		while (i < serve_nlimit_fields && strcmp(serve_limit_fields[i].key, key) != 0)
			i++;
		if (i == serve_nlimit_fields)
			return serve_errf(err, errlen, "%s: unknown limit '%s'", who, key);
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    (serve_limit_fields[i].size == 4 &&
		     json_integer_value(v) > (json_int_t)UINT32_MAX))
			return serve_errf(err, errlen, "%s: limit '%s' must be a positive integer",
					  who, key);
		serve_limit_set(l, &serve_limit_fields[i], (uint64_t)json_integer_value(v));
	}
	return 0;
}

int serve_mount_mode_parse(const char *s, brig_mount_mode *mode)
{
	static const char *const names[] = {"ro", "rw", "rwc"};

	for (int i = 0; s && i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*mode = (brig_mount_mode)i;
			return 0;
		}
	}
	return -1;
}

static int parse_hosts(json_t *a, struct serve_grant *g, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return serve_errf(err, errlen, "%s: hosts must be an array of strings", g->name);
	g->hosts = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!g->hosts)
		return serve_errf(err, errlen, "out of memory");
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return serve_errf(err, errlen, "%s: hosts must be an array of strings",
					  g->name);
		if (!(g->hosts[g->nhosts++] = strdup(json_string_value(v))))
			return serve_errf(err, errlen, "out of memory");
	}
	return 0;
}

static int parse_mount(const char *vpath, json_t *m, struct serve_mount_grant *out, const char *who,
		       char *err, size_t errlen)
{
	json_t *host = json_object_get(m, "host"), *mode = json_object_get(m, "mode");

	if (!json_is_object(m) || !json_is_string(host) || (mode && !json_is_string(mode)) ||
	    json_object_size(m) != 1u + (mode != NULL))
		return serve_errf(err, errlen,
				  "%s: mount '%s' wants {\"host\": PATH, \"mode\": MODE}", who,
				  vpath);
	out->mode = BRIG_MOUNT_RO;
	if (mode && serve_mount_mode_parse(json_string_value(mode), &out->mode))
		return serve_errf(err, errlen, "%s: mount '%s': mode must be ro, rw or rwc", who,
				  vpath);
	if (vpath[0] != '/' || json_string_value(host)[0] != '/')
		return serve_errf(err, errlen, "%s: mount '%s': both paths must be absolute", who,
				  vpath);
	out->vpath = strdup(vpath);
	out->host = strdup(json_string_value(host));
	return out->vpath && out->host ? 0 : serve_errf(err, errlen, "out of memory");
}

static int parse_mounts(json_t *o, struct serve_grant *g, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return serve_errf(err, errlen, "%s: mounts must be an object", g->name);
	g->mounts = calloc(json_object_size(o) + 1, sizeof(*g->mounts));
	if (!g->mounts)
		return serve_errf(err, errlen, "out of memory");
	json_object_foreach(o, key, v)
	{
		if (parse_mount(key, v, &g->mounts[g->nmounts++], g->name, err, errlen))
			return -1;
	}
	return 0;
}

/* {"name": "string", ...}: kv stores (file) and host functions (command). */
static int parse_named(json_t *o, const char *what, struct serve_named **out, size_t *n,
		       const char *who, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return serve_errf(err, errlen, "%s: %s must be an object of strings", who, what);
	*out = calloc(json_object_size(o) + 1, sizeof(**out));
	if (!*out)
		return serve_errf(err, errlen, "out of memory");
	json_object_foreach(o, key, v)
	{
		struct serve_named *e = &(*out)[(*n)++];

		if (!json_is_string(v) || !key[0] || !json_string_value(v)[0])
			return serve_errf(err, errlen,
					  "%s: %s must be an object of non-empty strings", who,
					  what);
		e->name = strdup(key);
		e->value = strdup(json_string_value(v));
		if (!e->name || !e->value)
			return serve_errf(err, errlen, "out of memory");
	}
	return 0;
}

static int parse_rate(json_t *o, struct serve_grant *g, char *err, size_t errlen)
{
	json_t *ps = json_object_get(o, "perSecond"), *burst = json_object_get(o, "burst");

	if (!json_is_object(o) || !json_is_number(ps) || json_number_value(ps) <= 0 ||
	    (burst && (!json_is_number(burst) || json_number_value(burst) < 1)) ||
	    json_object_size(o) != 1u + (burst != NULL))
		return serve_errf(err, errlen,
				  "%s: rate wants {\"perSecond\": N > 0, \"burst\": N >= 1}",
				  g->name);
	g->rate_per_s = json_number_value(ps);
	g->rate_burst = burst ? json_number_value(burst) : g->rate_per_s;
	if (g->rate_burst < 1)
		g->rate_burst = 1;
	return 0;
}

static int parse_member(const char *key, json_t *v, struct serve_grant *g, char *err, size_t errlen)
{
	if (strcmp(key, "hosts") == 0)
		return parse_hosts(v, g, err, errlen);
	if (strcmp(key, "mounts") == 0)
		return parse_mounts(v, g, err, errlen);
	if (strcmp(key, "kv") == 0)
		return parse_named(v, "kv", &g->kvs, &g->nkvs, g->name, err, errlen);
	if (strcmp(key, "functions") == 0)
		return parse_named(v, "functions", &g->fns, &g->nfns, g->name, err, errlen);
	if (strcmp(key, "limits") == 0)
		return parse_limits(v, g->name, &g->limits, err, errlen);
	if (strcmp(key, "rate") == 0)
		return parse_rate(v, g, err, errlen);
	if (strcmp(key, "maxSessions") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000000)
			return serve_errf(err, errlen, "%s: maxSessions must be an integer >= 0",
					  g->name);
		g->max_sessions = (uint32_t)json_integer_value(v);
		return 0;
	}
	return serve_errf(err, errlen, "%s: unknown member '%s'", g->name, key);
}

static int parse_grant(const char *name, json_t *o, struct serve_grant *g, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	brig_limits_init(&g->limits);
	if (!(g->name = strdup(name)))
		return serve_errf(err, errlen, "out of memory");
	if (!json_is_object(o))
		return serve_errf(err, errlen, "%s: a grant must be an object", name);
	json_object_foreach(o, key, v)
	{
		if (parse_member(key, v, g, err, errlen))
			return -1;
	}
	return 0;
}

int serve_policy_parse(const char *text, size_t len, struct serve_policy *out, char *err,
		       size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *tokens;
	const char *key;
	json_t *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!root)
		return serve_errf(err, errlen, "line %d: %s", jerr.line, jerr.text);
	tokens = json_object_get(root, "tokens");
	if (!json_is_object(root) || !json_is_object(tokens) || json_object_size(root) != 1) {
		serve_errf(err, errlen, "the policy must be {\"tokens\": {NAME: GRANT, ...}}");
		goto out;
	}
	out->grants = calloc(json_object_size(tokens) + 1, sizeof(*out->grants));
	if (!out->grants) {
		serve_errf(err, errlen, "out of memory");
		goto out;
	}
	json_object_foreach(tokens, key, v)
	{
		if (parse_grant(key, v, &out->grants[out->n++], err, errlen))
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc)
		serve_policy_free(out);
	return rc;
}

const struct serve_grant *serve_policy_find(const struct serve_policy *p, const char *name)
{
	const struct serve_grant *def = NULL;

	for (size_t i = 0; p && i < p->n; i++) {
		if (name && strcmp(p->grants[i].name, name) == 0)
			return &p->grants[i];
		if (strcmp(p->grants[i].name, "default") == 0)
			def = &p->grants[i];
	}
	return def;
}

static void free_named(struct serve_named *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
		brig_kv_free(v[i].kv);
	}
	free(v);
}

void serve_policy_free(struct serve_policy *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct serve_grant *g = &p->grants[i];

		for (size_t j = 0; j < g->nhosts; j++)
			free(g->hosts[j]);
		free(g->hosts);
		for (size_t j = 0; j < g->nmounts; j++) {
			free(g->mounts[j].vpath);
			free(g->mounts[j].host);
		}
		free(g->mounts);
		free_named(g->kvs, g->nkvs);
		free_named(g->fns, g->nfns);
		free(g->name);
	}
	free(p->grants);
	memset(p, 0, sizeof(*p));
}

/* Split the next line off *text; NULL at the end. */
static char *next_line(char **text)
{
	char *line = *text, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	*text = nl ? nl + 1 : NULL;
	if (nl)
		*nl = '\0';
	return line;
}

static int add_token(struct serve_tokens *t, const char *name, const char *secret, int lineno,
		     char *err, size_t errlen)
{
	struct serve_token *v;

	if (strlen(name) > NAME_MAX_BYTES)
		return serve_errf(err, errlen, "line %d: name longer than %d bytes", lineno,
				  NAME_MAX_BYTES);
	if (strlen(secret) < TOKEN_MIN_BYTES)
		return serve_errf(err, errlen, "line %d: the secret is shorter than %d bytes",
				  lineno, TOKEN_MIN_BYTES);
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, name) == 0)
			return serve_errf(err, errlen, "line %d: name '%s' given twice", lineno,
					  name);
	}
	if (!(v = realloc(t->v, (t->n + 1) * sizeof(*v))))
		return serve_errf(err, errlen, "out of memory");
	t->v = v;
	v[t->n].name = strdup(name);
	v[t->n].secret = strdup(secret);
	v[t->n].len = strlen(secret);
	t->n++;
	if (!v[t->n - 1].name || !v[t->n - 1].secret)
		return serve_errf(err, errlen, "out of memory");
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++) {
		if (*s < 0x21 || *s > 0x7e)
			return false;
	}
	return true;
}

int serve_tokens_parse(const char *text, size_t len, struct serve_tokens *out, char *err,
		       size_t errlen)
{
	char *copy = malloc(len + 1), *cur = copy, *line;
	int lineno = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return serve_errf(err, errlen, "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (strlen(copy) != len)
		rc = serve_errf(err, errlen, "the file holds a NUL byte");
	while (!rc && (line = next_line(&cur))) {
		char *save = NULL, *name, *secret, *extra;

		lineno++;
		line[strcspn(line, "#\r")] = '\0';
		name = strtok_r(line, " \t", &save);
		if (!name)
			continue;
		secret = strtok_r(NULL, " \t", &save);
		extra = strtok_r(NULL, " \t", &save);
		if (!secret || extra || !printable(name) || !printable(secret))
			rc = serve_errf(err, errlen, "line %d: expected NAME SECRET", lineno);
		else
			rc = add_token(out, name, secret, lineno, err, errlen);
	}
	if (!rc && out->n == 0)
		rc = serve_errf(err, errlen, "no tokens");
	free(copy);
	if (rc)
		serve_tokens_free(out);
	return rc;
}

/* Time depends on len(secret) only, never on where the bytes differ. */
static bool equal_ct(const char *secret, size_t slen, const char *p, size_t plen)
{
	volatile unsigned char diff = (unsigned char)(slen != plen);

	for (size_t i = 0; i < slen; i++)
		diff |= (unsigned char)secret[i] ^ (unsigned char)(i < plen ? p[i] : 0);
	return diff == 0;
}

const char *serve_tokens_match(const struct serve_tokens *t, const char *presented, size_t len)
{
	const char *found = NULL;

	for (size_t i = 0; i < t->n; i++) {
		if (equal_ct(t->v[i].secret, t->v[i].len, presented, len))
			found = t->v[i].name;
	}
	return found;
}

void serve_tokens_free(struct serve_tokens *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		if (t->v[i].secret)
			memset(t->v[i].secret, 0, t->v[i].len);
		free(t->v[i].secret);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}
