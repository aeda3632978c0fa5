#include "proxy_req.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t proxy_head_end(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

/* The request line's three parts; the target may not hold controls or spaces. */
static int split_line(const char *head, size_t len, const char **parts, size_t *lens,
		      const char **rest)
{
	const char *end = memchr(head, '\n', len), *p = head;

	if (!end)
		return -1;
	*rest = end + 1;
	if (end > head && end[-1] == '\r')
		end--;
	for (int i = 0; i < 3; i++) {
		const char *sp = i < 2 ? memchr(p, ' ', (size_t)(end - p)) : end;

		if (!sp || sp == p)
			return -1;
		parts[i] = p;
		lens[i] = (size_t)(sp - p);
		for (const char *c = p; c < sp; c++)
			if ((unsigned char)*c <= ' ' || *c == 0x7f)
				return -1;
		p = sp + 1;
	}
	return 0;
}

static int parse_authority(const char *a, size_t len, bool need_port, struct proxy_req *out,
			   char *why, size_t whylen)
{
	char text[NET_NAME_MAX + 16], err[200];
	struct net_allow parsed;

	if (len == 0 || len >= sizeof(text) || memchr(a, '@', len)) {
		set_why(why, whylen,
			len && memchr(a, '@', len) ? "credentials in the URL" : "bad host");
		return 400;
	}
	memcpy(text, a, len);
	text[len] = '\0';
	if (net_allow_parse(text, &parsed, err, sizeof(err)) != 0) {
		set_why(why, whylen, err);
		return 400;
	}
	if (need_port && !parsed.port) {
		set_why(why, whylen, "CONNECT needs host:port");
		return 400;
	}
	out->host = parsed.host;
	out->port = parsed.port ? parsed.port : 80;
	return 0;
}

static int parse_absolute(const char *t, size_t len, struct proxy_req *out, char *why,
			  size_t whylen)
{
	const char *auth = t + 7, *end = t + len, *p;

	if (len >= 8 && strncasecmp(t, "https://", 8) == 0) {
		set_why(why, whylen, "https:// through the proxy needs CONNECT");
		return 400;
	}
	if (len < 7 || strncasecmp(t, "http://", 7) != 0) {
		set_why(why, whylen, "the target must be an absolute http:// URL");
		return 400;
	}
	for (p = auth; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
		;
	out->path = p < end && *p == '/' ? p : "/";
	out->path_len = p < end && *p == '/' ? (size_t)(end - p) : 1;
	if (p < end && *p == '?') {
		set_why(why, whylen, "a query needs a path");
		return 400;
	}
	return parse_authority(auth, (size_t)(p - auth), false, out, why, whylen);
}

/* Controls other than tab, and a CR not before LF, could split a header. */
static bool head_clean(const char *head, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)head[i];

		if (c == '\r' ? i + 1 >= len || head[i + 1] != '\n'
			      : (c < ' ' && c != '\t' && c != '\n') || c == 0x7f)
			return false;
	}
	return true;
}

int proxy_req_parse(const char *head, size_t head_len, struct proxy_req *out, char *why,
		    size_t whylen)
{
	const char *parts[3], *rest;
	size_t lens[3];

	memset(out, 0, sizeof(*out));
	if (!head_clean(head, head_len)) {
		set_why(why, whylen, "control characters in the request head");
		return 400;
	}
	out->head_len = head_len;
	if (split_line(head, head_len, parts, lens, &rest) != 0 || lens[2] != 8 ||
	    (memcmp(parts[2], "HTTP/1.1", 8) != 0 && memcmp(parts[2], "HTTP/1.0", 8) != 0)) {
		set_why(why, whylen, "malformed request line");
		return 400;
	}
	out->headers = rest;
	out->method = parts[0];
	out->method_len = lens[0];
	if (lens[0] == 7 && memcmp(parts[0], "CONNECT", 7) == 0) {
		out->connect = true;
		return parse_authority(parts[1], lens[1], true, out, why, whylen);
	}
	return parse_absolute(parts[1], lens[1], out, why, whylen);
}

/* Headers the proxy sets itself, or that concern only the hop to it. */
static bool dropped(const char *line, size_t len)
{
	static const char *const names[] = {"host", "connection", "keep-alive",
					    "te",   "upgrade",	  "trailer"};
	const char *colon = memchr(line, ':', len);

	if (!colon)
		return true; /* not a header: nothing a server should see */
	if (len >= 6 && strncasecmp(line, "proxy-", 6) == 0)
		return true; /* meant for a proxy, never for the server */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((size_t)(colon - line) == strlen(names[i]) &&
		    strncasecmp(line, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

int proxy_req_rewrite(const struct proxy_req *r, struct buf *out)
{
	const char *p = r->headers, *end = r->method + r->head_len;
	char host[NET_NAME_MAX + 16];
	int rc = 0;

	snprintf(host, sizeof(host), r->port == 80 ? "%s" : "%s:%u", r->host.name, r->port);
	rc |= buf_append(out, r->method, r->method_len);
	rc |= buf_append(out, " ", 1);
	rc |= buf_append(out, r->path, r->path_len);
	rc |= buf_append(out, " HTTP/1.1\r\nHost: ", 17);
	rc |= buf_append(out, host, strlen(host));
	rc |= buf_append(out, "\r\nConnection: close\r\n", 21);
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		if (len && p[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (!dropped(p, len)) {
			rc |= buf_append(out, p, len);
			rc |= buf_append(out, "\r\n", 2);
		}
		p = nl ? nl + 1 : end;
	}
	rc |= buf_append(out, "\r\n", 2);
	return rc ? -1 : 0;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 405:
		return "Method Not Allowed";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

int proxy_error_response(int status, const char *why, struct buf *out)
{
	char reason[300], text[1024];
	size_t n = 0;
	int len;

	/* The phrase is one line of printable ASCII, whatever why holds. */
	for (const char *c = why; *c && n + 1 < sizeof(reason); c++)
		reason[n++] = (*c >= ' ' && *c < 0x7f) ? *c : '?';
	reason[n] = '\0';
	len = snprintf(text, sizeof(text),
		       "HTTP/1.1 %d %s (brig proxy: %s)\r\nContent-Type: text/plain\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\nbrig proxy: %s\n",
		       status, status_text(status), reason, n + 13, reason);
	if (len < 0 || (size_t)len >= sizeof(text))
		return -1;
	return buf_append(out, text, (size_t)len);
}
