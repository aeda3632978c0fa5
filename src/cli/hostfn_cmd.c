#include "cli/hostfn_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brig.h"
#include "util/buf.h"

#define HOSTFN_MAX_OUTPUT (16u << 20)
#define HOSTFN_TIMEOUT_MS 30000

extern char **environ;

struct child_io {
	int in, out, err;
	const char *input;
	size_t input_len, input_off;
	struct buf out_buf, err_buf;
	bool overflow; /* the command printed more than HOSTFN_MAX_OUTPUT */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read what fd holds into b; past the cap, stop reading and say so. */
static void drain(int *fd, struct buf *b, bool *overflow)
{
	char chunk[8192];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0 && b->len + (size_t)n > HOSTFN_MAX_OUTPUT)
		*overflow = true;
	if (n > 0 && !*overflow)
		buf_append(b, chunk, (size_t)n);
	else if (n >= 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

static void feed(struct child_io *io)
{
	ssize_t n = write(io->in, io->input + io->input_off, io->input_len - io->input_off);

	if (n > 0)
		io->input_off += (size_t)n;
	if ((n < 0 && errno != EINTR && errno != EAGAIN) || io->input_off == io->input_len) {
		close(io->in);
		io->in = -1;
	}
}

enum { PUMP_DONE, PUMP_TIMEOUT, PUMP_CANCELLED, PUMP_FAILED, PUMP_OVERFLOW };

/*
 * Shuttle stdin/stdout/stderr until the child closes both outputs, time
 * runs out, or the call is cancelled (the run or session call ended).
 */
static int pump(struct child_io *io, const brig_hostcall *call)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (io->out >= 0 || io->err >= 0) {
		struct pollfd p[4] = {{io->in, POLLOUT, 0},
				      {io->out, POLLIN, 0},
				      {io->err, POLLIN, 0},
				      {brig_hostcall_cancel_fd(call), POLLIN, 0}};
		long left = HOSTFN_TIMEOUT_MS - elapsed_ms(&t0);

		if (brig_hostcall_cancelled(call))
			return PUMP_CANCELLED;
		if (left <= 0)
			return PUMP_TIMEOUT;
		if (poll(p, 4, (int)left) < 0 && errno != EINTR)
			return PUMP_FAILED;
		if (io->in >= 0 && p[0].revents)
			feed(io);
		if (io->out >= 0 && p[1].revents)
			drain(&io->out, &io->out_buf, &io->overflow);
		if (io->err >= 0 && p[2].revents)
			drain(&io->err, &io->err_buf, &io->overflow);
		if (io->overflow)
			return PUMP_OVERFLOW;
	}
	return PUMP_DONE;
}

/* The command leads a process group of its own, so that killing it ends all it started. */
static pid_t spawn(const char *command, int fds[3][2])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
	pid_t pid = -1;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, fds[0][0], 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1][1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[2][1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	if (posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ) != 0)
		pid = -1;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static char *message(struct buf *err, const char *fallback)
{
	while (err->len && (err->data[err->len - 1] == '\n' || err->data[err->len - 1] == '\r'))
		err->data[--err->len] = '\0';
	return strdup(err->len ? err->data : fallback);
}

int hostfn_command(void *userdata, const char *name, const char *args_json, char **result_json,
		   char **error_message)
{
	int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, status = 0, outcome;
	struct child_io io = {.input = args_json, .input_len = strlen(args_json)};
	pid_t pid = -1;

	for (int i = 0; i < 3; i++) {
		if (pipe2(fds[i], O_CLOEXEC) < 0)
			goto fail;
	}
	if ((pid = spawn(userdata, fds)) < 0)
		goto fail;
	close(fds[0][0]), close(fds[1][1]), close(fds[2][1]);
	io.in = fds[0][1], io.out = fds[1][0], io.err = fds[2][0];
	fcntl(io.in, F_SETFL, O_NONBLOCK);
	outcome = pump(&io, brig_hostcall_current());
	/* Whatever the command left running goes with it. */
	kill(-pid, SIGKILL);
	close_fd(&io.in);
	close_fd(&io.out);
	close_fd(&io.err);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (outcome == PUMP_TIMEOUT)
		*error_message = strdup("host function timed out");
	else if (outcome == PUMP_CANCELLED)
		*error_message = strdup("host function cancelled");
	else if (outcome == PUMP_FAILED)
		*error_message = strdup("host function failed");
	else if (outcome == PUMP_OVERFLOW)
		*error_message = strdup("host function printed more than 16 MiB");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		*error_message = message(&io.err_buf, "host function failed");
	else if (io.out_buf.len) /* no output means null */
		*result_json = buf_steal(&io.out_buf);
	buf_free(&io.out_buf);
	buf_free(&io.err_buf);
	return *error_message ? -1 : 0;
fail:
	*error_message = strdup(strerror(errno));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (fds[i][j] >= 0)
				close(fds[i][j]);
	return -1;
}
