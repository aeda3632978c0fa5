/* brig._native: the C half of the host-side Python SDK (python/brig). */
#include "pyglue.h"

#include <stdlib.h>

int pyglue_start_result(int rc, char *why)
{
	if (rc != BRIG_OK)
		PyErr_Format(PyExc_OSError, "%s: %s", brig_err_name(rc),
			     why ? why : brig_strerror(rc));
	free(why);
	return rc == BRIG_OK ? 0 : -1;
}

static PyObject *err_name(PyObject *mod, PyObject *arg)
{
	int code = (int)PyLong_AsLong(arg);

	if (PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(brig_err_name(code));
}

static PyObject *strerror_(PyObject *mod, PyObject *arg)
{
	int code = (int)PyLong_AsLong(arg);

	if (PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(brig_strerror(code));
}

static PyMethodDef module_methods[] = {
    {"err_name", err_name, METH_O, "err_name(code) -> 'ERR_...'"},
    {"strerror", strerror_, METH_O, "strerror(code) -> sentence"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "brig._native",
    .m_doc = "libbrig bindings; use the brig package instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void);

PyMODINIT_FUNC PyInit__native(void)
{
	PyTypeObject *types[] = {&PyglueKVType, &PyglueExecutorType, &PyglueSessionType,
				 &PyglueSnapshotType};
	const char *names[] = {"KV", "Executor", "Session", "Snapshot"};
	PyObject *m;

	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (PyType_Ready(types[i]) < 0)
			return NULL;
	if (!(m = PyModule_Create(&native_module)))
		return NULL;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		Py_INCREF(types[i]);
		if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
			Py_DECREF(types[i]);
			Py_DECREF(m);
			return NULL;
		}
	}
	PyModule_AddStringConstant(m, "VERSION", BRIG_VERSION);
	return m;
}
