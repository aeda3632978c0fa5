/*
 * brig's node addon (brig_node.node): the N-API glue around fork.c, loaded
 * by the JavaScript agent from /opt/brig/native.  Every export is a row of
 * the table at the end.
 *
 *   snapshot()          fork a stopped holder of this process (its pid, as
 *                       {restored: false, holder}); it also returns in each
 *                       spare the holder makes: {restored: true, holder}
 *   stop()              a spare, ready: stop until a restore wakes it
 *   waitStopped(pid)    true once pid is stopped (or gone), within a second
 *   setBlocking(fd, b)  clear or set O_NONBLOCK on fd
 *   exit(code)          _exit(code): a copy must not run node's teardown,
 *                       which joins platform threads only the original has
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "node/fork.h"

#define WAIT_STOPPED_MS 1000

static napi_value fail(napi_env env, const char *what, int err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	napi_throw_error(env, NULL, msg);
	return NULL;
}

/* Up to n int32 arguments; false (with an exception pending) otherwise. */
static bool int_args(napi_env env, napi_callback_info info, int32_t *out, size_t n)
{
	napi_value argv[4];
	size_t argc = 4;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n)
		return napi_throw_type_error(env, NULL, "missing arguments"), false;
	for (size_t i = 0; i < n; i++) {
		bool b;

		if (napi_get_value_int32(env, argv[i], &out[i]) == napi_ok)
			continue;
		if (napi_get_value_bool(env, argv[i], &b) != napi_ok)
			return napi_throw_type_error(env, NULL, "expected numbers"), false;
		out[i] = b;
	}
	return true;
}

static napi_value make_bool(napi_env env, bool v)
{
	napi_value r;

	napi_get_boolean(env, v, &r);
	return r;
}

/* ------------------------------------------------------------ revival */

/* node caches its pid in process.pid: a revived copy has its own. */
static void fix_pid(napi_env env)
{
	napi_value global, process, pid;
	napi_property_descriptor d = {
	    "pid", NULL, NULL, NULL, NULL, NULL, napi_enumerable | napi_configurable, NULL};

	if (napi_get_global(env, &global) != napi_ok ||
	    napi_get_named_property(env, global, "process", &process) != napi_ok ||
	    napi_create_int32(env, (int32_t)getpid(), &pid) != napi_ok)
		return;
	d.value = pid;
	napi_define_properties(env, process, 1, &d);
}

/* A copy's first steps, before it returns to JavaScript. */
static int revive(napi_env env)
{
	struct uv_loop_s *loop;
	int rc;

	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return -EINVAL;
	if ((rc = node_fork_child(loop)) < 0)
		return rc;
	fix_pid(env);
	return 0;
}

static napi_value outcome(napi_env env, bool restored, pid_t holder)
{
	napi_value obj, h;

	napi_create_object(env, &obj);
	napi_create_int32(env, (int32_t)holder, &h);
	napi_set_named_property(env, obj, "restored", make_bool(env, restored));
	napi_set_named_property(env, obj, "holder", h);
	return obj;
}

/* ------------------------------------------------------------ exports */

static napi_value snapshot(napi_env env, napi_callback_info info)
{
	pid_t holder;
	int rc;

	(void)info;
	if ((rc = node_fork_prepare()) < 0)
		return fail(env, "madvise", -rc);
	holder = node_fork_orphan();
	if (holder < 0)
		return fail(env, "fork", -holder);
	if (holder > 0)
		return outcome(env, false, holder);
	/* The holder: returns only in a copy, a spare, which gets ready and
	 * calls stop(). */
	holder = node_fork_hold();
	if ((rc = revive(env)) < 0) {
		/* A copy without its own loop would share the holder's epoll. */
		_exit(70);
	}
	return outcome(env, true, holder);
}

static napi_value wait_stopped(napi_env env, napi_callback_info info)
{
	int32_t pid;

	if (!int_args(env, info, &pid, 1))
		return NULL;
	return make_bool(env, pid > 1 && node_fork_wait_stopped(pid, WAIT_STOPPED_MS));
}

static napi_value set_blocking(napi_env env, napi_callback_info info)
{
	int32_t a[2];
	int flags;

	if (!int_args(env, info, a, 2))
		return NULL;
	if ((flags = fcntl(a[0], F_GETFL)) < 0 ||
	    fcntl(a[0], F_SETFL, a[1] ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) < 0)
		return fail(env, "fcntl", errno);
	return make_bool(env, true);
}

static napi_value stop(napi_env env, napi_callback_info info)
{
	(void)info;
	node_fork_stop();
	return make_bool(env, true);
}

static napi_value quick_exit(napi_env env, napi_callback_info info)
{
	int32_t code;

	if (!int_args(env, info, &code, 1))
		return NULL;
	_exit(code & 0xff);
}

static const struct export
{
	const char *name;
	napi_callback fn;
}
exports_table[] = {
    {"snapshot", snapshot},
    {"waitStopped", wait_stopped},
    {"setBlocking", set_blocking},
    {"exit", quick_exit},
    {"stop", stop},
};

NAPI_MODULE_INIT()
{
	for (size_t i = 0; i < sizeof(exports_table) / sizeof(exports_table[0]); i++) {
		napi_value fn;

		if (napi_create_function(env, exports_table[i].name, NAPI_AUTO_LENGTH,
					 exports_table[i].fn, NULL, &fn) != napi_ok ||
		    napi_set_named_property(env, exports, exports_table[i].name, fn) != napi_ok)
			return NULL;
	}
	return exports;
}
