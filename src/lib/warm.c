/*
 * The executor's zygotes (see src/jail/zygote.c for the other side).  Each
 * is the executor's child, talked to over a SOCK_SEQPACKET socketpair, one
 * request at a time under its lock.  A zygote serves only plans whose
 * interpreter command line and environment are the ones it started with:
 * the interpreter read them once, at its start.
 */
#include "lib/warm.h"
#include "jail/fdpass.h"
#include "jail/zygote.h"
#include "lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A zygote that does not answer a request within this long is replaced. */
#define WARM_REPLY_MS 5000

struct warm_zygote {
	pthread_mutex_t lock;
	pid_t pid; /* 0: none; -1: sock is a connection to the daemon */
	int sock;
	bool ready;
	bool unavailable;	/* this build has no zygote for the language */
	struct strv argv, envp; /* the command line (without the script) and environment */
};

int warm_init(struct warm *w, bool enabled, unsigned pool, const char *zygote_dir,
	      const char *guest_dir, const char *daemon_socket)
{
	memset(w, 0, sizeof(*w));
	w->enabled = enabled;
	w->pool = pool;
	if (daemon_socket && !(w->daemon_socket = strdup(daemon_socket)))
		return BRIG_E_NOMEM;
	w->zygote_dir = strdup(zygote_dir);
	w->guest_dir = strdup(guest_dir);
	for (int i = 0; i < 2 && w->zygote_dir && w->guest_dir; i++) {
		if (!(w->z[i] = calloc(1, sizeof(*w->z[i]))))
			return BRIG_E_NOMEM;
		pthread_mutex_init(&w->z[i]->lock, NULL);
		w->z[i]->sock = -1;
	}
	return w->z[1] ? BRIG_OK : BRIG_E_NOMEM;
}

static void stop_zygote(struct warm_zygote *z)
{
	if (z->pid > 0) {
		kill(z->pid, SIGKILL);
		while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (z->pid != 0)
		close(z->sock);
	z->pid = 0;
	z->sock = -1;
	z->ready = false;
	strv_free(&z->argv);
	strv_free(&z->envp);
}

void warm_destroy(struct warm *w)
{
	for (int i = 0; i < 2; i++) {
		if (!w->z[i])
			continue;
		stop_zygote(w->z[i]);
		pthread_mutex_destroy(&w->z[i]->lock);
		free(w->z[i]);
	}
	free(w->zygote_dir);
	free(w->guest_dir);
	free(w->daemon_socket);
	memset(w, 0, sizeof(*w));
}

static size_t count(const char *const *v)
{
	size_t n = 0;

	while (v[n])
		n++;
	return n;
}

static bool same(const struct strv *a, const char *const *b, size_t nb)
{
	if (a->n != nb)
		return false;
	for (size_t i = 0; i < nb; i++)
		if (strcmp(a->v[i], b[i]) != 0)
			return false;
	return true;
}

/* The interpreter's environment: the plan's, but what names the egress proxy. */
static bool same_env(const struct strv *a, const char *const *envp)
{
	size_t n = 0;

	for (size_t i = 0; envp[i]; i++) {
		if (jail_env_guest_only(envp[i]))
			continue;
		if (n >= a->n || strcmp(a->v[n], envp[i]) != 0)
			return false;
		n++;
	}
	return n == a->n;
}

/* The zygote's command line: the interpreter's, then its bootstrap. */
static int zygote_argv(const struct warm *w, int lang, const struct strv *prefix, struct strv *out)
{
	char script[4096], lib[4096], pool[16];

	if (lang == BRIG_LANG_PYTHON) {
		snprintf(script, sizeof(script), "%s/python/zygote.py", w->guest_dir);
		snprintf(lib, sizeof(lib), "%s/libbrig_zygote.so", w->zygote_dir);
	} else {
		snprintf(script, sizeof(script), "%s/js/zygote.js", w->guest_dir);
		snprintf(lib, sizeof(lib), "%s/brig_zygote_js.node", w->zygote_dir);
	}
	snprintf(pool, sizeof(pool), "%u", w->pool);
	for (size_t i = 0; i < prefix->n; i++)
		if (strv_push(out, prefix->v[i]) < 0)
			return -1;
	return strv_push(out, script) < 0 || strv_push(out, lib) < 0 || strv_push(out, pool) < 0
		   ? -1
		   : 0;
}

/*
 * posix_spawn: safe from a multi-threaded embedder.  The zygote gets its
 * socket as fd 3, /dev/null for stdio, nothing else, a session of its own
 * and default signals.
 */
static int launch(struct warm_zygote *z, char *const *argv, char *const *envp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSID);
	rc = posix_spawn(&z->pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		z->pid = 0;
		return -1;
	}
	z->sock = sv[0];
	return 0;
}

static int start_zygote(struct warm *w, struct warm_zygote *z, int lang, const char *const *argv,
			size_t nargv, const char *const *envp)
{
	struct strv cmd = {0};
	int rc = -1;

	for (size_t i = 0; i < nargv; i++)
		if (strv_push(&z->argv, argv[i]) < 0)
			goto out;
	for (size_t i = 0; envp[i]; i++)
		if (!jail_env_guest_only(envp[i]) && strv_push(&z->envp, envp[i]) < 0)
			goto out;
	if (zygote_argv(w, lang, &z->argv, &cmd) < 0)
		goto out;
	/* A build without this language's zygote: its runs start cold. */
	if (access(cmd.v[cmd.n - 3], R_OK) < 0 || access(cmd.v[cmd.n - 2], R_OK) < 0) {
		z->unavailable = true;
		goto out;
	}
	rc = launch(z, cmd.v, z->envp.v);
out:
	strv_free(&cmd);
	if (rc < 0)
		stop_zygote(z);
	return rc;
}

/* The daemon's zygotes in place of our own: it greets as a zygote does. */
static int connect_daemon(const struct warm *w, struct warm_zygote *z)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(w->daemon_socket) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, w->daemon_socket, strlen(w->daemon_socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	z->sock = fd;
	z->pid = -1;
	return 0;
}

/* HELLO arrives once the interpreter is warm; until then runs start cold. */
static bool check_ready(struct warm_zygote *z, int timeout_ms)
{
	struct zygote_hello h;
	struct pollfd p = {z->sock, POLLIN, 0};
	ssize_t n;

	if (z->ready)
		return true;
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	n = recv(z->sock, &h, sizeof(h), MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(h) && h.magic == ZYGOTE_HELLO &&
	    h.version == plan_wire_version()) {
		z->ready = true;
		return true;
	}
	if (n != -1 || errno != EAGAIN)
		stop_zygote(z); /* died warming up, or of another build */
	return false;
}

/* The reply and init's pidfd; -1 when the zygote failed us. */
static int recv_reply(int sock, struct zygote_reply *r, int *pidfd)
{
	struct pollfd p = {sock, POLLIN, 0};
	int fds[1], nfds, cut;
	ssize_t n;

	*pidfd = -1;
	if (poll(&p, 1, WARM_REPLY_MS) <= 0)
		return -1;
	n = fdpass_recv(sock, r, sizeof(*r), fds, 1, &nfds, &cut);
	if (nfds == 1)
		*pidfd = fds[0];
	if (n != (ssize_t)sizeof(*r) || cut) {
		if (*pidfd >= 0)
			close(*pidfd);
		*pidfd = -1;
		return -1;
	}
	return 0;
}

/* Send a request, wait for its reply: -1 when the zygote failed us. */
static int exchange(struct warm_zygote *z, const uint8_t *buf, size_t len, const int *fds, int nfds,
		    struct zygote_reply *r, int *pidfd)
{
	*pidfd = -1;
	if (fdpass_send(z->sock, buf, len, fds, nfds) < 0 || recv_reply(z->sock, r, pidfd) < 0)
		return -1;
	if (r->err == 0 && *pidfd < 0)
		return -1;
	if (r->err && *pidfd >= 0) {
		close(*pidfd);
		*pidfd = -1;
	}
	return 0;
}

/* One request on a warm zygote: 0 (out filled), 1 (start cold), -1 (zygote failed). */
static int request(struct warm_zygote *z, int lang, const struct jail_plan *plan,
		   struct jail_proc *out)
{
	uint8_t *buf = malloc(PLAN_WIRE_MAX);
	int ctl[2], fds[PLAN_NFDS], nfds, pidfd, rc = 1;
	struct zygote_reply r;
	ssize_t len;

	if (!buf || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		free(buf);
		return 1;
	}
	len = plan_wire_encode(plan, lang, ctl[1], buf, PLAN_WIRE_MAX, fds, &nfds);
	if (len >= 0)
		rc = exchange(z, buf, (size_t)len, fds, nfds, &r, &pidfd);
	if (len >= 0 && rc == 0 && r.err)
		rc = 1;
	if (len >= 0 && rc == 0) {
		out->pid = r.pid;
		out->pidfd = pidfd;
		out->ctl_fd = ctl[0];
		out->proc_fd = out->diag_fd = out->listen_fd = out->scratch_fd = -1;
		out->nrwc_fds = 0;
		out->warm = true;
		ctl[0] = -1;
	}
	if (ctl[0] >= 0)
		close(ctl[0]);
	close(ctl[1]);
	free(buf);
	return rc;
}

/* A zygote that died is reaped at the next run of either language. */
static void reap_dead(struct warm *w)
{
	for (int i = 0; i < 2; i++) {
		struct warm_zygote *z = w->z[i];

		if (pthread_mutex_trylock(&z->lock) != 0)
			continue;
		if (z->pid > 0 && waitpid(z->pid, NULL, WNOHANG) == z->pid) {
			z->pid = -1; /* reaped: stop_zygote must not signal a reused pid */
			stop_zygote(z);
		}
		pthread_mutex_unlock(&z->lock);
	}
}

/* Through the daemon: it checks the command line and starts its zygotes. */
static int remote_spawn(struct warm *w, struct warm_zygote *z, int lang,
			const struct jail_plan *plan, struct jail_proc *out)
{
	int rc = 1;

	if (z->pid == 0 && connect_daemon(w, z) < 0)
		return 1;
	if (!check_ready(z, WARM_REPLY_MS))
		stop_zygote(z);
	else if ((rc = request(z, lang, plan, out)) < 0)
		stop_zygote(z); /* the daemon went away: cold, and reconnect next time */
	return rc;
}

int warm_spawn(struct warm *w, int lang, const struct jail_plan *plan, struct jail_proc *out)
{
	struct warm_zygote *z;
	size_t nargv = count(plan->argv);
	int rc = 1;

	if (!w->enabled || plan->session || nargv < 2 ||
	    (lang != BRIG_LANG_PYTHON && lang != BRIG_LANG_JS))
		return 1;
	z = w->z[lang == BRIG_LANG_JS];
	if (w->daemon_socket) {
		pthread_mutex_lock(&z->lock);
		rc = remote_spawn(w, z, lang, plan, out);
		pthread_mutex_unlock(&z->lock);
		return rc == 0 ? 0 : 1;
	}
	reap_dead(w);
	pthread_mutex_lock(&z->lock);
	if (z->unavailable)
		rc = 1;
	else if (z->pid == 0)
		start_zygote(w, z, lang, plan->argv, nargv - 1, plan->envp);
	else if (same(&z->argv, plan->argv, nargv - 1) && same_env(&z->envp, plan->envp) &&
		 check_ready(z, 0)) {
		rc = request(z, lang, plan, out);
		if (rc < 0)
			stop_zygote(z); /* replaced at the next run; this one starts cold */
	}
	pthread_mutex_unlock(&z->lock);
	return rc == 0 ? 0 : 1;
}

int warm_prewarm(struct warm *w, int lang, const char *const *argv, const char *const *envp,
		 int timeout_ms)
{
	struct warm_zygote *z;
	bool ok = false;

	if (!w->enabled || (lang != BRIG_LANG_PYTHON && lang != BRIG_LANG_JS))
		return -1;
	z = w->z[lang == BRIG_LANG_JS];
	pthread_mutex_lock(&z->lock);
	if (w->daemon_socket) {
		ok = (z->pid != 0 || connect_daemon(w, z) == 0) && check_ready(z, timeout_ms);
	} else {
		if (z->pid && !same(&z->argv, argv, count(argv)))
			stop_zygote(z);
		if (!z->unavailable &&
		    (z->pid || start_zygote(w, z, lang, argv, count(argv), envp) == 0))
			ok = check_ready(z, timeout_ms);
	}
	pthread_mutex_unlock(&z->lock);
	return ok ? 0 : -1;
}

/* ------------------------------------------------- serving other processes */

int warm_greet(int conn)
{
	struct zygote_hello h = {ZYGOTE_HELLO, plan_wire_version(), (int32_t)getpid()};

	return send(conn, &h, sizeof(h), MSG_NOSIGNAL) == (ssize_t)sizeof(h) ? 0 : -1;
}

static void send_reply_to(int conn, const struct zygote_reply *r, int pidfd)
{
	(void)fdpass_send(conn, r, sizeof(*r), &pidfd, pidfd >= 0 ? 1 : 0);
}

/* A request as a zygote receives it; 1 when the client hung up. */
static int recv_client(int conn, uint8_t *buf, size_t *len, int *fds, int *nfds)
{
	int cut;
	ssize_t n = fdpass_recv(conn, buf, PLAN_WIRE_MAX, fds, PLAN_NFDS, nfds, &cut);

	*len = n > 0 ? (size_t)n : 0;
	if (n <= 0)
		return 1;
	return cut ? -1 : 0;
}

/* Hand a decoded request to lang's zygote, starting it when there is none. */
static void relay_one(struct warm *w, int lang, const struct jail_plan *plan, const uint8_t *buf,
		      size_t len, const int *fds, int nfds, struct zygote_reply *r, int *pidfd)
{
	struct warm_zygote *z = w->z[lang == BRIG_LANG_JS];
	size_t nargv = count(plan->argv);

	r->err = EAGAIN;
	snprintf(r->msg, sizeof(r->msg), "the zygote is not warm");
	pthread_mutex_lock(&z->lock);
	if (!z->unavailable && z->pid == 0 && nargv >= 2)
		start_zygote(w, z, lang, plan->argv, nargv - 1, plan->envp);
	else if (z->pid > 0 && same(&z->argv, plan->argv, nargv - 1) &&
		 same_env(&z->envp, plan->envp) && check_ready(z, 0) &&
		 exchange(z, buf, len, fds, nfds, r, pidfd) < 0) {
		stop_zygote(z);
		r->err = EAGAIN;
	}
	pthread_mutex_unlock(&z->lock);
}

int warm_relay(struct warm *w, int conn)
{
	uint8_t *buf = malloc(PLAN_WIRE_MAX);
	int fds[PLAN_NFDS], nfds = 0, pidfd = -1, lang, ctl, rc;
	struct zygote_reply r = {.err = EINVAL};
	struct jail_plan plan;
	size_t len = 0;

	if (!buf)
		return -1;
	rc = recv_client(conn, buf, &len, fds, &nfds);
	if (rc == 0 && plan_wire_decode(buf, len, fds, nfds, &plan, &lang, &ctl) == 0 &&
	    (lang == BRIG_LANG_PYTHON || lang == BRIG_LANG_JS))
		relay_one(w, lang, &plan, buf, len, fds, nfds, &r, &pidfd);
	else
		snprintf(r.msg, sizeof(r.msg), "malformed spawn request");
	if (rc <= 0)
		send_reply_to(conn, &r, pidfd);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (pidfd >= 0)
		close(pidfd);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

void warm_reap(struct warm *w)
{
	siginfo_t si;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			break;
		if (w->z[0]->pid == si.si_pid || w->z[1]->pid == si.si_pid) {
			reap_dead(w);
			if (w->z[0]->pid == si.si_pid || w->z[1]->pid == si.si_pid)
				break; /* its lock is held: next time */
			continue;
		}
		waitpid(si.si_pid, NULL, WNOHANG);
	}
}
