#include "netaddr.h"
#include "curl_lazy.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ------------------------------------------------------------ IP literals */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One part of an inet_aton address, in [s, end).  Returns 0 or -1. */
static int parse_v4_part(const char *s, const char *end, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (s == end)
		return -1;
	if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2; /* "0x" alone is 0, as in inet_aton and WHATWG */
	} else if (end - s >= 2 && s[0] == '0') {
		base = 8;
		s++;
	}
	for (; s < end; s++) {
		int d = hexval(*s);

		if (d < 0 || (unsigned)d >= base)
			return -1;
		v = v * base + (unsigned)d;
		if (v > 0xffffffffu)
			return -1;
	}
	*out = v;
	return 0;
}

int net_parse_ipv4(const char *s, uint8_t out[4])
{
	uint64_t part[4];
	size_t n = 0;
	uint64_t v;

	for (;;) {
		const char *dot = strchr(s, '.');
		const char *end = dot ? dot : s + strlen(s);

		if (n == 4 || parse_v4_part(s, end, &part[n]) != 0)
			return -1;
		n++;
		if (!dot)
			break;
		s = dot + 1;
	}
	/* Leading parts are single bytes; the last fills what is left. */
	v = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (part[i] > 0xff)
			return -1;
		v |= part[i] << (8 * (3 - i));
	}
	if (part[n - 1] >> (8 * (5 - n)) != 0)
		return -1;
	v |= part[n - 1];
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(v >> (8 * (3 - i)));
	return 0;
}

int net_parse_ipv6(const char *s, uint8_t out[16])
{
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

int net_parse_ip(const char *s, struct net_ip *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	memset(out, 0, sizeof(*out));
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		out->family = AF_INET6;
		return net_parse_ipv6(buf, out->addr);
	}
	if (strchr(s, ':')) {
		out->family = AF_INET6;
		return net_parse_ipv6(s, out->addr);
	}
	out->family = AF_INET;
	return net_parse_ipv4(s, out->addr);
}

void net_ip_format(const struct net_ip *ip, bool brackets, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (!inet_ntop(ip->family, ip->addr, tmp, sizeof(tmp)))
		snprintf(tmp, sizeof(tmp), "?");
	if (ip->family == AF_INET6 && brackets)
		snprintf(buf, len, "[%s]", tmp);
	else
		snprintf(buf, len, "%s", tmp);
}

bool net_ip_equal(const struct net_ip *a, const struct net_ip *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->addr, b->addr, n) == 0;
}

/* ------------------------------------------------------ classification */

struct prefix {
	uint8_t addr[16];
	unsigned bits;
	const char *why;
};

/* Checked in order: the first match gives the reason. */
static const struct prefix v4_blocked[] = {
    {{169, 254, 169, 254}, 32, "metadata"},  {{100, 100, 100, 200}, 32, "metadata"},
    {{255, 255, 255, 255}, 32, "broadcast"}, {{0, 0, 0, 0}, 8, "unspecified"},
    {{10, 0, 0, 0}, 8, "private"},	     {{100, 64, 0, 0}, 10, "cgnat"},
    {{127, 0, 0, 0}, 8, "loopback"},	     {{169, 254, 0, 0}, 16, "link-local"},
    {{172, 16, 0, 0}, 12, "private"},	     {{192, 0, 0, 0}, 24, "reserved"},
    {{192, 0, 2, 0}, 24, "documentation"},   {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},   {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"}, {{224, 0, 0, 0}, 4, "multicast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

static const struct prefix v6_blocked[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}, 128, "metadata"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "nat64-local"},
    {{0x01, 0x00}, 64, "discard"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "teredo"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0xfc, 0x00}, 7, "unique-local"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff, 0x00}, 8, "multicast"},
};

static bool prefix_match(const uint8_t *addr, const uint8_t *pfx, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(addr, pfx, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[whole] ^ pfx[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const char *table_lookup(const struct prefix *t, size_t n, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_match(addr, t[i].addr, t[i].bits))
			return t[i].why;
	return NULL;
}

bool net_ip_embedded_v4(const struct net_ip *ip, uint8_t out[4])
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const uint8_t siit[12] = {[8] = 0xff, [9] = 0xff};
	static const uint8_t compat[12] = {0};
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	const uint8_t *a = ip->addr;

	if (ip->family != AF_INET6)
		return false;
	if (!memcmp(a, mapped, 12) || !memcmp(a, siit, 12) || !memcmp(a, compat, 12) ||
	    !memcmp(a, nat64, 12)) {
		memcpy(out, a + 12, 4);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		memcpy(out, a + 2, 4);
		return true;
	}
	return false;
}

static const char *v6_blocked_why(const uint8_t *a)
{
	static const uint8_t zero[16] = {0};
	static const uint8_t one[16] = {[15] = 1};
	struct net_ip v6 = {.family = AF_INET6};
	struct net_ip v4 = {.family = AF_INET};
	const char *why;

	if (!memcmp(a, zero, 16))
		return "unspecified";
	if (!memcmp(a, one, 16))
		return "loopback";
	memcpy(v6.addr, a, 16);
	if (net_ip_embedded_v4(&v6, v4.addr))
		return net_ip_blocked(&v4);
	why = table_lookup(v6_blocked, sizeof(v6_blocked) / sizeof(v6_blocked[0]), a);
	if (why)
		return why;
	/* Only 2000::/3 is global unicast; everything else is special. */
	return (a[0] & 0xe0) == 0x20 ? NULL : "reserved";
}

const char *net_ip_blocked(const struct net_ip *ip)
{
	if (ip->family == AF_INET)
		return table_lookup(v4_blocked, sizeof(v4_blocked) / sizeof(v4_blocked[0]),
				    ip->addr);
	if (ip->family == AF_INET6)
		return v6_blocked_why(ip->addr);
	return "unknown family";
}

/* ----------------------------------------------------------- host names */

/* Messages quote the raw input, maybe cut mid-character: keep them UTF-8. */
static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
	if (err && errlen) {
		snprintf(err, errlen, fmt, arg);
		utf8_scrub(err);
	}
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* IDN to A-labels, lower case, one trailing dot dropped, into buf. */
static int host_to_ascii(const char *raw, char *buf, size_t len, char *err, size_t errlen)
{
	char *ace = NULL;
	size_t n;

	if (!is_ascii(raw)) {
		/* The _u8 variant: the process locale must not matter. */
		int rc = idn2_lookup_u8((const uint8_t *)raw, (uint8_t **)&ace,
					IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);

		if (rc != IDN2_OK) {
			set_err(err, errlen, "invalid international host name: %s",
				idn2_strerror(rc));
			return -1;
		}
		raw = ace;
	}
	n = strlen(raw);
	if (n >= len) {
		idn2_free(ace);
		set_err(err, errlen, "%s", "host name too long");
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		buf[i] = (raw[i] >= 'A' && raw[i] <= 'Z') ? (char)(raw[i] - 'A' + 'a') : raw[i];
	idn2_free(ace);
	if (n > 1 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return 0;
}

/* Whether a label would be read as a number ("0x1f", "017", "12"). */
static bool label_is_numeric(const char *s)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (s += 2; *s; s++)
			if (hexval(*s) < 0)
				return false;
		return true;
	}
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t label = 0;

	if (!*name || strlen(name) > NET_NAME_MAX) {
		set_err(err, errlen, "%s", "empty or overlong host name");
		return -1;
	}
	for (const char *p = name;; p++) {
		char c = *p;

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63) {
				set_err(err, errlen, "invalid host name: %s", name);
				return -1;
			}
			if (c == '\0')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_') {
			label++;
		} else {
			set_err(err, errlen, "invalid character in host name: %s", name);
			return -1;
		}
	}
}

int net_host_parse(const char *raw, struct net_host *out, char *err, size_t errlen)
{
	char buf[NET_NAME_MAX + 2];
	const char *last;

	memset(out, 0, sizeof(*out));
	if (!raw || !*raw) {
		set_err(err, errlen, "%s", "empty host");
		return -1;
	}
	if (raw[0] == '[' || strchr(raw, ':')) {
		if (net_parse_ip(raw, &out->ip) != 0 || out->ip.family != AF_INET6) {
			set_err(err, errlen, "invalid IPv6 address: %s", raw);
			return -1;
		}
		out->is_ip = true;
		net_ip_format(&out->ip, true, out->name, sizeof(out->name));
		return 0;
	}
	if (host_to_ascii(raw, buf, sizeof(buf), err, errlen) != 0)
		return -1;
	last = strrchr(buf, '.');
	last = last ? last + 1 : buf;
	if (label_is_numeric(last)) {
		/* What a resolver would read as an address must be one. */
		out->ip.family = AF_INET;
		if (net_parse_ipv4(buf, out->ip.addr) != 0) {
			set_err(err, errlen, "invalid IPv4 address: %s", raw);
			return -1;
		}
		out->is_ip = true;
		net_ip_format(&out->ip, false, out->name, sizeof(out->name));
		return 0;
	}
	if (check_name(buf, err, errlen) != 0)
		return -1;
	memcpy(out->name, buf, strlen(buf) + 1);
	return 0;
}

bool net_name_within(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n == d)
		return strcmp(name, domain) == 0;
	return n > d && name[n - d - 1] == '.' && strcmp(name + n - d, domain) == 0;
}

/* ------------------------------------------------------------ allowlist */

static int parse_port(const char *s, unsigned *out)
{
	unsigned v = 0;

	if (!*s || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

/* Split entry into host text and port text (NULL when absent). */
static int split_entry(char *e, const char **port)
{
	char *colon;

	*port = NULL;
	if (e[0] == '[') {
		char *close = strchr(e, ']');

		if (!close)
			return -1;
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':')
			return -1;
		close[1] = '\0';
		*port = close + 2;
		return 0;
	}
	colon = strchr(e, ':');
	if (colon && !strchr(colon + 1, ':')) {
		*colon = '\0';
		*port = colon + 1;
	}
	return 0; /* two or more colons: a bare IPv6 address */
}

int net_allow_parse(const char *entry, struct net_allow *out, char *err, size_t errlen)
{
	char buf[NET_NAME_MAX + 16];
	const char *port;

	memset(out, 0, sizeof(*out));
	if (!entry || strlen(entry) >= sizeof(buf)) {
		set_err(err, errlen, "%s", "missing or overlong allowlist entry");
		return -1;
	}
	if (!strncmp(entry, "*.", 2)) {
		set_err(err, errlen,
			"no wildcards in \"%s\": a host entry already admits its "
			"subdomains",
			entry);
		return -1;
	}
	memcpy(buf, entry, strlen(entry) + 1);
	if (split_entry(buf, &port) != 0) {
		set_err(err, errlen, "malformed IPv6 allowlist entry: %s", entry);
		return -1;
	}
	if (port && parse_port(port, &out->port) != 0) {
		set_err(err, errlen, "invalid port in allowlist entry: %s", entry);
		return -1;
	}
	return net_host_parse(buf, &out->host, err, errlen);
}

static bool host_matches(const struct net_host *entry, const struct net_host *h)
{
	if (entry->is_ip || h->is_ip)
		return entry->is_ip && h->is_ip && net_ip_equal(&entry->ip, &h->ip);
	return net_name_within(h->name, entry->name);
}

bool net_allow_match(const struct net_allow *entries, size_t n, const struct net_host *host,
		     unsigned port)
{
	for (size_t i = 0; i < n; i++) {
		const struct net_allow *e = &entries[i];
		bool port_ok = e->port ? e->port == port : (port == 80 || port == 443);

		if (port_ok && host_matches(&e->host, host))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ URLs */

static bool has_unsafe_bytes(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c == 0x7f || c == '\\')
			return true;
	}
	return false;
}

static bool part_present(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	CURLUcode rc = curl_url_get(u, part, &v, 0);

	curl_free(v);
	return rc == CURLUE_OK;
}

/* Fetch one part as a fixed-size string; -1 if absent or too long. */
static int get_part(CURLU *u, CURLUPart part, unsigned flags, char *buf, size_t len)
{
	char *v = NULL;
	int ret = -1;

	if (curl_url_get(u, part, &v, flags) == CURLUE_OK && strlen(v) < len) {
		memcpy(buf, v, strlen(v) + 1);
		ret = 0;
	}
	curl_free(v);
	return ret;
}

static int url_fill(struct net_url *out, char *err, size_t errlen)
{
	char scheme[16], host[1024], port[16];

	if (get_part(out->u, CURLUPART_SCHEME, 0, scheme, sizeof(scheme)) != 0 ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		set_err(err, errlen, "%s", "unsupported URL scheme (only http and https)");
		return -1;
	}
	out->https = scheme[4] == 's';
	if (part_present(out->u, CURLUPART_ZONEID)) {
		set_err(err, errlen, "%s", "IPv6 zone ids are not allowed in URLs");
		return -1;
	}
	if (get_part(out->u, CURLUPART_HOST, 0, host, sizeof(host)) != 0) {
		set_err(err, errlen, "%s", "URL has no host or an overlong one");
		return -1;
	}
	if (net_host_parse(host, &out->host, err, errlen) != 0)
		return -1;
	if (get_part(out->u, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof(port)) != 0 ||
	    parse_port(port, &out->port) != 0) {
		set_err(err, errlen, "%s", "invalid port in URL");
		return -1;
	}
	out->has_userinfo = part_present(out->u, CURLUPART_USER) ||
			    part_present(out->u, CURLUPART_PASSWORD) ||
			    part_present(out->u, CURLUPART_OPTIONS);
	/* curl connects to exactly the host that was checked. */
	if (curl_url_set(out->u, CURLUPART_HOST, out->host.name, 0) != CURLUE_OK ||
	    curl_url_set(out->u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK) {
		set_err(err, errlen, "%s", "cannot normalise URL");
		return -1;
	}
	return 0;
}

int net_url_parse(const char *url, struct net_url *out, char *err, size_t errlen)
{
	CURLUcode rc;

	memset(out, 0, sizeof(*out));
	if (!url || has_unsafe_bytes(url)) {
		set_err(err, errlen, "%s",
			"invalid URL: whitespace, control characters and backslashes are not "
			"allowed");
		return -1;
	}
	out->u = curl_url();
	if (!out->u) {
		set_err(err, errlen, "%s", "out of memory");
		return -1;
	}
	rc = curl_url_set(out->u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		set_err(err, errlen, "invalid URL: %s", curl_url_strerror(rc));
		net_url_free(out);
		return -1;
	}
	if (url_fill(out, err, errlen) != 0) {
		net_url_free(out);
		return -1;
	}
	return 0;
}

void net_url_free(struct net_url *url)
{
	curl_url_cleanup(url->u);
	url->u = NULL;
}

char *net_url_string(const struct net_url *url)
{
	char *v = NULL, *copy = NULL;

	if (curl_url_get(url->u, CURLUPART_URL, &v, 0) == CURLUE_OK)
		copy = strdup(v);
	curl_free(v);
	return copy;
}

bool net_url_cross_origin(const struct net_url *a, const struct net_url *b)
{
	return a->https != b->https || a->port != b->port || strcmp(a->host.name, b->host.name);
}
