/* http.request: libcurl on the host, behind an allowlist and SSRF checks. */
#ifndef BRIG_HTTP_H
#define BRIG_HTTP_H

#include "brig.h"
#include "hostcall.h"

struct http_policy;

/*
 * Check one allowlist entry ("host", "host:port", "1.2.3.4:8080",
 * "[::1]:8080").  Returns 0 or -1 with a reason in err.
 */
int http_allow_entry_valid(const char *entry, char *err, size_t errlen);

/*
 * Build an immutable policy from allowlist entries and limits (lim may be
 * NULL; zero fields take defaults).  Returns 0, or a brig_error with err set.
 */
int http_policy_new(const char *const *entries, size_t n, const brig_http_limits *lim,
		    struct http_policy **out, char *err, size_t errlen);
void http_policy_free(struct http_policy *p);

/*
 * Perform one `http.request` call (see docs/PROTOCOL.md).  Blocking and
 * thread-safe; many calls may share one policy.  Always returns with rep
 * filled: success, or an error such as PermissionError("host not allowed: X").
 *
 * Every hop (redirects are followed here, at most max_redirects) is checked
 * against the allowlist; a host name must then resolve only to public
 * addresses and the connection is pinned to them.  Errors: PermissionError
 * "host not allowed: X" or "host not allowed: X (resolves to private address
 * A)"; ValueError for a bad URL, method, header or oversized request;
 * TimeoutError; OSError for transfer failures, too many redirects or an
 * oversized response.
 *
 * timeout_ms covers the whole request, name lookups included (resolve.h).
 * When cancel fires (the run ended), the lookup or transfer under way stops
 * at once and the call fails with RuntimeError.  cancel may be NULL.
 */
void http_request(const struct http_policy *p, json_t *args, const uint8_t *body, size_t body_len,
		  struct hc_cancel *cancel, struct hc_reply *rep);
/*
 * Tests: look names up with this helper instead of getent (resolve.h).
 * Not thread-safe; before the first request.
 */
void http_policy_set_resolver(struct http_policy *p, const char *helper);

#endif
