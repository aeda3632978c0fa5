/*
 * Nothing carries over between runs, warm or cold (issue 9, item 2).
 *
 * Every run executes a probe (warm_probe.py, warm_probe.js, embedded by
 * embed.py) that first looks for the traces of earlier runs, then leaves
 * every trace it can (files, environment, module state, processes, fds,
 * sockets, IPC objects, signal handlers, limits, timers...), each carrying
 * the run's own token, and then checks that it sees its own traces, so that
 * a search that finds nothing is not a blind one.  Runs follow each other on
 * one executor (Python and JS in turn, ending in every way a run can end),
 * and run concurrently in rounds whose runs wait for each other inside the
 * guest (a host-function barrier) so that all are alive at once: each looks
 * for the others' traces after all have planted theirs.
 *
 * Across runs the test checks that the state at start is the same every time
 * (umask, limits, signals, fds, cwd, globals...), that random values differ
 * in every run, that runs alive together are in different pid, mount, net,
 * IPC and UTS namespaces, that no output holds another run's token, and
 * that no process of any run outlives it on the host.  One executor has
 * warm start on (and every run must have started warm), the other off.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"
#include "warm_probes.h"

#define MAX_RUNS 128
#define TOKEN_LEN 12 /* "tk" and 10 hex digits */
#define ROUND_SIZE 8
#define TIMEOUT_MS 3000
#define BARRIER_WAIT_S 60
#define PREWARM_MS 30000

static const char *const py_modes[] = {"return", "sys_exit", "os_exit",
				       "raise",	 "sigkill",  "cancel"};
static const char *const js_modes[] = {"return", "exit", "throw", "kill", "cancel"};
/* Traces the jail may refuse to let a run leave (planting fails with EPERM). */
static const char *const may_refuse[] = {"hostname", "sysv_msg", "sysv_shm", "sysv_sem"};
static const char *const own_ns[] = {"pid", "mnt", "net", "ipc", "uts"};

struct barrier {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	int arrived[3]; /* per step (1, 2) */
	int ended[3];	/* runs that ended before they arrived at the step */
};

struct run {
	brig_lang lang;
	const char *mode;
	int round; /* -1: sequential */
	char token[TOKEN_LEN + 1];
	brig_result *r;
	brig_cancel *cancel;
	char tail[8]; /* the last stdout bytes seen, to spot "\nDONE\n" across chunks */
	int reached;  /* the last barrier step it arrived at */
	struct phase *ph;
};

struct phase {
	const char *name;
	brig_executor *ex;
	struct run runs[MAX_RUNS];
	int n;
	struct barrier barrier;
	bool warm[2]; /* whether runs of each language must start warm */
};

/* ----------------------------------------------------------------- tokens */

static char issued[4 * MAX_RUNS][TOKEN_LEN + 1];
static int n_issued;

static void new_token(char *out)
{
	for (;;) {
		unsigned char b[5];
		bool dup = false;

		if (getrandom(b, sizeof(b), 0) != sizeof(b))
			abort();
		snprintf(out, TOKEN_LEN + 1, "tk%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
			 b[4]);
		for (int i = 0; i < n_issued; i++)
			dup |= strcmp(issued[i], out) == 0;
		if (!dup)
			break;
	}
	strcpy(issued[n_issued++], out);
}

/* ------------------------------------------------------------ reporting */

static const char *lang_of(const struct run *rn)
{
	return brig_lang_name(rn->lang);
}

static void failf(const struct run *rn, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%s %s %s %s%s] ", rn->ph->name, lang_of(rn), rn->mode, rn->token,
		rn->round >= 0 ? " concurrent" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define EXPECT(rn, cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			failf((rn), __VA_ARGS__);                                                  \
		CHECK(cond);                                                                       \
	} while (0)

/* ---------------------------------------------------------- host side */

/*
 * The barrier the runs of a round call between their steps.  It fails when
 * a run of the round ended without arriving, when its own run ends, or
 * after BARRIER_WAIT_S.
 */
static int barrier_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	struct run *rn = ud;
	struct barrier *b = &rn->ph->barrier;
	const char *p = strstr(args, "\"step\"");
	int step = p ? atoi(strchr(p, ':') + 1) : 0;
	brig_hostcall *call = brig_hostcall_current();
	bool all;

	(void)name;
	if (step < 1 || step > 2) {
		*err = strdup("bad step");
		return 1;
	}
	pthread_mutex_lock(&b->mu);
	b->arrived[step]++;
	rn->reached = step;
	pthread_cond_broadcast(&b->cv);
	for (int i = 0; i < BARRIER_WAIT_S * 10 && b->arrived[step] + b->ended[step] < b->n; i++) {
		struct timespec until;

		if (brig_hostcall_cancelled(call))
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&b->cv, &b->mu, &until);
	}
	all = b->arrived[step] == b->n;
	pthread_mutex_unlock(&b->mu);
	if (!all) {
		*err = strdup("barrier: a run of the round ended or never arrived");
		return 1;
	}
	*result = strdup("null");
	return 0;
}

/* A run of a round ended: the steps it never reached wait no more for it. */
static void barrier_leave(struct run *rn)
{
	struct barrier *b = &rn->ph->barrier;

	pthread_mutex_lock(&b->mu);
	for (int step = rn->reached + 1; step <= 2; step++)
		b->ended[step]++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Ends a "cancel" run once its probe is done: the embedder kills it. */
static void watch_output(void *ud, brig_stream stream, const char *data, size_t len)
{
	struct run *rn = ud;
	char buf[sizeof(rn->tail) + 64];
	size_t keep = strlen(rn->tail), take = len < 64 ? len : 64;

	if (stream != BRIG_STDOUT)
		return;
	memcpy(buf, rn->tail, keep);
	memcpy(buf + keep, data + len - take, take);
	buf[keep + take] = '\0';
	if (strstr(buf, "\nDONE\n"))
		brig_cancel_trigger(rn->cancel);
	keep = strlen(buf) < sizeof(rn->tail) - 1 ? strlen(buf) : sizeof(rn->tail) - 1;
	memcpy(rn->tail, buf + strlen(buf) - keep, keep);
	rn->tail[keep] = '\0';
}

static void do_run(struct run *rn)
{
	const char *code = rn->lang == BRIG_LANG_PYTHON ? warm_probe_py : warm_probe_js;
	char in[160], round[16] = "null";
	brig_run_opts o;
	brig_caps *caps = NULL;

	if (rn->round >= 0)
		snprintf(round, sizeof(round), "%d", rn->round);
	snprintf(in, sizeof(in), "{\"token\": \"%s\", \"mode\": \"%s\", \"round\": %s}", rn->token,
		 rn->mode, round);
	brig_run_opts_init(&o);
	o.stdin_data = in;
	o.stdin_len = strlen(in);
	if (rn->round >= 0 && brig_caps_new(&caps) == BRIG_OK) {
		brig_caps_add_function(caps, "barrier", barrier_fn, rn);
		o.caps = caps;
	}
	if (strcmp(rn->mode, "timeout") == 0)
		o.limits.wall_timeout_ms = TIMEOUT_MS;
	if (strcmp(rn->mode, "cancel") == 0 && brig_cancel_new(&rn->cancel) == BRIG_OK) {
		rn->tail[0] = '\n';
		o.cancel = rn->cancel;
		o.on_output = watch_output;
		o.output_userdata = rn;
	}
	brig_run(rn->ph->ex, rn->lang, code, strlen(code), &o, &rn->r);
	brig_caps_free(caps);
	brig_cancel_free(rn->cancel);
	rn->cancel = NULL;
}

static struct run *add_run(struct phase *ph, brig_lang lang, const char *mode, int round)
{
	struct run *rn = &ph->runs[ph->n++];

	if (ph->n > MAX_RUNS)
		abort();
	rn->lang = lang;
	rn->mode = mode;
	rn->round = round;
	rn->ph = ph;
	new_token(rn->token);
	return rn;
}

static void *round_thread(void *arg)
{
	do_run(arg);
	barrier_leave(arg);
	return NULL;
}

static void run_round(struct phase *ph, int round)
{
	pthread_t t[ROUND_SIZE];
	struct run *rs[ROUND_SIZE];

	ph->barrier.n = ROUND_SIZE;
	memset(ph->barrier.arrived, 0, sizeof(ph->barrier.arrived));
	memset(ph->barrier.ended, 0, sizeof(ph->barrier.ended));
	for (int i = 0; i < ROUND_SIZE; i++) {
		bool py = i % 2 == 0;
		int k = i / 2 + round;

		rs[i] = add_run(ph, py ? BRIG_LANG_PYTHON : BRIG_LANG_JS,
				py ? py_modes[k % 6] : js_modes[k % 5], round);
	}
	for (int i = 0; i < ROUND_SIZE; i++)
		pthread_create(&t[i], NULL, round_thread, rs[i]);
	for (int i = 0; i < ROUND_SIZE; i++)
		pthread_join(t[i], NULL);
}

/* ------------------------------------------------------- output parsing */

/* The value of the line "<kind> <name> <value>" in out, or NULL (a static buffer). */
static const char *line_value(const char *out, const char *kind, const char *name)
{
	static char buf[8192];
	char head[96];
	size_t hl;

	hl = (size_t)snprintf(head, sizeof(head), "%s %s ", kind, name);
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, head, hl) == 0) {
			const char *e = strchr(p, '\n');
			size_t n = e ? (size_t)(e - p) - hl : strlen(p + hl);

			n = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
			memcpy(buf, p + hl, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* What follows prefix on the first line that starts with it, or NULL. */
static const char *line_after(const char *out, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			return p + n;
	return NULL;
}

static bool starts_line(const char *out, const char *p)
{
	return p == out || p[-1] == '\n';
}

static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(out, line); p; p = strstr(p + 1, line))
		if (starts_line(out, p) && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static bool allowed_refusal(const char *kind, size_t len)
{
	for (size_t i = 0; i < sizeof(may_refuse) / sizeof(may_refuse[0]); i++)
		if (strlen(may_refuse[i]) == len && strncmp(may_refuse[i], kind, len) == 0)
			return true;
	return false;
}

/* Every "LEAK", "MISSED", "BAD" and "NA" line; returns the SEEN and NA counts. */
static void scan_verdicts(const struct run *rn, const char *out, int *seen, int *na)
{
	*seen = *na = 0;
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *e = strchr(p, '\n');
		int len = e ? (int)(e - p) : (int)strlen(p);

		if (strncmp(p, "SEEN ", 5) == 0) {
			(*seen)++;
		} else if (strncmp(p, "NA ", 3) == 0) {
			size_t kl = strcspn(p + 3, " \n");

			(*na)++;
			EXPECT(rn, allowed_refusal(p + 3, kl), "refused where it must work: %.*s",
			       len, p);
		} else if (strncmp(p, "LEAK ", 5) == 0 || strncmp(p, "MISSED ", 7) == 0 ||
			   strncmp(p, "BAD ", 4) == 0) {
			EXPECT(rn, false, "%.*s", len, p);
		}
	}
}

/* Any token in text that is not the run's own. */
static void scan_tokens(const struct run *rn, const char *what, const char *text)
{
	for (const char *p = strstr(text, "tk"); p; p = strstr(p + 2, "tk")) {
		if (strspn(p + 2, "0123456789abcdef") < TOKEN_LEN - 2)
			continue;
		EXPECT(rn, strncmp(p, rn->token, TOKEN_LEN) == 0, "another run's token in %s: %.*s",
		       what, TOKEN_LEN, p);
	}
}

/* ------------------------------------------------------------ run checks */

struct outcome {
	const char *mode;
	int error;
	int exit_code;
	bool exit_handlers; /* atexit / process 'exit' handlers ran */
};

static const struct outcome outcomes[] = {
    {"return", BRIG_OK, 0, true},
    {"sys_exit", BRIG_OK, 7, true},
    {"os_exit", BRIG_OK, 5, false},
    {"raise", BRIG_OK, 1, true},
    {"sigkill", BRIG_E_GUEST_ABORT, 137, false},
    {"exit", BRIG_OK, 3, true},
    {"throw", BRIG_OK, 1, true},
    {"kill", BRIG_E_GUEST_ABORT, 137, false},
    {"cancel", BRIG_E_CANCELLED, -2, false},
    {"timeout", BRIG_E_CANCELLED, -2, false},
};

static const struct outcome *outcome_of(const char *mode)
{
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (strcmp(outcomes[i].mode, mode) == 0)
			return &outcomes[i];
	abort();
}

/* The last non-empty line of out (a static buffer). */
static const char *last_line(const char *out)
{
	static char buf[256];
	size_t n = strlen(out);
	const char *p;

	while (n && out[n - 1] == '\n')
		n--;
	for (p = out + n; p > out && p[-1] != '\n'; p--)
		;
	snprintf(buf, sizeof(buf), "%.*s", (int)(out + n - p), p);
	return buf;
}

/* The run ended as its mode says; after a finished probe, its exit traces show. */
static void check_exit(const struct run *rn, const char *out, bool done)
{
	const struct outcome *oc = outcome_of(rn->mode);
	int err = brig_result_error(rn->r), code = brig_result_exit_code(rn->r);
	char line[64];

	EXPECT(rn, err == oc->error, "error %s (%s), expected %s", brig_err_name(err),
	       brig_result_message(rn->r), brig_err_name(oc->error));
	if (oc->exit_code != -2)
		EXPECT(rn, code == oc->exit_code, "exit code %d, expected %d", code, oc->exit_code);
	if (strcmp(rn->mode, "timeout") == 0)
		EXPECT(rn, brig_result_limit(rn->r) == BRIG_LIMIT_WALL,
		       "not ended by the wall limit");
	if (strcmp(rn->mode, "cancel") == 0)
		EXPECT(rn, brig_result_limit(rn->r) == BRIG_LIMIT_NONE, "cancel reported a limit");
	if (!oc->exit_handlers || !done)
		return;
	/* The traces left in exit handlers and buffers appear, and in this run only. */
	if (rn->lang == BRIG_LANG_PYTHON) {
		const char *kinds[] = {"carry-atexit", "carry-unflushed", "carry-cbuf"};
		const char *what[] = {"an atexit handler did not run",
				      "sys.stdout's buffer was lost at exit",
				      "C stdio's buffer was lost at exit (python3 flushes it)"};

		for (int i = 0; i < 3; i++) {
			snprintf(line, sizeof(line), "%s %s", kinds[i], rn->token);
			EXPECT(rn, has_line(out, line), "%s: no \"%s\" line", what[i], line);
		}
	} else {
		snprintf(line, sizeof(line), "carry-exit %s", rn->token);
		EXPECT(rn, has_line(out, line), "an 'exit' listener did not run: no \"%s\" line",
		       line);
	}
}

static void check_run(const struct run *rn)
{
	const char *out, *err, *kinds;
	int seen, na;
	bool done;

	CHECK(rn->r != NULL);
	if (!rn->r)
		return;
	out = brig_result_stdout(rn->r, NULL);
	err = brig_result_stderr(rn->r, NULL);
	done = has_line(out, "DONE");
	EXPECT(rn, done, "the probe did not finish (%s: %s); its last line: %s; stderr: %s",
	       brig_err_name(brig_result_error(rn->r)), brig_result_message(rn->r), last_line(out),
	       err);
	check_exit(rn, out, done);
	scan_verdicts(rn, out, &seen, &na);
	if (done) {
		kinds = line_after(out, "KINDS ");
		EXPECT(rn, kinds && atoi(kinds) == seen + na,
		       "%d kinds of %d found their own trace (%d refused)", seen + na,
		       kinds ? atoi(kinds) : -1, na);
		EXPECT(rn, seen >= 20, "only %d kinds of trace were left", seen);
	}
	scan_tokens(rn, "stdout", out);
	scan_tokens(rn, "stderr", err);
}

/* --------------------------------------------------------- across runs */

/* Each "FP" line of every run of lang equals the first run's. */
static void check_fingerprints(const struct phase *ph, brig_lang lang)
{
	const struct run *ref = NULL;

	for (int i = 0; i < ph->n; i++) {
		const struct run *rn = &ph->runs[i];
		const char *out;

		if (rn->lang != lang || !rn->r)
			continue;
		out = brig_result_stdout(rn->r, NULL);
		if (!ref) {
			ref = rn;
			continue;
		}
		for (const char *p = brig_result_stdout(ref->r, NULL); p && *p;
		     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
			char name[64], want[8192];
			const char *got;

			if (strncmp(p, "FP ", 3) != 0 || sscanf(p + 3, "%63s", name) != 1)
				continue;
			snprintf(want, sizeof(want), "%s", line_value(p, "FP", name));
			got = line_value(out, "FP", name);
			EXPECT(rn, got && strcmp(got, want) == 0,
			       "state at start differs from run %s: %s\n  was: %s\n  now: %s",
			       ref->token, name, want, got ? got : "(missing)");
		}
	}
}

/* Every "RAND kind" value of lang differs in every run. */
static int check_randomness(const struct phase *ph, brig_lang lang)
{
	static char vals[MAX_RUNS][128];
	const char *first = NULL;
	int runs = 0;

	for (int i = 0; i < ph->n && !first; i++)
		if (ph->runs[i].lang == lang && ph->runs[i].r)
			first = brig_result_stdout(ph->runs[i].r, NULL);
	for (const char *p = first; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char kind[64];
		int n = 0;

		if (strncmp(p, "RAND ", 5) != 0 || sscanf(p + 5, "%63s", kind) != 1)
			continue;
		for (int i = 0; i < ph->n; i++) {
			const struct run *rn = &ph->runs[i];
			const char *v;
			int j = 0;

			if (rn->lang != lang || !rn->r)
				continue;
			v = line_value(brig_result_stdout(rn->r, NULL), "RAND", kind);
			EXPECT(rn, v != NULL, "no random value %s", kind);
			snprintf(vals[n], sizeof(vals[n]), "%s", v ? v : "");
			while (j < n && strcmp(vals[j], vals[n]) != 0)
				j++;
			EXPECT(rn, !v || j == n, "random value %s repeats an earlier run's: %s",
			       kind, vals[n]);
			n++;
		}
		runs = n;
	}
	return runs;
}

static void host_ns(const char *kind, char *out, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	n = readlink(path, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/*
 * Each run's namespaces differ from the host's, and within a round (runs
 * alive at once) from each other's.  Sequential runs may share an inode
 * number legitimately: the kernel reuses a freed namespace's.
 */
static void check_namespaces(const struct phase *ph)
{
	for (size_t k = 0; k < sizeof(own_ns) / sizeof(own_ns[0]); k++) {
		char host[64];

		host_ns(own_ns[k], host, sizeof(host));
		for (int i = 0; i < ph->n; i++) {
			const struct run *a = &ph->runs[i];
			char va[64];
			const char *v;

			if (!a->r ||
			    !(v = line_value(brig_result_stdout(a->r, NULL), "NS", own_ns[k])))
				continue;
			snprintf(va, sizeof(va), "%s", v);
			EXPECT(a, strcmp(va, host) != 0, "in the host's %s namespace", own_ns[k]);
			for (int j = 0; j < i; j++) {
				const struct run *b = &ph->runs[j];
				const char *vb;

				if (a->round < 0 || b->round != a->round || !b->r)
					continue;
				vb = line_value(brig_result_stdout(b->r, NULL), "NS", own_ns[k]);
				EXPECT(a, vb && strcmp(va, vb) != 0,
				       "shares its %s namespace %s with run %s", own_ns[k], va,
				       b->token);
			}
		}
	}
}

/* No host process carries a token of this phase (the runs' leftovers). */
static int leftover_processes(const struct phase *ph, bool report)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	while (d && (e = readdir(d))) {
		char path[300], cmd[4096];
		FILE *f;
		size_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[n] = '\0';
		for (int i = 0; i < ph->n; i++) {
			if (!strstr(cmd, ph->runs[i].token))
				continue;
			found++;
			if (report)
				failf(&ph->runs[i], "process %s outlived its run: %s", e->d_name,
				      cmd);
		}
	}
	if (d)
		closedir(d);
	return found;
}

static void check_no_leftovers(const struct phase *ph)
{
	/* The jails are gone when brig_run returns; allow the kernel a moment to reap. */
	for (int i = 0; i < 100 && leftover_processes(ph, false); i++)
		usleep(50 * 1000);
	CHECK(leftover_processes(ph, true) == 0);
}

static void check_warmth(const struct phase *ph)
{
	for (int i = 0; i < ph->n; i++) {
		const struct run *rn = &ph->runs[i];

		if (rn->r)
			EXPECT(rn, brig_result_warm(rn->r) == ph->warm[rn->lang], "started %s",
			       brig_result_warm(rn->r) ? "warm" : "cold");
	}
}

/* ------------------------------------------------------------------ phases */

static void run_phase(struct phase *ph, int sequential, int rounds)
{
	int py, js;

	for (int i = 0; i < sequential; i++) {
		do_run(add_run(ph, BRIG_LANG_PYTHON, py_modes[i % 6], -1));
		do_run(add_run(ph, BRIG_LANG_JS, js_modes[i % 5], -1));
	}
	do_run(add_run(ph, BRIG_LANG_PYTHON, "timeout", -1));
	do_run(add_run(ph, BRIG_LANG_JS, "timeout", -1));
	for (int r = 0; r < rounds; r++)
		run_round(ph, r);
	for (int i = 0; i < ph->n; i++)
		check_run(&ph->runs[i]);
	check_warmth(ph);
	check_fingerprints(ph, BRIG_LANG_PYTHON);
	check_fingerprints(ph, BRIG_LANG_JS);
	py = check_randomness(ph, BRIG_LANG_PYTHON);
	js = check_randomness(ph, BRIG_LANG_JS);
	CHECK(py >= 20 && js >= 20);
	check_namespaces(ph);
	check_no_leftovers(ph);
	printf("%s: %d runs (%d Python, %d JS; %d in %d concurrent rounds of %d)\n", ph->name,
	       ph->n, py, js, rounds * ROUND_SIZE, rounds, ROUND_SIZE);
}

static brig_executor *executor(bool warm)
{
	return test_executor_warm(warm ? 1 : -1);
}

/*
 * With warm start on, every run of a language whose zygote is up must have
 * been warm (else this test would prove nothing of warm start); with it
 * off, none.  Python must have one; JS when brig has a JS zygote.
 */
static void prewarm(struct phase *ph, bool warm)
{
	for (int l = BRIG_LANG_PYTHON; l <= BRIG_LANG_JS; l++) {
		int rc = brig_executor_prewarm(ph->ex, (brig_lang)l, PREWARM_MS);

		ph->warm[l] = warm && rc == BRIG_OK;
		if (!warm)
			CHECK(rc == BRIG_E_UNSUPPORTED);
		else if (l == BRIG_LANG_PYTHON)
			CHECK(rc == BRIG_OK);
		else if (rc != BRIG_OK)
			printf("%s: no %s zygote (%s): its runs start cold\n", ph->name,
			       brig_lang_name((brig_lang)l), brig_err_name(rc));
	}
}

static void phase(const char *name, bool warm, int sequential, int rounds)
{
	struct phase *ph = calloc(1, sizeof(*ph));

	CHECK(ph != NULL);
	if (!ph)
		return;
	ph->name = name;
	pthread_mutex_init(&ph->barrier.mu, NULL);
	pthread_cond_init(&ph->barrier.cv, NULL);
	if ((ph->ex = executor(warm))) {
		prewarm(ph, warm);
		run_phase(ph, sequential, rounds);
		brig_executor_free(ph->ex);
	}
	CHECK(ph->ex != NULL);
	for (int i = 0; i < ph->n; i++)
		brig_result_free(ph->runs[i].r);
	pthread_mutex_destroy(&ph->barrier.mu);
	pthread_cond_destroy(&ph->barrier.cv);
	free(ph);
}

int main(void)
{
	phase("warm", true, 24, 2);
	phase("cold", false, 16, 1);
	return CHECK_DONE();
}
