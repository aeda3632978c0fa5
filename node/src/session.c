/*
 * Sessions from JavaScript: one brig_session per handle, driven by a worker
 * thread of its own (the session's sandbox dies with the thread that made
 * it, so that thread lives as long as the session).
 */
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

#define MAX_SNAPS 64

struct sdk_snap {
	struct sdk_session *owner;
	brig_snapshot *snap; /* worker thread, once taken */
};

struct sdk_session {
	struct sdk_box box;
	brig_session *s;  /* set by the worker before the handle exists */
	bool closed;	  /* main thread: the close is queued */
	bool freed;	  /* main thread: brig_session_free ran */
	unsigned js_refs; /* main thread: JS objects pointing here */
	struct sdk_snap *snaps[MAX_SNAPS];
	size_t nsnaps;
};

/* Main thread, once nothing of it is left. */
static void session_release(napi_env env, struct sdk_session *ss)
{
	if (ss->js_refs || !ss->freed)
		return;
	for (size_t i = 0; i < ss->nsnaps; i++)
		free(ss->snaps[i]);
	sdk_box_free(env, &ss->box);
	free(ss);
}

static void take_result(struct sdk_job *job, brig_result *res, int rc)
{
	size_t len;
	const char *msg = res ? brig_result_message(res) : "";

	if (rc && !*msg && res)
		msg = brig_result_stderr(res, &len);
	if (rc && *msg)
		job->message = strdup(msg);
	brig_result_free(res);
}

/* ---------------------------------------------------------------- close */

static int exec_close(struct sdk_job *job)
{
	struct sdk_session *ss = job->data;

	brig_session_free(ss->s);
	ss->s = NULL;
	return BRIG_OK;
}

static void done_close(napi_env env, struct sdk_job *job)
{
	struct sdk_session *ss = job->data;

	/* The session is gone: its snapshots are only memory now. */
	for (size_t i = 0; i < ss->nsnaps; i++) {
		brig_snapshot_free(ss->snaps[i]->snap);
		ss->snaps[i]->snap = NULL;
	}
	ss->freed = true;
	if (job->deferred)
		sdk_job_settle(env, job, NULL);
	else
		sdk_job_free(job);
	session_release(env, ss);
}

/* Queue the session's end; its worker then stops. */
static napi_value close_session(napi_env env, struct sdk_session *ss, bool promise)
{
	struct sdk_job *job = sdk_job_new(exec_close, done_close, ss);
	napi_value p = NULL;

	ss->closed = true;
	if (promise) {
		p = sdk_worker_submit(env, ss->box.worker, job);
	} else if (job) {
		sdk_worker_submit_quiet(ss->box.worker, job);
	}
	sdk_worker_close(ss->box.worker);
	return p;
}

static void session_finalize(napi_env env, void *data, void *hint)
{
	struct sdk_session *ss = data;

	ss->js_refs--;
	if (!ss->closed)
		close_session(env, ss, false);
	session_release(env, ss);
}

/* The open session behind argv[0], or NULL with ERR_CONSUMED thrown. */
static struct sdk_session *open_session(napi_env env, napi_value v)
{
	struct sdk_session *ss = NULL;

	if (napi_unwrap(env, v, (void **)&ss) != napi_ok || !ss) {
		sdk_throw(env, BRIG_E_INVAL, "not a session handle");
		return NULL;
	}
	if (ss->closed) {
		sdk_throw(env, BRIG_E_CONSUMED, "the sandbox was closed");
		return NULL;
	}
	return ss;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
		     struct sdk_session **ss)
{
	size_t argc = want;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	if (argc < want) {
		sdk_throw(env, BRIG_E_INVAL, "missing arguments");
		return false;
	}
	return !ss || (*ss = open_session(env, argv[0])) != NULL;
}

/* ------------------------------------------------------------------ new */

static int exec_new(struct sdk_job *job)
{
	struct sdk_session *ss = job->data;
	brig_executor *ex;
	char *why = NULL;
	int rc = sdk_state_executor(ss->box.state, &ex, &why);

	if (rc == BRIG_OK)
		rc = brig_session_new(ex, ss->box.opts.lang, &ss->box.opts.run, &ss->s, &why);
	job->message = why;
	return rc;
}

static void done_new(napi_env env, struct sdk_job *job)
{
	struct sdk_session *ss = job->data;
	napi_value obj = NULL;

	if (job->rc == BRIG_OK && napi_create_object(env, &obj) == napi_ok &&
	    napi_wrap(env, obj, ss, session_finalize, NULL, NULL) == napi_ok) {
		ss->js_refs++;
		sdk_job_settle(env, job, obj);
		return;
	}
	if (job->rc == BRIG_OK)
		job->rc = BRIG_E_INTERNAL;
	sdk_job_settle(env, job, NULL);
	ss->closed = ss->freed = true;
	sdk_worker_close(ss->box.worker);
	session_release(env, ss);
}

/* sessionNew(options, dispatch) -> Promise<handle> */
static napi_value session_new(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct sdk_session *ss;

	if (!get_args(env, info, 2, argv, NULL))
		return NULL;
	if (!(ss = calloc(1, sizeof(*ss))))
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	if (!sdk_box_init(env, &ss->box, "brig session", argv[0], argv[1])) {
		free(ss);
		return NULL;
	}
	return sdk_worker_submit(env, ss->box.worker, sdk_job_new(exec_new, done_new, ss));
}

/* ------------------------------------------------------------- handlers */

/* addHandler(handle, name, code), removeHandler(handle, name), clearHandlers(handle) */
static napi_value handler_op(napi_env env, napi_callback_info info, int which)
{
	napi_value argv[3];
	struct sdk_session *ss;
	char *name = NULL, *code = NULL;
	int rc;

	if (!get_args(env, info, which == 0 ? 3 : which == 1 ? 2 : 1, argv, &ss))
		return NULL;
	if ((which <= 1 && !sdk_get_string(env, argv[1], "name", &name)) ||
	    (which == 0 && !sdk_get_string(env, argv[2], "code", &code))) {
		free(name);
		return NULL;
	}
	rc = which == 0	  ? brig_session_add_handler(ss->s, name, code)
	     : which == 1 ? brig_session_remove_handler(ss->s, name)
			  : brig_session_clear_handlers(ss->s);
	free(name), free(code);
	return rc ? sdk_throw(env, rc, rc == BRIG_E_INVAL ? "invalid handler name" : NULL) : NULL;
}

static napi_value add_handler(napi_env env, napi_callback_info info)
{
	return handler_op(env, info, 0);
}

static napi_value remove_handler(napi_env env, napi_callback_info info)
{
	return handler_op(env, info, 1);
}

static napi_value clear_handlers(napi_env env, napi_callback_info info)
{
	return handler_op(env, info, 2);
}

static int exec_load(struct sdk_job *job)
{
	struct sdk_session *ss = job->data;
	brig_result *res = NULL;
	int rc = brig_session_load(ss->s, &res);

	take_result(job, res, rc);
	return rc;
}

static int exec_unload(struct sdk_job *job)
{
	struct sdk_session *ss = job->data;

	return brig_session_unload(ss->s);
}

static void done_plain(napi_env env, struct sdk_job *job)
{
	sdk_job_settle(env, job, NULL);
}

static napi_value submit_plain(napi_env env, napi_callback_info info, sdk_exec_fn exec)
{
	napi_value argv[1];
	struct sdk_session *ss;

	if (!get_args(env, info, 1, argv, &ss))
		return NULL;
	return sdk_worker_submit(env, ss->box.worker, sdk_job_new(exec, done_plain, ss));
}

static napi_value load(napi_env env, napi_callback_info info)
{
	return submit_plain(env, info, exec_load);
}

static napi_value unload(napi_env env, napi_callback_info info)
{
	return submit_plain(env, info, exec_unload);
}

/* ----------------------------------------------------------------- calls */

struct call {
	struct sdk_session *ss;
	char *name, *event, *result;
	brig_call_opts opts;
};

static int exec_call(struct sdk_job *job)
{
	struct call *c = job->data;
	brig_result *res = NULL;
	int rc = brig_session_call_handler(c->ss->s, c->name, c->event, &c->opts, &c->result, &res);

	take_result(job, res, rc);
	return rc;
}

static void done_call(napi_env env, struct sdk_job *job)
{
	struct call *c = job->data;

	sdk_job_settle_string(env, job, c->result);
	free(c->name), free(c->event), free(c->result), free(c);
}

/* callHandler(handle, name, eventJson, {wallClockTimeoutMs, cpuTimeoutMs, gc}) -> Promise<json> */
static napi_value call_handler(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	struct sdk_session *ss;
	struct call *c;

	if (!get_args(env, info, 4, argv, &ss))
		return NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	c->ss = ss;
	brig_call_opts_init(&c->opts);
	if (!sdk_get_string(env, argv[1], "name", &c->name) ||
	    !sdk_get_string(env, argv[2], "event", &c->event) ||
	    !sdk_get_u64(env, argv[3], "wallClockTimeoutMs", &c->opts.wall_timeout_ms) ||
	    !sdk_get_u64(env, argv[3], "cpuTimeoutMs", &c->opts.cpu_timeout_ms) ||
	    !sdk_get_bool(env, argv[3], "gc", &c->opts.gc)) {
		free(c->name), free(c->event), free(c);
		return NULL;
	}
	return sdk_worker_submit(env, ss->box.worker, sdk_job_new(exec_call, done_call, c));
}

static napi_value interrupt(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct sdk_session *ss;

	if (get_args(env, info, 1, argv, &ss))
		brig_session_interrupt(ss->s);
	return NULL;
}

static napi_value poisoned(napi_env env, napi_callback_info info)
{
	napi_value argv[1], v;
	struct sdk_session *ss;

	if (!get_args(env, info, 1, argv, &ss) ||
	    napi_get_boolean(env, brig_session_poisoned(ss->s), &v) != napi_ok)
		return NULL;
	return v;
}

static napi_value close_handle(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct sdk_session *ss;

	if (!get_args(env, info, 1, argv, &ss))
		return NULL;
	return close_session(env, ss, true);
}

/* ------------------------------------------------------------- snapshots */

static int exec_snapshot(struct sdk_job *job)
{
	struct sdk_snap *sn = job->data;

	return brig_session_snapshot(sn->owner->s, &sn->snap);
}

static int exec_drop(struct sdk_job *job)
{
	struct sdk_snap *sn = job->data;

	brig_snapshot_free(sn->snap);
	sn->snap = NULL;
	return BRIG_OK;
}

/* Main thread: forget sn, which nothing refers to any more. */
static void forget_snap(struct sdk_snap *sn)
{
	struct sdk_session *ss = sn->owner;

	for (size_t i = 0; i < ss->nsnaps; i++) {
		if (ss->snaps[i] == sn) {
			ss->snaps[i] = ss->snaps[--ss->nsnaps];
			free(sn);
			return;
		}
	}
}

static void done_drop(napi_env env, struct sdk_job *job)
{
	if (env)
		forget_snap(job->data);
	sdk_job_free(job);
}

static void snap_finalize(napi_env env, void *data, void *hint)
{
	struct sdk_snap *sn = data;
	struct sdk_session *ss = sn->owner;
	struct sdk_job *job;

	if (!ss->closed && (job = sdk_job_new(exec_drop, done_drop, sn)))
		sdk_worker_submit_quiet(ss->box.worker, job);
	ss->js_refs--;
	session_release(env, ss);
}

static void done_snapshot(napi_env env, struct sdk_job *job)
{
	struct sdk_snap *sn = job->data;
	napi_value obj = NULL;

	if (job->rc == BRIG_OK && (napi_create_object(env, &obj) != napi_ok ||
				   napi_wrap(env, obj, sn, snap_finalize, NULL, NULL) != napi_ok))
		job->rc = BRIG_E_INTERNAL;
	if (job->rc == BRIG_OK)
		sn->owner->js_refs++;
	else
		forget_snap(sn);
	sdk_job_settle(env, job, obj);
}

static napi_value snapshot(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct sdk_session *ss;
	struct sdk_snap *sn;

	if (!get_args(env, info, 1, argv, &ss))
		return NULL;
	if (ss->nsnaps >= MAX_SNAPS)
		return sdk_throw(env, BRIG_E_LIMIT, "too many snapshots of this sandbox");
	if (!(sn = calloc(1, sizeof(*sn))))
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	sn->owner = ss;
	ss->snaps[ss->nsnaps++] = sn;
	return sdk_worker_submit(env, ss->box.worker,
				 sdk_job_new(exec_snapshot, done_snapshot, sn));
}

struct restore {
	struct sdk_session *ss;
	struct sdk_snap *sn;
};

static int exec_restore(struct sdk_job *job)
{
	struct restore *r = job->data;
	int rc = r->sn->snap ? brig_session_restore(r->ss->s, r->sn->snap) : BRIG_E_NOTFOUND;

	free(r);
	return rc;
}

static napi_value restore(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct sdk_session *ss;
	struct sdk_snap *sn = NULL;
	struct restore *r;

	if (!get_args(env, info, 2, argv, &ss))
		return NULL;
	if (napi_unwrap(env, argv[1], (void **)&sn) != napi_ok || !sn || sn->owner != ss)
		return sdk_throw(env, BRIG_E_INVAL, "not a snapshot of this sandbox");
	if (!(r = malloc(sizeof(*r))))
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	*r = (struct restore){ss, sn};
	return sdk_worker_submit(env, ss->box.worker, sdk_job_new(exec_restore, done_plain, r));
}

void sdk_session_init(napi_env env, napi_value exports)
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
	    {"sessionNew", session_new},
	    {"addHandler", add_handler},
	    {"removeHandler", remove_handler},
	    {"clearHandlers", clear_handlers},
	    {"load", load},
	    {"unload", unload},
	    {"callHandler", call_handler},
	    {"interrupt", interrupt},
	    {"poisoned", poisoned},
	    {"close", close_handle},
	    {"snapshot", snapshot},
	    {"restore", restore},
	};
	napi_value f;

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) ==
		    napi_ok)
			napi_set_named_property(env, exports, fns[i].name, f);
	}
}
