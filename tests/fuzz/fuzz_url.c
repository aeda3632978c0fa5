/*
 * URL checking (net_url_parse in src/host/netaddr.c, over libcurl's parser):
 * the URL a guest hands to http.request, before any connection.
 *
 * Input: a URL, then optional NUL-separated allowlist entries.
 *
 * Invariants:
 *  - a URL that passes is http or https, with a normalised host and a port
 *    in 1..65535, and none of the refused bytes (blanks, controls, '\\');
 *  - the normalised URL libcurl will fetch, parsed again, names exactly the
 *    host, port and scheme that were checked, with or without userinfo
 *    alike: what curl connects to is what the allowlist saw;
 *  - a parse error always says why.
 */
#include "fuzz.h"
#include "host/netaddr.h"

#define MAX_ENTRIES 4

static void check_url(const char *url, const struct net_allow *entries, size_t n)
{
	struct net_url u, again;
	char err[256] = "", *text;

	if (net_url_parse(url, &u, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		FUZZ_ASSERT(fuzz_utf8_valid(err, strlen(err)));
		return;
	}
	FUZZ_ASSERT(u.port >= 1 && u.port <= 65535);
	FUZZ_ASSERT(u.host.name[0] != '\0');
	for (const char *p = url; *p; p++)
		FUZZ_ASSERT((unsigned char)*p > 0x20 && *p != 0x7f && *p != '\\');
	text = net_url_string(&u);
	FUZZ_ASSERT(text != NULL);
	FUZZ_ASSERT(net_url_parse(text, &again, err, sizeof(err)) == 0);
	FUZZ_ASSERT(strcmp(again.host.name, u.host.name) == 0);
	FUZZ_ASSERT(again.port == u.port && again.https == u.https);
	FUZZ_ASSERT(again.has_userinfo == u.has_userinfo);
	FUZZ_ASSERT(!net_url_cross_origin(&u, &again));
	FUZZ_ASSERT(net_allow_match(entries, n, &u.host, u.port) ==
		    net_allow_match(entries, n, &again.host, again.port));
	net_url_free(&again);
	free(text);
	net_url_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct net_allow entries[MAX_ENTRIES];
	size_t n = 0;
	char *url = fuzz_take_str(&in);

	if (!url)
		return 0;
	while (in.n && n < MAX_ENTRIES) {
		char *e = fuzz_take_str(&in);

		if (e && net_allow_parse(e, &entries[n], NULL, 0) == 0)
			n++;
		free(e);
	}
	check_url(url, entries, n);
	free(url);
	return 0;
}
