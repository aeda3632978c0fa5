/*
 * The zygote's side: serve spawn requests from inside a warm interpreter.
 * A request's init is cloned with CLONE_PARENT, so it is the child of
 * whoever started the zygote (the run's executor, or the daemon), which
 * reaps it as it reaps a cold jail's init.  Nothing of a request stays in
 * the zygote's interpreter: its bytes are wiped and its fds closed once
 * init is cloned, and the guest wipes what it inherited before it runs any
 * guest code.
 *
 * Ahead of demand, while no request waits, the zygote primes inits for the
 * plan it served last (its template): each builds that plan's namespaces
 * and root, then waits on a socket of its own.  A request whose plan is
 * the template's but for its fds goes to a primed init, which joins the
 * run's cgroup and forks the guest at once.  Primed inits are the
 * zygote's own children (it reaps them); their runs' hosts wait on the
 * pidfd, and take the CPU time from init's report.
 */
#include "jail/zygote.h"
#include "jail/fdpass.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* An init built ahead for the template: its pid, pidfd, and its socket. */
struct primed {
	pid_t pid;
	int pidfd;
	int sock;
};

struct zygote {
	int sock;
	int pool; /* primed inits to keep */
	void (*before_clone)(void);
	struct request q; /* the request being served */
	struct signals sig;
	uint8_t *tmpl; /* the last plan served, which primed inits are built for */
	size_t tmpl_len;
	struct jail_plan tmpl_plan;
	struct primed primed[ZYGOTE_MAX_POOL];
	int nprimed;
	int zctl; /* in a primed init: its socket to the zygote */
};

static int recv_request(int sock, struct request *q)
{
	int cut;
	ssize_t n = fdpass_recv(sock, q->buf, PLAN_WIRE_MAX, q->fds, PLAN_NFDS, &q->nfds, &cut);

	if (n <= 0)
		return -1;
	q->len = (size_t)n;
	return cut ? 1 : 0;
}

static void send_reply(int sock, const struct zygote_reply *r, int pidfd)
{
	(void)fdpass_send(sock, r, sizeof(*r), &pidfd, pidfd >= 0 ? 1 : 0);
}

static void fail(struct zygote_reply *r, int err, const char *what)
{
	r->err = err;
	snprintf(r->msg, sizeof(r->msg), "%s: %s", what, strerror(err));
}

/* Wipe and release a request, in the zygote and in the guest alike. */
static __attribute__((noinline)) void forget(struct request *q)
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

static void drop_template(struct zygote *z)
{
	if (z->tmpl)
		explicit_bzero(z->tmpl, z->tmpl_len);
	free(z->tmpl);
	z->tmpl = NULL;
	explicit_bzero(&z->tmpl_plan, sizeof(z->tmpl_plan));
}

/* In the guest: become the interpreter of this run.  0, or exit. */
static int become_guest(struct zygote *z)
{
	struct request *q = &z->q;

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
	drop_template(z);
	explicit_bzero(z->primed, sizeof(z->primed));
	wipe_stack();
	restore_signals(&z->sig);
	explicit_bzero(z, sizeof(*z));
	free(z);
	/*
	 * A cold guest is dumpable after its exec; init made this one, its
	 * fork, undumpable, and its memory image belongs to the host's user
	 * namespace: the host could not read its memory figures (smaps_rollup),
	 * and without a memory cgroup would overcount pages shared with others.
	 */
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
		jail_init(&q->plan, q->ctl, false, true, false);
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

/* ------------------------------------------------------------ priming */

static void drop_primed(struct primed *p)
{
	syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	close(p->pidfd);
	close(p->sock);
}

static void drop_all_primed(struct zygote *z)
{
	while (z->nprimed > 0)
		drop_primed(&z->primed[--z->nprimed]);
}

/* Primed inits that ended (served their run, or were dropped). */
static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
		;
}

/* Whether the request is the template's plan but for its fds. */
static bool matches_template(const struct zygote *z)
{
	const struct request *q = &z->q;
	const size_t at = PLAN_WIRE_MASK_AT, n = sizeof(uint32_t);

	return z->tmpl && q->len == z->tmpl_len && q->len > at + n &&
	       memcmp(q->buf, z->tmpl, at) == 0 &&
	       memcmp(q->buf + at + n, z->tmpl + at + n, q->len - at - n) == 0;
}

/* The request served last becomes the template; older primed inits go. */
static void remember_template(struct zygote *z)
{
	int lang;

	if (z->pool <= 0 || matches_template(z))
		return;
	drop_all_primed(z);
	drop_template(z);
	if (!(z->tmpl = malloc(z->q.len)))
		return;
	memcpy(z->tmpl, z->q.buf, z->q.len);
	z->tmpl_len = z->q.len;
	if (plan_wire_decode(z->tmpl, z->tmpl_len, NULL, 0, &z->tmpl_plan, &lang, &lang) < 0)
		drop_template(z);
}

/* In a primed init: wait for the run the zygote hands over. */
static int take_run(void *arg, const struct jail_plan **plan, int *ctl)
{
	struct zygote *z = arg;
	struct request *q = &z->q;
	int lang;

	if (recv_request(z->zctl, q) != 0 ||
	    plan_wire_decode(q->buf, q->len, q->fds, q->nfds, &q->plan, &lang, &q->ctl) < 0)
		return -1;
	*plan = &q->plan;
	*ctl = q->ctl;
	return 0;
}

/* Prime one init: 1 when done (or failed), 0 in the guest it ends up forking. */
static int prime_one(struct zygote *z)
{
	struct primed p;
	char err[200];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	if (z->before_clone)
		z->before_clone();
	p.pid = (pid_t)syscall(SYS_clone, JAIL_NS_FLAGS | CLONE_PIDFD | SIGCHLD, 0, &p.pidfd, 0, 0);
	if (p.pid == 0) {
		z->zctl = sv[1];
		return jail_init_primed(&z->tmpl_plan, sv[1], take_run, z);
	}
	close(sv[1]);
	p.sock = sv[0];
	if (p.pid < 0) {
		close(sv[0]);
		z->pool = 0; /* namespaces are scarce here: prime no more */
		return 1;
	}
	if (jail_write_id_maps(&z->tmpl_plan, p.pid, err, sizeof(err)) < 0 ||
	    send(p.sock, "m", 1, MSG_NOSIGNAL) != 1) {
		drop_primed(&p);
		z->pool = 0;
		return 1;
	}
	z->primed[z->nprimed++] = p;
	return 1;
}

/* Hand the request to a primed init: 0 and its pidfd, or -1 when none took it. */
static int take_primed(struct zygote *z, struct zygote_reply *r, int *pidfd)
{
	while (z->nprimed > 0) {
		struct primed p = z->primed[--z->nprimed];

		if (fdpass_send(p.sock, z->q.buf, z->q.len, z->q.fds, z->q.nfds) == 0) {
			close(p.sock);
			r->pid = p.pid;
			*pidfd = p.pidfd;
			return 0;
		}
		drop_primed(&p); /* it died meanwhile */
	}
	return -1;
}

static bool request_waits(int sock)
{
	struct pollfd p = {sock, POLLIN, 0};

	return poll(&p, 1, 0) > 0;
}

static void say_hello(int sock)
{
	struct zygote_hello h = {ZYGOTE_HELLO, plan_wire_version(), (int32_t)getpid()};

	(void)!send(sock, &h, sizeof(h), MSG_NOSIGNAL);
}

/* Serve the request in z->q: 1 when answered, 0 in the guest. */
static int serve_one(struct zygote *z, int rc)
{
	struct zygote_reply r = {0};
	int lang, pidfd = -1;
	struct request *q = &z->q;

	if (rc > 0 ||
	    plan_wire_decode(q->buf, q->len, q->fds, q->nfds, &q->plan, &lang, &q->ctl) < 0) {
		fail(&r, EINVAL, "malformed spawn request");
	} else if (!matches_template(z) || take_primed(z, &r, &pidfd) < 0) {
		if (z->before_clone)
			z->before_clone();
		if (spawn_one(q, &r, &pidfd) == 0)
			return 0;
		if (!r.err)
			remember_template(z);
	}
	send_reply(z->sock, &r, r.err ? -1 : pidfd);
	if (pidfd >= 0)
		close(pidfd);
	forget(q);
	return 1;
}

int zygote_serve(int sock, int pool, void (*before_clone)(void))
{
	struct zygote *z = calloc(1, sizeof(*z));

	if (!z || !(z->q.buf = malloc(PLAN_WIRE_MAX)))
		_exit(1);
	z->sock = sock;
	z->pool = pool < 0 ? 0 : pool > ZYGOTE_MAX_POOL ? ZYGOTE_MAX_POOL : pool;
	z->before_clone = before_clone;
	z->zctl = -1;
	save_signals(&z->sig);
	say_hello(sock);
	for (;;) {
		int rc;

		reap();
		if (z->tmpl && z->nprimed < z->pool && !request_waits(sock)) {
			if (prime_one(z) == 0)
				return become_guest(z);
			continue;
		}
		if ((rc = recv_request(sock, &z->q)) < 0)
			_exit(0);
		if (serve_one(z, rc) == 0)
			return become_guest(z);
	}
}
