/*
 * `brig daemon start|stop|status`: a per-user server that keeps warm
 * zygotes and lends them to this user's runs.
 *
 * It holds one executor with warm start on.  A run's CLI process connects
 * to daemon.sock, is greeted, and sends each jail plan with its fds; the
 * daemon's zygote clones the jail's init (a child of the daemon) and its
 * pidfd goes back.  The CLI process stays the host of its run (host calls,
 * output, limits).  One thread serves each client connection; the main
 * thread accepts, answers control.sock (status, stop), reaps the inits on
 * SIGCHLD, and ends the daemon after an idle period or on stop/SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brig.h"
#include "cli/cli.h"
#include "cli/daemon_dir.h"
#include "cli/daemon_peer.h"

#define IDLE_MS_DEFAULT (15ull * 60 * 1000)
#define MAX_CLIENTS 512
#define PREWARM_MS 5000
#define CONTROL_MS 2000	   /* a control client must speak and be answered within this */
#define STOP_WAIT_MS 10000 /* stop: how long the daemon may take to go */
#define CLIENT_STACK (256 * 1024)
#define EXIT_NOT_RUNNING 3

struct daemon {
	brig_executor *ex;
	struct daemon_paths paths;
	int listen_fd, control_fd, sig_fd, wake[2];
	uint64_t idle_ms;
	time_t started;
	uint64_t started_ms;
	bool warm[2]; /* prewarmed: python, js */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a client thread ended */
	int clients[MAX_CLIENTS];
	size_t nclients;
	uint64_t requests;
	uint64_t last_ms; /* the last request or disconnection */
	uint64_t refused; /* connections peer_allowed refused (main thread only) */
	char confinement[1024];
};

struct client {
	struct daemon *d;
	int fd;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Only this user's processes, confined as we are, are served; others are
 * closed unanswered. */
static bool peer_ok(struct daemon *d, int fd)
{
	if (peer_allowed(fd, d->confinement))
		return true;
	d->refused++;
	return false;
}

/* ------------------------------------------------------------ the lock */

/*
 * daemon.pid is locked (an open-file-description lock) for the daemon's
 * whole life: a second daemon cannot take it, and `status` can ask who
 * holds it without taking it.  0: unlocked; >0: the holder's pid (from the
 * file); -1: locked, pid unknown.
 */
static long lock_holder(const char *pidfile)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct daemon_info info;
	int fd = open(pidfile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return 0;
	rc = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	if (rc < 0 || fl.l_type == F_UNLCK)
		return 0;
	return daemon_info_read(pidfile, &info) == 0 ? info.pid : -1;
}

/* The lock's fd, or -1 (errno EAGAIN: another daemon holds it). */
static int take_lock(const char *pidfile)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct stat st;
	int fd = open(pidfile, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno == EACCES ? EAGAIN : errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int write_info(int fd)
{
	struct daemon_info info;
	char text[PATH_MAX + 1400];
	int n;

	if (daemon_info_self(&info) < 0 || (n = daemon_info_format(&info, text, sizeof(text))) < 0)
		return -1;
	return ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) == n ? 0 : -1;
}

/* ------------------------------------------------------------- sockets */

static int listen_on(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	mode_t old;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	/* A leftover of a daemon that was killed: we hold the lock, it is ours. */
	unlink(path);
	/* Defence in depth: the directory is 0700 already. */
	old = umask(077);
	rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (rc < 0 || listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static ssize_t recv_within(int fd, char *buf, size_t len, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* ------------------------------------------------------------- clients */

static void wake_main(struct daemon *d)
{
	(void)!write(d->wake[1], "c", 1);
}

static void *serve_client(void *arg)
{
	struct client *c = arg;
	struct daemon *d = c->d;

	if (brig_executor_greet(d->ex, c->fd) == BRIG_OK) {
		while (brig_executor_relay(d->ex, c->fd) == BRIG_OK) {
			pthread_mutex_lock(&d->lock);
			d->requests++;
			d->last_ms = now_ms();
			pthread_mutex_unlock(&d->lock);
		}
	}
	/* Closed under the lock: stop shuts down only fds still listed. */
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nclients; i++)
		if (d->clients[i] == c->fd)
			d->clients[i] = d->clients[--d->nclients];
	close(c->fd);
	d->last_ms = now_ms();
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	wake_main(d);
	free(c);
	return NULL;
}

static void add_client(struct daemon *d, int fd)
{
	struct client *c = malloc(sizeof(*c));
	pthread_attr_t at;
	pthread_t t;
	bool ok = false;

	pthread_mutex_lock(&d->lock);
	if (c && d->nclients < MAX_CLIENTS) {
		*c = (struct client){d, fd};
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, CLIENT_STACK);
		ok = pthread_create(&t, &at, serve_client, c) == 0;
		pthread_attr_destroy(&at);
		if (ok)
			d->clients[d->nclients++] = fd;
	}
	pthread_mutex_unlock(&d->lock);
	if (!ok) {
		/* The client starts its runs cold. */
		close(fd);
		free(c);
	}
}

static void accept_client(struct daemon *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (!peer_ok(d, fd)) {
		close(fd);
		return;
	}
	add_client(d, fd);
}

/* ------------------------------------------------------------- control */

static void status_text(struct daemon *d, char *buf, size_t len)
{
	static const char *const warm[] = {"none", "python", "js", "python js"};
	unsigned long long requests, clients;

	pthread_mutex_lock(&d->lock);
	requests = d->requests;
	clients = d->nclients;
	pthread_mutex_unlock(&d->lock);
	snprintf(buf, len,
		 "pid       %ld\n"
		 "socket    %s\n"
		 "uptime    %llus\n"
		 "requests  %llu\n"
		 "clients   %llu\n"
		 "refused   %llu\n"
		 "warm      %s\n"
		 "idle exit after %llus without clients or requests\n",
		 (long)getpid(), d->paths.sock,
		 (unsigned long long)((now_ms() - d->started_ms) / 1000), requests, clients,
		 (unsigned long long)d->refused, warm[d->warm[0] + 2 * d->warm[1]],
		 (unsigned long long)(d->idle_ms / 1000));
}

/* One command on control.sock; true when it was "stop". */
static bool control(struct daemon *d)
{
	char cmd[16], reply[1024];
	int fd = accept4(d->control_fd, NULL, NULL, SOCK_CLOEXEC);
	bool stop = false;

	if (fd < 0)
		return false;
	if (peer_ok(d, fd) && recv_within(fd, cmd, sizeof(cmd), CONTROL_MS) > 0) {
		if (strcmp(cmd, "status") == 0) {
			status_text(d, reply, sizeof(reply));
		} else if ((stop = strcmp(cmd, "stop") == 0)) {
			snprintf(reply, sizeof(reply), "stopping\n");
		} else {
			snprintf(reply, sizeof(reply), "unknown command\n");
		}
		(void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL);
	}
	close(fd);
	return stop;
}

/* ---------------------------------------------------------- the server */

/* SIGCHLD reaps; SIGTERM, SIGINT and SIGHUP end the daemon. */
static bool on_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	bool quit = false;

	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo != SIGCHLD)
			quit = true;
	brig_executor_reap(d->ex);
	return quit;
}

/* How long poll may sleep; 0 when the daemon has been idle long enough. */
static int next_timeout(struct daemon *d)
{
	uint64_t idle;
	size_t clients;

	pthread_mutex_lock(&d->lock);
	clients = d->nclients;
	idle = now_ms() - d->last_ms;
	pthread_mutex_unlock(&d->lock);
	/* With clients: look for exited inits now and then, whatever the signals said. */
	if (clients)
		return 1000;
	if (idle >= d->idle_ms)
		return 0;
	return d->idle_ms - idle > 60000 ? 60000 : (int)(d->idle_ms - idle);
}

static void serve(struct daemon *d)
{
	char drain[64];

	for (;;) {
		struct pollfd p[4] = {{d->sig_fd, POLLIN, 0},
				      {d->listen_fd, POLLIN, 0},
				      {d->control_fd, POLLIN, 0},
				      {d->wake[0], POLLIN, 0}};
		int timeout = next_timeout(d);

		if (timeout == 0)
			return;
		if (poll(p, 4, timeout) < 0 && errno != EINTR)
			return;
		if ((p[0].revents & POLLIN) && on_signals(d))
			return;
		if (p[1].revents & POLLIN)
			accept_client(d);
		if ((p[2].revents & POLLIN) && control(d))
			return;
		if (p[3].revents & POLLIN)
			(void)!read(d->wake[0], drain, sizeof(drain));
		brig_executor_reap(d->ex);
	}
}

/*
 * New runs start cold from now on (the sockets are gone); connected
 * clients are hung up and their threads waited for, then the executor
 * goes, and its zygotes with it.  Jails already running carry on.
 */
static void shut_down(struct daemon *d, int lock_fd)
{
	struct timespec until;
	bool done;

	unlink(d->paths.sock);
	unlink(d->paths.control);
	close(d->listen_fd);
	close(d->control_fd);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_MS / 1000;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nclients; i++)
		shutdown(d->clients[i], SHUT_RDWR);
	while (d->nclients && pthread_cond_timedwait(&d->changed, &d->lock, &until) == 0)
		;
	done = d->nclients == 0;
	pthread_mutex_unlock(&d->lock);
	if (done) {
		brig_executor_reap(d->ex);
		brig_executor_free(d->ex);
	}
	/* Without a daemon the file names none; the lock goes with the process. */
	(void)!ftruncate(lock_fd, 0);
	_exit(0);
}

static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* One file descriptor per client: raise the soft limit as far as allowed. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int new_executor(struct daemon *d, char *err, size_t errlen)
{
	brig_config cfg;
	char *why = NULL;

	brig_config_init(&cfg);
	cfg.guest_dir = daemon_guest_dir();
	cfg.warm_start = 1;
	if (brig_executor_new(&cfg, &d->ex, &why)) {
		snprintf(err, errlen, "sandbox unavailable: %s", why ? why : "unknown reason");
		free(why);
		return -1;
	}
	d->warm[0] = brig_executor_prewarm(d->ex, BRIG_LANG_PYTHON, PREWARM_MS) == BRIG_OK;
	d->warm[1] = brig_executor_prewarm(d->ex, BRIG_LANG_JS, PREWARM_MS) == BRIG_OK;
	return 0;
}

/* Everything before the daemon can serve; -1 with a message in err. */
static int set_up(struct daemon *d, int *lock_fd, char *err, size_t errlen)
{
	if ((*lock_fd = take_lock(d->paths.pidfile)) < 0) {
		if (errno == EAGAIN)
			snprintf(err, errlen, "already running");
		else
			snprintf(err, errlen, "cannot lock %s: %s", d->paths.pidfile,
				 strerror(errno));
		return -1;
	}
	if (pthread_mutex_init(&d->lock, NULL) || pthread_cond_init(&d->changed, NULL) ||
	    pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) < 0 || (d->sig_fd = block_signals()) < 0) {
		snprintf(err, errlen, "cannot set up: %s", strerror(errno));
		return -1;
	}
	raise_nofile();
	if (peer_confinement(0, d->confinement, sizeof(d->confinement)) < 0) {
		snprintf(err, errlen, "cannot read /proc/self/status");
		return -1;
	}
	if (new_executor(d, err, errlen) < 0)
		return -1;
	if ((d->listen_fd = listen_on(d->paths.sock)) < 0 ||
	    (d->control_fd = listen_on(d->paths.control)) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->paths.dir, strerror(errno));
		return -1;
	}
	if (write_info(*lock_fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", d->paths.pidfile, strerror(errno));
		return -1;
	}
	d->started = time(NULL);
	d->started_ms = d->last_ms = now_ms();
	return 0;
}

static void to_dev_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int i = 0; i < 3 && fd >= 0; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
}

/* The daemon itself (the start command's grandchild); never returns. */
static void daemon_main(const struct daemon_paths *paths, uint64_t idle_ms, int report)
{
	struct daemon d = {.paths = *paths, .idle_ms = idle_ms, .listen_fd = -1, .control_fd = -1};
	char err[512];
	int lock_fd = -1;

	if (chdir("/") < 0 || set_up(&d, &lock_fd, err, sizeof(err)) < 0) {
		(void)!write(report, err, strlen(err));
		_exit(1);
	}
	to_dev_null();
	(void)!write(report, "ok", 2);
	close(report);
	serve(&d);
	shut_down(&d, lock_fd);
}

/* ------------------------------------------------------------ commands */

/* 0; 1 when the directory does not exist (and !create); -1 after saying why it is unusable. */
static int open_paths(struct daemon_paths *p, bool create)
{
	char err[PATH_MAX + 128];
	struct stat st;

	if (daemon_paths_get(p, err, sizeof(err)) < 0)
		goto bad;
	if (!create && lstat(p->dir, &st) < 0 && errno == ENOENT)
		return 1;
	if (daemon_dir_check(p->dir, create, err, sizeof(err)) < 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "brig daemon: %s\n", err);
	return -1;
}

/* Double fork: the daemon is nobody's child and has no terminal. */
static int start(const struct cli_opts *o)
{
	struct daemon_paths p;
	char msg[600] = "";
	int pipefd[2], st;
	long holder;
	pid_t pid;
	ssize_t n;

	if (open_paths(&p, true) != 0)
		return 1;
	if ((holder = lock_holder(p.pidfile)) != 0) {
		printf("brig daemon: already running (pid %ld)\n", holder);
		return 0;
	}
	fflush(NULL);
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "brig daemon: cannot start: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		/* Nothing the caller left open stays open in the daemon. */
		close_range(3, (unsigned)pipefd[1] - 1, 0);
		close_range((unsigned)pipefd[1] + 1, ~0u, 0);
		daemon_main(&p, o->idle_ms ? o->idle_ms : IDLE_MS_DEFAULT, pipefd[1]);
	}
	close(pipefd[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	while ((n = read(pipefd[0], msg, sizeof(msg) - 1)) < 0 && errno == EINTR)
		;
	close(pipefd[0]);
	msg[n > 0 ? n : 0] = '\0';
	if (strcmp(msg, "ok") == 0) {
		printf("brig daemon: started (pid %ld, socket %s)\n", lock_holder(p.pidfile),
		       p.sock);
		return 0;
	}
	if (strcmp(msg, "already running") == 0) {
		printf("brig daemon: already running (pid %ld)\n", lock_holder(p.pidfile));
		return 0;
	}
	fprintf(stderr, "brig daemon: cannot start: %s\n", *msg ? msg : "it exited");
	return 1;
}

/* The daemon's answer to cmd on control.sock; -1 when it gave none. */
static int ask(const struct daemon_paths *p, const char *cmd, char *reply, size_t len)
{
	int fd = connect_to(p->control);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 ? -1
							 : recv_within(fd, reply, len, CONTROL_MS);
	close(fd);
	return n > 0 ? 0 : -1;
}

static int status(void)
{
	struct daemon_paths p;
	char reply[1024];
	long holder;
	int rc;

	if ((rc = open_paths(&p, false)) != 0) {
		if (rc > 0)
			printf("brig daemon: not running (directory %s)\n", p.dir);
		return rc > 0 ? EXIT_NOT_RUNNING : 1;
	}
	if (ask(&p, "status", reply, sizeof(reply)) == 0) {
		printf("brig daemon: running\n%s", reply);
		return 0;
	}
	if ((holder = lock_holder(p.pidfile)) != 0) {
		printf("brig daemon: running (pid %ld) but not answering on %s\n", holder,
		       p.control);
		return 0;
	}
	printf("brig daemon: not running (directory %s)\n", p.dir);
	return EXIT_NOT_RUNNING;
}

static bool gone_within(const char *pidfile, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		if (lock_holder(pidfile) == 0)
			return true;
		usleep(10000);
	}
	return lock_holder(pidfile) == 0;
}

/* Ask it to stop; signals only for one that does not answer. */
static int stop(void)
{
	struct daemon_paths p;
	char reply[64];
	long holder = 0;
	int rc;

	if ((rc = open_paths(&p, false)) < 0)
		return 1;
	if (rc > 0 || (holder = lock_holder(p.pidfile)) == 0) {
		printf("brig daemon: not running\n");
		return 0;
	}
	if (ask(&p, "stop", reply, sizeof(reply)) == 0 && gone_within(p.pidfile, STOP_WAIT_MS)) {
		printf("brig daemon: stopped (pid %ld)\n", holder);
		return 0;
	}
	if (holder > 0 && kill((pid_t)holder, SIGTERM) == 0 && gone_within(p.pidfile, 2000)) {
		printf("brig daemon: stopped (pid %ld, by SIGTERM)\n", holder);
		return 0;
	}
	if (holder > 0 && kill((pid_t)holder, SIGKILL) == 0 && gone_within(p.pidfile, 2000)) {
		printf("brig daemon: killed (pid %ld)\n", holder);
		return 0;
	}
	fprintf(stderr, "brig daemon: cannot stop the daemon (pid %ld)\n", holder);
	return 1;
}

int cli_daemon(const struct cli_opts *o)
{
	switch (o->daemon) {
	case CLI_DAEMON_START:
		return start(o);
	case CLI_DAEMON_STOP:
		return stop();
	case CLI_DAEMON_STATUS:
		return status();
	}
	return 2;
}
