#include "lib/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "host/fs.h"
#include "host/hostcall.h"
#include "host/http.h"
#include "host/kv.h"
#include "lib/proto.h"

struct dispatch_job {
	struct dispatch_job *next;
	uint32_t id;
	json_t *json;
	uint8_t *blob;
	size_t blob_len;
	unsigned gen; /* the guest generation that asked */
};

static void call_custom(struct dispatch *d, json_t *args, struct hc_reply *rep)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *fargs = json_object_get(args, "args");
	json_t *none = NULL; /* stands in for absent keyword arguments */
	const struct host_fn *f;
	char *argtext, *result = NULL, *msg = NULL;
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
	argtext = json_dumps(fargs ? fargs : (none = json_object()), JSON_COMPACT);
	json_decref(none);
	rc = f->fn(f->userdata, name, argtext ? argtext : "{}", &result, &msg);
	free(argtext);
	if (rc != 0) {
		hc_fail(rep, "RuntimeError", "%s", msg ? msg : "host function failed");
	} else {
		json_t *v = result ? json_loads(result, JSON_DECODE_ANY, &jerr) : json_null();
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
	const char *fn = json_string_value(json_object_get(job->json, "fn"));
	json_t *args = json_object_get(job->json, "args");

	if (!fn || (args && !json_is_object(args))) {
		hc_fail(rep, "ValueError", "malformed host call");
		return;
	}
	if (strcmp(fn, "call") == 0)
		call_custom(d, args, rep);
	else if (strcmp(fn, "http.request") == 0)
		http_request(d->http, args, job->blob, job->blob_len, rep);
	else if (strncmp(fn, "fs.", 3) == 0)
		fs_call(d->fs, fn + 3, args, job->blob, job->blob_len, rep);
	else if (strncmp(fn, "kv.", 3) == 0)
		kv_call(d->kv, fn + 3, args, rep);
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

static void encode_reply(struct dispatch *d, uint32_t id, struct hc_reply *rep, struct buf *out)
{
	json_t *j;

	if (rep->blob_len > d->max_reply)
		hc_fail(rep, "ValueError", "result of %zu bytes exceeds the frame limit",
			rep->blob_len);
	j = reply_json(rep);
	if (!j || proto_encode_msg(out, PROTO_REPLY, id, j, rep->blob, rep->blob_len) < 0) {
		/* Always answer, or the guest would wait forever. */
		json_decref(j);
		j = json_pack("{s:{s:s, s:s}}", "error", "type", "MemoryError", "message",
			      "host could not encode the reply");
		proto_encode_msg(out, PROTO_REPLY, id, j, NULL, 0);
	}
	json_decref(j);
}

static void job_free(struct dispatch_job *job)
{
	json_decref(job->json);
	free(job->blob);
	free(job);
}

static void run_job(struct dispatch *d, struct dispatch_job *job)
{
	struct hc_reply rep;
	struct buf frame = BUF_INIT;
	uint64_t one = 1;

	bool stale;

	hc_reply_init(&rep);
	route(d, job, &rep);
	encode_reply(d, job->id, &rep, &frame);
	hc_reply_clear(&rep);
	pthread_mutex_lock(&d->lock);
	d->pending--;
	/* The guest that asked was killed (a session call ended): nobody waits. */
	stale = job->gen != d->gen;
	pthread_mutex_unlock(&d->lock);
	/* Straight to the guest; the monitor only finishes what the socket refused. */
	if (!stale && dispatch_send(d, frame.data, frame.len) > 0)
		(void)!write(d->event_fd, &one, sizeof(one));
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
		while (!d->stopping &&
		       (!d->queue || d->outq.len - d->outq_off > DISPATCH_OUTQ_HIGH))
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stopping)
			break;
		job = d->queue;
		d->queue = job->next;
		if (!d->queue)
			d->queue_tail = NULL;
		d->queued_bytes -= job->blob_len;
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
	d->event_fd = -1;
	d->out_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->event_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return BRIG_E_INTERNAL;
	}
	return build_policies(d, caps, err, errlen);
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
		    size_t blob_len)
{
	struct dispatch_job *job = calloc(1, sizeof(*job));

	if (!job || (blob_len && !(job->blob = malloc(blob_len)))) {
		free(job);
		json_decref(json);
		return BRIG_E_NOMEM;
	}
	job->id = id;
	job->json = json;
	job->gen = d->gen;
	job->blob_len = blob_len;
	if (blob_len)
		memcpy(job->blob, blob, blob_len);
	pthread_mutex_lock(&d->lock);
	if (d->queue_tail)
		d->queue_tail->next = job;
	else
		d->queue = job;
	d->queue_tail = job;
	d->queued_bytes += blob_len;
	d->pending++;
	maybe_grow(d);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return BRIG_OK;
}

/* With d->lock held: write as much of the queue as the socket takes. */
static void flush_locked(struct dispatch *d)
{
	while (d->out_fd >= 0 && d->outq.len > d->outq_off) {
		ssize_t n = write(d->out_fd, d->outq.data + d->outq_off, d->outq.len - d->outq_off);

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
	if (d->outq_off == d->outq.len)
		d->outq.len = d->outq_off = 0;
	if (d->outq.len - d->outq_off <= DISPATCH_OUTQ_HIGH)
		pthread_cond_broadcast(&d->cond);
}

void dispatch_new_guest(struct dispatch *d)
{
	pthread_mutex_lock(&d->lock);
	d->gen++;
	d->outq.len = d->outq_off = 0;
	pthread_mutex_unlock(&d->lock);
}

bool dispatch_accepting(struct dispatch *d)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = d->pending < DISPATCH_MAX_PENDING && d->queued_bytes < DISPATCH_QUEUED_HIGH;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

ssize_t dispatch_send(struct dispatch *d, const void *p, size_t n)
{
	ssize_t left;

	pthread_mutex_lock(&d->lock);
	if (buf_append(&d->outq, p, n) < 0) {
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	flush_locked(d);
	left = (ssize_t)(d->outq.len - d->outq_off);
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
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	/* Calls not started yet are dropped: the guest is gone. */
	while (d->queue) {
		struct dispatch_job *job = d->queue;
		d->queue = job->next;
		job_free(job);
	}
	d->queue_tail = NULL;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
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
}
