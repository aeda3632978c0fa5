#include "sdk.h"

napi_value sdk_error(napi_env env, int rc, const char *message)
{
	napi_value msg, code, err;

	if (!message || !*message)
		message = brig_strerror(rc);
	if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
	    napi_create_string_utf8(env, brig_err_name(rc), NAPI_AUTO_LENGTH, &code) != napi_ok ||
	    napi_create_error(env, code, msg, &err) != napi_ok)
		return NULL;
	return err;
}

napi_value sdk_throw(napi_env env, int rc, const char *message)
{
	napi_value err = sdk_error(env, rc, message);

	if (err)
		napi_throw(env, err);
	return NULL;
}
