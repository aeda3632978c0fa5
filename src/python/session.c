/* brig._native.Session and Snapshot: a brig_session and its snapshots. */
#include "pyglue.h"

#include <stdlib.h>

typedef struct {
	PyObject_HEAD brig_session *s;
	PyObject *executor; /* kept alive while the session is */
	struct pyglue_opts o;
	int busy; /* calls in progress (under the GIL) */
} SessionObject;

typedef struct {
	PyObject_HEAD brig_snapshot *snap;
	PyObject *session; /* a snapshot dies before its session */
} SnapshotObject;

/* Session(executor, lang, settings) */
static int session_init(SessionObject *self, PyObject *args, PyObject *kw)
{
	PyObject *exo, *settings;
	const char *lang_name;
	brig_executor *ex;
	brig_lang lang;
	char *why = NULL;
	int rc;

	if (!PyArg_ParseTuple(args, "OsO!", &exo, &lang_name, &PyDict_Type, &settings))
		return -1;
	if (self->s) {
		PyErr_SetString(PyExc_RuntimeError, "Session already initialised");
		return -1;
	}
	if (!(ex = pyglue_executor_handle(exo)))
		return -1;
	if (brig_lang_parse(lang_name, &lang) != BRIG_OK) {
		PyErr_Format(PyExc_ValueError, "unknown language '%s'", lang_name);
		return -1;
	}
	if (pyglue_opts_from_dict(&self->o, settings) < 0)
		return -1;
	Py_INCREF(exo);
	self->executor = exo;
	PYGLUE_NOGIL(rc = brig_session_new(ex, lang, &self->o.opts, &self->s, &why));
	return pyglue_start_result(rc, why);
}

static void session_close_now(SessionObject *self)
{
	if (self->s) {
		brig_session *s = self->s;

		self->s = NULL;
		PYGLUE_NOGIL(brig_session_free(s));
	}
}

static void session_dealloc(SessionObject *self)
{
	session_close_now(self);
	pyglue_opts_clear(&self->o);
	Py_CLEAR(self->executor);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int usable(SessionObject *self)
{
	if (self->s)
		return 1;
	PyErr_SetString(PyExc_ValueError, "session is closed");
	return 0;
}

static PyObject *session_close(SessionObject *self, PyObject *unused)
{
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "a call is running; interrupt it first");
		return NULL;
	}
	session_close_now(self);
	Py_RETURN_NONE;
}

/*
 * Ctrl-C during a call: a break first, which stops the guest the way Ctrl-C
 * stops the language and leaves the session usable; code that outlives it
 * by this long (it caught KeyboardInterrupt, or cannot be interrupted so)
 * is killed, which poisons the session.
 */
#define BREAK_GRACE_MS 2000

static void break_cb(void *p)
{
	brig_session_break(p);
}

static void interrupt_cb(void *p)
{
	brig_session_interrupt(p);
}

struct call_job {
	brig_session *s;
	const char *name, *code;
	size_t len;
	brig_call_opts co;
	char *result_json;
	brig_result *result;
	int rc;
};

static void exec_main(void *p)
{
	struct call_job *j = p;

	j->rc = brig_session_run(j->s, j->code, j->len, &j->co, &j->result);
}

static void handler_main(void *p)
{
	struct call_job *j = p;

	j->rc =
	    brig_session_call_handler(j->s, j->name, j->code, &j->co, &j->result_json, &j->result);
}

static void load_main(void *p)
{
	struct call_job *j = p;

	j->rc = brig_session_load(j->s, &j->result);
}

/* Run job on the session; (rc, result_json or None, result JSON or None). */
static PyObject *session_call(SessionObject *self, void (*fn)(void *), struct call_job *j)
{
	struct pyglue_cancel cancel = {break_cb, interrupt_cb, self->s, BREAK_GRACE_MS};
	PyObject *out = NULL, *res;
	int rc;

	j->s = self->s;
	self->busy++;
	rc = pyglue_blocking(fn, j, &cancel);
	self->busy--;
	if (rc == 0 && (res = pyglue_result_json(j->result)) != NULL) {
		out = Py_BuildValue("(izN)", j->rc, j->result_json, res);
	}
	free(j->result_json);
	brig_result_free(j->result);
	return out;
}

static PyObject *session_exec(SessionObject *self, PyObject *args)
{
	struct call_job j = {0};
	unsigned long long wall = 0, cpu = 0;
	int interactive = 0;
	Py_ssize_t len;

	if (!usable(self) ||
	    !PyArg_ParseTuple(args, "y#|KKp", &j.code, &len, &wall, &cpu, &interactive))
		return NULL;
	brig_call_opts_init(&j.co);
	j.len = (size_t)len;
	j.co.wall_timeout_ms = wall;
	j.co.cpu_timeout_ms = cpu;
	j.co.interactive = interactive;
	return session_call(self, exec_main, &j);
}

static PyObject *session_call_handler(SessionObject *self, PyObject *args)
{
	struct call_job j = {0};
	unsigned long long wall = 0, cpu = 0;
	int gc = 1;

	if (!usable(self) || !PyArg_ParseTuple(args, "ss|KKp", &j.name, &j.code, &wall, &cpu, &gc))
		return NULL;
	brig_call_opts_init(&j.co);
	j.co.wall_timeout_ms = wall;
	j.co.cpu_timeout_ms = cpu;
	j.co.gc = gc;
	return session_call(self, handler_main, &j);
}

static PyObject *session_load(SessionObject *self, PyObject *unused)
{
	struct call_job j = {0};

	if (!usable(self))
		return NULL;
	return session_call(self, load_main, &j);
}

static PyObject *session_add_handler(SessionObject *self, PyObject *args)
{
	const char *name, *code;

	if (!usable(self) || !PyArg_ParseTuple(args, "ss", &name, &code))
		return NULL;
	return PyLong_FromLong(brig_session_add_handler(self->s, name, code));
}

static PyObject *session_remove_handler(SessionObject *self, PyObject *args)
{
	const char *name;

	if (!usable(self) || !PyArg_ParseTuple(args, "s", &name))
		return NULL;
	return PyLong_FromLong(brig_session_remove_handler(self->s, name));
}

static PyObject *session_clear_handlers(SessionObject *self, PyObject *unused)
{
	if (!usable(self))
		return NULL;
	return PyLong_FromLong(brig_session_clear_handlers(self->s));
}

static PyObject *session_unload(SessionObject *self, PyObject *unused)
{
	int rc;

	if (!usable(self))
		return NULL;
	PYGLUE_NOGIL(rc = brig_session_unload(self->s));
	return PyLong_FromLong(rc);
}

/* copy_files_from(src) -> (rc, why or None): this session's files become src's. */
static PyObject *session_copy_files_from(SessionObject *self, PyObject *args)
{
	SessionObject *src;
	char *why = NULL;
	PyObject *out;
	int rc;

	if (!usable(self) || !PyArg_ParseTuple(args, "O!", &PyglueSessionType, &src) ||
	    !usable(src))
		return NULL;
	PYGLUE_NOGIL(rc = brig_session_copy_files(self->s, src->s, &why));
	out = Py_BuildValue("(iz)", rc, why);
	free(why);
	return out;
}

static PyObject *session_interrupt(SessionObject *self, PyObject *unused)
{
	if (self->s)
		brig_session_interrupt(self->s);
	Py_RETURN_NONE;
}

static PyObject *session_poisoned(SessionObject *self, PyObject *unused)
{
	if (!usable(self))
		return NULL;
	return PyBool_FromLong(brig_session_poisoned(self->s));
}

static PyObject *session_snapshot(SessionObject *self, PyObject *unused)
{
	brig_snapshot *snap = NULL;
	SnapshotObject *obj;
	int rc;

	if (!usable(self))
		return NULL;
	PYGLUE_NOGIL(rc = brig_session_snapshot(self->s, &snap));
	if (rc != BRIG_OK)
		return Py_BuildValue("(iO)", rc, Py_None);
	obj = PyObject_New(SnapshotObject, &PyglueSnapshotType);
	if (!obj) {
		brig_snapshot_free(snap);
		return NULL;
	}
	obj->snap = snap;
	Py_INCREF(self);
	obj->session = (PyObject *)self;
	return Py_BuildValue("(iN)", rc, (PyObject *)obj);
}

static PyObject *session_restore(SessionObject *self, PyObject *args)
{
	SnapshotObject *snap;
	int rc;

	if (!usable(self) || !PyArg_ParseTuple(args, "O!", &PyglueSnapshotType, &snap))
		return NULL;
	if (snap->session != (PyObject *)self || !snap->snap) {
		PyErr_SetString(PyExc_ValueError, "snapshot of another session, or released");
		return NULL;
	}
	PYGLUE_NOGIL(rc = brig_session_restore(self->s, snap->snap));
	return PyLong_FromLong(rc);
}

static PyMethodDef session_methods[] = {
    {"exec", (PyCFunction)session_exec, METH_VARARGS,
     "exec(code, wall_ms=0, cpu_ms=0, interactive=False) -> (rc, None, result JSON)"},
    {"call_handler", (PyCFunction)session_call_handler, METH_VARARGS,
     "call_handler(name, event_json, wall_ms=0, cpu_ms=0, gc=True) -> (rc, json, result)"},
    {"load", (PyCFunction)session_load, METH_NOARGS, "load() -> (rc, None, result JSON)"},
    {"unload", (PyCFunction)session_unload, METH_NOARGS, "unload() -> rc"},
    {"copy_files_from", (PyCFunction)session_copy_files_from, METH_VARARGS,
     "copy_files_from(src) -> (rc, why)"},
    {"add_handler", (PyCFunction)session_add_handler, METH_VARARGS, "add_handler(name, code)"},
    {"remove_handler", (PyCFunction)session_remove_handler, METH_VARARGS,
     "remove_handler(name) -> rc"},
    {"clear_handlers", (PyCFunction)session_clear_handlers, METH_NOARGS, "clear_handlers() -> rc"},
    {"interrupt", (PyCFunction)session_interrupt, METH_NOARGS, "Kill the running call."},
    {"poisoned", (PyCFunction)session_poisoned, METH_NOARGS, "poisoned() -> bool"},
    {"snapshot", (PyCFunction)session_snapshot, METH_NOARGS, "snapshot() -> (rc, Snapshot)"},
    {"restore", (PyCFunction)session_restore, METH_VARARGS, "restore(snapshot) -> rc"},
    {"close", (PyCFunction)session_close, METH_NOARGS, "Kill the sandbox and free it."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PyglueSessionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "brig._native.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Session(executor, lang, settings): a brig_session.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)session_init,
    .tp_dealloc = (destructor)session_dealloc,
    .tp_methods = session_methods,
};

static PyObject *snapshot_release(SnapshotObject *self, PyObject *unused)
{
	brig_snapshot_free(self->snap);
	self->snap = NULL;
	Py_RETURN_NONE;
}

static void snapshot_dealloc(SnapshotObject *self)
{
	brig_snapshot_free(self->snap);
	Py_CLEAR(self->session);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef snapshot_methods[] = {
    {"release", (PyCFunction)snapshot_release, METH_NOARGS, "Free the frozen copy now."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PyglueSnapshotType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "brig._native.Snapshot",
    .tp_basicsize = sizeof(SnapshotObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A session snapshot (brig_snapshot).",
    .tp_dealloc = (destructor)snapshot_dealloc,
    .tp_methods = snapshot_methods,
};
