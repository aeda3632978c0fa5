/*
 * Host calls through the C API: the host memory a guest's calls can take
 * (measured as this process's peak RSS), cancellation of calls in flight
 * when a run or a session call ends, and many calls in flight at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static brig_executor *ex;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool out_has(const brig_result *r, const char *want)
{
	return r && strstr(brig_result_stdout(r, NULL), want) != NULL;
}

static void show(const char *what, const brig_result *r)
{
	if (r)
		fprintf(stderr, "%s: %s (%s)\nstdout: %.2000s\nstderr: %.2000s\n", what,
			brig_err_name(brig_result_error(r)), brig_result_message(r),
			brig_result_stdout(r, NULL), brig_result_stderr(r, NULL));
}

/* ------------------------------------------------------------ memory */

/* A field of /proc/self/status, in bytes. */
static long status_bytes(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb * 1024;
}

/* Start measuring the peak RSS from now (proc(5), clear_refs: 5). */
static bool reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, "5", 1) == 1;

	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * The review's attack: stall the workers with kv.get replies left unread,
 * then send four CALL frames of JSON that costs many times its size once
 * parsed.  SHAPE builds `big`, the JSON text of one call of about 7 MiB; the
 * frame limit is 8 MiB.  The host stops reading while the replies fill its
 * budget, which blocks the guest's writes: a thread reads the replies after
 * two seconds, and the run can finish.
 */
static const char attack_head[] =
    "import os, struct, json, threading, time, brig\n"
    "def u32(n):\n"
    "    return struct.pack('<I', n)\n"
    "def send(b):\n"
    "    v = memoryview(b)\n"
    "    while v:\n"
    "        v = v[os.write(3, v):]\n"
    "def call(cid, text):\n"
    "    body = u32(cid) + u32(len(text)) + text\n"
    "    send(u32(len(body) + 1) + b'\\x02' + body)\n"
    "seen = {}\n"
    "def read_replies():\n"
    "    time.sleep(2)\n"
    "    buf = b''\n"
    "    while len(seen) < 404:\n"
    "        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], 'little'):\n"
    "            buf += os.read(3, 1 << 20)\n"
    "        n = int.from_bytes(buf[:4], 'little')\n"
    "        body, buf = buf[5:4 + n], buf[4 + n:]\n"
    "        jl = int.from_bytes(body[4:8], 'little')\n"
    "        seen[int.from_bytes(body[:4], 'little')] = json.loads(body[8:8 + jl])\n"
    "brig.kv.set('big', 'x' * 60000)\n"
    "os.set_blocking(3, True)\n"
    "reader = threading.Thread(target=read_replies)\n"
    "reader.start()\n"
    "for i in range(400):\n"
    "    call(1000 + i, b'{\"fn\":\"kv.get\",\"args\":{\"key\":\"big\"}}')\n"
    "N = 7 << 20\n";

static const char attack_tail[] =
    "text = b'{\"fn\":\"call\",\"args\":{\"name\":\"f\",\"args\":{\"x\":' + big + b'}}}'\n"
    "assert len(text) < 8 << 20\n"
    "for i in range(4):\n"
    "    call(5000 + i, text)\n"
    "reader.join()\n"
    "errs = [seen[5000 + i].get('error', {}) for i in range(4)]\n"
    "print('types', sorted({e.get('type') for e in errs}))\n"
    "print('too large', all('host call too large' in e.get('message', '') for e in errs))\n"
    "print('kv ok', sum(seen[1000 + i].get('ok', {}).get('found') is True for i in "
    "range(400)))\n";

static const struct {
	const char *name;
	const char *build; /* python: big = JSON text of about N bytes */
} shapes[] = {
    {"empty arrays", "big = b'[' + b'[],' * (N // 3) + b'[]]'\n"},
    {"empty objects", "big = b'[' + b'{},' * (N // 3) + b'{}]'\n"},
    {"tiny numbers", "big = b'[' + b'0,' * (N // 2) + b'0]'\n"},
    {"short strings", "big = b'[' + b'\"\",' * (N // 3) + b'\"\"]'\n"},
    {"nesting", "big = b'[' + b','.join([b'[[[[[[[[]]]]]]]]'] * (N // 17)) + b']'\n"},
    {"many keys", "big = b'{' + b','.join(b'\"%x\":0' % i for i in range(N // 10)) + b'}'\n"},
    {"long string", "big = b'\"' + b'a' * N + b'\"'\n"},
};

#define FRAME_LIMIT (8u << 20)

/*
 * One attack in a child process of its own, so that what the allocator
 * kept from an earlier attack does not count against this one.  Writes the
 * run's output and the growth of the peak RSS to fd.
 */
static void attack_child(const char *code, int fd)
{
	brig_run_opts o;
	brig_result *r = NULL;
	long before, peak;
	bool measured;
	char line[512];
	int n;

	brig_run_opts_init(&o);
	o.limits.max_frame_bytes = FRAME_LIMIT;
	o.limits.memory_bytes = 512u << 20;
	o.limits.wall_timeout_ms = 120000;
	before = status_bytes("VmRSS");
	measured = reset_peak();
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	peak = status_bytes("VmHWM");
	n = snprintf(line, sizeof(line), "%ld %s\n%s", measured ? peak - before : -1,
		     brig_err_name(brig_result_error(r)), brig_result_stdout(r, NULL));
	if (write(fd, line, (size_t)n) != n)
		_exit(1);
	brig_result_free(r);
	_exit(0);
}

static void memory_bound(void)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char code[4096], out[512] = "";
		long grown = -1;
		ssize_t n, got = 0;
		int fds[2], status;
		pid_t pid;

		snprintf(code, sizeof(code), "%s%s%s", attack_head, shapes[i].build, attack_tail);
		if (pipe(fds) < 0 || (pid = fork()) < 0) {
			CHECK(0);
			return;
		}
		if (pid == 0) {
			close(fds[0]);
			attack_child(code, fds[1]);
		}
		close(fds[1]);
		while ((n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
			got += n;
		close(fds[0]);
		waitpid(pid, &status, 0);
		sscanf(out, "%ld", &grown);
		fprintf(stderr, "%s: peak RSS grew %ld MiB\n", shapes[i].name, grown >> 20);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(strstr(out, " OK\n") != NULL);
		CHECK(strstr(out, "types ['ValueError']\n") != NULL);
		CHECK(strstr(out, "too large True\n") != NULL);
		CHECK(strstr(out, "kv ok 400\n") != NULL);
		/*
		 * The documented bound: about 2 x max_frame_bytes, plus a reply
		 * per worker (kv values: 64 KiB) and a few MiB.
		 */
		if (grown >= 0 && !UNDER_ASAN)
			CHECK(grown < 2 * (long)FRAME_LIMIT + (12l << 20));
		if (!strstr(out, "too large True"))
			fprintf(stderr, "%s: %s\n", shapes[i].name, out);
	}
}

/* Returns `[[],[],...]` of 3 MiB: parsed, some 140 MiB. */
static int amplifying_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	size_t n = (3u << 20) / 3, len = 3 * n + 1;
	char *s = malloc(len + 1);

	(void)ud, (void)name, (void)args, (void)err;
	if (!s)
		return -1;
	s[0] = '[';
	for (size_t i = 0; i < n; i++)
		memcpy(s + 1 + 3 * i, "[],", 3);
	s[len - 2] = ']';
	s[len - 1] = '\0';
	*result = s;
	return 0;
}

static void result_bound(void)
{
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r = NULL;
	long before, peak;
	bool measured;
	const char *code = "try:\n"
			   "    call('amplify')\n"
			   "except ValueError as e:\n"
			   "    print('refused', e)\n";

	brig_caps_new(&caps);
	brig_caps_add_function(caps, "amplify", amplifying_fn, NULL);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.limits.max_frame_bytes = 4u << 20;
	before = status_bytes("VmRSS");
	measured = reset_peak();
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	peak = status_bytes("VmHWM");
	CHECK(brig_result_error(r) == BRIG_OK);
	CHECK(out_has(r, "refused result of host function amplify is too large"));
	if (measured && !UNDER_ASAN)
		CHECK(peak - before < (24l << 20));
	if (!out_has(r, "refused"))
		show("result_bound", r);
	brig_result_free(r);
	brig_caps_free(caps);
}

/* ------------------------------------------------------- cancellation */

struct waiter {
	atomic_int calls;     /* callbacks entered */
	atomic_int active;    /* callbacks not returned yet */
	atomic_int cancelled; /* callbacks that learned they were cancelled */
	atomic_int wrong;     /* callbacks that found no call, or the wrong one */
	int ignore_ms;	      /* > 0: ignore cancellation and sleep this long */
};

static void reset_waiter(struct waiter *w, int ignore_ms)
{
	atomic_store(&w->calls, 0);
	atomic_store(&w->active, 0);
	atomic_store(&w->cancelled, 0);
	atomic_store(&w->wrong, 0);
	w->ignore_ms = ignore_ms;
}

/* Waits until its call is cancelled (or a minute), as a well-behaved function does. */
static int wait_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	struct waiter *w = ud;
	brig_hostcall *call = brig_hostcall_current();
	struct pollfd p = {brig_hostcall_cancel_fd(call), POLLIN, 0};

	(void)args, (void)result;
	atomic_fetch_add(&w->calls, 1);
	atomic_fetch_add(&w->active, 1);
	if (!call || !brig_hostcall_name(call) || strcmp(brig_hostcall_name(call), name) != 0)
		atomic_fetch_add(&w->wrong, 1);
	if (w->ignore_ms > 0) {
		usleep((useconds_t)w->ignore_ms * 1000);
	} else {
		while (poll(&p, 1, 60000) < 0 && errno == EINTR)
			;
	}
	if (brig_hostcall_cancelled(call))
		atomic_fetch_add(&w->cancelled, 1);
	*err = strdup("cancelled");
	atomic_fetch_sub(&w->active, 1);
	return -1;
}

static const char gather_wait_py[] = "import asyncio, brig\n"
				     "async def main():\n"
				     "    await asyncio.gather(*[brig.async_call('wait') for _ in "
				     "range(8)])\n"
				     "asyncio.run(main())\n";
static const char gather_wait_js[] =
    "await Promise.all(Array.from({length: 8}, () => asyncCall('wait')));\n";

static void deadline_cancels(brig_lang lang, const char *code)
{
	static struct waiter w;
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r = NULL;
	int threads = count_dir("/proc/self/task");
	uint64_t t0;

	reset_waiter(&w, 0);
	brig_caps_new(&caps);
	brig_caps_add_function(caps, "wait", wait_fn, &w);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.limits.wall_timeout_ms = 1000;
	t0 = now_ms();
	brig_run(ex, lang, code, strlen(code), &o, &r);
	/* Within the deadline plus a small constant, not the functions' minute. */
	CHECK(now_ms() - t0 < 6000);
	CHECK(brig_result_error(r) == BRIG_E_CANCELLED);
	CHECK(brig_result_limit(r) == BRIG_LIMIT_WALL);
	CHECK(atomic_load(&w.calls) == 8);
	CHECK(atomic_load(&w.cancelled) == 8);
	CHECK(atomic_load(&w.wrong) == 0);
	/* Every function returned, and no worker thread outlives the run. */
	CHECK(atomic_load(&w.active) == 0);
	CHECK(count_dir("/proc/self/task") == threads);
	if (atomic_load(&w.calls) != 8)
		show("deadline_cancels", r);
	brig_result_free(r);
	brig_caps_free(caps);
}

/* A function that ignores cancellation delays the run's return, documented so. */
static void ignored_cancellation_is_waited_for(void)
{
	static struct waiter w;
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r = NULL;
	const char *code = "call('wait')";
	uint64_t t0;

	reset_waiter(&w, 2500);
	brig_caps_new(&caps);
	brig_caps_add_function(caps, "wait", wait_fn, &w);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.limits.wall_timeout_ms = 500;
	t0 = now_ms();
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	CHECK(brig_result_error(r) == BRIG_E_CANCELLED);
	CHECK(atomic_load(&w.calls) == 1 && atomic_load(&w.active) == 0);
	CHECK(atomic_load(&w.cancelled) == 1);
	CHECK(now_ms() - t0 >= 2400);
	brig_result_free(r);
	brig_caps_free(caps);
}

static void no_call_outside_a_function(void)
{
	CHECK(brig_hostcall_current() == NULL);
	CHECK(!brig_hostcall_cancelled(NULL));
	CHECK(brig_hostcall_cancel_fd(NULL) == -1);
	CHECK(brig_hostcall_name(NULL) == NULL);
}

struct interrupter {
	brig_session *s;
	struct waiter *w;
};

static void *interrupt_later(void *arg)
{
	struct interrupter *it = arg;

	/* Once the call is inside the host function. */
	for (int i = 0; i < 1000 && atomic_load(&it->w->active) == 0; i++)
		usleep(10000);
	brig_session_interrupt(it->s);
	return NULL;
}

static void session_calls_cancel(brig_lang lang, const char *code)
{
	static struct waiter w;
	brig_session *s = NULL;
	brig_caps *caps;
	brig_run_opts o;
	brig_call_opts co;
	brig_result *r = NULL;
	struct interrupter it;
	pthread_t t;
	uint64_t t0;

	reset_waiter(&w, 0);
	brig_caps_new(&caps);
	brig_caps_add_function(caps, "wait", wait_fn, &w);
	brig_run_opts_init(&o);
	o.caps = caps;
	CHECK(brig_session_new(ex, lang, &o, &s, NULL) == BRIG_OK);
	if (!s) {
		brig_caps_free(caps);
		return;
	}
	/* The call's deadline cancels its host calls. */
	brig_call_opts_init(&co);
	co.wall_timeout_ms = 1000;
	t0 = now_ms();
	CHECK(brig_session_run(s, code, strlen(code), &co, &r) == BRIG_E_CANCELLED);
	CHECK(now_ms() - t0 < 6000);
	CHECK(atomic_load(&w.calls) == 8 && atomic_load(&w.cancelled) == 8);
	CHECK(atomic_load(&w.active) == 0);
	brig_result_free(r);
	r = NULL;
	brig_session_free(s);

	/* So does an interrupt from another thread. */
	reset_waiter(&w, 0);
	s = NULL;
	CHECK(brig_session_new(ex, lang, &o, &s, NULL) == BRIG_OK);
	if (s) {
		it = (struct interrupter){s, &w};
		pthread_create(&t, NULL, interrupt_later, &it);
		brig_call_opts_init(&co);
		co.wall_timeout_ms = 60000;
		t0 = now_ms();
		CHECK(brig_session_run(s, code, strlen(code), &co, &r) == BRIG_E_CANCELLED);
		CHECK(now_ms() - t0 < 15000);
		pthread_join(t, NULL);
		CHECK(atomic_load(&w.calls) >= 1);
		CHECK(atomic_load(&w.cancelled) == atomic_load(&w.calls));
		CHECK(atomic_load(&w.active) == 0);
		brig_result_free(r);
		brig_session_free(s);
	}
	brig_caps_free(caps);
}

/* ---------------------------------------------------- many in flight */

static int echo_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)ud, (void)name, (void)err;
	*result = strdup(args);
	return *result ? 0 : -1;
}

static void gather_many(brig_lang lang, int n)
{
	char code[1024], want[64];
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r = NULL;
	long sum = (long)n * (n - 1) / 2;

	if (lang == BRIG_LANG_PYTHON)
		snprintf(code, sizeof(code),
			 "import asyncio, brig\n"
			 "async def main():\n"
			 "    rs = await asyncio.gather(*[brig.async_call('echo', i=i) for i in "
			 "range(%d)])\n"
			 "    print('sum', sum(r['i'] for r in rs))\n"
			 "asyncio.run(main())\n",
			 n);
	else
		snprintf(code, sizeof(code),
			 "const rs = await Promise.all(Array.from({length: %d}, (_, i) => "
			 "asyncCall('echo', {i})));\n"
			 "console.log('sum', rs.reduce((a, r) => a + r.i, 0));\n",
			 n);
	snprintf(want, sizeof(want), "sum %ld\n", sum);
	brig_caps_new(&caps);
	brig_caps_add_function(caps, "echo", echo_fn, NULL);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.limits.wall_timeout_ms = 60000;
	brig_run(ex, lang, code, strlen(code), &o, &r);
	CHECK(brig_result_error(r) == BRIG_OK && out_has(r, want));
	if (brig_result_error(r) != BRIG_OK || !out_has(r, want))
		show(lang == BRIG_LANG_PYTHON ? "gather python" : "gather js", r);
	brig_result_free(r);
	brig_caps_free(caps);
}

int main(void)
{
	static const int many[] = {400, 1000, 5000};

	if (!(ex = test_executor()))
		return 1;
	no_call_outside_a_function();
	memory_bound();
	result_bound();
	deadline_cancels(BRIG_LANG_PYTHON, gather_wait_py);
	deadline_cancels(BRIG_LANG_JS, gather_wait_js);
	ignored_cancellation_is_waited_for();
	session_calls_cancel(BRIG_LANG_PYTHON, gather_wait_py);
	session_calls_cancel(BRIG_LANG_JS, gather_wait_js);
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++) {
		gather_many(BRIG_LANG_PYTHON, many[i]);
		gather_many(BRIG_LANG_JS, many[i]);
	}
	brig_executor_free(ex);
	return CHECK_DONE();
}
