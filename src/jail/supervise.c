/*
 * Session mode: the jail's init outlives the guest.  It reaps every process
 * and reports each exit, and obeys the host: kill everything but the
 * snapshot holders (a timeout or an interrupt in a session), signal the live
 * guest, wake a holder.  The child half runs in a clone of a possibly
 * threaded embedder: raw syscalls only, no allocation.
 */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_PASSES 100

/* ------------------------------------------------------------ child side */

static void send_msg(int ctl, int kind, int32_t pid, int32_t value)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.pid = pid;
	m.value = value;
	(void)!write(ctl, &m, sizeof(m));
}

static void reap(int ctl)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0)
		send_msg(ctl, JAIL_CTL_STATUS, p, st);
}

static int spared(const struct jail_ctl_msg *m, long pid)
{
	if (pid == 1)
		return 1;
	for (int i = 0; i < m->npids && i < JAIL_MAX_SPARED; i++) {
		if (m->pids[i] == pid)
			return 1;
	}
	return 0;
}

/* The state letter of /proc/PID/stat ('R', 'T', 'Z'...), or 0 if it is gone. */
static char proc_state(long pid)
{
	char path[40], buf[256], *p;
	int fd, n, len = 0;

	memcpy(path, "/proc/", 6);
	for (long v = pid, d = 1000000000; d; d /= 10)
		if (v / d || len)
			path[6 + len++] = (char)('0' + (v / d) % 10);
	memcpy(path + 6 + len, "/stat", 6);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Whether the process is gone or already a zombie. */
static int is_zombie(long pid)
{
	char st = proc_state(pid);

	return st == 0 || st == 'Z';
}

/*
 * A snapshot holder stops itself (SIGSTOP) after it is forked and after each
 * wake-up.  A SIGCONT that arrives before that stop is lost, and the holder
 * would then sleep through the restore: wait (bounded) until it has stopped.
 */
static void wait_stopped(long pid)
{
	for (int i = 0; i < 2000; i++) {
		char st = proc_state(pid);
		struct timespec ts = {0, 1000000};

		if (st == 0 || st == 'T' || st == 't' || st == 'Z')
			return;
		nanosleep(&ts, NULL);
	}
}

/* One pass over /proc: SIGKILL what is not spared; how many were alive. */
static int kill_pass(const struct jail_ctl_msg *m)
{
	char buf[4096];
	int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC), alive = 0;
	long n;

	if (fd < 0)
		return 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			long pid = 0;

			for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
				pid = pid * 10 + (*c - '0');
			if (pid > 0 && !spared(m, pid) && !is_zombie(pid)) {
				kill((pid_t)pid, SIGKILL);
				alive++;
			}
			off += d->reclen;
		}
	}
	close(fd);
	return alive;
}

static void kill_except(int ctl, const struct jail_ctl_msg *m)
{
	/* Repeat: a dying process may have forked, and the new one lives on. */
	for (int i = 0; i < KILL_PASSES && kill_pass(m) > 0; i++) {
		struct timespec ts = {0, 100000};

		reap(ctl);
		nanosleep(&ts, NULL);
	}
	reap(ctl);
}

static void obey(int ctl, const struct jail_ctl_msg *m)
{
	switch (m->kind) {
	case JAIL_CMD_KILL_EXCEPT:
		kill_except(ctl, m);
		break;
	case JAIL_CMD_SIGNAL:
		if (m->pid > 1)
			kill(m->pid, m->value);
		break;
	case JAIL_CMD_CONT:
		if (m->pid > 1) {
			wait_stopped(m->pid);
			kill(m->pid, SIGCONT);
		}
		break;
	}
	send_msg(ctl, JAIL_CTL_ACK, m->pid, m->kind);
}

void jail_supervise(int ctl)
{
	struct pollfd p = {ctl, POLLIN, 0};
	struct jail_ctl_msg m;

	for (;;) {
		/* SIGCHLD is ignored by default: poll with a short timeout and reap. */
		int r = poll(&p, 1, 20);

		reap(ctl);
		if (r <= 0)
			continue;
		if (p.revents & (POLLHUP | POLLERR))
			_exit(0);
		if (read(ctl, &m, sizeof(m)) == (ssize_t)sizeof(m))
			obey(ctl, &m);
	}
}

/* ----------------------------------------------------------- host side */

static int command(struct jail_proc *p, struct jail_ctl_msg *m)
{
	struct pollfd pfd = {p->ctl_fd, POLLIN, 0};
	struct jail_ctl_msg r;

	if (write(p->ctl_fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		return -1;
	/* STATUS reports may come first; they are kept for the caller. */
	while (poll(&pfd, 1, 5000) > 0) {
		if (read(p->ctl_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			return -1;
		if (r.kind == JAIL_CTL_ACK && r.value == m->kind)
			return 0;
		if (r.kind == JAIL_CTL_STATUS && p->nexits < JAIL_MAX_SPARED)
			p->exits[p->nexits++] = (struct jail_exit){r.pid, r.value};
	}
	return -1;
}

int jail_kill_except(struct jail_proc *p, const int32_t *spared_pids, int n)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = JAIL_CMD_KILL_EXCEPT;
	m.npids = n < JAIL_MAX_SPARED ? n : JAIL_MAX_SPARED;
	memcpy(m.pids, spared_pids, (size_t)m.npids * sizeof(m.pids[0]));
	return command(p, &m);
}

int jail_signal(struct jail_proc *p, int32_t pid, int sig)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = JAIL_CMD_SIGNAL;
	m.pid = pid;
	m.value = sig;
	return command(p, &m);
}

int jail_cont(struct jail_proc *p, int32_t pid)
{
	struct jail_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = JAIL_CMD_CONT;
	m.pid = pid;
	return command(p, &m);
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
