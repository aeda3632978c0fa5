/*
 * Library-level figures for bench/bench.py, one "key value" line each: a
 * fresh sandbox per run from a warm executor (zygotes) and from a cold one
 * (p50/p90 and runs/s over two threads), the idle memory of a sandbox, the
 * host-function round trip measured inside the guest, and session calls.
 *
 * `bench_lib compute LANG warm|cold` runs the code on stdin once, in a run
 * of a warm or a cold executor, and prints its stdout and whether the run
 * started warm: bench.py times CPU-bound code inside such runs against the
 * native interpreters.
 *
 * `bench_lib serve CONCURRENCY N` makes N runs of Python `pass` on that
 * many threads and prints runs/s, p50 and p99: bench/bench_serve.py puts
 * brig serve's figures next to them.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brig.h"

#define RUNS 100
#define IDLE_SAMPLES 5
#define PREWARM_MS 30000

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int echo(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)ud, (void)name, (void)err;
	*result = strdup(args);
	return *result ? 0 : 1;
}

static brig_executor *executor(bool warm)
{
	brig_config cfg;
	brig_executor *ex;
	char *why = NULL;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	cfg.warm_start = warm ? 1 : -1;
	if (brig_executor_new(&cfg, &ex, &why)) {
		fprintf(stderr, "bench: %s\n", why ? why : "executor unavailable");
		exit(1);
	}
	if (warm) {
		brig_executor_prewarm(ex, BRIG_LANG_PYTHON, PREWARM_MS);
		brig_executor_prewarm(ex, BRIG_LANG_JS, PREWARM_MS);
	}
	return ex;
}

static const char *trivial(brig_lang lang)
{
	return lang == BRIG_LANG_PYTHON ? "pass" : lang == BRIG_LANG_JS ? "0" : "true";
}

/* One run of the trivial code; returns whether it started warm. */
static int run_one(brig_executor *ex, brig_lang lang)
{
	const char *code = trivial(lang);
	brig_result *r;
	int warm;

	brig_run(ex, lang, code, strlen(code), NULL, &r);
	if (brig_result_error(r) || brig_result_exit_code(r)) {
		fprintf(stderr, "run failed: %s\n", brig_result_message(r));
		exit(1);
	}
	warm = brig_result_warm(r);
	brig_result_free(r);
	return warm;
}

/* p50/p90 of sequential runs; prefix_lang_{p50_ms,p90_ms,warm_runs}. */
static void run_latency(brig_executor *ex, const char *prefix, brig_lang lang)
{
	double t[RUNS];
	int warm = 0;

	run_one(ex, lang); /* first-use costs are not what is measured */
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_ms();

		warm += run_one(ex, lang);
		t[i] = now_ms() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp);
	printf("%s_%s_p50_ms %.3f\n%s_%s_p90_ms %.3f\n%s_%s_warm_runs %d/%d\n", prefix,
	       brig_lang_name(lang), t[RUNS / 2], prefix, brig_lang_name(lang), t[RUNS * 9 / 10],
	       prefix, brig_lang_name(lang), warm, RUNS);
}

struct worker {
	brig_executor *ex;
	brig_lang lang;
	int warm;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < RUNS; i++)
		w->warm += run_one(w->ex, w->lang);
	return NULL;
}

/* Runs per second on two threads; prefix_lang_runs_per_s. */
static void throughput(brig_executor *ex, const char *prefix, brig_lang lang)
{
	pthread_t t[2];
	struct worker w[2] = {{ex, lang, 0}, {ex, lang, 0}};
	double t0 = now_ms();

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, work, &w[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("%s_%s_runs_per_s %.0f\n%s_%s_runs_per_s_warm_runs %d/%d\n", prefix,
	       brig_lang_name(lang), 2 * RUNS / ((now_ms() - t0) / 1000), prefix,
	       brig_lang_name(lang), w[0].warm + w[1].warm, 2 * RUNS);
}

/* ------------------------------------------------------------ idle memory */

static int parent_of(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %d", &ppid);
	fclose(f);
	return ppid;
}

static bool descends_from_us(int pid)
{
	for (int i = 0; i < 64 && pid > 1; i++) {
		pid = parent_of(pid);
		if (pid == getpid())
			return true;
	}
	return false;
}

/* A process's memory in kB: proportional (PSS), private (USS) and resident. */
struct mem {
	long pss, uss, rss;
};

static int mem_of(int pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;
	long kb;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			m->pss = kb;
		else if (sscanf(line, "Rss: %ld kB", &kb) == 1)
			m->rss = kb;
		else if (sscanf(line, "Private_Clean: %ld kB", &kb) == 1 ||
			 sscanf(line, "Private_Dirty: %ld kB", &kb) == 1)
			m->uss += kb;
	}
	fclose(f);
	return 0;
}

/* The inode of pid's pid namespace, or 0. */
static unsigned long pid_ns(int pid)
{
	char path[64], link[64];
	unsigned long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	if ((n = readlink(path, link, sizeof(link) - 1)) > 0) {
		link[n] = '\0';
		sscanf(link, "pid:[%lu]", &ino);
	}
	return ino;
}

/*
 * The memory of our descendants while a run waits in a host call: those in
 * the run's pid namespace (its jail: init and the guest), those in other
 * namespaces of their own (jails prepared ahead, if the executor keeps
 * any), and those in ours (zygotes, helpers).
 */
#define MAX_POOL 64
struct pss {
	unsigned long run_ns;
	struct mem jail;
	long pool_kb, host_kb;
	int jail_procs, unreadable, pool_jails;
	unsigned long pool_ns[MAX_POOL];
};

static void count_pool(struct pss *m, unsigned long ns, long kb)
{
	int i = 0;

	while (i < m->pool_jails && m->pool_ns[i] != ns)
		i++;
	if (i == m->pool_jails && i < MAX_POOL)
		m->pool_ns[m->pool_jails++] = ns;
	m->pool_kb += kb;
}

static void measure(struct pss *m)
{
	unsigned long ours = pid_ns(getpid());
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		unsigned long ns;
		struct mem pm;

		if (pid <= 0 || pid == getpid() || !descends_from_us(pid))
			continue;
		if (mem_of(pid, &pm) < 0) {
			m->unreadable += errno != ENOENT && errno != ESRCH; /* else: gone */
			continue;
		}
		if ((ns = pid_ns(pid)) == ours) {
			m->host_kb += pm.pss;
		} else if (ns == m->run_ns) {
			m->jail.pss += pm.pss;
			m->jail.uss += pm.uss;
			m->jail.rss += pm.rss;
			m->jail_procs++;
		} else {
			count_pool(m, ns, pm.pss);
		}
	}
	if (d)
		closedir(d);
}

/* Called by the idle guest with its pid namespace: it waits in this call. */
static int pss_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	struct pss *m = ud;
	const char *ns = strstr(args, "pid:[");

	(void)name, (void)err;
	memset(m, 0, sizeof(*m));
	if (!ns || sscanf(ns, "pid:[%lu]", &m->run_ns) != 1) {
		*err = strdup("no pid namespace given");
		return 1;
	}
	measure(m);
	*result = strdup("null");
	return *result ? 0 : 1;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static void print_median(const char *prefix, brig_lang lang, const char *name, long *v)
{
	qsort(v, IDLE_SAMPLES, sizeof(v[0]), cmp_long);
	printf("%s_%s_%s %ld\n", prefix, brig_lang_name(lang), name, v[IDLE_SAMPLES / 2]);
}

/*
 * Idle memory of a sandbox: every process of a jail whose guest has started
 * and waits (in a host call), for the median of a few runs; and what the
 * executor keeps besides, measured while that run waits: jails prepared
 * ahead, and its zygotes.
 */
static void idle_memory(brig_executor *ex, const char *prefix, brig_lang lang)
{
	/* JS reaches node's fs through URL, one of node's own classes (already loaded). */
	const char *code =
	    lang == BRIG_LANG_PYTHON
		? "import os\ncall('pss', ns=os.readlink('/proc/self/ns/pid'))"
		: "const fs = URL.constructor('return process')().mainModule.require('fs');\n"
		  "call('pss', {ns: fs.readlinkSync('/proc/self/ns/pid')});";
	long pss[IDLE_SAMPLES], uss[IDLE_SAMPLES], rss[IDLE_SAMPLES], host[IDLE_SAMPLES];
	long pool[IDLE_SAMPLES];
	struct pss m;
	brig_caps *caps;
	brig_run_opts o;
	int procs = 0, warm = 0, jails = 0;

	brig_caps_new(&caps);
	brig_caps_add_function(caps, "pss", pss_fn, &m);
	brig_run_opts_init(&o);
	o.caps = caps;
	run_one(ex, lang);
	for (int i = 0; i < IDLE_SAMPLES; i++) {
		brig_result *r;

		brig_run(ex, lang, code, strlen(code), &o, &r);
		if (brig_result_error(r) || brig_result_exit_code(r) || m.unreadable)
			fprintf(stderr, "idle memory: %s%s (%d processes unreadable)\n",
				brig_result_message(r), brig_result_stderr(r, NULL), m.unreadable);
		warm += brig_result_warm(r);
		brig_result_free(r);
		pss[i] = m.jail.pss;
		uss[i] = m.jail.uss;
		rss[i] = m.jail.rss;
		host[i] = m.host_kb;
		pool[i] = m.pool_kb;
		procs = m.jail_procs;
		jails = m.pool_jails;
	}
	brig_caps_free(caps);
	print_median(prefix, lang, "idle_pss_kb", pss);
	print_median(prefix, lang, "idle_uss_kb", uss);
	print_median(prefix, lang, "idle_rss_kb", rss);
	print_median(prefix, lang, "executor_pss_kb", host);
	print_median(prefix, lang, "pool_pss_kb", pool);
	printf("%s_%s_idle_procs %d\n%s_%s_idle_warm_runs %d/%d\n%s_%s_pool_jails %d\n", prefix,
	       brig_lang_name(lang), procs, prefix, brig_lang_name(lang), warm, IDLE_SAMPLES,
	       prefix, brig_lang_name(lang), jails);
}

/* ------------------------------------------------ existing (cold) figures */

static void call_round_trip(brig_executor *ex)
{
	const char *code = "import time\n"
			   "ts = []\n"
			   "for i in range(10000):\n"
			   "    t0 = time.perf_counter_ns()\n"
			   "    call('echo', i=i)\n"
			   "    ts.append(time.perf_counter_ns() - t0)\n"
			   "ts.sort()\n"
			   "print(ts[5000] / 1000, ts[9900] / 1000)\n";
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r;
	double p50, p99;

	brig_caps_new(&caps);
	brig_caps_add_function(caps, "echo", echo, NULL);
	brig_run_opts_init(&o);
	o.caps = caps;
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	if (sscanf(brig_result_stdout(r, NULL), "%lf %lf", &p50, &p99) == 2)
		printf("hostcall_p50_us %.1f\nhostcall_p99_us %.1f\n", p50, p99);
	else
		fprintf(stderr, "call bench failed: %s%s\n", brig_result_message(r),
			brig_result_stderr(r, NULL));
	brig_result_free(r);
	brig_caps_free(caps);
}

static void report(const char *name, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(t[0]), cmp);
	printf("%s_p50_us %.1f\n%s_p99_us %.1f\n", name, t[n / 2] * 1000, name,
	       t[n * 99 / 100] * 1000);
}

#define SESSION_CALLS 2000
#define RESTORES 200
#define PER_REQUEST 2000
/* Between the restores of the "after idle" figure: longer than the 1 ms
 * after which init stops an idle session, so each restore also wakes it. */
#define IDLE_US 5000

/* Issue 9's targets: restore + call p50 (µs), restore-per-request rate. */
static const char *restore_target(brig_lang lang)
{
	return lang == BRIG_LANG_PYTHON ? "target<=500" : "target<=1500";
}

static int restore_and_call(brig_session *s, const brig_snapshot *snap)
{
	char *out = NULL;
	int rc = brig_session_restore(s, snap);

	if (rc == BRIG_OK)
		rc = brig_session_call_handler(s, "echo", "{}", NULL, &out, NULL);
	free(out);
	return rc;
}

/*
 * Restore, then call the echo handler (default options, so with its garbage
 * collection): back to back, after an idle pause, and as many as possible
 * in a row (restore-per-request, requests/s).
 */
static void restore_figures(brig_session *s, const brig_snapshot *snap, brig_lang lang)
{
	static double t[RESTORES];
	const char *name = brig_lang_name(lang);
	int failed = 0;
	double t0;

	for (int i = 0; i < RESTORES; i++) {
		t0 = now_ms();
		failed += restore_and_call(s, snap) != BRIG_OK;
		t[i] = now_ms() - t0;
	}
	qsort(t, RESTORES, sizeof(t[0]), cmp);
	printf("session_%s_restore_call_p50_us %.1f %s\nsession_%s_restore_call_p99_us %.1f\n",
	       name, t[RESTORES / 2] * 1000, restore_target(lang), name,
	       t[RESTORES * 99 / 100] * 1000);
	for (int i = 0; i < RESTORES; i++) {
		usleep(IDLE_US);
		t0 = now_ms();
		failed += restore_and_call(s, snap) != BRIG_OK;
		t[i] = now_ms() - t0;
	}
	qsort(t, RESTORES, sizeof(t[0]), cmp);
	printf("session_%s_restore_call_idle_p50_us %.1f %s\n", name, t[RESTORES / 2] * 1000,
	       restore_target(lang));
	t0 = now_ms();
	for (int i = 0; i < PER_REQUEST; i++)
		failed += restore_and_call(s, snap) != BRIG_OK;
	printf("session_%s_restore_per_request_per_s %.0f %s\n", name,
	       PER_REQUEST / ((now_ms() - t0) / 1000),
	       lang == BRIG_LANG_PYTHON ? "target>=3800" : "recorded");
	if (failed)
		fprintf(stderr, "bench: %d %s restores failed\n", failed, name);
}

static void session_figures(brig_executor *ex, brig_lang lang)
{
	static double t[SESSION_CALLS];
	const char *echo = lang == BRIG_LANG_PYTHON ? "def handler(e):\n    return e\n"
						    : "function handler(e) { return e; }\n";
	char name[64], *out;
	brig_session *s;
	brig_snapshot *snap = NULL;

	if (brig_session_new(ex, lang, NULL, &s, NULL) != BRIG_OK)
		return;
	brig_session_add_handler(s, "echo", echo);
	brig_session_load(s, NULL);
	for (int i = 0; i < SESSION_CALLS; i++) {
		brig_call_opts o;
		double t0 = now_ms();

		brig_call_opts_init(&o);
		o.gc = false;
		brig_session_call_handler(s, "echo", "{\"n\": 1}", &o, &out, NULL);
		t[i] = now_ms() - t0;
		free(out);
	}
	snprintf(name, sizeof(name), "session_%s_handler_echo", brig_lang_name(lang));
	report(name, t, SESSION_CALLS);
	for (int i = 0; i < SESSION_CALLS; i++) {
		brig_result *r;
		double t0 = now_ms();

		brig_session_run(s, "0", 1, NULL, &r);
		t[i] = now_ms() - t0;
		brig_result_free(r);
	}
	snprintf(name, sizeof(name), "session_%s_run", brig_lang_name(lang));
	report(name, t, SESSION_CALLS);
	if (brig_session_snapshot(s, &snap) == BRIG_OK) {
		restore_figures(s, snap, lang);
		brig_snapshot_free(snap);
	} else {
		fprintf(stderr, "bench: %s sessions cannot snapshot here\n", brig_lang_name(lang));
	}
	brig_session_free(s);
}

/* --------------------------------------------------------------- compute */

static char *read_stdin(void)
{
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap);

	while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len + 1 == cap && !(buf = realloc(buf, cap *= 2)))
			break;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int compute(const char *lang_name, const char *mode)
{
	char *code = read_stdin();
	brig_executor *ex;
	brig_result *r;
	brig_lang lang;
	int rc;

	if (!code || brig_lang_parse(lang_name, &lang) != BRIG_OK) {
		fprintf(stderr, "usage: bench_lib compute python|js warm|cold < code\n");
		return 2;
	}
	ex = executor(strcmp(mode, "warm") == 0);
	run_one(ex, lang);
	rc = brig_run(ex, lang, code, strlen(code), NULL, &r);
	if (rc || brig_result_exit_code(r))
		fprintf(stderr, "compute: %s%s\n", brig_result_message(r),
			brig_result_stderr(r, NULL));
	printf("%s warm=%d\n", brig_result_stdout(r, NULL), brig_result_warm(r));
	rc = rc || brig_result_exit_code(r);
	brig_result_free(r);
	brig_executor_free(ex);
	free(code);
	return rc;
}

/* `bench_lib serve C N`: the library's side of brig serve's load figures. */
struct serve_load {
	brig_executor *ex;
	atomic_int next, warm;
	int n;
	double *lat_ms;
};

static void *serve_worker(void *arg)
{
	struct serve_load *s = arg;
	int i;

	while ((i = atomic_fetch_add(&s->next, 1)) < s->n) {
		double t0 = now_ms();

		atomic_fetch_add(&s->warm, run_one(s->ex, BRIG_LANG_PYTHON));
		s->lat_ms[i] = now_ms() - t0;
	}
	return NULL;
}

/* N runs of Python `pass` on C threads at once, as `brig serve` makes them. */
static int serve_load(int c, int n)
{
	struct serve_load s = {.ex = executor(true), .n = n};
	pthread_t *t = calloc((size_t)c, sizeof(pthread_t));
	double t0, secs;

	s.lat_ms = calloc((size_t)n, sizeof(double));
	if (!t || !s.lat_ms)
		return 1;
	t0 = now_ms();
	for (int i = 0; i < c; i++)
		pthread_create(&t[i], NULL, serve_worker, &s);
	for (int i = 0; i < c; i++)
		pthread_join(t[i], NULL);
	secs = (now_ms() - t0) / 1e3;
	qsort(s.lat_ms, (size_t)n, sizeof(double), cmp);
	printf("runs_per_s %.1f p50_ms %.2f p99_ms %.2f warm %d\n", n / secs, s.lat_ms[n / 2],
	       s.lat_ms[(size_t)n * 99 / 100], atomic_load(&s.warm));
	free(s.lat_ms);
	free(t);
	brig_executor_free(s.ex);
	return 0;
}

int main(int argc, char **argv)
{
	brig_executor *warm, *cold;

	if (argc == 4 && strcmp(argv[1], "compute") == 0)
		return compute(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "serve") == 0 && atoi(argv[2]) > 0 && atoi(argv[3]) > 0)
		return serve_load(atoi(argv[2]), atoi(argv[3]));
	cold = executor(false);
	call_round_trip(cold);
	run_latency(cold, "lib_cold", BRIG_LANG_PYTHON);
	run_latency(cold, "lib_cold", BRIG_LANG_JS);
	run_latency(cold, "lib_cold", BRIG_LANG_SH);
	throughput(cold, "lib_cold", BRIG_LANG_PYTHON);
	throughput(cold, "lib_cold", BRIG_LANG_JS);
	throughput(cold, "lib_cold", BRIG_LANG_SH);
	idle_memory(cold, "lib_cold", BRIG_LANG_PYTHON);
	idle_memory(cold, "lib_cold", BRIG_LANG_JS);
	session_figures(cold, BRIG_LANG_PYTHON);
	session_figures(cold, BRIG_LANG_JS);
	brig_executor_free(cold);

	warm = executor(true);
	run_latency(warm, "lib_warm", BRIG_LANG_PYTHON);
	run_latency(warm, "lib_warm", BRIG_LANG_JS);
	throughput(warm, "lib_warm", BRIG_LANG_PYTHON);
	throughput(warm, "lib_warm", BRIG_LANG_JS);
	idle_memory(warm, "lib_warm", BRIG_LANG_PYTHON);
	idle_memory(warm, "lib_warm", BRIG_LANG_JS);
	brig_executor_free(warm);
	return 0;
}
