/*
 * The zygote's side: serve spawn requests from inside a warm interpreter.
 * Each request's init is cloned with CLONE_PARENT, so it is the child of
 * whoever started the zygote (the run's executor, or the daemon), which
 * reaps it as it reaps a cold jail's init.  Nothing of a request stays in
 * the zygote: its bytes are wiped and its fds closed once init is cloned,
 * and the guest wipes what it inherited before it runs any guest code.
 */
#include "jail/zygote.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* What a request owns in the zygote. */
struct request {
	uint8_t *buf;
	size_t len;
	int fds[PLAN_NFDS];
	int nfds;
	struct jail_plan plan;
	int ctl;
};

/* The interpreter's signal dispositions and mask: init resets them, and the
 * guest, which goes on running the interpreter, takes them back. */
struct signals {
	struct sigaction act[65];
	sigset_t mask;
};

static void save_signals(struct signals *s)
{
	for (int sig = 1; sig <= 64; sig++)
		if (sigaction(sig, NULL, &s->act[sig]) < 0)
			s->act[sig].sa_handler = SIG_DFL;
	sigprocmask(SIG_SETMASK, NULL, &s->mask);
}

static void restore_signals(const struct signals *s)
{
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &s->act[sig], NULL);
	sigprocmask(SIG_SETMASK, &s->mask, NULL);
}

static int recv_request(int sock, struct request *q)
{
	char cbuf[CMSG_SPACE(sizeof(int) * PLAN_NFDS)];
	struct iovec iov = {q->buf, PLAN_WIRE_MAX};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	q->nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || q->nfds)
			continue;
		q->nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(q->fds, CMSG_DATA(c), (size_t)q->nfds * sizeof(int));
	}
	q->len = (size_t)n;
	return mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) ? 1 : 0;
}

static void send_reply(int sock, const struct zygote_reply *r, int pidfd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {(void *)r, sizeof(*r)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (pidfd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
	}
	(void)!sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static void fail(struct zygote_reply *r, int err, const char *what)
{
	r->err = err;
	snprintf(r->msg, sizeof(r->msg), "%s: %s", what, strerror(err));
}

/* Wipe and release a request, in the zygote and in the guest alike. */
static void forget(struct request *q)
{
	for (int i = 0; i < q->nfds; i++)
		close(q->fds[i]);
	q->nfds = 0;
	explicit_bzero(q->buf, PLAN_WIRE_MAX);
	explicit_bzero(&q->plan, sizeof(q->plan));
}

/* The guest's environment is the plan's, copied out of the request first. */
static int adopt_env(const struct jail_plan *plan)
{
	if (clearenv() != 0)
		return -1;
	for (int i = 0; plan->envp[i]; i++) {
		char *kv = strdup(plan->envp[i]);

		if (!kv || putenv(kv) != 0)
			return -1;
	}
	return 0;
}

/* The deeper stack held the request's bytes in the zygote's frames. */
static __attribute__((noinline)) void wipe_stack(void)
{
	char pad[256 * 1024];

	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

/* In the guest: become the interpreter of this run.  0, or exit. */
static int become_guest(struct request *q, const struct signals *sig)
{
	if (adopt_env(&q->plan) < 0) {
		(void)!write(2, "brig: cannot set the environment\n", 33);
		_exit(126);
	}
	/* /proc shows what a cold guest's execve would have. */
	jail_set_cmdline(q->plan.argv);
	/* Its fds are in place already (0-3); the numbers it had are closed. */
	q->nfds = 0;
	forget(q);
	free(q->buf);
	wipe_stack();
	restore_signals(sig);
	/* As after a cold guest's execve: its own /proc entries are its own. */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

/* Clone init for one request; the reply says how it went. */
static pid_t spawn_one(struct request *q, struct zygote_reply *r, int *pidfd)
{
	pid_t pid;

	pid = (pid_t)syscall(SYS_clone, JAIL_NS_FLAGS | CLONE_PIDFD | CLONE_PARENT, 0, pidfd, 0, 0);
	if (pid < 0) {
		fail(r, errno, "cannot create namespaces");
		return -1;
	}
	if (pid == 0) {
		jail_init(&q->plan, q->ctl, false, true);
		return 0; /* the guest */
	}
	if (jail_write_id_maps(&q->plan, pid, r->msg, sizeof(r->msg)) < 0) {
		r->err = EPERM;
		syscall(SYS_pidfd_send_signal, *pidfd, SIGKILL, NULL, 0);
		return -1;
	}
	r->pid = pid;
	return pid;
}

static void say_hello(int sock)
{
	struct zygote_hello h = {ZYGOTE_HELLO, plan_wire_version(), (int32_t)getpid()};

	(void)!send(sock, &h, sizeof(h), MSG_NOSIGNAL);
}

int zygote_serve(int sock, void (*before_clone)(void))
{
	struct request q = {.buf = malloc(PLAN_WIRE_MAX)};
	struct signals sig;

	if (!q.buf)
		_exit(1);
	save_signals(&sig);
	say_hello(sock);
	for (;;) {
		struct zygote_reply r = {0};
		int lang, pidfd = -1, rc = recv_request(sock, &q);

		if (rc < 0)
			_exit(0);
		if (rc > 0 ||
		    plan_wire_decode(q.buf, q.len, q.fds, q.nfds, &q.plan, &lang, &q.ctl) < 0) {
			fail(&r, EINVAL, "malformed spawn request");
		} else {
			if (before_clone)
				before_clone();
			if (spawn_one(&q, &r, &pidfd) == 0)
				return become_guest(&q, &sig);
		}
		send_reply(sock, &r, r.err ? -1 : pidfd);
		if (pidfd >= 0)
			close(pidfd);
		forget(&q);
	}
}
