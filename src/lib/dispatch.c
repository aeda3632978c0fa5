#include "lib/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host/fs.h"
#include "host/hostcall.h"
#include "host/http.h"
#include "host/kv.h"
#include "lib/packages.h"
#include "lib/proto.h"

struct dispatch_job {
	struct dispatch_job *next;
	uint32_t id;
	json_t *json;
	uint8_t *blob;
	size_t blob_len;
	size_t cost;		  /* charged to the budget until the job ends */
	unsigned gen;		  /* the guest generation that asked */
	struct hc_cancel *cancel; /* fired when the run or the session call ends */
};

/* A string argument as a C string: NULL if absent, not a string, or holding NUL. */
static const char *c_string(json_t *args, const char *key)
{
	json_t *s = json_object_get(args, key);
	const char *v = json_string_value(s);

	return v && strlen(v) == json_string_length(s) ? v : NULL;
}

/* The call a host function is serving, as its callback sees it. */
struct brig_hostcall {
	const char *name;
	struct hc_cancel *cancel;
};

/*
 * The one thread-local in the library: which call this worker thread is
 * serving, so that an embedder's callback, whose signature carries no
 * context, can find its call (brig_hostcall_current).
 */
static _Thread_local brig_hostcall *current_call;

brig_hostcall *brig_hostcall_current(void)
{
	return current_call;
}

const char *brig_hostcall_name(const brig_hostcall *call)
{
	return call ? call->name : NULL;
}

bool brig_hostcall_cancelled(const brig_hostcall *call)
{
	return call && hc_cancelled(call->cancel);
}

int brig_hostcall_cancel_fd(const brig_hostcall *call)
{
	return call ? hc_cancel_fd(call->cancel) : -1;
}

/* Bytes the guest makes the host hold now; with d->lock held. */
static size_t held_locked(const struct dispatch *d)
{
	return d->admitted + (d->outq.len - d->outq_off);
}

/*
 * With d->lock held, after the charges went down: let the workers start
 * calls again, and wake the monitor if it waits to admit one.
 */
static void room_freed_locked(struct dispatch *d)
{
	uint64_t one = 1;
	size_t held = held_locked(d);

	if (held <= d->budget)
		pthread_cond_broadcast(&d->cond);
	if (d->want_room && held + d->want_room <= d->budget) {
		d->want_room = 0;
		(void)!write(d->event_fd, &one, sizeof(one));
	}
}

static void call_custom(struct dispatch *d, struct dispatch_job *job, json_t *args,
			struct hc_reply *rep)
{
	const char *name = c_string(args, "name");
	json_t *fargs = json_object_get(args, "args");
	const struct host_fn *f;
	char *argtext, *result = NULL, *msg = NULL;
	brig_hostcall call;
	json_error_t jerr;
	int rc;

	if (!name || (fargs && !json_is_object(fargs))) {
		hc_fail(rep, "ValueError", "call() needs a function name and keyword arguments");
		return;
	}
	if (!(f = fn_table_find(&d->caps->fns, name))) {
		hc_fail(rep, "RuntimeError", "unknown host function: %s", name);
		return;
	}
	argtext = fargs ? json_dumps(fargs, JSON_COMPACT) : strdup("{}");
	if (!argtext) {
		hc_fail(rep, "MemoryError", "host could not encode the arguments");
		return;
	}
	call = (brig_hostcall){name, job->cancel};
	current_call = &call;
	rc = f->fn(f->userdata, name, argtext, &result, &msg);
	current_call = NULL;
	free(argtext);
	if (rc != 0) {
		hc_fail(rep, "RuntimeError", "%s", msg ? msg : "host function failed");
	} else if (result && proto_json_cost(result, strlen(result)) > d->max_reply) {
		/* Parsing it could take many times its size: refuse before. */
		hc_fail(rep, "ValueError", "result of host function %s is too large (%zu bytes)",
			name, strlen(result));
	} else {
		json_t *v = result ? json_loads(result, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr)
				   : json_null();
		if (v)
			hc_ok(rep, v);
		else
			hc_fail(rep, "RuntimeError", "host function %s returned invalid JSON",
				name);
	}
	free(result);
	free(msg);
}

static void route(struct dispatch *d, struct dispatch_job *job, struct hc_reply *rep)
{
	const char *fn = c_string(job->json, "fn");
	json_t *args = json_object_get(job->json, "args");

	if (!fn || (args && !json_is_object(args))) {
		hc_fail(rep, "ValueError", "malformed host call");
		return;
	}
	if (strcmp(fn, "call") == 0)
		call_custom(d, job, args, rep);
	else if (strcmp(fn, "http.request") == 0)
		http_request(d->http, args, job->blob, job->blob_len, job->cancel, rep);
	else if (strncmp(fn, "fs.", 3) == 0)
		fs_call(d->fs, fn + 3, args, job->blob, job->blob_len, rep);
	else if (strncmp(fn, "kv.", 3) == 0)
		kv_call(d->kv, fn + 3, args, rep);
	else if (strcmp(fn, "pkg.install") == 0 && d->pkg)
		pkg_install(d->pkg, args, job->cancel, rep);
	else
		hc_fail(rep, "RuntimeError", "unknown host function: %s", fn);
}

static json_t *reply_json(const struct hc_reply *rep)
{
	if (rep->err_type)
		return json_pack("{s:{s:s, s:s}}", "error", "type", rep->err_type, "message",
				 rep->err_msg);
	return json_pack("{s:O}", "ok", rep->value ? rep->value : json_null());
}

static void encode_error(uint32_t id, const char *type, const char *msg, struct buf *out)
{
	json_t *j = json_pack("{s:{s:s, s:s}}", "error", "type", type, "message", msg);

	out->len = 0;
	if (j)
		proto_encode_msg(out, PROTO_REPLY, id, j, NULL, 0);
	json_decref(j);
}

static void encode_reply(struct dispatch *d, uint32_t id, struct hc_reply *rep, struct buf *out)
{
	json_t *j;
	char msg[160];

	if (rep->blob_len > d->max_reply)
		hc_fail(rep, "ValueError", "result of %zu bytes exceeds the frame limit",
			rep->blob_len);
	j = reply_json(rep);
	if (!j || proto_encode_msg(out, PROTO_REPLY, id, j, rep->blob, rep->blob_len) < 0) {
		/* Always answer, or the guest would wait forever. */
		encode_error(id, "MemoryError", "host could not encode the reply", out);
	} else if (out->len > d->max_reply) {
		snprintf(msg, sizeof(msg), "result of %zu bytes exceeds the frame limit", out->len);
		encode_error(id, "ValueError", msg, out);
	}
	json_decref(j);
}

static void job_free(struct dispatch_job *job)
{
	json_decref(job->json);
	free(job->blob);
	hc_cancel_unref(job->cancel);
	free(job);
}

/* With d->lock held: write as much of the queue as the socket takes. */
static void flush_locked(struct dispatch *d)
{
	while (d->out_fd >= 0 && d->outq.len > d->outq_off) {
		/* No SIGPIPE for the embedder when the guest is gone. */
		ssize_t n = send(d->out_fd, d->outq.data + d->outq_off, d->outq.len - d->outq_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			/* The guest is gone; it will be reaped. */
			d->outq.len = d->outq_off = 0;
		}
		if (n <= 0)
			break;
		d->outq_off += (size_t)n;
	}
	if (d->outq_off == d->outq.len) {
		d->outq.len = d->outq_off = 0;
		/* Let a buffer grown by a burst of replies go. */
		if (d->outq.cap > (1u << 20))
			buf_free(&d->outq);
	} else if (d->outq_off >= (64u << 10) && d->outq_off >= d->outq.len / 2) {
		/* What was sent must not stay: only unsent bytes are charged. */
		memmove(d->outq.data, d->outq.data + d->outq_off, d->outq.len - d->outq_off);
		d->outq.len -= d->outq_off;
		d->outq_off = 0;
	}
	room_freed_locked(d);
}

/* With d->lock held: append to the queue and write what the socket takes. */
static ssize_t send_locked(struct dispatch *d, const void *p, size_t n)
{
	if (buf_append(&d->outq, p, n) < 0)
		return -1;
	flush_locked(d);
	return (ssize_t)(d->outq.len - d->outq_off);
}

static void run_job(struct dispatch *d, struct dispatch_job *job)
{
	struct hc_reply rep;
	struct buf frame = BUF_INIT;
	uint64_t one = 1;
	bool stale;

	hc_reply_init(&rep);
	if (hc_cancelled(job->cancel))
		hc_fail(&rep, "RuntimeError", "host call cancelled: the run or call ended");
	else
		route(d, job, &rep);
	encode_reply(d, job->id, &rep, &frame);
	hc_reply_clear(&rep);
	pthread_mutex_lock(&d->lock);
	/* The guest that asked was killed (a session call ended): nobody waits. */
	stale = job->gen != d->gen;
	/* Straight to the guest; the monitor only finishes what the socket refused. */
	if (!stale && frame.len && send_locked(d, frame.data, frame.len) > 0)
		(void)!write(d->event_fd, &one, sizeof(one));
	/* The reply is charged now (while unread): release the call's cost. */
	d->pending--;
	d->admitted -= job->cost;
	if (!d->pending)
		pthread_cond_broadcast(&d->idle);
	room_freed_locked(d);
	pthread_mutex_unlock(&d->lock);
	buf_free(&frame);
	job_free(job);
}

static void *worker(void *arg)
{
	struct dispatch *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct dispatch_job *job;

		/* Replies the guest does not read hold back new work. */
		while (!d->stopping && (!d->queue || held_locked(d) > d->budget))
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stopping)
			break;
		job = d->queue;
		d->queue = job->next;
		if (!d->queue)
			d->queue_tail = NULL;
		pthread_mutex_unlock(&d->lock);
		run_job(d, job);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static int build_policies(struct dispatch *d, const brig_caps *caps, char *err, size_t errlen)
{
	struct fs_mount_spec specs[64];
	int rc;

	if (caps->nmounts > sizeof(specs) / sizeof(specs[0])) {
		snprintf(err, errlen, "too many mounts (at most 64)");
		return BRIG_E_INVAL;
	}
	for (size_t i = 0; i < caps->nmounts; i++)
		specs[i] = (struct fs_mount_spec){caps->mounts[i].vpath, caps->mounts[i].host_path,
						  caps->mounts[i].mode};
	if ((rc = http_policy_new((const char *const *)caps->hosts.v, caps->hosts.n, &caps->http,
				  &d->http, err, errlen)))
		return rc;
	if ((rc = fs_table_new(specs, caps->nmounts, &caps->fs, &d->fs, err, errlen)))
		return rc;
	d->kv = caps->kv;
	if (!d->kv) {
		if ((rc = brig_kv_new(NULL, &d->kv)))
			return rc;
		d->own_kv = true;
	}
	return BRIG_OK;
}

int dispatch_init(struct dispatch *d, const brig_caps *caps, size_t max_reply, char *err,
		  size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->caps = caps;
	d->max_reply = max_reply;
	/* One call of the largest size always fits, alone. */
	d->budget = max_reply + DISPATCH_CALL_OVERHEAD;
	d->event_fd = -1;
	d->out_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	pthread_cond_init(&d->idle, NULL);
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->event_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return BRIG_E_INTERNAL;
	}
	return build_policies(d, caps, err, errlen);
}

size_t dispatch_cost(const char *json, size_t json_len, size_t blob_len)
{
	return DISPATCH_CALL_OVERHEAD + proto_json_cost(json, json_len) + blob_len;
}

bool dispatch_room(struct dispatch *d, size_t cost)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = cost <= d->budget && held_locked(d) + cost <= d->budget;
	if (!ok && cost <= d->budget)
		d->want_room = cost;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

bool dispatch_waiting(struct dispatch *d)
{
	bool waiting;

	pthread_mutex_lock(&d->lock);
	waiting = d->want_room != 0;
	pthread_mutex_unlock(&d->lock);
	return waiting;
}

/* Start another worker while every existing one may be busy. */
static void maybe_grow(struct dispatch *d)
{
	if (d->nworkers >= DISPATCH_MAX_WORKERS || d->pending <= (size_t)d->nworkers)
		return;
	if (pthread_create(&d->workers[d->nworkers], NULL, worker, d) == 0)
		d->nworkers++;
}

int dispatch_submit(struct dispatch *d, uint32_t id, json_t *json, const uint8_t *blob,
		    size_t blob_len, size_t cost)
{
	struct dispatch_job *job = calloc(1, sizeof(*job));

	if (!job || (blob_len && !(job->blob = malloc(blob_len)))) {
		free(job);
		json_decref(json);
		return BRIG_E_NOMEM;
	}
	job->id = id;
	job->json = json;
	job->blob_len = blob_len;
	job->cost = cost;
	if (blob_len)
		memcpy(job->blob, blob, blob_len);
	pthread_mutex_lock(&d->lock);
	if (!d->cancel)
		d->cancel = hc_cancel_new();
	if (!d->cancel) {
		pthread_mutex_unlock(&d->lock);
		job_free(job);
		return BRIG_E_NOMEM;
	}
	job->cancel = hc_cancel_ref(d->cancel);
	job->gen = d->gen;
	if (d->queue_tail)
		d->queue_tail->next = job;
	else
		d->queue = job;
	d->queue_tail = job;
	d->admitted += cost;
	d->pending++;
	maybe_grow(d);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return BRIG_OK;
}

int dispatch_refuse(struct dispatch *d, uint32_t id, size_t cost)
{
	struct buf frame = BUF_INIT;
	char msg[200];
	ssize_t left;

	snprintf(msg, sizeof(msg),
		 "host call too large: its arguments would take about %zu bytes of host "
		 "memory, over the budget of %zu (max_frame_bytes)",
		 cost, d->budget);
	encode_error(id, "ValueError", msg, &frame);
	left = frame.len ? dispatch_send(d, frame.data, frame.len) : -1;
	buf_free(&frame);
	return left < 0 ? BRIG_E_NOMEM : BRIG_OK;
}

void dispatch_cancel(struct dispatch *d)
{
	pthread_mutex_lock(&d->lock);
	/* Later calls get a fresh token (sessions go on after a kill). */
	hc_cancel_fire(d->cancel);
	hc_cancel_unref(d->cancel);
	d->cancel = NULL;
	/* Calls not started yet are dropped: the guest that asked is gone. */
	while (d->queue) {
		struct dispatch_job *job = d->queue;

		d->queue = job->next;
		d->pending--;
		d->admitted -= job->cost;
		job_free(job);
	}
	d->queue_tail = NULL;
	if (!d->pending)
		pthread_cond_broadcast(&d->idle);
	room_freed_locked(d);
	pthread_mutex_unlock(&d->lock);
}

void dispatch_wait_idle(struct dispatch *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->pending)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

void dispatch_new_guest(struct dispatch *d)
{
	dispatch_cancel(d);
	pthread_mutex_lock(&d->lock);
	d->gen++;
	d->outq.len = d->outq_off = 0;
	room_freed_locked(d);
	pthread_mutex_unlock(&d->lock);
}

ssize_t dispatch_send(struct dispatch *d, const void *p, size_t n)
{
	ssize_t left;

	pthread_mutex_lock(&d->lock);
	left = send_locked(d, p, n);
	pthread_mutex_unlock(&d->lock);
	return left;
}

size_t dispatch_flush(struct dispatch *d)
{
	uint64_t n;
	size_t left;

	(void)!read(d->event_fd, &n, sizeof(n));
	pthread_mutex_lock(&d->lock);
	flush_locked(d);
	left = d->outq.len - d->outq_off;
	pthread_mutex_unlock(&d->lock);
	return left;
}

void dispatch_destroy(struct dispatch *d)
{
	dispatch_cancel(d);
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	/* Calls in progress were cancelled; a C function that ignores it is waited for. */
	for (int i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i], NULL);
	http_policy_free(d->http);
	fs_table_free(d->fs);
	if (d->own_kv)
		brig_kv_free(d->kv);
	buf_free(&d->outq);
	if (d->event_fd >= 0)
		close(d->event_fd);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	pthread_cond_destroy(&d->idle);
}
