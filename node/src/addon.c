/* The addon's entry point and its per-environment state: the executor. */
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

/*
 * One executor per node environment, made on first use by whichever worker
 * thread needs it first.  It lives as long as the process: sessions and
 * runs of other threads may still use it when the environment goes.
 */
struct sdk_state {
	pthread_mutex_t lock;
	brig_executor *ex;
};

struct sdk_state *sdk_state_of(napi_env env)
{
	struct sdk_state *st = NULL;

	napi_get_instance_data(env, (void **)&st);
	return st;
}

int sdk_state_executor(struct sdk_state *st, brig_executor **out, char **why)
{
	int rc = BRIG_OK;

	brig_config cfg;

	/* Where brig's files are, as the CLI takes them: an SDK copied away
	 * from its build still finds the guest agents. */
	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	pthread_mutex_lock(&st->lock);
	if (!st->ex)
		rc = brig_executor_new(&cfg, &st->ex, why);
	*out = st->ex;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static napi_value errname(napi_env env, napi_callback_info info)
{
	napi_value argv[1], v;
	size_t argc = 1;
	int32_t code = 0;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_int32(env, argv[0], &code) != napi_ok ||
	    napi_create_string_utf8(env, brig_err_name(code), NAPI_AUTO_LENGTH, &v) != napi_ok)
		return NULL;
	return v;
}

static napi_value init(napi_env env, napi_value exports)
{
	struct sdk_state *st = calloc(1, sizeof(*st));
	napi_value f, version;

	if (!st || napi_set_instance_data(env, st, NULL, NULL) != napi_ok) {
		free(st);
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	}
	pthread_mutex_init(&st->lock, NULL);
	sdk_session_init(env, exports);
	sdk_run_init(env, exports);
	if (napi_create_function(env, "errorName", NAPI_AUTO_LENGTH, errname, NULL, &f) == napi_ok)
		napi_set_named_property(env, exports, "errorName", f);
	if (napi_create_string_utf8(env, BRIG_VERSION, NAPI_AUTO_LENGTH, &version) == napi_ok)
		napi_set_named_property(env, exports, "version", version);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
