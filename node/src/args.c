#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

bool sdk_get_prop(napi_env env, napi_value obj, const char *key, napi_value *out)
{
	napi_valuetype t;
	bool has = false;

	if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has ||
	    napi_get_named_property(env, obj, key, out) != napi_ok ||
	    napi_typeof(env, *out, &t) != napi_ok)
		return false;
	return t != napi_undefined && t != napi_null;
}

static bool invalid(napi_env env, const char *what, const char *why)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s %s", what, why);
	sdk_throw(env, BRIG_E_INVAL, msg);
	return false;
}

bool sdk_get_string(napi_env env, napi_value v, const char *what, char **out)
{
	napi_valuetype t;
	size_t len;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
		return invalid(env, what, "must be a string");
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
		return invalid(env, what, "is not readable");
	if (!(*out = malloc(len + 1))) {
		sdk_throw(env, BRIG_E_NOMEM, NULL);
		return false;
	}
	napi_get_value_string_utf8(env, v, *out, len + 1, &len);
	if (strlen(*out) != len) {
		free(*out);
		*out = NULL;
		return invalid(env, what, "must not contain NUL");
	}
	return true;
}

/* Absent keys leave *out alone. */
bool sdk_get_u64(napi_env env, napi_value obj, const char *key, uint64_t *out)
{
	napi_value v;
	double d;

	if (!sdk_get_prop(env, obj, key, &v))
		return true;
	if (napi_get_value_double(env, v, &d) != napi_ok || !isfinite(d) || d < 0 ||
	    d != floor(d) || d > 9007199254740991.0)
		return invalid(env, key, "must be a non-negative integer");
	*out = (uint64_t)d;
	return true;
}

bool sdk_get_bool(napi_env env, napi_value obj, const char *key, bool *out)
{
	napi_value v;

	if (!sdk_get_prop(env, obj, key, &v))
		return true;
	if (napi_get_value_bool(env, v, out) != napi_ok)
		return invalid(env, key, "must be a boolean");
	return true;
}
