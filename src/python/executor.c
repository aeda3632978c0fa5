/* brig._native.Executor: one brig_executor and its one-shot runs. */
#include "pyglue.h"

#include <stdlib.h>

typedef struct {
	PyObject_HEAD brig_executor *ex;
} ExecutorObject;

static const char *env_or_null(PyObject *d, const char *key)
{
	PyObject *v = PyDict_GetItemString(d, key);

	return v && v != Py_None ? PyUnicode_AsUTF8(v) : NULL;
}

/* Executor(config: dict): guest_dir, zygote_dir, native_dir, warm_start. */
static int executor_init(ExecutorObject *self, PyObject *args, PyObject *kw)
{
	PyObject *cfgd;
	brig_config cfg;
	char *why = NULL;
	int rc;

	if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &cfgd))
		return -1;
	if (self->ex) {
		PyErr_SetString(PyExc_RuntimeError, "Executor already initialised");
		return -1;
	}
	brig_config_init(&cfg);
	cfg.guest_dir = env_or_null(cfgd, "guest_dir");
	cfg.zygote_dir = env_or_null(cfgd, "zygote_dir");
	cfg.native_dir = env_or_null(cfgd, "native_dir");
	if (PyDict_GetItemString(cfgd, "warm_start"))
		cfg.warm_start = (int)PyLong_AsLong(PyDict_GetItemString(cfgd, "warm_start"));
	if (PyErr_Occurred())
		return -1;
	PYGLUE_NOGIL(rc = brig_executor_new(&cfg, &self->ex, &why));
	return pyglue_start_result(rc, why);
}

static void executor_dealloc(ExecutorObject *self)
{
	if (self->ex) {
		PYGLUE_NOGIL(brig_executor_free(self->ex));
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

brig_executor *pyglue_executor_handle(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &PyglueExecutorType) || !((ExecutorObject *)obj)->ex) {
		PyErr_SetString(PyExc_TypeError, "expected a brig executor");
		return NULL;
	}
	return ((ExecutorObject *)obj)->ex;
}

struct run_job {
	brig_executor *ex;
	brig_lang lang;
	const char *code;
	size_t len;
	brig_run_opts *opts;
	brig_result *result;
};

static void run_job_main(void *p)
{
	struct run_job *j = p;

	brig_run(j->ex, j->lang, j->code, j->len, j->opts, &j->result);
}

static void run_job_cancel(void *p)
{
	brig_cancel_trigger(p);
}

/* run(lang, code: bytes, settings: dict) -> result JSON str */
static PyObject *executor_run(ExecutorObject *self, PyObject *args)
{
	const char *lang_name, *code;
	Py_ssize_t len;
	PyObject *settings, *out = NULL;
	struct pyglue_opts o;
	struct run_job job = {.ex = self->ex};
	brig_cancel *cancel = NULL;

	if (!PyArg_ParseTuple(args, "sy#O!", &lang_name, &code, &len, &PyDict_Type, &settings))
		return NULL;
	if (brig_lang_parse(lang_name, &job.lang) != BRIG_OK)
		return PyErr_Format(PyExc_ValueError, "unknown language %R",
				    PyTuple_GET_ITEM(args, 0));
	if (pyglue_opts_from_dict(&o, settings) < 0)
		goto out;
	if (brig_cancel_new(&cancel) != BRIG_OK) {
		PyErr_NoMemory();
		goto out;
	}
	o.opts.cancel = cancel;
	job.code = code;
	job.len = (size_t)len;
	job.opts = &o.opts;
	/* A one-shot run keeps nothing worth saving: Ctrl-C kills it at once. */
	if (pyglue_blocking(run_job_main, &job,
			    &(struct pyglue_cancel){.hard = run_job_cancel, .arg = cancel}) == 0)
		out = job.result ? pyglue_result_json(job.result) : PyErr_NoMemory();
out:
	brig_result_free(job.result);
	brig_cancel_free(cancel);
	pyglue_opts_clear(&o);
	return out;
}

static PyMethodDef executor_methods[] = {
    {"run", (PyCFunction)executor_run, METH_VARARGS,
     "run(lang, code, settings) -> result JSON (brig_result_to_json)"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PyglueExecutorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "brig._native.Executor",
    .tp_basicsize = sizeof(ExecutorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Executor(config): a brig_executor.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)executor_init,
    .tp_dealloc = (destructor)executor_dealloc,
    .tp_methods = executor_methods,
};
