/*
 * Host and IP parsing, allowlist entries and IP classification
 * (src/host/netaddr.c): what decides which host a guest may reach.
 *
 * Input: NUL-separated strings.  The first is read as an IP literal, a host
 * and an allowlist entry; the next ones as allowlist entries; the last as a
 * "host:port" that is matched against them.
 *
 * Invariants:
 *  - formatting an address and parsing it back gives the same address;
 *  - whatever inet_aton reads as an IPv4 address, the host parser reads as
 *    the same address (a resolver would connect there);
 *  - an IPv6 address that carries a blocked IPv4 address is blocked;
 *  - a normalised host is short, lower case, of [a-z0-9._-] unless an IP
 *    literal, and normalising it again changes nothing;
 *  - the allowlist admits a host only when an entry names it, a parent
 *    domain of it or its exact address, on the entry's port (80/443 when none).
 */
#include "fuzz.h"
#include "host/netaddr.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#define MAX_ENTRIES 8

static void check_ip(const char *s)
{
	struct net_ip ip, again;
	uint8_t v4[4];
	char text[64];

	if (net_parse_ip(s, &ip) != 0)
		return;
	FUZZ_ASSERT(ip.family == AF_INET || ip.family == AF_INET6);
	net_ip_format(&ip, true, text, sizeof(text));
	FUZZ_ASSERT(net_parse_ip(text, &again) == 0 && net_ip_equal(&ip, &again));
	net_ip_format(&ip, false, text, sizeof(text));
	FUZZ_ASSERT(net_parse_ip(text, &again) == 0 && net_ip_equal(&ip, &again));
	if (net_ip_embedded_v4(&ip, v4)) {
		struct net_ip inner = {.family = AF_INET};

		memcpy(inner.addr, v4, 4);
		if (net_ip_blocked(&inner))
			FUZZ_ASSERT(net_ip_blocked(&ip) != NULL);
	}
}

/* inet_aton's notations without its tolerance for trailing blanks and junk. */
static void check_aton(const char *s)
{
	struct in_addr a;
	struct net_host h;

	if (strspn(s, "0123456789abcdefABCDEFxX.") != strlen(s) || inet_aton(s, &a) == 0)
		return;
	FUZZ_ASSERT(net_host_parse(s, &h, NULL, 0) == 0);
	FUZZ_ASSERT(h.is_ip && h.ip.family == AF_INET && memcmp(h.ip.addr, &a, 4) == 0);
}

static void check_host(const char *s)
{
	struct net_host h, again;
	char err[256];

	if (net_host_parse(s, &h, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		return;
	}
	FUZZ_ASSERT(h.name[0] != '\0' && strlen(h.name) <= NET_NAME_MAX);
	if (!h.is_ip)
		FUZZ_ASSERT(strspn(h.name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") ==
			    strlen(h.name));
	FUZZ_ASSERT(net_host_parse(h.name, &again, err, sizeof(err)) == 0);
	FUZZ_ASSERT(again.is_ip == h.is_ip && strcmp(again.name, h.name) == 0);
	if (h.is_ip)
		FUZZ_ASSERT(net_ip_equal(&again.ip, &h.ip));
}

/* name is domain or below it, written independently of net_name_within. */
static bool below(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n < d || memcmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

static bool admits(const struct net_allow *e, const struct net_host *h, unsigned port)
{
	bool port_ok = e->port ? e->port == port : (port == 80 || port == 443);

	if (!port_ok)
		return false;
	if (e->host.is_ip || h->is_ip)
		return e->host.is_ip && h->is_ip && net_ip_equal(&e->host.ip, &h->ip);
	return below(h->name, e->host.name);
}

static void check_match(const struct net_allow *entries, size_t n, char *target)
{
	char *colon = strrchr(target, ':');
	unsigned port = 443;
	struct net_host h;
	bool want = false;

	if (colon && !strchr(target, ']') && strchr(target, ':') == colon) {
		port = (unsigned)strtoul(colon + 1, NULL, 10) & 0xffff;
		*colon = '\0';
	}
	if (net_host_parse(target, &h, NULL, 0) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		want |= admits(&entries[i], &h, port);
	FUZZ_ASSERT(net_allow_match(entries, n, &h, port) == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct net_allow entries[MAX_ENTRIES];
	size_t n = 0;
	char *s;

	while (in.n && (s = fuzz_take_str(&in)) != NULL) {
		char err[256] = "";

		if (n == 0) {
			check_ip(s);
			check_aton(s);
			check_host(s);
		}
		if (in.n == 0 && n > 0) {
			check_match(entries, n, s);
		} else if (n < MAX_ENTRIES) {
			if (net_allow_parse(s, &entries[n], err, sizeof(err)) == 0) {
				FUZZ_ASSERT(entries[n].port <= 65535);
				n++;
			} else {
				FUZZ_ASSERT(err[0] != '\0');
			}
		}
		free(s);
	}
	return 0;
}
