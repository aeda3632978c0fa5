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
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
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
/* Reaping needs no polling (SIGCHLD wakes init); this only bounds a wait
 * for a stop that an orphan made before init adopted it, which sends init
 * no SIGCHLD. */
#define IDLE_POLL_MS 20

struct sup {
	int ctl, timer, chld;
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
	if (!s->watching || sweep_holder(&s->w, pid))
		return;
	for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
		if (s->cand[i] == pid)
			return;
	}
	if (s->ncand < MAX_CANDIDATES)
		s->cand[s->ncand] = pid;
	s->ncand++;
}

/* Reap and report every exit; note every stop of our own children. */
static void reap(struct sup *s)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG | WUNTRACED | __WALL)) > 0) {
		if (WIFSTOPPED(st)) {
			note_stop(s, p);
			continue;
		}
		/* A holder or candidate that died is none, even if its pid returns. */
		sweep_forget(&s->w, p);
		for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
			if (s->cand[i] == p)
				s->cand[i] = 0;
		}
		send_msg(s->ctl, JAIL_CTL_STATUS, p, st, 0);
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
	reap(s); /* stops from before the snapshot are not candidates */
	s->watching = true;
	s->ncand = 0;
}

/* Wait up to ms for a child to change state (SIGCHLD), then reap. */
static void await_child(struct sup *s, int ms)
{
	struct pollfd p = {s->chld, POLLIN, 0};
	struct signalfd_siginfo si;

	if (poll(&p, 1, ms) > 0)
		while (read(s->chld, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
	reap(s);
}

/* Close the snapshot; the holder's pid and id, or 0 when there is none. */
static struct sweep_holder snap_end(struct sup *s, bool keep)
{
	struct sweep_holder h = {0, 0};
	uint64_t deadline = sweep_now_ns() + HOLDER_WAIT_MS * 1000000ULL;

	while (keep && s->ncand == 0 && sweep_now_ns() < deadline)
		await_child(s, 1);
	s->watching = false;
	if (keep && s->ncand == 1 && s->cand[0] > 1 && s->w.nholders < JAIL_MAX_SPARED &&
	    sweep_stopped_child(&s->w, s->cand[0]))
		h = (struct sweep_holder){s->cand[0], ++s->next_id};
	if (h.pid) {
		s->w.holders[s->w.nholders++] = h;
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

/* ---------------------------------------------------------------- commands */

static void obey(struct sup *s, const struct jail_ctl_msg *m)
{
	struct sweep_holder *h, got = {0, 0};
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
		if (m->pid > 1 && !sweep_holder(&s->w, m->pid))
			kill(m->pid, m->value);
		break;
	case JAIL_CMD_RESTORE:
		kill_guests(s);
		/* then wake the holder */
		__attribute__((fallthrough));
	case JAIL_CMD_CONT:
		s->freeze_due = false;
		if ((h = find_exact(s, m->pid, m->arg)))
			kill(h->pid, SIGCONT);
		arg = h ? 0 : -1;
		break;
	case JAIL_CMD_DROP:
		if ((h = find_exact(s, m->pid, m->arg))) {
			kill(h->pid, SIGKILL);
			sweep_forget(&s->w, m->pid);
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

void jail_supervise(int ctl, int timer, struct jail_shared *shared)
{
	struct sup *s = mmap(NULL, sizeof(struct sup), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct pollfd p[3] = {{ctl, POLLIN, 0}, {timer, POLLIN, 0}, {-1, POLLIN, 0}};
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
	s->timer = timer;
	s->shared = shared;
	s->w.reap = reap_cb;
	s->w.reap_ud = s;
	if ((s->w.proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		_exit(125);
	for (;;) {
		/* A freeze that waited for a snapshot to close is weighed at once. */
		int r = poll(p, 3, s->freeze_due && !s->watching ? 0 : IDLE_POLL_MS);
		struct signalfd_siginfo si;

		if (r > 0 && (p[2].revents & POLLIN))
			while (read(s->chld, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		reap(s);
		if (r > 0 && (p[0].revents & (POLLHUP | POLLERR)))
			_exit(0);
		if (r > 0 && (p[1].revents & POLLIN))
			on_timer(s);
		if (r > 0 && (p[0].revents & POLLIN) &&
		    recv(ctl, &m, sizeof(m), MSG_DONTWAIT) == (ssize_t)sizeof(m))
			obey(s, &m);
		if (s->freeze_due && !s->watching)
			weigh(s);
	}
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

int jail_cont(struct jail_proc *p, int32_t pid, int32_t id)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_CONT, pid, 0, id), r;

	if (command(p, &m, &r) < 0)
		return -1;
	return r.arg < 0 ? 1 : 0;
}

int jail_restore(struct jail_proc *p, int32_t pid, int32_t id)
{
	struct jail_ctl_msg m = msg(JAIL_CMD_RESTORE, pid, 0, id), r;

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
