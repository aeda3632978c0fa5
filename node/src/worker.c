#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#define SPIN_ROUNDS 200

#include "sdk.h"

struct sdk_worker {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct sdk_job *head, *tail; /* with lock */
	bool closing;		     /* with lock */
	/* With post_lock: node tore the environment down (the thread-safe
	 * function is gone with it, even while threads still hold it). */
	pthread_mutex_t post_lock;
	bool env_gone;
	napi_threadsafe_function tsfn;
	unsigned pending;   /* main thread: jobs not yet delivered */
	atomic_int owners;  /* the thread and the thread-safe function */
	atomic_bool queued; /* a job waits (a hint for the spin) */
};

static void worker_unown(struct sdk_worker *w)
{
	if (atomic_fetch_sub(&w->owners, 1) == 1) {
		pthread_mutex_destroy(&w->post_lock);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->wake);
		free(w);
	}
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
	struct sdk_msg *msg = data;

	msg->deliver(env, msg);
}

/* Runs before the thread-safe function's own cleanup (hooks run last first). */
static void env_cleanup(void *arg)
{
	struct sdk_worker *w = arg;

	pthread_mutex_lock(&w->post_lock);
	w->env_gone = true;
	pthread_mutex_unlock(&w->post_lock);
}

static void tsfn_finalize(napi_env env, void *data, void *hint)
{
	struct sdk_worker *w = data;

	pthread_mutex_lock(&w->post_lock);
	if (!w->env_gone)
		napi_remove_env_cleanup_hook(env, env_cleanup, w);
	pthread_mutex_unlock(&w->post_lock);
	worker_unown(w);
}

static struct sdk_job *next_job(struct sdk_worker *w)
{
	struct sdk_job *job;

	/* Back-to-back calls: the next job usually comes within microseconds
	 * of the last result, sooner than a sleeping thread wakes. */
	for (int spin = 0;
	     spin < SPIN_ROUNDS && !atomic_load_explicit(&w->queued, memory_order_acquire); spin++)
		sched_yield();
	pthread_mutex_lock(&w->lock);
	while (!w->head && !w->closing)
		pthread_cond_wait(&w->wake, &w->lock);
	if ((job = w->head) && !(w->head = job->next))
		w->tail = NULL;
	atomic_store_explicit(&w->queued, w->head != NULL, memory_order_release);
	pthread_mutex_unlock(&w->lock);
	return job;
}

static void *worker_main(void *arg)
{
	struct sdk_worker *w = arg;
	struct sdk_job *job;

	while ((job = next_job(w))) {
		job->rc = job->exec(job);
		sdk_worker_post(w, &job->msg);
	}
	pthread_mutex_lock(&w->post_lock);
	if (!w->env_gone)
		napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
	pthread_mutex_unlock(&w->post_lock);
	worker_unown(w);
	return NULL;
}

struct sdk_worker *sdk_worker_new(napi_env env, const char *name)
{
	struct sdk_worker *w = calloc(1, sizeof(*w));
	napi_value res;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (!w) {
		sdk_throw(env, BRIG_E_NOMEM, NULL);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->post_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	atomic_init(&w->owners, 2);
	if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res) != napi_ok ||
	    napi_create_threadsafe_function(env, NULL, NULL, res, 0, 1, w, tsfn_finalize, w,
					    call_js, &w->tsfn) != napi_ok) {
		pthread_mutex_destroy(&w->lock);
		pthread_mutex_destroy(&w->post_lock);
		pthread_cond_destroy(&w->wake);
		free(w);
		sdk_throw(env, BRIG_E_INTERNAL, "cannot create a thread-safe function");
		return NULL;
	}
	napi_unref_threadsafe_function(env, w->tsfn);
	napi_add_env_cleanup_hook(env, env_cleanup, w);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc) {
		atomic_store(&w->owners, 1);
		napi_remove_env_cleanup_hook(env, env_cleanup, w);
		napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
		sdk_throw(env, BRIG_E_INTERNAL, "cannot start a thread");
		return NULL;
	}
	return w;
}

void sdk_worker_post(struct sdk_worker *w, struct sdk_msg *msg)
{
	napi_status st = napi_closing;

	pthread_mutex_lock(&w->post_lock);
	if (!w->env_gone)
		st = napi_call_threadsafe_function(w->tsfn, msg, napi_tsfn_nonblocking);
	pthread_mutex_unlock(&w->post_lock);
	if (st != napi_ok)
		msg->deliver(NULL, msg);
}

void sdk_worker_close(struct sdk_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

static void job_deliver(napi_env env, struct sdk_msg *msg)
{
	struct sdk_job *job = (struct sdk_job *)msg;
	struct sdk_worker *w = job->worker;

	if (!env) {
		sdk_job_free(job);
		return;
	}
	if (!job->deferred) {
		job->done(env, job);
		return;
	}
	job->done(env, job);
	if (--w->pending == 0)
		napi_unref_threadsafe_function(env, w->tsfn);
}

struct sdk_job *sdk_job_new(sdk_exec_fn exec, sdk_done_fn done, void *data)
{
	struct sdk_job *job = calloc(1, sizeof(*job));

	if (job)
		*job = (struct sdk_job){
		    .msg = {job_deliver}, .exec = exec, .done = done, .data = data};
	return job;
}

void sdk_job_free(struct sdk_job *job)
{
	if (job) {
		free(job->message);
		free(job);
	}
}

void sdk_worker_submit_quiet(struct sdk_worker *w, struct sdk_job *job)
{
	job->worker = w;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	atomic_store_explicit(&w->queued, true, memory_order_release);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

napi_value sdk_worker_submit(napi_env env, struct sdk_worker *w, struct sdk_job *job)
{
	napi_value promise = NULL;

	if (!job)
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
		sdk_job_free(job);
		return NULL;
	}
	if (w->pending++ == 0)
		napi_ref_threadsafe_function(env, w->tsfn);
	sdk_worker_submit_quiet(w, job);
	return promise;
}

void sdk_job_settle(napi_env env, struct sdk_job *job, napi_value value)
{
	napi_value undef;

	if (job->rc) {
		napi_reject_deferred(env, job->deferred, sdk_error(env, job->rc, job->message));
	} else {
		if (!value && napi_get_undefined(env, &undef) == napi_ok)
			value = undef;
		napi_resolve_deferred(env, job->deferred, value);
	}
	sdk_job_free(job);
}

void sdk_job_settle_string(napi_env env, struct sdk_job *job, const char *s)
{
	napi_value v = NULL;

	if (job->rc == BRIG_OK && napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok)
		job->rc = BRIG_E_NOMEM;
	sdk_job_settle(env, job, v);
}
