/*
 * Blocking calls into libbrig without the GIL, and Ctrl-C during them.
 *
 * Python runs signal handlers on the main thread only, when it holds the
 * GIL.  A call made from the main thread therefore runs on a helper thread
 * with SIGINT blocked (so the kernel delivers it to the waiting main thread,
 * whose poll it interrupts), and the main thread runs the handlers between
 * waits.  Other threads never see signals and simply release the GIL.
 */
#include "pyglue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct blocking_job {
	void (*fn)(void *);
	void *arg;
	int done_fd;
};

static void *blocking_main(void *p)
{
	struct blocking_job *job = p;
	sigset_t set;
	uint64_t one = 1;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	job->fn(job->arg);
	while (write(job->done_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Wait for the helper without the GIL: 1 done, 0 a signal came, -1 error. */
static int wait_done(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rc;

	PYGLUE_NOGIL(rc = poll(&p, 1, -1));
	if (rc > 0)
		return 1;
	return errno == EINTR ? 0 : -1;
}

static int on_main_thread(void)
{
	static unsigned long main_ident;

	if (!main_ident) {
		PyObject *threading = PyImport_ImportModule("threading");
		PyObject *main =
		    threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
		PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;

		main_ident = ident ? PyLong_AsUnsignedLong(ident) : 0;
		Py_XDECREF(ident);
		Py_XDECREF(main);
		Py_XDECREF(threading);
		PyErr_Clear();
	}
	return PyThread_get_thread_ident() == main_ident;
}

int pyglue_blocking(void (*fn)(void *), void *arg, void (*cancel)(void *), void *carg)
{
	struct blocking_job job = {.fn = fn, .arg = arg};
	pthread_t tid;
	int interrupted = 0, rc;

	if (!on_main_thread()) {
		PYGLUE_NOGIL(fn(arg));
		return 0;
	}
	job.done_fd = eventfd(0, EFD_CLOEXEC);
	if (job.done_fd < 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	if ((rc = pthread_create(&tid, NULL, blocking_main, &job)) != 0) {
		close(job.done_fd);
		errno = rc;
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	while ((rc = wait_done(job.done_fd)) != 1) {
		/* Handlers run once per wake-up; after a raise the work is
		 * cancelled and only its end is awaited. */
		if (rc == 0 && !interrupted && PyErr_CheckSignals() < 0) {
			interrupted = 1;
			cancel(carg);
		}
	}
	PYGLUE_NOGIL(pthread_join(tid, NULL));
	close(job.done_fd);
	return interrupted ? -1 : 0;
}
