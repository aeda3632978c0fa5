#include "http.h"

#include "netaddr.h"

#include "curl_lazy.h"
#include "resolve.h"
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_MAX_URL_BYTES (8u << 10)
#define DEFAULT_MAX_REQUEST_BYTES (10u << 20)
#define DEFAULT_MAX_RESPONSE_BYTES (10u << 20)
#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_REDIRECTS 5u

#define MAX_REQ_HEADERS 100
#define MAX_REQ_HEADER_BYTES (64u << 10)
/* Header lines of one response, repeats included; and their bytes. */
#define MAX_RESP_HEADERS 256
#define MAX_RESP_HEADER_BYTES (256u << 10)
#define MAX_PINNED 16

struct http_policy {
	struct net_allow *allow;
	size_t n_allow;
	brig_http_limits lim;
	const char *resolver; /* the lookup helper (resolve.h) */
};

/* ---------------------------------------------------------------- policy */

int http_allow_entry_valid(const char *entry, char *err, size_t errlen)
{
	struct net_allow a;

	return net_allow_parse(entry, &a, err, errlen);
}

static void limits_fill(brig_http_limits *dst, const brig_http_limits *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src)
		*dst = *src;
	if (!dst->max_url_bytes)
		dst->max_url_bytes = DEFAULT_MAX_URL_BYTES;
	if (!dst->max_request_bytes)
		dst->max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
	if (!dst->max_response_bytes)
		dst->max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES;
	if (!dst->timeout_ms)
		dst->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!dst->max_redirects)
		dst->max_redirects = DEFAULT_MAX_REDIRECTS;
}

static int policy_parse(struct http_policy *p, const char *const *entries, size_t n, char *err,
			size_t errlen)
{
	char why[256];

	for (size_t i = 0; i < n; i++) {
		if (net_allow_parse(entries[i], &p->allow[i], why, sizeof(why)) != 0) {
			if (err && errlen)
				snprintf(err, errlen, "invalid allowlist entry \"%s\": %s",
					 entries[i] ? entries[i] : "(null)", why);
			return BRIG_E_INVAL;
		}
	}
	p->n_allow = n;
	return BRIG_OK;
}

int http_policy_new(const char *const *entries, size_t n, const brig_http_limits *lim,
		    struct http_policy **out, char *err, size_t errlen)
{
	struct http_policy *p;
	int rc;

	*out = NULL;
	if (n && !entries)
		return BRIG_E_INVAL;
	p = calloc(1, sizeof(*p));
	if (!p || (n && !(p->allow = calloc(n, sizeof(*p->allow))))) {
		free(p);
		return BRIG_E_NOMEM;
	}
	/* libcurl itself is loaded on the first request (host/curl_lazy.h). */
	rc = policy_parse(p, entries, n, err, errlen);
	if (rc != BRIG_OK) {
		free(p->allow);
		free(p);
		return rc;
	}
	limits_fill(&p->lim, lim);
	p->resolver = RESOLVE_HELPER;
	*out = p;
	return BRIG_OK;
}

void http_policy_set_resolver(struct http_policy *p, const char *helper)
{
	p->resolver = helper;
}

void http_policy_free(struct http_policy *p)
{
	if (!p)
		return;
	free(p->allow);
	free(p);
}

/* --------------------------------------------------------------- request */

struct hdr {
	char *name;
	char *value;
};

struct req {
	const char *method; /* one of the literals in methods[] */
	bool with_body;
	const uint8_t *body;
	size_t body_len;
	struct hdr *h;
	size_t nh;
	char *url;
};

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

/* Headers that would let the guest redirect or desynchronise the request. */
static const char *const forbidden_headers[] = {
    "host",    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
    "trailer", "expect",	 "proxy-connection",
};

static void req_free(struct req *r)
{
	for (size_t i = 0; i < r->nh; i++) {
		free(r->h[i].name);
		free(r->h[i].value);
	}
	free(r->h);
	free(r->url);
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool name_in(const char *name, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(name, set[i]))
			return true;
	return false;
}

static int check_header(const char *name, json_t *val, struct hc_reply *rep)
{
	const char *v = json_string_value(val);

	if (!*name || strlen(name) > 256)
		return hc_fail(rep, "ValueError", "invalid header name");
	for (const char *c = name; *c; c++)
		if (!is_tchar((unsigned char)*c))
			return hc_fail(rep, "ValueError", "invalid character in header name");
	if (name_in(name, forbidden_headers,
		    sizeof(forbidden_headers) / sizeof(*forbidden_headers)))
		return hc_fail(rep, "ValueError", "header not allowed: %s", name);
	if (!v)
		return hc_fail(rep, "ValueError", "header %s: value must be a string", name);
	if (strlen(v) != json_string_length(val))
		return hc_fail(rep, "ValueError", "header %s: value contains NUL", name);
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f)
			return hc_fail(rep, "ValueError",
				       "header %s: value contains CR, LF or a control character",
				       name);
	return 0;
}

static int parse_headers(json_t *obj, struct req *r, struct hc_reply *rep)
{
	const char *name;
	json_t *val;
	struct hdr *h;
	size_t total = 0;

	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return hc_fail(rep, "ValueError", "http.request: headers must be an object");
	if (json_object_size(obj) > MAX_REQ_HEADERS)
		return hc_fail(rep, "ValueError", "too many request headers (max %d)",
			       MAX_REQ_HEADERS);
	r->h = calloc(json_object_size(obj) + 1, sizeof(*r->h));
	if (!r->h)
		return hc_fail(rep, "OSError", "out of memory");
	json_object_foreach(obj, name, val)
	{
		if (check_header(name, val, rep) != 0)
			return -1;
		total += strlen(name) + json_string_length(val) + 4;
		if (total > MAX_REQ_HEADER_BYTES)
			return hc_fail(rep, "ValueError", "request headers exceed %u bytes",
				       MAX_REQ_HEADER_BYTES);
		h = &r->h[r->nh++];
		h->name = strdup(name);
		h->value = strdup(json_string_value(val));
		if (!h->name || !h->value)
			return hc_fail(rep, "OSError", "out of memory");
	}
	return 0;
}

static int parse_method(json_t *m, struct req *r, struct hc_reply *rep)
{
	const char *s = m && !json_is_null(m) ? json_string_value(m) : "GET";

	if (!s || (json_is_string(m) && strlen(s) != json_string_length(m)))
		return hc_fail(rep, "ValueError", "http.request: method must be a string");
	for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
		if (!strcasecmp(s, methods[i])) {
			r->method = methods[i];
			return 0;
		}
	}
	return hc_fail(rep, "ValueError", "unsupported HTTP method: %.64s", s);
}

static int parse_args(const struct http_policy *p, json_t *args, const uint8_t *body,
		      size_t body_len, struct req *r, struct hc_reply *rep)
{
	const char *url;

	if (!json_is_object(args))
		return hc_fail(rep, "ValueError", "http.request: arguments must be an object");
	if (parse_method(json_object_get(args, "method"), r, rep) != 0)
		return -1;
	url = json_string_value(json_object_get(args, "url"));
	if (!url)
		return hc_fail(rep, "ValueError", "http.request: url must be a string");
	if (strlen(url) != json_string_length(json_object_get(args, "url")))
		return hc_fail(rep, "ValueError", "http.request: url contains a NUL byte");
	if (!body && body_len)
		return hc_fail(rep, "ValueError", "http.request: missing request body");
	if (body_len > p->lim.max_request_bytes)
		return hc_fail(rep, "ValueError",
			       "request body exceeds max_request_bytes (%zu bytes)",
			       p->lim.max_request_bytes);
	if (!strcmp(r->method, "HEAD") && body_len)
		return hc_fail(rep, "ValueError", "a HEAD request cannot have a body");
	r->body = body;
	r->body_len = body_len;
	r->with_body = body_len > 0 || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") ||
		       !strcmp(r->method, "PATCH");
	if (parse_headers(json_object_get(args, "headers"), r, rep) != 0)
		return -1;
	r->url = strdup(url);
	return r->url ? 0 : hc_fail(rep, "OSError", "out of memory");
}

static void drop_headers(struct req *r, const char *const *names, size_t n)
{
	size_t keep = 0;

	for (size_t i = 0; i < r->nh; i++) {
		if (name_in(r->h[i].name, names, n)) {
			free(r->h[i].name);
			free(r->h[i].value);
		} else {
			r->h[keep++] = r->h[i];
		}
	}
	r->nh = keep;
}

static void drop_credentials(struct req *r)
{
	static const char *const creds[] = {"authorization", "cookie", "proxy-authorization"};

	drop_headers(r, creds, sizeof(creds) / sizeof(*creds));
}

/* 301/302 turn POST into GET, 303 anything but GET/HEAD, as browsers do. */
static void redirect_method(struct req *r, long status)
{
	static const char *const body_headers[] = {"content-type", "content-encoding",
						   "content-language", "content-location"};
	bool post = !strcmp(r->method, "POST");
	bool safe = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");

	if (!((status == 303 && !safe) || ((status == 301 || status == 302) && post)))
		return;
	r->method = "GET";
	r->with_body = false;
	r->body = NULL;
	r->body_len = 0;
	drop_headers(r, body_headers, sizeof(body_headers) / sizeof(*body_headers));
}

static struct curl_slist *build_headers(const struct req *r)
{
	struct curl_slist *list = NULL, *next;
	bool has_type = false;

	for (size_t i = 0; i < r->nh; i++) {
		char *line = NULL;
		/* "Name;" is how curl sends a header with an empty value. */
		int n = *r->h[i].value ? asprintf(&line, "%s: %s", r->h[i].name, r->h[i].value)
				       : asprintf(&line, "%s;", r->h[i].name);

		if (n < 0 || !(next = curl_slist_append(list, line))) {
			free(n < 0 ? NULL : line);
			curl_slist_free_all(list);
			return NULL;
		}
		free(line);
		list = next;
		has_type |= !strcasecmp(r->h[i].name, "content-type");
	}
	/* No 100-continue round trip, and no invented form content type. */
	next = curl_slist_append(list, "Expect:");
	if (next && r->with_body && !has_type)
		next = curl_slist_append(next, "Content-Type:");
	if (!next)
		curl_slist_free_all(list);
	return next;
}

/* ---------------------------------------------------------------- target */

struct target {
	struct net_url url;
	struct curl_slist *resolve;
	struct net_ip pinned[MAX_PINNED];
	size_t n_pinned;
};

static void target_free(struct target *t)
{
	net_url_free(&t->url);
	curl_slist_free_all(t->resolve);
}

static int sockaddr_ip(const struct sockaddr *sa, struct net_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(ip->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(ip->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	else
		return -1;
	return 0;
}

static void pin(struct target *t, const struct net_ip *ip)
{
	for (size_t i = 0; i < t->n_pinned; i++)
		if (net_ip_equal(&t->pinned[i], ip))
			return;
	if (t->n_pinned < MAX_PINNED)
		t->pinned[t->n_pinned++] = *ip;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Every address must be public: one private answer refuses the name.  The
 * lookup counts against the request's deadline and stops on cancellation.
 */
static int resolve_checked(const struct http_policy *p, struct target *t, uint64_t deadline,
			   struct hc_cancel *cancel, struct hc_reply *rep)
{
	struct resolve_public l;
	const char *name = t->url.host.name;
	char why[160], text[INET6_ADDRSTRLEN + 2];
	int rc = resolve_public(p->resolver, name, deadline, cancel, &l, why, sizeof(why));

	if (rc == RESOLVE_TIMEOUT)
		return hc_fail(rep, "TimeoutError",
			       "request timed out after %llu ms (resolving %s)",
			       (unsigned long long)p->lim.timeout_ms, name);
	if (rc == RESOLVE_CANCELLED)
		return hc_fail(rep, "RuntimeError", "request cancelled: the run ended");
	if (rc == RESOLVE_BLOCKED) {
		net_ip_format(&l.blocked, false, text, sizeof(text));
		return hc_fail(rep, "PermissionError",
			       "host not allowed: %s (resolves to private address %s)", name, text);
	}
	if (rc != RESOLVE_OK)
		return hc_fail(rep, "OSError", "cannot resolve %s: %s", name, why);
	for (size_t i = 0; i < l.n; i++)
		pin(t, &l.ips[i]);
	if (!t->n_pinned)
		return hc_fail(rep, "OSError", "cannot resolve %s: no usable address", name);
	return 0;
}

/* CURLOPT_RESOLVE "name:port:a,b": curl never looks the name up itself. */
static int build_resolve(struct target *t, struct hc_reply *rep)
{
	char line[NET_NAME_MAX + 16 + MAX_PINNED * (INET6_ADDRSTRLEN + 3)];
	size_t off = (size_t)snprintf(line, sizeof(line), "%s:%u:", t->url.host.name, t->url.port);

	for (size_t i = 0; i < t->n_pinned; i++) {
		char text[INET6_ADDRSTRLEN + 2];

		net_ip_format(&t->pinned[i], true, text, sizeof(text));
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", i ? "," : "", text);
	}
	t->resolve = curl_slist_append(NULL, line);
	return t->resolve ? 0 : hc_fail(rep, "OSError", "out of memory");
}

static int target_check(const struct http_policy *p, const char *url, struct target *t,
			uint64_t deadline, struct hc_cancel *cancel, struct hc_reply *rep)
{
	char err[256];

	if (strlen(url) > p->lim.max_url_bytes)
		return hc_fail(rep, "ValueError", "URL exceeds max_url_bytes (%zu bytes)",
			       p->lim.max_url_bytes);
	if (net_url_parse(url, &t->url, err, sizeof(err)) != 0)
		return hc_fail(rep, "ValueError", "%s", err);
	if (!net_allow_match(p->allow, p->n_allow, &t->url.host, t->url.port))
		return hc_fail(rep, "PermissionError", "host not allowed: %s", t->url.host.name);
	if (t->url.has_userinfo)
		return hc_fail(rep, "ValueError",
			       "URLs with credentials (user@host) are not allowed");
	/* An allowlisted IP literal is trusted as written; names are checked. */
	if (t->url.host.is_ip) {
		pin(t, &t->url.host.ip);
		return 0;
	}
	if (resolve_checked(p, t, deadline, cancel, rep) != 0)
		return -1;
	return build_resolve(t, rep);
}

/* Last line of defence: refuse any connection to an address not checked. */
static curl_socket_t open_pinned(void *userdata, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct target *t = userdata;
	struct net_ip ip;

	if (purpose != CURLSOCKTYPE_IPCXN || sockaddr_ip(&a->addr, &ip) != 0)
		return CURL_SOCKET_BAD;
	for (size_t i = 0; i < t->n_pinned; i++)
		if (net_ip_equal(&t->pinned[i], &ip))
			return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return CURL_SOCKET_BAD;
}

/* -------------------------------------------------------------- transfer */

struct xfer {
	uint8_t *body;
	size_t len, cap, max;
	json_t *headers;
	size_t nhdr, hdr_bytes;
	bool body_too_big, hdr_too_big, oom;
	long status;
	char *location;
};

static void xfer_free(struct xfer *x)
{
	free(x->body);
	json_decref(x->headers);
	free(x->location);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb;

	if (len > x->max - x->len) {
		x->body_too_big = true;
		return 0;
	}
	if (x->len + len > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		uint8_t *nb;

		while (cap < x->len + len)
			cap = cap > x->max / 2 ? x->max : cap * 2;
		nb = realloc(x->body, cap);
		if (!nb) {
			x->oom = true;
			return 0;
		}
		x->body = nb;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, len);
	x->len += len;
	return len;
}

/* Header values that are not UTF-8 are read as ISO-8859-1, as HTTP/1.1 did. */
static json_t *header_string(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *u;
	size_t o = 0;

	if (j)
		return j;
	u = malloc(len * 2 + 1);
	if (!u)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			u[o++] = (char)c;
		} else {
			u[o++] = (char)(0xc0 | (c >> 6));
			u[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	j = json_stringn(u, o);
	free(u);
	return j;
}

/* "old, new" of two UTF-8 values; takes v.  NULL when out of memory. */
static json_t *join_values(const json_t *old, json_t *v)
{
	size_t olen = json_string_length(old), vlen = json_string_length(v);
	char *joined = malloc(olen + 2 + vlen);
	json_t *j = NULL;

	if (joined) {
		memcpy(joined, json_string_value(old), olen);
		memcpy(joined + olen, ", ", 2);
		memcpy(joined + olen + 2, json_string_value(v), vlen);
		j = json_stringn(joined, olen + 2 + vlen);
		free(joined);
	}
	json_decref(v);
	return j;
}

/*
 * A repeated header is joined with ", ".  Each value is made UTF-8 on its
 * own before joining: converting the joined text would encode the earlier
 * values a second time, doubling them at every repetition.  Every line
 * counts towards MAX_RESP_HEADERS, repeats too: each join copies the value,
 * so thousands of short repeats would cost time quadratic in the bytes.
 */
static int add_header(struct xfer *x, const char *name, const char *val, size_t vlen)
{
	json_t *old = json_object_get(x->headers, name);
	json_t *v;

	if (++x->nhdr > MAX_RESP_HEADERS) {
		x->hdr_too_big = true;
		return -1;
	}
	v = header_string(val, vlen);
	if (v && old)
		v = join_values(old, v);
	return v ? json_object_set_new(x->headers, name, v) : -1;
}

/* "Name: value" into the object; other lines (folding, junk) are ignored. */
static int parse_header_line(struct xfer *x, const char *line, size_t len)
{
	char name[257];
	size_t n = 0;

	while (n < len && n < sizeof(name) - 1 && is_tchar((unsigned char)line[n])) {
		char c = line[n];

		name[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	if (n == 0 || n >= len || line[n] != ':')
		return 0;
	name[n++] = '\0';
	while (n < len && (line[n] == ' ' || line[n] == '\t'))
		n++;
	while (len > n && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return add_header(x, name, line + n, len - n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb, n = len;

	x->hdr_bytes += len;
	if (x->hdr_bytes > MAX_RESP_HEADER_BYTES) {
		x->hdr_too_big = true;
		return 0;
	}
	/* A new status line (after 1xx): only the final response counts. */
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		json_object_clear(x->headers);
		x->nhdr = 0;
		x->hdr_bytes = len;
		return len;
	}
	while (n && (data[n - 1] == '\r' || data[n - 1] == '\n'))
		n--;
	if (n && parse_header_line(x, data, n) != 0) {
		x->oom |= !x->hdr_too_big;
		return 0;
	}
	return len;
}

#define SETOPT(h, opt, val)                                                                        \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)

static CURLcode set_method(CURL *h, const struct req *r)
{
	CURLcode rc = CURLE_OK;

	if (!strcmp(r->method, "HEAD")) {
		SETOPT(h, CURLOPT_NOBODY, 1L);
	} else if (!r->with_body) {
		if (strcmp(r->method, "GET"))
			SETOPT(h, CURLOPT_CUSTOMREQUEST, r->method);
		else
			SETOPT(h, CURLOPT_HTTPGET, 1L);
	} else {
		SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SETOPT(h, CURLOPT_POSTFIELDS, r->body_len ? (const char *)r->body : "");
		if (strcmp(r->method, "POST"))
			SETOPT(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	return rc;
}

/* Everything that confines curl to the checked target. */
static CURLcode set_confinement(CURL *h, struct target *t, long timeout_ms)
{
	CURLcode rc = CURLE_OK;

	SETOPT(h, CURLOPT_CURLU, t->url.u);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_PROXY, "");
	SETOPT(h, CURLOPT_NOPROXY, "*");
	SETOPT(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SETOPT(h, CURLOPT_RESOLVE, t->resolve);
	SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, open_pinned);
	SETOPT(h, CURLOPT_OPENSOCKETDATA, t);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	return rc;
}

static CURLcode set_io(CURL *h, struct xfer *x, struct curl_slist *headers, char *errbuf)
{
	CURLcode rc = CURLE_OK;

	SETOPT(h, CURLOPT_HTTPHEADER, headers);
	SETOPT(h, CURLOPT_USERAGENT, "brig/" BRIG_VERSION);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, x);
	SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(h, CURLOPT_HEADERDATA, x);
	SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	return rc;
}

static int transfer_error(const struct http_policy *p, CURLcode rc, const struct xfer *x,
			  const char *errbuf, struct hc_reply *rep)
{
	if (x->body_too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return hc_fail(rep, "OSError",
			       "response body exceeds max_response_bytes (%zu bytes)",
			       p->lim.max_response_bytes);
	if (x->hdr_too_big)
		return hc_fail(rep, "OSError",
			       "response headers exceed the limit (%d headers, %u bytes)",
			       MAX_RESP_HEADERS, MAX_RESP_HEADER_BYTES);
	if (x->oom)
		return hc_fail(rep, "OSError", "out of memory");
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return hc_fail(rep, "TimeoutError", "request timed out after %llu ms",
			       (unsigned long long)p->lim.timeout_ms);
	return hc_fail(rep, "OSError", "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
}

static void easy_cleanup(CURL **h)
{
	curl_easy_cleanup(*h);
}

static void slist_cleanup(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void multi_cleanup(CURLM **m)
{
	if (*m)
		curl_multi_cleanup(*m);
}

/*
 * curl_easy_perform, except that it returns at once when the call is
 * cancelled: the transfer waits on the cancellation fd next to its sockets.
 */
static CURLcode perform(CURL *h, struct hc_cancel *cancel, bool *cancelled)
{
	CURLM *m __attribute__((cleanup(multi_cleanup))) = curl_multi_init();
	struct curl_waitfd wake = {hc_cancel_fd(cancel), CURL_WAIT_POLLIN, 0};
	CURLcode rc = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;

	if (!m || curl_multi_add_handle(m, h) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		if (!running)
			break;
		if (hc_cancelled(cancel)) {
			*cancelled = true;
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(m, &wake, wake.fd >= 0 ? 1 : 0, 1000, NULL) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	while (!running && (msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	curl_multi_remove_handle(m, h);
	return rc;
}

/* One request/response exchange, without following redirects. */
static int exchange(const struct http_policy *p, const struct req *r, struct target *t,
		    uint64_t deadline, struct hc_cancel *cancel, struct xfer *x,
		    struct hc_reply *rep)
{
	bool cancelled = false;
	CURL *h __attribute__((cleanup(easy_cleanup))) = NULL;
	struct curl_slist *headers __attribute__((cleanup(slist_cleanup))) = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	uint64_t now = now_ms();
	const char *loc = NULL;
	CURLcode rc;

	if (now >= deadline)
		return hc_fail(rep, "TimeoutError", "request timed out after %llu ms",
			       (unsigned long long)p->lim.timeout_ms);
	x->max = p->lim.max_response_bytes;
	x->headers = json_object();
	h = curl_easy_init();
	headers = build_headers(r);
	if (!h && curl_load_error())
		return hc_fail(rep, "OSError", "http unavailable: %s", curl_load_error());
	if (!x->headers || !h || !headers)
		return hc_fail(rep, "OSError", "out of memory");
	rc = set_confinement(h, t, (long)(deadline - now));
	if (rc == CURLE_OK)
		rc = set_io(h, x, headers, errbuf);
	if (rc == CURLE_OK)
		rc = set_method(h, r);
	if (rc != CURLE_OK)
		return hc_fail(rep, "OSError", "cannot configure request: %s",
			       curl_easy_strerror(rc));
	rc = perform(h, cancel, &cancelled);
	if (cancelled)
		return hc_fail(rep, "RuntimeError", "request cancelled: the run ended");
	if (rc != CURLE_OK)
		return transfer_error(p, rc, x, errbuf, rep);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
	    !(x->location = strdup(loc)))
		return hc_fail(rep, "OSError", "out of memory");
	return 0;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int reply(struct xfer *x, const struct target *t, struct hc_reply *rep)
{
	json_t *v = json_object();
	char *url = net_url_string(&t->url);

	if (!v || !url || json_object_set_new(v, "status", json_integer(x->status)) != 0 ||
	    json_object_set(v, "headers", x->headers) != 0 ||
	    json_object_set_new(v, "url", json_string(url)) != 0) {
		json_decref(v);
		free(url);
		return hc_fail(rep, "OSError", "out of memory");
	}
	free(url);
	hc_ok(rep, v);
	if (x->len) {
		rep->blob = x->body;
		rep->blob_len = x->len;
		x->body = NULL;
	}
	return 0;
}

/* Follow one hop; returns 1 when a redirect to r->url should be followed. */
static int hop(const struct http_policy *p, struct req *r, struct net_url *prev, unsigned n,
	       uint64_t deadline, struct hc_cancel *cancel, struct hc_reply *rep)
{
	struct target t __attribute__((cleanup(target_free))) = {0};
	struct xfer x __attribute__((cleanup(xfer_free))) = {0};

	if (target_check(p, r->url, &t, deadline, cancel, rep) != 0)
		return -1;
	if (n > 0 && net_url_cross_origin(prev, &t.url))
		drop_credentials(r);
	*prev = t.url;
	prev->u = NULL;
	if (exchange(p, r, &t, deadline, cancel, &x, rep) != 0)
		return -1;
	if (!is_redirect(x.status) || !x.location)
		return reply(&x, &t, rep);
	if (n >= p->lim.max_redirects)
		return hc_fail(rep, "OSError", "too many redirects (max_redirects is %u)",
			       p->lim.max_redirects);
	redirect_method(r, x.status);
	free(r->url);
	r->url = x.location;
	x.location = NULL;
	return 1;
}

void http_request(const struct http_policy *p, json_t *args, const uint8_t *body, size_t body_len,
		  struct hc_cancel *cancel, struct hc_reply *rep)
{
	struct req r __attribute__((cleanup(req_free))) = {0};
	struct net_url prev = {0};
	uint64_t deadline;

	if (parse_args(p, args, body, body_len, &r, rep) != 0)
		return;
	/* Capped so that the deadline cannot wrap and fits curl's long. */
	deadline = now_ms() + (p->lim.timeout_ms < INT32_MAX ? p->lim.timeout_ms : INT32_MAX);
	for (unsigned n = 0; hop(p, &r, &prev, n, deadline, cancel, rep) == 1; n++)
		;
}
