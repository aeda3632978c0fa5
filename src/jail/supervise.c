/*
 * Session mode: the jail's init outlives the guest.  It reaps every process
 * and reports each exit, and obeys the host: kill every guest process but
 * the snapshot holders (a timeout or an interrupt), stop them all between
 * calls and wake them when the next call starts, signal the live guest,
 * take a new holder, wake one (a restore) or drop one.
 *
 * Which processes are holders is init's knowledge alone.  A snapshot fork
 * stops itself and, as an orphan, becomes init's child; init takes it as a
 * holder only while the host has a snapshot open, and only if it is the one
 * child that stopped in that time.  Nothing the guest says names a holder,
 * and before a holder is spared from a kill init checks that it is still
 * its stopped child.
 *
 * A stopped process can be woken by any running one, so "every process is
 * stopped" is only proven by two scans of /proc in a row that find the same
 * tasks, all stopped, with the same context-switch counts: a task woken in
 * between would have run and been switched out again, which the counts
 * show.  Nothing ran between the scans, so nothing is left to wake anyone.
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

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long after a call init stops the guest; a call that follows sooner
 * finds nothing stopped. */
#define FREEZE_GRACE_NS 1000000ULL
/* How long a sweep may take before init gives up (a freeze then kills). */
#define SWEEP_BUDGET_NS 2000000000ULL
/* How long init waits for an honest guest's holder to show its stop. */
#define HOLDER_WAIT_MS 500
/* Tasks a sweep can account for; more fail the sweep (see sweep()). */
#define MAX_TASKS 65536
/* Children that stopped during one snapshot; more fail it anyway. */
#define MAX_CANDIDATES 8
#define IDLE_POLL_MS 20

struct task_rec {
	int32_t tid;
	uint32_t pad;
	uint64_t switches; /* voluntary + involuntary context switches */
};

struct holder {
	int32_t pid, id;
};

struct sup {
	int ctl, timer, proc_fd;
	struct jail_shared *shared;
	struct holder holders[JAIL_MAX_SPARED];
	int nholders;
	int32_t next_id;
	/* A snapshot is open: the children that stopped since it began. */
	bool watching;
	int32_t cand[MAX_CANDIDATES];
	int ncand;
	/* The timer ran out and init has not weighed it yet (it waits while a
	 * snapshot is open); and what the last freeze stopped. */
	bool freeze_due;
	bool stopped_all; /* the list overflowed: a thaw wakes every non-holder */
	int nstopped;
	int32_t stopped[MAX_TASKS];
	/* The last two scans of a sweep. */
	int nprev, ncur;
	bool overflow;
	struct task_rec prev[MAX_TASKS], cur[MAX_TASKS];
};

enum sweep_mode {
	SWEEP_FREEZE, /* SIGSTOP everything but init */
	SWEEP_KILL,   /* SIGKILL everything but init and the stopped holders */
};

/* ------------------------------------------------------------ child side */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

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

/* Decimal digits of v at out (no snprintf in a cloned child); returns the end. */
static char *put_num(char *out, long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n)
		*out++ = tmp[--n];
	return out;
}

static long parse_num(const char *s)
{
	long v = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return v;
}

static struct holder *find_holder(struct sup *s, int32_t pid)
{
	for (int i = 0; i < s->nholders; i++) {
		if (s->holders[i].pid == pid)
			return &s->holders[i];
	}
	return NULL;
}

static void forget_holder(struct sup *s, int32_t pid)
{
	struct holder *h = find_holder(s, pid);

	if (h)
		*h = s->holders[--s->nholders];
}

/* A child stopped: while a snapshot is open, it may be the new holder. */
static void note_stop(struct sup *s, int32_t pid)
{
	if (!s->watching || find_holder(s, pid))
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
		forget_holder(s, p);
		for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
			if (s->cand[i] == p)
				s->cand[i] = 0;
		}
		send_msg(s->ctl, JAIL_CTL_STATUS, p, st, 0);
	}
}

/* ---------------------------------------------------------- reading /proc */

struct task_info {
	char state;
	int32_t ppid;
	uint64_t shared_pending;
	uint64_t switches;
};

struct dirent64_hdr {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/* The number after "\n<key>:\t" in a status file, or 0. */
static const char *status_field(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? p + strlen(key) : NULL;
}

static uint64_t parse_hex(const char *s)
{
	uint64_t v = 0;

	for (;; s++) {
		if (*s >= '0' && *s <= '9')
			v = v << 4 | (uint64_t)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			v = v << 4 | (uint64_t)(*s - 'a' + 10);
		else
			return v;
	}
}

/* /proc/PID/task/TID/status, opened under the task directory. */
static int read_status(int task_dir, const char *tid, struct task_info *ti)
{
	char path[40], buf[4096], *end = path;
	const char *f;
	int fd;
	ssize_t n, len = 0;

	for (const char *c = tid; *c && end < path + 24; c++)
		*end++ = *c;
	memcpy(end, "/status", 8);
	if ((fd = openat(task_dir, path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	/* The name is escaped, so no line but the real one starts with "State:". */
	if (!(f = status_field(buf, "\nState:\t")))
		return -1;
	ti->state = *f;
	f = status_field(buf, "\nPPid:\t");
	ti->ppid = f ? (int32_t)parse_num(f) : 0;
	f = status_field(buf, "\nShdPnd:\t");
	ti->shared_pending = f ? parse_hex(f) : 0;
	f = status_field(buf, "\nvoluntary_ctxt_switches:\t");
	ti->switches = f ? (uint64_t)parse_num(f) : 0;
	f = status_field(buf, "\nnonvoluntary_ctxt_switches:\t");
	ti->switches += f ? (uint64_t)parse_num(f) : 0;
	return 0;
}

static void record(struct sup *s, int32_t tid, uint64_t switches)
{
	if (s->ncur >= MAX_TASKS) {
		s->overflow = true;
		return;
	}
	s->cur[s->ncur++] = (struct task_rec){tid, 0, switches};
}

struct proc_state {
	int live;    /* tasks neither zombie nor dead */
	int stopped; /* of those, stopped (or sure to stop, see below) */
	int32_t ppid;
};

/*
 * Look at every task of process pid; record the stopped ones.  A task in
 * uninterruptible sleep cannot stop yet (a vfork parent waits so while its
 * child is stopped); with accept_blocked it counts as stopped when SIGSTOP
 * is pending, since it stops before it runs any code of its own.
 */
static void inspect(struct sup *s, int32_t pid, bool accept_blocked, bool rec,
		    struct proc_state *ps)
{
	char path[32], buf[4096];
	int fd;
	long n;

	memset(ps, 0, sizeof(*ps));
	memcpy(put_num(path, pid), "/task", 6);
	if ((fd = openat(s->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_hdr *d = (void *)(buf + off);
			struct task_info ti;

			off += d->reclen;
			if (d->name[0] < '0' || d->name[0] > '9' ||
			    read_status(fd, d->name, &ti) < 0)
				continue;
			if (ti.state == 'Z' || ti.state == 'X')
				continue;
			ps->live++;
			ps->ppid = ti.ppid;
			if (ti.state == 'T' || (accept_blocked && ti.state == 'D' &&
						(ti.shared_pending & (1ULL << (SIGSTOP - 1))))) {
				ps->stopped++;
				if (rec)
					record(s, (int32_t)parse_num(d->name), ti.switches);
			}
		}
	}
	close(fd);
}

/* ------------------------------------------------------------------ sweeps */

/* A pid may be listed twice (stopped again after a waker ran): harmless. */
static void remember_stopped(struct sup *s, int32_t pid)
{
	if (s->nstopped < MAX_TASKS)
		s->stopped[s->nstopped++] = pid;
	else
		s->stopped_all = true;
}

/* One process in one pass; false when it was not yet as the mode wants. */
static bool settle(struct sup *s, int32_t pid, enum sweep_mode mode)
{
	bool holder = find_holder(s, pid) != NULL;
	struct proc_state ps;

	if (mode == SWEEP_KILL && !holder) {
		inspect(s, pid, false, false, &ps);
		if (ps.live)
			kill(pid, SIGKILL);
		return ps.live == 0;
	}
	inspect(s, pid, mode == SWEEP_FREEZE, true, &ps);
	/* A holder must also still be init's child (one that died is reaped). */
	if (ps.live == ps.stopped && (mode == SWEEP_FREEZE || ps.ppid == 1 || !ps.live))
		return true;
	if (mode == SWEEP_KILL) {
		/* A holder that runs is no holder: whoever woke it made it the guest's. */
		kill(pid, SIGKILL);
		forget_holder(s, pid);
	} else {
		kill(pid, SIGSTOP);
		if (!holder)
			remember_stopped(s, pid);
	}
	return false;
}

/* One scan of every process but init; true when nothing needed a signal. */
static bool pass(struct sup *s, enum sweep_mode mode)
{
	char buf[4096];
	bool clean = true;
	long n;

	s->ncur = 0;
	s->overflow = false;
	lseek(s->proc_fd, 0, SEEK_SET);
	while ((n = syscall(SYS_getdents64, s->proc_fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_hdr *d = (void *)(buf + off);
			long pid = parse_num(d->name);

			off += d->reclen;
			if (d->name[0] >= '1' && d->name[0] <= '9' && pid > 1 &&
			    !settle(s, (int32_t)pid, mode))
				clean = false;
		}
	}
	return clean;
}

static bool same_picture(const struct sup *s)
{
	return s->nprev == s->ncur &&
	       memcmp(s->prev, s->cur, (size_t)s->ncur * sizeof(s->cur[0])) == 0;
}

static bool message_waiting(int ctl)
{
	struct pollfd p = {ctl, POLLIN, 0};

	return poll(&p, 1, 0) > 0;
}

/*
 * Repeat passes until two in a row are clean and see the same stopped
 * tasks with the same switch counts.  Returns 0 when done, 1 when a
 * freeze gave way to a message from the host, -1 when out of time.
 */
static int sweep(struct sup *s, enum sweep_mode mode)
{
	uint64_t deadline = now_ns() + SWEEP_BUDGET_NS;
	bool have_prev = false;

	for (;;) {
		bool clean = pass(s, mode);

		reap(s);
		if (clean && !s->overflow && have_prev && same_picture(s))
			return 0;
		have_prev = clean && !s->overflow;
		memcpy(s->prev, s->cur, (size_t)s->ncur * sizeof(s->cur[0]));
		s->nprev = s->ncur;
		if (now_ns() > deadline)
			return -1;
		if (mode == SWEEP_FREEZE && message_waiting(s->ctl))
			return 1;
		if (!clean)
			pause_us(50); /* let the signalled act on it */
	}
}

static void thaw(struct sup *s)
{
	if (s->stopped_all) {
		/* Too many to list: wake every process but init and the holders. */
		char buf[4096];
		long n;

		lseek(s->proc_fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, s->proc_fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct dirent64_hdr *d = (void *)(buf + off);
				long pid = parse_num(d->name);

				off += d->reclen;
				if (pid > 1 && !find_holder(s, (int32_t)pid))
					kill((pid_t)pid, SIGCONT);
			}
		}
	}
	for (int i = 0; i < s->nstopped; i++)
		kill(s->stopped[i], SIGCONT);
	s->nstopped = 0;
	s->stopped_all = false;
	atomic_store(&s->shared->frozen, 0);
}

static void kill_guests(struct sup *s)
{
	s->freeze_due = false;
	sweep(s, SWEEP_KILL);
	/* Whatever a freeze stopped is dead now. */
	s->nstopped = 0;
	s->stopped_all = false;
	atomic_store(&s->shared->frozen, 0);
}

static void freeze(struct sup *s)
{
	int rc;

	s->freeze_due = false;
	rc = sweep(s, SWEEP_FREEZE);
	if (rc == 1) {
		/* The host wants something (usually the next call): give way, and
		 * freeze again afterwards unless that was a thaw. */
		thaw(s);
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

/* Close the snapshot; the holder's pid and id, or 0 when there is none. */
static struct holder snap_end(struct sup *s, bool keep)
{
	struct holder h = {0, 0};
	struct proc_state ps;

	for (int i = 0; keep && s->ncand == 0 && i < HOLDER_WAIT_MS; i++) {
		pause_us(1000);
		reap(s);
	}
	s->watching = false;
	if (keep && s->ncand == 1 && s->cand[0] > 1 && s->nholders < JAIL_MAX_SPARED) {
		inspect(s, s->cand[0], false, false, &ps);
		if (ps.live && ps.live == ps.stopped && ps.ppid == 1)
			h = (struct holder){s->cand[0], ++s->next_id};
	}
	if (h.pid) {
		s->holders[s->nholders++] = h;
		return h;
	}
	/* No holder, or not exactly one: none of them is kept. */
	for (int i = 0; i < s->ncand && i < MAX_CANDIDATES; i++) {
		if (s->cand[i] > 1)
			kill(s->cand[i], SIGKILL);
	}
	return h;
}

static struct holder *find_exact(struct sup *s, int32_t pid, int32_t id)
{
	struct holder *h = find_holder(s, pid);

	return h && h->id == id ? h : NULL;
}

/* ---------------------------------------------------------------- commands */

static void obey(struct sup *s, const struct jail_ctl_msg *m)
{
	struct holder *h, got = {0, 0};
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
		if (m->pid > 1 && !find_holder(s, m->pid))
			kill(m->pid, m->value);
		break;
	case JAIL_CMD_CONT:
		s->freeze_due = false;
		if ((h = find_exact(s, m->pid, m->arg)))
			kill(h->pid, SIGCONT);
		arg = h ? 0 : -1;
		break;
	case JAIL_CMD_DROP:
		if ((h = find_exact(s, m->pid, m->arg))) {
			kill(h->pid, SIGKILL);
			forget_holder(s, m->pid);
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
	now = now_ns();
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
	struct pollfd p[2] = {{ctl, POLLIN, 0}, {timer, POLLIN, 0}};
	struct jail_ctl_msg m;

	if (s == MAP_FAILED)
		_exit(125);
	s->ctl = ctl;
	s->timer = timer;
	s->shared = shared;
	if ((s->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		_exit(125);
	for (;;) {
		/* SIGCHLD is ignored by default: poll with a short timeout and reap.
		 * A freeze that waited for a snapshot to close is weighed at once. */
		int r = poll(p, 2, s->freeze_due && !s->watching ? 0 : IDLE_POLL_MS);

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

	atomic_store(&p->shared->end_ns, now_ns());
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
