/* A sandbox's limits and capabilities from the options index.js passes. */
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

static bool check(napi_env env, int rc, const char *what)
{
	if (rc)
		sdk_throw(env, rc, what);
	return rc == 0;
}

static bool read_limits(napi_env env, napi_value obj, brig_limits *l)
{
	napi_value v;
	uint64_t pids = 0;

	if (!sdk_get_prop(env, obj, "limits", &v))
		return true;
	if (!sdk_get_u64(env, v, "wallTimeoutMs", &l->wall_timeout_ms) ||
	    !sdk_get_u64(env, v, "cpuTimeoutMs", &l->cpu_timeout_ms) ||
	    !sdk_get_u64(env, v, "memoryBytes", &l->memory_bytes) ||
	    !sdk_get_u64(env, v, "maxPids", &pids) ||
	    !sdk_get_u64(env, v, "maxOutputBytes", &l->max_output_bytes) ||
	    !sdk_get_u64(env, v, "maxFrameBytes", &l->max_frame_bytes) ||
	    !sdk_get_u64(env, v, "tmpBytes", &l->tmp_bytes) ||
	    !sdk_get_u64(env, v, "stackBytes", &l->stack_bytes))
		return false;
	if (pids > UINT32_MAX)
		return check(env, BRIG_E_INVAL, "maxPids is too large");
	l->max_pids = (uint32_t)pids;
	return true;
}

/* Calls add(caps, s) for each string of the array obj[key]. */
static bool each_string(napi_env env, napi_value obj, const char *key, brig_caps *caps, void *ud,
			int (*add)(brig_caps *, const char *, void *))
{
	napi_value arr, v;
	uint32_t n;
	char *s;
	int rc;

	if (!sdk_get_prop(env, obj, key, &arr))
		return true;
	if (napi_get_array_length(env, arr, &n) != napi_ok)
		return check(env, BRIG_E_INVAL, key);
	for (uint32_t i = 0; i < n; i++) {
		if (napi_get_element(env, arr, i, &v) != napi_ok ||
		    !sdk_get_string(env, v, key, &s))
			return false;
		rc = add(caps, s, ud);
		free(s);
		if (!check(env, rc, key))
			return false;
	}
	return true;
}

static int add_host(brig_caps *caps, const char *s, void *ud)
{
	return brig_caps_allow_host(caps, s);
}

static int add_function(brig_caps *caps, const char *s, void *ud)
{
	return brig_caps_add_function(caps, s, sdk_host_fn, ud);
}

static bool read_mount(napi_env env, napi_value m, brig_caps *caps)
{
	napi_value v;
	char *guest = NULL, *host = NULL, *mode = NULL;
	brig_mount_mode mm = BRIG_MOUNT_RO;
	int rc = BRIG_E_INVAL;

	if (sdk_get_prop(env, m, "guestPath", &v) && sdk_get_string(env, v, "guestPath", &guest) &&
	    sdk_get_prop(env, m, "hostPath", &v) && sdk_get_string(env, v, "hostPath", &host) &&
	    (!sdk_get_prop(env, m, "mode", &v) || sdk_get_string(env, v, "mode", &mode))) {
		if (mode && !strcmp(mode, "rw"))
			mm = BRIG_MOUNT_RW;
		else if (mode && !strcmp(mode, "rwc"))
			mm = BRIG_MOUNT_RWC;
		rc = mode && strcmp(mode, "ro") && mm == BRIG_MOUNT_RO
			 ? BRIG_E_INVAL
			 : brig_caps_mount(caps, guest, host, mm);
	}
	free(guest), free(host), free(mode);
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	return pending ? false : check(env, rc, "mount (guestPath, hostPath, mode ro|rw|rwc)");
}

static bool read_mounts(napi_env env, napi_value obj, brig_caps *caps)
{
	napi_value arr, m;
	uint32_t n;

	if (!sdk_get_prop(env, obj, "mounts", &arr))
		return true;
	if (napi_get_array_length(env, arr, &n) != napi_ok)
		return check(env, BRIG_E_INVAL, "mounts must be an array");
	for (uint32_t i = 0; i < n; i++) {
		if (napi_get_element(env, arr, i, &m) != napi_ok || !read_mount(env, m, caps))
			return false;
	}
	return true;
}

static bool read_kv(napi_env env, napi_value obj, struct sdk_opts *o)
{
	napi_value v;
	char *path;
	int rc;

	if (!sdk_get_prop(env, obj, "kv", &v))
		return true;
	if (!sdk_get_string(env, v, "kv", &path))
		return false;
	rc =
	    strcmp(path, ":memory:") ? brig_kv_open(path, NULL, &o->kv) : brig_kv_new(NULL, &o->kv);
	free(path);
	return check(env, rc, "cannot open the kv store") &&
	       check(env, brig_caps_set_kv(o->caps, o->kv), "kv");
}

static bool read_lang(napi_env env, napi_value obj, struct sdk_opts *o)
{
	napi_value v;
	char *name;
	int rc;

	if (!sdk_get_prop(env, obj, "lang", &v))
		return check(env, BRIG_E_INVAL, "lang is required");
	if (!sdk_get_string(env, v, "lang", &name))
		return false;
	rc = brig_lang_parse(name, &o->lang);
	free(name);
	return check(env, rc, "lang must be python, js or sh");
}

static bool read_stdin(napi_env env, napi_value obj, struct sdk_opts *o)
{
	napi_value v;

	if (!sdk_get_prop(env, obj, "stdin", &v))
		return true;
	if (!sdk_get_string(env, v, "stdin", &o->stdin_data))
		return false;
	o->run.stdin_data = o->stdin_data;
	o->run.stdin_len = strlen(o->stdin_data);
	return true;
}

bool sdk_opts_read(napi_env env, napi_value obj, struct sdk_host *host, struct sdk_opts *o)
{
	memset(o, 0, sizeof(*o));
	brig_run_opts_init(&o->run);
	if (!check(env, brig_caps_new(&o->caps), "capabilities"))
		return false;
	o->run.caps = o->caps;
	if (read_lang(env, obj, o) && read_limits(env, obj, &o->run.limits) &&
	    each_string(env, obj, "allowHosts", o->caps, NULL, add_host) &&
	    each_string(env, obj, "functions", o->caps, host, add_function) &&
	    read_mounts(env, obj, o->caps) && read_kv(env, obj, o) && read_stdin(env, obj, o))
		return true;
	sdk_opts_free(o);
	return false;
}

void sdk_opts_free(struct sdk_opts *o)
{
	brig_caps_free(o->caps);
	brig_kv_free(o->kv);
	free(o->stdin_data);
	memset(o, 0, sizeof(*o));
}

bool sdk_box_init(napi_env env, struct sdk_box *box, const char *thread, napi_value options,
		  napi_value dispatch)
{
	napi_valuetype t;

	box->state = sdk_state_of(env);
	if (!(box->worker = sdk_worker_new(env, thread)))
		return false;
	napi_typeof(env, dispatch, &t);
	if ((t == napi_function && !(box->host = sdk_host_new(env, dispatch, box->worker))) ||
	    !sdk_opts_read(env, options, box->host, &box->opts)) {
		sdk_worker_close(box->worker);
		sdk_host_free(env, box->host);
		box->host = NULL;
		return false;
	}
	return true;
}

void sdk_box_free(napi_env env, struct sdk_box *box)
{
	sdk_host_free(env, box->host);
	sdk_opts_free(&box->opts);
}
