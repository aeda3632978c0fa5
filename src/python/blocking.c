/*
 * Blocking calls into libbrig without the GIL, and Ctrl-C during them.
 *
 * Python runs signal handlers on the main thread only, when it holds the
 * GIL.  A call made from the main thread therefore runs on a helper thread
 * with SIGINT blocked (so the kernel delivers it to the waiting main thread,
 * whose poll it interrupts), and the main thread runs the handlers between
 * waits.  Other threads never see signals and simply release the GIL.
 *
 * When a handler raises, the work is stopped as the caller says (struct
 * pyglue_cancel): asked first, so that a session survives a Ctrl-C, and
 * ended for sure once it had its grace or the user pressed Ctrl-C again.
 */
#include "pyglue.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
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

enum wait_outcome { WAIT_ERROR = -1, WAIT_SIGNAL, WAIT_DONE, WAIT_TIMEOUT };

/* Wait for the helper without the GIL, at most timeout_ms (-1: no limit). */
static enum wait_outcome wait_done(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rc;

	PYGLUE_NOGIL(rc = poll(&p, 1, timeout_ms));
	if (rc > 0)
		return WAIT_DONE;
	if (rc == 0)
		return WAIT_TIMEOUT;
	return errno == EINTR ? WAIT_SIGNAL : WAIT_ERROR;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where a cancel stands: the work runs, was asked to stop, or is ended. */
enum stage { RUNNING, SOFT_SENT, HARD_SENT };

struct canceller {
	const struct pyglue_cancel *c;
	enum stage stage;
	int64_t deadline; /* of the grace, once SOFT_SENT */
};

static void cancel_hard(struct canceller *k)
{
	k->stage = HARD_SENT;
	k->c->hard(k->c->arg);
}

static void cancel_first(struct canceller *k)
{
	if (!k->c->soft) {
		cancel_hard(k);
		return;
	}
	k->stage = SOFT_SENT;
	k->deadline = now_ms() + k->c->grace_ms;
	k->c->soft(k->c->arg);
}

/*
 * Run Python's signal handlers while the first raise is pending: whether
 * one raised again.  That second exception is dropped (the first is what
 * the caller gets); the second Ctrl-C has done its work by escalating.
 */
static int raised_again(void)
{
	int again;
#if PY_VERSION_HEX >= 0x030C0000
	PyObject *first = PyErr_GetRaisedException();

	again = PyErr_CheckSignals() < 0;
	PyErr_Clear();
	PyErr_SetRaisedException(first);
#else
	PyObject *type, *value, *tb;

	PyErr_Fetch(&type, &value, &tb);
	again = PyErr_CheckSignals() < 0;
	PyErr_Clear();
	PyErr_Restore(type, value, tb);
#endif
	return again;
}

/* One wake-up of the wait that was not the work's end. */
static void on_wakeup(struct canceller *k, enum wait_outcome w)
{
	switch (k->stage) {
	case RUNNING:
		if (w == WAIT_SIGNAL && PyErr_CheckSignals() < 0)
			cancel_first(k);
		break;
	case SOFT_SENT:
		if (w == WAIT_TIMEOUT || now_ms() >= k->deadline ||
		    (w == WAIT_SIGNAL && raised_again()))
			cancel_hard(k);
		break;
	case HARD_SENT:
		/* Only the work's end is awaited; later signals are handled
		 * once it returned. */
		break;
	}
}

/* How long the next wait may last: the rest of the grace, or for ever. */
static int wait_timeout(const struct canceller *k)
{
	int64_t left;

	if (k->stage != SOFT_SENT)
		return -1;
	left = k->deadline - now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
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

int pyglue_blocking(void (*fn)(void *), void *arg, const struct pyglue_cancel *c)
{
	struct blocking_job job = {.fn = fn, .arg = arg};
	struct canceller k = {.c = c, .stage = RUNNING};
	enum wait_outcome w;
	pthread_t tid;
	int rc;

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
	while ((w = wait_done(job.done_fd, wait_timeout(&k))) != WAIT_DONE)
		on_wakeup(&k, w);
	PYGLUE_NOGIL(pthread_join(tid, NULL));
	close(job.done_fd);
	return k.stage != RUNNING ? -1 : 0;
}
