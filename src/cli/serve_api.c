/*
 * The /v1 endpoints of `brig serve`: each turns a checked request into a
 * run or a session call and its result into a reply.  Results are the
 * library's own JSON (brig_result_to_json), as `brig --json` prints them.
 */
#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/hostfn_cmd.h"
#include "util/buf.h"
#include "util/utf8.h"

#define ERRLEN 512

void serve_reply_error(struct serve_reply *r, unsigned status, const char *error, const char *fmt,
		       ...)
{
	char msg[ERRLEN];
	struct buf clean = BUF_INIT;
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(&clean, msg, strlen(msg));
	o = json_pack("{s:s, s:s}", "error", error, "message", clean.data ? clean.data : "");
	buf_free(&clean);
	r->status = status;
	r->content_type = "application/json";
	free(r->body);
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
}

static void reply_json(struct serve_reply *r, unsigned status, json_t *o)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(o);
	if (!r->body)
		serve_reply_error(r, 500, "internal", "out of memory");
}

/* The status a result is answered with: the run's failure is the server's? */
static unsigned result_status(int error)
{
	switch (error) {
	case BRIG_E_INVAL:
		return 400;
	case BRIG_E_UNAVAILABLE:
	case BRIG_E_INTERNAL:
	case BRIG_E_NOMEM:
		return 500;
	default:
		return 200;
	}
}

static void reply_result(struct serve_reply *r, const brig_result *res)
{
	char *j = brig_result_to_json(res);

	if (!j) {
		serve_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	r->status = result_status(brig_result_error(res));
	r->content_type = "application/json";
	r->body = j;
}

/* Parse the body; 400 and -1 on any fault. */
static int parse(const struct serve_call *c, unsigned allowed, unsigned required,
		 struct serve_req *req, struct serve_reply *r)
{
	char err[ERRLEN];

	if (serve_req_parse(c->body, c->body_len, allowed, required, req, err, sizeof(err))) {
		serve_reply_error(r, 400, "bad_request", "%s", err);
		return -1;
	}
	return 0;
}

/* Check the request against the caller's grant and build its capabilities. */
static int grant(struct serve *srv, const struct serve_call *c, const struct serve_req *req,
		 brig_limits *eff, brig_caps **caps, struct serve_reply *r)
{
	char refused[ERRLEN];

	if (serve_req_check(req, c->grant, &srv->opts.ceiling, eff, refused, sizeof(refused))) {
		serve_reply_error(r, 403, "forbidden", "not granted: %s", refused);
		return -1;
	}
	if (brig_caps_new(caps) || serve_req_caps(req, c->grant, hostfn_command, *caps)) {
		serve_reply_error(r, 400, "bad_request",
				  "the capabilities asked for are invalid (a host or mount)");
		return -1;
	}
	return 0;
}

static int admit(struct serve *srv, struct serve_reply *r)
{
	if (serve_admit_enter(&srv->admit) == 0)
		return 0;
	serve_reply_error(r, 429, "busy", "%u runs in progress and %u queued; retry later",
			  srv->admit.max_active, srv->admit.max_queue);
	r->retry_after = 1;
	return -1;
}

static double seconds_since(uint64_t t0)
{
	return (double)(serve_now_ms() - t0) / 1000.0;
}

/* A run or call is over: free its slot, count it, answer with (and free) res. */
static void finish_run(struct serve *srv, brig_lang lang, uint64_t t0, brig_result *res,
		       struct serve_reply *r)
{
	serve_admit_leave(&srv->admit);
	serve_metrics_run(&srv->metrics, lang, res ? brig_result_error(res) : BRIG_E_NOMEM,
			  seconds_since(t0));
	if (res)
		reply_result(r, res);
	else
		serve_reply_error(r, 500, "internal", "out of memory");
	brig_result_free(res);
}

/* ------------------------------------------------------------- streaming */

struct stream_job {
	struct serve *srv;
	brig_lang lang;
	struct serve_req req;
	brig_limits limits;
	brig_caps *caps;
	brig_cancel *cancel;
	int fd; /* the pipe's write end */
	bool sse;
	bool gone; /* the client went away */
};

static void emit(struct stream_job *j, const char *event, json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
	struct buf b = BUF_INIT;
	const char *p;
	size_t left;

	json_decref(o);
	if (!line || j->gone)
		goto out;
	if (j->sse)
		buf_append(&b, "event: ", 7), buf_append(&b, event, strlen(event)),
		    buf_append(&b, "\ndata: ", 7);
	buf_append(&b, line, strlen(line));
	buf_append(&b, j->sse ? "\n\n" : "\n", j->sse ? 2 : 1);
	for (p = b.data, left = b.len; p && left;) {
		ssize_t n = write(j->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The reader closed: nobody wants the rest of this run. */
			j->gone = true;
			brig_cancel_trigger(j->cancel);
			break;
		}
		p += n;
		left -= (size_t)n;
	}
out:
	buf_free(&b);
	free(line);
}

static void on_output(void *ud, brig_stream stream, const char *data, size_t len)
{
	struct stream_job *j = ud;
	struct buf clean = BUF_INIT;
	const char *name = stream == BRIG_STDOUT ? "stdout" : "stderr";

	if (utf8_sanitize(&clean, data, len) == 0)
		emit(j, name,
		     json_pack("{s:s, s:s%}", "type", name, "data", clean.data ? clean.data : "",
			       clean.len));
	buf_free(&clean);
}

static void *stream_main(void *arg)
{
	struct stream_job *j = arg;
	brig_result *res = NULL;
	brig_run_opts ro;
	uint64_t t0 = serve_now_ms();
	char *text;

	brig_run_opts_init(&ro);
	ro.limits = j->limits;
	ro.caps = j->caps;
	ro.stdin_data = j->req.stdin_data;
	ro.stdin_len = j->req.stdin_len;
	ro.on_output = on_output;
	ro.output_userdata = j;
	ro.cancel = j->cancel;
	brig_run(j->srv->ex, j->lang, j->req.code, j->req.code_len, &ro, &res);
	text = res ? brig_result_to_json(res) : NULL;
	if (text) {
		json_t *o = json_loads(text, 0, NULL);
		emit(j, "result", json_pack("{s:s, s:o}", "type", "result", "result", o));
	}
	close(j->fd);
	serve_metrics_run(&j->srv->metrics, j->lang, res ? brig_result_error(res) : BRIG_E_NOMEM,
			  seconds_since(t0));
	/* The last touch of the server: a drain waits for this. */
	serve_admit_leave(&j->srv->admit);
	free(text);
	brig_result_free(res);
	brig_caps_free(j->caps);
	brig_cancel_free(j->cancel);
	serve_req_free(&j->req);
	free(j);
	return NULL;
}

/* Start the run on a thread of its own; the reply streams the pipe. */
static void run_streamed(struct serve *srv, const struct serve_call *c, struct stream_job *j,
			 struct serve_reply *r)
{
	int fds[2] = {-1, -1};
	pthread_attr_t attr;
	pthread_t t;

	j->srv = srv;
	j->sse = c->stream == SERVE_SSE;
	if (brig_cancel_new(&j->cancel) || pipe2(fds, O_CLOEXEC))
		goto fail;
	j->fd = fds[1];
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, stream_main, j)) {
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	r->status = 200;
	r->content_type = j->sse ? "text/event-stream" : "application/x-ndjson";
	r->stream_fd = fds[0];
	return;
fail:
	if (fds[0] >= 0)
		close(fds[0]), close(fds[1]);
	serve_admit_leave(&srv->admit);
	brig_cancel_free(j->cancel);
	brig_caps_free(j->caps);
	serve_req_free(&j->req);
	free(j);
	serve_reply_error(r, 500, "internal", "cannot start the run");
}

/* ------------------------------------------------------------ one-shot */

static void api_run(struct serve *srv, const struct serve_call *c, struct serve_reply *r)
{
	struct stream_job *j = calloc(1, sizeof(*j));
	brig_result *res = NULL;
	brig_run_opts ro;
	uint64_t t0;

	if (!j) {
		serve_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	j->lang = BRIG_LANG_PYTHON;
	if (parse(c, SF_LANG | SF_CODE | SF_STDIN | SERVE_CAP_FIELDS, SF_CODE, &j->req, r) ||
	    grant(srv, c, &j->req, &j->limits, &j->caps, r) || admit(srv, r))
		goto out;
	if (j->req.present & SF_LANG)
		j->lang = j->req.lang;
	if (c->stream != SERVE_PLAIN) {
		run_streamed(srv, c, j, r);
		return;
	}
	brig_run_opts_init(&ro);
	ro.limits = j->limits;
	ro.caps = j->caps;
	ro.stdin_data = j->req.stdin_data;
	ro.stdin_len = j->req.stdin_len;
	t0 = serve_now_ms();
	brig_run(srv->ex, j->lang, j->req.code, j->req.code_len, &ro, &res);
	finish_run(srv, j->lang, t0, res, r);
out:
	brig_caps_free(j->caps);
	serve_req_free(&j->req);
	free(j);
}

/* ------------------------------------------------------------- sessions */

static uint32_t max_sessions(struct serve *srv, const struct serve_call *c)
{
	return c->grant && c->grant->max_sessions ? c->grant->max_sessions : srv->opts.max_sessions;
}

static void api_session_new(struct serve *srv, const struct serve_call *c, struct serve_reply *r)
{
	struct serve_req req;
	struct serve_sess *sess = NULL;
	brig_caps *caps = NULL;
	brig_session *s = NULL;
	brig_run_opts ro;
	brig_lang lang;
	char *why = NULL;
	int rc;

	brig_run_opts_init(&ro);
	if (parse(c, SF_LANG | SERVE_CAP_FIELDS, 0, &req, r) ||
	    grant(srv, c, &req, &ro.limits, &caps, r))
		goto out;
	lang = req.present & SF_LANG ? req.lang : BRIG_LANG_PYTHON;
	rc = serve_sess_reserve(&srv->sessions, c->who, max_sessions(srv, c), &sess);
	if (rc) {
		serve_reply_error(r, rc == -1 ? 429 : 500,
				  rc == -1 ? "too_many_sessions" : "internal", "%s",
				  rc == -1 ? "this token has as many sessions as it may open"
					   : "cannot make a session id");
		if (rc == -1)
			r->retry_after = 1;
		goto out;
	}
	if (admit(srv, r)) {
		serve_sess_started(&srv->sessions, sess, NULL, NULL, lang);
		serve_sess_put(&srv->sessions, sess);
		goto out;
	}
	ro.caps = caps;
	rc = brig_session_new(srv->ex, lang, &ro, &s, &why);
	serve_admit_leave(&srv->admit);
	serve_sess_started(&srv->sessions, sess, s, s ? caps : NULL, lang);
	if (s) {
		caps = NULL;
		reply_json(r, 201,
			   json_pack("{s:s, s:s}", "id", serve_sess_id(sess), "lang",
				     brig_lang_name(lang)));
	} else {
		serve_reply_error(r, result_status(rc), brig_err_name(rc), "%s",
				  why ? why : brig_strerror(rc));
	}
	serve_sess_put(&srv->sessions, sess);
out:
	free(why);
	brig_caps_free(caps);
	serve_req_free(&req);
}

static void call_opts(const struct serve_req *req, brig_call_opts *o)
{
	brig_call_opts_init(o);
	o->wall_timeout_ms = req->wall_ms;
	o->cpu_timeout_ms = req->cpu_ms;
}

static void api_exec(struct serve *srv, const struct serve_call *c, struct serve_sess *sess,
		     struct serve_reply *r)
{
	struct serve_req req;
	brig_result *res = NULL;
	brig_call_opts o;
	uint64_t t0;

	if (parse(c, SF_CODE | SF_WALL | SF_CPU, SF_CODE, &req, r) || admit(srv, r))
		goto out;
	call_opts(&req, &o);
	t0 = serve_now_ms();
	serve_sess_lock(sess);
	brig_session_run(serve_sess_handle(sess), req.code, req.code_len, &o, &res);
	serve_sess_unlock(sess);
	finish_run(srv, serve_sess_lang(sess), t0, res, r);
out:
	serve_req_free(&req);
}

/* A library error of a session operation as a reply. */
static void reply_status(struct serve_reply *r, int rc, unsigned ok_status)
{
	switch (rc) {
	case BRIG_OK:
		reply_json(r, ok_status, json_pack("{s:b}", "ok", 1));
		return;
	case BRIG_E_NOTFOUND:
		serve_reply_error(r, 404, brig_err_name(rc), "%s", brig_strerror(rc));
		return;
	case BRIG_E_POISONED:
	case BRIG_E_CONSUMED:
		serve_reply_error(r, 409, brig_err_name(rc), "%s", brig_strerror(rc));
		return;
	default:
		serve_reply_error(r, result_status(rc) == 200 ? 400 : result_status(rc),
				  brig_err_name(rc), "%s", brig_strerror(rc));
	}
}

/* With the session's lock: the handler set changes only while unloaded. */
static void unload(struct serve_sess *sess)
{
	if (*serve_sess_loaded(sess) && brig_session_unload(serve_sess_handle(sess)) == BRIG_OK)
		*serve_sess_loaded(sess) = false;
}

static void api_handler_add(struct serve *srv, const struct serve_call *c, struct serve_sess *sess,
			    struct serve_reply *r)
{
	brig_session *s = serve_sess_handle(sess);
	struct serve_req req;
	int rc;

	if (parse(c, SF_NAME | SF_CODE, SF_NAME | SF_CODE, &req, r))
		goto out;
	if (memchr(req.code, '\0', req.code_len)) {
		serve_reply_error(r, 400, "bad_request", "'code' holds a NUL character");
		goto out;
	}
	serve_sess_lock(sess);
	unload(sess);
	rc = brig_session_add_handler(s, req.name, req.code);
	serve_sess_unlock(sess);
	reply_status(r, rc, 201);
out:
	serve_req_free(&req);
}

static void api_handler_remove(struct serve_sess *sess, const char *name, struct serve_reply *r)
{
	brig_session *s = serve_sess_handle(sess);
	int rc;

	serve_sess_lock(sess);
	unload(sess);
	rc = brig_session_remove_handler(s, name);
	serve_sess_unlock(sess);
	reply_status(r, rc, 200);
}

/* Load the handlers before their first call since a change. */
static int ensure_loaded(struct serve_sess *sess, brig_result **res)
{
	int rc;

	if (*serve_sess_loaded(sess))
		return BRIG_OK;
	rc = brig_session_load(serve_sess_handle(sess), res);
	if (rc == BRIG_OK) {
		*serve_sess_loaded(sess) = true;
		brig_result_free(*res);
		*res = NULL;
	}
	return rc;
}

static void reply_handler(struct serve_reply *r, int rc, const char *value, brig_result *res)
{
	char *text = res ? brig_result_to_json(res) : NULL;
	json_t *o = text ? json_loads(text, 0, NULL) : json_object();

	free(text);
	if (!o) {
		serve_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	if (!res) {
		json_object_set_new(o, "ok", json_boolean(rc == BRIG_OK));
		json_object_set_new(o, "error", rc ? json_string(brig_err_name(rc)) : json_null());
		json_object_set_new(o, "message", json_string(rc ? brig_strerror(rc) : ""));
	}
	json_object_set_new(o, "value",
			    value ? json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
				  : json_null());
	if (!json_object_get(o, "value"))
		json_object_set_new(o, "value", json_null());
	reply_json(r, rc == BRIG_E_NOTFOUND ? 404 : result_status(rc), o);
}

static void api_handler_call(struct serve *srv, const struct serve_call *c, struct serve_sess *sess,
			     const char *name, struct serve_reply *r)
{
	struct serve_req req;
	brig_result *res = NULL;
	brig_call_opts o;
	char *value = NULL;
	uint64_t t0;
	int rc;

	if (parse(c, SF_EVENT | SF_WALL | SF_CPU, 0, &req, r) || admit(srv, r))
		goto out;
	call_opts(&req, &o);
	t0 = serve_now_ms();
	serve_sess_lock(sess);
	rc = ensure_loaded(sess, &res);
	if (rc == BRIG_OK)
		rc = brig_session_call_handler(serve_sess_handle(sess), name,
					       req.event_json ? req.event_json : "null", &o, &value,
					       &res);
	serve_sess_unlock(sess);
	serve_admit_leave(&srv->admit);
	serve_metrics_run(&srv->metrics, serve_sess_lang(sess), rc, seconds_since(t0));
	reply_handler(r, rc, value, res);
	brig_result_free(res);
	free(value);
out:
	serve_req_free(&req);
}

static void api_snapshot(struct serve_sess *sess, struct serve_reply *r)
{
	brig_snapshot *snap = NULL;
	char id[17];
	int rc;

	serve_sess_lock(sess);
	rc = brig_session_snapshot(serve_sess_handle(sess), &snap);
	if (rc == BRIG_OK && serve_sess_add_snapshot(sess, snap, id)) {
		brig_snapshot_free(snap);
		serve_sess_unlock(sess);
		serve_reply_error(r, 409, "too_many_snapshots", "a session keeps at most %d",
				  SERVE_MAX_SNAPSHOTS);
		return;
	}
	serve_sess_unlock(sess);
	if (rc == BRIG_OK)
		reply_json(r, 201, json_pack("{s:s}", "snapshot", id));
	else
		reply_status(r, rc, 201);
}

static void api_restore(const struct serve_call *c, struct serve_sess *sess, struct serve_reply *r)
{
	const brig_snapshot *snap;
	struct serve_req req;
	int rc = BRIG_E_NOTFOUND;

	if (parse(c, SF_SNAPSHOT, SF_SNAPSHOT, &req, r))
		goto out;
	serve_sess_lock(sess);
	snap = serve_sess_snapshot(sess, req.snapshot);
	if (snap)
		rc = brig_session_restore(serve_sess_handle(sess), snap);
	serve_sess_unlock(sess);
	if (!snap)
		serve_reply_error(r, 404, "not_found", "no snapshot '%s' in this session",
				  req.snapshot);
	else
		reply_status(r, rc, 200);
out:
	serve_req_free(&req);
}

/* ---------------------------------------------------------------- routes */

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* /v1/sessions/{id}[/{op}[/{name}[/call]]] */
static void route_session(struct serve *srv, const struct serve_call *c, char *rest,
			  struct serve_reply *r)
{
	char *save = NULL, *id = strtok_r(rest, "/", &save);
	char *op = strtok_r(NULL, "/", &save), *name = strtok_r(NULL, "/", &save);
	char *call = strtok_r(NULL, "/", &save), *extra = strtok_r(NULL, "/", &save);
	struct serve_sess *sess;

	if (!id || extra) {
		serve_reply_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	if (!op && is(c->method, "DELETE")) {
		if (serve_sess_close(&srv->sessions, c->who, id))
			serve_reply_error(r, 404, "not_found", "no such session");
		else
			reply_json(r, 200, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (!(sess = serve_sess_get(&srv->sessions, c->who, id))) {
		serve_reply_error(r, 404, "not_found", "no such session");
		return;
	}
	if (op && is(c->method, "POST") && !name && is(op, "exec"))
		api_exec(srv, c, sess, r);
	else if (op && is(c->method, "POST") && !name && is(op, "handlers"))
		api_handler_add(srv, c, sess, r);
	else if (op && is(c->method, "DELETE") && name && !call && is(op, "handlers"))
		api_handler_remove(sess, name, r);
	else if (op && is(c->method, "POST") && name && call && is(op, "handlers") &&
		 is(call, "call"))
		api_handler_call(srv, c, sess, name, r);
	else if (op && is(c->method, "POST") && !name && is(op, "snapshot"))
		api_snapshot(sess, r);
	else if (op && is(c->method, "POST") && !name && is(op, "restore"))
		api_restore(c, sess, r);
	else if (op && is(c->method, "POST") && !name && is(op, "interrupt")) {
		brig_session_interrupt(serve_sess_handle(sess));
		reply_json(r, 202, json_pack("{s:b}", "ok", 1));
	} else
		serve_reply_error(r, 404, "not_found", "no such endpoint");
	serve_sess_put(&srv->sessions, sess);
}

static void api_metrics(struct serve *srv, struct serve_reply *r)
{
	uint32_t active, waiting;

	serve_admit_counts(&srv->admit, &active, &waiting);
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4";
	r->body =
	    serve_metrics_render(&srv->metrics, active, waiting, serve_sess_count(&srv->sessions));
}

void serve_api_handle(struct serve *srv, const struct serve_call *c, struct serve_reply *r)
{
	const char *sp = "/v1/sessions/";
	char rest[256];

	r->stream_fd = -1;
	if (is(c->path, "/v1/metrics") || is(c->path, "/metrics")) {
		if (is(c->method, "GET"))
			api_metrics(srv, r);
		else
			serve_reply_error(r, 405, "method_not_allowed", "use GET");
		return;
	}
	if (serve_admit_rate(&srv->admit, c->who, c->grant)) {
		serve_reply_error(r, 429, "rate_limited", "this token's request rate is exceeded");
		r->retry_after = 1;
		return;
	}
	if (is(c->path, "/v1/run"))
		is(c->method, "POST") ? api_run(srv, c, r)
				      : serve_reply_error(r, 405, "method_not_allowed", "use POST");
	else if (is(c->path, "/v1/sessions"))
		is(c->method, "POST") ? api_session_new(srv, c, r)
				      : serve_reply_error(r, 405, "method_not_allowed", "use POST");
	else if (strncmp(c->path, sp, strlen(sp)) == 0 &&
		 strlen(c->path + strlen(sp)) < sizeof(rest)) {
		strcpy(rest, c->path + strlen(sp));
		route_session(srv, c, rest, r);
	} else
		serve_reply_error(r, 404, "not_found", "no such endpoint");
}
