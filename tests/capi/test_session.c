/*
 * Sessions, handlers, interrupts and snapshots through the C API.  Runs for
 * every language given on the command line (default: python and js).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

static brig_executor *ex;
static brig_lang lang;

#define PY (lang == BRIG_LANG_PYTHON)
/* The same snippet in each language. */
#define L(py, js) (PY ? (py) : (js))

static brig_session *open_session(const brig_run_opts *o)
{
	brig_session *s = NULL;
	char *why = NULL;

	if (brig_session_new(ex, lang, o, &s, &why) != BRIG_OK)
		fprintf(stderr, "session: %s\n", why ? why : "?");
	free(why);
	return s;
}

static int run(brig_session *s, const char *code, const brig_call_opts *o, char *out, size_t len)
{
	brig_result *r = NULL;
	int rc = brig_session_run(s, code, strlen(code), o, &r);

	if (out)
		snprintf(out, len, "%s", brig_result_stdout(r, NULL));
	if (rc == BRIG_OK && brig_result_exit_code(r) != 0)
		rc = 1000 + brig_result_exit_code(r); /* an uncaught exception */
	brig_result_free(r);
	return rc;
}

static bool prints(brig_session *s, const char *code, const char *want)
{
	char out[4096];
	int rc = run(s, code, NULL, out, sizeof(out));

	if (rc == BRIG_OK && strcmp(out, want) == 0)
		return true;
	fprintf(stderr, "%s: rc %d (%s), printed '%s', expected '%s'\n", brig_lang_name(lang), rc,
		brig_err_name(rc), out, want);
	return false;
}

static void persistence(void)
{
	brig_session *s = open_session(NULL);

	CHECK(s != NULL);
	CHECK(run(s,
		  L("x = 41\ndef f(): return x + 1\nimport json",
		    "globalThis.x = 41; globalThis.f = () => x + 1;"),
		  NULL, NULL, 0) == BRIG_OK);
	CHECK(run(s,
		  L("open('/tmp/state', 'w').write('kept')",
		    "const fs2 = require('fs'); fs2.writeFileSync('/tmp/state', 'kept')"),
		  NULL, NULL, 0) == (PY ? BRIG_OK : 1001)); /* JS code has no require */
	CHECK(prints(s, L("print(f(), json.dumps([x]))", "console.log(f(), JSON.stringify([x]))"),
		     "42 [41]\n"));
	if (PY)
		CHECK(prints(s, "print(open('/tmp/state').read())", "kept\n"));
	/* An uncaught error leaves the session usable. */
	CHECK(run(s, L("raise ValueError('boom')", "throw new Error('boom')"), NULL, NULL, 0) ==
	      1001);
	CHECK(!brig_session_poisoned(s));
	CHECK(prints(s, L("print(x)", "console.log(x)"), "41\n"));
	brig_session_free(s);
}

static void isolation(void)
{
	brig_session *a = open_session(NULL), *b = open_session(NULL);

	CHECK(run(a, L("secret = 'a'", "globalThis.secret = 'a'"), NULL, NULL, 0) == BRIG_OK);
	CHECK(prints(b, L("print('secret' in globals())", "console.log(typeof secret)"),
		     L("False\n", "undefined\n")));
	if (PY) {
		CHECK(run(a, "open('/tmp/only_a', 'w').write('1')", NULL, NULL, 0) == BRIG_OK);
		CHECK(prints(b, "import os\nprint(os.path.exists('/tmp/only_a'))", "False\n"));
	}
	brig_session_free(a);
	brig_session_free(b);
}

static void interactive(void)
{
	brig_session *s = open_session(NULL);
	brig_call_opts o;
	char out[256];
	bool done = true;

	brig_call_opts_init(&o);
	o.interactive = true;
	CHECK(run(s, "6 * 7", &o, out, sizeof(out)) == BRIG_OK && strcmp(out, "42\n") == 0);
	if (PY) {
		CHECK(prints(s, "print(_ + 1)", "43\n"));
		CHECK(brig_session_complete(s, "if True:\n", &done) == BRIG_OK && !done);
		CHECK(brig_session_complete(s, "if True:\n    x = 1\n\n", &done) == BRIG_OK &&
		      done);
	} else {
		CHECK(prints(s, "console.log(_ + 1)", "43\n"));
		CHECK(brig_session_complete(s, "function f() {", &done) == BRIG_OK && !done);
		CHECK(brig_session_complete(s, "function f() { return 1 }", &done) == BRIG_OK &&
		      done);
	}
	brig_session_free(s);
}

static void timeout_poisons(void)
{
	brig_session *s = open_session(NULL);
	brig_call_opts o;

	brig_call_opts_init(&o);
	o.wall_timeout_ms = 300;
	CHECK(run(s, L("while True: pass", "for (;;) {}"), &o, NULL, 0) == BRIG_E_CANCELLED);
	CHECK(brig_session_poisoned(s));
	CHECK(run(s, L("print(1)", "console.log(1)"), NULL, NULL, 0) == BRIG_E_POISONED);
	brig_call_opts_init(&o);
	o.cpu_timeout_ms = 300;
	brig_session_free(s);
	/* The CPU limit of one call, in a fresh session. */
	s = open_session(NULL);
	CHECK(run(s, L("while True: pass", "for (;;) {}"), &o, NULL, 0) == BRIG_E_CANCELLED);
	CHECK(brig_session_poisoned(s));
	brig_session_free(s);
}

struct killer {
	brig_session *s;
	bool soft;
	bool poisoned_during_call; /* what brig_session_poisoned said mid-call */
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	usleep(300 * 1000);
	/* An interrupt handle's view: this must answer while the call runs
	 * (were it to wait for the call, the busy loop would never end). */
	k->poisoned_during_call = brig_session_poisoned(k->s);
	if (k->soft)
		brig_session_break(k->s);
	else
		brig_session_interrupt(k->s);
	return NULL;
}

static void interrupt_from_another_thread(void)
{
	brig_session *s = open_session(NULL);
	struct killer k = {s, false, true};
	pthread_t t;

	pthread_create(&t, NULL, kill_later, &k);
	CHECK(run(s, L("while True: pass", "for (;;) {}"), NULL, NULL, 0) == BRIG_E_CANCELLED);
	pthread_join(t, NULL);
	CHECK(!k.poisoned_during_call);
	CHECK(brig_session_poisoned(s));
	brig_session_free(s);
	if (!PY)
		return;
	/* Python turns a break into KeyboardInterrupt and carries on. */
	s = open_session(NULL);
	k = (struct killer){s, true, true};
	CHECK(run(s, "y = 5", NULL, NULL, 0) == BRIG_OK);
	pthread_create(&t, NULL, kill_later, &k);
	CHECK(run(s, "while True: pass", NULL, NULL, 0) == 1001);
	pthread_join(t, NULL);
	CHECK(!brig_session_poisoned(s));
	CHECK(prints(s, "print(y)", "5\n"));
	brig_session_free(s);
}

/* Memory exhaustion in a call is reported as the memory limit. */
static void memory_limit(void)
{
	brig_run_opts ro;
	brig_session *s;
	brig_result *r = NULL;
	const char *bomb = L("x = bytearray(400 * 1024 * 1024)",
			     "const keep = []; for (;;) keep.push(new Array(1e5).fill(1.5));");

	brig_run_opts_init(&ro);
	ro.limits.memory_bytes = 96 << 20;
	s = open_session(&ro);
	CHECK(brig_session_run(s, bomb, strlen(bomb), NULL, &r) == BRIG_E_LIMIT);
	CHECK(brig_result_limit(r) == BRIG_LIMIT_MEMORY);
	brig_result_free(r);
	brig_session_free(s);
}

static void snapshots(void)
{
	brig_session *s = open_session(NULL);
	brig_snapshot *snap = NULL;
	brig_call_opts o;
	int ok = 0;

	if (!PY) {
		CHECK(brig_session_snapshot(s, &snap) == BRIG_E_UNSUPPORTED && snap == NULL);
		brig_session_free(s);
		return;
	}
	CHECK(run(s, "import random\nv = [1]\nopen('/home/user/f', 'w').write('snap')", NULL, NULL,
		  0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK && snap != NULL);
	CHECK(run(s,
		  "v.append(2)\nopen('/home/user/f', 'w').write('later')\n"
		  "open('/tmp/new', 'w').write('x')",
		  NULL, NULL, 0) == BRIG_OK);
	brig_call_opts_init(&o);
	o.wall_timeout_ms = 200;
	CHECK(run(s, "while True: pass", &o, NULL, 0) == BRIG_E_CANCELLED);
	CHECK(brig_session_poisoned(s));
	for (int i = 0; i < 100; i++) {
		int rc = brig_session_restore(s, snap);

		if (rc != BRIG_OK)
			fprintf(stderr, "restore %d: %s\n", i, brig_err_name(rc));
		ok += rc == BRIG_OK && !brig_session_poisoned(s) &&
		      prints(s,
			     "import os\nprint(v, open('/home/user/f').read(), "
			     "os.path.exists('/tmp/new'))\nv.append(3)\n"
			     "open('/tmp/new', 'w').write('y')",
			     "[1] snap False\n");
	}
	CHECK(ok == 100);
	brig_snapshot_free(snap);
	brig_session_free(s);
}

static int sleepy_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)args, (void)err;
	usleep((useconds_t)(intptr_t)ud * 1000);
	return asprintf(result, "\"%s\"", name) < 0;
}

/*
 * A host call still running when its guest is killed must not answer the
 * guest restored after it, which reuses the same call ids.
 */
static void late_reply_is_dropped(void)
{
	brig_caps *caps;
	brig_run_opts ro;
	brig_session *s;
	brig_snapshot *snap = NULL;
	brig_call_opts o;

	if (!PY)
		return;
	brig_caps_new(&caps);
	brig_caps_add_function(caps, "slow", sleepy_fn, (void *)(intptr_t)500);
	brig_caps_add_function(caps, "medium", sleepy_fn, (void *)(intptr_t)900);
	brig_run_opts_init(&ro);
	ro.caps = caps;
	s = open_session(&ro);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	brig_call_opts_init(&o);
	o.wall_timeout_ms = 200;
	CHECK(run(s, "call('slow')", &o, NULL, 0) == BRIG_E_CANCELLED);
	CHECK(brig_session_restore(s, snap) == BRIG_OK);
	CHECK(prints(s, "print(call('medium'))", "medium\n"));
	brig_snapshot_free(snap);
	brig_session_free(s);
	brig_caps_free(caps);
}

static const char *handler_code(const char *py, const char *js)
{
	return L(py, js);
}

static int call(brig_session *s, const char *name, const char *event, char **result)
{
	return brig_session_call_handler(s, name, event, NULL, result, NULL);
}

static int echo_fn(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)ud, (void)name, (void)err;
	return (*result = strdup(args)) ? 0 : 1;
}

static void handlers(void)
{
	brig_caps *caps;
	brig_run_opts ro;
	brig_session *s;
	brig_call_opts o;
	char *res = NULL;

	brig_caps_new(&caps);
	brig_caps_add_function(caps, "echo", echo_fn, NULL);
	brig_run_opts_init(&ro);
	ro.caps = caps;
	s = open_session(&ro);
	CHECK(
	    brig_session_add_handler(s, "greet",
				     handler_code("def handler(e):\n"
						  "    e['message'] = 'Hello, ' + e['name'] + '!'\n"
						  "    return e\n",
						  "function handler(e) {\n"
						  "  e.message = 'Hello, ' + e.name + '!';\n"
						  "  return e;\n}\n")) == BRIG_OK);
	CHECK(brig_session_add_handler(
		  s, "host",
		  handler_code("def handler(e):\n    return call('echo', **e)\n",
			       "function handler(e) { return call('echo', e); }\n")) == BRIG_OK);
	CHECK(
	    brig_session_add_handler(
		s, "later",
		handler_code(
		    "async def handler(e):\n    import asyncio\n"
		    "    await asyncio.sleep(0.01)\n    return [e, 'async']\n",
		    "async function handler(e) {\n"
		    "  await new Promise(r => setTimeout(r, 10));\n  return [e, 'async'];\n}\n")) ==
	    BRIG_OK);
	CHECK(brig_session_add_handler(
		  s, "deep",
		  handler_code("def handler(e):\n    return handler(e)\n",
			       "function handler(e) { return handler(e) + 1; }\n")) == BRIG_OK);
	CHECK(brig_session_add_handler(
		  s, "raise",
		  handler_code("def handler(e):\n    raise KeyError('no')\n",
			       "function handler(e) { throw new TypeError('no'); }\n")) == BRIG_OK);
	CHECK(brig_session_add_handler(s, "spin",
				       handler_code("def handler(e):\n    while True: pass\n",
						    "function handler(e) { for (;;) {} }\n")) ==
	      BRIG_OK);
	CHECK(brig_session_add_handler(s, "", "x") == BRIG_E_INVAL);
	CHECK(brig_session_remove_handler(s, "missing") == BRIG_E_NOTFOUND);
	/* Not loaded yet. */
	CHECK(call(s, "greet", "{}", &res) == BRIG_E_CONSUMED);
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(brig_session_load(s, NULL) == BRIG_E_CONSUMED);
	CHECK(brig_session_add_handler(s, "late", "x") == BRIG_E_CONSUMED);
	CHECK(call(s, "greet", "{\"name\": \"World\"}", &res) == BRIG_OK);
	CHECK(res && strstr(res, "\"message\"") && strstr(res, "Hello, World!"));
	free(res);
	CHECK(call(s, "host", "{\"id\": 7}", &res) == BRIG_OK && res && strstr(res, "\"id\""));
	free(res);
	CHECK(call(s, "later", "1", &res) == BRIG_OK && res && strstr(res, "async"));
	free(res);
	CHECK(call(s, "greet", "{not json", &res) == BRIG_E_INVAL);
	CHECK(call(s, "nope", "{}", &res) == BRIG_E_NOTFOUND);
	CHECK(call(s, "deep", "{}", &res) == BRIG_E_STACK_OVERFLOW);
	CHECK(call(s, "raise", "{}", &res) == BRIG_E_GUEST_ABORT);
	brig_call_opts_init(&o);
	o.wall_timeout_ms = 300;
	o.cpu_timeout_ms = 10000; /* OR semantics: the wall limit fires first */
	o.gc = false;
	CHECK(brig_session_call_handler(s, "spin", "{}", &o, &res, NULL) == BRIG_E_CANCELLED);
	CHECK(call(s, "greet", "{}", &res) == BRIG_E_POISONED);
	brig_session_free(s);
	/* Unload, change the set, load again. */
	s = open_session(&ro);
	brig_session_add_handler(s, "a",
				 handler_code("def handler(e):\n    return 'a'\n",
					      "function handler(e) { return 'a'; }\n"));
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(brig_session_unload(s) == BRIG_OK);
	CHECK(call(s, "a", "{}", &res) == BRIG_E_CONSUMED);
	CHECK(brig_session_clear_handlers(s) == BRIG_OK);
	brig_session_add_handler(s, "b",
				 handler_code("def handler(e):\n    return 'b'\n",
					      "function handler(e) { return 'b'; }\n"));
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(call(s, "b", "{}", &res) == BRIG_OK && res && strcmp(res, "\"b\"") == 0);
	free(res);
	CHECK(call(s, "a", "{}", &res) == BRIG_E_NOTFOUND);
	brig_session_free(s);
	/* A handler without handler() fails to load. */
	s = open_session(NULL);
	brig_session_add_handler(s, "bad", "x = 1\n");
	CHECK(brig_session_load(s, NULL) == BRIG_E_INVAL);
	brig_session_free(s);
	brig_caps_free(caps);
}

/* An rwc mount's changes reach the host after each call, not at the end. */
static void rwc_commits_after_each_call(void)
{
	char dir[64], path[128];
	brig_caps *caps = NULL;
	brig_session *s;
	brig_result *r = NULL;
	brig_run_opts ro;
	struct stat st;

	CHECK(rwc_dir(dir) == 0 && brig_caps_new(&caps) == BRIG_OK);
	CHECK(brig_caps_mount(caps, "/out", dir, BRIG_MOUNT_RWC) == BRIG_OK);
	brig_run_opts_init(&ro);
	ro.caps = caps;
	s = open_session(&ro);
	CHECK(s != NULL);
	CHECK(run(s, L("open('/out/a', 'w').write('1')", "fs.writeText('/out/a', '1')"), NULL, NULL,
		  0) == BRIG_OK);
	CHECK_STR(rwc_read(dir, "a"), "1");
	CHECK(run(s,
		  L("import os\nopen('/out/a', 'w').write('2')\nos.mkdir('/out/d')",
		    "fs.writeText('/out/a', '2'); fs.mkdir('/out/d')"),
		  NULL, NULL, 0) == BRIG_OK);
	CHECK_STR(rwc_read(dir, "a"), "2");
	snprintf(path, sizeof(path), "%s/d", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(run(s, L("os.remove('/out/a')", "fs.remove('/out/a')"), NULL, NULL, 0) == BRIG_OK);
	CHECK(rwc_read(dir, "a") == NULL);
	if (PY) {
		/* A refusal is reported by the call that caused it, once. */
		CHECK(brig_session_run(s, "os.mkfifo('/out/p')", 19, NULL, &r) == BRIG_E_DENIED);
		CHECK(strstr(brig_result_message(r), "/out/p (a FIFO)") != NULL);
		brig_result_free(r);
		CHECK(run(s, "open('/out/b', 'w').write('b')", NULL, NULL, 0) == BRIG_OK);
		CHECK_STR(rwc_read(dir, "b"), "b");
		CHECK(!brig_session_poisoned(s));
	}
	brig_session_free(s);
	brig_caps_free(caps);
	rwc_dir_remove(dir);
}

/* A thousand sessions later, no fd, thread or child process is left. */
static void no_leaks(void)
{
	int fds = count_dir("/proc/self/fd"), threads = count_dir("/proc/self/task");
	int failures = 0;

	for (int i = 0; i < 1000; i++) {
		brig_session *s = open_session(NULL);

		if (!s)
			failures++;
		if (s && i % 100 == 0 && !prints(s, L("print(1)", "console.log(1)"), "1\n"))
			failures++;
		brig_session_free(s);
	}
	CHECK(failures == 0);
	CHECK(count_dir("/proc/self/fd") == fds);
	CHECK(count_dir("/proc/self/task") == threads);
}

static void error_names(void)
{
	const int codes[] = {BRIG_E_INVAL,     BRIG_E_CONSUMED,	      BRIG_E_POISONED,
			     BRIG_E_CANCELLED, BRIG_E_STACK_OVERFLOW, BRIG_E_GUEST_ABORT,
			     BRIG_E_INTERNAL};
	const char *names[] = {"ERR_INVALID_ARG", "ERR_CONSUMED",	"ERR_POISONED",
			       "ERR_CANCELLED",	  "ERR_STACK_OVERFLOW", "ERR_GUEST_ABORT",
			       "ERR_INTERNAL"};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		CHECK_STR(brig_err_name(codes[i]), names[i]);
		CHECK(strcmp(brig_strerror(codes[i]), "unknown error") != 0);
	}
}

static void suite(void)
{
	persistence();
	isolation();
	interactive();
	timeout_poisons();
	interrupt_from_another_thread();
	memory_limit();
	snapshots();
	late_reply_is_dropped();
	handlers();
	rwc_commits_after_each_call();
	no_leaks();
}

int main(int argc, char **argv)
{
	if (!(ex = test_executor()))
		return 1;
	error_names();
	for (int i = 1; i < argc || i == 1; i++) {
		const char *name = argc > 1 ? argv[i] : "python";

		if (brig_lang_parse(name, &lang) != BRIG_OK)
			return 2;
		suite();
		if (argc == 1) {
			lang = BRIG_LANG_JS;
			suite();
		}
	}
	brig_executor_free(ex);
	return CHECK_DONE();
}
