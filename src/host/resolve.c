#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

/* getent prints each address three times (per socket type): plenty. */
#define MAX_ANSWER_BYTES (64u << 10)

extern char **environ;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* helper ahosts -- NAME, stdout to out, nothing else open. */
static pid_t spawn_helper(const char *helper, const char *name, int out)
{
	char *argv[] = {(char *)helper, "ahosts", "--", (char *)name, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	pid_t pid = -1;
	int rc;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* The embedder's signal mask and dispositions are not the helper's. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	/* A group of its own: a kill ends whatever it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, helper, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* Read the answer until EOF, the deadline or cancellation. */
static int collect(int fd, uint64_t deadline_ms, struct hc_cancel *cancel, struct buf *answer)
{
	for (;;) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {hc_cancel_fd(cancel), POLLIN, 0}};
		uint64_t now = now_ms();
		char chunk[4096];
		ssize_t n;

		if (hc_cancelled(cancel))
			return RESOLVE_CANCELLED;
		if (now >= deadline_ms)
			return RESOLVE_TIMEOUT;
		if (poll(p, 2, (int)(deadline_ms - now < 1000 ? deadline_ms - now : 1000)) < 0 &&
		    errno != EINTR)
			return RESOLVE_FAILED;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? RESOLVE_OK : RESOLVE_FAILED;
		if (answer->len + (size_t)n > MAX_ANSWER_BYTES ||
		    buf_append(answer, chunk, (size_t)n))
			return RESOLVE_FAILED;
	}
}

/* Lines of "ADDRESS  SOCKTYPE [CANONNAME]". */
static int parse_answer(char *text, resolve_fn each, void *userdata)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strpbrk(line, " \t");
		struct net_ip ip = {0};
		int rc;

		if (sp)
			*sp = '\0';
		if (inet_pton(AF_INET, line, ip.addr) == 1)
			ip.family = AF_INET;
		else if (inet_pton(AF_INET6, line, ip.addr) == 1)
			ip.family = AF_INET6;
		else
			return RESOLVE_FAILED;
		if ((rc = each(userdata, &ip)) != 0)
			return rc;
	}
	return RESOLVE_OK;
}

int resolve_name(const char *helper, const char *name, uint64_t deadline_ms,
		 struct hc_cancel *cancel, resolve_fn each, void *userdata, char *err,
		 size_t errlen)
{
	struct buf answer = BUF_INIT;
	int fds[2], status = 0, rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return RESOLVE_FAILED;
	}
	pid = spawn_helper(helper, name, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		snprintf(err, errlen, "cannot run %s: %s", helper, strerror(errno));
		close(fds[0]);
		return RESOLVE_FAILED;
	}
	rc = collect(fds[0], deadline_ms, cancel, &answer);
	close(fds[0]);
	if (rc != RESOLVE_OK)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == RESOLVE_TIMEOUT)
		snprintf(err, errlen, "name lookup timed out");
	else if (rc == RESOLVE_CANCELLED)
		snprintf(err, errlen, "name lookup cancelled");
	else if (rc != RESOLVE_OK || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		 !answer.len) {
		/* getent says 2 for "not found" and for a failed lookup alike. */
		snprintf(err, errlen, "no address found");
		rc = RESOLVE_FAILED;
	} else if ((rc = parse_answer(answer.data, each, userdata)) == RESOLVE_FAILED) {
		snprintf(err, errlen, "unexpected answer from %s", helper);
	}
	buf_free(&answer);
	return rc;
}

static int collect_public(void *userdata, const struct net_ip *ip)
{
	struct resolve_public *l = userdata;

	if (net_ip_blocked(ip)) {
		l->blocked = *ip;
		return RESOLVE_BLOCKED;
	}
	for (size_t i = 0; i < l->n; i++)
		if (net_ip_equal(&l->ips[i], ip))
			return 0;
	if (l->n < RESOLVE_MAX_ADDRS)
		l->ips[l->n++] = *ip;
	return 0;
}

int resolve_public(const char *helper, const char *name, uint64_t deadline_ms,
		   struct hc_cancel *cancel, struct resolve_public *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	return resolve_name(helper, name, deadline_ms, cancel, collect_public, out, err, errlen);
}
