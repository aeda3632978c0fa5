/*
 * http.request against small HTTP/1.1 servers of the test's own on
 * 127.0.0.1: allowlist, SSRF and redirect rules, limits and round trips.
 */
#include "check.h"
#include "host/http.h"
#include "host/resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- server */

struct server {
	int lfd;
	int stop[2];
	unsigned port;
	pthread_t thread;
};

struct conn {
	int fd;
	char method[16];
	char target[8192];
	char head[65536]; /* raw header lines after the request line */
	char raw[65536 + 8192 + 64];
	char extra[80000]; /* response header lines */
	char *body;
	size_t body_len;
};

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_some(int fd, char *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 10000) <= 0)
		return -1;
	return (int)recv(fd, buf, len, 0);
}

/* Read the request line, headers and a Content-Length body. */
static int read_request(struct conn *c)
{
	char *buf = c->raw;
	size_t len = 0, need;
	char *end = NULL, *cl, *line_end;

	while (!end) {
		int n = len < sizeof(c->raw) - 1
			    ? recv_some(c->fd, buf + len, sizeof(c->raw) - 1 - len)
			    : -1;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	line_end = strstr(buf, "\r\n");
	*line_end = '\0';
	if (sscanf(buf, "%15s %8191s", c->method, c->target) != 2)
		return -1;
	*end = '\0';
	snprintf(c->head, sizeof(c->head), "%s", line_end + 2);
	cl = strcasestr(c->head, "content-length:");
	c->body_len = cl ? strtoul(cl + 15, NULL, 10) : 0;
	c->body = malloc(c->body_len + 1);
	if (!c->body)
		return -1;
	need = len - (size_t)(end + 4 - buf);
	if (need > c->body_len)
		need = c->body_len;
	memcpy(c->body, end + 4, need);
	while (need < c->body_len) {
		int n = recv_some(c->fd, c->body + need, c->body_len - need);

		if (n <= 0)
			return -1;
		need += (size_t)n;
	}
	return 0;
}

static void respond(struct conn *c, int status, const char *extra, const void *body, size_t len,
		    bool with_length)
{
	char head[98304];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nConnection: close\r\n%s", status,
			 extra ? extra : "");

	if (with_length)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (send_all(c->fd, head, (size_t)n) == 0 && strcmp(c->method, "HEAD"))
		send_all(c->fd, body, len);
}

/* Method, target and every request header come back as X-Echo-* headers. */
static void route_echo(struct conn *c)
{
	char *extra = c->extra;
	size_t off =
	    (size_t)snprintf(extra, sizeof(c->extra), "X-Echo-Method: %s\r\nX-Echo-Target: %s\r\n",
			     c->method, c->target);

	for (char *line = c->head; line && *line;) {
		char *next = strstr(line, "\r\n");
		char *colon;

		if (next)
			*next = '\0';
		colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			for (char *p = line; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
			off += (size_t)snprintf(extra + off, sizeof(c->extra) - off,
						"X-Echo-H-%s:%s\r\n", line, colon + 1);
		}
		line = next ? next + 2 : NULL;
	}
	respond(c, 200, extra, c->body, c->body_len, true);
}

static const char *query(const struct conn *c, const char *key)
{
	const char *q = strchr(c->target, '?');
	size_t klen = strlen(key);

	for (q = q ? q + 1 : NULL; q && *q; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL)
		if (!strncmp(q, key, klen) && q[klen] == '=')
			return q + klen + 1;
	return NULL;
}

static void route_big(struct conn *c)
{
	const char *n = query(c, "n");
	size_t len = n ? strtoul(n, NULL, 10) : 100000;
	char *body = malloc(len);

	memset(body, 'x', len);
	respond(c, 200, NULL, body, len, query(c, "nolen") == NULL);
	free(body);
}

/* Wait until the client gives up (or 10 s pass), then answer. */
static void route_slow(struct conn *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	poll(&pfd, 1, 10000);
	respond(c, 200, NULL, "late", 4, true);
}

/* /redirect?code=N&to=URL: "to" runs to the end of the target, unencoded. */
static void route_redirect(struct conn *c)
{
	const char *code = query(c, "code");
	const char *to = strstr(c->target, "&to=");
	char extra[9000];

	snprintf(extra, sizeof(extra), "Location: %s\r\n", to ? to + 4 : "/echo");
	respond(c, code ? atoi(code) : 302, extra, "moved", 5, true);
}

static void route_chain(struct conn *c)
{
	const char *n = query(c, "n");
	int left = n ? atoi(n) : 0;
	char extra[64];

	if (left <= 0) {
		respond(c, 200, NULL, "done", 4, true);
		return;
	}
	snprintf(extra, sizeof(extra), "Location: /chain?n=%d\r\n", left - 1);
	respond(c, 302, extra, "", 0, true);
}

static void route_headers(struct conn *c)
{
	static const char extra[] =
	    "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Mixed-Case:  v  \r\n"
	    "X-Latin: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\n"
	    "X-Latin-Rep: \xe9\r\nX-Latin-Rep: \xe9\r\nX-Latin-Rep: \xe9\r\n";

	respond(c, 200, extra, "ok", 2, true);
}

static void route_many_headers(struct conn *c)
{
	size_t off = 0;

	for (int i = 0; i < 400; i++)
		off +=
		    (size_t)snprintf(c->extra + off, sizeof(c->extra) - off, "X-H%d: %d\r\n", i, i);
	respond(c, 200, c->extra, "ok", 2, true);
}

static void handle(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	const char *t;

	if (!c)
		return;
	c->fd = fd;
	if (read_request(c) != 0) {
		free(c->body);
		free(c);
		return;
	}
	t = c->target;
	if (!strncmp(t, "/echo", 5))
		route_echo(c);
	else if (!strncmp(t, "/big", 4))
		route_big(c);
	else if (!strncmp(t, "/slow", 5))
		route_slow(c);
	else if (!strncmp(t, "/redirect?", 10))
		route_redirect(c);
	else if (!strcmp(t, "/redir-loop"))
		respond(c, 302, "Location: /redir-loop\r\n", "", 0, true);
	else if (!strncmp(t, "/chain", 6))
		route_chain(c);
	else if (!strcmp(t, "/headers"))
		route_headers(c);
	else if (!strcmp(t, "/many-headers"))
		route_many_headers(c);
	else
		respond(c, 404, NULL, "no", 2, true);
	free(c->body);
	free(c);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = s->lfd, .events = POLLIN},
					{.fd = s->stop[0], .events = POLLIN}};
		int fd;

		if (poll(pfd, 2, -1) < 0 || pfd[1].revents)
			break;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		handle(fd);
		close(fd);
	}
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, 64) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) != 0 ||
	    pipe(s->stop) != 0)
		return -1;
	s->port = ntohs(sa.sin_port);
	return pthread_create(&s->thread, NULL, serve, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
	if (write(s->stop[1], "x", 1) != 1)
		return;
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
}

/* ---------------------------------------------------------------- client */

static struct server srv1, srv2, srv3; /* srv3 runs but is not allowlisted */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	static char bufs[8][16384];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static struct http_policy *policy(const brig_http_limits *lim, size_t n, ...)
{
	const char *entries[8];
	struct http_policy *p = NULL;
	char err[256] = "";
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		entries[i] = va_arg(ap, const char *);
	va_end(ap);
	CHECK(http_policy_new(entries, n, lim, &p, err, sizeof(err)) == BRIG_OK);
	if (!p)
		fprintf(stderr, "policy: %s\n", err);
	return p;
}

/* headers (stolen) may be NULL.  Returns 0 on success. */
static int req(const struct http_policy *p, const char *method, const char *url, json_t *headers,
	       const void *body, size_t len, struct hc_reply *rep)
{
	json_t *args = json_pack("{s:s, s:s}", "method", method, "url", url);

	if (headers)
		json_object_set_new(args, "headers", headers);
	hc_reply_init(rep);
	http_request(p, args, body, len, NULL, rep);
	json_decref(args);
	return rep->err_type ? -1 : 0;
}

static const char *rhdr(const struct hc_reply *rep, const char *name)
{
	return json_string_value(json_object_get(json_object_get(rep->value, "headers"), name));
}

static long rstatus(const struct hc_reply *rep)
{
	return (long)json_integer_value(json_object_get(rep->value, "status"));
}

static bool blob_is(const struct hc_reply *rep, const void *data, size_t len)
{
	return rep->blob_len == len && (len == 0 || memcmp(rep->blob, data, len) == 0);
}

static void expect_error(const struct http_policy *p, const char *url, const char *type,
			 const char *msg)
{
	struct hc_reply rep;

	CHECK(req(p, "GET", url, NULL, NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, type);
	CHECK_STR(rep.err_msg, msg);
	if (!rep.err_type || strcmp(rep.err_type, type) || strcmp(rep.err_msg, msg))
		fprintf(stderr, "  %s -> %s: %s\n", url, rep.err_type ? rep.err_type : "ok",
			rep.err_msg);
	hc_reply_clear(&rep);
}

static void expect_error_prefix(const struct http_policy *p, const char *method, const char *url,
				const char *type, const char *prefix)
{
	struct hc_reply rep;

	CHECK(req(p, method, url, NULL, NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, type);
	CHECK(strncmp(rep.err_msg, prefix, strlen(prefix)) == 0);
	if (strncmp(rep.err_msg, prefix, strlen(prefix)))
		fprintf(stderr, "  %s -> %s: %s\n", url, rep.err_type ? rep.err_type : "ok",
			rep.err_msg);
	hc_reply_clear(&rep);
}

/* ----------------------------------------------------------------- tests */

static void test_methods(const struct http_policy *p)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

	for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
		struct hc_reply rep;
		const char *body = fmt("payload-%s", methods[i]);
		bool send = strcmp(methods[i], "GET") != 0;

		CHECK(req(p, methods[i], fmt("http://127.0.0.1:%u/echo", srv1.port), NULL,
			  send ? body : NULL, send ? strlen(body) : 0, &rep) == 0);
		CHECK(rstatus(&rep) == 200);
		CHECK_STR(rhdr(&rep, "x-echo-method"), methods[i]);
		CHECK(send ? blob_is(&rep, body, strlen(body)) : rep.blob_len == 0);
		hc_reply_clear(&rep);
	}
	{
		struct hc_reply rep;

		CHECK(req(p, "head", fmt("http://127.0.0.1:%u/echo", srv1.port), NULL, NULL, 0,
			  &rep) == 0);
		CHECK(rstatus(&rep) == 200);
		CHECK_STR(rhdr(&rep, "x-echo-method"), "HEAD");
		CHECK(rep.blob == NULL && rep.blob_len == 0);
		hc_reply_clear(&rep);
	}
}

static void test_headers_and_body(const struct http_policy *p)
{
	struct hc_reply rep;
	uint8_t bin[1024];
	json_t *h = json_pack("{s:s, s:s, s:s}", "X-Custom", "hello world", "X-Empty", "",
			      "Content-Type", "application/octet-stream");

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7); /* includes NUL bytes and high bytes */
	CHECK(req(p, "POST", fmt("http://127.0.0.1:%u/echo?a=1&b=2", srv1.port), h, bin,
		  sizeof(bin), &rep) == 0);
	CHECK(blob_is(&rep, bin, sizeof(bin)));
	CHECK_STR(rhdr(&rep, "x-echo-h-x-custom"), "hello world");
	CHECK_STR(rhdr(&rep, "x-echo-h-x-empty"), "");
	CHECK_STR(rhdr(&rep, "x-echo-h-content-type"), "application/octet-stream");
	CHECK_STR(rhdr(&rep, "x-echo-h-content-length"), "1024");
	CHECK_STR(rhdr(&rep, "x-echo-target"), "/echo?a=1&b=2");
	CHECK(rhdr(&rep, "x-echo-h-expect") == NULL);
	CHECK_STR(json_string_value(json_object_get(rep.value, "url")),
		  fmt("http://127.0.0.1:%u/echo?a=1&b=2", srv1.port));
	hc_reply_clear(&rep);

	/* Without a Content-Type none is invented. */
	CHECK(req(p, "POST", fmt("http://127.0.0.1:%u/echo", srv1.port), NULL, "x", 1, &rep) == 0);
	CHECK(rhdr(&rep, "x-echo-h-content-type") == NULL);
	CHECK(rhdr(&rep, "x-echo-h-user-agent") != NULL);
	hc_reply_clear(&rep);

	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/headers", srv1.port), NULL, NULL, 0, &rep) ==
	      0);
	CHECK_STR(rhdr(&rep, "set-cookie"), "a=1, b=2");
	CHECK_STR(rhdr(&rep, "x-mixed-case"), "v");
	CHECK_STR(rhdr(&rep, "x-latin"), "caf\xc3\xa9");
	CHECK_STR(rhdr(&rep, "x-utf8"), "caf\xc3\xa9");
	/* Each repeat is widened once: earlier values are never encoded again. */
	CHECK_STR(rhdr(&rep, "x-latin-rep"), "\xc3\xa9, \xc3\xa9, \xc3\xa9");
	CHECK(rhdr(&rep, "Set-Cookie") == NULL);
	hc_reply_clear(&rep);

	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/nothing", srv1.port), NULL, NULL, 0, &rep) ==
	      0);
	CHECK(rstatus(&rep) == 404);
	CHECK(blob_is(&rep, "no", 2));
	hc_reply_clear(&rep);
}

static void test_literal_notations_allowed(const struct http_policy *p)
{
	static const char *const hosts[] = {"0x7f.1", "2130706433", "0177.0.0.1", "127.1"};

	for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
		struct hc_reply rep;

		CHECK(req(p, "GET", fmt("http://%s:%u/echo", hosts[i], srv1.port), NULL, NULL, 0,
			  &rep) == 0);
		CHECK_STR(json_string_value(json_object_get(rep.value, "url")),
			  fmt("http://127.0.0.1:%u/echo", srv1.port));
		hc_reply_clear(&rep);
	}
}

static void test_denials(const struct http_policy *p, const struct http_policy *none)
{
	const char *deny = "PermissionError";

	expect_error(none, fmt("http://127.0.0.1:%u/echo", srv1.port), deny,
		     "host not allowed: 127.0.0.1");
	expect_error(none, "http://example.com/", deny, "host not allowed: example.com");
	expect_error(p, "http://evil.com/?x=allowed.example", deny, "host not allowed: evil.com");
	expect_error(p, "http://evil.com#@allowed.example", deny, "host not allowed: evil.com");
	expect_error(p, "http://allowed.example.evil.com/", deny,
		     "host not allowed: allowed.example.evil.com");
	expect_error(p, "http://evilallowed.example/", deny,
		     "host not allowed: evilallowed.example");
	expect_error(p, "http://allowed.example@evil.com/", deny, "host not allowed: evil.com");
	expect_error(p, "http://EVIL.COM./", deny, "host not allowed: evil.com");
	expect_error(p, fmt("http://127.0.0.1:%u/echo", srv3.port), deny,
		     "host not allowed: 127.0.0.1");
	expect_error(p, "http://2130706433/", deny, "host not allowed: 127.0.0.1");
	expect_error(p, fmt("http://2130706433:%u/", srv3.port), deny,
		     "host not allowed: 127.0.0.1");
	expect_error(p, "http://0x7f.1/", deny, "host not allowed: 127.0.0.1");
	expect_error(p, fmt("http://[::1]:%u/echo", srv1.port), deny, "host not allowed: [::1]");
	expect_error(p, fmt("http://[::ffff:127.0.0.1]:%u/echo", srv1.port), deny,
		     "host not allowed: [::ffff:127.0.0.1]");
	expect_error(p, fmt("http://[0:0:0:0:0:ffff:7f00:1]:%u/echo", srv1.port), deny,
		     "host not allowed: [::ffff:127.0.0.1]");
	expect_error(p, "http://169.254.169.254/latest/meta-data/", deny,
		     "host not allowed: 169.254.169.254");
	expect_error(p, "http://[fd00:ec2::254]/", deny, "host not allowed: [fd00:ec2::254]");
	/* Allowlisted by name, but the name resolves to loopback. */
	expect_error_prefix(p, "GET", fmt("http://localhost:%u/echo", srv1.port), deny,
			    "host not allowed: localhost (resolves to private address ");
	expect_error_prefix(p, "GET", fmt("http://LocalHost.:%u/echo", srv1.port), deny,
			    "host not allowed: localhost (resolves to private address ");
	/* Allowed names do get looked up (".example" never resolves). */
	expect_error_prefix(p, "GET", "http://allowed.example/", "OSError",
			    "cannot resolve allowed.example");
	expect_error_prefix(p, "GET", "http://api.allowed.example/", "OSError",
			    "cannot resolve api.allowed.example");
}

static void test_bad_input(const struct http_policy *p)
{
	struct hc_reply rep;
	const char *u = fmt("http://127.0.0.1:%u/echo", srv1.port);
	json_t *args;

	expect_error_prefix(p, "GET", "http://user:pw@allowed.example/", "ValueError", "URLs with");
	expect_error_prefix(p, "TRACE", u, "ValueError", "unsupported HTTP method");
	expect_error_prefix(p, "CONNECT", u, "ValueError", "unsupported HTTP method");
	expect_error_prefix(p, "GET", fmt("ftp://127.0.0.1:%u/", srv1.port), "ValueError",
			    "unsupported URL scheme");
	expect_error_prefix(p, "GET", "file:///etc/passwd", "ValueError", "");
	expect_error_prefix(p, "GET", fmt("http://127.0.0.1:%u/echo\r\nX: y", srv1.port),
			    "ValueError", "invalid URL");
	expect_error_prefix(p, "GET", fmt("http:\\\\127.0.0.1:%u\\echo", srv1.port), "ValueError",
			    "invalid URL");
	expect_error_prefix(p, "GET", "not a url", "ValueError", "invalid URL");

	CHECK(req(p, "GET", u, json_pack("{s:s}", "X-A", "a\r\nX-Injected: 1"), NULL, 0, &rep) ==
	      -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("{s:s}", "X-A", "a\nb"), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("{s:s}", "X A", "b"), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("{s:s}", "X-A\r\nY", "b"), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("{s:s}", "Host", "evil.com"), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_msg, "header not allowed: Host");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("{s:i}", "X-A", 1), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "GET", u, json_pack("[s]", "x"), NULL, 0, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	CHECK(req(p, "HEAD", u, NULL, "x", 1, &rep) == -1);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);

	args = json_pack("{s:s, s:i}", "method", "GET", "url", 5);
	hc_reply_init(&rep);
	http_request(p, args, NULL, 0, NULL, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	json_decref(args);
	args = json_pack("[]");
	hc_reply_init(&rep);
	http_request(p, args, NULL, 0, NULL, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	json_decref(args);
}

/* POST (with a body and Content-Type) through one redirect of code. */
static void check_redirect_method(const struct http_policy *p, const char *method, int code,
				  const char *want_method, bool keeps_body)
{
	struct hc_reply rep;
	json_t *h = json_pack("{s:s}", "Content-Type", "text/plain");

	CHECK(req(p, method, fmt("http://127.0.0.1:%u/redirect?code=%d&to=/echo", srv1.port, code),
		  h, "the body", 8, &rep) == 0);
	CHECK(rstatus(&rep) == 200);
	CHECK_STR(rhdr(&rep, "x-echo-method"), want_method);
	CHECK(keeps_body ? blob_is(&rep, "the body", 8) : rep.blob_len == 0);
	CHECK((rhdr(&rep, "x-echo-h-content-type") != NULL) == keeps_body);
	CHECK(rhdr(&rep, "location") == NULL);
	CHECK_STR(json_string_value(json_object_get(rep.value, "url")),
		  fmt("http://127.0.0.1:%u/echo", srv1.port));
	hc_reply_clear(&rep);
}

static void test_redirects(const struct http_policy *p)
{
	struct hc_reply rep;

	CHECK(req(p, "GET",
		  fmt("http://127.0.0.1:%u/redirect?code=302&to=http://127.0.0.1:%u/echo",
		      srv1.port, srv2.port),
		  NULL, NULL, 0, &rep) == 0);
	CHECK(rstatus(&rep) == 200);
	CHECK_STR(json_string_value(json_object_get(rep.value, "url")),
		  fmt("http://127.0.0.1:%u/echo", srv2.port));
	hc_reply_clear(&rep);

	check_redirect_method(p, "POST", 301, "GET", false);
	check_redirect_method(p, "POST", 302, "GET", false);
	check_redirect_method(p, "POST", 303, "GET", false);
	check_redirect_method(p, "PUT", 303, "GET", false);
	check_redirect_method(p, "POST", 307, "POST", true);
	check_redirect_method(p, "POST", 308, "POST", true);
	check_redirect_method(p, "PUT", 308, "PUT", true);
	check_redirect_method(p, "PUT", 302, "PUT", true);

	expect_error(p, fmt("http://127.0.0.1:%u/redirect?code=302&to=http://evil.com/", srv1.port),
		     "PermissionError", "host not allowed: evil.com");
	expect_error(p,
		     fmt("http://127.0.0.1:%u/redirect?code=301&to=http://127.0.0.1:%u/echo",
			 srv1.port, srv3.port),
		     "PermissionError", "host not allowed: 127.0.0.1");
	expect_error(
	    p, fmt("http://127.0.0.1:%u/redirect?code=307&to=http://169.254.169.254/", srv1.port),
	    "PermissionError", "host not allowed: 169.254.169.254");
	expect_error(
	    p,
	    fmt("http://127.0.0.1:%u/redirect?code=308&to=http://[::1]:%u/", srv1.port, srv1.port),
	    "PermissionError", "host not allowed: [::1]");
	expect_error_prefix(p, "GET",
			    fmt("http://127.0.0.1:%u/redirect?code=302&to=http://localhost:%u/echo",
				srv1.port, srv1.port),
			    "PermissionError",
			    "host not allowed: localhost (resolves to private address ");
	expect_error_prefix(p, "GET",
			    fmt("http://127.0.0.1:%u/redirect?code=302&to=ftp://127.0.0.1:%u/",
				srv1.port, srv1.port),
			    "ValueError", "");
	expect_error(p, fmt("http://127.0.0.1:%u/redir-loop", srv1.port), "OSError",
		     "too many redirects (max_redirects is 5)");
}

static void test_redirect_count(const struct http_policy *p, const struct http_policy *two)
{
	struct hc_reply rep;

	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/chain?n=5", srv1.port), NULL, NULL, 0, &rep) ==
	      0);
	CHECK(blob_is(&rep, "done", 4));
	hc_reply_clear(&rep);
	expect_error(p, fmt("http://127.0.0.1:%u/chain?n=6", srv1.port), "OSError",
		     "too many redirects (max_redirects is 5)");
	CHECK(req(two, "GET", fmt("http://127.0.0.1:%u/chain?n=2", srv1.port), NULL, NULL, 0,
		  &rep) == 0);
	CHECK(blob_is(&rep, "done", 4));
	hc_reply_clear(&rep);
	expect_error(two, fmt("http://127.0.0.1:%u/chain?n=3", srv1.port), "OSError",
		     "too many redirects (max_redirects is 2)");
}

static json_t *credential_headers(void)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "Authorization", "Bearer secret", "Cookie",
			 "session=1", "Proxy-Authorization", "Basic x", "X-Keep", "kept");
}

static void test_credentials_across_origins(const struct http_policy *p)
{
	struct hc_reply rep;

	/* Control: sent directly, the second origin does see them. */
	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/echo", srv2.port), credential_headers(), NULL,
		  0, &rep) == 0);
	CHECK_STR(rhdr(&rep, "x-echo-h-authorization"), "Bearer secret");
	CHECK_STR(rhdr(&rep, "x-echo-h-cookie"), "session=1");
	hc_reply_clear(&rep);

	CHECK(req(p, "GET",
		  fmt("http://127.0.0.1:%u/redirect?code=302&to=http://127.0.0.1:%u/echo",
		      srv1.port, srv2.port),
		  credential_headers(), NULL, 0, &rep) == 0);
	CHECK(rhdr(&rep, "x-echo-h-authorization") == NULL);
	CHECK(rhdr(&rep, "x-echo-h-cookie") == NULL);
	CHECK(rhdr(&rep, "x-echo-h-proxy-authorization") == NULL);
	CHECK_STR(rhdr(&rep, "x-echo-h-x-keep"), "kept");
	hc_reply_clear(&rep);

	/* Once dropped they stay dropped, even back on the first origin. */
	CHECK(req(p, "GET",
		  fmt("http://127.0.0.1:%u/redirect?code=307&to=http://127.0.0.1:%u/"
		      "redirect?code=307&to=http://127.0.0.1:%u/echo",
		      srv1.port, srv2.port, srv1.port),
		  credential_headers(), NULL, 0, &rep) == 0);
	CHECK(rhdr(&rep, "x-echo-h-authorization") == NULL);
	CHECK_STR(rhdr(&rep, "x-echo-h-x-keep"), "kept");
	hc_reply_clear(&rep);

	/* Same origin keeps them. */
	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/redirect?code=302&to=/echo", srv1.port),
		  credential_headers(), NULL, 0, &rep) == 0);
	CHECK_STR(rhdr(&rep, "x-echo-h-authorization"), "Bearer secret");
	CHECK_STR(rhdr(&rep, "x-echo-h-cookie"), "session=1");
	hc_reply_clear(&rep);
}

static void test_limits(void)
{
	brig_http_limits lim = {
	    .max_url_bytes = 200, .max_request_bytes = 100, .max_response_bytes = 1000};
	brig_http_limits quick = {.timeout_ms = 300};
	struct http_policy *p = policy(&lim, 1, fmt("127.0.0.1:%u", srv1.port));
	struct http_policy *slow = policy(&quick, 1, fmt("127.0.0.1:%u", srv1.port));
	struct hc_reply rep;
	char body[101], url[256];
	int n;

	if (!p || !slow) {
		http_policy_free(p);
		http_policy_free(slow);
		return;
	}
	expect_error(p, fmt("http://127.0.0.1:%u/big", srv1.port), "OSError",
		     "response body exceeds max_response_bytes (1000 bytes)");
	expect_error(p, fmt("http://127.0.0.1:%u/big?nolen=1", srv1.port), "OSError",
		     "response body exceeds max_response_bytes (1000 bytes)");
	expect_error(p, fmt("http://127.0.0.1:%u/big?n=1001&nolen=1", srv1.port), "OSError",
		     "response body exceeds max_response_bytes (1000 bytes)");
	CHECK(req(p, "GET", fmt("http://127.0.0.1:%u/big?n=1000&nolen=1", srv1.port), NULL, NULL, 0,
		  &rep) == 0);
	CHECK(rep.blob_len == 1000);
	hc_reply_clear(&rep);

	memset(body, 'b', sizeof(body));
	CHECK(req(p, "POST", fmt("http://127.0.0.1:%u/echo", srv1.port), NULL, body, 101, &rep) ==
	      -1);
	CHECK_STR(rep.err_type, "ValueError");
	CHECK_STR(rep.err_msg, "request body exceeds max_request_bytes (100 bytes)");
	hc_reply_clear(&rep);
	CHECK(req(p, "POST", fmt("http://127.0.0.1:%u/echo", srv1.port), NULL, body, 100, &rep) ==
	      0);
	CHECK(blob_is(&rep, body, 100));
	hc_reply_clear(&rep);

	n = snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo?", srv1.port);
	memset(url + n, 'a', 200 - (size_t)n);
	url[200] = '\0';
	CHECK(req(p, "GET", url, NULL, NULL, 0, &rep) == 0);
	hc_reply_clear(&rep);
	url[200] = 'a';
	url[201] = '\0';
	expect_error(p, url, "ValueError", "URL exceeds max_url_bytes (200 bytes)");

	expect_error(slow, fmt("http://127.0.0.1:%u/slow", srv1.port), "TimeoutError",
		     "request timed out after 300 ms");
	expect_error_prefix(p, "GET", fmt("http://127.0.0.1:%u/many-headers", srv1.port), "OSError",
			    "response headers exceed");
	http_policy_free(p);
	http_policy_free(slow);
}

static void test_policy_entries(void)
{
	struct http_policy *p = NULL;
	const char *bad[] = {"ok.example", "*.example.com"};
	char err[256] = "";

	CHECK(http_policy_new(bad, 2, NULL, &p, err, sizeof(err)) == BRIG_E_INVAL);
	CHECK(p == NULL);
	CHECK(strstr(err, "*.example.com") != NULL);
	CHECK(http_allow_entry_valid("[::1]:8080", err, sizeof(err)) == 0);
	CHECK(http_allow_entry_valid("example.com:99999", err, sizeof(err)) == -1);
	CHECK(http_allow_entry_valid("http://example.com", err, sizeof(err)) == -1);
}

struct worker {
	const struct http_policy *p;
	int ok;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char url[64], body[32];

	for (int i = 0; i < 10; i++) {
		struct hc_reply rep;

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", srv1.port);
		snprintf(body, sizeof(body), "%p-%d", (void *)w, i);
		if (req(w->p, "POST", url, NULL, body, strlen(body), &rep) == 0 &&
		    blob_is(&rep, body, strlen(body)))
			w->ok++;
		hc_reply_clear(&rep);
	}
	return NULL;
}

static void test_concurrent(const struct http_policy *p)
{
	struct worker w[4] = {{p, 0}, {p, 0}, {p, 0}, {p, 0}};
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, worker_run, &w[i]) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].ok == 10);
	}
}

/* ------------------------------------------------ deadlines and cancels */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A lookup helper that never answers, as a resolver behind a dead DNS
 * server does; what it started records its pid in dir/pid.
 */
static const char *hanging_resolver(char *dir)
{
	static char path[256];
	char script[512];
	int fd;

	snprintf(path, sizeof(path), "%s/resolver", dir);
	snprintf(script, sizeof(script), "#!/bin/sh\nsleep 60 &\necho $! > %s/pid\nwait\n", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, script, strlen(script)) != (ssize_t)strlen(script)) {
		perror("resolver script");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

/* Whether the process in dir/pid is gone (or a zombie about to be reaped). */
static bool helper_gone(const char *dir)
{
	char path[300], stat[256];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/pid", dir);
	for (int i = 0; i < 200 && !pid; i++) {
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (!pid)
			usleep(10000);
	}
	if (!pid)
		return false;
	for (int i = 0; i < 200; i++) {
		bool gone;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		gone = !f || !fgets(stat, sizeof(stat), f) || strstr(stat, ") Z ");
		if (f)
			fclose(f);
		if (gone)
			return true;
		usleep(10000);
	}
	return false;
}

static void remove_dir(const char *dir)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/pid", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/resolver", dir);
	unlink(path);
	rmdir(dir);
}

/* No child of this process is left, running or unreaped. */
static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

struct canceller {
	struct hc_cancel *c;
	int after_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;

	usleep((useconds_t)k->after_ms * 1000);
	hc_cancel_fire(k->c);
	return NULL;
}

/* The request's timeout covers a lookup that hangs, and kills the helper. */
static void test_lookup_deadline(void)
{
	brig_http_limits quick = {.timeout_ms = 500};
	struct http_policy *p = policy(&quick, 1, "hang.example");
	char dir[] = "/tmp/brig-resolve.XXXXXX";
	const char *helper = mkdtemp(dir) ? hanging_resolver(dir) : NULL;
	struct hc_reply rep;
	uint64_t t0;

	if (!p || !helper) {
		http_policy_free(p);
		return;
	}
	http_policy_set_resolver(p, helper);
	t0 = now_ms();
	CHECK(req(p, "GET", "http://hang.example/", NULL, NULL, 0, &rep) == -1);
	CHECK(now_ms() - t0 < 3000);
	CHECK_STR(rep.err_type, "TimeoutError");
	CHECK(strstr(rep.err_msg, "resolving hang.example") != NULL);
	hc_reply_clear(&rep);
	CHECK(helper_gone(dir));
	CHECK(no_children());
	http_policy_free(p);
	remove_dir(dir);
}

/* Cancellation stops a lookup and a transfer at once, not at the timeout. */
static void test_cancel(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct http_policy *p = NULL;
	char dir[] = "/tmp/brig-resolve.XXXXXX";
	const char *helper = mkdtemp(dir) ? hanging_resolver(dir) : NULL;
	struct canceller k = {NULL, 300};
	struct hc_reply rep;
	json_t *args;
	pthread_t t;
	uint64_t t0;

	/* Connections complete in the backlog and are never answered. */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) != 0 || !helper ||
	    !(p = policy(NULL, 2, "hang.example", fmt("127.0.0.1:%u", ntohs(sa.sin_port))))) {
		perror("test_cancel");
		CHECK(0);
		goto out;
	}
	http_policy_set_resolver(p, helper);
	for (int i = 0; i < 2; i++) {
		const char *url =
		    i ? fmt("http://127.0.0.1:%u/", ntohs(sa.sin_port)) : "http://hang.example/";

		k.c = hc_cancel_new();
		args = json_pack("{s:s}", "url", url);
		hc_reply_init(&rep);
		pthread_create(&t, NULL, cancel_later, &k);
		t0 = now_ms();
		http_request(p, args, NULL, 0, k.c, &rep);
		CHECK(now_ms() - t0 < 3000);
		CHECK_STR(rep.err_type, "RuntimeError");
		CHECK(strstr(rep.err_msg, "cancelled") != NULL);
		pthread_join(t, NULL);
		hc_reply_clear(&rep);
		json_decref(args);
		hc_cancel_unref(k.c);
	}
	CHECK(helper_gone(dir));
	CHECK(no_children());
	/* A token that fired before the call stops it before it starts. */
	k.c = hc_cancel_new();
	hc_cancel_fire(k.c);
	args = json_pack("{s:s}", "url", fmt("http://127.0.0.1:%u/", ntohs(sa.sin_port)));
	hc_reply_init(&rep);
	http_request(p, args, NULL, 0, k.c, &rep);
	CHECK_STR(rep.err_type, "RuntimeError");
	hc_reply_clear(&rep);
	json_decref(args);
	hc_cancel_unref(k.c);
out:
	http_policy_free(p);
	if (lfd >= 0)
		close(lfd);
	remove_dir(dir);
}

int main(void)
{
	struct http_policy *p, *none, *two;
	brig_http_limits two_redirects = {.max_redirects = 2};

	if (server_start(&srv1) || server_start(&srv2) || server_start(&srv3)) {
		perror("server");
		return 1;
	}
	p = policy(NULL, 4, fmt("127.0.0.1:%u", srv1.port), fmt("127.0.0.1:%u", srv2.port),
		   fmt("localhost:%u", srv1.port), "allowed.example");
	none = policy(NULL, 0);
	two = policy(&two_redirects, 1, fmt("127.0.0.1:%u", srv1.port));
	if (p && none && two) {
		test_methods(p);
		test_headers_and_body(p);
		test_literal_notations_allowed(p);
		test_denials(p, none);
		test_bad_input(p);
		test_redirects(p);
		test_redirect_count(p, two);
		test_credentials_across_origins(p);
		test_limits();
		test_policy_entries();
		test_concurrent(p);
		test_lookup_deadline();
		test_cancel();
	}
	http_policy_free(p);
	http_policy_free(none);
	http_policy_free(two);
	server_stop(&srv1);
	server_stop(&srv2);
	server_stop(&srv3);
	return CHECK_DONE();
}
