/*
 * Host names, IP literals, URLs and allowlist entries: parsing, normalisation
 * and classification for the HTTP capability.  Pure: no sockets, no DNS.
 */
#ifndef BRIG_NETADDR_H
#define BRIG_NETADDR_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest DNS name (without the trailing dot). */
#define NET_NAME_MAX 253

/* An IP address; family is AF_INET (first 4 bytes used) or AF_INET6. */
struct net_ip {
	int family;
	uint8_t addr[16];
};

/*
 * IPv4 in every notation inet_aton and URL parsers accept: one to four
 * dot-separated parts, each decimal, octal (leading 0) or hex (0x); the last
 * part fills the remaining bytes (127.1, 2130706433, 0x7f.1, 0177.0.0.1).
 * Returns 0, or -1 if s is not such a literal.
 */
int net_parse_ipv4(const char *s, uint8_t out[4]);
/* An IPv6 literal without brackets or zone id.  Returns 0 or -1. */
int net_parse_ipv6(const char *s, uint8_t out[16]);
/* Either family; IPv6 with or without brackets.  Returns 0 or -1. */
int net_parse_ip(const char *s, struct net_ip *out);
/* Canonical text: "127.0.0.1", "::1" or, with brackets, "[::1]". */
void net_ip_format(const struct net_ip *ip, bool brackets, char *buf, size_t len);
bool net_ip_equal(const struct net_ip *a, const struct net_ip *b);
/*
 * The IPv4 address an IPv6 address carries and would reach: IPv4-mapped
 * (::ffff:0:0/96), IPv4-compatible (::/96), SIIT (::ffff:0:0:0/96), NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16).  Returns true and fills out if so.
 */
bool net_ip_embedded_v4(const struct net_ip *ip, uint8_t out[4]);
/*
 * NULL if ip is an ordinary public unicast address.  Otherwise a short
 * reason ("loopback", "private", "link-local", "metadata", ...): loopback,
 * RFC 1918, link-local, CGNAT, multicast, broadcast, unspecified,
 * unique-local, cloud metadata, 192.0.0.0/24, 198.18.0.0/15, 240.0.0.0/4,
 * documentation ranges, deprecated IPv6 ranges, and any IPv6 address that
 * embeds such an IPv4 address.
 */
const char *net_ip_blocked(const struct net_ip *ip);

/* A normalised host: an IP literal or a lower-case ASCII (A-label) name. */
struct net_host {
	bool is_ip;
	struct net_ip ip;
	/* "example.com", "xn--bcher-kva.de", "127.0.0.1" or "[::1]" */
	char name[NET_NAME_MAX + 1];
};

/*
 * Normalise a host as it appears in a URL or allowlist entry: IDN to
 * A-labels (UTS #46), lower case, one trailing dot dropped, IP literals in
 * any notation to canonical form ("[::1]" or "::1" both give "[::1]").
 * A name whose last label is numeric must be a valid IPv4 literal.  Names
 * may hold only letters, digits, '-' and '_'.  Returns 0 or -1 with err set.
 */
int net_host_parse(const char *raw, struct net_host *out, char *err, size_t errlen);
/* True if name is domain or one of its subdomains (both normalised names). */
bool net_name_within(const char *name, const char *domain);

/* One allowlist entry; port 0 stands for "80 and 443". */
struct net_allow {
	struct net_host host;
	unsigned port;
};

/*
 * Parse "host", "host:port", "1.2.3.4", "1.2.3.4:8080", "[::1]",
 * "[::1]:8080" or a bare "::1".  Returns 0 or -1 with err set.
 */
int net_allow_parse(const char *entry, struct net_allow *out, char *err, size_t errlen);
/*
 * Whether any entry admits host on port.  A name entry admits the name and
 * its subdomains; an IP entry admits exactly that address of that family.
 */
bool net_allow_match(const struct net_allow *entries, size_t n, const struct net_host *host,
		     unsigned port);

/* A URL checked by net_url_parse. */
struct net_url {
	CURLU *u; /* host replaced by host.name, fragment removed */
	bool https;
	bool has_userinfo; /* user, password or login options present */
	struct net_host host;
	unsigned port; /* explicit or the scheme's default */
};

/*
 * Parse an absolute http(s) URL with libcurl's URL parser.  Whitespace,
 * control characters, backslashes, zone ids, port 0 and other schemes are
 * refused.  Returns 0 (free with net_url_free) or -1 with err set.
 */
int net_url_parse(const char *url, struct net_url *out, char *err, size_t errlen);
void net_url_free(struct net_url *url);
/* The normalised URL as malloc'd text, or NULL when out of memory. */
char *net_url_string(const struct net_url *url);
/* True if a and b differ in scheme, host or port. */
bool net_url_cross_origin(const struct net_url *a, const struct net_url *b);

#endif
