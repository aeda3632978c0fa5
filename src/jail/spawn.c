/*
 * Cloning the jail and supervising it from inside: the jail's init (pid 1 of
 * its pid namespace) builds the root, forks the guest, reaps everything and
 * reports the guest's wait status.  When init exits the kernel kills every
 * process left in the namespace, so nothing outlives a run.
 */
#include "jail/jail.h"
#include "jail/probe.h"
#include "jail/sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* ------------------------------------------------------------ child side */

static void ctl_send(int ctl, int kind, int value, const char *what)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.value = value;
	if (what) {
		size_t n = strlen(what);
		if (n >= sizeof(m.what))
			n = sizeof(m.what) - 1;
		memcpy(m.what, what, n);
	}
	/* SOCK_SEQPACKET: one message, never split. */
	(void)!write(ctl, &m, sizeof(m));
}

/*
 * READY carries what the host needs from inside the jail: the jail's /proc
 * (every process of the pid namespace, zombies included) and a sock_diag
 * socket bound to the jail's network namespace, to measure the jail without
 * a cgroup; then the fds of the overlay binds (struct jail_rwc_fds).  The
 * first two are opened here, after the pivot, so they name the jail's own
 * instances.  Then the egress proxy's listener, when the plan has one, and
 * a session's scratch root.  value says which of those four arrive (bit 0
 * /proc, bit 1 the diag socket, bit 2 the listener, bit 3 the scratch
 * root); every fd after them belongs to the overlays.
 */
static void send_ready(int ctl, const struct jail_rwc_fds *rwc)
{
	int own[2] = {open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		      socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
	int sent[4 + JAIL_MAX_HANDED];
	char cbuf[CMSG_SPACE(sizeof(sent))];
	struct jail_ctl_msg m;
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	int n = 0;

	memset(&m, 0, sizeof(m));
	m.kind = JAIL_CTL_READY;
	for (int i = 0; i < 2; i++) {
		if (own[i] >= 0)
			sent[n++] = own[i];
	}
	m.value = (own[0] >= 0) | (own[1] >= 0) << 1 | (rwc->listen_fd >= 0) << 2 |
		  (rwc->scratch_fd >= 0) << 3;
	if (rwc->listen_fd >= 0)
		sent[n++] = rwc->listen_fd;
	if (rwc->scratch_fd >= 0)
		sent[n++] = rwc->scratch_fd;
	for (int i = 0; i < rwc->n; i++)
		sent[n++] = rwc->fds[i];
	if (n) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(c), sent, (size_t)n * sizeof(int));
	}
	(void)!sendmsg(ctl, &mh, MSG_NOSIGNAL);
	for (int i = 0; i < 2; i++) {
		if (own[i] >= 0)
			close(own[i]);
	}
}

static void close_rwc(struct jail_rwc_fds *rwc)
{
	for (int i = 0; i < rwc->n; i++)
		close(rwc->fds[i]);
	rwc->n = 0;
	if (rwc->listen_fd >= 0)
		close(rwc->listen_fd);
	if (rwc->scratch_fd >= 0)
		close(rwc->scratch_fd);
	rwc->listen_fd = rwc->scratch_fd = -1;
}

static __attribute__((noreturn)) void child_fail(int ctl, const char *what, int err)
{
	ctl_send(ctl, JAIL_CTL_ERROR, err, what);
	_exit(126);
}

/* Insertion sort: qsort may allocate, which a cloned child must not do. */
static void sort_fds(int *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		int x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Close every fd except the ones in keep (a multi-threaded embedder may have
 * handed us the pipes of unrelated runs, which must not be held open). */
static void close_all_but(int *keep, size_t n)
{
	int lo = 0;

	sort_fds(keep, n);
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0)
			continue;
		if (keep[i] > lo)
			syscall(SYS_close_range, lo, keep[i] - 1, 0);
		lo = keep[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0);
}

static void keep_plan_fds(const struct jail_plan *plan, int ctl)
{
	int keep[10];
	size_t n = 0;

	keep[n++] = ctl;
	keep[n++] = plan->proto_fd;
	keep[n++] = plan->stdin_fd;
	keep[n++] = plan->stdout_fd;
	keep[n++] = plan->stderr_fd;
	for (int i = 0; i < 3; i++)
		keep[n++] = plan->cgroup_fds[i];
	keep[n++] = plan->cgroup_dir_fd;
	keep[n++] = plan->session ? plan->timer_fd : -1;
	close_all_but(keep, n);
}

/*
 * Be in the jail's cgroup, then root a new cgroup namespace there, so that
 * the guest's /proc/self/cgroup reads "/" in every hierarchy: nothing of the
 * host's layout, nor brig's pid in the cgroup's name.  A cgroup namespace
 * made at clone time would be rooted where brig itself is.  Unless init was
 * cloned into the cgroup, it writes "0" (itself) to the files the host
 * opened.  The guest, forked later, is born inside.
 */
static int join_cgroup(const struct jail_plan *plan, bool born_inside, const char **what)
{
	for (int i = 0; i < 3; i++) {
		int fd = plan->cgroup_fds[i];

		if (fd < 0)
			continue;
		if (!born_inside)
			JAIL_TRY(write(fd, "0", 1), "join the cgroup");
		close(fd);
	}
	if (plan->cgroup_dir_fd >= 0)
		close(plan->cgroup_dir_fd);
	JAIL_TRY(syscall(SYS_unshare, CLONE_NEWCGROUP), "cgroup namespace");
	return 0;
}

/* Move fds to their guest numbers without clobbering each other. */
/* Fds the fork handlers of a warm guest's interpreter opened: its own. */
#define JAIL_MAX_KEEP 16

struct fd_keep {
	int fd[JAIL_MAX_KEEP];
	size_t n;
};

/*
 * Move fds to their guest numbers without clobbering each other, and close
 * every other fd but the ones in keep.
 */
static int place_guest_fds(const struct jail_plan *plan, int in_fd, const struct fd_keep *keep)
{
	int src[4] = {in_fd, plan->stdout_fd, plan->stderr_fd, plan->proto_fd};
	int tmp[4], left[4 + JAIL_MAX_KEEP];
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD, 16);
		if (tmp[i] < 0)
			return -errno;
	}
	for (int i = 0; i < 4; i++) {
		if (dup2(tmp[i], i) < 0)
			return -errno;
		left[n++] = i;
	}
	for (size_t i = 0; keep && i < keep->n; i++)
		left[n++] = keep->fd[i];
	close_all_but(left, n);
	return 0;
}

/* The guest's side of the jail, up to its own code: the same steps for a
 * cold run (then execve) and a warm one (then back into the interpreter). */
static void guest_prepare(const struct jail_plan *plan, int ctl, const struct fd_keep *keep)
{
	const char *what = "open /dev/null";
	int in_fd = plan->stdin_fd;
	int rc;

	if (setsid() < 0)
		child_fail(ctl, "setsid", errno);
	if (in_fd < 0 && (in_fd = open("/dev/null", O_RDONLY)) < 0)
		child_fail(ctl, what, errno);
	if (chdir(JAIL_HOME) < 0)
		child_fail(ctl, "chdir " JAIL_HOME, errno);
	if ((rc = jail_drop_privileges(plan, &what)) < 0)
		child_fail(ctl, what, -rc);
	/* Stacked filters: the kernel takes the stricter verdict of the two. */
	if (plan->bpf_memguard && (rc = jail_seccomp_install(plan->bpf_memguard)) < 0)
		child_fail(ctl, "seccomp (memory guard)", -rc);
	if ((rc = jail_seccomp_install(plan->bpf)) < 0)
		child_fail(ctl, "seccomp", -rc);
	/* From here on the ctl channel is gone; failures go to the guest's stderr. */
	if (place_guest_fds(plan, in_fd, keep) < 0)
		_exit(126);
}

static __attribute__((noreturn)) void guest_exec(const struct jail_plan *plan, int ctl)
{
	int rc;

	guest_prepare(plan, ctl, NULL);
	execve(plan->argv[0], (char *const *)plan->argv, (char *const *)plan->envp);
	rc = errno;
	(void)!write(2, "brig: cannot execute ", 21);
	(void)!write(2, plan->argv[0], strlen(plan->argv[0]));
	(void)!write(2, ": ", 2);
	(void)!write(2, strerror(rc), strlen(strerror(rc)));
	(void)!write(2, "\n", 1);
	_exit(127);
}

/*
 * Reap until the guest exits; return its wait status.  A hang-up of the
 * ctl channel means the host is gone: then init leaves, and the kernel
 * takes the whole pid namespace with it.  (A warm jail's parent is not the
 * run's thread, so the parent-death signal cannot say that.)
 */
static int init_wait(pid_t guest, int ctl)
{
	sigset_t chld;
	struct pollfd p[2] = {{-1, POLLIN, 0}, {ctl, 0, 0}};

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	p[0].fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		int st;
		pid_t w;
		struct signalfd_siginfo si;

		while ((w = waitpid(-1, &st, __WALL | WNOHANG)) > 0) {
			if (w == guest)
				return st;
		}
		if (w < 0 && errno == ECHILD)
			return 0;
		/* Without a signalfd, look for exits every 10 ms. */
		if ((p[0].fd >= 0 ? poll(p, 2, -1) : poll(&p[1], 1, 10)) < 0 && errno != EINTR)
			_exit(125);
		if (p[1].revents & (POLLHUP | POLLERR))
			_exit(125);
		if (p[0].fd >= 0)
			(void)!read(p[0].fd, &si, sizeof(si));
	}
}

/* The tree's CPU time as init sees it: its own and every child it reaped. */
static uint64_t init_cpu_us(void)
{
	struct rusage self, kids;
	uint64_t us = 0;

	if (getrusage(RUSAGE_SELF, &self) == 0 && getrusage(RUSAGE_CHILDREN, &kids) == 0)
		us = (uint64_t)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
				kids.ru_stime.tv_sec) *
			 1000000 +
		     (uint64_t)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
				kids.ru_utime.tv_usec + kids.ru_stime.tv_usec);
	return us;
}

/*
 * Die with the thread that spawned us, when that thread is its process's
 * main one (the signal follows the thread, and an embedder's sandbox must
 * outlive a worker thread that made it).  Set after the identity change,
 * which clears the parent-death signal; a parent that died before that
 * shows as a hang-up on the ctl socket.  Otherwise, as for a warm jail
 * (whose parent is the zygote's), the hang-up alone says the host is gone
 * (init_wait, jail_supervise).
 */
static void die_with_parent(int ctl, bool by_signal)
{
	struct pollfd p = {ctl, POLLIN, 0};

	if (by_signal)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A primed init's zygote hangs up once it handed over the run: what
	 * is left to read still counts. */
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLIN))
		_exit(125);
}

/* Parse one decimal field of /proc/self/stat (1-based), without allocating. */
static unsigned long stat_field(const char *buf, int field)
{
	const char *p = strrchr(buf, ')');
	unsigned long v = 0;

	/* Field 3 starts two characters after the command's closing parenthesis. */
	for (int f = 2; p && f < field; f++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	return v;
}

void jail_set_cmdline(const char *const *argv)
{
	char buf[1024];
	ssize_t n;
	unsigned long start, end;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	start = stat_field(buf, 48);
	end = stat_field(buf, 49);
	if (start && end > start) {
		char *p = (char *)start;

		memset(p, 0, end - start);
		for (int i = 0; argv[i]; i++) {
			size_t len = strlen(argv[i]) + 1;

			if (len > end - (unsigned long)p)
				break;
			memcpy(p, argv[i], len);
			p += len;
		}
	}
	start = stat_field(buf, 50);
	end = stat_field(buf, 51);
	if (start && end > start)
		memset((void *)start, 0, end - start);
}

/*
 * We are a clone of the embedding process, and /proc/1/cmdline is readable
 * by the guest: blank the host's arguments (they may name secrets) in our
 * own memory, which is what the kernel shows.  The environment is already
 * guarded by ptrace checks; it is blanked too, as defence in depth.
 */
static void hide_host_args(void)
{
	static const char *const name[] = {"brig-init", NULL};

	jail_set_cmdline(name);
}

/*
 * The embedder's signal handlers and mask were cloned with us.  Reset them:
 * a handler would let the guest run embedder code inside init by signalling
 * pid 1, and an ignored SIGPIPE would leak into the guest across execve.
 * With default dispositions, init of a pid namespace ignores the guest's
 * signals.  The kernel's struct sigaction: handler, flags, restorer, mask.
 */
static void reset_signals(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = {SIG_DFL, 0, NULL, 0};
	uint64_t none = 0;

	for (int sig = 1; sig <= 64; sig++)
		syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
}

/* init keeps none of the guest's channels: only the guest holds them. */
static void close_guest_ends(const struct jail_plan *plan)
{
	close(plan->proto_fd);
	close(plan->stdout_fd);
	close(plan->stderr_fd);
	if (plan->stdin_fd >= 0)
		close(plan->stdin_fd);
}

static void send_status(int ctl, int status)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = JAIL_CTL_STATUS;
	m.value = status;
	m.cpu_us = init_cpu_us();
	(void)!write(ctl, &m, sizeof(m));
}

/* init's first steps, before it knows anything but its plan and ctl. */
static void init_begin(const struct jail_plan *plan, int ctl)
{
	reset_signals();
	/* Leave the embedder's session: no terminal signal may reach the jail. */
	setsid();
	keep_plan_fds(plan, ctl);
	hide_host_args();
}

/* Build the root filesystem and pivot into it; rwc gets the overlays' fds. */
static void init_root(const struct jail_plan *plan, int ctl, bool by_signal,
		      struct jail_rwc_fds *rwc)
{
	const char *what = "";
	int fds[JAIL_MAX_BINDS];
	int rc;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(ctl, "make mounts private", errno);
	if ((rc = jail_open_sources(plan, fds, &what)) < 0)
		child_fail(ctl, what, -rc);
	/* Needs CAP_NET_ADMIN in the jail's user namespace: before the ids drop. */
	rwc->listen_fd = -1;
	if (plan->proxy_port && (rwc->listen_fd = jail_net_listen(plan->proxy_port)) < 0)
		child_fail(ctl, "egress proxy listener", -rwc->listen_fd);
	if ((rc = jail_set_identity(plan, &what)) < 0)
		child_fail(ctl, what, -rc);
	die_with_parent(ctl, by_signal);
	if ((rc = jail_build_root(plan, fds, rwc, &what)) < 0)
		child_fail(ctl, what, -rc);
	for (size_t i = 0; i < plan->nbinds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Join the run's cgroup and wait for the host's go. */
static void init_join(const struct jail_plan *plan, int ctl, bool born_inside)
{
	const char *what = "";
	char go;
	int rc;

	if ((rc = join_cgroup(plan, born_inside, &what)) < 0)
		child_fail(ctl, what, -rc);
	if (read(ctl, &go, 1) != 1)
		_exit(125);
}

/* The fds open now (below 1024), from /proc/self/fd, without allocating. */
static void open_fds(uint64_t set[16])
{
	char buf[2048];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	memset(set, 0, 16 * sizeof(uint64_t));
	while (dir >= 0 && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			int fd = atoi(d->name);

			if (d->name[0] >= '0' && d->name[0] <= '9' && fd != dir && fd < 1024)
				set[fd / 64] |= 1ull << (fd % 64);
			off += d->reclen;
		}
	}
	if (dir >= 0)
		close(dir);
}

/* Move fd above whatever the interpreter's fork handlers may close or reuse. */
static void lift(int *fd)
{
	int to;

	if (*fd < 0 || (to = fcntl(*fd, F_DUPFD_CLOEXEC, 512)) < 0)
		return;
	close(*fd);
	*fd = to;
}

/*
 * A warm guest is forked with glibc's fork(), so that the fork handlers of
 * the interpreter's libraries run in it (libuv renews its thread pool and
 * its signal lock, OpenSSL its random state), as they would after any fork
 * in a process of their own.  The fds those handlers open are the guest's
 * to keep.  Every fd init holds moves out of their way first (to 512 and
 * up; 0-3 hold /dev/null), so that they open the same numbers in every
 * guest.  plan becomes moved, which init goes on with.
 */
static pid_t fork_warm(const struct jail_plan **plan, int *ctl, struct jail_plan *moved,
		       struct jail_rwc_fds *rwc, struct fd_keep *keep)
{
	int *fds[] = {ctl, &moved->proto_fd, &moved->stdout_fd, &moved->stderr_fd,
		      &moved->stdin_fd};
	uint64_t before[16], after[16];
	int held[4], nheld = 0, fd;
	pid_t pid;

	*moved = **plan;
	*plan = moved;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		lift(fds[i]);
	for (int i = 0; i < rwc->n; i++)
		lift(&rwc->fds[i]);
	lift(&rwc->listen_fd);
	lift(&rwc->scratch_fd);
	/* What the handlers open must not land on 0-3, the guest's stdio. */
	while (nheld < 4 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fd > 3) {
			close(fd);
			break;
		}
		held[nheld++] = fd;
	}
	open_fds(before);
	pid = fork();
	if (pid != 0) {
		for (int i = 0; i < nheld; i++)
			close(held[i]);
		return pid;
	}
	open_fds(after);
	keep->n = 0;
	for (int i = 0; i < 1024 && keep->n < JAIL_MAX_KEEP; i++)
		if ((after[i / 64] & ~before[i / 64]) & (1ull << (i % 64)))
			keep->fd[keep->n++] = i;
	return 0;
}

/* Fork the guest (it returns 0 when warm) and supervise it; init never returns. */
static int init_run(const struct jail_plan *plan, int ctl, bool warm, struct jail_rwc_fds *rwc)
{
	struct jail_plan moved;
	struct fd_keep keep;
	pid_t guest;
	int spares = -1;

	prctl(PR_SET_DUMPABLE, 0);
	/* The page init shares with the host is none of the guest's business. */
	if (plan->session)
		madvise(plan->shared, sizeof(*plan->shared), MADV_DONTFORK);
	/* Where snapshot holders name their spares: taken before any guest runs. */
	if (plan->session && (spares = jail_spare_socket()) < 0)
		child_fail(ctl, "spare socket", errno);
	if (warm)
		guest = fork_warm(&plan, &ctl, &moved, rwc, &keep);
	else
		guest = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (guest < 0)
		child_fail(ctl, "fork guest", errno);
	if (guest == 0 && warm) {
		close_rwc(rwc);
		guest_prepare(plan, ctl, &keep);
		return 0;
	}
	if (guest == 0)
		guest_exec(plan, ctl);
	send_ready(ctl, rwc);
	close_rwc(rwc);
	close_guest_ends(plan);
	if (plan->session)
		jail_supervise(ctl, plan->timer_fd, plan->shared, spares);
	send_status(ctl, init_wait(guest, ctl));
	_exit(0);
}

int jail_init(const struct jail_plan *plan, int ctl, bool born_inside, bool warm, bool by_signal)
{
	struct jail_rwc_fds rwc = {.n = 0, .listen_fd = -1, .scratch_fd = -1};

	init_begin(plan, ctl);
	init_join(plan, ctl, born_inside);
	init_root(plan, ctl, by_signal, &rwc);
	return init_run(plan, ctl, warm, &rwc);
}

int jail_init_primed(const struct jail_plan *tmpl, int zctl,
		     int (*take)(void *arg, const struct jail_plan **plan, int *ctl), void *arg)
{
	struct jail_rwc_fds rwc = {.n = 0, .listen_fd = -1, .scratch_fd = -1};
	const struct jail_plan *plan;
	char maps;
	int ctl;

	init_begin(tmpl, zctl);
	/* The zygote says when our id maps are written, as go does for a cold init. */
	if (read(zctl, &maps, 1) != 1)
		_exit(0);
	init_root(tmpl, zctl, false, &rwc);
	if (take(arg, &plan, &ctl) < 0)
		_exit(0); /* the zygote went, or dropped us */
	close(zctl);
	init_join(plan, ctl, false);
	return init_run(plan, ctl, true, &rwc);
}

/* ----------------------------------------------------------- parent side */

static int write_file(pid_t pid, const char *name, const char *data)
{
	char dir[32];

	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	return sysfile_write(dir, name, data);
}

int jail_write_id_maps(const struct jail_plan *plan, pid_t pid, char *err, size_t errlen)
{
	char map[64];
	int rc;

	/* Without privilege the kernel requires setgroups to be denied first;
	 * with it, the child still needs setgroups to drop root's groups. */
	if (!plan->privileged && (rc = write_file(pid, "setgroups", "deny")) < 0)
		goto fail;
	snprintf(map, sizeof(map), "%d %u 1\n", JAIL_UID, (unsigned)plan->host_uid);
	if ((rc = write_file(pid, "uid_map", map)) < 0)
		goto fail;
	snprintf(map, sizeof(map), "%d %u 1\n", JAIL_GID, (unsigned)plan->host_gid);
	if ((rc = write_file(pid, "gid_map", map)) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "writing the user namespace id maps failed: %s", strerror(-rc));
	return -1;
}

/* linux/sched.h's struct clone_args (version 2), named apart. */
struct jail_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

/*
 * A raw clone: the child must not run fork handlers of a threaded host.  With
 * a v2 cgroup, clone3 starts init inside it (CLONE_INTO_CGROUP, Linux 5.7),
 * which takes no global lock.  On any failure (an older kernel, a cgroup
 * that refuses) the plain clone follows and init joins by itself, reporting
 * what fails.  *born_inside tells the child which it was.
 */
static pid_t clone_init(const struct jail_plan *plan, int *pidfd, bool *born_inside)
{
	*born_inside = plan->cgroup_dir_fd >= 0;
	if (*born_inside) {
		struct jail_clone_args a = {
		    .flags = JAIL_NS_FLAGS | CLONE_PIDFD | CLONE_INTO_CGROUP,
		    .pidfd = (uintptr_t)pidfd,
		    .exit_signal = SIGCHLD,
		    .cgroup = (uint64_t)plan->cgroup_dir_fd,
		};
		pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));

		if (pid >= 0)
			return pid;
		*born_inside = false;
	}
	return (pid_t)syscall(SYS_clone, JAIL_NS_FLAGS | CLONE_PIDFD | SIGCHLD, 0, pidfd, 0, 0);
}

int jail_spawn(const struct jail_plan *plan, struct jail_proc *out, char *err, size_t errlen)
{
	int ctl[2], pidfd = -1;
	bool born_inside, main_thread = (pid_t)syscall(SYS_gettid) == getpid();
	pid_t pid;

	out->proc_fd = out->diag_fd = out->listen_fd = out->scratch_fd = -1;
	out->nrwc_fds = 0;
	out->warm = false;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid = clone_init(plan, &pidfd, &born_inside);
	if (pid < 0) {
		int e = errno;
		char why[400];

		close(ctl[0]);
		close(ctl[1]);
		jail_explain_userns(plan->privileged, e, why, sizeof(why));
		snprintf(err, errlen, "cannot create namespaces: %s", why);
		return -1;
	}
	if (pid == 0) {
		close(ctl[0]);
		jail_init(plan, ctl[1], born_inside, false, main_thread);
		_exit(125);
	}
	close(ctl[1]);
	out->pid = pid;
	out->pidfd = pidfd;
	out->ctl_fd = ctl[0];
	if (jail_write_id_maps(plan, pid, err, errlen) < 0) {
		jail_kill(out);
		return -1;
	}
	return 0;
}

static int ctl_recv(int fd, struct jail_ctl_msg *m)
{
	ssize_t n;

	do
		n = read(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

int jail_go(struct jail_proc *p)
{
	return write(p->ctl_fd, "g", 1) == 1 ? 0 : -1;
}

/* Share out the fds that came with READY (see send_ready). */
static void take_ready_fds(struct jail_proc *p, const struct jail_ctl_msg *m, const int *fds, int n)
{
	int i = 0;

	if ((m->value & 1) && i < n)
		p->proc_fd = fds[i++];
	if ((m->value & 2) && i < n)
		p->diag_fd = fds[i++];
	if ((m->value & 4) && i < n)
		p->listen_fd = fds[i++];
	if ((m->value & 8) && i < n)
		p->scratch_fd = fds[i++];
	for (; i < n && p->nrwc_fds < JAIL_MAX_HANDED; i++)
		p->rwc_fds[p->nrwc_fds++] = fds[i];
	for (; i < n; i++)
		close(fds[i]);
}

/* The first message of init: READY (maybe with fds) or ERROR; -1 when it
 * did not arrive whole, or fds were lost on the way. */
static int recv_ready(struct jail_proc *p, struct jail_ctl_msg *m)
{
	int fds[4 + JAIL_MAX_HANDED];
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int n = 0;
	ssize_t got;

	do
		got = recvmsg(p->ctl_fd, &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	for (c = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && !n) {
			n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
		}
	}
	if (got != (ssize_t)sizeof(*m) || m->kind != JAIL_CTL_READY) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		return got == (ssize_t)sizeof(*m) ? 0 : -1;
	}
	take_ready_fds(p, m, fds, n);
	return mh.msg_flags & MSG_CTRUNC ? -1 : 0;
}

int jail_wait_ready(struct jail_proc *p, char *err, size_t errlen)
{
	struct jail_ctl_msg m;

	if (recv_ready(p, &m) < 0) {
		snprintf(err, errlen, "the sandbox died during setup");
		return -1;
	}
	if (m.kind == JAIL_CTL_ERROR) {
		m.what[sizeof(m.what) - 1] = '\0';
		snprintf(err, errlen, "sandbox setup failed at %s: %s", m.what, strerror(m.value));
		return -1;
	}
	return 0;
}

void jail_kill(const struct jail_proc *p)
{
	if (p->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

/*
 * Wait for init's exit.  A cold jail's init is our child: waitid reaps it
 * and gives the tree's rusage.  A jail spawned through a daemon belongs to
 * the daemon's zygote: then only its pidfd tells the exit, and the CPU time
 * is what init reported with the guest's status.
 */
static bool wait_init(struct jail_proc *p, struct rusage *ru)
{
	siginfo_t si;
	long rc;

	memset(ru, 0, sizeof(*ru));
	do
		rc = syscall(SYS_waitid, P_PIDFD, p->pidfd, &si, WEXITED, ru);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return true;
	if (errno == ECHILD) {
		struct pollfd pf = {p->pidfd, POLLIN, 0};

		while (poll(&pf, 1, -1) < 0 && errno == EINTR)
			;
	}
	return false;
}

int jail_reap(struct jail_proc *p, int *guest_status, uint64_t *cpu_us)
{
	struct jail_ctl_msg m;
	struct rusage ru;
	uint64_t reported = 0;
	bool reaped = wait_init(p, &ru);

	*guest_status = -1;
	/* The status message was sent before init exited, so it is queued now. */
	fcntl(p->ctl_fd, F_SETFL, O_NONBLOCK);
	while (ctl_recv(p->ctl_fd, &m) == 0) {
		if (m.kind == JAIL_CTL_STATUS) {
			*guest_status = m.value;
			reported = m.cpu_us;
		}
		if (m.kind == JAIL_CTL_ERROR) {
			m.what[sizeof(m.what) - 1] = '\0';
			snprintf(p->setup_err, sizeof(p->setup_err),
				 "sandbox setup failed at %s: %s", m.what, strerror(m.value));
		}
	}
	*cpu_us = reaped ? (uint64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
			       (uint64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec
			 : reported;
	close(p->pidfd);
	close(p->ctl_fd);
	if (p->proc_fd >= 0)
		close(p->proc_fd);
	if (p->diag_fd >= 0)
		close(p->diag_fd);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	if (p->scratch_fd >= 0)
		close(p->scratch_fd);
	p->pidfd = p->ctl_fd = p->proc_fd = p->diag_fd = p->listen_fd = p->scratch_fd = -1;
	return 0;
}
