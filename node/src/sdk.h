/*
 * The Node SDK's addon (brig_sdk.node): Node-API bindings over libbrig.
 * index.js builds the public API (SandboxBuilder, run...) on top of the
 * small surface exported here.
 *
 * Threads: every call that waits on a sandbox runs on a worker thread of
 * its own (one per session, one per run), never on node's thread pool, so
 * that a host function's JavaScript callback can use the pool while
 * handlers run.  Results come back to the main thread through the worker's
 * thread-safe function, which is referenced only while work is pending: an
 * idle sandbox never keeps the process alive.
 */
#ifndef BRIG_SDK_H
#define BRIG_SDK_H

#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "brig.h"

/* ------------------------------------------------------------ messages */

/* Something a worker hands to the main thread; deliver runs it there and
 * frees it.  env is NULL when node is shutting down: only free then. */
struct sdk_msg {
	void (*deliver)(napi_env env, struct sdk_msg *msg);
};

/* ------------------------------------------------------------- workers */

struct sdk_job;
typedef int (*sdk_exec_fn)(struct sdk_job *job);
typedef void (*sdk_done_fn)(napi_env env, struct sdk_job *job);

/*
 * One piece of work: exec runs on the worker thread, done on the main
 * thread, which resolves or rejects the promise.  rc is what exec
 * returned (a brig_error); message an optional malloc'd detail.
 */
struct sdk_job {
	struct sdk_msg msg;
	struct sdk_job *next;
	struct sdk_worker *worker;
	sdk_exec_fn exec;
	sdk_done_fn done;
	napi_deferred deferred;
	int rc;
	char *message;
	void *data;
};

struct sdk_worker;

/* A worker thread with its own queue; NULL (and a thrown error) on failure. */
struct sdk_worker *sdk_worker_new(napi_env env, const char *name);
/*
 * Queue job (allocated with sdk_job_new) and return its promise.  The worker
 * keeps the process alive until every queued job was delivered.
 */
napi_value sdk_worker_submit(napi_env env, struct sdk_worker *w, struct sdk_job *job);
/*
 * Queue job without a promise (done still runs on the main thread), and
 * without keeping the process alive for it: cleanup after finalizers.
 */
void sdk_worker_submit_quiet(struct sdk_worker *w, struct sdk_job *job);
/* Hand msg to the main thread (from any thread while the worker lives). */
void sdk_worker_post(struct sdk_worker *w, struct sdk_msg *msg);
/* Let the thread end once its queue is empty; it frees the worker. */
void sdk_worker_close(struct sdk_worker *w);

struct sdk_job *sdk_job_new(sdk_exec_fn exec, sdk_done_fn done, void *data);
void sdk_job_free(struct sdk_job *job);
/* Reject job's promise with its rc and message, or resolve it with value. */
void sdk_job_settle(napi_env env, struct sdk_job *job, napi_value value);
/* The same, resolving with the string s (JSON the caller still owns). */
void sdk_job_settle_string(napi_env env, struct sdk_job *job, const char *s);

/* -------------------------------------------------------------- errors */

/* An Error whose code is brig_err_name(rc) (e.g. ERR_CANCELLED). */
napi_value sdk_error(napi_env env, int rc, const char *message);
/* Throw such an error; returns NULL for the caller to return. */
napi_value sdk_throw(napi_env env, int rc, const char *message);

/* ------------------------------------------------------------ executor */

/* The process's executor, created on first use (from any thread). */
int sdk_executor(napi_env env, brig_executor **out, char **why);
/* Same, when env is not at hand (a worker thread): the addon's state. */
struct sdk_state;
struct sdk_state *sdk_state_of(napi_env env);
int sdk_state_executor(struct sdk_state *st, brig_executor **out, char **why);

/* ----------------------------------------------------------- arguments */

/* Reading JS values: each returns false (with an ERR_INVALID_ARG thrown). */
bool sdk_get_string(napi_env env, napi_value v, const char *what, char **out);
bool sdk_get_u64(napi_env env, napi_value obj, const char *key, uint64_t *out);
bool sdk_get_bool(napi_env env, napi_value obj, const char *key, bool *out);
/* obj[key] if present and not undefined/null. */
bool sdk_get_prop(napi_env env, napi_value obj, const char *key, napi_value *out);

/*
 * What a sandbox is given: limits and capabilities, read from a JS
 * options object (index.js normalises it), and owned until freed.
 */
struct sdk_host;
struct sdk_opts {
	brig_lang lang;
	brig_run_opts run;
	brig_caps *caps;
	brig_kv *kv;
	char *stdin_data;
};

bool sdk_opts_read(napi_env env, napi_value obj, struct sdk_host *host, struct sdk_opts *o);
void sdk_opts_free(struct sdk_opts *o);

/* -------------------------------------------------------- host functions */

/*
 * Host functions of one sandbox: guest calls are handed to the JS
 * dispatcher dispatch(name, argsJson, done) on the main thread, through
 * worker; done(error, resultJson) answers the guest.
 */
struct sdk_host *sdk_host_new(napi_env env, napi_value dispatch, struct sdk_worker *worker);
/* The brig_host_fn and its userdata for brig_caps_add_function. */
int sdk_host_fn(void *userdata, const char *name, const char *args_json, char **result_json,
		char **error_message);
/* Main thread, once no run can call any more. */
void sdk_host_free(napi_env env, struct sdk_host *h);

/* ----------------------------------------------------------- sandboxes */

/* What every sandbox of the addon has: its thread, host functions, options. */
struct sdk_box {
	struct sdk_state *state;
	struct sdk_worker *worker;
	struct sdk_host *host;
	struct sdk_opts opts;
};

/*
 * Start box's worker (named thread) and read its options and dispatcher
 * (a function, or anything else for none).  false with an error thrown.
 */
bool sdk_box_init(napi_env env, struct sdk_box *box, const char *thread, napi_value options,
		  napi_value dispatch);
/* Main thread, once no run of box can call a host function any more. */
void sdk_box_free(napi_env env, struct sdk_box *box);

/* --------------------------------------------------------------- exports */

void sdk_session_init(napi_env env, napi_value exports);
void sdk_run_init(napi_env env, napi_value exports);

#define SDK_CALL(env, call)                                                                        \
	do {                                                                                       \
		if ((call) != napi_ok)                                                             \
			return NULL;                                                               \
	} while (0)

#endif /* BRIG_SDK_H */
