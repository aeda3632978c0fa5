/* The key-value store: both store kinds, every limit, concurrency, kv.* calls. */
#include "check.h"

#include "brig.h"
#include "host/kv.h"

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRITERS_KEYS 100

/* Where durable stores go; each store gets a fresh file. */
struct fx {
	char dir[256];
	unsigned seq;
};

static void fx_path(struct fx *fx, char *path, size_t len)
{
	snprintf(path, len, "%s/s%u.db", fx->dir, fx->seq++);
}

static brig_kv *make_store(struct fx *fx, bool durable, const brig_kv_limits *lim)
{
	brig_kv *kv = NULL;
	char path[512];

	if (!durable) {
		CHECK(brig_kv_new(lim, &kv) == BRIG_OK);
		return kv;
	}
	fx_path(fx, path, sizeof(path));
	CHECK(brig_kv_open(path, lim, &kv) == BRIG_OK);
	return kv;
}

static brig_kv_limits small_limits(size_t key, size_t value, size_t entries, size_t total)
{
	brig_kv_limits l;

	brig_kv_limits_init(&l);
	l.max_key_bytes = key;
	l.max_value_bytes = value;
	l.max_entries = entries;
	l.max_total_bytes = total;
	return l;
}

static bool get_is(brig_kv *kv, const char *key, const char *want)
{
	char *out = NULL;
	int rc = brig_kv_get(kv, key, &out);
	bool ok = rc == BRIG_OK && out && strcmp(out, want) == 0;

	if (!ok)
		fprintf(stderr, "get %.40s: rc %d, %.60s != %.60s\n", key, rc, out ? out : "(null)",
			want);
	free(out);
	return ok;
}

static bool keys_are(brig_kv *kv, const char *want)
{
	char *out = NULL;
	int rc = brig_kv_keys(kv, &out);
	bool ok = rc == BRIG_OK && out && strcmp(out, want) == 0;

	if (!ok)
		fprintf(stderr, "keys: rc %d, %.200s != %.200s\n", rc, out ? out : "(null)", want);
	free(out);
	return ok;
}

static size_t count_keys(brig_kv *kv)
{
	char *out = NULL;
	json_t *arr;
	size_t n;

	if (brig_kv_keys(kv, &out) != BRIG_OK)
		return (size_t)-1;
	arr = json_loads(out, 0, NULL);
	n = json_is_array(arr) ? json_array_size(arr) : (size_t)-1;
	json_decref(arr);
	free(out);
	return n;
}

/* A JSON string whose compact encoding is exactly n bytes (n >= 2). */
static char *jstr(size_t n)
{
	char *s = malloc(n + 1);

	memset(s, 'v', n);
	s[0] = s[n - 1] = '"';
	s[n] = '\0';
	return s;
}

/* A key of n bytes ending in tag, so several keys of one length differ. */
static char *nkey(size_t n, char tag)
{
	char *s = malloc(n + 1);

	memset(s, 'k', n);
	s[n - 1] = tag;
	s[n] = '\0';
	return s;
}

/* ---------------------------------------------------------- basic API */

static void test_roundtrip(brig_kv *kv)
{
	char *out = (char *)"sentinel";

	CHECK(keys_are(kv, "[]"));
	CHECK(brig_kv_get(kv, "a", &out) == BRIG_E_NOTFOUND);
	CHECK(out == NULL);
	CHECK(brig_kv_set(kv, "a", "1") == BRIG_OK);
	CHECK(get_is(kv, "a", "1"));
	/* Stored compact: whitespace in the caller's text is dropped. */
	CHECK(brig_kv_set(kv, "obj", " { \"x\" : [1, 2, {\"y\": null}] } ") == BRIG_OK);
	CHECK(get_is(kv, "obj", "{\"x\":[1,2,{\"y\":null}]}"));
	CHECK(brig_kv_set(kv, "s", "\"h\\u00e9llo\"") == BRIG_OK);
	CHECK(get_is(kv, "s", "\"h\xc3\xa9llo\""));
	CHECK(brig_kv_set(kv, "n", "null") == BRIG_OK);
	CHECK(get_is(kv, "n", "null"));
	CHECK(brig_kv_set(kv, "a", "[true,false]") == BRIG_OK);
	CHECK(get_is(kv, "a", "[true,false]"));
	CHECK(brig_kv_delete(kv, "a") == BRIG_OK);
	CHECK(brig_kv_get(kv, "a", &out) == BRIG_E_NOTFOUND);
	CHECK(brig_kv_delete(kv, "a") == BRIG_E_NOTFOUND);
	CHECK(keys_are(kv, "[\"n\",\"obj\",\"s\"]"));
}

static void test_sorted_keys(brig_kv *kv)
{
	static const char *const order[] = {"b", "\xc3\xa9",	    "A", "a", "ab",
					    "1", "\xf0\x9f\x99\x82"};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		CHECK(brig_kv_set(kv, order[i], "0") == BRIG_OK);
	/* Bytewise order, the same for both store kinds. */
	CHECK(keys_are(kv, "[\"1\",\"A\",\"a\",\"ab\",\"b\",\"\xc3\xa9\",\"\xf0\x9f\x99\x82\"]"));
}

static void test_invalid(brig_kv *kv)
{
	static const char *const bad_json[] = {
	    "", "{", "[1,]", "nul", "1 2", "{'a':1}", "{\"\\u0000\":1}", "[1]x"};
	static const char *const bad_keys[] = {
	    "", "\xff", "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "\xf4\x90\x80\x80"};
	char *out = NULL;

	CHECK(brig_kv_set(kv, "k", "1") == BRIG_OK);
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++)
		CHECK(brig_kv_set(kv, "k", bad_json[i]) == BRIG_E_INVAL);
	CHECK(get_is(kv, "k", "1"));
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		CHECK(brig_kv_set(kv, bad_keys[i], "1") == BRIG_E_INVAL);
		CHECK(brig_kv_get(kv, bad_keys[i], &out) == BRIG_E_INVAL);
		CHECK(brig_kv_delete(kv, bad_keys[i]) == BRIG_E_INVAL);
	}
	CHECK(brig_kv_set(kv, NULL, "1") == BRIG_E_INVAL);
	CHECK(brig_kv_set(kv, "k", NULL) == BRIG_E_INVAL);
	CHECK(brig_kv_set(NULL, "k", "1") == BRIG_E_INVAL);
	CHECK(brig_kv_get(kv, NULL, &out) == BRIG_E_INVAL);
	CHECK(brig_kv_get(kv, "k", NULL) == BRIG_E_INVAL);
	CHECK(brig_kv_get(NULL, "k", &out) == BRIG_E_INVAL);
	CHECK(brig_kv_delete(kv, NULL) == BRIG_E_INVAL);
	CHECK(brig_kv_delete(NULL, "k") == BRIG_E_INVAL);
	CHECK(brig_kv_keys(kv, NULL) == BRIG_E_INVAL);
	CHECK(brig_kv_keys(NULL, &out) == BRIG_E_INVAL);
	CHECK(keys_are(kv, "[\"k\"]"));
}

/* ------------------------------------------------------------- limits */

static void test_key_limit(brig_kv *kv)
{
	char *at = nkey(8, 'a'), *over = nkey(9, 'b');
	char *out = NULL;

	CHECK(brig_kv_set(kv, at, "1") == BRIG_OK);
	CHECK(get_is(kv, at, "1"));
	CHECK(brig_kv_set(kv, over, "1") == BRIG_E_LIMIT);
	/* A key too long to store is an error everywhere, never "not there". */
	CHECK(brig_kv_get(kv, over, &out) == BRIG_E_LIMIT && out == NULL);
	CHECK(brig_kv_delete(kv, over) == BRIG_E_LIMIT);
	CHECK(brig_kv_delete(kv, at) == BRIG_OK);
	CHECK(brig_kv_get(kv, at, &out) == BRIG_E_NOTFOUND);
	CHECK(brig_kv_set(kv, at, "1") == BRIG_OK);
	CHECK(count_keys(kv) == 1);
	free(out);
	free(at);
	free(over);
}

static void test_value_limit(brig_kv *kv)
{
	char *at = jstr(16), *over = jstr(17);

	CHECK(brig_kv_set(kv, "v", at) == BRIG_OK);
	CHECK(get_is(kv, "v", at));
	CHECK(brig_kv_set(kv, "v", over) == BRIG_E_LIMIT);
	CHECK(get_is(kv, "v", at));
	CHECK(brig_kv_set(kv, "w", over) == BRIG_E_LIMIT);
	/* 23 bytes of text, 15 compact: only the compact form counts. */
	CHECK(brig_kv_set(kv, "w", "[ 1, 2, 3, 4, 5, 6, 7 ]") == BRIG_OK);
	CHECK(get_is(kv, "w", "[1,2,3,4,5,6,7]"));
	/* Escapes count as encoded: "\n" x7 is 16 bytes, x8 is 18. */
	CHECK(brig_kv_set(kv, "e", "\"\\n\\n\\n\\n\\n\\n\\n\"") == BRIG_OK);
	CHECK(brig_kv_set(kv, "e", "\"\\n\\n\\n\\n\\n\\n\\n\\n\"") == BRIG_E_LIMIT);
	free(at);
	free(over);
}

static void test_entry_limit(brig_kv *kv)
{
	CHECK(brig_kv_set(kv, "a", "1") == BRIG_OK);
	CHECK(brig_kv_set(kv, "b", "2") == BRIG_OK);
	CHECK(brig_kv_set(kv, "c", "3") == BRIG_OK);
	CHECK(brig_kv_set(kv, "d", "4") == BRIG_E_LIMIT);
	/* Replacing is not a new entry, at any size. */
	CHECK(brig_kv_set(kv, "c", "5") == BRIG_OK);
	CHECK(brig_kv_set(kv, "c", "[1,2]") == BRIG_OK);
	CHECK(get_is(kv, "c", "[1,2]"));
	CHECK(keys_are(kv, "[\"a\",\"b\",\"c\"]"));
	CHECK(brig_kv_delete(kv, "a") == BRIG_OK);
	CHECK(brig_kv_set(kv, "d", "4") == BRIG_OK);
	CHECK(brig_kv_set(kv, "a", "1") == BRIG_E_LIMIT);
	CHECK(keys_are(kv, "[\"b\",\"c\",\"d\"]"));
}

/* Limit 20: entries are key bytes plus compact value bytes. */
static void test_total_limit(brig_kv *kv)
{
	CHECK(brig_kv_set(kv, "k1", "123456") == BRIG_OK);     /* 8 */
	CHECK(brig_kv_set(kv, "k2", "1234567890") == BRIG_OK); /* 12: total 20 */
	CHECK(brig_kv_set(kv, "k3", "1") == BRIG_E_LIMIT);
	CHECK(brig_kv_set(kv, "k2", "9876543210") == BRIG_OK); /* same size */
	CHECK(get_is(kv, "k2", "9876543210"));
	CHECK(brig_kv_set(kv, "k2", "12345678901") == BRIG_E_LIMIT);
	CHECK(get_is(kv, "k2", "9876543210"));
	CHECK(brig_kv_set(kv, "k2", "1234567") == BRIG_OK); /* 9: total 17 */
	CHECK(brig_kv_set(kv, "k3", "12") == BRIG_E_LIMIT); /* would be 21 */
	CHECK(brig_kv_set(kv, "k3", "1") == BRIG_OK);	    /* exactly 20 */
	CHECK(brig_kv_delete(kv, "k1") == BRIG_OK);
	CHECK(brig_kv_set(kv, "k4", "123456") == BRIG_OK); /* 20 again */
	CHECK(brig_kv_set(kv, "k5", "1") == BRIG_E_LIMIT);
	CHECK(keys_are(kv, "[\"k2\",\"k3\",\"k4\"]"));
}

static void test_default_key_value(brig_kv *kv)
{
	char *k256 = nkey(256, 'a'), *k257 = nkey(257, 'b');
	char *v64 = jstr(65536), *v64p = jstr(65537);
	char want[300];

	CHECK(brig_kv_set(kv, k256, "1") == BRIG_OK);
	CHECK(brig_kv_set(kv, k257, "1") == BRIG_E_LIMIT);
	CHECK(brig_kv_set(kv, "v", v64) == BRIG_OK);
	CHECK(get_is(kv, "v", v64));
	CHECK(brig_kv_set(kv, "v", v64p) == BRIG_E_LIMIT);
	snprintf(want, sizeof(want), "[\"%s\",\"v\"]", k256);
	CHECK(keys_are(kv, want));
	free(k256);
	free(k257);
	free(v64);
	free(v64p);
}

static void test_default_entries(brig_kv *kv)
{
	char key[16];
	int fails = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "e%04d", i);
		fails += brig_kv_set(kv, key, "12") != BRIG_OK;
	}
	CHECK(fails == 0);
	CHECK(brig_kv_set(kv, "x", "1") == BRIG_E_LIMIT);
	/* At the entry limit, replacing with an equal-sized value succeeds. */
	CHECK(brig_kv_set(kv, "e0500", "34") == BRIG_OK);
	CHECK(get_is(kv, "e0500", "34"));
	CHECK(count_keys(kv) == 1000);
}

/* 10 MiB = 160 values of 64 KiB; keys make the 160th not fit. */
static void test_default_total(brig_kv *kv)
{
	const size_t total = 10u << 20, vsz = 65536;
	char *v = jstr(vsz), *rest;
	char key[16];
	size_t used = 0;
	int fails = 0;

	for (int i = 0; i < 159; i++) {
		snprintf(key, sizeof(key), "t%03d", i);
		fails += brig_kv_set(kv, key, v) != BRIG_OK;
		used += strlen(key) + vsz;
	}
	CHECK(fails == 0);
	CHECK(brig_kv_set(kv, "t159", v) == BRIG_E_LIMIT);
	rest = jstr(total - used - 1); /* key "z" takes the last byte */
	CHECK(brig_kv_set(kv, "z", rest) == BRIG_OK);
	CHECK(brig_kv_set(kv, "y", "1") == BRIG_E_LIMIT);
	CHECK(brig_kv_set(kv, "t000", v) == BRIG_OK);
	CHECK(count_keys(kv) == 160);
	free(v);
	free(rest);
}

static void test_limits_init(void)
{
	brig_kv_limits l;

	memset(&l, 0xab, sizeof(l));
	brig_kv_limits_init(&l);
	CHECK(l.max_key_bytes == 0 && l.max_value_bytes == 0);
	CHECK(l.max_entries == 0 && l.max_total_bytes == 0);
	brig_kv_limits_init(NULL);
}

/* Every API and limit test, on one store kind. */
static void test_kind(struct fx *fx, bool durable)
{
	brig_kv_limits key = small_limits(8, 0, 0, 0), val = small_limits(0, 16, 0, 0);
	brig_kv_limits ent = small_limits(0, 0, 3, 0), tot = small_limits(0, 0, 0, 20);
	void (*plain[])(brig_kv *) = {test_roundtrip,	    test_sorted_keys,
				      test_invalid,	    test_default_key_value,
				      test_default_entries, test_default_total};
	struct {
		void (*fn)(brig_kv *);
		const brig_kv_limits *lim;
	} limited[] = {{test_key_limit, &key},
		       {test_value_limit, &val},
		       {test_entry_limit, &ent},
		       {test_total_limit, &tot}};

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		brig_kv *kv = make_store(fx, durable, NULL);

		if (kv)
			plain[i](kv);
		brig_kv_free(kv);
	}
	for (size_t i = 0; i < sizeof(limited) / sizeof(limited[0]); i++) {
		brig_kv *kv = make_store(fx, durable, limited[i].lim);

		if (kv)
			limited[i].fn(kv);
		brig_kv_free(kv);
	}
}

static void test_new_errors(void)
{
	CHECK(brig_kv_new(NULL, NULL) == BRIG_E_INVAL);
	brig_kv_free(NULL);
}

/* ------------------------------------------------------ durable store */

static void test_open_errors(struct fx *fx)
{
	brig_kv *kv = (brig_kv *)&kv;
	char path[512];
	FILE *f;

	CHECK(brig_kv_open(NULL, NULL, &kv) == BRIG_E_INVAL);
	CHECK(kv == NULL);
	CHECK(brig_kv_open("", NULL, &kv) == BRIG_E_INVAL);
	CHECK(brig_kv_open("x.db", NULL, NULL) == BRIG_E_INVAL);
	snprintf(path, sizeof(path), "%s/missing/dir.db", fx->dir);
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_E_INVAL);
	CHECK(brig_kv_open(fx->dir, NULL, &kv) == BRIG_E_INVAL);
	snprintf(path, sizeof(path), "%s/garbage.db", fx->dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		for (int i = 0; i < 100; i++)
			fputs("this is not a database file at all\n", f);
		fclose(f);
	}
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_E_INVAL);
	CHECK(kv == NULL);
}

static void test_persist(struct fx *fx)
{
	brig_kv_limits three = small_limits(0, 0, 3, 0);
	brig_kv *kv = NULL;
	char path[512];

	fx_path(fx, path, sizeof(path));
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_OK);
	if (!kv)
		return;
	CHECK(brig_kv_set(kv, "a", "{\"n\": 1}") == BRIG_OK);
	CHECK(brig_kv_set(kv, "b", "\"two\"") == BRIG_OK);
	CHECK(brig_kv_set(kv, "c", "3") == BRIG_OK);
	CHECK(brig_kv_set(kv, "gone", "4") == BRIG_OK);
	CHECK(brig_kv_delete(kv, "gone") == BRIG_OK);
	brig_kv_free(kv);
	kv = NULL;
	/* Reopened with a limit the stored entries already meet. */
	CHECK(brig_kv_open(path, &three, &kv) == BRIG_OK);
	if (!kv)
		return;
	CHECK(get_is(kv, "a", "{\"n\":1}"));
	CHECK(get_is(kv, "b", "\"two\""));
	CHECK(keys_are(kv, "[\"a\",\"b\",\"c\"]"));
	CHECK(brig_kv_set(kv, "d", "4") == BRIG_E_LIMIT);
	CHECK(brig_kv_set(kv, "c", "33") == BRIG_OK);
	brig_kv_free(kv);
}

static void test_two_handles(struct fx *fx)
{
	brig_kv_limits two = small_limits(0, 0, 2, 0);
	brig_kv *a = NULL, *b = NULL;
	char path[512];

	fx_path(fx, path, sizeof(path));
	CHECK(brig_kv_open(path, &two, &a) == BRIG_OK);
	CHECK(brig_kv_open(path, &two, &b) == BRIG_OK);
	if (a && b) {
		CHECK(brig_kv_set(a, "x", "1") == BRIG_OK);
		CHECK(get_is(b, "x", "1"));
		CHECK(brig_kv_set(b, "y", "2") == BRIG_OK);
		/* a sees b's entry when it counts. */
		CHECK(brig_kv_set(a, "z", "3") == BRIG_E_LIMIT);
		CHECK(brig_kv_delete(a, "y") == BRIG_OK);
		CHECK(keys_are(b, "[\"x\"]"));
	}
	brig_kv_free(a);
	brig_kv_free(b);
}

/* Another program breaking the file: failures surface as BRIG_E_INTERNAL. */
static void test_internal_error(struct fx *fx)
{
	brig_kv *kv = NULL;
	sqlite3 *db = NULL;
	char path[512], *out = NULL;
	struct hc_reply rep;
	json_t *args = json_pack("{s:s}", "key", "bad");
	json_t *set = json_pack("{s:s, s:i}", "key", "k", "value", 1);

	fx_path(fx, path, sizeof(path));
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_OK);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	if (!kv || !db)
		goto out;
	CHECK(sqlite3_exec(db, "INSERT INTO brig_kv (key, value) VALUES ('bad', '{oops')", NULL,
			   NULL, NULL) == SQLITE_OK);
	hc_reply_init(&rep);
	kv_call(kv, "get", args, &rep);
	CHECK_STR(rep.err_type, "RuntimeError");
	hc_reply_clear(&rep);
	CHECK(sqlite3_exec(db, "DROP TABLE brig_kv", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(brig_kv_get(kv, "bad", &out) == BRIG_E_INTERNAL);
	CHECK(brig_kv_set(kv, "k", "1") == BRIG_E_INTERNAL);
	CHECK(brig_kv_delete(kv, "k") == BRIG_E_INTERNAL);
	CHECK(brig_kv_keys(kv, &out) == BRIG_E_INTERNAL);
	CHECK(out == NULL);
	kv_call(kv, "set", set, &rep);
	CHECK_STR(rep.err_type, "RuntimeError");
	hc_reply_clear(&rep);
out:
	json_decref(args);
	json_decref(set);
	sqlite3_close(db);
	brig_kv_free(kv);
}

/* -------------------------------------------------------- concurrency */

struct writer {
	const char *path; /* NULL: use shared */
	brig_kv *shared;
	char prefix[8];
	const brig_kv_limits *lim;
	int ok;
	int limited;
	int other;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	brig_kv *kv = w->shared;
	char key[32], val[32];

	if (w->path && brig_kv_open(w->path, w->lim, &kv) != BRIG_OK) {
		w->other = WRITERS_KEYS;
		return NULL;
	}
	for (int i = 0; i < WRITERS_KEYS; i++) {
		snprintf(key, sizeof(key), "%s-%03d", w->prefix, i);
		snprintf(val, sizeof(val), "{\"i\":%d}", i);
		switch (brig_kv_set(kv, key, val)) {
		case BRIG_OK:
			w->ok++;
			break;
		case BRIG_E_LIMIT:
			w->limited++;
			break;
		default:
			w->other++;
		}
	}
	if (w->path)
		brig_kv_free(kv);
	return NULL;
}

/* The tally a child writer sends back. */
struct tally {
	int ok;
	int limited;
	int other;
};

/*
 * A child that waits until the start pipe closes, writes with its own
 * connection, and sends its tally down report[1].
 */
static pid_t spawn_writer(struct writer *w, const int start[2], const int report[2])
{
	pid_t pid = fork();
	struct tally t;
	char c;

	if (pid != 0)
		return pid;
	close(start[1]);
	close(report[0]);
	if (read(start[0], &c, 1) < 0)
		_exit(2);
	writer_run(w);
	t = (struct tally){w->ok, w->limited, w->other};
	_exit(write(report[1], &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 3);
}

static void collect_writer(struct writer *w, pid_t pid, int report_fd)
{
	struct tally t = {0, 0, WRITERS_KEYS};
	int status;

	CHECK(read(report_fd, &t, sizeof(t)) == (ssize_t)sizeof(t));
	close(report_fd);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	w->ok = t.ok;
	w->limited = t.limited;
	w->other = t.other;
}

static bool all_present(brig_kv *kv, const char *prefix)
{
	char key[32], val[32];
	bool ok = true;

	for (int i = 0; i < WRITERS_KEYS && ok; i++) {
		snprintf(key, sizeof(key), "%s-%03d", prefix, i);
		snprintf(val, sizeof(val), "{\"i\":%d}", i);
		ok = get_is(kv, key, val);
	}
	return ok;
}

/*
 * Two processes and two threads, each with its own connection, write
 * distinct keys to one file at the same time.  lim: the writers' limits.
 * Returns the number of successful writes, or -1.
 */
static int race_writers(const char *path, const brig_kv_limits *lim, struct writer *w)
{
	int start[2], report[2][2], total = 0;
	pthread_t th[2];
	pid_t pid[2];

	if (pipe(start) || pipe(report[0]) || pipe(report[1]))
		return -1;
	for (int i = 0; i < 4; i++)
		w[i] = (struct writer){.path = path, .lim = lim};
	/* Fork before any thread exists; the children open their own stores. */
	for (int i = 0; i < 2; i++) {
		snprintf(w[i].prefix, sizeof(w[i].prefix), "p%d", i);
		pid[i] = spawn_writer(&w[i], start, report[i]);
		close(report[i][1]);
	}
	close(start[0]);
	for (int i = 0; i < 2; i++) {
		snprintf(w[2 + i].prefix, sizeof(w[2 + i].prefix), "t%d", i);
		pthread_create(&th[i], NULL, writer_run, &w[2 + i]);
	}
	close(start[1]); /* releases both children */
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		collect_writer(&w[i], pid[i], report[i][0]);
	}
	for (int i = 0; i < 4; i++)
		total += w[i].ok;
	return total;
}

static void test_race_distinct(struct fx *fx)
{
	struct writer w[4];
	brig_kv *kv = NULL;
	char path[512];
	int n;

	fx_path(fx, path, sizeof(path));
	n = race_writers(path, NULL, w);
	CHECK(n == 4 * WRITERS_KEYS);
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_OK);
	if (!kv)
		return;
	CHECK(count_keys(kv) == 4 * WRITERS_KEYS);
	CHECK(all_present(kv, "p0") && all_present(kv, "p1"));
	CHECK(all_present(kv, "t0") && all_present(kv, "t1"));
	brig_kv_free(kv);
}

/* The entry limit holds when four connections race for the last slots. */
static void test_race_limit(struct fx *fx)
{
	brig_kv_limits lim = small_limits(0, 0, 150, 0);
	struct writer w[4];
	brig_kv *kv = NULL;
	char path[512];
	int limited = 0, other = 0;

	fx_path(fx, path, sizeof(path));
	CHECK(race_writers(path, &lim, w) == 150);
	for (int i = 0; i < 4; i++) {
		limited += w[i].limited;
		other += w[i].other;
	}
	CHECK(limited == 4 * WRITERS_KEYS - 150);
	CHECK(other == 0);
	CHECK(brig_kv_open(path, NULL, &kv) == BRIG_OK);
	CHECK(count_keys(kv) == 150);
	brig_kv_free(kv);
}

/* Four threads sharing one handle. */
static void test_shared_handle(struct fx *fx, bool durable)
{
	brig_kv *kv = make_store(fx, durable, NULL);
	struct writer w[4];
	pthread_t th[4];

	if (!kv)
		return;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){.shared = kv};
		snprintf(w[i].prefix, sizeof(w[i].prefix), "s%d", i);
		pthread_create(&th[i], NULL, writer_run, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].ok == WRITERS_KEYS);
	}
	CHECK(count_keys(kv) == 4 * WRITERS_KEYS);
	CHECK(all_present(kv, "s0") && all_present(kv, "s3"));
	brig_kv_free(kv);
}

/* ---------------------------------------------------------- kv_call */

/* Run one call with args given as JSON text; rep must be cleared after. */
static void call(brig_kv *kv, const char *op, const char *args, struct hc_reply *rep)
{
	json_t *a = json_loads(args, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	hc_reply_init(rep);
	kv_call(kv, op, a, rep);
	json_decref(a);
}

static bool call_ok(brig_kv *kv, const char *op, const char *args, const char *want)
{
	struct hc_reply rep;
	json_t *w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	bool ok;

	call(kv, op, args, &rep);
	ok = rep.err_type == NULL && (rep.value ? json_equal(rep.value, w) : json_is_null(w));
	if (!ok)
		fprintf(stderr, "kv.%s %s: %s %s\n", op, args, rep.err_type ? rep.err_type : "ok",
			rep.err_msg);
	hc_reply_clear(&rep);
	json_decref(w);
	return ok;
}

/* The call fails with type, and the message contains part. */
static bool call_err(brig_kv *kv, const char *op, const char *args, const char *type,
		     const char *part)
{
	struct hc_reply rep;
	bool ok;

	call(kv, op, args, &rep);
	ok = rep.err_type && strcmp(rep.err_type, type) == 0 && strstr(rep.err_msg, part) &&
	     rep.value == NULL;
	if (!ok)
		fprintf(stderr, "kv.%s %s: %s %s\n", op, args, rep.err_type ? rep.err_type : "ok",
			rep.err_msg);
	hc_reply_clear(&rep);
	return ok;
}

static void test_call_shapes(brig_kv *kv)
{
	CHECK(call_ok(kv, "keys", "{}", "[]"));
	CHECK(call_ok(kv, "get", "{\"key\":\"a\"}", "{\"found\":false,\"value\":null}"));
	CHECK(call_ok(kv, "set", "{\"key\":\"a\",\"value\":{\"x\":[1,2.5,\"s\"]}}", "null"));
	CHECK(call_ok(kv, "get", "{\"key\":\"a\"}",
		      "{\"found\":true,\"value\":{\"x\":[1,2.5,\"s\"]}}"));
	/* A stored null is found, unlike a missing key. */
	CHECK(call_ok(kv, "set", "{\"key\":\"n\",\"value\":null}", "null"));
	CHECK(call_ok(kv, "get", "{\"key\":\"n\"}", "{\"found\":true,\"value\":null}"));
	CHECK(get_is(kv, "n", "null"));
	CHECK(call_ok(kv, "keys", "{}", "[\"a\",\"n\"]"));
	CHECK(call_ok(kv, "delete", "{\"key\":\"a\"}", "true"));
	CHECK(call_ok(kv, "delete", "{\"key\":\"a\"}", "false"));
	CHECK(call_ok(kv, "keys", "{}", "[\"n\"]"));
	/* The C API and kv.* see the same store. */
	CHECK(brig_kv_set(kv, "c", "[1, 2]") == BRIG_OK);
	CHECK(call_ok(kv, "get", "{\"key\":\"c\"}", "{\"found\":true,\"value\":[1,2]}"));
	/* NUL inside a value is kept, stored as its escape and read back. */
	CHECK(brig_kv_set(kv, "z", "\"a\\u0000b\"") == BRIG_OK);
	CHECK(get_is(kv, "z", "\"a\\u0000b\""));
	CHECK(call_ok(kv, "get", "{\"key\":\"z\"}", "{\"found\":true,\"value\":\"a\\u0000b\"}"));
	CHECK(brig_kv_delete(kv, "z") == BRIG_OK);
}

static void test_call_errors(brig_kv *kv)
{
	CHECK(call_err(kv, "get", "[]", "ValueError", "object"));
	CHECK(call_err(kv, "get", "{}", "ValueError", "key"));
	CHECK(call_err(kv, "get", "{\"key\":42}", "ValueError", "key"));
	CHECK(call_err(kv, "delete", "{\"key\":null}", "ValueError", "key"));
	CHECK(call_err(kv, "set", "{\"key\":\"\",\"value\":1}", "ValueError", "key"));
	CHECK(call_err(kv, "get", "{\"key\":\"\"}", "ValueError", "key"));
	CHECK(call_err(kv, "set", "{\"key\":\"a\"}", "ValueError", "value"));
	CHECK(call_err(kv, "frob", "{}", "ValueError", "frob"));
	CHECK(call_err(NULL, "keys", "{}", "RuntimeError", "kv"));
	CHECK(call_ok(kv, "keys", "{}", "[]"));
}

static void test_call_limits(struct fx *fx, bool durable)
{
	brig_kv_limits lim = small_limits(4, 8, 2, 14);
	brig_kv *kv = make_store(fx, durable, &lim);

	if (!kv)
		return;
	CHECK(call_err(kv, "set", "{\"key\":\"12345\",\"value\":1}", "ValueError",
		       "kv key of 5 bytes exceeds 4 bytes"));
	/* Every operation, not only set: get must not answer "not found". */
	CHECK(call_err(kv, "get", "{\"key\":\"12345\"}", "ValueError", "exceeds 4 bytes"));
	CHECK(call_err(kv, "delete", "{\"key\":\"12345\"}", "ValueError", "exceeds 4 bytes"));
	/* Bytes, not characters: two 2-byte characters fit, three do not. */
	CHECK(call_ok(kv, "get", "{\"key\":\"\u00e9\u00e9\"}", "{\"found\":false,\"value\":null}"));
	CHECK(call_err(kv, "get", "{\"key\":\"\u00e9\u00e9\u00e9\"}", "ValueError", "6 bytes"));
	CHECK(call_err(kv, "set", "{\"key\":\"a\",\"value\":\"1234567\"}", "ValueError",
		       "kv value exceeds 8 bytes"));
	CHECK(call_ok(kv, "set", "{\"key\":\"a\",\"value\":\"123456\"}", "null")); /* 9 */
	CHECK(call_err(kv, "set", "{\"key\":\"bb\",\"value\":\"1234\"}", "ValueError",
		       "14 bytes in total"));
	CHECK(call_ok(kv, "set", "{\"key\":\"b\",\"value\":1234}", "null")); /* 14 */
	CHECK(call_err(kv, "set", "{\"key\":\"c\",\"value\":1}", "ValueError", "2 entries"));
	CHECK(call_ok(kv, "keys", "{}", "[\"a\",\"b\"]"));
	brig_kv_free(kv);
}

static void test_call_default_message(void)
{
	brig_kv *kv = NULL;
	struct hc_reply rep;
	char *big = jstr(65537);
	json_t *args =
	    json_pack("{s:s, s:o}", "key", "k", "value", json_loads(big, JSON_DECODE_ANY, NULL));

	CHECK(brig_kv_new(NULL, &kv) == BRIG_OK);
	hc_reply_init(&rep);
	if (kv)
		kv_call(kv, "set", args, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	CHECK_STR(rep.err_msg, "kv value exceeds 65536 bytes");
	hc_reply_clear(&rep);
	json_decref(args);
	free(big);
	brig_kv_free(kv);
}

static void test_calls(struct fx *fx, bool durable)
{
	brig_kv *kv = make_store(fx, durable, NULL);

	if (kv) {
		test_call_shapes(kv);
		brig_kv_free(kv);
	}
	kv = make_store(fx, durable, NULL);
	if (kv) {
		test_call_errors(kv);
		brig_kv_free(kv);
	}
	test_call_limits(fx, durable);
}

/* ----------------------------------------------------------------- main */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct fx fx = {.seq = 0};
	const char *tmp = getenv("TMPDIR");

	snprintf(fx.dir, sizeof(fx.dir), "%s/brig-kv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx.dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_limits_init();
	test_new_errors();
	for (int durable = 0; durable <= 1; durable++) {
		test_kind(&fx, durable);
		test_shared_handle(&fx, durable);
		test_calls(&fx, durable);
	}
	test_call_default_message();
	test_open_errors(&fx);
	test_persist(&fx);
	test_two_handles(&fx);
	test_internal_error(&fx);
	test_race_distinct(&fx);
	test_race_limit(&fx);
	nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}
