/*
 * Warm start's machinery: zygotes start, serve, die and are replaced, and
 * leave nothing of one run's plan in the next; the daemon-side relay API.
 * (What guest code may carry from run to run is test_warm.c's subject.)
 */
#include "capi.h"
#include "../unit/check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

static brig_executor *ex;

static brig_result *run(brig_executor *e, const char *code, const char *stdin_data)
{
	brig_run_opts o;
	brig_result *res = NULL;

	brig_run_opts_init(&o);
	o.stdin_data = stdin_data;
	o.stdin_len = stdin_data ? strlen(stdin_data) : 0;
	brig_run(e, BRIG_LANG_PYTHON, code, strlen(code), &o, &res);
	return res;
}

static const char *out_of(const brig_result *r)
{
	const char *s = brig_result_stdout(r, NULL);

	return s ? s : "";
}

/* The zygotes are this process's children whose command line names zygote.py. */
static int zygote_pids(pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) && n < max) {
		char path[300], buf[4096];
		FILE *f;
		size_t len;
		long ppid = 0;

		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%*d (%*[^)]) %*c %ld", &ppid) != 1)
			ppid = 0;
		fclose(f);
		if (ppid != getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			buf[i] = buf[i] ? buf[i] : ' ';
		buf[len] = '\0';
		if (strstr(buf, "zygote.py"))
			pids[n++] = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static void warm_runs_are_warm(void)
{
	brig_result *r;

	CHECK(brig_executor_prewarm(ex, BRIG_LANG_PYTHON, 10000) == BRIG_OK);
	r = run(ex, "print('hi')", NULL);
	CHECK(brig_result_error(r) == BRIG_OK);
	CHECK(brig_result_warm(r) == 1);
	CHECK_STR(out_of(r), "hi\n");
	brig_result_free(r);
	/* Shell has no zygote: it always starts cold. */
	CHECK(brig_executor_prewarm(ex, BRIG_LANG_SH, 100) == BRIG_E_UNSUPPORTED);
}

/* What a program observes of its run is the same warm and cold. */
static void same_as_cold(void)
{
	brig_executor *cold = NULL;
	static const char *const codes[] = {
	    "import sys; print(sys.argv, sys.orig_argv[1:], sys.flags.isolated, sys.flags.no_site)",
	    "import os; print(sorted(os.environ.items()))",
	    "import os; print(os.getcwd(), os.getpid(), os.getppid(), os.getuid(), os.umask(0))",
	    "import sys; print(sys.path)",
	    "import brig, os; print(brig.__file__, os.path.exists(brig.__file__))",
	    "import signal; print([signal.getsignal(s) for s in (2, 13, 15, 25)])",
	    "print(open('/proc/self/cmdline', 'rb').read().rstrip(b'\\0').split(b'\\0')[1:])",
	    "import os; print(os.stat('/proc/self/status').st_uid)",
	    "raise SystemExit(3)",
	    "print(input(), input())",
	    "1/0",
	};

	CHECK((cold = test_executor_warm(-1)) != NULL);
	for (size_t i = 0; cold && i < sizeof(codes) / sizeof(codes[0]); i++) {
		brig_result *w = run(ex, codes[i], "one\ntwo\n"),
			    *c = run(cold, codes[i], "one\ntwo\n");
		const char *we = brig_result_stderr(w, NULL), *ce = brig_result_stderr(c, NULL);

		CHECK(brig_result_warm(w) == 1);
		CHECK(brig_result_warm(c) == 0);
		CHECK(brig_result_exit_code(w) == brig_result_exit_code(c));
		if (strcmp(out_of(w), out_of(c)) != 0 || strcmp(we ? we : "", ce ? ce : "") != 0)
			fprintf(stderr, "differs: %s\n warm: %s%s\n cold: %s%s\n", codes[i],
				out_of(w), we ? we : "", out_of(c), ce ? ce : "");
		CHECK_STR(out_of(w), out_of(c));
		CHECK_STR(we ? we : "", ce ? ce : "");
		brig_result_free(w);
		brig_result_free(c);
	}
	brig_executor_free(cold);
}

/* A killed zygote is replaced: the run meanwhile starts cold and succeeds. */
static void killed_zygote_is_replaced(void)
{
	pid_t pids[4];
	brig_result *r;
	int n = zygote_pids(pids, 4);

	CHECK(n == 1);
	if (n < 1)
		return;
	kill(pids[0], SIGKILL);
	usleep(50000);
	r = run(ex, "print(6*7)", NULL);
	CHECK(brig_result_error(r) == BRIG_OK);
	CHECK_STR(out_of(r), "42\n");
	CHECK(brig_result_warm(r) == 0);
	brig_result_free(r);
	CHECK(brig_executor_prewarm(ex, BRIG_LANG_PYTHON, 10000) == BRIG_OK);
	n = zygote_pids(pids, 4);
	CHECK(n == 1); /* the dead one was reaped, one new one runs */
	r = run(ex, "print(6*7)", NULL);
	CHECK(brig_result_warm(r) == 1);
	CHECK_STR(out_of(r), "42\n");
	brig_result_free(r);
}

/* Runs racing a zygote's death all succeed. */
static void *kill_soon(void *arg)
{
	pid_t pid = *(pid_t *)arg;

	usleep(20000);
	kill(pid, SIGKILL);
	return NULL;
}

static void *run_some(void *arg)
{
	int *failures = arg;

	for (int i = 0; i < 8; i++) {
		brig_result *r = run(ex, "print('ok')", NULL);

		if (brig_result_error(r) != BRIG_OK || strcmp(out_of(r), "ok\n") != 0) {
			fprintf(stderr, "run failed: %s [%s]\n", brig_result_message(r), out_of(r));
			(*failures)++;
		}
		brig_result_free(r);
	}
	return NULL;
}

static void zygote_dies_under_load(void)
{
	pthread_t k, t[3];
	pid_t pids[4];
	int failures[3] = {0};

	CHECK(brig_executor_prewarm(ex, BRIG_LANG_PYTHON, 10000) == BRIG_OK);
	CHECK(zygote_pids(pids, 4) == 1);
	pthread_create(&k, NULL, kill_soon, &pids[0]);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, run_some, &failures[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_join(k, NULL);
	CHECK(failures[0] + failures[1] + failures[2] == 0);
}

/*
 * The plan's bytes are wiped before guest code runs: a run whose mount's
 * host path carries a marker finds no trace of it in its own memory, and
 * neither does the next run.  The guest never builds the marker whole: it
 * looks for its two halves side by side.
 */
static const char scan_code[] =
    "import re, sys\n"
    "a, b = sys.argv_marker\n"
    "hits = 0\n"
    "with open('/proc/self/maps') as m, open('/proc/self/mem', 'rb', 0) as mem:\n"
    "    for line in m:\n"
    "        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))\n"
    "        if 'r' not in line.split()[1] or '[v' in line: continue\n"
    "        try:\n"
    "            mem.seek(lo); data = mem.read(hi - lo)\n"
    "        except OSError: continue\n"
    "        i = data.find(a)\n"
    "        while i >= 0:\n"
    "            hits += data[i + len(a):i + len(a) + len(b)] == b\n"
    "            i = data.find(a, i + 1)\n"
    "print('hits', hits)\n";

static void plan_is_wiped(void)
{
	char dir[64], code[2048];
	brig_caps *caps = NULL;
	brig_run_opts o;
	brig_result *r = NULL;
	const char *half = strrchr(strcpy(dir, "/tmp/brigmarkQZJX.XXXXXX"), 'Q');

	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0755) == 0);
	half = strrchr(dir, 'Q');
	/* The marker is "brigmarkQZJX.<random>": halves "brigmark" and the rest. */
	snprintf(code, sizeof(code), "import sys\nsys.argv_marker = (b'brigmark', b'%s')\n%s", half,
		 scan_code);
	CHECK(brig_caps_new(&caps) == BRIG_OK);
	CHECK(brig_caps_mount(caps, "/data", dir, BRIG_MOUNT_RO) == BRIG_OK);
	brig_run_opts_init(&o);
	o.caps = caps;
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	CHECK(brig_result_warm(r) == 1);
	CHECK_STR(out_of(r), "hits 0\n");
	brig_result_free(r);
	r = run(ex, code, NULL);
	CHECK(brig_result_warm(r) == 1);
	CHECK_STR(out_of(r), "hits 0\n");
	brig_result_free(r);
	brig_caps_free(caps);
	rmdir(dir);
}

/* ------------------------------------------------------- the relay API */

struct server {
	brig_executor *ex;
	int listen_fd;
	int relayed, hangups;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int rc;

	if (conn < 0 || brig_executor_greet(s->ex, conn) != BRIG_OK)
		return NULL;
	while ((rc = brig_executor_relay(s->ex, conn)) == BRIG_OK) {
		s->relayed++;
		brig_executor_reap(s->ex);
	}
	s->hangups += rc == BRIG_E_CONSUMED;
	close(conn);
	return NULL;
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

static void relay_serves_another_executor(void)
{
	char path[] = "/tmp/brig-relay-test.sock";
	struct server s = {.ex = ex, .listen_fd = listen_at(path)};
	brig_executor *client = NULL;
	brig_config cfg;
	brig_result *r;
	pthread_t t;

	CHECK(s.listen_fd >= 0);
	CHECK(brig_executor_prewarm(ex, BRIG_LANG_PYTHON, 10000) == BRIG_OK);
	pthread_create(&t, NULL, serve, &s);
	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.daemon_socket = path;
	CHECK(brig_executor_new(&cfg, &client, NULL) == BRIG_OK);
	for (int i = 0; client && i < 3; i++) {
		r = run(client, "import os; print(os.getpid(), input())", "x");
		CHECK(brig_result_error(r) == BRIG_OK);
		CHECK(brig_result_warm(r) == 1);
		if (strcmp(out_of(r), "2 x\n"))
			fprintf(stderr, "relay out: [%s] err [%s] %s\n", out_of(r),
				brig_result_stderr(r, NULL), brig_result_message(r));
		CHECK_STR(out_of(r), "2 x\n");
		brig_result_free(r);
	}
	brig_executor_free(client); /* hangs up */
	pthread_join(t, NULL);
	CHECK(s.relayed == 3);
	CHECK(s.hangups == 1);
	close(s.listen_fd);
	unlink(path);
}

/* A client with no daemon behind its socket starts cold. */
static void missing_daemon_means_cold(void)
{
	brig_executor *client = NULL;
	brig_config cfg;
	brig_result *r;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.daemon_socket = "/tmp/brig-no-such-daemon.sock";
	CHECK(brig_executor_new(&cfg, &client, NULL) == BRIG_OK);
	r = run(client, "print(1)", NULL);
	CHECK(brig_result_error(r) == BRIG_OK);
	CHECK(brig_result_warm(r) == 0);
	CHECK_STR(out_of(r), "1\n");
	brig_result_free(r);
	brig_executor_free(client);
}

/* Garbage on the relay is refused, and the relay says so. */
static void relay_refuses_garbage(void)
{
	int sv[2];
	char junk[64] = "not a plan";
	char reply[256];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(send(sv[1], junk, sizeof(junk), 0) == sizeof(junk));
	CHECK(brig_executor_relay(ex, sv[0]) == BRIG_OK);
	CHECK(recv(sv[1], reply, sizeof(reply), 0) > 0);
	CHECK(reply[0] != 0); /* an error, not a jail */
	close(sv[1]);
	CHECK(brig_executor_relay(ex, sv[0]) == BRIG_E_CONSUMED);
	close(sv[0]);
}

static int children(void)
{
	int n = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300];
		FILE *f;
		long ppid = 0;

		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%*d (%*[^)]) %*c %ld", &ppid) == 1 && ppid == getpid())
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* A streamed stdin arrives whole, in order, and ends with the source. */
static void *feed(void *arg)
{
	int fd = *(int *)arg;

	for (int i = 0; i < 200; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "line %d\n", i);

		if (write(fd, line, (size_t)n) != n)
			break;
		if (i % 50 == 0)
			usleep(10000);
	}
	close(fd);
	return NULL;
}

static void stdin_streams(brig_executor *e)
{
	static const char code[] = "import sys\n"
				   "lines = sys.stdin.read().splitlines()\n"
				   "print(len(lines), lines[0], lines[-1])\n";
	brig_run_opts o;
	brig_result *r = NULL;
	pthread_t t;
	int p[2];

	CHECK(pipe(p) == 0);
	pthread_create(&t, NULL, feed, &p[1]);
	brig_run_opts_init(&o);
	o.stdin_stream = true;
	o.stdin_fd = p[0];
	brig_run(e, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	pthread_join(t, NULL);
	CHECK_STR(out_of(r), "200 line 0 line 199\n");
	brig_result_free(r);
	/* The source stays the embedder's: still open after the run. */
	CHECK(fcntl(p[0], F_GETFD) >= 0);
	close(p[0]);
}

int main(void)
{
	if (!(ex = test_executor()))
		return 1;
	warm_runs_are_warm();
	stdin_streams(ex);
	same_as_cold();
	killed_zygote_is_replaced();
	zygote_dies_under_load();
	plan_is_wiped();
	relay_refuses_garbage();
	relay_serves_another_executor();
	missing_daemon_means_cold();
	CHECK(children() >= 1); /* the zygote */
	brig_executor_free(ex);
	CHECK(children() == 0); /* freed with the executor */
	return CHECK_DONE();
}
