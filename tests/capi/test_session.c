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

static void *open_and_leave(void *arg)
{
	brig_session **s = arg;

	*s = open_session(NULL);
	if (*s)
		CHECK(run(*s, L("x = 41", "globalThis.x = 41"), NULL, NULL, 0) == BRIG_OK);
	return NULL;
}

/*
 * A session made on a worker thread outlives it (an embedder's request
 * thread, a Node or Python SDK worker): the parent-death signal follows
 * the thread, so only the main thread's sandboxes take it.
 */
static void outlives_its_thread(void)
{
	brig_session *s = NULL;
	pthread_t t;

	pthread_create(&t, NULL, open_and_leave, &s);
	pthread_join(t, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	usleep(100 * 1000); /* time for a signal that would kill it to land */
	CHECK(prints(s, L("print(x + 1)", "console.log(x + 1)"), "42\n"));
	CHECK(!brig_session_poisoned(s));
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

/* ------------------------------------------------------------- snapshots */

/* JS cells reach node's own fs through process, as the tests below do. */
static const char js_prelude[] =
    "globalThis.P = performance.constructor.constructor('return process')();\n"
    "globalThis.nfs = P.mainModule.require('fs');\n";

static brig_session *snap_session(const brig_run_opts *o)
{
	brig_session *s = open_session(o);

	if (s && !PY)
		CHECK(run(s, js_prelude, NULL, NULL, 0) == BRIG_OK);
	return s;
}

/* What one cell printed, into out. */
static bool output(brig_session *s, const char *code, char *out, size_t len)
{
	int rc = run(s, code, NULL, out, len);

	if (rc != BRIG_OK)
		fprintf(stderr, "%s: rc %d (%s) for %s\n", brig_lang_name(lang), rc,
			brig_err_name(rc), code);
	return rc == BRIG_OK;
}

/* Globals and the files of /tmp and the home directory come back, a hundred
 * times, also after a timeout poisoned the session. */
static void snapshots(void)
{
	brig_session *s = snap_session(NULL);
	brig_snapshot *snap = NULL;
	brig_call_opts o;
	int ok = 0;

	CHECK(run(s,
		  L("import os, random\nv = [1]\nopen('/home/user/f', 'w').write('snap')",
		    "globalThis.v = [1]; nfs.writeFileSync('/home/user/f', 'snap');"),
		  NULL, NULL, 0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK && snap != NULL);
	CHECK(run(s,
		  L("v.append(2)\nopen('/home/user/f', 'w').write('later')\n"
		    "open('/tmp/new', 'w').write('x')\nos.chmod('/tmp', 0o700)",
		    "v.push(2); nfs.writeFileSync('/home/user/f', 'later');\n"
		    "nfs.writeFileSync('/tmp/new', 'x'); nfs.chmodSync('/tmp', 0o700);"),
		  NULL, NULL, 0) == BRIG_OK);
	brig_call_opts_init(&o);
	o.wall_timeout_ms = 200;
	CHECK(run(s, L("while True: pass", "for (;;) {}"), &o, NULL, 0) == BRIG_E_CANCELLED);
	CHECK(brig_session_poisoned(s));
	for (int i = 0; i < 100; i++) {
		int rc = brig_session_restore(s, snap);

		if (rc != BRIG_OK)
			fprintf(stderr, "restore %d: %s\n", i, brig_err_name(rc));
		ok += rc == BRIG_OK && !brig_session_poisoned(s) &&
		      prints(s,
			     L("print(v, open('/home/user/f').read(), os.path.exists('/tmp/new'), "
			       "oct(os.stat('/tmp').st_mode & 0o7777))\nv.append(3)\n"
			       "open('/tmp/new', 'w').write('y')\nos.chmod('/tmp', 0o700)",
			       "console.log(JSON.stringify(v), nfs.readFileSync('/home/user/f', "
			       "'utf8'), nfs.existsSync('/tmp/new'),\n"
			       "  (nfs.statSync('/tmp').mode & 0o7777).toString(8));\nv.push(3);\n"
			       "nfs.writeFileSync('/tmp/new', 'y'); nfs.chmodSync('/tmp', 0o700);"),
			     L("[1] snap False 0o1777\n", "[1] snap false 1777\n"));
	}
	CHECK(ok == 100);
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* A handler with module state (calls) and a closure (inc): 101, 202, 303... */
static const char py_count[] = "def make():\n"
			       "    n = [0]\n"
			       "    def inc():\n"
			       "        n[0] += 1\n"
			       "        return n[0]\n"
			       "    return inc\n"
			       "inc = make()\n"
			       "calls = 0\n"
			       "def handler(e):\n"
			       "    global calls\n"
			       "    calls += 1\n"
			       "    return calls * 100 + inc()\n";
static const char js_count[] = "const inc = (() => { let n = 0; return () => ++n; })();\n"
			       "let calls = 0;\n"
			       "function handler(e) { calls++; return calls * 100 + inc(); }\n";

static bool counts(brig_session *s, const char *want)
{
	char *res = NULL;
	int rc = brig_session_call_handler(s, "count", "{}", NULL, &res, NULL);
	bool ok = rc == BRIG_OK && res && strcmp(res, want) == 0;

	if (!ok)
		fprintf(stderr, "%s: count: rc %s, %s, expected %s\n", brig_lang_name(lang),
			brig_err_name(rc), res ? res : "-", want);
	free(res);
	return ok;
}

static bool restores(brig_session *s, const brig_snapshot *snap)
{
	int rc = brig_session_restore(s, snap);

	if (rc != BRIG_OK)
		fprintf(stderr, "%s: restore: %s\n", brig_lang_name(lang), brig_err_name(rc));
	return rc == BRIG_OK;
}

/* Several snapshots of one session, each restored to exactly its own state,
 * and a snapshot of a restored copy (a fork of a fork). */
static void several_snapshots(void)
{
	brig_session *s = open_session(NULL);
	brig_snapshot *a = NULL, *b = NULL, *c = NULL;

	CHECK(brig_session_add_handler(s, "count", L(py_count, js_count)) == BRIG_OK);
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(counts(s, "101"));
	CHECK(brig_session_snapshot(s, &a) == BRIG_OK);
	CHECK(counts(s, "202"));
	CHECK(brig_session_snapshot(s, &b) == BRIG_OK);
	CHECK(counts(s, "303"));
	CHECK(restores(s, a) && counts(s, "202"));
	CHECK(restores(s, b) && counts(s, "303") && counts(s, "404"));
	CHECK(restores(s, a) && counts(s, "202"));
	/* Taken in a copy that a restore revived. */
	CHECK(brig_session_snapshot(s, &c) == BRIG_OK);
	CHECK(counts(s, "303"));
	CHECK(restores(s, c) && counts(s, "303"));
	CHECK(restores(s, a) && counts(s, "202"));
	CHECK(restores(s, c) && counts(s, "303"));
	/* Forgetting one leaves the others. */
	brig_snapshot_free(b);
	CHECK(restores(s, c) && counts(s, "303"));
	CHECK(restores(s, a) && counts(s, "202"));
	brig_snapshot_free(a);
	brig_snapshot_free(c);
	brig_session_free(s);
}

/* A minimal wasm module: (func (export "add") (param i32 i32) (result i32)). */
#define WASM_ADD                                                                                   \
	"new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,"    \
	"100,0,0,10,9,1,7,0,32,0,32,1,106,11])"

/* A restored copy is a whole runtime: it collects garbage, compiles new code
 * and (JS) runs wasm. */
static void runtime_after_restore(void)
{
	brig_session *s = open_session(NULL);
	brig_snapshot *snap = NULL;

	CHECK(brig_session_add_handler(s, "count", L(py_count, js_count)) == BRIG_OK);
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(run(s,
		  L("import gc, json\nkeep = [{'i': i} for i in range(50000)]",
		    "globalThis.keep = Array.from({length: 50000}, (_, i) => ({i}));"),
		  NULL, NULL, 0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	for (int i = 0; i < 3; i++) {
		CHECK(restores(s, snap));
		CHECK(prints(
		    s,
		    L("s = sum(json.loads(json.dumps({'a': i}))['a'] for i in range(10000))\n"
		      "junk = [[i] for i in range(300000)]\n"
		      "f = compile('lambda a: a * 2', '<new>', 'eval')\n"
		      "print(s, eval(f)(21), eval('6 * 7'), gc.collect() >= 0, len(keep), "
		      "len(junk))",
		      "let s = 0;\n"
		      "for (let i = 0; i < 10000; i++) s += JSON.parse(JSON.stringify({a: i})).a;\n"
		      "const junk = []; for (let i = 0; i < 300000; i++) junk.push({i});\n"
		      "const f = new Function('a', 'return a * 2');\n"
		      "const w = new WebAssembly.Instance(new WebAssembly.Module(" WASM_ADD
		      ")).exports.add(2, 3);\n"
		      "console.log(s, f(21), eval('6 * 7'), w, keep.length, junk.length);"),
		    L("49995000 42 42 True 50000 300000\n", "49995000 42 42 5 50000 300000\n")));
		/* A call followed by a full collection (gc is on by default). */
		CHECK(counts(s, "101"));
	}
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* Two copies of one snapshot draw different random numbers. */
static void fresh_randomness(void)
{
	brig_session *s = open_session(NULL);
	brig_snapshot *snap = NULL;
	char seen[3][256];
	const char *draw = L("import uuid, os\nprint(random.random(), uuid.uuid4(), "
			     "os.urandom(8).hex())",
			     "console.log(Math.random(), crypto.randomUUID(),\n"
			     "  crypto.getRandomValues(new Uint32Array(2)).join('-'));");

	/* Used before the snapshot: whatever they buffer is in it. */
	CHECK(run(s, L("import random\nrandom.random()", "Math.random(); crypto.randomUUID();"),
		  NULL, NULL, 0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	CHECK(output(s, draw, seen[0], sizeof(seen[0])));
	for (int i = 1; i < 3; i++)
		CHECK(restores(s, snap) && output(s, draw, seen[i], sizeof(seen[i])));
	CHECK(strcmp(seen[0], seen[1]) != 0 && strcmp(seen[1], seen[2]) != 0 &&
	      strcmp(seen[0], seen[2]) != 0);
	/* Every part differs, not only one of them. */
	for (int i = 1; i < 3; i++) {
		char a[256], b[256], *sa, *sb;
		char *ta = strtok_r(strcpy(a, seen[0]), " ", &sa);
		char *tb = strtok_r(strcpy(b, seen[i]), " ", &sb);

		for (; ta && tb; ta = strtok_r(NULL, " ", &sa), tb = strtok_r(NULL, " ", &sb))
			CHECK(strcmp(ta, tb) != 0);
	}
	if (!PY)
		/* Math.random, now drawn from the system's generator, still looks right. */
		CHECK(prints(
		    s,
		    "let ok = true, sum = 0;\n"
		    "for (let i = 0; i < 100000; i++) {\n"
		    "  const r = Math.random(); if (!(r >= 0 && r < 1)) ok = false; sum += r;\n"
		    "}\n"
		    "console.log(ok, Math.abs(sum / 100000 - 0.5) < 0.01, Math.random.name, "
		    "Math.random.length, Object.keys(Math).includes('random'));",
		    "true true random 0 false\n"));
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* A restored copy knows its own pid, and init is its parent. */
static void pid_after_restore(void)
{
	brig_session *s = snap_session(NULL);
	brig_snapshot *snap = NULL;

	CHECK(run(s, L("import os\nfirst = os.getpid()", "globalThis.first = P.pid;"), NULL, NULL,
		  0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	for (int i = 0; i < 3; i++) {
		CHECK(restores(s, snap));
		CHECK(
		    prints(s,
			   L("print(os.getpid() == int(open('/proc/self/stat').read().split()[0]), "
			     "os.getpid() != first, os.getppid())",
			     "console.log(P.pid === +nfs.readFileSync('/proc/self/stat', 'utf8')"
			     ".split(' ')[0], P.pid !== first, P.ppid);"),
			   L("True True 1\n", "true true 1\n")));
	}
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* The open fds of a guest, kinds only (a pipe's inode number is left out). */
static const char py_fdlist[] = "import os\n"
				"def fdlist():\n"
				"    out = []\n"
				"    for f in sorted(os.listdir('/proc/self/fd')):\n"
				"        try:\n"
				"            t = os.readlink('/proc/self/fd/' + f)\n"
				"        except OSError:\n"
				"            t = ''\n"
				"        out.append(f + '=' + t.split('[')[0])\n"
				"    return ' '.join(out)\n"
				"before = fdlist()\n";
static const char js_fdlist[] =
    "globalThis.fdlist = () => nfs.readdirSync('/proc/self/fd').sort().map((f) => {\n"
    "  let t = ''; try { t = nfs.readlinkSync('/proc/self/fd/' + f); } catch {}\n"
    "  return f + '=' + t.split('[')[0];\n"
    "}).join(' ');\n"
    "globalThis.before = fdlist();\n";

/* A restored copy has the fds the snapshot had: none the guest opened after
 * it, none of init's or the holder's, and no more with every restore. */
static void no_fd_leaks(void)
{
	brig_session *s = snap_session(NULL);
	brig_snapshot *snap = NULL;

	CHECK(run(s, L(py_fdlist, js_fdlist), NULL, NULL, 0) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	CHECK(prints(s,
		     L("leak = open('/tmp/leak', 'w')\nprint(fdlist() != before)",
		       "globalThis.leak = nfs.openSync('/tmp/leak', 'w');\n"
		       "console.log(fdlist() !== before);"),
		     L("True\n", "true\n")));
	for (int i = 0; i < 10; i++) {
		CHECK(restores(s, snap));
		if (!prints(s, L("print(fdlist() == before)", "console.log(fdlist() === before);"),
			    L("True\n", "true\n")))
			prints(s,
			       L("print(before)\nprint(fdlist())", "console.log(before, fdlist())"),
			       "");
	}
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/*
 * At the lowest process limit a snapshot can live with (Python: init, the
 * guest, the holder and its spare; node runs 7 threads), restores keep
 * working: the holder makes its next spare once the killed guest is reaped.
 */
static void restores_at_the_pid_limit(void)
{
	brig_run_opts ro;
	brig_session *s;
	brig_snapshot *snap = NULL;
	int ok = 0;

	brig_run_opts_init(&ro);
	ro.limits.max_pids = PY ? 4 : 12;
	s = open_session(&ro);
	CHECK(s && brig_session_add_handler(s, "count", L(py_count, js_count)) == BRIG_OK);
	CHECK(s && brig_session_load(s, NULL) == BRIG_OK);
	CHECK(s && brig_session_snapshot(s, &snap) == BRIG_OK);
	for (int i = 0; snap && i < 30; i++)
		ok += restores(s, snap) && counts(s, "101");
	CHECK(ok == 30);
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
	CHECK(prints(s, L("print(call('medium'))", "console.log(call('medium'))"), "medium\n"));
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

/* ------------------------------------------- processes between calls */

/* What the host sees of the jail's processes named tag: the live ones. */
struct seen {
	int alive, stopped;
	long long ticks; /* CPU time, user + system, in clock ticks */
};

static struct seen look(const char *tag)
{
	struct seen v = {0, 0, 0};
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], buf[1024], state, *l, *r;
		unsigned long long ut, st;
		FILE *f;
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		l = strchr(buf, '(');
		r = strrchr(buf, ')');
		if (!l || !r || (size_t)(r - l - 1) != strlen(tag) ||
		    strncmp(l + 1, tag, strlen(tag)))
			continue;
		if (sscanf(r + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state,
			   &ut, &st) != 3 ||
		    state == 'Z' || state == 'X')
			continue;
		v.alive++;
		v.stopped += state == 'T';
		v.ticks += (long long)(ut + st);
	}
	if (d)
		closedir(d);
	return v;
}

/* Wait (within a generous bound) until every process named tag is stopped. */
static struct seen all_stopped(const char *tag, int at_least)
{
	struct seen v = look(tag);

	for (int i = 0; i < 500 && !(v.alive >= at_least && v.stopped == v.alive); i++) {
		usleep(10 * 1000);
		v = look(tag);
	}
	return v;
}

/* Wait until n processes are named tag (they name themselves after a fork). */
static struct seen count_alive(const char *tag, int n)
{
	struct seen v = look(tag);

	for (int i = 0; i < 300 && v.alive != n; i++) {
		usleep(10 * 1000);
		v = look(tag);
	}
	return v;
}

static struct seen none_alive(const char *tag)
{
	struct seen v = look(tag);

	for (int i = 0; i < 300 && v.alive; i++) {
		usleep(10 * 1000);
		v = look(tag);
	}
	return v;
}

static void make_tag(char *tag, size_t len, const char *what)
{
	snprintf(tag, len, "b%s%d%c", what, (int)getpid() % 100000, PY ? 'p' : 'j');
}

/* Guest code: CPU burners named TAG that outlive the call, one of them a
 * chain that forks its successor and exits every few milliseconds; in
 * Python also a background thread that counts, in JS a process that stops
 * itself (outside a snapshot: nothing it stops is ever spared). */
static const char py_burners[] = "import os, threading, time\n"
				 "TAG = b'%s'\n"
				 "def _named(fn):\n"
				 "    r, w = os.pipe()\n"
				 "    if os.fork() == 0:\n"
				 "        try:\n"
				 "            with open('/proc/self/comm', 'wb') as f:\n"
				 "                f.write(TAG)\n"
				 "            os.write(w, b'.')\n"
				 "            fn()\n"
				 "        finally:\n"
				 "            os._exit(0)\n"
				 "    os.read(r, 1)\n"
				 "    os.close(r)\n"
				 "    os.close(w)\n"
				 "def _burn():\n"
				 "    while True:\n"
				 "        pass\n"
				 "def _hop():\n"
				 "    while True:\n"
				 "        end = time.monotonic() + 0.005\n"
				 "        while time.monotonic() < end:\n"
				 "            pass\n"
				 "        if os.fork():\n"
				 "            os._exit(0)\n"
				 "for fn in (_burn, _burn, _hop):\n"
				 "    _named(fn)\n"
				 "ticks = [0]\n"
				 "def _count():\n"
				 "    while True:\n"
				 "        ticks[0] += 1\n"
				 "        time.sleep(0.005)\n"
				 "threading.Thread(target=_count, daemon=True).start()\n";

static const char js_burners[] =
    "globalThis.P = performance.constructor.constructor('return process')();\n"
    "const TAG = '%s', cp = P.mainModule.require('child_process');\n"
    "const fs0 = P.mainModule.require('fs');\n"
    "for (const body of ['while :; do :; done', 'while :; do :; done',\n"
    "    'hop() { i=0; while [ $i -lt 300 ]; do i=$((i+1)); done; hop & exit 0; }; hop',\n"
    "    'kill -STOP $$; while :; do :; done'])\n"
    "  cp.spawn('/bin/sh', ['-c', 'printf ' + TAG + ' > /proc/self/comm; ' + body],\n"
    "           {stdio: 'ignore'}).unref();\n"
    "const named = () => fs0.readdirSync('/proc').filter(p => {\n"
    "  try { return fs0.readFileSync('/proc/' + p + '/comm', 'utf8').trim() === TAG; }\n"
    "  catch { return false; }\n"
    "}).length;\n"
    "for (let i = 0; i < 1000 && named() < 4; i++)\n"
    "  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);\n";

/* The next call: do the burners (and the thread) run again? */
static const char py_resumed[] =
    "def _tagged():\n"
    "    total = 0\n"
    "    for p in os.listdir('/proc'):\n"
    "        try:\n"
    "            with open('/proc/%s/stat' % p) as f:\n"
    "                s = f.read()\n"
    "        except OSError:\n"
    "            continue\n"
    "        rest = s[s.rindex(')') + 2:].split()\n"
    "        if s[s.index('(') + 1:s.rindex(')')] == TAG.decode() and rest[0] != 'Z':\n"
    "            total += int(rest[11]) + int(rest[12])\n"
    "    return total\n"
    "t, k = _tagged(), ticks[0]\n"
    "time.sleep(0.3)\n"
    "print(_tagged() > t, ticks[0] > k)\n";

static const char js_resumed[] =
    "const fs = P.mainModule.require('fs');\n"
    "function tagged() {\n"
    "  let total = 0;\n"
    "  for (const p of fs.readdirSync('/proc')) {\n"
    "    let s;\n"
    "    try { s = fs.readFileSync('/proc/' + p + '/stat', 'utf8'); } catch { continue; }\n"
    "    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');\n"
    "    if (s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')) === TAG && rest[0] !== 'Z')\n"
    "      total += +rest[11] + +rest[12];\n"
    "  }\n"
    "  return total;\n"
    "}\n"
    "const t = tagged();\n"
    "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);\n"
    "console.log(tagged() > t, true);\n";

/*
 * Between calls nothing of the session runs: burners a call left behind
 * (a fork chain among them) are stopped and use no CPU while the session
 * sits idle, and run again, with the agent's own threads, in the next call.
 */
static void idle_sessions_are_frozen(void)
{
	brig_session *s = open_session(NULL);
	char tag[16], code[4096];
	struct seen a, b;

	make_tag(tag, sizeof(tag), "f");
	snprintf(code, sizeof(code), L(py_burners, js_burners), tag);
	CHECK(run(s, code, NULL, NULL, 0) == BRIG_OK);
	a = all_stopped(tag, 3);
	CHECK(a.alive >= 3 && a.stopped == a.alive);
	sleep(1);
	b = look(tag);
	CHECK(b.alive == a.alive && b.stopped == b.alive);
	if (b.ticks != a.ticks)
		fprintf(stderr, "idle burners used %lld clock ticks\n", b.ticks - a.ticks);
	CHECK(b.ticks == a.ticks);
	snprintf(code, sizeof(code), "%s", L(py_resumed, js_resumed));
	CHECK(prints(s, code, L("True True\n", "true true\n")));
	/* Stopped again; and a kill still ends every one of them. */
	a = all_stopped(tag, 3);
	CHECK(a.alive >= 3 && a.stopped == a.alive);
	{
		brig_call_opts o;

		brig_call_opts_init(&o);
		o.wall_timeout_ms = 200;
		CHECK(run(s, L("while True: pass", "for (;;) {}"), &o, NULL, 0) ==
		      BRIG_E_CANCELLED);
	}
	CHECK(none_alive(tag).alive == 0);
	brig_session_free(s);
}

/* Handler code that makes CPU burners look like snapshot holders: init's
 * own children (clone with CLONE_PARENT), stopped or not, an orphan that
 * stops itself, a process that keeps waking the first one; and it forges
 * every answer of the agent to name that one as the holder. */
static const char py_spoof[] =
    "import ctypes, os, signal, time\n"
    "TAG = b'%s'\n"
    "NR_CLONE = {'x86_64': 56, 'aarch64': 220}[os.uname().machine]\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def burn(stop, wake):\n"
    "    with open('/proc/self/comm', 'wb') as f:\n"
    "        f.write(TAG)\n"
    "    if stop:\n"
    "        os.kill(os.getpid(), signal.SIGSTOP)\n"
    "    while True:\n"
    "        for p in wake:\n"
    "            os.kill(p, signal.SIGCONT)\n"
    "        if wake:\n"
    "            time.sleep(0.002)\n"
    "def spawn(stop, how, wake=()):\n"
    "    z = ctypes.c_long(0)\n"
    "    r, w = os.pipe()\n"
    "    if how == 'clone':\n"
    "        pid = libc.syscall(ctypes.c_long(NR_CLONE), ctypes.c_long(0x8000 | 17), z, z, z, z)\n"
    "    else:\n"
    "        pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            if how == 'orphan':\n"
    "                child = os.fork()\n"
    "                if child:\n"
    "                    os.write(w, str(child).encode())\n"
    "                    os._exit(0)\n"
    "            burn(stop, wake)\n"
    "        finally:\n"
    "            os._exit(0)\n"
    "    os.close(w)\n"
    "    if how == 'orphan':\n"
    "        os.waitpid(pid, 0)\n"
    "        pid = int(os.read(r, 32))\n"
    "    os.close(r)\n"
    "    while open('/proc/%%d/comm' %% pid, 'rb').read().strip() != TAG or (stop and\n"
    "            open('/proc/%%d/stat' %% pid).read().rpartition(')')[2][1] != 'T'):\n"
    "        time.sleep(0.001)\n"
    "    return pid\n"
    "def handler(event):\n"
    "    from brig import _proto\n"
    "    fakes = [spawn(True, 'clone'), spawn(False, 'clone'), spawn(True, 'orphan')]\n"
    "    spawn(False, 'fork', fakes[:1])\n"
    "    send = _proto.channel.send_msg\n"
    "    def forged(ftype, cid, value, blob=b''):\n"
    "        if isinstance(value, dict) and value.get('ok'):\n"
    "            value = dict(value, holder=fakes[0])\n"
    "        return send(ftype, cid, value, blob)\n"
    "    _proto.channel.send_msg = forged\n"
    "    if event == 'during':\n"
    "        os.register_at_fork(before=lambda: spawn(True, 'clone'))\n"
    "    return fakes[0]\n";

/* The processes a call sees besides init and itself, once none runs (a
 * holder may be making its spare), and a counter the snapshot keeps. */
static const char py_ps[] = "import os, time\n"
			    "n = [0]\n"
			    "def look():\n"
			    "    me, seen = os.getpid(), []\n"
			    "    for p in os.listdir('/proc'):\n"
			    "        if not p.isdigit() or int(p) in (1, me):\n"
			    "            continue\n"
			    "        try:\n"
			    "            with open('/proc/%s/stat' % p) as f:\n"
			    "                s = f.read()\n"
			    "        except OSError:\n"
			    "            continue\n"
			    "        seen.append((s[s.index('(') + 1:s.rindex(')')],\n"
			    "                     s[s.rindex(')') + 2]))\n"
			    "    return sorted(seen)\n"
			    "def handler(event):\n"
			    "    n[0] += 1\n"
			    "    for _ in range(200):\n"
			    "        seen = look()\n"
			    "        if all(state == 'T' for _, state in seen):\n"
			    "            break\n"
			    "        time.sleep(0.01)\n"
			    "    return '%d %s' % (n[0], seen)\n";

static brig_session *spoofing_session(const char *tag)
{
	static char code[4096];
	brig_session *s = open_session(NULL);

	snprintf(code, sizeof(code), py_spoof, tag);
	CHECK(brig_session_add_handler(s, "spoof", code) == BRIG_OK);
	CHECK(brig_session_add_handler(s, "ps", py_ps) == BRIG_OK);
	CHECK(brig_session_add_handler(s, "spin", "def handler(e):\n    while True: pass\n") ==
	      BRIG_OK);
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	return s;
}

/* What the ps handler said after a restore: its count, and nothing but the
 * stopped holder, and maybe the spare it made already. */
static bool only_holders(const char *res, const char *count)
{
	char one[64], two[80];
	bool ok;

	snprintf(one, sizeof(one), "\"%s [('python3', 'T')]\"", count);
	snprintf(two, sizeof(two), "\"%s [('python3', 'T'), ('python3', 'T')]\"", count);
	ok = res && (strcmp(res, one) == 0 || strcmp(res, two) == 0);
	if (!ok)
		fprintf(stderr, "after the restore: %s\n", res ? res : "-");
	return ok;
}

static int spin(brig_session *s)
{
	brig_call_opts o;
	char *res = NULL;
	int rc;

	brig_call_opts_init(&o);
	o.wall_timeout_ms = 300;
	rc = brig_session_call_handler(s, "spin", "{}", &o, &res, NULL);
	free(res);
	return rc;
}

/*
 * The review's attack: handler code names a CPU burner as the snapshot
 * holder.  init alone knows the holders, so a kill leaves nothing but init
 * and the real holder, and the real snapshot still restores.
 */
static void spoofed_holders_die(void)
{
	brig_session *s;
	brig_snapshot *snap = NULL;
	char tag[16], *res = NULL;

	if (!PY)
		return;
	make_tag(tag, sizeof(tag), "s");
	s = spoofing_session(tag);
	CHECK(call(s, "ps", "{}", &res) == BRIG_OK && res && strcmp(res, "\"1 []\"") == 0);
	free(res);
	CHECK(call(s, "spoof", "\"before\"", &res) == BRIG_OK);
	free(res);
	CHECK(count_alive(tag, 4).alive == 4);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	CHECK(call(s, "ps", "{}", &res) == BRIG_OK); /* the snapshot's count stays 1 */
	free(res);
	CHECK(spin(s) == BRIG_E_CANCELLED && brig_session_poisoned(s));
	CHECK(none_alive(tag).alive == 0);
	CHECK(snap && brig_session_restore(s, snap) == BRIG_OK);
	/* Only the holder (and its spare, if it made the next already) are left
	 * beside init and the restored guest. */
	CHECK(call(s, "ps", "{}", &res) == BRIG_OK && only_holders(res, "2"));
	free(res);
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/* Handler code that names a stopped burner, init's child, as a holder's
 * spare: in init's socket's datagrams, sent as itself and (which the kernel
 * refuses) with the credentials of the real holders. */
static const char py_forge[] =
    "import ctypes, os, signal, socket, struct, time\n"
    "TAG = b'%s'\n"
    "NR_CLONE = {'x86_64': 56, 'aarch64': 220}[os.uname().machine]\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def handler(event):\n"
    "    z = ctypes.c_long(0)\n"
    "    pid = libc.syscall(ctypes.c_long(NR_CLONE), ctypes.c_long(0x8000 | 17), z, z, z, z)\n"
    "    if pid == 0:\n"
    "        with open('/proc/self/comm', 'wb') as f:\n"
    "            f.write(TAG)\n"
    "        os.kill(os.getpid(), signal.SIGSTOP)\n"
    "        while True:\n"
    "            pass\n"
    "    while open('/proc/%%d/stat' %% pid).read().rpartition(')')[2][1] != 'T':\n"
    "        time.sleep(0.001)\n"
    "    me = os.getpid()\n"
    "    others = [int(p) for p in os.listdir('/proc')\n"
    "              if p.isdigit() and int(p) not in (1, me, pid)]\n"
    "    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "    msg = struct.pack('<Ii', 0x65726170, pid)\n"
    "    refused = 0\n"
    "    for _ in range(100):\n"
    "        sock.sendto(msg, b'\\0brig-init')\n"
    "        for h in others:\n"
    "            cred = struct.pack('3i', h, os.getuid(), os.getgid())\n"
    "            try:\n"
    "                sock.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, cred)],\n"
    "                             0, b'\\0brig-init')\n"
    "            except OSError:\n"
    "                refused += 1\n"
    "        time.sleep(0.001)\n"
    "    return [refused, len(others)]\n";

/*
 * While a holder makes its spare, the guest names a burner of its own as
 * the spare, from itself and posing as the holders.  init takes spares only
 * from the holder it woke, whose pid the kernel vouches for: the burner
 * dies with the next kill, and the real spare serves the restore.
 */
static void forged_spare_dies(void)
{
	static char code[4096];
	brig_session *s;
	brig_snapshot *snap = NULL;
	char tag[16], *res = NULL;

	if (!PY)
		return;
	make_tag(tag, sizeof(tag), "g");
	s = spoofing_session(tag);
	snprintf(code, sizeof(code), py_forge, tag);
	CHECK(brig_session_unload(s) == BRIG_OK);
	CHECK(brig_session_add_handler(s, "forge", code) == BRIG_OK);
	CHECK(brig_session_load(s, NULL) == BRIG_OK);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	/* At once: init is having the holder make its first spare. */
	CHECK(call(s, "forge", "{}", &res) == BRIG_OK && res);
	{
		int refused = -1, others = -1;

		CHECK(res && sscanf(res, "[%d,%d]", &refused, &others) == 2);
		CHECK(others >= 1 && refused == 100 * others);
	}
	free(res);
	CHECK(count_alive(tag, 1).alive == 1);
	CHECK(spin(s) == BRIG_E_CANCELLED);
	CHECK(none_alive(tag).alive == 0);
	CHECK(snap && brig_session_restore(s, snap) == BRIG_OK);
	CHECK(call(s, "ps", "{}", &res) == BRIG_OK && only_holders(res, "1"));
	free(res);
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/*
 * A child that stops itself while a snapshot is taken makes two stopped
 * children where init expects one: the snapshot fails and neither is kept.
 */
static void holder_must_be_alone(void)
{
	brig_session *s;
	brig_snapshot *snap = NULL;
	char tag[16], *res = NULL;

	if (!PY)
		return;
	make_tag(tag, sizeof(tag), "d");
	s = spoofing_session(tag);
	CHECK(call(s, "spoof", "\"during\"", &res) == BRIG_OK);
	free(res);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_E_INTERNAL && snap == NULL);
	brig_snapshot_free(snap);
	CHECK(spin(s) == BRIG_E_CANCELLED);
	CHECK(none_alive(tag).alive == 0);
	brig_session_free(s);
}

/* A guest that kills its own snapshot's copies (the holder and its spare):
 * restoring says it is gone. */
static void spoiled_snapshot(void)
{
	brig_session *s;
	brig_snapshot *snap = NULL;

	s = snap_session(NULL);
	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	CHECK(prints(
	    s,
	    /* Again until a pass finds none: the holder may have been
	     * making its spare while the first pass listed /proc. */
	    L("import os, signal, time\n"
	      "n, found, rounds = 0, True, 0\n"
	      "while found and rounds < 20:\n"
	      "    rounds += 1\n"
	      "    found = False\n"
	      "    for p in os.listdir('/proc'):\n"
	      "        if p.isdigit() and int(p) not in (1, os.getpid()):\n"
	      "            try:\n"
	      "                os.kill(int(p), signal.SIGKILL)\n"
	      "                n += 1\n"
	      "                found = True\n"
	      "            except ProcessLookupError:\n"
	      "                pass  # a helper of the holder's, gone already\n"
	      "    time.sleep(0.05)  # init reaps what was killed\n"
	      "print('killed' if n else 'none')\n",
	      "let n = 0, found = true, rounds = 0;\n"
	      "while (found && rounds++ < 20) {\n"
	      "  found = false;\n"
	      "  for (const p of nfs.readdirSync('/proc'))\n"
	      "    if (/^\\d+$/.test(p) && +p !== 1 && +p !== P.pid) {\n"
	      "      try { P.kill(+p, 'SIGKILL'); n++; found = true; } catch {}  // gone already\n"
	      "    }\n"
	      "  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);\n"
	      "}\n"
	      "console.log(n ? 'killed' : 'none');\n"),
	    "killed\n"));
	CHECK(brig_session_restore(s, snap) == BRIG_E_NOTFOUND);
	CHECK(brig_session_poisoned(s));
	brig_snapshot_free(snap);
	brig_session_free(s);
}

/*
 * A guest that wakes its snapshot's copies (SIGCONT): they run code init did
 * not ask for, even if they stop again at once, so they are copies no more.
 * The next kill ends them and restoring says the snapshot is gone.
 */
static void woken_holder_is_dropped(void)
{
	brig_session *s = snap_session(NULL);
	brig_snapshot *snap = NULL;

	CHECK(brig_session_snapshot(s, &snap) == BRIG_OK);
	CHECK(prints(s,
		     L("import os, signal, time\n"
		       "time.sleep(0.1)\n"
		       "for p in os.listdir('/proc'):\n"
		       "    if p.isdigit() and int(p) not in (1, os.getpid()):\n"
		       "        try:\n"
		       "            os.kill(int(p), signal.SIGCONT)\n"
		       "        except ProcessLookupError:\n"
		       "            pass\n"
		       "print('woke')\n",
		       "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);\n"
		       "for (const p of nfs.readdirSync('/proc'))\n"
		       "  if (/^\\d+$/.test(p) && +p !== 1 && +p !== P.pid)\n"
		       "    try { P.kill(+p, 'SIGCONT'); } catch {}\n"
		       "console.log('woke');\n"),
		     "woke\n"));
	CHECK(brig_session_restore(s, snap) == BRIG_E_NOTFOUND);
	CHECK(brig_session_poisoned(s));
	brig_snapshot_free(snap);
	brig_session_free(s);
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
	outlives_its_thread();
	memory_limit();
	snapshots();
	several_snapshots();
	runtime_after_restore();
	fresh_randomness();
	pid_after_restore();
	no_fd_leaks();
	restores_at_the_pid_limit();
	late_reply_is_dropped();
	handlers();
	rwc_commits_after_each_call();
	idle_sessions_are_frozen();
	spoofed_holders_die();
	forged_spare_dies();
	holder_must_be_alone();
	spoiled_snapshot();
	woken_holder_is_dropped();
	no_leaks();
}

/* Where brig's node addon is missing, JS sessions cannot snapshot, and say so. */
static void js_without_addon(void)
{
	char empty[] = "/tmp/brig-native-XXXXXX";
	brig_executor *saved = ex;
	brig_snapshot *snap = NULL;
	brig_session *s;
	brig_config cfg;
	char *why = NULL;

	CHECK(mkdtemp(empty) != NULL);
	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.native_dir = empty;
	CHECK(brig_executor_new(&cfg, &ex, &why) == BRIG_OK);
	free(why);
	lang = BRIG_LANG_JS;
	s = open_session(NULL);
	CHECK(s && brig_session_snapshot(s, &snap) == BRIG_E_UNSUPPORTED && snap == NULL);
	/* The session itself carries on. */
	CHECK(s && prints(s, "console.log(1 + 1)", "2\n"));
	brig_session_free(s);
	brig_executor_free(ex);
	ex = saved;
	rmdir(empty);
}

int main(int argc, char **argv)
{
	if (!(ex = test_executor()))
		return 1;
	error_names();
	js_without_addon();
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
