/*
 * Forking a live node process: see fork.h.
 */
#include "node/fork.h"
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAPS_BUF 65536
/* How long an orphan waits to be adopted before it carries on anyway. */
#define ADOPT_LIMIT_MS 1000

/* ------------------------------------------------------------- mappings */

/* The kernel's own mappings, which madvise refuses. */
static bool special(const char *line, const char *end)
{
	static const char *const names[] = {"[vvar", "[vdso]", "[vsyscall]"};
	const char *path = memchr(line, '[', (size_t)(end - line));

	for (size_t i = 0; path && i < sizeof(names) / sizeof(names[0]); i++) {
		if ((size_t)(end - path) >= strlen(names[i]) &&
		    memcmp(path, names[i], strlen(names[i])) == 0)
			return true;
	}
	return false;
}

/*
 * One madvise over a run of ordinary mappings and the holes between them:
 * the kernel applies it to every mapping in the range and reports the holes
 * as ENOMEM, which is no failure here.
 */
static int dofork(uintptr_t start, uintptr_t end)
{
	if (end > start && madvise((void *)start, end - start, MADV_DOFORK) < 0 && errno != ENOMEM)
		return -errno;
	return 0;
}

struct walk {
	uintptr_t start, end; /* the run of ordinary mappings so far */
	bool open;
	int err;
};

static void take_line(struct walk *w, const char *line, const char *end)
{
	char *dash;
	uintptr_t lo = (uintptr_t)strtoull(line, &dash, 16), hi;

	if (*dash != '-')
		return;
	hi = (uintptr_t)strtoull(dash + 1, NULL, 16);
	if (special(line, end)) {
		if (w->open && !w->err)
			w->err = dofork(w->start, w->end);
		w->open = false;
		return;
	}
	if (!w->open)
		w->start = lo;
	w->open = true;
	w->end = hi;
}

int node_fork_prepare(void)
{
	struct walk w = {0, 0, false, 0};
	char *buf = malloc(MAPS_BUF);
	size_t have = 0;
	ssize_t n = 0;
	int fd;

	if (!buf)
		return -ENOMEM;
	if ((fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) < 0) {
		free(buf);
		return -errno;
	}
	while ((n = read(fd, buf + have, MAPS_BUF - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)n;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			take_line(&w, line, nl);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == MAPS_BUF - 1)
			have = 0; /* a line longer than the buffer: only its path is lost */
	}
	if (n < 0 && !w.err)
		w.err = -errno;
	close(fd);
	free(buf);
	if (w.open && !w.err)
		w.err = dofork(w.start, w.end);
	return w.err;
}

/* --------------------------------------------------------------- forking */

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

/* Spin a little, then sleep in small steps: true once done(arg) holds. */
static bool wait_until(bool (*done)(long), long arg, int limit_ms)
{
	for (int i = 0; i < 200; i++) {
		if (done(arg))
			return true;
		sched_yield();
	}
	for (int i = 0; i < limit_ms * 20; i++) {
		if (done(arg))
			return true;
		pause_us(50);
	}
	return done(arg);
}

static bool adopted(long adopter)
{
	return getppid() == (pid_t)adopter;
}

pid_t node_fork_orphan(void)
{
	volatile pid_t child = 0;
	volatile int err = 0;
	pid_t adopter = getppid(), helper;
	sigset_t all, old;

	/* The helper shares our memory until it exits: it only forks and
	 * leaves the result where we find it.  No signal handler may run in it
	 * (it would run node's code on node's memory), as posix_spawn does. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	helper = vfork();
	if (helper == 0) {
		pid_t c = fork();

		if (c == 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			/* The helper exits at once; be adopted before anything else, so
			 * that the adopter sees a stop of ours. */
			wait_until(adopted, adopter, ADOPT_LIMIT_MS);
			return 0;
		}
		if (c < 0)
			err = errno;
		child = c;
		_exit(0);
	}
	if (helper < 0)
		err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (helper < 0)
		return -err;
	while (waitpid(helper, NULL, 0) < 0 && errno == EINTR)
		;
	return err ? -err : child;
}

/* Name the spare to init; the kernel adds who is speaking. */
static void tell_init(int sock, pid_t spare)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct jail_spare_msg m = {JAIL_SPARE_MAGIC, (int32_t)spare};

	memcpy(a.sun_path + 1, JAIL_SPARE_SOCKET, sizeof(JAIL_SPARE_SOCKET) - 1);
	(void)!sendto(sock, &m, sizeof(m), 0, (struct sockaddr *)&a,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				  sizeof(JAIL_SPARE_SOCKET) - 1));
}

pid_t node_fork_hold(void)
{
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	pid_t me = getpid(), copy;

	for (;;) {
		kill(me, SIGSTOP);
		/* At the process limit, the guest a restore just killed frees its
		 * pid only once it is reaped: try again for a while.  No spare
		 * after all is no spare this time; init notices. */
		for (int i = 0; (copy = node_fork_orphan()) == -EAGAIN && i < 100; i++)
			pause_us(2000);
		if (copy == 0) {
			close(sock);
			return me;
		}
		/* init takes it once it sees it stop. */
		if (copy > 0)
			tell_init(sock, copy);
	}
}

void node_fork_stop(void)
{
	kill(getpid(), SIGSTOP);
}

/* The state letter of /proc/pid/stat, or 0 when pid is gone. */
static char state_of(pid_t pid)
{
	char path[40], buf[512], *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

static bool stopped(long pid)
{
	char s = state_of((pid_t)pid);

	return s == 'T' || s == 'Z' || s == 'X' || s == 0;
}

bool node_fork_wait_stopped(pid_t pid, int limit_ms)
{
	return wait_until(stopped, pid, limit_ms);
}

int node_fork_child(uv_loop_t *loop)
{
	return uv_loop_fork(loop);
}
