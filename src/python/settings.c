/*
 * Settings of a run or session: the Python layer's dict turned into
 * brig_run_opts and a brig_caps, and the callbacks that lead back into
 * Python (host functions, streamed output).
 */
#include "pyglue.h"

#include <stdlib.h>
#include <string.h>

/* "Type: message" of the pending exception, malloc'd; clears it. */
static char *exception_text(void)
{
	PyObject *type, *value, *tb, *text = NULL;
	const char *name, *msg = NULL;
	char *out;
	size_t n;

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	name = type ? ((PyTypeObject *)type)->tp_name : "Exception";
	if (value && (text = PyObject_Str(value)) != NULL)
		msg = PyUnicode_AsUTF8(text);
	if (!msg) {
		PyErr_Clear();
		msg = "";
	}
	n = strlen(name) + strlen(msg) + 3;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, *msg ? "%s: %s" : "%s", name, msg);
	Py_XDECREF(text);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return out;
}

/* A host function: the dispatcher returns JSON text; an exception is the
 * guest's error. */
static int call_python(void *userdata, const char *name, const char *args_json, char **result_json,
		       char **error_message)
{
	PyGILState_STATE g = PyGILState_Ensure();
	PyObject *r = PyObject_CallFunction(userdata, "ss", name, args_json);
	int rc = 0;

	if (r && PyUnicode_Check(r)) {
		const char *s = PyUnicode_AsUTF8(r);

		if (s && !(*result_json = strdup(s)))
			rc = 1;
		if (!s) {
			*error_message = exception_text();
			rc = 1;
		}
	} else {
		if (r)
			PyErr_SetString(PyExc_TypeError,
					"host function dispatcher must return str");
		*error_message = exception_text();
		rc = 1;
	}
	Py_XDECREF(r);
	PyGILState_Release(g);
	return rc;
}

/* Streamed output; an exception in the callback is reported and dropped
 * (the run goes on). */
static void output_python(void *userdata, brig_stream stream, const char *data, size_t len)
{
	PyGILState_STATE g = PyGILState_Ensure();
	PyObject *r = PyObject_CallFunction(userdata, "iy#", (int)stream, data, (Py_ssize_t)len);

	if (!r)
		PyErr_WriteUnraisable(userdata);
	Py_XDECREF(r);
	PyGILState_Release(g);
}

/* An unsigned integer setting: 0 when absent or None. */
static int get_u64(PyObject *d, const char *key, uint64_t *out)
{
	PyObject *v = PyDict_GetItemString(d, key);

	if (!v || v == Py_None)
		return 0;
	*out = PyLong_AsUnsignedLongLong(v);
	if (PyErr_Occurred()) {
		PyErr_Format(PyExc_ValueError, "%s must be a non-negative integer", key);
		return -1;
	}
	return 0;
}

static int check(int rc, const char *what)
{
	if (rc == BRIG_OK)
		return 0;
	PyErr_Format(PyExc_ValueError, "%s: %s", what, brig_strerror(rc));
	return -1;
}

static int set_limits(brig_limits *l, PyObject *d)
{
	uint64_t pids = 0, files = 0;

	if (get_u64(d, "timeout_ms", &l->wall_timeout_ms) < 0 ||
	    get_u64(d, "cpu_timeout_ms", &l->cpu_timeout_ms) < 0 ||
	    get_u64(d, "memory", &l->memory_bytes) < 0 || get_u64(d, "pids", &pids) < 0 ||
	    get_u64(d, "max_output", &l->max_output_bytes) < 0 ||
	    get_u64(d, "tmp_bytes", &l->tmp_bytes) < 0 ||
	    get_u64(d, "tmp_inodes", &l->tmp_inodes) < 0 ||
	    get_u64(d, "max_frame", &l->max_frame_bytes) < 0 ||
	    get_u64(d, "mount_write_bytes", &l->mount_write_bytes) < 0 ||
	    get_u64(d, "max_open_files", &files) < 0)
		return -1;
	if (pids > UINT32_MAX || files > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "pids and max_open_files must fit 32 bits");
		return -1;
	}
	l->max_pids = (uint32_t)pids;
	l->max_open_files = (uint32_t)files;
	return 0;
}

static int add_hosts(struct pyglue_opts *o, PyObject *hosts)
{
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(hosts); i++) {
		const char *h = PyUnicode_AsUTF8(PyList_GET_ITEM(hosts, i));

		if (!h || check(brig_caps_allow_host(o->caps, h), h) < 0)
			return -1;
	}
	return 0;
}

/* mounts: a list of (vpath, host_path, mode) with mode 0 ro, 1 rw, 2 rwc. */
static int add_mounts(struct pyglue_opts *o, PyObject *mounts)
{
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(mounts); i++) {
		const char *vpath, *host;
		int mode;

		if (!PyArg_ParseTuple(PyList_GET_ITEM(mounts, i), "ssi", &vpath, &host, &mode))
			return -1;
		if (check(brig_caps_mount(o->caps, vpath, host, (brig_mount_mode)mode), vpath) < 0)
			return -1;
	}
	return 0;
}

static int add_functions(struct pyglue_opts *o, PyObject *names, PyObject *dispatch)
{
	if (!PyCallable_Check(dispatch)) {
		PyErr_SetString(PyExc_TypeError, "dispatch must be callable");
		return -1;
	}
	Py_INCREF(dispatch);
	o->dispatch = dispatch;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
		const char *n = PyUnicode_AsUTF8(PyList_GET_ITEM(names, i));

		if (!n || check(brig_caps_add_function(o->caps, n, call_python, dispatch), n) < 0)
			return -1;
	}
	return 0;
}

/* A list setting, or NULL (no error) when absent. */
static PyObject *get_list(PyObject *d, const char *key, int *err)
{
	PyObject *v = PyDict_GetItemString(d, key);

	if (!v || v == Py_None)
		return NULL;
	if (!PyList_Check(v)) {
		PyErr_Format(PyExc_TypeError, "%s must be a list", key);
		*err = 1;
		return NULL;
	}
	return v;
}

static int set_caps(struct pyglue_opts *o, PyObject *d)
{
	PyObject *v, *dispatch = PyDict_GetItemString(d, "dispatch");
	int err = 0;

	if (check(brig_caps_new(&o->caps), "capabilities") < 0)
		return -1;
	o->opts.caps = o->caps;
	if ((v = get_list(d, "allow_hosts", &err)) && add_hosts(o, v) < 0)
		return -1;
	if ((v = get_list(d, "mounts", &err)) && add_mounts(o, v) < 0)
		return -1;
	if ((v = get_list(d, "functions", &err)) && dispatch && add_functions(o, v, dispatch) < 0)
		return -1;
	if (err)
		return -1;
	if ((v = PyDict_GetItemString(d, "kv")) && v != Py_None) {
		brig_kv *kv = pyglue_kv_handle(v);

		if (!kv)
			return -1;
		Py_INCREF(v);
		o->kv = v;
		brig_caps_set_kv(o->caps, kv);
	}
	return 0;
}

static int set_io(struct pyglue_opts *o, PyObject *d)
{
	PyObject *v;

	if ((v = PyDict_GetItemString(d, "stdin")) && v != Py_None) {
		char *data;
		Py_ssize_t len;

		if (PyBytes_AsStringAndSize(v, &data, &len) < 0)
			return -1;
		Py_INCREF(v);
		o->stdin_obj = v;
		o->opts.stdin_data = data;
		o->opts.stdin_len = (size_t)len;
	}
	if ((v = PyDict_GetItemString(d, "on_output")) && v != Py_None) {
		Py_INCREF(v);
		o->on_output = v;
		o->opts.on_output = output_python;
		o->opts.output_userdata = v;
	}
	return 0;
}

int pyglue_opts_from_dict(struct pyglue_opts *o, PyObject *settings)
{
	memset(o, 0, sizeof *o);
	brig_run_opts_init(&o->opts);
	if (!PyDict_Check(settings)) {
		PyErr_SetString(PyExc_TypeError, "settings must be a dict");
		return -1;
	}
	if (set_limits(&o->opts.limits, settings) < 0 || set_caps(o, settings) < 0 ||
	    set_io(o, settings) < 0)
		return -1;
	return 0;
}

void pyglue_opts_clear(struct pyglue_opts *o)
{
	brig_caps_free(o->caps);
	o->caps = NULL;
	Py_CLEAR(o->dispatch);
	Py_CLEAR(o->on_output);
	Py_CLEAR(o->kv);
	Py_CLEAR(o->stdin_obj);
}

PyObject *pyglue_result_json(const brig_result *r)
{
	char *json;
	PyObject *s;

	if (!r)
		Py_RETURN_NONE;
	if (!(json = brig_result_to_json(r)))
		return PyErr_NoMemory();
	s = PyUnicode_DecodeUTF8(json, (Py_ssize_t)strlen(json), "surrogateescape");
	free(json);
	return s;
}
