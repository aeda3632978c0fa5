#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostcall.h"
#include "netaddr.h"
#include "proxy_req.h"
#include "resolve.h"

#define DEFAULT_MAX_CONNECTIONS 256u
#define DEFAULT_MAX_ACTIVE 32u
#define DEFAULT_MAX_BYTES (1ull << 30)
#define DEFAULT_CONNECT_TIMEOUT_MS 30000u
#define DEFAULT_IDLE_TIMEOUT_MS 60000u
/* A ceiling on threads, whatever max_active says. */
#define MAX_ACTIVE_CEILING 1024u
/* Each direction's pipe: what is in flight between the two sockets. */
#define RELAY_PIPE (1u << 20)

struct conn {
	struct proxy *px;
	pthread_t tid;
	bool used;
	atomic_bool done;
	int client;
};

struct proxy {
	int listen_fd;
	int freed_fd; /* eventfd: a connection thread finished */
	struct net_allow *allow;
	size_t n_allow;
	brig_proxy_limits lim;
	const char *resolver;
	struct hc_cancel *cancel;
	pthread_t acceptor;
	struct conn *conns; /* lim.max_active slots */
	atomic_uint_fast64_t connections, refused, up, down;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int until(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : deadline - now > 60000 ? 60000 : (int)(deadline - now);
}

/* ------------------------------------------------------------- answers */

/* Best effort: the client may be gone, or never read. */
static void send_all(int fd, const char *data, size_t len, struct hc_cancel *cancel)
{
	uint64_t deadline = now_ms() + 5000;

	while (len) {
		struct pollfd p[2] = {{fd, POLLOUT, 0}, {hc_cancel_fd(cancel), POLLIN, 0}};
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n > 0) {
			data += n, len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return;
		if (poll(p, 2, until(deadline)) <= 0 || p[1].revents)
			return;
	}
}

static void refuse(struct conn *c, int status, const char *why)
{
	struct buf b = BUF_INIT;

	atomic_fetch_add(&c->px->refused, 1);
	if (proxy_error_response(status, why, &b) == 0)
		send_all(c->client, b.data, b.len, c->px->cancel);
	buf_free(&b);
}

/* -------------------------------------------------------------- request */

/* Read until the head is complete; *got bytes are in buf. */
static int read_head(struct conn *c, char *buf, size_t *got, size_t *head_len, char *why,
		     size_t whylen)
{
	uint64_t deadline = now_ms() + c->px->lim.connect_timeout_ms;

	*got = 0;
	for (;;) {
		struct pollfd p[2] = {{c->client, POLLIN, 0},
				      {hc_cancel_fd(c->px->cancel), POLLIN, 0}};
		ssize_t n;

		if ((*head_len = proxy_head_end(buf, *got)))
			return 0;
		if (*got >= PROXY_HEAD_MAX) {
			snprintf(why, whylen, "request head over %u bytes", PROXY_HEAD_MAX);
			return 431;
		}
		n = recv(c->client, buf + *got, PROXY_HEAD_MAX - *got, 0);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		if (poll(p, 2, until(deadline)) < 0 && errno != EINTR)
			return -1;
		if (p[1].revents || hc_cancelled(c->px->cancel))
			return -1;
		if (now_ms() >= deadline) {
			snprintf(why, whylen, "no complete request within %llu ms",
				 (unsigned long long)c->px->lim.connect_timeout_ms);
			return 408;
		}
	}
}

/* ---------------------------------------------------------------- check */

/*
 * The addresses the request may reach, as http.request decides: the
 * allowlist first, then a name's every address must be public.  Returns 0,
 * or the status to answer with why set.
 */
static int admit(struct conn *c, const struct proxy_req *r, struct resolve_public *l, char *why,
		 size_t whylen)
{
	const struct proxy *px = c->px;
	char text[INET6_ADDRSTRLEN + 2], err[100];
	int rc;

	if (!net_allow_match(px->allow, px->n_allow, &r->host, r->port)) {
		snprintf(why, whylen, "host not allowed: %s port %u", r->host.name, r->port);
		return 403;
	}
	if (r->host.is_ip) {
		l->ips[l->n++] = r->host.ip;
		return 0;
	}
	rc = resolve_public(px->resolver, r->host.name, now_ms() + px->lim.connect_timeout_ms,
			    px->cancel, l, err, sizeof(err));
	if (rc == RESOLVE_BLOCKED) {
		net_ip_format(&l->blocked, false, text, sizeof(text));
		snprintf(why, whylen, "host not allowed: %s (resolves to private address %s)",
			 r->host.name, text);
		return 403;
	}
	if (rc == RESOLVE_TIMEOUT) {
		snprintf(why, whylen, "timed out resolving %s", r->host.name);
		return 504;
	}
	if (rc != RESOLVE_OK || !l->n) {
		snprintf(why, whylen, "cannot resolve %s: %s", r->host.name,
			 rc == RESOLVE_OK ? "no usable address" : err);
		return 502;
	}
	return 0;
}

/* --------------------------------------------------------------- connect */

static socklen_t to_sockaddr(const struct net_ip *ip, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		memcpy(&a->sin_addr, ip->addr, 4);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	memcpy(&a->sin6_addr, ip->addr, 16);
	return sizeof(*a);
}

/* One address, by the deadline; the fd or -errno. */
static int connect_one(const struct net_ip *ip, unsigned port, uint64_t deadline,
		       struct hc_cancel *cancel)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(ip, port, &ss);
	int fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = 0, one = 1;
	socklen_t elen = sizeof(e);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		return -e;
	}
	for (;;) {
		struct pollfd p[2] = {{fd, POLLOUT, 0}, {hc_cancel_fd(cancel), POLLIN, 0}};
		int n = poll(p, 2, until(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && p[1].revents)
			e = ECANCELED;
		else if (n > 0)
			(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen);
		else if (now_ms() < deadline && n == 0)
			continue;
		else
			e = n == 0 ? ETIMEDOUT : errno;
		break;
	}
	if (e) {
		close(fd);
		return -e;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int connect_checked(struct conn *c, const struct proxy_req *r,
			   const struct resolve_public *l, char *why, size_t whylen)
{
	uint64_t deadline = now_ms() + c->px->lim.connect_timeout_ms;
	int fd = -ECONNREFUSED;

	for (size_t i = 0; i < l->n && fd < 0 && fd != -ECANCELED; i++)
		fd = connect_one(&l->ips[i], r->port, deadline, c->px->cancel);
	if (fd < 0)
		snprintf(why, whylen, "cannot connect to %s port %u: %s", r->host.name, r->port,
			 strerror(-fd));
	return fd;
}

/* ----------------------------------------------------------------- relay */

/*
 * One direction of a connection.  Bytes move by splice(2) through a pipe,
 * never through our memory: the proxy costs the kernel's work only.
 */
struct flow {
	int from, to;
	int pipe[2];
	size_t cap; /* the pipe's size */
	size_t len; /* bytes in the pipe */
	bool eof;
	atomic_uint_fast64_t *count;
	uint64_t max;
};

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

static int flow_open(struct flow *f, int from, int to, atomic_uint_fast64_t *count, uint64_t max)
{
	*f = (struct flow){.from = from, .to = to, .count = count, .max = max};
	int cap;

	if (pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	(void)fcntl(f->pipe[1], F_SETPIPE_SZ, RELAY_PIPE);
	cap = fcntl(f->pipe[1], F_GETPIPE_SZ);
	f->cap = cap > 0 ? (size_t)cap : 4096;
	return 0;
}

static void flow_close(struct flow *f)
{
	close(f->pipe[0]);
	close(f->pipe[1]);
}

/* Move what can move without blocking.  -1: the connection is over. */
static int flow_step(struct flow *f, short rev_from, short rev_to, bool *moved)
{
	if (!f->eof && f->len < f->cap && (rev_from & (POLLIN | POLLHUP | POLLERR))) {
		uint64_t used = atomic_load(f->count);
		size_t want = f->cap - f->len;
		ssize_t n;

		/* The run's allowance: what fits still goes, then the connection ends. */
		if (used >= f->max)
			return f->len ? 0 : -1;
		if (f->max - used < want)
			want = (size_t)(f->max - used);
		n = splice(f->from, NULL, f->pipe[1], NULL, want, SPLICE_FLAGS);
		if (n == 0) {
			f->eof = true;
			if (!f->len)
				shutdown(f->to, SHUT_WR);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		} else if (n > 0) {
			atomic_fetch_add(f->count, (uint64_t)n);
			f->len += (size_t)n;
			*moved = true;
		}
	}
	if (f->len && (rev_to & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = splice(f->pipe[0], NULL, f->to, NULL, f->len, SPLICE_FLAGS);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			f->len -= (size_t)n;
			*moved = true;
			if (f->eof && !f->len)
				shutdown(f->to, SHUT_WR);
		}
	}
	/* The run's allowance for this direction is spent, and what fit went. */
	return atomic_load(f->count) >= f->max && !f->len ? -1 : 0;
}

static short flow_events(const struct flow *f, int fd)
{
	short ev = 0;

	if (f->from == fd && !f->eof && f->len < f->cap && atomic_load(f->count) < f->max)
		ev |= POLLIN;
	if (f->to == fd && f->len)
		ev |= POLLOUT;
	return ev;
}

static bool flow_done(const struct flow *f)
{
	return (f->eof || atomic_load(f->count) >= f->max) && !f->len;
}

/* Both ways until both ends closed, a limit or the run's end. */
static void relay(struct conn *c, int server)
{
	const brig_proxy_limits *lim = &c->px->lim;
	struct flow f[2];
	uint64_t end = lim->max_connection_ms ? now_ms() + lim->max_connection_ms : UINT64_MAX;
	uint64_t idle = now_ms() + lim->idle_timeout_ms;

	if (flow_open(&f[0], c->client, server, &c->px->up, lim->max_bytes_up) < 0)
		return;
	if (flow_open(&f[1], server, c->client, &c->px->down, lim->max_bytes_down) < 0) {
		flow_close(&f[0]);
		return;
	}
	while (!(flow_done(&f[0]) && flow_done(&f[1]))) {
		struct pollfd p[3] = {
		    {c->client, 0, 0}, {server, 0, 0}, {hc_cancel_fd(c->px->cancel), POLLIN, 0}};
		bool moved = false;
		int n;

		for (int i = 0; i < 2; i++)
			p[i].events = flow_events(&f[0], p[i].fd) | flow_events(&f[1], p[i].fd);
		n = poll(p, 3, until(idle < end ? idle : end));
		if (n < 0 && errno != EINTR)
			break;
		if (p[2].revents || (n == 0 && now_ms() >= (idle < end ? idle : end)))
			break;
		if (flow_step(&f[0], p[0].revents, p[1].revents, &moved) < 0 ||
		    flow_step(&f[1], p[1].revents, p[0].revents, &moved) < 0)
			break;
		if (moved)
			idle = now_ms() + lim->idle_timeout_ms;
	}
	flow_close(&f[0]);
	flow_close(&f[1]);
}

/* ----------------------------------------------------------- connection */

/* What goes to the server before the relay: the rewritten head, or nothing. */
static int first_bytes(const struct proxy_req *r, const char *buf, size_t got, struct buf *out)
{
	if (!r->connect && proxy_req_rewrite(r, out) < 0)
		return -1;
	/* Bytes the client sent after its head (a body, an early ClientHello). */
	return buf_append(out, buf + r->head_len, got - r->head_len);
}

static void serve(struct conn *c, char *bufs)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct resolve_public l = {.n = 0};
	struct proxy_req r;
	struct buf pre = BUF_INIT;
	char why[400];
	size_t got = 0, head_len = 0;
	int status, server;

	why[0] = '\0';
	status = read_head(c, bufs, &got, &head_len, why, sizeof(why));
	if (status == 0)
		status = proxy_req_parse(bufs, head_len, &r, why, sizeof(why));
	if (status == 0)
		status = admit(c, &r, &l, why, sizeof(why));
	if (status != 0) {
		if (status > 0)
			refuse(c, status, why);
		else
			atomic_fetch_add(&c->px->refused, 1);
		return;
	}
	if ((server = connect_checked(c, &r, &l, why, sizeof(why))) < 0) {
		refuse(c, server == -ETIMEDOUT ? 504 : 502, why);
		return;
	}
	if (first_bytes(&r, bufs, got, &pre) == 0) {
		if (r.connect)
			send_all(c->client, established, sizeof(established) - 1, c->px->cancel);
		send_all(server, pre.data, pre.len, c->px->cancel);
		relay(c, server);
	}
	buf_free(&pre);
	close(server);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	char *bufs = malloc(PROXY_HEAD_MAX);
	uint64_t one = 1;

	if (bufs)
		serve(c, bufs);
	else
		refuse(c, 503, "out of memory");
	free(bufs);
	close(c->client);
	c->client = -1;
	atomic_store(&c->done, true);
	(void)!write(c->px->freed_fd, &one, sizeof(one));
	return NULL;
}

/* ------------------------------------------------------------- acceptor */

static void reap(struct proxy *px, bool all)
{
	for (uint32_t i = 0; i < px->lim.max_active; i++) {
		struct conn *c = &px->conns[i];

		if (c->used && (all || atomic_load(&c->done))) {
			pthread_join(c->tid, NULL);
			c->used = false;
		}
	}
}

static struct conn *free_slot(struct proxy *px)
{
	for (uint32_t i = 0; i < px->lim.max_active; i++)
		if (!px->conns[i].used)
			return &px->conns[i];
	return NULL;
}

static void take(struct proxy *px, struct conn *slot, int fd)
{
	uint64_t n = atomic_fetch_add(&px->connections, 1) + 1;

	*slot = (struct conn){.px = px, .client = fd, .used = true};
	if (n > px->lim.max_connections) {
		char why[96];

		snprintf(why, sizeof(why), "connection limit of %u per run reached",
			 px->lim.max_connections);
		refuse(slot, 429, why);
	} else if (pthread_create(&slot->tid, NULL, conn_main, slot) == 0) {
		return;
	} else {
		refuse(slot, 503, "no thread for the connection");
	}
	close(fd);
	slot->used = false;
}

static void *accept_main(void *arg)
{
	struct proxy *px = arg;

	while (!hc_cancelled(px->cancel)) {
		struct conn *slot;
		struct pollfd p[3] = {{hc_cancel_fd(px->cancel), POLLIN, 0},
				      {px->freed_fd, POLLIN, 0},
				      {px->listen_fd, POLLIN, 0}};
		uint64_t v;
		int fd;

		reap(px, false);
		slot = free_slot(px);
		/* With every slot taken, connections wait in the backlog. */
		if (poll(p, slot ? 3 : 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			(void)!read(px->freed_fd, &v, sizeof(v));
		if (!slot || !(p[2].revents & POLLIN))
			continue;
		fd = accept4(px->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			take(px, slot, fd);
	}
	reap(px, true);
	return NULL;
}

/* ----------------------------------------------------------------- setup */

static void limits_fill(brig_proxy_limits *dst, const brig_proxy_limits *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src)
		*dst = *src;
	if (!dst->max_connections)
		dst->max_connections = DEFAULT_MAX_CONNECTIONS;
	if (!dst->max_active)
		dst->max_active = DEFAULT_MAX_ACTIVE;
	if (dst->max_active > MAX_ACTIVE_CEILING)
		dst->max_active = MAX_ACTIVE_CEILING;
	if (!dst->max_bytes_up)
		dst->max_bytes_up = DEFAULT_MAX_BYTES;
	if (!dst->max_bytes_down)
		dst->max_bytes_down = DEFAULT_MAX_BYTES;
	if (!dst->connect_timeout_ms)
		dst->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (!dst->idle_timeout_ms)
		dst->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
}

static void proxy_free(struct proxy *px)
{
	if (px->listen_fd >= 0)
		close(px->listen_fd);
	if (px->freed_fd >= 0)
		close(px->freed_fd);
	hc_cancel_unref(px->cancel);
	free(px->allow);
	free(px->conns);
	free(px);
}

static int parse_allow(struct proxy *px, const char *const *allow, size_t n, char *err,
		       size_t errlen)
{
	char why[200];

	if (n && !(px->allow = calloc(n, sizeof(*px->allow))))
		return BRIG_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (net_allow_parse(allow[i], &px->allow[i], why, sizeof(why)) != 0) {
			snprintf(err, errlen, "invalid allowlist entry \"%s\": %s", allow[i], why);
			return BRIG_E_INVAL;
		}
	}
	px->n_allow = n;
	return BRIG_OK;
}

int proxy_start(int listen_fd, const char *const *allow, size_t n, const brig_proxy_limits *lim,
		const char *resolver, struct proxy **out, char *err, size_t errlen)
{
	struct proxy *px = calloc(1, sizeof(*px));
	int rc;

	*out = NULL;
	if (!px) {
		close(listen_fd);
		return BRIG_E_NOMEM;
	}
	px->listen_fd = listen_fd;
	px->freed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	limits_fill(&px->lim, lim);
	px->resolver = resolver ? resolver : RESOLVE_HELPER;
	px->cancel = hc_cancel_new();
	px->conns = calloc(px->lim.max_active, sizeof(*px->conns));
	if (px->freed_fd < 0 || !px->cancel || !px->conns) {
		proxy_free(px);
		snprintf(err, errlen, "cannot start the egress proxy: out of memory or fds");
		return BRIG_E_NOMEM;
	}
	if ((rc = parse_allow(px, allow, n, err, errlen)) != BRIG_OK) {
		proxy_free(px);
		return rc;
	}
	if ((rc = pthread_create(&px->acceptor, NULL, accept_main, px)) != 0) {
		proxy_free(px);
		snprintf(err, errlen, "cannot start the egress proxy: %s", strerror(rc));
		return BRIG_E_NOMEM;
	}
	*out = px;
	return BRIG_OK;
}

void proxy_stats_get(struct proxy *p, struct proxy_stats *st)
{
	st->connections = p ? atomic_load(&p->connections) : 0;
	st->refused = p ? atomic_load(&p->refused) : 0;
}

void proxy_stop(struct proxy *p, struct proxy_stats *final)
{
	if (!p)
		return;
	hc_cancel_fire(p->cancel);
	pthread_join(p->acceptor, NULL);
	if (final)
		proxy_stats_get(p, final);
	proxy_free(p);
}
