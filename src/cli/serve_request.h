/*
 * A caller's request to `brig serve` or `brig mcp`: parsed strictly (unknown
 * members and wrong types are errors), then checked against the caller's
 * grant (cli/serve_policy.h).  Pure: no side effects but allocation.
 */
#ifndef BRIG_CLI_SERVE_REQUEST_H
#define BRIG_CLI_SERVE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brig.h"
#include "cli/serve_policy.h"

#define SERVE_MAX_ASK 64

/* Which members a request may hold (a bit each). */
enum serve_field {
	SF_LANG = 1u << 0,
	SF_CODE = 1u << 1,
	SF_STDIN = 1u << 2,
	SF_LIMITS = 1u << 3,
	SF_HOSTS = 1u << 4,
	SF_MOUNTS = 1u << 5,
	SF_KV = 1u << 6,
	SF_FUNCTIONS = 1u << 7,
	SF_WALL = 1u << 8, /* wallClockTimeoutMs */
	SF_CPU = 1u << 9,  /* cpuTimeoutMs */
	SF_NAME = 1u << 10,
	SF_EVENT = 1u << 11,
	SF_SNAPSHOT = 1u << 12,
	SF_SESSION = 1u << 13, /* session_id (MCP) */
};

/* What a one-shot run or a new session may hold. */
#define SERVE_CAP_FIELDS (SF_LIMITS | SF_HOSTS | SF_MOUNTS | SF_KV | SF_FUNCTIONS)

struct serve_ask_mount {
	const char *vpath;
	brig_mount_mode mode;
};

struct serve_req {
	unsigned present; /* enum serve_field bits of the members given */
	brig_lang lang;
	const char *code;
	size_t code_len;
	const char *stdin_data;
	size_t stdin_len;
	brig_limits limits; /* zero: not asked */
	const char *hosts[SERVE_MAX_ASK];
	size_t nhosts;
	struct serve_ask_mount mounts[SERVE_MAX_ASK];
	size_t nmounts;
	const char *kv;
	const char *fns[SERVE_MAX_ASK];
	size_t nfns;
	uint64_t wall_ms, cpu_ms;
	const char *name;
	char *event_json; /* malloc'd */
	const char *snapshot;
	const char *session;
	void *root; /* the parsed document, which the strings point into */
};

/*
 * Parse a JSON object allowing the members in `allowed` and requiring those
 * in `required`.  0, or -1 with a message for the caller in err (then
 * serve_req_free is still due).  An empty body is an empty object.
 */
int serve_req_parse(const char *body, size_t len, unsigned allowed, unsigned required,
		    struct serve_req *r, char *err, size_t errlen);
/* The same from an already parsed object (json_t *, borrowed). */
int serve_req_from_json(void *obj, unsigned allowed, unsigned required, struct serve_req *r,
			char *err, size_t errlen);
void serve_req_free(struct serve_req *r);

/*
 * Check what r asks against g (NULL: no capabilities) and the server's own
 * ceilings (zero fields: none).  Limits r does not set take g's, else the
 * server's.  0 with *eff set, or -1 with what was refused in refused.
 */
int serve_req_check(const struct serve_req *r, const struct serve_grant *g,
		    const brig_limits *ceiling, brig_limits *eff, char *refused, size_t len);

/*
 * Build the capabilities r asked for (already checked) from g: the grant's
 * host paths, stores and commands.  fn is the host-function callback, given
 * the command as userdata.
 */
int serve_req_caps(const struct serve_req *r, const struct serve_grant *g, brig_host_fn fn,
		   brig_caps *caps);

#endif
