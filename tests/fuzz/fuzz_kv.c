/*
 * The kv.* host functions (src/host/kv.c): key and value checks, limits, and
 * both stores.  Every input runs against a fresh in-memory store and against
 * a SQLite store emptied beforehand, with small limits so that they are
 * reached.
 *
 * Input: a JSON array of calls, each ["get"|"set"|"delete"|"keys"|..., args].
 *
 * Invariants:
 *  - the two stores give the same answer to every call (error type, or
 *    value);
 *  - a value that was set is read back equal, and a deleted key is gone;
 *  - errors are ValueError or RuntimeError with a non-empty UTF-8 message.
 */
#include "fuzz.h"
#include "host/kv.h"

#include <jansson.h>
#include <limits.h>
#include <unistd.h>

#define MAX_CALLS 32

static brig_kv *durable;
static char dir[PATH_MAX], db[PATH_MAX + 16];
static const brig_kv_limits limits = {
    .max_key_bytes = 32, .max_value_bytes = 256, .max_entries = 4, .max_total_bytes = 512};

static void cleanup(void)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

	brig_kv_free(durable);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/brig-fuzz-kv.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "%s/kv.db", dir);
	FUZZ_ASSERT(brig_kv_open(db, &limits, &durable) == BRIG_OK);
	atexit(cleanup);
}

static void empty(brig_kv *kv)
{
	char *text = NULL;
	json_t *keys, *k;
	size_t i;

	FUZZ_ASSERT(brig_kv_keys(kv, &text) == BRIG_OK);
	keys = json_loads(text, 0, NULL);
	FUZZ_ASSERT(json_is_array(keys));
	json_array_foreach(keys, i, k)
	{
		FUZZ_ASSERT(brig_kv_delete(kv, json_string_value(k)) == BRIG_OK);
	}
	json_decref(keys);
	free(text);
}

static void check_reply(const struct hc_reply *rep)
{
	if (!rep->err_type)
		return;
	FUZZ_ASSERT(!strcmp(rep->err_type, "ValueError") || !strcmp(rep->err_type, "RuntimeError"));
	FUZZ_ASSERT(rep->err_msg[0] != '\0');
	FUZZ_ASSERT(fuzz_utf8_valid(rep->err_msg, strlen(rep->err_msg)));
}

static void same_reply(const struct hc_reply *a, const struct hc_reply *b)
{
	FUZZ_ASSERT((a->err_type == NULL) == (b->err_type == NULL));
	if (a->err_type)
		FUZZ_ASSERT(strcmp(a->err_type, b->err_type) == 0);
	else
		FUZZ_ASSERT(json_equal(a->value, b->value) || (!a->value && !b->value));
}

/* After a call that succeeded: what it stored or removed is so. */
static void check_effect(brig_kv *kv, const char *op, json_t *args)
{
	json_t *key = json_object_get(args, "key");
	json_t *q = json_pack("{s:O}", "key", key);
	struct hc_reply rep;

	hc_reply_init(&rep);
	kv_call(kv, "get", q, &rep);
	FUZZ_ASSERT(rep.err_type == NULL);
	if (strcmp(op, "set") == 0) {
		FUZZ_ASSERT(json_is_true(json_object_get(rep.value, "found")));
		FUZZ_ASSERT(json_equal(json_object_get(rep.value, "value"),
				       json_object_get(args, "value")));
	} else {
		FUZZ_ASSERT(json_is_false(json_object_get(rep.value, "found")));
	}
	hc_reply_clear(&rep);
	json_decref(q);
}

static void run_call(brig_kv *mem, json_t *call)
{
	const char *op = json_string_value(json_array_get(call, 0));
	json_t *args = json_array_get(call, 1);
	struct hc_reply a, b;

	if (!op || !args)
		return;
	hc_reply_init(&a);
	hc_reply_init(&b);
	kv_call(mem, op, args, &a);
	kv_call(durable, op, args, &b);
	check_reply(&a);
	check_reply(&b);
	same_reply(&a, &b);
	if (!a.err_type && (!strcmp(op, "set") || !strcmp(op, "delete"))) {
		check_effect(mem, op, args);
		check_effect(durable, op, args);
	}
	hc_reply_clear(&a);
	hc_reply_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *calls = json_loadb((const char *)data, size, 0, NULL);
	brig_kv *mem = NULL;
	json_t *call;
	size_t i;

	if (!durable)
		setup();
	if (!json_is_array(calls)) {
		json_decref(calls);
		return 0;
	}
	FUZZ_ASSERT(brig_kv_new(&limits, &mem) == BRIG_OK);
	empty(durable);
	json_array_foreach(calls, i, call)
	{
		if (i == MAX_CALLS)
			break;
		run_call(mem, call);
	}
	brig_kv_free(mem);
	json_decref(calls);
	return 0;
}
