/*
 * Session mode: the jail's init outlives the guest.  It reaps every process
 * and reports each exit, and obeys the host: kill every guest process but
 * the snapshot holders (a timeout or an interrupt), stop them all between
 * calls and wake them when the next call starts, signal the live guest,
 * take a new holder, wake one (a restore) or drop one.  The sweeps that
 * stop and kill are in sweep.c.
 *
 * init learns of its children's stops and exits at once: SIGCHLD is blocked
 * and read from a signalfd that it polls with the host's channel.
 *
 * Which processes are holders is init's knowledge alone.  A snapshot fork
 * stops itself and, as an orphan, becomes init's child; init takes it as a
 * holder only while the host has a snapshot open, and only if it is the one
 * child that stopped in that time.  Nothing the guest says names a holder,
 * and a kill spares a holder only while it is still init's stopped child.
 *
 * Each holder keeps a spare: a copy it forked (also init's child), which
 * stopped itself ready to serve, so that a restore only wakes it.  init
 * wakes the holder to make one (after a snapshot, and after each restore
 * used the last), and the holder names the copy in a datagram to init's
 * socket; the kernel vouches for the sender's pid, so only the holder that
 * init woke can name a spare.  The spare is ready once init saw it stop as
 * its own child.  A kill or a snapshot first waits for a spare being made;
 * a holder or copy that takes longer than MAKING_LIMIT_MS is killed.  Spares
 * are spared as the holders are.
 *
 * Between calls init stops every guest process (a freeze).  The host never
 * waits for it: it marks calls in a page it shares with init and sets a
 * timer when a call ends; init freezes when the timer runs out and no call
 * ran for FREEZE_GRACE_NS, and the next call's THAW wakes what it stopped.
 *
 * The child half runs in a clone of a possibly threaded embedder: raw
 * syscalls only, no malloc (the state is one anonymous mapping).
 */
#include "jail/jail.h"
#include "jail/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long after a call init stops the guest; a call that follows sooner
 * finds nothing stopped. */
#define FREEZE_GRACE_NS 1000000ULL
/* How long init waits for an honest guest's holder to show its stop. */
#define HOLDER_WAIT_MS 500
/* Children that stopped during one snapshot; more fail it anyway. */
#define MAX_CANDIDATES 8
/* How long a holder may run to make a spare. */
#define MAKING_LIMIT_MS 2000
/* Reaping needs no polling (SIGCHLD wakes init); this only bounds a wait
 * for a stop that an orphan made before init adopted it, which sends init
 * no SIGCHLD. */
#define IDLE_POLL_MS 20

struct sup {
	int ctl, timer, chld;
	int sock; /* holders name their spares here */
	/* The holder woken to make a spare (one at a time), the spare it named
	 * until init sees it stopped, and until when they may take. */
	int32_t making, pending;
	uint64_t making_deadline;
	struct jail_shared *shared;
	int32_t next_id;
	/* A snapshot is open: the children that stopped since it began. */
	bool watching;
	int32_t cand[MAX_CANDIDATES];
	int ncand;
	/* The timer ran out and init has not weighed it yet (it waits while a
	 * snapshot is open). */
	bool freeze_due;
	struct sweep w; /* the holders, and what a freeze stopped */
};

/* ------------------------------------------------------------ child side */

static void send_msg(int ctl, int kind, int32_t pid, int32_t value, int32_t arg)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.pid = pid;
	m.value = value;
	m.arg = arg;
	(void)!send(ctl, &m, sizeof(m), MSG_NOSIGNAL);
}

/* A child stopped: while a snapshot is open, it may be the new holder. */
static void note_stop(struct sup *s, int32_t pid)
{
	if (!s->watching || sweep_spared(&s->w, pid))
		return;
	for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
		if (s->cand[i] == pid)
			return;
	}
	if (s->ncand < MAX_CANDIDATES)
		s->cand[s->ncand] = pid;
	s->ncand++;
}

/*
 * Read what holders said: the spare each made.  Taken only from the holder
 * init woke to make one (the kernel gives the sender's real pid), and only
 * if it names no holder or spare yet; ready once it is init's stopped child.
 */
static void hear_holders(struct sup *s)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctrl;
	struct jail_spare_msg msg;
	struct iovec iov = {&msg, sizeof(msg)};
	struct msghdr mh = {NULL, 0, &iov, 1, ctrl.buf, sizeof(ctrl.buf), 0};
	struct cmsghdr *c;
	struct sweep_holder *h;

	for (;;) {
		struct ucred cred = {0, 0, 0};
		ssize_t n;

		mh.msg_controllen = sizeof(ctrl.buf);
		if ((n = recvmsg(s->sock, &mh, MSG_DONTWAIT)) < 0)
			return;
		if (n != (ssize_t)sizeof(msg))
			continue;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		}
		if (msg.magic != JAIL_SPARE_MAGIC || cred.pid <= 1 || cred.pid != s->making ||
		    !(h = sweep_holder(&s->w, cred.pid)) || h->spare || msg.spare <= 1 ||
		    sweep_spared(&s->w, msg.spare))
			continue;
		h->spare = msg.spare;
		/* Its stop may be reaped already; if not, reap() sees it. */
		if (!sweep_stopped_child(&s->w, msg.spare))
			s->pending = msg.spare;
	}
}

/* The holder that made a spare stopped (after naming it) or died. */
static void making_ended(struct sup *s)
{
	hear_holders(s);
	s->making = 0;
}

/* Reap and report every exit; note every stop of our own children. */
static void reap(struct sup *s)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG | WUNTRACED | WCONTINUED | __WALL)) > 0) {
		if (WIFCONTINUED(st)) {
			/* Only init wakes a holder (to make a spare); any other wake
			 * makes it run code init did not ask for. */
			if (p != s->making)
				sweep_ran(&s->w, p);
			continue;
		}
		if (p == s->making && WIFSTOPPED(st)) {
			making_ended(s);
			continue;
		}
		if (p == s->pending) {
			s->pending = 0; /* the spare is ready, or it died and is none */
			if (WIFSTOPPED(st))
				continue;
		}
		if (WIFSTOPPED(st)) {
			/* A holder or spare stops again only after it ran. */
			sweep_ran(&s->w, p);
			note_stop(s, p);
			continue;
		}
		if (p == s->making)
			making_ended(s);
		/* A holder or candidate that died is none, even if its pid returns. */
		sweep_forget(&s->w, p);
		for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
			if (s->cand[i] == p)
				s->cand[i] = 0;
		}
		send_msg(s->ctl, JAIL_CTL_STATUS, p, st, 0);
	}
}

/* --------------------------------------------------------------- spares */

/* Wait up to ms for a child to change state or a holder to speak. */
static void await_child(struct sup *s, int ms)
{
	struct pollfd p[2] = {{s->chld, POLLIN, 0}, {s->sock, POLLIN, 0}};
	struct signalfd_siginfo si;

	if (poll(p, 2, ms) > 0 && (p[0].revents & POLLIN))
		while (read(s->chld, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
	reap(s);
	if (p[1].revents & POLLIN)
		hear_holders(s);
}

static bool busy(const struct sup *s)
{
	return s->making || s->pending;
}

/* Wake holder h to fork its next spare, unless one is made already. */
static void start_making(struct sup *s, struct sweep_holder *h)
{
	if (busy(s) || h->spare)
		return;
	s->making = h->pid;
	s->making_deadline = sweep_now_ns() + MAKING_LIMIT_MS * 1000000ULL;
	kill(h->pid, SIGCONT);
}

/* Wait until the spare being made is ready; what overruns is killed. */
static void finish_making(struct sup *s)
{
	uint64_t now;

	while (busy(s) && (now = sweep_now_ns()) < s->making_deadline)
		await_child(s, (int)((s->making_deadline - now) / 1000000ULL) + 1);
	if (s->making) {
		kill(s->making, SIGKILL);
		sweep_forget(&s->w, s->making); /* and its spare */
		s->making = 0;
	}
	if (s->pending) {
		kill(s->pending, SIGKILL);
		sweep_forget(&s->w, s->pending);
		s->pending = 0;
	}
}

/* ------------------------------------------------------------- sweeps */

static void reap_cb(void *ud)
{
	reap(ud);
}

static void thaw(struct sup *s)
{
	sweep_thaw(&s->w);
	atomic_store(&s->shared->frozen, 0);
}

static void kill_guests(struct sup *s)
{
	s->freeze_due = false;
	/* A holder at work is no guest process, nor is the copy it makes. */
	finish_making(s);
	sweep_kill(&s->w);
	atomic_store(&s->shared->frozen, 0);
}

static void freeze(struct sup *s)
{
	int rc;

	s->freeze_due = false;
	rc = sweep_freeze(&s->w);
	if (rc == 1) {
		/* The host wants something (usually the next call): what was
		 * stopped is awake again; freeze anew afterwards unless that was
		 * a thaw. */
		atomic_store(&s->shared->frozen, 0);
		s->freeze_due = true;
	} else if (rc < 0) {
		/* Not provably stopped: kill instead.  The next call finds the
		 * live guest dead and the session poisoned. */
		kill_guests(s);
	}
}

/* ------------------------------------------------------------- snapshots */

static void snap_begin(struct sup *s)
{
	finish_making(s); /* a spare's stop is no candidate */
	reap(s);	  /* stops from before the snapshot are not candidates */
	s->watching = true;
	s->ncand = 0;
}

/* Close the snapshot; the holder's pid and id, or 0 when there is none. */
static struct sweep_holder snap_end(struct sup *s, bool keep)
{
	struct sweep_holder h = {0, 0, 0, 0};
	uint64_t deadline = sweep_now_ns() + HOLDER_WAIT_MS * 1000000ULL;

	while (keep && s->ncand == 0 && sweep_now_ns() < deadline)
		await_child(s, 1);
	s->watching = false;
	if (keep && s->ncand == 1 && s->cand[0] > 1 && s->w.nholders < JAIL_MAX_SPARED &&
	    sweep_stopped_child(&s->w, s->cand[0]))
		h = (struct sweep_holder){s->cand[0], ++s->next_id, 0, 0};
	if (h.pid) {
		s->w.holders[s->w.nholders++] = h;
		/* The first restore finds a spare ready. */
		start_making(s, &s->w.holders[s->w.nholders - 1]);
		return h;
	}
	/* No holder, or not exactly one: none of them is kept. */
	for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
		if (s->cand[i] > 1)
			kill(s->cand[i], SIGKILL);
	}
	return h;
}

static struct sweep_holder *find_exact(struct sup *s, int32_t pid, int32_t id)
{
	struct sweep_holder *h = sweep_holder(&s->w, pid);

	return h && h->id == id ? h : NULL;
}

/*
 * A restore: kill the guest, then wake holder pid/id's spare as the live
 * guest, and have the holder make the next one.  Without a spare ready (the
 * guest killed it), one is made first.  0, or -1 when the holder is gone.
 */
static int32_t restore(struct sup *s, int32_t pid, int32_t id)
{
	struct sweep_holder *h;
	int32_t spare;

	kill_guests(s);
	if ((h = find_exact(s, pid, id)) && !h->spare) {
		start_making(s, h);
		finish_making(s);
		h = find_exact(s, pid, id);
	}
	if (!h || !h->spare)
		return -1;
	spare = h->spare;
	h->spare = 0;
	kill(spare, SIGCONT);
	start_making(s, h);
	return 0;
}

/* ---------------------------------------------------------------- commands */

static void obey(struct sup *s, const struct jail_ctl_msg *m)
{
	struct sweep_holder *h, got = {0, 0, 0, 0};
	int32_t arg = 0;

	switch (m->kind) {
	case JAIL_CMD_THAW:
		s->freeze_due = false;
		thaw(s);
		return;
	case JAIL_CMD_KILL:
		kill_guests(s);
		break;
	case JAIL_CMD_SIGNAL:
		if (m->pid > 1 && !sweep_spared(&s->w, m->pid))
			kill(m->pid, m->value);
		break;
	case JAIL_CMD_RESTORE:
		arg = restore(s, m->pid, m->arg);
		break;
	case JAIL_CMD_DROP:
		finish_making(s);
		if ((h = find_exact(s, m->pid, m->arg))) {
			kill(h->pid, SIGKILL);
			sweep_forget(&s->w, m->pid); /* and its spare */
		}
		break;
	case JAIL_CMD_SNAP_BEGIN:
		snap_begin(s);
		break;
	case JAIL_CMD_SNAP_END:
		got = snap_end(s, m->value != 0);
		arg = got.id;
		break;
	default:
		break;
	}
	send_msg(s->ctl, JAIL_CTL_ACK, got.pid ? got.pid : m->pid, m->kind, arg);
}

static void arm(struct sup *s, uint64_t ns)
{
	struct itimerspec t = {{0, 0}, {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)}};

	atomic_store(&s->shared->armed, 1);
	timerfd_settime(s->timer, 0, &t, NULL);
}

/*
 * The timer ran out.  Freeze, unless a call runs (its end sets the timer
 * again) or the last one ended less than the grace ago (set it for the
 * rest).  The host sets busy before it reads frozen, init sets frozen
 * before it reads busy: one of them sees the other, so either init gives
 * way or the host sends THAW.
 */
static void weigh(struct sup *s)
{
	struct jail_shared *sh = s->shared;
	uint64_t now, end;

	s->freeze_due = false;
	atomic_store(&sh->armed, 0);
	if (atomic_load(&sh->busy))
		return;
	end = atomic_load(&sh->end_ns);
	now = sweep_now_ns();
	if (now < end + FREEZE_GRACE_NS) {
		arm(s, end + FREEZE_GRACE_NS - now);
		return;
	}
	atomic_store(&sh->frozen, 1);
	if (atomic_load(&sh->busy)) {
		atomic_store(&sh->frozen, 0);
		return;
	}
	freeze(s);
}

static void on_timer(struct sup *s)
{
	uint64_t ticks = 0;

	if (read(s->timer, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks) && ticks)
		s->freeze_due = true;
}

void jail_supervise(int ctl, int timer, struct jail_shared *shared, int sock)
{
	struct sup *s = mmap(NULL, sizeof(struct sup), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct pollfd p[4] = {
	    {ctl, POLLIN, 0}, {timer, POLLIN, 0}, {-1, POLLIN, 0}, {sock, POLLIN, 0}};
	struct jail_ctl_msg m;
	sigset_t chld;

	if (s == MAP_FAILED)
		_exit(125);
	/* The guest was forked already: it does not inherit the blocked SIGCHLD. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 ||
	    (s->chld = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		_exit(125);
	p[2].fd = s->chld;
	/* The sweeps' short pauses are meant as written. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	s->ctl = s->w.ctl = ctl;
	s->sock = sock;
	s->timer = timer;
	s->shared = shared;
	s->w.reap = reap_cb;
	s->w.reap_ud = s;
	if ((s->w.proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		_exit(125);
	for (;;) {
		/* A freeze that waited for a snapshot or a spare is weighed at once. */
		bool weigh_now = s->freeze_due && !s->watching && !busy(s);
		int r = poll(p, 4, weigh_now ? 0 : IDLE_POLL_MS);
		struct signalfd_siginfo si;

		if (r > 0 && (p[2].revents & POLLIN))
			while (read(s->chld, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		reap(s);
		if (r > 0 && (p[3].revents & POLLIN))
			hear_holders(s);
		if (busy(s) && sweep_now_ns() >= s->making_deadline)
			finish_making(s); /* kills what overran */
		if (r > 0 && (p[0].revents & (POLLHUP | POLLERR)))
			_exit(0);
		if (r > 0 && (p[1].revents & POLLIN))
			on_timer(s);
		if (r > 0 && (p[0].revents & POLLIN) &&
		    recv(ctl, &m, sizeof(m), MSG_DONTWAIT) == (ssize_t)sizeof(m))
			obey(s, &m);
		if (s->freeze_due && !s->watching && !busy(s))
			weigh(s);
	}
}

int jail_spare_socket(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int one = 1, fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	/* Abstract: sun_path starts with a NUL, the name follows. */
	memcpy(a.sun_path + 1, JAIL_SPARE_SOCKET, sizeof(JAIL_SPARE_SOCKET) - 1);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			     sizeof(JAIL_SPARE_SOCKET) - 1)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ----------------------------------------------------------- host side */

/* Send a command and wait for its ACK; *reply receives it when not NULL. */
static int command(struct jail_proc *p, const struct jail_ctl_msg *m, struct jail_ctl_msg *reply)
{
	struct pollfd pfd = {p->ctl_fd, POLLIN, 0};
	struct jail_ctl_msg r;

	if (send(p->ctl_fd, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		return -1;
	/* STATUS reports may come first; they are kept for the caller.  A kill
	 * may take init a sweep's budget (2 s) and more to reap. */
	while (poll(&pfd, 1, 10000) > 0) {
		if (read(p->ctl_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			return -1;
		if (r.kind == JAIL_CTL_ACK && r.value == m->kind) {
			if (reply)
				*reply = r;
			return 0;
		}
		if (r.kind == JAIL_CTL_STATUS && p->nexits < JAIL_MAX_SPARED)
			p->exits[p->nexits++] = (struct jail_exit){r.pid, r.value};
	}
	return -1;
}

static struct jail_ctl_msg msg(int kind, int32_t pid, int32_t value, int32_t arg)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.pid = pid;
	m.value = value;
	m.arg = arg;
	return m;
}

int jail_kill_guests(struct jail_proc *p)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_KILL, 0, 0, 0);

	return command(p, &m, NULL);
}

int jail_signal(struct jail_proc *p, int32_t pid, int sig)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_SIGNAL, pid, sig, 0);

	return command(p, &m, NULL);
}

int jail_snap_begin(struct jail_proc *p)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_SNAP_BEGIN, 0, 0, 0);

	return command(p, &m, NULL);
}

int jail_snap_end(struct jail_proc *p, bool keep, int32_t *pid, int32_t *id)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_SNAP_END, 0, keep, 0), r;

	*pid = *id = 0;
	if (command(p, &m, &r) < 0)
		return -1;
	if (r.arg > 0) {
		*pid = r.pid;
		*id = r.arg;
	}
	return 0;
}

int jail_restore(struct jail_proc *p, int32_t pid, int32_t id)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_RESTORE, pid, 0, id), r;

	/* A call from here on (no freeze), but nothing to wake: all is killed. */
	atomic_store(&p->shared->busy, 1);
	if (command(p, &m, &r) < 0)
		return -1;
	return r.arg < 0 ? 1 : 0;
}

int jail_drop(struct jail_proc *p, int32_t pid, int32_t id)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_DROP, pid, 0, id);

	return command(p, &m, NULL);
}

int jail_call_begin(struct jail_proc *p)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_THAW, 0, 0, 0);

	atomic_store(&p->shared->busy, 1);
	if (!atomic_load(&p->shared->frozen))
		return 0;
	return send(p->ctl_fd, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m) ? 0 : -1;
}

int jail_call_end(struct jail_proc *p)
{
	struct itimerspec t = {{0, 0}, {0, (long)FREEZE_GRACE_NS}};

	atomic_store(&p->shared->end_ns, sweep_now_ns());
	atomic_store(&p->shared->busy, 0);
	/* Set already: init weighs the call's end when it runs out. */
	if (atomic_exchange(&p->shared->armed, 1))
		return 0;
	return timerfd_settime(p->timer_fd, 0, &t, NULL);
}

int jail_ctl_poll(struct jail_proc *p, struct jail_ctl_msg *m)
{
	ssize_t n = recv(p->ctl_fd, m, sizeof(*m), MSG_DONTWAIT);

	if (n == (ssize_t)sizeof(*m))
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}
