/*
 * Host functions written in JavaScript.  libbrig calls sdk_host_fn on one
 * of its dispatch threads; the call goes to the main thread through the
 * sandbox's worker, where index.js's dispatcher runs the callback (awaiting
 * it when it is async) and answers through done(error, resultJson).  The
 * dispatch thread waits for that answer or for the call's cancellation.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sdk.h"

struct sdk_host {
	struct sdk_worker *worker;
	napi_ref dispatch;
};

struct host_call {
	struct sdk_msg msg;
	struct sdk_host *host;
	atomic_int refs; /* the waiting thread and the answer */
	int efd;	 /* readable once answered */
	char *name, *args;
	char *result, *error; /* the answer */
};

static void call_unref(struct host_call *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		close(c->efd);
		free(c->name), free(c->args), free(c->result), free(c->error);
		free(c);
	}
}

static void answer(struct host_call *c, char *result, char *error)
{
	c->result = result;
	c->error = error;
	eventfd_write(c->efd, 1);
	call_unref(c);
}

/* A JS value as a malloc'd C string (String(v)); NULL if not a string. */
static char *to_cstring(napi_env env, napi_value v)
{
	size_t len;
	char *s;

	if (napi_coerce_to_string(env, v, &v) != napi_ok ||
	    napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || !(s = malloc(len + 1)))
		return NULL;
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	return s;
}

static napi_value on_done(napi_env env, napi_callback_info info)
{
	napi_value argv[2], msg;
	size_t argc = 2;
	napi_valuetype t;
	struct host_call *c;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&c) != napi_ok || !c)
		return NULL;
	napi_typeof(env, argv[0], &t);
	if (argc >= 1 && t != napi_undefined && t != napi_null) {
		if (napi_get_named_property(env, argv[0], "message", &msg) != napi_ok)
			msg = argv[0];
		answer(c, NULL, to_cstring(env, msg));
		return NULL;
	}
	napi_typeof(env, argv[1], &t);
	answer(c, t == napi_string ? to_cstring(env, argv[1]) : NULL, NULL);
	return NULL;
}

static void host_deliver(napi_env env, struct sdk_msg *msg)
{
	struct host_call *c = (struct host_call *)msg;
	struct sdk_host *h;
	napi_value dispatch, argv[3], global, exc;
	bool pending = false;

	if (!env) {
		answer(c, NULL, strdup("the host is shutting down"));
		return;
	}
	h = c->host;
	if (napi_get_reference_value(env, h->dispatch, &dispatch) != napi_ok ||
	    napi_create_string_utf8(env, c->name, NAPI_AUTO_LENGTH, &argv[0]) != napi_ok ||
	    napi_create_string_utf8(env, c->args, NAPI_AUTO_LENGTH, &argv[1]) != napi_ok ||
	    napi_create_function(env, "done", NAPI_AUTO_LENGTH, on_done, c, &argv[2]) != napi_ok ||
	    napi_get_global(env, &global) != napi_ok) {
		answer(c, NULL, strdup("cannot call the host function"));
		return;
	}
	if (napi_call_function(env, global, dispatch, 3, argv, NULL) != napi_ok) {
		napi_is_exception_pending(env, &pending);
		if (pending)
			napi_get_and_clear_last_exception(env, &exc);
		answer(c, NULL, strdup("the host function's dispatcher failed"));
	}
}

/* Until answered or cancelled: 0 when answered. */
static int wait_answer(struct host_call *c)
{
	struct pollfd p[2] = {{c->efd, POLLIN, 0},
			      {brig_hostcall_cancel_fd(brig_hostcall_current()), POLLIN, 0}};

	for (;;) {
		if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return -1;
		if (p[0].revents)
			return 0;
		if (p[1].revents)
			return -1;
	}
}

int sdk_host_fn(void *userdata, const char *name, const char *args_json, char **result_json,
		char **error_message)
{
	struct sdk_host *h = userdata;
	struct host_call *c = calloc(1, sizeof(*c));
	int rc = -1;

	if (!c)
		return -1;
	c->msg.deliver = host_deliver;
	atomic_init(&c->refs, 2);
	c->name = strdup(name);
	c->args = strdup(args_json);
	c->efd = eventfd(0, EFD_CLOEXEC);
	if (!c->name || !c->args || c->efd < 0) {
		if (c->efd >= 0)
			close(c->efd);
		free(c->name), free(c->args), free(c);
		return -1;
	}
	c->host = h;
	sdk_worker_post(h->worker, &c->msg);
	if (wait_answer(c) == 0) {
		*result_json = c->result;
		*error_message = c->error;
		rc = c->error ? -1 : 0;
		c->result = c->error = NULL;
	} else {
		*error_message = strdup("the host call was cancelled");
	}
	call_unref(c);
	return rc;
}

struct sdk_host *sdk_host_new(napi_env env, napi_value dispatch, struct sdk_worker *worker)
{
	struct sdk_host *h = calloc(1, sizeof(*h));

	if (!h) {
		sdk_throw(env, BRIG_E_NOMEM, NULL);
		return NULL;
	}
	h->worker = worker;
	if (napi_create_reference(env, dispatch, 1, &h->dispatch) != napi_ok) {
		free(h);
		return NULL;
	}
	return h;
}

void sdk_host_free(napi_env env, struct sdk_host *h)
{
	if (h) {
		if (env)
			napi_delete_reference(env, h->dispatch);
		free(h);
	}
}
