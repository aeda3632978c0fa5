/*
 * brig_zygote_js.node: the JavaScript zygote's addon (guest/js/zygote.js).
 * serve(fd, pool) serves spawn requests and returns only in a guest, with the
 * guest's pid, once libuv's loop has kernel objects of its own.  Before
 * each clone V8's heap is made inheritable again (src/node/fork.c).
 */
#include <node_api.h>
#include <unistd.h>

#include "jail/zygote.h"
#include "node/fork.h"

static void make_inheritable(void)
{
	node_fork_prepare();
}

static napi_value serve(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], pid;
	int32_t fd, pool;
	uv_loop_t *loop;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_get_value_int32(env, argv[1], &pool) != napi_ok) {
		napi_throw_type_error(env, NULL, "serve(fd, pool)");
		return NULL;
	}
	zygote_serve(fd, pool, make_inheritable);
	/* In a guest from here on: no way back to the zygote's state. */
	if (napi_get_uv_event_loop(env, &loop) != napi_ok || node_fork_child(loop) != 0) {
		(void)!write(2, "brig: the event loop cannot be renewed\n", 39);
		_exit(126);
	}
	if (napi_create_int32(env, (int32_t)getpid(), &pid) != napi_ok)
		_exit(126);
	return pid;
}

/*
 * exit(code): leave at once.  A guest's node must not tear its platform
 * down: the threads it would stop and join were the zygote's, and never
 * existed in the guest.
 */
static napi_value leave(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t code = 0;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1)
		napi_get_value_int32(env, argv[0], &code);
	_exit(code & 0xff);
}

NAPI_MODULE_INIT()
{
	napi_value fn, ex;

	if (napi_create_function(env, "serve", NAPI_AUTO_LENGTH, serve, NULL, &fn) != napi_ok ||
	    napi_set_named_property(env, exports, "serve", fn) != napi_ok ||
	    napi_create_function(env, "exit", NAPI_AUTO_LENGTH, leave, NULL, &ex) != napi_ok ||
	    napi_set_named_property(env, exports, "exit", ex) != napi_ok)
		return NULL;
	return exports;
}
