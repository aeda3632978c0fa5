/*
 * The operator's side of `brig serve` and `brig mcp`: who may call (the
 * tokens file) and what each caller may use (the policy file).  Pure
 * parsing, no side effects: files are read by the caller.
 *
 * Tokens file: one "NAME SECRET" per line, '#' starts a comment.  NAME
 * names the caller in the policy, the logs and the metrics; SECRET is at
 * least 16 bytes of printable ASCII.
 *
 * Policy file: a JSON object whose "tokens" member maps a NAME (or
 * "default", used for names without an entry) to a grant:
 *
 *   {"tokens": {"alice": {
 *      "hosts": ["api.example.com", "127.0.0.1:8080"],
 *      "mounts": {"/data": {"host": "/srv/data", "mode": "ro"}},
 *      "kv": {"shared": "/var/lib/brig/shared.db"},
 *      "functions": {"lookup": "/usr/local/bin/lookup"},
 *      "limits": {"wallTimeoutMs": 10000, "memoryBytes": 268435456},
 *      "maxSessions": 4,
 *      "rate": {"perSecond": 20, "burst": 40}}}}
 *
 * A grant is the most a caller may ask for; unknown members are errors.
 */
#ifndef BRIG_CLI_SERVE_POLICY_H
#define BRIG_CLI_SERVE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brig.h"

struct serve_mount_grant {
	char *vpath;
	char *host;
	brig_mount_mode mode;
};

struct serve_named {
	char *name;
	char *value; /* kv: the SQLite file; functions: the command */
	brig_kv *kv; /* kv only: opened by the server, NULL in the parser */
};

struct serve_grant {
	char *name;
	char **hosts;
	size_t nhosts;
	struct serve_mount_grant *mounts;
	size_t nmounts;
	struct serve_named *kvs;
	size_t nkvs;
	struct serve_named *fns;
	size_t nfns;
	brig_limits limits;    /* the most a caller may ask; zero: the server's */
	uint32_t max_sessions; /* 0: the server's --max-sessions */
	double rate_per_s;     /* 0: unlimited */
	double rate_burst;
};

struct serve_policy {
	struct serve_grant *grants;
	size_t n;
};

struct serve_token {
	char *name;
	char *secret;
	size_t len;
};

struct serve_tokens {
	struct serve_token *v;
	size_t n;
};

/* Parse a policy file's text.  0, or -1 with a message in err. */
int serve_policy_parse(const char *text, size_t len, struct serve_policy *out, char *err,
		       size_t errlen);
/* The grant for name, else "default", else NULL (nothing but limits). */
const struct serve_grant *serve_policy_find(const struct serve_policy *p, const char *name);
void serve_policy_free(struct serve_policy *p);

/* Parse a tokens file's text.  0, or -1 with a message in err. */
int serve_tokens_parse(const char *text, size_t len, struct serve_tokens *out, char *err,
		       size_t errlen);
/*
 * The name of the token equal to the presented secret, or NULL.  Every
 * token is compared, each in time that depends only on its own length.
 */
const char *serve_tokens_match(const struct serve_tokens *t, const char *presented, size_t len);
void serve_tokens_free(struct serve_tokens *t);

/* snprintf into err; returns -1, for error paths. */
int serve_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "ro", "rw", "rwc"; -1 for anything else (NULL too). */
int serve_mount_mode_parse(const char *s, brig_mount_mode *mode);

/* The limits a policy or request may name, as JSON members (camelCase). */
struct serve_limit_field {
	const char *key;
	size_t offset; /* in brig_limits */
	size_t size;   /* 4 or 8 */
};
extern const struct serve_limit_field serve_limit_fields[];
extern const size_t serve_nlimit_fields;
uint64_t serve_limit_get(const brig_limits *l, const struct serve_limit_field *f);
void serve_limit_set(brig_limits *l, const struct serve_limit_field *f, uint64_t v);

#endif
