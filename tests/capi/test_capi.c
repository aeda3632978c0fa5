/*
 * The C API end to end: executor lifecycle, results, limits, threads,
 * capabilities and their isolation between runs.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

static brig_executor *ex;

static brig_result *run_lang(brig_lang lang, const char *code, const brig_run_opts *o)
{
	brig_result *r = NULL;

	brig_run(ex, lang, code, strlen(code), o, &r);
	return r;
}

static brig_result *py(const char *code, const brig_run_opts *o)
{
	return run_lang(BRIG_LANG_PYTHON, code, o);
}

static bool out_is(const brig_result *r, const char *want)
{
	return r && strcmp(brig_result_stdout(r, NULL), want) == 0;
}

static void errors_and_names(void)
{
	CHECK_STR(brig_err_name(BRIG_E_CANCELLED), "ERR_CANCELLED");
	CHECK_STR(brig_err_name(BRIG_E_POISONED), "ERR_POISONED");
	CHECK_STR(brig_err_name(BRIG_E_IO), "ERR_IO");
	CHECK_STR(brig_err_name(12345), "ERR_UNKNOWN");
	for (int c = 0; c >= BRIG_E_IO; c--)
		CHECK(strcmp(brig_strerror(c), "unknown error") != 0);
	brig_lang l;
	CHECK(brig_lang_parse("py", &l) == 0 && l == BRIG_LANG_PYTHON);
	CHECK(brig_lang_parse("javascript", &l) == 0 && l == BRIG_LANG_JS);
	CHECK(brig_lang_parse("cobol", &l) == BRIG_E_INVAL);
	CHECK_STR(brig_lang_name(BRIG_LANG_SH), "sh");
}

static void basic_run(void)
{
	size_t len;
	brig_result *r =
	    py("import sys\nprint('hi')\nprint('err', file=sys.stderr)\nsys.exit(3)", NULL);
	char *json;

	CHECK(brig_result_error(r) == BRIG_OK);
	CHECK(brig_result_exit_code(r) == 3);
	CHECK(out_is(r, "hi\n"));
	CHECK_STR(brig_result_stderr(r, &len), "err\n");
	CHECK(len == 4);
	CHECK(!brig_result_stdout_truncated(r) && !brig_result_stderr_truncated(r));
	CHECK(brig_result_wall_us(r) > 0 && brig_result_cpu_us(r) > 0);
	json = brig_result_to_json(r);
	CHECK(json && strstr(json, "\"exit_code\":3") && strstr(json, "\"ok\":true"));
	free(json);
	brig_result_free(r);
}

static void invalid_args(void)
{
	brig_result *r = NULL;
	brig_run_opts o;

	CHECK(brig_run(NULL, BRIG_LANG_PYTHON, "1", 1, NULL, &r) == BRIG_E_INVAL);
	brig_result_free(r);
	CHECK(brig_run(ex, (brig_lang)42, "1", 1, NULL, &r) == BRIG_E_INVAL);
	brig_result_free(r);
	CHECK(brig_run(ex, BRIG_LANG_SH, "a\0b", 3, NULL, &r) == BRIG_E_INVAL);
	brig_result_free(r);
	brig_run_opts_init(&o);
	o.limits.memory_bytes = 1024;
	CHECK(brig_run(ex, BRIG_LANG_PYTHON, "1", 1, &o, &r) == BRIG_E_INVAL);
	CHECK(strstr(brig_result_message(r), "memory") != NULL);
	brig_result_free(r);
	brig_run_opts_init(&o);
	o.limits.max_code_bytes = 10;
	CHECK(brig_run(ex, BRIG_LANG_PYTHON, "print(12345678)", 15, &o, &r) == BRIG_E_INVAL);
	brig_result_free(r);
}

static void limits(void)
{
	brig_run_opts o;
	brig_result *r;

	brig_run_opts_init(&o);
	o.limits.wall_timeout_ms = 300;
	r = py("import time\ntime.sleep(30)", &o);
	CHECK(brig_result_error(r) == BRIG_E_CANCELLED && brig_result_limit(r) == BRIG_LIMIT_WALL);
	brig_result_free(r);

	brig_run_opts_init(&o);
	o.limits.cpu_timeout_ms = 300;
	r = py("while True: pass", &o);
	CHECK(brig_result_error(r) == BRIG_E_CANCELLED && brig_result_limit(r) == BRIG_LIMIT_CPU);
	brig_result_free(r);

	brig_run_opts_init(&o);
	o.limits.memory_bytes = 48 << 20;
	r = py("x = bytearray(200 * 1024 * 1024)", &o);
	CHECK(brig_result_error(r) == BRIG_E_LIMIT && brig_result_limit(r) == BRIG_LIMIT_MEMORY);
	brig_result_free(r);

	brig_run_opts_init(&o);
	o.limits.max_output_bytes = 100;
	r = run_lang(BRIG_LANG_SH, "yes", &o);
	CHECK(brig_result_error(r) == BRIG_E_LIMIT && brig_result_limit(r) == BRIG_LIMIT_OUTPUT);
	CHECK(brig_result_stdout_truncated(r));
	size_t len;
	brig_result_stdout(r, &len);
	CHECK(len == 100);
	brig_result_free(r);
}

/* How deep JavaScript recursion gets under stack_bytes (0: node's own), or -1. */
static long js_depth(uint64_t stack_bytes, int *err)
{
	const char *code = "let d = 0;\nfunction f() { d++; f(); }\ntry { f(); } catch (e) {}\n"
			   "console.log(d);\n";
	brig_run_opts o;
	brig_result *r;
	long depth = -1;

	brig_run_opts_init(&o);
	o.limits.stack_bytes = stack_bytes;
	r = run_lang(BRIG_LANG_JS, code, &o);
	*err = brig_result_error(r);
	if (*err == BRIG_OK && brig_result_exit_code(r) == 0)
		depth = strtol(brig_result_stdout(r, NULL), NULL, 10);
	brig_result_free(r);
	return depth;
}

/* brig_limits.stack_bytes is V8's stack: recursion stops sooner, or later. */
static void js_stack_limit(void)
{
	int err;
	long small = js_depth(128 << 10, &err);
	long dflt = js_depth(0, &err);
	long large = js_depth(4 << 20, &err);

	CHECK(small > 100 && dflt > small && large > dflt);
	CHECK(js_depth(32 << 10, &err) == -1 && err == BRIG_E_INVAL);
	CHECK(js_depth(BRIG_MAX_STACK_BYTES + 4096, &err) == -1 && err == BRIG_E_INVAL);
}

/* brig_limits.mount_write_bytes bounds what a run adds through rwc mounts. */
static void rwc_write_limit(void)
{
	const char *code = "import errno\n"
			   "try:\n"
			   "    open('/out/big', 'wb').write(b'x' * (1 << 20))\n"
			   "except OSError as e:\n"
			   "    print(errno.errorcode[e.errno])\n";
	char dir[64], path[128];
	brig_caps *caps = NULL;
	brig_run_opts o;
	brig_result *r;
	struct stat st;

	CHECK(rwc_dir(dir) == 0 && brig_caps_new(&caps) == BRIG_OK);
	CHECK(brig_caps_mount(caps, "/out", dir, BRIG_MOUNT_RWC) == BRIG_OK);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.limits.mount_write_bytes = 256 << 10;
	r = py(code, &o);
	CHECK(brig_result_error(r) == BRIG_OK && out_is(r, "ENOSPC\n"));
	brig_result_free(r);
	snprintf(path, sizeof(path), "%s/big", dir);
	CHECK(stat(path, &st) == 0 && st.st_size > 0 && st.st_size <= 256 << 10);
	CHECK(unlink(path) == 0);

	/* What cannot be committed fails the run, naming it; the rest is there. */
	r = py("import os\nos.mkfifo('/out/p')\nopen('/out/q', 'w').write('q')", &o);
	CHECK(brig_result_error(r) == BRIG_E_DENIED && brig_result_exit_code(r) == 0);
	CHECK(strstr(brig_result_message(r), "/out/p (a FIFO)") != NULL);
	CHECK_STR(rwc_read(dir, "q"), "q");
	snprintf(path, sizeof(path), "%s/p", dir);
	CHECK(lstat(path, &st) < 0);
	brig_result_free(r);

	o.limits.mount_write_bytes = 1000;
	r = py("pass", &o);
	CHECK(brig_result_error(r) == BRIG_E_INVAL);
	brig_result_free(r);
	brig_caps_free(caps);
	rwc_dir_remove(dir);
}

static void stdin_and_stream(void)
{
	brig_run_opts o;
	brig_result *r;

	brig_run_opts_init(&o);
	o.stdin_data = "abc\ndef\n";
	o.stdin_len = 8;
	r = run_lang(BRIG_LANG_SH, "wc -l", &o);
	CHECK(out_is(r, "2\n"));
	brig_result_free(r);
}

static void *thread_main(void *arg)
{
	long id = (long)arg;
	int *fails = calloc(1, sizeof(int));

	for (int i = 0; i < 25; i++) {
		char code[64], want[64];
		brig_result *r;

		snprintf(code, sizeof(code), "print(%ld * 1000 + %d)", id, i);
		snprintf(want, sizeof(want), "%ld\n", id * 1000 + i);
		r = py(code, NULL);
		if (brig_result_error(r) != BRIG_OK || !out_is(r, want))
			(*fails)++;
		brig_result_free(r);
	}
	return fails;
}

/* 8 threads x 25 runs on one executor; every run sees only its own output. */
static void threads(void)
{
	pthread_t t[8];
	int total = 0, fds_before = count_dir("/proc/self/fd");

	for (long i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)i);
	for (int i = 0; i < 8; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		total += *(int *)ret;
		free(ret);
	}
	CHECK(total == 0);
	CHECK(count_dir("/proc/self/fd") == fds_before);
}

static int echo_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)name;
	if (strstr(args, "\"fail\"")) {
		*err = strdup("asked to fail");
		return 1;
	}
	if (asprintf(result, "{\"tag\":\"%s\",\"args\":%s}", (const char *)ud, args) < 0)
		return 1;
	return 0;
}

static void host_functions(void)
{
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r;

	brig_caps_new(&caps);
	CHECK(brig_caps_add_function(caps, "echo", echo_fn, "runA") == BRIG_OK);
	CHECK(brig_caps_add_function(caps, "echo", echo_fn, "dup") == BRIG_E_INVAL);
	brig_run_opts_init(&o);
	o.caps = caps;
	r = py("print(call('echo', x=1)['args']['x'], call('echo', x=1)['tag'])\n"
	       "try:\n    call('echo', fail=True)\nexcept RuntimeError as e:\n    print(e)\n"
	       "try:\n    call('nope')\nexcept RuntimeError as e:\n    print(e)\n",
	       &o);
	CHECK(out_is(r, "1 runA\nasked to fail\nunknown host function: nope\n"));
	brig_result_free(r);
	/* Run B, without the grant, cannot reach what run A could. */
	r = py("try:\n    call('echo', x=1)\nexcept RuntimeError as e:\n    print(e)\n", NULL);
	CHECK(out_is(r, "unknown host function: echo\n"));
	brig_result_free(r);
	brig_caps_free(caps);
}

static void capability_isolation(void)
{
	brig_caps *a;
	brig_run_opts o;
	brig_result *r;
	/* Past the allowlist the request may fail (no network) or succeed. */
	const char *probe = "try:\n    http.get('http://api.example.com/')\n"
			    "except PermissionError as e:\n    print('denied', e)\n"
			    "except OSError as e:\n    print('allowed')\n"
			    "else:\n    print('allowed')\n";

	brig_caps_new(&a);
	brig_caps_allow_host(a, "api.example.com");
	brig_run_opts_init(&o);
	o.caps = a;
	r = py(probe, &o);
	/* Offline the lookup fails, but the allowlist let the request through. */
	CHECK(out_is(r, "allowed\n"));
	brig_result_free(r);
	r = py(probe, NULL);
	CHECK(out_is(r, "denied host not allowed: api.example.com\n"));
	brig_result_free(r);
	/* Changing the caps after a run started cannot matter; freeing them is safe. */
	brig_caps_free(a);
}

static void shared_kv(void)
{
	brig_kv *kv;
	brig_caps *caps;
	brig_run_opts o;
	brig_result *r;
	char *json = NULL;

	brig_kv_new(NULL, &kv);
	brig_caps_new(&caps);
	brig_caps_set_kv(caps, kv);
	brig_run_opts_init(&o);
	o.caps = caps;
	r = py("kv.set('n', kv.get('n', default=0) + 1)", &o);
	brig_result_free(r);
	r = py("kv.set('n', kv.get('n', default=0) + 1)\nprint(kv.get('n'))", &o);
	CHECK(out_is(r, "2\n"));
	brig_result_free(r);
	CHECK(brig_kv_get(kv, "n", &json) == BRIG_OK && strcmp(json, "2") == 0);
	free(json);
	/* Without the store, a run gets its own empty one. */
	r = py("print(kv.get('n'))", NULL);
	CHECK(out_is(r, "None\n"));
	brig_result_free(r);
	brig_caps_free(caps);
	brig_kv_free(kv);
}

static void die_42(int sig)
{
	(void)sig;
	_exit(42);
}

/*
 * The jail's init is a clone of the embedder: a handler the embedder
 * installed must not be reachable by the guest signalling pid 1.
 */
static void embedder_handlers_unreachable(void)
{
	struct sigaction sa, old;
	brig_result *r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = die_42;
	sigaction(SIGUSR1, &sa, &old);
	r = py("import os, signal, time\nos.kill(1, signal.SIGUSR1)\ntime.sleep(0.2)\n"
	       "print('alive')",
	       NULL);
	CHECK(brig_result_error(r) == BRIG_OK && out_is(r, "alive\n"));
	brig_result_free(r);
	sigaction(SIGUSR1, &old, NULL);
}

static void registration_after_start(void)
{
	CHECK(brig_executor_register_function(ex, "late", echo_fn, NULL) == BRIG_E_INVAL);
}

static void executor_functions(void)
{
	brig_executor *e2;
	brig_result *r = NULL;

	CHECK(brig_executor_new(NULL, &e2, NULL) == BRIG_OK);
	CHECK(brig_executor_register_function(e2, "tagged", echo_fn, "exec") == BRIG_OK);
	CHECK(brig_executor_register_function(e2, "", echo_fn, NULL) == BRIG_E_INVAL);
	brig_run(e2, BRIG_LANG_PYTHON, "print(call('tagged')['tag'])", 28, NULL, &r);
	CHECK(out_is(r, "exec\n"));
	brig_result_free(r);
	brig_executor_free(e2);
}

int main(void)
{
	if (!(ex = test_executor()))
		return 1;
	errors_and_names();
	basic_run();
	invalid_args();
	limits();
	js_stack_limit();
	rwc_write_limit();
	stdin_and_stream();
	threads();
	host_functions();
	capability_isolation();
	shared_kv();
	embedder_handlers_unreachable();
	registration_after_start();
	executor_functions();
	brig_executor_free(ex);
	return CHECK_DONE();
}
