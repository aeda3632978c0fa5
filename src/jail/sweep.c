/*
 * Sweeps of the jail's processes for its init (see sweep.h): scans of /proc
 * that signal what is not yet as wanted, until two scans in a row agree.
 */
#include "jail/sweep.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a sweep may take before init gives up (a freeze then kills). */
#define SWEEP_BUDGET_NS 2000000000ULL
/* The kernel's PF_EXITING, in the flags of /proc/PID/stat: the task left
 * its last system call for good and is on its way out. */
#define TASK_EXITING 0x4UL

enum sweep_mode {
	SWEEP_FREEZE, /* SIGSTOP everything but init */
	SWEEP_KILL,   /* SIGKILL everything but init and the stopped holders */
};

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
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

uint64_t sweep_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct sweep_holder *sweep_holder(struct sweep *w, int32_t pid)
{
	for (int i = 0; i < w->nholders; i++) {
		if (w->holders[i].pid == pid)
			return &w->holders[i];
	}
	return NULL;
}

struct sweep_holder *sweep_spared(struct sweep *w, int32_t pid)
{
	for (int i = 0; pid > 0 && i < w->nholders; i++) {
		if (w->holders[i].pid == pid || w->holders[i].spare == pid)
			return &w->holders[i];
	}
	return NULL;
}

void sweep_ran(struct sweep *w, int32_t pid)
{
	struct sweep_holder *h = sweep_spared(w, pid);

	if (h)
		h->ran |= h->pid == pid ? RAN_HOLDER : RAN_SPARE;
}

void sweep_forget(struct sweep *w, int32_t pid)
{
	struct sweep_holder *h = sweep_spared(w, pid);

	if (h && h->spare == pid) {
		h->spare = 0;
		h->ran &= ~RAN_SPARE;
	} else if (h) {
		if (h->spare > 1)
			kill(h->spare, SIGKILL);
		*h = w->holders[--w->nholders];
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

static void record(struct sweep *w, int32_t tid, uint64_t switches)
{
	if (w->ncur >= SWEEP_MAX_TASKS) {
		w->overflow = true;
		return;
	}
	w->cur[w->ncur++] = (struct sweep_task){tid, 0, switches};
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
static void inspect(struct sweep *w, int32_t pid, bool accept_blocked, bool rec,
		    struct proc_state *ps)
{
	char path[32], buf[4096];
	int fd;
	long n;

	memset(ps, 0, sizeof(*ps));
	memcpy(put_num(path, pid), "/task", 6);
	if ((fd = openat(w->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
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
					record(w, (int32_t)parse_num(d->name), ti.switches);
			}
		}
	}
	close(fd);
}

/* The flags field (the 9th) of /proc/PID/task/TID/stat, or -1 when gone;
 * *state receives the state letter. */
static long task_flags(int task_dir, const char *tid, char *state)
{
	char path[40], buf[512], *end = path, *p;
	int fd, field = 3;
	ssize_t n;

	for (const char *c = tid; *c && end < path + 24; c++)
		*end++ = *c;
	memcpy(end, "/stat", 6);
	if ((fd = openat(task_dir, path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The name may hold anything: fields start after its last ')'. */
	for (p = buf + n; p > buf && p[-1] != ')'; p--)
		;
	if (p == buf || *p != ' ')
		return -1;
	*state = p[1];
	for (p++; *p && field < 9; p++) {
		if (*p == ' ')
			field++;
	}
	return field == 9 ? parse_num(p) : -1;
}

/*
 * Tasks of process pid that may still run code of their own: neither dead
 * nor exiting.  A task that SIGKILL reached leaves the system call it was
 * in (every write it made is done) and sets PF_EXITING before anything
 * else; what follows, freeing its memory, needs no waiting for.  With
 * doomed, each running task also gets the lowest priority, so that its
 * teardown yields to the live guest that follows it.  *stopped says
 * whether all those tasks are stopped (a frozen session's).
 */
static int running_tasks(struct sweep *w, int32_t pid, bool doomed, bool *stopped)
{
	char path[32], buf[4096];
	int fd, n_running = 0;
	long n;

	*stopped = true;
	memcpy(put_num(path, pid), "/task", 6);
	if ((fd = openat(w->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_hdr *d = (void *)(buf + off);
			char state = 0;
			long flags;

			off += d->reclen;
			if (d->name[0] < '0' || d->name[0] > '9' ||
			    (flags = task_flags(fd, d->name, &state)) < 0)
				continue;
			if (state == 'Z' || state == 'X' || (flags & TASK_EXITING))
				continue;
			n_running++;
			*stopped = *stopped && (state == 'T' || state == 't');
			if (doomed)
				setpriority(PRIO_PROCESS, (id_t)parse_num(d->name), 19);
		}
	}
	close(fd);
	return n_running;
}

/* ------------------------------------------------------------------ sweeps */

/* A pid may be listed twice (stopped again after a waker ran): harmless. */
static void remember_stopped(struct sweep *w, int32_t pid)
{
	if (w->nstopped < SWEEP_MAX_TASKS)
		w->stopped[w->nstopped++] = pid;
	else
		w->stopped_all = true;
}

/* One process in one pass; false when it was not yet as the mode wants. */
static bool settle(struct sweep *w, int32_t pid, enum sweep_mode mode)
{
	bool holder = sweep_spared(w, pid) != NULL;
	struct proc_state ps;

	if (mode == SWEEP_KILL && !holder) {
		bool stopped;

		for (int i = 0; i < w->ngone; i++) {
			if (w->gone[i] == pid)
				return true;
		}
		if (running_tasks(w, pid, true, &stopped) == 0) {
			if (w->ngone < SWEEP_MAX_GONE)
				w->gone[w->ngone++] = pid;
			return true;
		}
		kill(pid, SIGKILL);
		/*
		 * A stopped process is in no system call: killed, it dies without
		 * running again, unless something running woke it first, which a
		 * pass that finds nothing running rules out (pass()).
		 */
		if (stopped && w->nstopkill < SWEEP_MAX_GONE) {
			w->stopkill[w->nstopkill++] = pid;
			return true;
		}
		return false;
	}
	if (mode == SWEEP_KILL) {
		/* A holder or spare is init's child, stopped when init took it:
		 * anything it did since reached init's wait (sweep_ran). */
		struct sweep_holder *h = sweep_spared(w, pid);

		if (!(h->ran & (h->pid == pid ? RAN_HOLDER : RAN_SPARE)))
			return true;
	} else {
		inspect(w, pid, true, true, &ps);
		if (ps.live == ps.stopped)
			return true;
	}
	if (mode == SWEEP_KILL) {
		/* A holder (or spare) that runs is none: whoever woke it made it
		 * the guest's. */
		kill(pid, SIGKILL);
		sweep_forget(w, pid);
	} else {
		kill(pid, SIGSTOP);
		if (!holder)
			remember_stopped(w, pid);
	}
	return false;
}

/* One scan of every process but init; true when nothing needed a signal. */
static bool pass(struct sweep *w, enum sweep_mode mode)
{
	char buf[4096];
	bool clean = true;
	long n;

	w->ncur = 0;
	w->overflow = false;
	w->nstopkill = 0;
	lseek(w->proc_fd, 0, SEEK_SET);
	while ((n = syscall(SYS_getdents64, w->proc_fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_hdr *d = (void *)(buf + off);
			long pid = parse_num(d->name);

			off += d->reclen;
			if (d->name[0] >= '1' && d->name[0] <= '9' && pid > 1 &&
			    !settle(w, (int32_t)pid, mode))
				clean = false;
		}
	}
	/* Nothing ran: what was killed while stopped never runs again.  (Else
	 * the next pass looks at it again.) */
	for (int i = 0; clean && i < w->nstopkill && w->ngone < SWEEP_MAX_GONE; i++)
		w->gone[w->ngone++] = w->stopkill[i];
	return clean;
}

static bool holders_ran(const struct sweep *w)
{
	for (int i = 0; i < w->nholders; i++) {
		if (w->holders[i].ran)
			return true;
	}
	return false;
}

static bool same_picture(const struct sweep *w)
{
	return w->nprev == w->ncur &&
	       memcmp(w->prev, w->cur, (size_t)w->ncur * sizeof(w->cur[0])) == 0;
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
static int run(struct sweep *w, enum sweep_mode mode)
{
	uint64_t deadline = sweep_now_ns() + SWEEP_BUDGET_NS;
	bool have_prev = false;

	w->ngone = 0;
	for (;;) {
		bool clean = pass(w, mode);

		w->reap(w->reap_ud);
		if (mode == SWEEP_KILL && holders_ran(w))
			clean = false; /* the next pass kills them */
		if (clean && !w->overflow && have_prev && same_picture(w))
			return 0;
		have_prev = clean && !w->overflow;
		memcpy(w->prev, w->cur, (size_t)w->ncur * sizeof(w->cur[0]));
		w->nprev = w->ncur;
		if (sweep_now_ns() > deadline)
			return -1;
		if (mode == SWEEP_FREEZE && message_waiting(w->ctl))
			return 1;
		/* Let the signalled act on it: a stop takes a moment, a kill only
		 * the end of a system call. */
		if (!clean)
			pause_us(mode == SWEEP_KILL ? 10 : 50);
	}
}

void sweep_thaw(struct sweep *w)
{
	if (w->stopped_all) {
		/* Too many to list: wake every process but init and the holders. */
		char buf[4096];
		long n;

		lseek(w->proc_fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, w->proc_fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct dirent64_hdr *d = (void *)(buf + off);
				long pid = parse_num(d->name);

				off += d->reclen;
				if (pid > 1 && !sweep_spared(w, (int32_t)pid))
					kill((pid_t)pid, SIGCONT);
			}
		}
	}
	for (int i = 0; i < w->nstopped; i++)
		kill(w->stopped[i], SIGCONT);
	w->nstopped = 0;
	w->stopped_all = false;
}

int sweep_freeze(struct sweep *w)
{
	int rc = run(w, SWEEP_FREEZE);

	if (rc == 1)
		sweep_thaw(w);
	return rc;
}

int sweep_kill(struct sweep *w)
{
	int rc = run(w, SWEEP_KILL);

	/* Whatever a freeze stopped is dead now. */
	w->nstopped = 0;
	w->stopped_all = false;
	return rc;
}

bool sweep_stopped_child(struct sweep *w, int32_t pid)
{
	struct proc_state ps;

	inspect(w, pid, false, false, &ps);
	return ps.live && ps.live == ps.stopped && ps.ppid == 1;
}
