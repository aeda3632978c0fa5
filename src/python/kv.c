/* brig._native.KV: a key-value store (brig_kv) that runs and sessions share. */
#include "pyglue.h"

#include <stdlib.h>

typedef struct {
	PyObject_HEAD brig_kv *kv;
} KVObject;

static int kv_init(KVObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = {"path", NULL};
	const char *path = NULL;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z", names, &path))
		return -1;
	if (self->kv) {
		PyErr_SetString(PyExc_RuntimeError, "KV already initialised");
		return -1;
	}
	rc = path ? brig_kv_open(path, NULL, &self->kv) : brig_kv_new(NULL, &self->kv);
	if (rc != BRIG_OK) {
		PyErr_Format(PyExc_OSError, "%s: %s", path ? path : "kv", brig_strerror(rc));
		return -1;
	}
	return 0;
}

static void kv_dealloc(KVObject *self)
{
	brig_kv_free(self->kv);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

brig_kv *pyglue_kv_handle(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &PyglueKVType) || !((KVObject *)obj)->kv) {
		PyErr_SetString(PyExc_TypeError, "kv must be a brig KV store");
		return NULL;
	}
	return ((KVObject *)obj)->kv;
}

/* (rc, text or None) for the Python layer to raise on. */
static PyObject *owned_text(int rc, char *text)
{
	PyObject *r = Py_BuildValue("(iz)", rc, rc == BRIG_OK ? text : NULL);

	free(text);
	return r;
}

static PyObject *kv_get(KVObject *self, PyObject *args)
{
	const char *key;
	char *json = NULL;
	int rc;

	if (!PyArg_ParseTuple(args, "s", &key))
		return NULL;
	rc = brig_kv_get(self->kv, key, &json);
	return owned_text(rc, json);
}

static PyObject *kv_set(KVObject *self, PyObject *args)
{
	const char *key, *json;

	if (!PyArg_ParseTuple(args, "ss", &key, &json))
		return NULL;
	return PyLong_FromLong(brig_kv_set(self->kv, key, json));
}

static PyObject *kv_delete(KVObject *self, PyObject *args)
{
	const char *key;

	if (!PyArg_ParseTuple(args, "s", &key))
		return NULL;
	return PyLong_FromLong(brig_kv_delete(self->kv, key));
}

static PyObject *kv_keys(KVObject *self, PyObject *unused)
{
	char *json = NULL;
	int rc = brig_kv_keys(self->kv, &json);

	return owned_text(rc, json);
}

static PyMethodDef kv_methods[] = {
    {"get", (PyCFunction)kv_get, METH_VARARGS, "get(key) -> (rc, json or None)"},
    {"set", (PyCFunction)kv_set, METH_VARARGS, "set(key, json) -> rc"},
    {"delete", (PyCFunction)kv_delete, METH_VARARGS, "delete(key) -> rc"},
    {"keys", (PyCFunction)kv_keys, METH_NOARGS, "keys() -> (rc, json list)"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PyglueKVType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "brig._native.KV",
    .tp_basicsize = sizeof(KVObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "KV(path=None): an in-memory key-value store, or a durable SQLite one.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)kv_init,
    .tp_dealloc = (destructor)kv_dealloc,
    .tp_methods = kv_methods,
};
