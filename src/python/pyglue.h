/* Shared parts of the brig._native extension module (the host-side Python SDK). */
#ifndef BRIG_PYGLUE_H
#define BRIG_PYGLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "brig.h"

/* Run stmt without the GIL. */
#define PYGLUE_NOGIL(stmt)                                                                         \
	do {                                                                                       \
		PyThreadState *ts_ = PyEval_SaveThread();                                          \
		stmt;                                                                              \
		PyEval_RestoreThread(ts_);                                                         \
	} while (0)

/*
 * How pyglue_blocking stops its work when a signal handler raises (Ctrl-C).
 * soft (may be NULL) asks the work to stop and leaves what it ran on usable,
 * which it may ignore; hard ends it for sure.  hard follows soft when the
 * work is still running grace_ms later, or at once on a second raise.
 * Without soft, hard is called on the first raise.
 */
struct pyglue_cancel {
	void (*soft)(void *);
	void (*hard)(void *);
	void *arg;
	int grace_ms;
};

/*
 * Run fn(arg) with the GIL released.  On the main thread it runs on a helper
 * thread that blocks SIGINT, while this thread waits for it and handles
 * Python's signals: when a handler raises (Ctrl-C: KeyboardInterrupt), c
 * stops the work, and once fn returned this returns -1 with the first
 * exception set.  0 when fn ran to its end.
 */
int pyglue_blocking(void (*fn)(void *), void *arg, const struct pyglue_cancel *c);

/*
 * What a run or a session is built from: a settings dict of the Python layer
 * turned into brig_run_opts and a brig_caps.  The struct owns the caps and
 * references to the Python objects the callbacks use.
 */
struct pyglue_opts {
	brig_run_opts opts;
	brig_caps *caps;
	PyObject *dispatch;  /* callable(name, args_json) -> json str, or NULL */
	PyObject *on_output; /* callable(stream, bytes), or NULL */
	PyObject *kv;	     /* the KV object given, or NULL */
	PyObject *stdin_obj; /* bytes kept alive for opts.stdin_data */
};

/* 0, or -1 with a Python exception set (then pyglue_opts_clear it). */
int pyglue_opts_from_dict(struct pyglue_opts *o, PyObject *settings);
void pyglue_opts_clear(struct pyglue_opts *o);

/*
 * The outcome of brig_executor_new or brig_session_new: 0, or -1 with
 * OSError("ERR_...: why") set.  Frees why.
 */
int pyglue_start_result(int rc, char *why);

/* The brig_kv held by a brig._native.KV object, or NULL (TypeError set). */
brig_kv *pyglue_kv_handle(PyObject *obj);

/* The brig_executor of a brig._native.Executor, or NULL (TypeError set). */
brig_executor *pyglue_executor_handle(PyObject *obj);

/* A Python str of brig_result_to_json(r) (None for NULL); NULL on failure. */
PyObject *pyglue_result_json(const brig_result *r);

/* Types of the module, set up by their files. */
extern PyTypeObject PyglueKVType;
extern PyTypeObject PyglueExecutorType;
extern PyTypeObject PyglueSessionType;
extern PyTypeObject PyglueSnapshotType;

#endif
