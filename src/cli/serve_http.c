/*
 * `brig serve`'s HTTP front, on libmicrohttpd: one thread per connection
 * (a run blocks its request's thread), the bounds on what a client may
 * send, bearer authentication, and one JSON log line per request.
 */
#include "cli/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

/* What one request carries from its first call to its log line. */
struct conn_req {
	struct serve *srv;
	uint64_t t0;
	struct buf body;
	unsigned status;
	bool done; /* a response was queued */
	char who[72];
	char method[16];
	char path[256];
};

struct stream_src {
	struct serve *srv;
	int fd;
	bool sse;
	int keepalive_ms;
};

static const char *const anonymous = "anonymous";

/* --------------------------------------------------------------- logging */

static void log_request(struct MHD_Connection *c, struct conn_req *q)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[INET6_ADDRSTRLEN] = "unix", when[32], line[1024];
	struct timespec now;
	struct tm tm;
	int n;

	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
			  sizeof(addr));
	else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr,
			  sizeof(addr));
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* method and path are checked to be plain printable ASCII below. */
	n = snprintf(line, sizeof(line),
		     "{\"time\":\"%s.%03ldZ\",\"remote\":\"%s\",\"token\":\"%s\",\"method\":"
		     "\"%s\",\"path\":\"%s\",\"status\":%u,\"ms\":%llu}\n",
		     when, now.tv_nsec / 1000000, addr, q->who, q->method, q->path, q->status,
		     (unsigned long long)(serve_now_ms() - q->t0));
	if (n > 0 && (size_t)n < sizeof(line) && write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* Plain printable ASCII without quotes or backslashes: safe in a log line. */
static void copy_safe(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i < size - 1; i++)
		dst[i] = (src[i] > 0x20 && src[i] < 0x7f && src[i] != '"' && src[i] != '\\')
			     ? src[i]
			     : '?';
	dst[i] = '\0';
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_req *q = *con_cls;

	if (!q)
		return;
	if (!q->done)
		q->status = 0; /* the client or a bound cut it short */
	log_request(c, q);
	serve_metrics_request(&q->srv->metrics, q->status, (double)(serve_now_ms() - q->t0) / 1e3);
	buf_free(&q->body);
	free(q);
	*con_cls = NULL;
}

/* ------------------------------------------------------------- responses */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_src *s = cls;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	ssize_t n;
	int rc;

	/* Silence would look idle to the connection timeout: send keep-alives. */
	while ((rc = poll(&p, 1, s->keepalive_ms)) < 0 && errno == EINTR)
		;
	if (rc == 0) {
		const char *ka = s->sse ? ":\n\n" : "\n";
		size_t len = strlen(ka) < max ? strlen(ka) : max;
		memcpy(buf, ka, len);
		return (ssize_t)len;
	}
	while ((n = read(s->fd, buf, max)) < 0 && errno == EINTR)
		;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void enter(struct serve *srv);
static void leave(struct serve *srv);

/* A stream counts as in flight until it is sent: a drain waits for it. */
static void stream_free(void *cls)
{
	struct stream_src *s = cls;

	close(s->fd); /* the run's writer sees EPIPE and cancels the run */
	leave(s->srv);
	free(s);
}

static struct MHD_Response *make_response(struct serve *srv, struct serve_reply *r)
{
	struct MHD_Response *resp;
	char retry[16];

	if (r->stream_fd >= 0) {
		struct stream_src *s = malloc(sizeof(*s));
		if (!s) {
			close(r->stream_fd);
			return NULL;
		}
		*s = (struct stream_src){srv, r->stream_fd,
					 strstr(r->content_type, "event-stream") != NULL,
					 (int)(srv->opts.request_timeout * 1000 / 2)};
		enter(srv);
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
							 stream_free);
		if (!resp)
			stream_free(s);
	} else {
		const char *body = r->body ? r->body : "";
		resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
						       MHD_RESPMEM_MUST_COPY);
	}
	if (!resp)
		return NULL;
	MHD_add_response_header(resp, "Content-Type",
				r->content_type ? r->content_type : "application/json");
	if (r->stream_fd >= 0)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->retry_after) {
		snprintf(retry, sizeof(retry), "%u", r->retry_after);
		MHD_add_response_header(resp, "Retry-After", retry);
	}
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"brig\"");
	return resp;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct conn_req *q,
				  struct serve_reply *r)
{
	struct MHD_Response *resp = make_response(q->srv, r);
	enum MHD_Result rc = MHD_NO;

	free(r->body);
	r->body = NULL;
	if (!resp)
		return MHD_NO;
	/*
	 * A long run leaves the connection silent: start its idle clock again,
	 * or the connection timeout would drop the answer.  (The timeout is
	 * only re-armed from zero.)
	 */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, q->srv->opts.request_timeout);
	rc = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	q->status = r->status;
	q->done = true;
	return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, struct conn_req *q, unsigned status,
				  const char *error, const char *msg)
{
	struct serve_reply r = {.stream_fd = -1};

	serve_reply_error(&r, status, error, "%s", msg);
	return send_reply(c, q, &r);
}

/* --------------------------------------------------------------- request */

/* The caller's token name, or NULL when it presented no valid token. */
static const char *authenticate(struct serve *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	if (srv->tokens.n == 0)
		return anonymous;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return serve_tokens_match(&srv->tokens, h, strlen(h));
}

static int stream_kind(struct MHD_Connection *c)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");

	if (a && strstr(a, "application/x-ndjson"))
		return SERVE_NDJSON;
	if (a && strstr(a, "text/event-stream"))
		return SERVE_SSE;
	return SERVE_PLAIN;
}

static void enter(struct serve *srv)
{
	pthread_mutex_lock(&srv->mu);
	srv->inflight++;
	pthread_mutex_unlock(&srv->mu);
}

static void leave(struct serve *srv)
{
	pthread_mutex_lock(&srv->mu);
	if (--srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->mu);
}

static bool draining(struct serve *srv)
{
	bool d;

	pthread_mutex_lock(&srv->mu);
	d = srv->draining;
	pthread_mutex_unlock(&srv->mu);
	return d;
}

static bool is_health(const char *url)
{
	return strcmp(url, "/healthz") == 0 || strcmp(url, "/v1/healthz") == 0;
}

/* The whole request is in: authenticate and hand it to the API. */
static enum MHD_Result dispatch(struct MHD_Connection *c, struct conn_req *q, const char *url)
{
	struct serve *srv = q->srv;
	struct serve_call call = {.method = q->method, .path = url};
	struct serve_reply r = {.stream_fd = -1};
	const char *who;
	enum MHD_Result rc;

	if (is_health(url)) {
		if (draining(srv))
			return send_error(c, q, 503, "draining", "shutting down");
		r.status = 200;
		r.body = strdup("{\"ok\":true}");
		return send_reply(c, q, &r);
	}
	if (!(who = authenticate(srv, c)))
		return send_error(c, q, 401, "unauthorized", "a valid bearer token is required");
	snprintf(q->who, sizeof(q->who), "%s", who);
	if (draining(srv))
		return send_error(c, q, 503, "draining", "shutting down");
	call.body = q->body.data;
	call.body_len = q->body.len;
	call.who = who;
	call.grant = serve_policy_find(&srv->policy, who);
	call.stream = stream_kind(c);
	enter(srv);
	serve_api_handle(srv, &call, &r);
	rc = send_reply(c, q, &r);
	leave(srv);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct serve *srv = cls;
	struct conn_req *q = *con_cls;

	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		q->srv = srv;
		q->t0 = serve_now_ms();
		snprintf(q->who, sizeof(q->who), "-");
		copy_safe(q->method, sizeof(q->method), method);
		copy_safe(q->path, sizeof(q->path), url);
		*con_cls = q;
		/* Refuse a stranger before reading its body. */
		if (!is_health(url) && !authenticate(srv, c))
			return send_error(c, q, 401, "unauthorized",
					  "a valid bearer token is required");
		if (cl && strtoull(cl, NULL, 10) > srv->opts.max_body)
			return send_error(c, q, 413, "too_large", "the body exceeds --max-body");
		return MHD_YES;
	}
	if (*upload_size) {
		/* The body's time counts as much as the headers' silence. */
		if (q->done || q->body.len + *upload_size > srv->opts.max_body ||
		    serve_now_ms() - q->t0 > srv->opts.request_timeout * 1000ull)
			return MHD_NO;
		if (buf_append(&q->body, upload_data, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->done)
		return MHD_YES;
	return dispatch(c, q, url);
}

/* ----------------------------------------------------------------- setup */

static int listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "unix socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path); /* a stale socket of an earlier server */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* "HOST:PORT", "[V6]:PORT"; *loopback says whether only this host reaches it. */
static int listen_inet(const char *spec, bool *loopback, char *bound, size_t blen, char *err,
		       size_t errlen)
{
	struct sockaddr_storage ss = {0};
	char host[128];
	const char *colon = strrchr(spec, ':');
	socklen_t len;
	long port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host) ||
	    (port = strtol(colon + 1, NULL, 10)) < 0 || port > 65535) {
		snprintf(err, errlen, "--listen wants HOST:PORT or unix:PATH, got '%s'", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		host[strlen(host) - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1",
			      &s4->sin_addr) != 1)
			goto bad;
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 512) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(bound, blen, "%s%s%s:%u", ss.ss_family == AF_INET6 ? "[" : "",
		 ss.ss_family == AF_INET6 ? host + 1 : host, ss.ss_family == AF_INET6 ? "]" : "",
		 ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port));
	return fd;
bad:
	snprintf(err, errlen, "--listen: '%s' is not an IP address", host);
	return -1;
}

int serve_http_start(struct serve *srv, struct MHD_Daemon **out, char *err, size_t errlen)
{
	const struct serve_opts *o = &srv->opts;
	char bound[200];
	bool loopback = true;
	int fd;

	if (strncmp(o->listen, "unix:", 5) == 0) {
		fd = listen_unix(o->listen + 5, err, errlen);
		snprintf(bound, sizeof(bound), "%s", o->listen);
	} else {
		fd = listen_inet(o->listen, &loopback, bound, sizeof(bound), err, errlen);
	}
	if (fd < 0)
		return -1;
	if (!loopback && srv->tokens.n == 0) {
		close(fd);
		snprintf(err, errlen,
			 "without --tokens brig serve listens only on loopback or a unix socket");
		return -1;
	}
	*out = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				    MHD_USE_ITC | MHD_USE_POLL,
				0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->request_timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o->max_header,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
	if (!*out) {
		close(fd);
		snprintf(err, errlen, "cannot start the HTTP server on %s", bound);
		return -1;
	}
	fprintf(stderr, "brig serve: listening on %s (%s)\n", bound,
		srv->tokens.n ? "bearer tokens required"
			      : "no authentication: only this host can connect");
	return 0;
}

void serve_http_quiesce(struct MHD_Daemon *d)
{
	MHD_socket fd = MHD_quiesce_daemon(d);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void serve_http_stop(struct MHD_Daemon *d)
{
	MHD_stop_daemon(d);
}
