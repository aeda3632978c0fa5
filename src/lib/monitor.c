#include "lib/monitor.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IO_CHUNK 65536
/* How often CPU use is sampled when a CPU limit is set, and memory use when
 * no cgroup limits it. */
#define CPU_POLL_MS 20
/* After the jail exits, how long to wait for its pipes to reach EOF. */
#define DRAIN_GRACE_MS 2000

enum { P_OUT, P_ERR, P_PROTO, P_STDIN, P_SRC, P_PID, P_DISP, P_CTL, P_INTR, P_BREAK, P_COUNT };

/* What the monitor holds of a streamed stdin between reading and writing it. */
#define STDIN_CHUNK 65536

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* End the run: kill the jail's whole tree and remember why (first reason wins). */
static void stop(struct monitor *m, int error, brig_limit_kind limit, const char *fmt, ...)
{
	va_list ap;

	if (!m->killed) {
		/* The processes about to die are never reaped into init's rusage:
		 * this sample is the last record of their CPU time. */
		if (!m->cg_cpu && usage_sample(&m->usage, USAGE_CPU, 0) == 0 &&
		    m->usage.cpu_us > m->cpu_sampled_us)
			m->cpu_sampled_us = m->usage.cpu_us;
		if (m->kill)
			m->kill(m, m->kill_ud);
		else
			jail_kill(m->proc);
		/* Host calls in flight end with the guest, not at their own timeouts. */
		dispatch_cancel(m->disp);
	}
	m->killed = true;
	if (m->error != BRIG_OK)
		return;
	m->error = error;
	m->limit = limit;
	va_start(ap, fmt);
	vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
	va_end(ap);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void take_output(struct monitor *m, int *fd, brig_stream stream)
{
	char chunk[IO_CHUNK];
	struct buf *b = stream == BRIG_STDOUT ? &m->res->out : &m->res->err;
	bool *trunc = stream == BRIG_STDOUT ? &m->res->out_trunc : &m->res->err_trunc;
	ssize_t n = read(*fd, chunk, sizeof(chunk));
	size_t room, keep;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(fd);
		return;
	}
	room = m->lim->max_output_bytes - b->len;
	keep = (size_t)n < room ? (size_t)n : room;
	if (keep && buf_append(b, chunk, keep) == 0 && m->opts->on_output)
		m->opts->on_output(m->opts->output_userdata, stream, chunk, keep);
	if (keep < (size_t)n) {
		*trunc = true;
		stop(m, BRIG_E_LIMIT, BRIG_LIMIT_OUTPUT, "%s exceeded %llu bytes and was truncated",
		     stream == BRIG_STDOUT ? "stdout" : "stderr",
		     (unsigned long long)m->lim->max_output_bytes);
	}
}

/* The agent's events are a few bytes ({"limit": "memory"}). */
#define MAX_EVENT_BYTES 4096

static void on_event(struct monitor *m, const struct proto_frame *f)
{
	json_t *j =
	    f->len <= MAX_EVENT_BYTES ? json_loadb((const char *)f->body, f->len, 0, NULL) : NULL;
	const char *kind = json_string_value(json_object_get(j, "limit"));

	if (!j) {
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: malformed event");
		return;
	}
	if (kind && strcmp(kind, "memory") == 0)
		m->guest_limit = BRIG_LIMIT_MEMORY;
	else if (kind && strcmp(kind, "disk") == 0)
		m->guest_limit = BRIG_LIMIT_DISK;
	json_decref(j);
}

/*
 * Admit one CALL if the dispatcher has room for its cost, measured before
 * parsing: false leaves it for later, and the socket unread meanwhile.
 */
static bool on_call(struct monitor *m, const struct proto_frame *f)
{
	struct proto_raw raw;
	struct proto_msg msg;
	char err[160];
	size_t cost, need;
	int rc;

	if (proto_split_msg(f, &raw, err, sizeof(err)) < 0) {
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: %s", err);
		return true;
	}
	cost = dispatch_cost(raw.json, raw.json_len, raw.blob_len);
	/* A call over the whole budget is refused: only its answer needs room. */
	need = cost > m->disp->budget ? DISPATCH_CALL_OVERHEAD : cost;
	if (!dispatch_room(m->disp, need)) {
		m->blocked = true;
		return false;
	}
	m->blocked = false;
	if (cost > m->disp->budget)
		rc = dispatch_refuse(m->disp, raw.id, cost);
	else if (proto_parse_raw(&raw, &msg, err, sizeof(err)) < 0) {
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: %s", err);
		return true;
	} else
		rc = dispatch_submit(m->disp, msg.id, msg.json, msg.blob, msg.blob_len, cost);
	if (rc)
		stop(m, rc, BRIG_LIMIT_NONE, "host call failed: %s", brig_strerror(rc));
	return true;
}

static void on_done(struct monitor *m, const struct proto_frame *f)
{
	struct proto_raw raw;
	struct proto_msg msg;
	char err[160];

	if (!m->session || proto_split_msg(f, &raw, err, sizeof(err)) < 0 ||
	    proto_json_cost(raw.json, raw.json_len) > m->disp->budget ||
	    proto_parse_raw(&raw, &msg, err, sizeof(err)) < 0) {
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: stray answer");
		return;
	}
	if (msg.id != m->wait_id || m->done) {
		json_decref(msg.json);
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: answer to %u",
		     msg.id);
		return;
	}
	m->done = true;
	m->done_json = msg.json;
	m->done_blob.len = 0;
	buf_append(&m->done_blob, msg.blob, msg.blob_len);
}

/* Handle the complete frames the reader holds, until a call must wait. */
static void take_frames(struct monitor *m)
{
	char err[160];
	struct proto_frame f;
	int rc;

	while (!m->killed && (rc = proto_next(&m->reader, &f, err, sizeof(err))) == 1) {
		if (f.type == PROTO_CALL) {
			if (!on_call(m, &f)) {
				proto_unread(&m->reader, &f);
				return;
			}
		} else if (f.type == PROTO_EVENT) {
			on_event(m, &f);
		} else if (f.type == PROTO_DONE) {
			on_done(m, &f);
		} else {
			stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE,
			     "protocol violation: unexpected frame type 0x%02x", f.type);
		}
	}
	m->blocked = false;
	if (rc < 0)
		stop(m, BRIG_E_PROTOCOL, BRIG_LIMIT_NONE, "protocol violation: %s", err);
}

static void take_proto(struct monitor *m)
{
	char chunk[IO_CHUNK];
	ssize_t n = read(m->proto_fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(&m->proto_fd);
		return;
	}
	if (proto_feed(&m->reader, chunk, (size_t)n) < 0) {
		stop(m, BRIG_E_NOMEM, BRIG_LIMIT_NONE, "out of memory reading the protocol");
		return;
	}
	take_frames(m);
}

static void send_stdin_data(struct monitor *m)
{
	size_t left = m->opts->stdin_len - m->stdin_off;
	ssize_t n = left ? write(m->stdin_fd, m->opts->stdin_data + m->stdin_off, left) : 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		m->stdin_off += (size_t)n;
	if (n < 0 || m->stdin_off == m->opts->stdin_len)
		close_fd(&m->stdin_fd);
}

/* A streamed stdin: what was read from the embedder's fd goes to the guest. */
static void send_stdin_stream(struct monitor *m)
{
	ssize_t n = write(m->stdin_fd, m->sbuf + m->soff, m->slen - m->soff);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) { /* the guest closed its stdin: stop reading for it */
		close_fd(&m->stdin_fd);
		m->src_open = false;
		return;
	}
	m->soff += (size_t)n;
	if (m->soff == m->slen)
		m->soff = m->slen = 0;
	if (!m->slen && !m->src_open)
		close_fd(&m->stdin_fd);
}

static void read_stdin_source(struct monitor *m)
{
	ssize_t n;

	if (!m->sbuf && !(m->sbuf = malloc(STDIN_CHUNK))) {
		m->src_open = false;
		return;
	}
	n = read(m->opts->stdin_fd, m->sbuf, STDIN_CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* end of input: the guest sees it once the rest is written */
		m->src_open = false;
		if (!m->slen)
			close_fd(&m->stdin_fd);
		return;
	}
	m->slen = (size_t)n;
	m->soff = 0;
}

static void send_stdin(struct monitor *m)
{
	if (m->opts->stdin_stream)
		send_stdin_stream(m);
	else
		send_stdin_data(m);
}

/* What the monitor must measure itself: what no cgroup does for it. */
static unsigned usage_wanted(const struct monitor *m)
{
	return (m->cg_mem ? 0 : USAGE_MEMORY) |
	       (m->cg_cpu || !m->lim->cpu_timeout_ms ? 0 : USAGE_CPU);
}

/* CPU time the jail used so far (µs), or -1 when unknown. */
static int64_t jail_cpu_us(struct monitor *m)
{
	if (m->cg_cpu)
		return cgroup_cpu_us(m->cg);
	if (usage_sample(&m->usage, USAGE_CPU, 0) < 0)
		return -1;
	return (int64_t)m->usage.cpu_us;
}

/*
 * Without a cgroup: one pass over the jail's /proc (and its sockets) serves
 * both limits.  A jail that cannot be measured is not run blind.
 */
static void sample_usage(struct monitor *m)
{
	unsigned what = usage_wanted(m);
	int rc;

	if (!what || (rc = usage_sample(&m->usage, what, m->lim->memory_bytes)) > 0)
		return; /* nothing to measure, or the jail just ended */
	if (rc < 0) {
		stop(m, BRIG_E_UNAVAILABLE, BRIG_LIMIT_NONE, "%s", m->usage.err);
		return;
	}
	if (m->usage.cpu_us > m->cpu_sampled_us)
		m->cpu_sampled_us = m->usage.cpu_us;
	if ((what & USAGE_MEMORY) && m->usage.mem > m->lim->memory_bytes)
		stop(m, BRIG_E_LIMIT, BRIG_LIMIT_MEMORY,
		     "memory limit of %llu bytes exceeded (%llu bytes in use)",
		     (unsigned long long)m->lim->memory_bytes, (unsigned long long)m->usage.mem);
}

static void check_cpu(struct monitor *m)
{
	int64_t used = m->cg_cpu ? cgroup_cpu_us(m->cg) : (int64_t)m->usage.cpu_us;

	if (used >= 0 && (uint64_t)used >= m->cpu_base_us + m->lim->cpu_timeout_ms * 1000)
		stop(m, BRIG_E_CANCELLED, BRIG_LIMIT_CPU, "CPU time limit of %llu ms exceeded",
		     (unsigned long long)m->lim->cpu_timeout_ms);
}

/* One round of limit checks, at most every CPU_POLL_MS however often the
 * loop wakes (a chatty guest must not make the host read /proc nonstop). */
static void check_limits(struct monitor *m)
{
	uint64_t now = now_ms();

	if (now < m->next_check_ms)
		return;
	m->next_check_ms = now + CPU_POLL_MS;
	sample_usage(m);
	if (m->lim->cpu_timeout_ms && !m->killed)
		check_cpu(m);
}

static int poll_timeout(const struct monitor *m, uint64_t deadline, uint64_t now)
{
	uint64_t t = deadline > now ? deadline - now : 0;

	if ((m->lim->cpu_timeout_ms || !m->cg_mem) && !m->killed && t > CPU_POLL_MS)
		t = CPU_POLL_MS;
	/* A wall limit of weeks would not fit poll's int: wake early instead. */
	return t > INT_MAX ? INT_MAX : (int)t;
}

static int fill_pollfds(struct monitor *m, struct pollfd *p)
{
	p[P_OUT] = (struct pollfd){m->out_fd, POLLIN, 0};
	p[P_ERR] = (struct pollfd){m->err_fd, POLLIN, 0};
	/* A waiting call keeps the rest in the socket: the guest blocks, not the host. */
	p[P_PROTO] = (struct pollfd){m->proto_fd, m->blocked ? 0 : POLLIN, 0};
	if (m->out_pending)
		p[P_PROTO].events |= POLLOUT;
	p[P_STDIN] = (struct pollfd){m->stdin_fd, POLLOUT, 0};
	p[P_SRC] = (struct pollfd){-1, POLLIN, 0};
	if (m->opts && m->opts->stdin_stream && m->stdin_fd >= 0) {
		/* Read while nothing waits to be written; write what was read. */
		if (!m->slen && m->src_open)
			p[P_SRC].fd = m->opts->stdin_fd;
		if (!m->slen)
			p[P_STDIN].events = 0;
	}
	p[P_PID] = (struct pollfd){m->exited ? -1 : m->proc->pidfd, POLLIN, 0};
	p[P_DISP] = (struct pollfd){m->disp->event_fd, POLLIN, 0};
	p[P_CTL] = (struct pollfd){m->session ? m->ctl_fd : -1, POLLIN, 0};
	/* A triggered cancel token stays readable: stop polling it once killed. */
	p[P_INTR] = (struct pollfd){m->killed ? -1 : m->interrupt_fd, POLLIN, 0};
	p[P_BREAK] = (struct pollfd){m->session ? m->break_fd : -1, POLLIN, 0};
	return P_COUNT;
}

/* In a session, init reports every exit; only the live guest's matters. */
static void take_reports(struct monitor *m)
{
	struct jail_ctl_msg msg;
	int rc;

	while ((rc = jail_ctl_poll(m->proc, &msg)) == 1) {
		if (msg.kind == JAIL_CTL_STATUS && msg.pid == m->live_pid)
			m->live_status = msg.value;
	}
	if (rc < 0)
		m->exited = true;
	/* Exits reported while a command waited for its answer. */
	for (int i = 0; i < m->proc->nexits; i++) {
		if (m->proc->exits[i].pid == m->live_pid)
			m->live_status = m->proc->exits[i].status;
	}
	m->proc->nexits = 0;
}

/* The language's own interrupt (Python: KeyboardInterrupt), sent by init. */
static void send_break(struct monitor *m)
{
	uint64_t n;

	(void)!read(m->break_fd, &n, sizeof(n));
	if (m->live_pid > 1 && jail_signal(m->proc, m->live_pid, SIGINT) < 0)
		m->exited = true;
	take_reports(m);
}

static void handle(struct monitor *m, const struct pollfd *p)
{
	const short in = POLLIN | POLLHUP | POLLERR;

	if (p[P_OUT].revents & in)
		take_output(m, &m->out_fd, BRIG_STDOUT);
	if (p[P_ERR].revents & in)
		take_output(m, &m->err_fd, BRIG_STDERR);
	if (m->proto_fd >= 0 && (p[P_PROTO].revents & in))
		take_proto(m);
	if (m->proto_fd >= 0 && (p[P_PROTO].revents & POLLOUT))
		m->out_pending = dispatch_flush(m->disp) > 0;
	if (m->stdin_fd >= 0 && (p[P_STDIN].revents & (POLLOUT | POLLERR | POLLHUP)))
		send_stdin(m);
	if (m->stdin_fd >= 0 && (p[P_SRC].revents & (POLLIN | POLLHUP | POLLERR)))
		read_stdin_source(m);
	if (m->stdin_fd >= 0 && (p[P_SRC].revents & POLLNVAL)) {
		m->src_open = false; /* the embedder's fd is not open */
		if (!m->slen)
			close_fd(&m->stdin_fd);
	}
	if (p[P_DISP].revents & POLLIN)
		m->out_pending = dispatch_flush(m->disp) > 0;
	/* Room freed for the call that waits. */
	if (m->blocked && !m->killed && !dispatch_waiting(m->disp))
		take_frames(m);
	if (p[P_PID].revents & POLLIN)
		m->exited = true;
	if (p[P_CTL].revents)
		take_reports(m);
	if (p[P_BREAK].revents & POLLIN)
		send_break(m);
	if (p[P_INTR].revents & POLLIN) {
		uint64_t n;

		/* A session's interrupt is consumed; a run's cancel token stays set. */
		if (m->session)
			(void)!read(m->interrupt_fd, &n, sizeof(n));
		stop(m, BRIG_E_CANCELLED, BRIG_LIMIT_NONE, "%s",
		     m->session ? "interrupted" : "cancelled by the embedder");
	}
}

void monitor_open(struct monitor *m)
{
	proto_reader_init(&m->reader, m->lim->max_frame_bytes);
	m->live_status = -1;
	m->cg_cpu = cgroup_cpu_us(m->cg) >= 0;
	m->cg_mem = cgroup_limits_memory(m->cg);
	usage_init(&m->usage, m->proc->proc_fd, m->proc->diag_fd, m->proc->pid);
	m->src_open = m->opts && m->opts->stdin_stream && m->opts->stdin_fd >= 0;
	m->usage.count_init_clones = m->proc->warm;
}

void monitor_run(struct monitor *m)
{
	uint64_t start = now_ms(), deadline = start + m->lim->wall_timeout_ms, exit_at = 0;
	struct pollfd p[P_COUNT];

	while (!m->exited || m->out_fd >= 0 || m->err_fd >= 0) {
		uint64_t now = now_ms();

		if (m->exited && !exit_at)
			exit_at = now;
		if (exit_at && now - exit_at > DRAIN_GRACE_MS)
			break;
		if (!m->killed && now >= deadline)
			stop(m, BRIG_E_CANCELLED, BRIG_LIMIT_WALL, "wall-clock timeout of %llu ms",
			     (unsigned long long)m->lim->wall_timeout_ms);
		if (m->killed && !exit_at)
			deadline = now + DRAIN_GRACE_MS;
		if (poll(p, fill_pollfds(m, p), poll_timeout(m, deadline, now)) < 0 &&
		    errno != EINTR)
			break;
		handle(m, p);
		if (!m->killed && !m->exited)
			check_limits(m);
	}
}

/* Take whatever output is already in the pipes, without waiting. */
static void drain_ready(struct monitor *m)
{
	struct pollfd p[2] = {{m->out_fd, POLLIN, 0}, {m->err_fd, POLLIN, 0}};

	while (poll(p, 2, 0) > 0 && ((p[0].revents & POLLIN) || (p[1].revents & POLLIN))) {
		if (p[0].revents & POLLIN)
			take_output(m, &m->out_fd, BRIG_STDOUT);
		if (p[1].revents & POLLIN)
			take_output(m, &m->err_fd, BRIG_STDERR);
		p[0].fd = m->out_fd;
		p[1].fd = m->err_fd;
	}
}

void monitor_call(struct monitor *m, uint32_t id)
{
	uint64_t deadline = now_ms() + m->lim->wall_timeout_ms;
	int64_t base = jail_cpu_us(m), end;
	struct pollfd p[P_COUNT];

	m->wait_id = id;
	m->done = m->killed = false;
	m->error = BRIG_OK;
	m->limit = m->guest_limit = BRIG_LIMIT_NONE;
	m->cpu_base_us = base > 0 ? (uint64_t)base : 0;
	while (!m->done && !m->killed && !m->exited && m->live_status < 0) {
		uint64_t now = now_ms();

		if (now >= deadline) {
			stop(m, BRIG_E_CANCELLED, BRIG_LIMIT_WALL, "wall-clock timeout of %llu ms",
			     (unsigned long long)m->lim->wall_timeout_ms);
			break;
		}
		if (poll(p, fill_pollfds(m, p), poll_timeout(m, deadline, now)) < 0 &&
		    errno != EINTR)
			break;
		handle(m, p);
		if (!m->killed)
			check_limits(m);
	}
	/* A killed call's host calls were cancelled: they end with it. */
	if (m->killed)
		dispatch_wait_idle(m->disp);
	/* The guest flushed its output before answering: it is in the pipes now. */
	drain_ready(m);
	end = jail_cpu_us(m);
	m->call_cpu_us = end > base ? (uint64_t)(end - base) : 0;
}

void monitor_close(struct monitor *m)
{
	close_fd(&m->out_fd);
	close_fd(&m->err_fd);
	close_fd(&m->stdin_fd);
	free(m->sbuf);
	m->sbuf = NULL;
	m->disp->out_fd = -1;
	close_fd(&m->proto_fd);
	proto_reader_free(&m->reader);
	usage_free(&m->usage);
	json_decref(m->done_json);
	m->done_json = NULL;
	buf_free(&m->done_blob);
}
