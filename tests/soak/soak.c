/*
 * Soak: drive the C API hard from one process and prove that the process
 * gives back everything it takes.
 *
 *   runs        sequential one-shot runs: Python `pass` mostly, with host
 *               calls and kv, shell, JavaScript and limit kills mixed in
 *   concurrent  rounds of many runs at once, one thread each
 *   sessions    Python sessions through snapshot/restore cycles, interrupts
 *               and restores of poisoned sessions; a JavaScript session now
 *               and then
 *
 * Before and after each phase it prints the host process's open fds,
 * threads, resident memory, child processes and zombies (from /proc), and
 * the cgroups brig holds for it.  It exits 1 if any run gave a wrong answer,
 * if any of those counts grew across a phase, or if RSS grew by more than
 * the tolerance.
 *
 * Why a tolerance for RSS, and why it is measured after a warm-up: the first
 * runs of each kind set up things that are kept for the process's life (the
 * guest directory's fds, glibc's per-thread malloc arenas for the
 * concurrent threads, lazily loaded code).  After the warm-up, RSS is
 * sampled after malloc_trim, which returns free heap to the kernel, so what
 * remains is memory in use plus fragmentation.  Fragmentation is bounded and
 * does not grow with the number of runs; a leak does.  The default
 * tolerance, 4 MiB, is what a leak of 420 bytes per run would add over the
 * 10,000 runs, or of 4 KiB per session over 1,000 sessions.
 *
 * Usage: soak [--runs N] [--concurrent N] [--rounds N] [--sessions N]
 *             [--cycles N] [--rss-slack-kib N]
 * The defaults are the full soak (make soak); the meson test runs a short
 * replay.  BRIG_GUEST_DIR points at the guest agents if they moved.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../capi/capi.h"
#include "../capi/hostproc.h"
#include "brig.h"

struct config {
	long runs, concurrent, rounds, sessions, cycles, rss_slack_kib;
};

static brig_executor *ex;
static brig_caps *caps; /* a host function and a shared kv for the runs */
static brig_kv *kv;
static atomic_long failures;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct hostproc sample(void)
{
	malloc_trim(0);
	return hostproc_now();
}

static void fail(const char *what, const brig_result *r)
{
	/* Print the first few; count them all. */
	if (atomic_fetch_add(&failures, 1) < 10)
		fprintf(stderr, "FAILED %s: %s (%s) exit=%d\nstdout: %s\nstderr: %s\n", what,
			brig_err_name(brig_result_error(r)), brig_result_message(r),
			brig_result_exit_code(r), brig_result_stdout(r, NULL),
			brig_result_stderr(r, NULL));
}

static int echo_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)ud, (void)name, (void)err;
	*result = strdup(args);
	return *result ? 0 : 1;
}

/* ------------------------------------------------------------------ one run */

enum kind { K_PASS, K_HOSTCALL, K_SH, K_JS, K_LIMIT, K_COUNT };

static const char *const kind_names[] = {"python pass", "python host call + kv", "sh", "js",
					 "output limit kill"};

/* What run i of a phase is: mostly `pass`, every kind regularly. */
static enum kind kind_of(long i)
{
	if (i % 100 == 0)
		return K_JS;
	if (i % 100 == 50)
		return K_LIMIT;
	if (i % 10 == 3)
		return K_HOSTCALL;
	if (i % 10 == 6)
		return K_SH;
	return K_PASS;
}

/* One run of its kind, checked; true when it gave the right answer. */
static bool one_run(long i)
{
	enum kind k = kind_of(i);
	char code[256], want[64];
	brig_lang lang = BRIG_LANG_PYTHON;
	brig_run_opts o;
	brig_result *r = NULL;
	bool ok;

	brig_run_opts_init(&o);
	o.caps = caps;
	want[0] = '\0';
	switch (k) {
	case K_PASS:
		snprintf(code, sizeof(code), "pass");
		break;
	case K_HOSTCALL:
		snprintf(code, sizeof(code),
			 "k = 'n%ld'\nkv.set(k, call('echo', n=%ld)['n'])\nprint(kv.get(k))\n"
			 "kv.delete(k)",
			 i, i);
		snprintf(want, sizeof(want), "%ld\n", i);
		break;
	case K_SH:
		lang = BRIG_LANG_SH;
		snprintf(code, sizeof(code), "echo $((%ld * 2))", i);
		snprintf(want, sizeof(want), "%ld\n", i * 2);
		break;
	case K_JS:
		lang = BRIG_LANG_JS;
		snprintf(code, sizeof(code), "console.log(%ld + 1)", i);
		snprintf(want, sizeof(want), "%ld\n", i + 1);
		break;
	case K_LIMIT:
		o.limits.max_output_bytes = 100;
		snprintf(code, sizeof(code),
			 "import sys\nwhile True: sys.stdout.write('x' * 4096)");
		break;
	default:
		return false;
	}
	brig_run(ex, lang, code, strlen(code), &o, &r);
	if (k == K_LIMIT)
		ok = brig_result_error(r) == BRIG_E_LIMIT &&
		     brig_result_limit(r) == BRIG_LIMIT_OUTPUT;
	else
		ok = brig_result_error(r) == BRIG_OK && brig_result_exit_code(r) == 0 &&
		     strcmp(brig_result_stdout(r, NULL), want) == 0;
	if (!ok)
		fail(kind_names[k], r);
	brig_result_free(r);
	return ok;
}

/* ------------------------------------------------------------------- phases */

static void phase_runs(long n)
{
	double t0 = now_s();

	for (long i = 0; i < n; i++) {
		one_run(i);
		if ((i + 1) % 1000 == 0) {
			printf("  %ld runs, %.0f runs/s\n", i + 1,
			       (double)(i + 1) / (now_s() - t0));
			fflush(stdout);
		}
	}
}

/* The most threads and child processes seen while a round ran. */
static struct hostproc peak;

static void note_peak(struct hostproc h)
{
	if (h.threads > peak.threads)
		peak.threads = h.threads;
	if (h.children > peak.children)
		peak.children = h.children;
}

static void *concurrent_one(void *arg)
{
	one_run((long)(intptr_t)arg);
	return NULL;
}

static void phase_concurrent(long threads, long rounds)
{
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	if (!t)
		abort();
	for (long round = 0; round < rounds; round++) {
		long started = 0;

		for (long i = 0; i < threads; i++) {
			/* Skip the limit kind: 64 guests filling pipes would only measure I/O. */
			long id = round * threads + i;

			if (kind_of(id) == K_LIMIT)
				id++;
			if (pthread_create(&t[i], NULL, concurrent_one, (void *)(intptr_t)id) != 0)
				break;
			started++;
		}
		/* While they run: proof that the round really ran side by side. */
		for (int k = 0; k < 20; k++) {
			struct timespec ts = {0, 5000000};

			note_peak(hostproc_now());
			nanosleep(&ts, NULL);
		}
		if (started < threads) {
			fprintf(stderr, "FAILED: could start only %ld threads\n", started);
			atomic_fetch_add(&failures, 1);
		}
		for (long i = 0; i < started; i++)
			pthread_join(t[i], NULL);
	}
	free(t);
}

static bool session_ok(brig_session *s, const char *code, const char *want, const char *what)
{
	brig_result *r = NULL;
	int rc = brig_session_run(s, code, strlen(code), NULL, &r);
	bool ok = rc == BRIG_OK && brig_result_exit_code(r) == 0 &&
		  (!want || strcmp(brig_result_stdout(r, NULL), want) == 0);

	if (!ok)
		fail(what, r);
	brig_result_free(r);
	return ok;
}

/* A call killed by its timeout poisons the session; a restore heals it. */
static void session_poison_and_heal(brig_session *s, const brig_snapshot *snap)
{
	brig_call_opts co;
	brig_result *r = NULL;
	int rc;

	brig_call_opts_init(&co);
	co.wall_timeout_ms = 50;
	rc = brig_session_run(s, "while True: pass", 16, &co, &r);
	if (rc != BRIG_E_CANCELLED || !brig_session_poisoned(s))
		fail("session timeout", r);
	brig_result_free(r);
	if (brig_session_restore(s, snap) != BRIG_OK || brig_session_poisoned(s)) {
		atomic_fetch_add(&failures, 1);
		fprintf(stderr, "FAILED: restore of a poisoned session\n");
	}
}

static void one_python_session(long i, long cycles)
{
	brig_session *s = NULL;
	brig_snapshot *snap = NULL;
	char *why = NULL;

	if (brig_session_new(ex, BRIG_LANG_PYTHON, NULL, &s, &why) != BRIG_OK) {
		atomic_fetch_add(&failures, 1);
		fprintf(stderr, "FAILED: session %ld: %s\n", i, why ? why : "?");
		free(why);
		return;
	}
	session_ok(s, "x = 1\nopen('/tmp/f', 'w').write('a')", NULL, "session setup");
	if (brig_session_snapshot(s, &snap) != BRIG_OK) {
		atomic_fetch_add(&failures, 1);
		fprintf(stderr, "FAILED: snapshot of session %ld\n", i);
	}
	for (long c = 0; snap && c < cycles; c++) {
		session_ok(s, "x += 1\nopen('/tmp/f', 'a').write('b')", NULL, "session change");
		if (brig_session_restore(s, snap) != BRIG_OK) {
			atomic_fetch_add(&failures, 1);
			fprintf(stderr, "FAILED: restore of session %ld\n", i);
			break;
		}
		session_ok(s, "print(x, open('/tmp/f').read())", "1 a\n", "session restored");
	}
	if (snap && i % 10 == 0) {
		session_poison_and_heal(s, snap);
		session_ok(s, "print(x)", "1\n", "session healed");
	}
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* JS sessions have no snapshots; they are started, used and freed. */
static void one_js_session(long i)
{
	brig_session *s = NULL;
	char *why = NULL, want[32], code[64];

	if (brig_session_new(ex, BRIG_LANG_JS, NULL, &s, &why) != BRIG_OK) {
		atomic_fetch_add(&failures, 1);
		fprintf(stderr, "FAILED: js session %ld: %s\n", i, why ? why : "?");
		free(why);
		return;
	}
	snprintf(code, sizeof(code), "globalThis.n = %ld", i);
	session_ok(s, code, NULL, "js session set");
	snprintf(want, sizeof(want), "%ld\n", i * 2);
	session_ok(s, "console.log(n * 2)", want, "js session get");
	brig_session_free(s);
}

static void phase_sessions(long n, long cycles)
{
	double t0 = now_s();

	for (long i = 0; i < n; i++) {
		if (i % 20 == 19)
			one_js_session(i);
		else
			one_python_session(i, cycles);
		if ((i + 1) % 100 == 0) {
			printf("  %ld sessions, %.1f sessions/s\n", i + 1,
			       (double)(i + 1) / (now_s() - t0));
			fflush(stdout);
		}
	}
}

/* ------------------------------------------------------------------ driver */

/* Print the phase's figures; false if anything grew past its bound. */
static bool judge(const char *phase, const struct hostproc *before, const struct hostproc *after,
		  double secs, long slack_kib)
{
	char label[64];
	long grew = after->rss_kib - before->rss_kib;
	bool ok = hostproc_same(before, after) && grew <= slack_kib;

	snprintf(label, sizeof(label), "%s before", phase);
	hostproc_print(stdout, label, before);
	snprintf(label, sizeof(label), "%s after", phase);
	hostproc_print(stdout, label, after);
	printf("%-24s %.1f s, rss %+ld KiB (tolerance %ld KiB): %s\n", phase, secs, grew, slack_kib,
	       ok ? "ok" : "GREW");
	fflush(stdout);
	return ok;
}

typedef void (*phase_fn)(const struct config *c);

static void do_runs(const struct config *c)
{
	phase_runs(c->runs);
}

static void do_concurrent(const struct config *c)
{
	memset(&peak, 0, sizeof(peak));
	phase_concurrent(c->concurrent, c->rounds);
	printf("  peak while running: %d threads, %d child processes\n", peak.threads,
	       peak.children);
}

static void do_sessions(const struct config *c)
{
	phase_sessions(c->sessions, c->cycles);
}

static bool run_phase(const char *name, phase_fn fn, const struct config *c)
{
	struct hostproc before = sample(), after;
	long failed_before = atomic_load(&failures);
	double t0 = now_s();
	bool ok;

	fn(c);
	after = sample();
	ok = judge(name, &before, &after, now_s() - t0, c->rss_slack_kib);
	if (atomic_load(&failures) != failed_before) {
		printf("%-24s %ld wrong answers\n", name, atomic_load(&failures) - failed_before);
		ok = false;
	}
	return ok;
}

/* Everything that is set up once, so that the phases measure steady state. */
static void warm_up(const struct config *c)
{
	for (long i = 0; i < 100; i++)
		one_run(i);
	phase_concurrent(c->concurrent, 1);
	phase_sessions(20, 1);
}

static bool parse_args(int argc, char **argv, struct config *c)
{
	static const struct {
		const char *flag;
		size_t off;
	} flags[] = {
	    {"--runs", offsetof(struct config, runs)},
	    {"--concurrent", offsetof(struct config, concurrent)},
	    {"--rounds", offsetof(struct config, rounds)},
	    {"--sessions", offsetof(struct config, sessions)},
	    {"--cycles", offsetof(struct config, cycles)},
	    {"--rss-slack-kib", offsetof(struct config, rss_slack_kib)},
	};

	for (int i = 1; i < argc; i++) {
		size_t f = 0;
		char *end;
		long v;

		while (f < sizeof(flags) / sizeof(flags[0]) && strcmp(argv[i], flags[f].flag) != 0)
			f++;
		if (f == sizeof(flags) / sizeof(flags[0]) || i + 1 == argc)
			return false;
		errno = 0;
		v = strtol(argv[++i], &end, 10);
		if (errno || *end || v < 0 || v > 10000000)
			return false;
		*(long *)((char *)c + flags[f].off) = v;
	}
	return c->concurrent > 0;
}

int main(int argc, char **argv)
{
	struct config c = {10000, 64, 10, 1000, 3, 4096};
	struct hostproc start, warm, end;
	double t0 = now_s();
	bool ok = true;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!parse_args(argc, argv, &c)) {
		fprintf(stderr, "usage: soak [--runs N] [--concurrent N] [--rounds N] "
				"[--sessions N] [--cycles N] [--rss-slack-kib N]\n");
		return 2;
	}
	printf("soak: %ld runs; %ld rounds of %ld concurrent runs; %ld sessions x %ld "
	       "snapshot/restore cycles\n",
	       c.runs, c.rounds, c.concurrent, c.sessions, c.cycles);
	start = sample();
	hostproc_print(stdout, "start", &start);
	if (!(ex = test_executor()))
		return 1;
	brig_kv_new(NULL, &kv);
	brig_caps_new(&caps);
	brig_caps_set_kv(caps, kv);
	brig_caps_add_function(caps, "echo", echo_fn, NULL);

	warm_up(&c);
	warm = sample();
	hostproc_print(stdout, "after warm-up", &warm);
	ok &= run_phase("runs", do_runs, &c);
	ok &= run_phase("concurrent", do_concurrent, &c);
	ok &= run_phase("sessions", do_sessions, &c);

	brig_caps_free(caps);
	brig_kv_free(kv);
	brig_executor_free(ex);
	end = sample();
	hostproc_print(stdout, "end (executor freed)", &end);
	/* With the executor gone, nothing of brig may remain at all. */
	if (!hostproc_same(&start, &end)) {
		printf("end: the freed executor left something behind\n");
		ok = false;
	}
	if (atomic_load(&failures))
		printf("%ld wrong answers in all\n", atomic_load(&failures));
	printf("soak: %s in %.1f s\n", ok ? "ok" : "FAILED", now_s() - t0);
	return ok ? 0 : 1;
}
