/*
 * Sessions: a sandbox whose guest serves calls (REQ frames) until it is
 * freed.  A killed call kills the live guest and everything it started, but
 * not the jail: init stays, and so do the stopped snapshot holders, which is
 * what lets a poisoned session be restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/tree_copy.h"
#include "lib/proto.h"
#include "lib/sandbox.h"

#define MAX_SNAPSHOTS 16
#define MAX_HANDLERS 256

struct handler_def {
	char *name;
	char *code;
};

struct brig_snapshot {
	brig_session *session; /* NULL once the session is gone */
	int32_t holder;	       /* the stopped copy, as init named it: its pid in */
	int32_t holder_id;     /* the jail, and the id init gave it */
	char token[33];	       /* resynchronises the channel after a restore */
};

struct brig_session {
	struct sandbox sb;
	struct monitor m;
	brig_run_opts opts;
	pthread_mutex_t lock; /* one call at a time */
	uint32_t seq;
	bool started, ended, loaded;
	atomic_bool poisoned; /* read without the lock: calls hold it for long */
	struct handler_def handlers[MAX_HANDLERS];
	size_t nhandlers;
	brig_snapshot *snaps[MAX_SNAPSHOTS];
	size_t nsnaps;
	/* The scratch tmpfs's root, kept until free (the jail's may be reaped
	 * before), and one copy into it at a time. */
	int scratch_fd;
	pthread_mutex_t copy_lock;
};

void brig_call_opts_init(brig_call_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->gc = true;
}

/* ------------------------------------------------------------ the channel */

static int send_req(brig_session *s, json_t *req, const void *blob, size_t len, uint32_t *id)
{
	struct buf frame = BUF_INIT;
	ssize_t left;

	*id = ++s->seq;
	/* As a run's RUN frame does: the agent refuses a frame that would not fit. */
	if (json_object_set_new(req, "max_frame",
				json_integer((json_int_t)s->sb.lim.max_frame_bytes)))
		return BRIG_E_NOMEM;
	if (proto_encode_msg(&frame, PROTO_REQ, *id, req, blob, len) < 0) {
		buf_free(&frame);
		return BRIG_E_NOMEM;
	}
	left = dispatch_send(&s->sb.disp, frame.data, frame.len);
	buf_free(&frame);
	s->m.out_pending = left > 0;
	return left < 0 ? BRIG_E_INTERNAL : BRIG_OK;
}

/* Discard what a killed guest left half-written, in either direction. */
static void reset_channel(brig_session *s)
{
	char sink[4096];

	while (read(s->m.proto_fd, sink, sizeof(sink)) > 0)
		;
	proto_reader_free(&s->m.reader);
	proto_reader_init(&s->m.reader, s->sb.lim.max_frame_bytes);
	dispatch_new_guest(&s->sb.disp);
	s->m.out_pending = false;
}

/* The monitor's kill hook: end the live guest, keep init and the holders
 * (init knows which they are, and spares them only while they are stopped). */
static void kill_live(struct monitor *m, void *ud)
{
	(void)ud;
	if (jail_kill_guests(m->proc) < 0)
		jail_kill(m->proc); /* init does not answer: end the whole jail */
}

/* ----------------------------------------------------------- one request */

static void call_limits(brig_session *s, const brig_call_opts *o)
{
	s->sb.call_lim = s->sb.lim;
	if (o && o->wall_timeout_ms)
		s->sb.call_lim.wall_timeout_ms = o->wall_timeout_ms;
	if (o && o->cpu_timeout_ms)
		s->sb.call_lim.cpu_timeout_ms = o->cpu_timeout_ms;
	s->m.lim = &s->sb.call_lim;
}

static int usable(brig_session *s, brig_result *res)
{
	if (s->poisoned)
		return result_fail(res, BRIG_E_POISONED,
				   "the session was killed; restore or free it");
	if (s->ended || s->m.exited)
		return result_fail(res, BRIG_E_CONSUMED, "the session has ended");
	return BRIG_OK;
}

/* After a call the monitor ended: poison, and clean the channel. */
static void after_kill(brig_session *s, brig_result *res)
{
	res->limit = s->m.limit;
	result_fail(res, s->m.error, "%s", s->m.msg);
	res->exit_code = 137;
	res->signal = 9;
	s->poisoned = true;
	s->loaded = false;
	if (!s->m.exited)
		reset_channel(s);
}

/* The live guest died on its own: a SystemExit ends the session. */
static void after_exit(brig_session *s, brig_result *res, int64_t ooms)
{
	int st = s->m.live_status;

	if (WIFEXITED(st)) {
		res->exit_code = WEXITSTATUS(st);
		s->ended = true;
		return;
	}
	res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	res->exit_code = 128 + res->signal;
	s->poisoned = true;
	if (cgroup_oom_kills(&s->sb.cg) > ooms || sandbox_v8_oom(&s->sb, res, res->signal)) {
		res->limit = BRIG_LIMIT_MEMORY;
		result_fail(res, BRIG_E_LIMIT, "memory limit exceeded");
		return;
	}
	result_fail(res, BRIG_E_GUEST_ABORT, "the guest died from signal %d", res->signal);
}

/* A limit the guest survived (Python's MemoryError, a full disk). */
static void guest_limit(brig_session *s, brig_result *res)
{
	if (s->m.guest_limit == BRIG_LIMIT_NONE || res->exit_code == 0)
		return;
	res->limit = s->m.guest_limit;
	result_fail(res, BRIG_E_LIMIT, "%s limit exceeded",
		    s->m.guest_limit == BRIG_LIMIT_MEMORY ? "memory" : "disk (tmpfs size)");
}

/*
 * Send one request and wait for its answer, within the call's limits.
 * Returns BRIG_OK with s->m.done_json set, or an error recorded in res.
 */
static int exchange(brig_session *s, json_t *req, const void *blob, size_t len,
		    const brig_call_opts *o, brig_result *res)
{
	int64_t ooms = cgroup_oom_kills(&s->sb.cg);
	uint32_t id;
	int rc;

	call_limits(s, o);
	json_decref(s->m.done_json);
	s->m.done_json = NULL;
	s->m.res = res;
	/* Between calls every guest process is stopped (supervise.c); init
	 * wakes them while the request travels. */
	jail_call_begin(&s->sb.proc);
	if ((rc = send_req(s, req, blob, len, &id))) {
		jail_call_end(&s->sb.proc);
		return result_fail(res, rc, "cannot send the request");
	}
	monitor_call(&s->m, id);
	if (!s->m.exited)
		jail_call_end(&s->sb.proc);
	res->cpu_us = s->m.call_cpu_us;
	if (s->m.error != BRIG_OK) {
		after_kill(s, res);
		return res->error;
	}
	if (s->m.live_status >= 0) {
		after_exit(s, res, ooms);
		return res->error != BRIG_OK ? res->error : BRIG_E_CONSUMED;
	}
	if (!s->m.done) {
		s->ended = true;
		return result_fail(res, BRIG_E_GUEST_ABORT, "the sandbox ended");
	}
	res->exit_code = 0;
	return BRIG_OK;
}

/* One request, after which its changes to rwc mounts reach the host. */
static int request(brig_session *s, json_t *req, const void *blob, size_t len,
		   const brig_call_opts *o, brig_result *res)
{
	int rc = usable(s, res);

	if (rc)
		return rc;
	rc = exchange(s, req, blob, len, o, res);
	sandbox_proxy_report(&s->sb, res, false);
	if (sandbox_commit(&s->sb, res) != BRIG_OK && rc == BRIG_OK)
		rc = res->error;
	return rc;
}

static json_t *op(const char *name)
{
	return json_pack("{s:s}", "op", name);
}

/* The answer's "error" object, or NULL when the call succeeded. */
static json_t *answer_error(const brig_session *s)
{
	return json_object_get(s->m.done_json, "error");
}

static const char *error_text(json_t *err, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s", json_string_value(json_object_get(err, "type")) ?: "Error",
		 json_string_value(json_object_get(err, "message")) ?: "");
	return buf;
}

/* --------------------------------------------------------------- lifecycle */

static void wire_monitor(brig_session *s)
{
	struct monitor *m = &s->m;
	struct sandbox *sb = &s->sb;

	m->proc = &sb->proc, m->cg = &sb->cg, m->lim = &sb->lim, m->opts = &s->opts;
	m->disp = &sb->disp;
	m->proto_fd = sb->host_fds[0], m->out_fd = sb->host_fds[1], m->err_fd = sb->host_fds[2];
	m->stdin_fd = sb->host_fds[3];
	for (int i = 0; i < 4; i++)
		sb->host_fds[i] = -1; /* the monitor owns them now */
	sb->disp.out_fd = m->proto_fd;
	m->session = true;
	m->ctl_fd = sb->proc.ctl_fd;
	m->live_pid = 2; /* init's first child */
	m->kill = kill_live;
	m->kill_ud = s;
	monitor_open(m);
}

static int start(brig_session *s, brig_result *res)
{
	struct sandbox *sb = &s->sb;

	if (s->sb.lang == BRIG_LANG_SH)
		return result_fail(res, BRIG_E_UNSUPPORTED, "sessions run python or js, not sh");
	if (sandbox_validate(sb->ex, sb->lang, "", 0, NULL, &sb->lim, res) ||
	    sandbox_prepare(sb, "", 0, &s->opts, res) || sandbox_start(sb, res))
		return res->error;
	s->m.interrupt_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->m.break_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->m.interrupt_fd < 0 || s->m.break_fd < 0)
		return result_fail(res, BRIG_E_INTERNAL, "eventfd: %s", strerror(errno));
	wire_monitor(s);
	if (sb->proc.scratch_fd >= 0 &&
	    (s->scratch_fd = fcntl(sb->proc.scratch_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return result_fail(res, BRIG_E_INTERNAL, "dup: %s", strerror(errno));
	s->started = true;
	return BRIG_OK;
}

int brig_session_new(brig_executor *ex, brig_lang lang, const brig_run_opts *opts,
		     brig_session **out, char **why)
{
	brig_session *s;
	brig_result *res;
	int rc;

	if (why)
		*why = NULL;
	if (!ex || !out)
		return BRIG_E_INVAL;
	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(res = result_new())) {
		free(s);
		return BRIG_E_NOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->copy_lock, NULL);
	s->scratch_fd = -1;
	s->sb.ex = ex, s->sb.lang = lang;
	s->sb.proc.pidfd = s->sb.proc.ctl_fd = -1;
	for (int i = 0; i < 4; i++)
		s->sb.host_fds[i] = -1;
	s->sb.plan.proto_fd = s->sb.plan.stdout_fd = s->sb.plan.stderr_fd = -1;
	s->sb.plan.stdin_fd = -1;
	s->sb.plan.session = true;
	/* Set after each call; when it runs out, init freezes the guest. */
	s->sb.plan.timer_fd = s->sb.proc.timer_fd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->sb.plan.shared = s->sb.proc.shared =
	    mmap(NULL, sizeof(struct jail_shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s->m.interrupt_fd = s->m.break_fd = s->m.ctl_fd = -1;
	s->m.out_fd = s->m.err_fd = s->m.proto_fd = s->m.stdin_fd = -1;
	if (opts)
		s->opts = *opts;
	else
		brig_run_opts_init(&s->opts);
	s->opts.stdin_data = NULL; /* a session's stdin is empty */
	s->opts.stdin_stream = false;
	s->sb.lim = ex->limits;
	limits_resolve(&s->sb.lim, &s->opts.limits);
	if (s->sb.proc.shared == MAP_FAILED)
		s->sb.plan.shared = s->sb.proc.shared = NULL;
	rc = s->sb.proc.timer_fd < 0 || !s->sb.proc.shared
		 ? result_fail(res, BRIG_E_INTERNAL, "timer: %s", strerror(errno))
		 : start(s, res);
	if (rc) {
		if (why)
			*why = strdup(brig_result_message(res));
		brig_session_free(s);
	} else {
		*out = s;
	}
	brig_result_free(res);
	return rc;
}

void brig_session_free(brig_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nsnaps; i++)
		s->snaps[i]->session = NULL;
	if (s->started)
		monitor_close(&s->m);
	sandbox_cleanup(&s->sb);
	if (s->m.interrupt_fd >= 0)
		close(s->m.interrupt_fd);
	if (s->m.break_fd >= 0)
		close(s->m.break_fd);
	if (s->sb.proc.timer_fd >= 0)
		close(s->sb.proc.timer_fd);
	if (s->sb.proc.shared)
		munmap(s->sb.proc.shared, sizeof(struct jail_shared));
	for (size_t i = 0; i < s->nhandlers; i++) {
		free(s->handlers[i].name);
		free(s->handlers[i].code);
	}
	if (s->scratch_fd >= 0)
		close(s->scratch_fd);
	pthread_mutex_destroy(&s->copy_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool brig_session_poisoned(brig_session *s)
{
	return s && atomic_load(&s->poisoned);
}

void brig_session_interrupt(brig_session *s)
{
	uint64_t one = 1;

	/* Only an eventfd write: safe from any thread, even mid-call. */
	if (s && s->m.interrupt_fd >= 0)
		(void)!write(s->m.interrupt_fd, &one, sizeof(one));
}

void brig_session_break(brig_session *s)
{
	uint64_t one = 1;

	if (s && s->m.break_fd >= 0)
		(void)!write(s->m.break_fd, &one, sizeof(one));
}

/* Drop interrupts that arrived while no call was running. */
static void clear_interrupt(brig_session *s)
{
	uint64_t n;

	(void)!read(s->m.interrupt_fd, &n, sizeof(n));
	(void)!read(s->m.break_fd, &n, sizeof(n));
}

/* ------------------------------------------------------------------- runs */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* exec's answer: ok (exit 0), an uncaught exception (exit 1), or an exit. */
static void exec_outcome(brig_session *s, brig_result *res)
{
	json_t *ex = json_object_get(s->m.done_json, "exit");

	if (json_is_integer(ex)) {
		res->exit_code = (int)json_integer_value(ex);
		s->ended = true;
	} else {
		res->exit_code = answer_error(s) ? 1 : 0;
	}
}

int brig_session_run(brig_session *s, const char *code, size_t len, const brig_call_opts *o,
		     brig_result **out)
{
	brig_result *res = result_new();
	uint64_t t0 = now_us();
	json_t *req;
	int rc;

	if (out)
		*out = res;
	if (!res || !out)
		return BRIG_E_NOMEM;
	if (!s || (!code && len))
		return result_fail(res, BRIG_E_INVAL, "session and code are required");
	if (len > s->sb.lim.max_code_bytes)
		return result_fail(res, BRIG_E_INVAL, "code exceeds the code size limit");
	/* Without a filename the guest names each call "<cell N>". */
	req = json_pack("{s:s, s:s, s:s}", "op", "exec", "filename",
			o && o->filename ? o->filename : "", "mode",
			o && o->interactive ? "single" : "exec");
	pthread_mutex_lock(&s->lock);
	clear_interrupt(s);
	rc = request(s, req, code, len, o, res);
	if (rc == BRIG_OK) {
		exec_outcome(s, res);
		guest_limit(s, res);
		rc = res->error;
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(req);
	res->wall_us = now_us() - t0;
	return res->error;
}

int brig_session_complete(brig_session *s, const char *code, bool *complete)
{
	brig_result *res = result_new();
	json_t *req = op("complete");
	int rc;

	if (!res || !s || !code || !complete) {
		brig_result_free(res);
		json_decref(req);
		return res ? BRIG_E_INVAL : BRIG_E_NOMEM;
	}
	pthread_mutex_lock(&s->lock);
	rc = request(s, req, code, strlen(code), NULL, res);
	if (rc == BRIG_OK)
		*complete = json_is_true(json_object_get(s->m.done_json, "complete"));
	pthread_mutex_unlock(&s->lock);
	json_decref(req);
	brig_result_free(res);
	return rc;
}

/* --------------------------------------------------------------- handlers */

static bool valid_name(const char *name)
{
	return name && *name && strlen(name) <= 128;
}

static struct handler_def *find_handler(brig_session *s, const char *name)
{
	for (size_t i = 0; i < s->nhandlers; i++) {
		if (strcmp(s->handlers[i].name, name) == 0)
			return &s->handlers[i];
	}
	return NULL;
}

int brig_session_add_handler(brig_session *s, const char *name, const char *code)
{
	struct handler_def *h;
	char *n, *c;
	int rc = BRIG_OK;

	if (!s || !valid_name(name) || !code)
		return BRIG_E_INVAL;
	pthread_mutex_lock(&s->lock);
	h = find_handler(s, name);
	if (s->loaded || (!h && s->nhandlers >= MAX_HANDLERS)) {
		rc = s->loaded ? BRIG_E_CONSUMED : BRIG_E_LIMIT;
	} else if (!(n = strdup(name)) || !(c = strdup(code))) {
		free(n);
		rc = BRIG_E_NOMEM;
	} else if (h) { /* replacing a handler keeps its place */
		free(h->name), free(h->code);
		*h = (struct handler_def){n, c};
	} else {
		s->handlers[s->nhandlers++] = (struct handler_def){n, c};
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int brig_session_remove_handler(brig_session *s, const char *name)
{
	struct handler_def *h;
	int rc = BRIG_OK;

	if (!s || !valid_name(name))
		return BRIG_E_INVAL;
	pthread_mutex_lock(&s->lock);
	h = find_handler(s, name);
	if (s->loaded || !h) {
		rc = s->loaded ? BRIG_E_CONSUMED : BRIG_E_NOTFOUND;
	} else {
		free(h->name), free(h->code);
		*h = s->handlers[--s->nhandlers];
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int brig_session_clear_handlers(brig_session *s)
{
	int rc = BRIG_OK;

	if (!s)
		return BRIG_E_INVAL;
	pthread_mutex_lock(&s->lock);
	if (s->loaded) {
		rc = BRIG_E_CONSUMED;
	} else {
		for (size_t i = 0; i < s->nhandlers; i++)
			free(s->handlers[i].name), free(s->handlers[i].code);
		s->nhandlers = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static json_t *load_request(brig_session *s)
{
	json_t *list = json_array(), *req = op("load");

	for (size_t i = 0; i < s->nhandlers; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}", "name", s->handlers[i].name,
						      "code", s->handlers[i].code));
	json_object_set_new(req, "handlers", list);
	return req;
}

int brig_session_load(brig_session *s, brig_result **out)
{
	brig_result *res = result_new();
	char msg[512];
	json_t *req, *err;
	int rc;

	if (out)
		*out = res;
	if (!res)
		return BRIG_E_NOMEM;
	if (!s)
		return result_fail(res, BRIG_E_INVAL, "no session");
	pthread_mutex_lock(&s->lock);
	if (s->loaded) {
		rc = result_fail(res, BRIG_E_CONSUMED, "handlers are already loaded");
	} else {
		req = load_request(s);
		rc = request(s, req, NULL, 0, NULL, res);
		json_decref(req);
		if (rc == BRIG_OK && (err = answer_error(s)))
			rc =
			    result_fail(res, BRIG_E_INVAL, "%s", error_text(err, msg, sizeof(msg)));
		s->loaded = rc == BRIG_OK;
	}
	pthread_mutex_unlock(&s->lock);
	if (!out)
		brig_result_free(res);
	return rc;
}

int brig_session_unload(brig_session *s)
{
	brig_result *res = result_new();
	json_t *req = op("unload");
	int rc;

	if (!res || !s) {
		brig_result_free(res);
		json_decref(req);
		return res ? BRIG_E_INVAL : BRIG_E_NOMEM;
	}
	pthread_mutex_lock(&s->lock);
	rc = s->loaded ? request(s, req, NULL, 0, NULL, res) : BRIG_OK;
	if (rc == BRIG_OK)
		s->loaded = false;
	pthread_mutex_unlock(&s->lock);
	json_decref(req);
	brig_result_free(res);
	return rc;
}

/* Map a handler's raised error to a code. */
static int handler_error(brig_session *s, json_t *err, brig_result *res)
{
	const char *type = json_string_value(json_object_get(err, "type"));
	char msg[512];
	int code = BRIG_E_GUEST_ABORT;

	if (type && (strcmp(type, "RecursionError") == 0 || strcmp(type, "StackOverflow") == 0))
		code = BRIG_E_STACK_OVERFLOW;
	else if (type && strcmp(type, "NotFound") == 0)
		code = BRIG_E_NOTFOUND;
	(void)s;
	return result_fail(res, code, "%s", error_text(err, msg, sizeof(msg)));
}

static int call_loaded(brig_session *s, const char *name, const char *event_json,
		       const brig_call_opts *o, char **result_json, brig_result *res)
{
	json_t *req, *err;
	int rc;

	/* A poisoned session says so before anything about its handlers. */
	if ((rc = usable(s, res)))
		return rc;
	if (!s->loaded)
		return result_fail(res, BRIG_E_CONSUMED, "handlers are not loaded");
	req = json_pack("{s:s, s:s, s:b}", "op", "call", "name", name, "gc", !o || o->gc);
	rc = request(s, req, event_json, strlen(event_json), o, res);
	json_decref(req);
	if (rc != BRIG_OK)
		return rc;
	if ((err = answer_error(s)))
		return handler_error(s, err, res);
	*result_json = strndup(s->m.done_blob.data ? s->m.done_blob.data : "null",
			       s->m.done_blob.data ? s->m.done_blob.len : 4);
	return *result_json ? BRIG_OK : result_fail(res, BRIG_E_NOMEM, "out of memory");
}

int brig_session_call_handler(brig_session *s, const char *name, const char *event_json,
			      const brig_call_opts *o, char **result_json, brig_result **out)
{
	brig_result *res = result_new();
	uint64_t t0 = now_us();
	json_t *event;
	int rc;

	if (!res)
		return BRIG_E_NOMEM;
	if (result_json)
		*result_json = NULL;
	event = event_json ? json_loads(event_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	if (!s || !valid_name(name) || !event || !result_json) {
		rc = result_fail(res, BRIG_E_INVAL, "a handler name and a JSON event are needed");
	} else {
		pthread_mutex_lock(&s->lock);
		clear_interrupt(s);
		rc = call_loaded(s, name, event_json, o, result_json, res);
		pthread_mutex_unlock(&s->lock);
	}
	json_decref(event);
	res->wall_us = now_us() - t0;
	if (out)
		*out = res;
	else
		brig_result_free(res);
	return rc;
}

/* -------------------------------------------------------------- snapshots */

static int snapshot_error(json_t *err)
{
	const char *type = json_string_value(json_object_get(err, "type"));

	return type && strcmp(type, "NotSupported") == 0 ? BRIG_E_UNSUPPORTED : BRIG_E_INTERNAL;
}

/*
 * The guest forks a stopped copy of itself; init, watching while the request
 * runs, takes the one child of its own that stopped as the holder and names
 * it.  The guest's answer names nothing.
 */
static int take_snapshot(brig_session *s, brig_snapshot *snap, brig_result *res)
{
	json_t *req, *err;
	char msg[512];
	uint8_t raw[16];
	int rc;

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return result_fail(res, BRIG_E_INTERNAL, "getrandom failed");
	for (int i = 0; i < 16; i++)
		snprintf(snap->token + 2 * i, 3, "%02x", raw[i]);
	if ((rc = usable(s, res)))
		return rc;
	if (jail_snap_begin(&s->sb.proc) < 0)
		return result_fail(res, BRIG_E_INTERNAL, "the sandbox's init did not answer");
	req = json_pack("{s:s, s:s, s:b}", "op", "snapshot", "token", snap->token, "loaded",
			s->loaded);
	rc = request(s, req, NULL, 0, NULL, res);
	json_decref(req);
	/* The guest could not fork (JS without the node addon) or copy its files. */
	if (rc == BRIG_OK && (err = answer_error(s)))
		rc = result_fail(res, snapshot_error(err), "%s", error_text(err, msg, sizeof(msg)));
	if (jail_snap_end(&s->sb.proc, rc == BRIG_OK, &snap->holder, &snap->holder_id) < 0 &&
	    rc == BRIG_OK)
		return result_fail(res, BRIG_E_INTERNAL, "the sandbox's init did not answer");
	if (rc != BRIG_OK)
		return rc;
	if (!snap->holder)
		return result_fail(res, BRIG_E_INTERNAL, "the guest left no stopped copy");
	snap->session = s;
	s->snaps[s->nsnaps++] = snap;
	return BRIG_OK;
}

int brig_session_snapshot(brig_session *s, brig_snapshot **out)
{
	brig_result *res;
	brig_snapshot *snap;
	int rc;

	if (!s || !out)
		return BRIG_E_INVAL;
	*out = NULL;
	/* node forks with brig's addon, built only where node's headers are. */
	if (s->sb.lang == BRIG_LANG_JS && !sandbox_native_has(s->sb.ex, "brig_node.node"))
		return BRIG_E_UNSUPPORTED;
	if (!(res = result_new()) || !(snap = calloc(1, sizeof(*snap)))) {
		brig_result_free(res);
		return BRIG_E_NOMEM;
	}
	pthread_mutex_lock(&s->lock);
	rc = s->nsnaps >= MAX_SNAPSHOTS ? BRIG_E_LIMIT : take_snapshot(s, snap, res);
	pthread_mutex_unlock(&s->lock);
	brig_result_free(res);
	if (rc)
		free(snap);
	else
		*out = snap;
	return rc;
}

/* Wake the holder, which forks a new live guest that takes over the channel. */
static int revive(brig_session *s, const brig_snapshot *snap, brig_result *res)
{
	json_t *req, *pid;
	ssize_t left;
	int rc;

	/* init kills the live guest and all it started (frozen or not: no thaw
	 * first), then wakes the snapshot's spare. */
	rc = jail_restore(&s->sb.proc, snap->holder, snap->holder_id);
	if (rc < 0)
		jail_kill(&s->sb.proc); /* init does not answer: end the whole jail */
	reset_channel(s);
	s->m.live_pid = -1;
	s->m.live_status = -1;
	s->poisoned = s->ended = false;
	if (rc < 0)
		return result_fail(res, BRIG_E_INTERNAL, "the sandbox's init did not answer");
	/* The guest killed its copy, or woke it (init then killed it). */
	if (rc > 0)
		return result_fail(res, BRIG_E_NOTFOUND, "the snapshot's stopped copy is gone");
	req = op("restore");
	/* The new guest skips everything before this token (see _agent.py). */
	left = dispatch_send(&s->sb.disp, snap->token, strlen(snap->token));
	s->m.out_pending = left > 0;
	rc = request(s, req, NULL, 0, NULL, res);
	json_decref(req);
	if (rc != BRIG_OK)
		return rc;
	pid = json_object_get(s->m.done_json, "pid");
	if (!json_is_integer(pid))
		return result_fail(res, BRIG_E_INTERNAL, "the restored guest did not report");
	s->m.live_pid = (int32_t)json_integer_value(pid);
	s->loaded = json_is_true(json_object_get(s->m.done_json, "loaded"));
	return BRIG_OK;
}

int brig_session_restore(brig_session *s, const brig_snapshot *snap)
{
	brig_result *res;
	int rc;

	if (!s || !snap || snap->session != s)
		return BRIG_E_INVAL;
	if (!(res = result_new()))
		return BRIG_E_NOMEM;
	pthread_mutex_lock(&s->lock);
	rc = s->m.exited ? BRIG_E_CONSUMED : revive(s, snap, res);
	if (rc)
		s->poisoned = true;
	pthread_mutex_unlock(&s->lock);
	brig_result_free(res);
	return rc;
}

void brig_snapshot_free(brig_snapshot *snap)
{
	brig_session *s;

	if (!snap)
		return;
	if ((s = snap->session)) {
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->nsnaps; i++) {
			if (s->snaps[i] == snap)
				s->snaps[i] = s->snaps[--s->nsnaps];
		}
		if (!s->m.exited)
			jail_drop(&s->sb.proc, snap->holder, snap->holder_id);
		pthread_mutex_unlock(&s->lock);
	}
	free(snap);
}

/* ------------------------------------------------------------- file copies */

/*
 * Neither session's call lock is taken: a copy touches no channel, only the
 * tmpfs roots each session holds until it is freed, so it neither waits
 * for a running call nor holds one up (the Python SDK's fork sets up the
 * child while its files are copied).
 */
int brig_session_copy_files(brig_session *dst, brig_session *src, char **why)
{
	static const struct tree_dir trees[] = {{"tmp", "/tmp"}, {"home", JAIL_HOME}};
	char msg[PATH_MAX + 128] = "";
	int rc;

	if (why)
		*why = NULL;
	if (!dst || !src || dst == src)
		return BRIG_E_INVAL;
	if (dst->scratch_fd < 0 || src->scratch_fd < 0) {
		snprintf(msg, sizeof(msg), "the jail did not hand over its files");
		rc = BRIG_E_INTERNAL;
	} else {
		pthread_mutex_lock(&dst->copy_lock);
		rc = tree_replace(src->scratch_fd, dst->scratch_fd, trees, 2, dst->sb.plan.host_uid,
				  dst->sb.plan.host_gid, msg, sizeof(msg));
		pthread_mutex_unlock(&dst->copy_lock);
		rc = rc == -ENOSPC || rc == -EDQUOT ? BRIG_E_LIMIT : rc ? BRIG_E_INTERNAL : BRIG_OK;
	}
	if (rc && why)
		*why = strdup(msg);
	return rc;
}
