/*
 * What `brig serve` and `brig mcp` read from outside: the operator's policy
 * and tokens files (src/cli/serve_policy.c) and callers' request bodies
 * (src/cli/serve_request.c).
 *
 * Input: the same bytes tried as a policy, a tokens file and a request.
 *
 * Invariants: a parsed tokens file matches each of its secrets, and no
 * prefix of one; a request that passes the check against a grant asks only
 * for what the grant lists, and its effective limits never exceed the
 * grant's (or the ceiling where the grant sets none).
 */
#include "fuzz.h"

#include "cli/serve_policy.h"
#include "cli/serve_request.h"

static bool listed(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0)
			return true;
	}
	return false;
}

static void check_tokens(const char *text, size_t len)
{
	struct serve_tokens t;
	char err[256];

	if (serve_tokens_parse(text, len, &t, err, sizeof(err)))
		return;
	for (size_t i = 0; i < t.n; i++) {
		FUZZ_ASSERT(serve_tokens_match(&t, t.v[i].secret, t.v[i].len) != NULL);
		FUZZ_ASSERT(serve_tokens_match(&t, t.v[i].secret, t.v[i].len - 1) == NULL ||
			    t.n > 1);
	}
	serve_tokens_free(&t);
}

static void check_request(const char *text, size_t len, const struct serve_grant *g)
{
	struct serve_req r;
	brig_limits ceiling, eff;
	char err[256];

	brig_limits_init(&ceiling);
	ceiling.memory_bytes = 1u << 28;
	if (serve_req_parse(text, len, ~0u, 0, &r, err, sizeof(err)) == 0 &&
	    serve_req_check(&r, g, &ceiling, &eff, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < r.nhosts; i++)
			FUZZ_ASSERT(g && listed(g->hosts, g->nhosts, r.hosts[i]));
		FUZZ_ASSERT(!r.kv || g);
		for (size_t i = 0; i < serve_nlimit_fields; i++) {
			const struct serve_limit_field *f = &serve_limit_fields[i];
			uint64_t max = g ? serve_limit_get(&g->limits, f) : 0;
			if (!max)
				max = serve_limit_get(&ceiling, f);
			FUZZ_ASSERT(!max || serve_limit_get(&eff, f) <= max);
		}
	}
	serve_req_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct serve_policy p;
	char err[256];

	check_tokens(text, size);
	if (serve_policy_parse(text, size, &p, err, sizeof(err)) == 0) {
		check_request(text, size, serve_policy_find(&p, "default"));
		serve_policy_free(&p);
	}
	check_request(text, size, NULL);
	return 0;
}
