/*
 * http.request's argument checking and target checks (src/host/http.c), up
 * to the point of a transfer: method, URL, headers and body size, the
 * allowlist, userinfo, and the addresses a name resolves to.  fake_net.c
 * stands in for DNS and refuses every socket, so nothing leaves the process.
 *
 * Input: the call's JSON arguments, then a NUL, then the request body.
 *
 * Invariants:
 *  - every call ends in an error (no transfer can succeed here) of a
 *    documented type, with a message that is non-empty UTF-8;
 *  - a connection is attempted only for a URL that parses, carries no
 *    userinfo, is admitted by the allowlist, and names either an allowlisted
 *    IP literal or a host whose every address is public (public.test).
 */
#include "fake_net.h"
#include "fuzz.h"
#include "host/http.h"
#include "host/netaddr.h"

#include <jansson.h>

static const char *const allow[] = {
    "public.test",   "mixed.test:8080",		  "private.test", "v6.test",	     "mapped.test",
    "93.184.216.34", "[2606:2800:220:1::2]:8443", "127.0.0.1:9",  "unresolved.test",
};
#define NALLOW (sizeof(allow) / sizeof(allow[0]))

static struct http_policy *policy;
static struct net_allow entries[NALLOW];

static void setup(void)
{
	brig_http_limits lim = {0};
	char err[256];

	if (policy)
		return;
	lim.max_url_bytes = 512;
	lim.max_request_bytes = 256;
	lim.timeout_ms = 2000;
	lim.max_redirects = 2;
	FUZZ_ASSERT(http_policy_new(allow, NALLOW, &lim, &policy, err, sizeof(err)) == 0);
	for (size_t i = 0; i < NALLOW; i++)
		FUZZ_ASSERT(net_allow_parse(allow[i], &entries[i], NULL, 0) == 0);
}

static bool is_public_name(const char *name)
{
	static const char suffix[] = "public.test";
	size_t n = strlen(name), d = sizeof(suffix) - 1;

	return n >= d && strcmp(name + n - d, suffix) == 0 && (n == d || name[n - d - 1] == '.');
}

/* The guest could have made a connection attempt only to this URL. */
static void check_connect_allowed(json_t *args)
{
	const char *text = json_string_value(json_object_get(args, "url"));
	struct net_url u;

	FUZZ_ASSERT(text != NULL);
	FUZZ_ASSERT(net_url_parse(text, &u, NULL, 0) == 0);
	FUZZ_ASSERT(!u.has_userinfo);
	FUZZ_ASSERT(net_allow_match(entries, NALLOW, &u.host, u.port));
	FUZZ_ASSERT(u.host.is_ip ? net_ip_blocked(&u.host.ip) == NULL ||
				       strcmp(u.host.name, "127.0.0.1") == 0
				 : is_public_name(u.host.name));
	net_url_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *text = fuzz_take_str(&in);
	json_t *args;
	struct hc_reply rep;
	int before;

	setup();
	if (!text)
		return 0;
	args = json_loads(text, JSON_DECODE_ANY, NULL);
	free(text);
	if (!args)
		return 0;
	hc_reply_init(&rep);
	before = fake_net_sockets;
	http_request(policy, args, in.n ? in.p : NULL, in.n, NULL, &rep);
	FUZZ_ASSERT(rep.err_type != NULL);
	FUZZ_ASSERT(!strcmp(rep.err_type, "ValueError") ||
		    !strcmp(rep.err_type, "PermissionError") || !strcmp(rep.err_type, "OSError") ||
		    !strcmp(rep.err_type, "TimeoutError"));
	FUZZ_ASSERT(rep.err_msg[0] != '\0');
	FUZZ_ASSERT(fuzz_utf8_valid(rep.err_msg, strlen(rep.err_msg)));
	if (fake_net_sockets != before)
		check_connect_allowed(args);
	hc_reply_clear(&rep);
	json_decref(args);
	return 0;
}
