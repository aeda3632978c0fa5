/*
 * The key-value store behind the guest's `kv`: an in-memory sorted array or
 * a SQLite file.  Both enforce the same limits, measured on the compact JSON
 * encoding so that whitespace in the caller's text never counts, and both
 * order keys bytewise (strcmp and SQLite's BINARY collation agree on UTF-8).
 */
#include "util/errfmt.h"
#include "kv.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_DEFAULT_KEY_BYTES 256u
#define KV_DEFAULT_VALUE_BYTES (64u << 10)
#define KV_DEFAULT_ENTRIES 1000u
#define KV_DEFAULT_TOTAL_BYTES (10u << 20)
/* Long enough to ride out another process's write, short enough to fail. */
#define KV_BUSY_TIMEOUT_MS 5000
#define KV_RETRY_MS 5

/* A key and its compact JSON value, lengths in bytes without the NUL. */
struct kv_item {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

struct kv_entry {
	char *key;
	char *val;
	size_t klen;
	size_t vlen;
};

struct kv_mem {
	struct kv_entry *ents; /* sorted by key */
	size_t n;
	size_t cap;
	size_t total; /* sum of klen + vlen */
};

enum kv_stmt {
	KV_BEGIN,
	KV_COMMIT,
	KV_ROLLBACK,
	KV_GET,
	KV_STATS,
	KV_OLD,
	KV_PUT,
	KV_DEL,
	KV_KEYS,
	KV_NSTMT,
};

static const char *const kv_sql[KV_NSTMT] = {
    [KV_BEGIN] = "BEGIN IMMEDIATE",
    [KV_COMMIT] = "COMMIT",
    [KV_ROLLBACK] = "ROLLBACK",
    [KV_GET] = "SELECT value FROM brig_kv WHERE key = ?1",
    [KV_STATS] = "SELECT count(*), coalesce(sum(bytes), 0) FROM brig_kv",
    [KV_OLD] = "SELECT bytes FROM brig_kv WHERE key = ?1",
    [KV_PUT] = "INSERT OR REPLACE INTO brig_kv (key, value) VALUES (?1, ?2)",
    [KV_DEL] = "DELETE FROM brig_kv WHERE key = ?1",
    [KV_KEYS] = "SELECT key FROM brig_kv ORDER BY key",
};

/*
 * bytes is what the limits count.  Stored ahead of value so that summing it
 * reads only the start of each row, never a large value's overflow pages.
 */
static const char kv_schema[] =
    "CREATE TABLE IF NOT EXISTS brig_kv (key TEXT PRIMARY KEY NOT NULL, "
    "bytes INTEGER GENERATED ALWAYS AS "
    "(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))) STORED, "
    "value TEXT NOT NULL)";

struct kv_sqlite {
	sqlite3 *db;
	sqlite3_stmt *st[KV_NSTMT];
};

/* Every op runs with brig_kv.mu held; err may be NULL. */
struct kv_ops {
	int (*get)(brig_kv *kv, const char *key, char **out, char *err, size_t errlen);
	int (*put)(brig_kv *kv, const struct kv_item *it, char *err, size_t errlen);
	int (*del)(brig_kv *kv, const char *key, char *err, size_t errlen);
	int (*keys)(brig_kv *kv, json_t *arr, char *err, size_t errlen);
	void (*close)(brig_kv *kv);
};

struct brig_kv {
	pthread_mutex_t mu;
	brig_kv_limits lim;
	const struct kv_ops *ops;
	union {
		struct kv_mem mem;
		struct kv_sqlite sql;
	} u;
};

/* ------------------------------------------------------------ helpers */

static void kv_freep(void *p)
{
	free(*(void **)p);
}

static void kv_decrefp(json_t **j)
{
	json_decref(*j);
}

#define KV_AUTOFREE __attribute__((cleanup(kv_freep)))
#define KV_AUTODECREF __attribute__((cleanup(kv_decrefp)))

static char *kv_memdup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
	size_t extra;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		extra = 1, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		extra = 2, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		extra = 3, cp = s[0] & 0x07;
	else
		return 0;
	if (n <= extra)
		return 0;
	for (size_t k = 1; k <= extra; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return extra + 1;
}

static bool utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_seq(s + i, n - i)) == 0)
			return false;
	return true;
}

/*
 * Keys that can exist at all.  Every operation checks the length bound, so
 * that a key too long to store raises on get and delete too, rather than
 * quietly reading as absent.
 */
static int kv_key_check(const brig_kv *kv, const char *key, size_t *len, char *err, size_t errlen)
{
	if (!key || !*key)
		return errfmt(err, errlen, BRIG_E_INVAL, "kv key must be a non-empty string");
	*len = strlen(key);
	if (*len > kv->lim.max_key_bytes)
		return errfmt(err, errlen, BRIG_E_LIMIT, "kv key of %zu bytes exceeds %zu bytes",
			      *len, kv->lim.max_key_bytes);
	if (!utf8_valid(key, *len))
		return errfmt(err, errlen, BRIG_E_INVAL, "kv key is not valid UTF-8");
	return BRIG_OK;
}

/* Would storing it (replacing old_bytes if it exists) stay within bounds? */
static int kv_room(const brig_kv *kv, uint64_t count, uint64_t total, bool exists,
		   uint64_t old_bytes, const struct kv_item *it, char *err, size_t errlen)
{
	uint64_t add = (uint64_t)it->klen + it->vlen;

	if (!exists && count >= kv->lim.max_entries)
		return errfmt(err, errlen, BRIG_E_LIMIT, "kv store is full (%zu entries)",
			      kv->lim.max_entries);
	if (total + add > (uint64_t)kv->lim.max_total_bytes + old_bytes)
		return errfmt(err, errlen, BRIG_E_LIMIT, "kv store would exceed %zu bytes in total",
			      kv->lim.max_total_bytes);
	return BRIG_OK;
}

void brig_kv_limits_init(brig_kv_limits *l)
{
	if (l)
		memset(l, 0, sizeof(*l));
}

static size_t or_default(size_t v, size_t def)
{
	return v ? v : def;
}

static brig_kv *kv_alloc(const brig_kv_limits *lim, const struct kv_ops *ops)
{
	brig_kv_limits zero = {0};
	brig_kv *kv;

	if (!lim)
		lim = &zero;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return NULL;
	if (pthread_mutex_init(&kv->mu, NULL) != 0) {
		free(kv);
		return NULL;
	}
	kv->ops = ops;
	kv->lim.max_key_bytes = or_default(lim->max_key_bytes, KV_DEFAULT_KEY_BYTES);
	kv->lim.max_value_bytes = or_default(lim->max_value_bytes, KV_DEFAULT_VALUE_BYTES);
	kv->lim.max_entries = or_default(lim->max_entries, KV_DEFAULT_ENTRIES);
	kv->lim.max_total_bytes = or_default(lim->max_total_bytes, KV_DEFAULT_TOTAL_BYTES);
	return kv;
}

void brig_kv_free(brig_kv *kv)
{
	if (!kv)
		return;
	kv->ops->close(kv);
	pthread_mutex_destroy(&kv->mu);
	free(kv);
}

/* ------------------------------------------------------- memory store */

/* Index of key, or where it would be inserted. */
static size_t mem_find(const struct kv_mem *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, m->ents[mid].key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

static int mem_get(brig_kv *kv, const char *key, char **out, char *err, size_t errlen)
{
	struct kv_mem *m = &kv->u.mem;
	bool found;
	size_t i = mem_find(m, key, &found);

	if (!found)
		return BRIG_E_NOTFOUND;
	*out = kv_memdup(m->ents[i].val, m->ents[i].vlen);
	return *out ? BRIG_OK : BRIG_E_NOMEM;
}

/* Insert a new entry at i; takes ownership of val. */
static int mem_insert(struct kv_mem *m, size_t i, const struct kv_item *it, char *val)
{
	char *key = kv_memdup(it->key, it->klen);

	if (key && m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct kv_entry *e = realloc(m->ents, cap * sizeof(*e));

		if (e) {
			m->ents = e;
			m->cap = cap;
		}
	}
	if (!key || m->n == m->cap) {
		free(key);
		free(val);
		return BRIG_E_NOMEM;
	}
	memmove(&m->ents[i + 1], &m->ents[i], (m->n - i) * sizeof(*m->ents));
	m->ents[i] = (struct kv_entry){key, val, it->klen, it->vlen};
	m->n++;
	m->total += it->klen + it->vlen;
	return BRIG_OK;
}

static int mem_put(brig_kv *kv, const struct kv_item *it, char *err, size_t errlen)
{
	struct kv_mem *m = &kv->u.mem;
	bool found;
	size_t i = mem_find(m, it->key, &found);
	size_t old = found ? m->ents[i].klen + m->ents[i].vlen : 0;
	int rc = kv_room(kv, m->n, m->total, found, old, it, err, errlen);
	char *val;

	if (rc != BRIG_OK)
		return rc;
	val = kv_memdup(it->val, it->vlen);
	if (!val)
		return BRIG_E_NOMEM;
	if (!found)
		return mem_insert(m, i, it, val);
	free(m->ents[i].val);
	m->ents[i].val = val;
	m->ents[i].vlen = it->vlen;
	m->total = m->total - old + it->klen + it->vlen;
	return BRIG_OK;
}

static int mem_del(brig_kv *kv, const char *key, char *err, size_t errlen)
{
	struct kv_mem *m = &kv->u.mem;
	bool found;
	size_t i = mem_find(m, key, &found);

	if (!found)
		return BRIG_E_NOTFOUND;
	m->total -= m->ents[i].klen + m->ents[i].vlen;
	free(m->ents[i].key);
	free(m->ents[i].val);
	memmove(&m->ents[i], &m->ents[i + 1], (m->n - i - 1) * sizeof(*m->ents));
	m->n--;
	return BRIG_OK;
}

static int mem_keys(brig_kv *kv, json_t *arr, char *err, size_t errlen)
{
	const struct kv_mem *m = &kv->u.mem;

	for (size_t i = 0; i < m->n; i++)
		if (json_array_append_new(arr, json_stringn(m->ents[i].key, m->ents[i].klen)))
			return BRIG_E_NOMEM;
	return BRIG_OK;
}

static void mem_close(brig_kv *kv)
{
	struct kv_mem *m = &kv->u.mem;

	for (size_t i = 0; i < m->n; i++) {
		free(m->ents[i].key);
		free(m->ents[i].val);
	}
	free(m->ents);
}

static const struct kv_ops mem_ops = {
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .keys = mem_keys,
    .close = mem_close,
};

int brig_kv_new(const brig_kv_limits *limits, brig_kv **out)
{
	if (!out)
		return BRIG_E_INVAL;
	*out = kv_alloc(limits, &mem_ops);
	return *out ? BRIG_OK : BRIG_E_NOMEM;
}

/* ------------------------------------------------------- SQLite store */

static void sql_resetp(sqlite3_stmt **st)
{
	sqlite3_reset(*st);
	sqlite3_clear_bindings(*st);
}

/* A prepared statement that is reset when it goes out of scope. */
#define KV_STMT(kv, which)                                                                         \
	__attribute__((cleanup(sql_resetp))) sqlite3_stmt *st = (kv)->u.sql.st[which]

static int sql_fail(brig_kv *kv, int rc, char *err, size_t errlen)
{
	if ((rc & 0xff) == SQLITE_NOMEM)
		return errfmt(err, errlen, BRIG_E_NOMEM, "kv store: out of memory");
	return errfmt(err, errlen, BRIG_E_INTERNAL, "kv store: %s", sqlite3_errmsg(kv->u.sql.db));
}

static int sql_exec(brig_kv *kv, enum kv_stmt which, char *err, size_t errlen)
{
	KV_STMT(kv, which);
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? BRIG_OK : sql_fail(kv, rc, err, errlen);
}

static int sql_get(brig_kv *kv, const char *key, char **out, char *err, size_t errlen)
{
	KV_STMT(kv, KV_GET);
	int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	const char *val;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return BRIG_E_NOTFOUND;
	if (rc != SQLITE_ROW)
		return sql_fail(kv, rc, err, errlen);
	val = (const char *)sqlite3_column_text(st, 0);
	*out = val ? kv_memdup(val, sqlite3_column_bytes(st, 0)) : NULL;
	return *out ? BRIG_OK : BRIG_E_NOMEM;
}

static int sql_stats(brig_kv *kv, uint64_t *count, uint64_t *total, char *err, size_t errlen)
{
	KV_STMT(kv, KV_STATS);
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW)
		return sql_fail(kv, rc, err, errlen);
	*count = (uint64_t)sqlite3_column_int64(st, 0);
	*total = (uint64_t)sqlite3_column_int64(st, 1);
	return BRIG_OK;
}

static int sql_old(brig_kv *kv, const char *key, bool *exists, uint64_t *bytes, char *err,
		   size_t errlen)
{
	KV_STMT(kv, KV_OLD);
	int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	*exists = rc == SQLITE_ROW;
	*bytes = *exists ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? BRIG_OK : sql_fail(kv, rc, err, errlen);
}

static int sql_write(brig_kv *kv, const struct kv_item *it, char *err, size_t errlen)
{
	KV_STMT(kv, KV_PUT);
	int rc = sqlite3_bind_text64(st, 1, it->key, it->klen, SQLITE_STATIC, SQLITE_UTF8);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text64(st, 2, it->val, it->vlen, SQLITE_STATIC, SQLITE_UTF8);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? BRIG_OK : sql_fail(kv, rc, err, errlen);
}

/* The limit check and the write, inside the caller's write transaction. */
static int sql_put_locked(brig_kv *kv, const struct kv_item *it, char *err, size_t errlen)
{
	uint64_t count = 0, total = 0, old = 0;
	bool exists = false;
	int rc = sql_stats(kv, &count, &total, err, errlen);

	if (rc == BRIG_OK)
		rc = sql_old(kv, it->key, &exists, &old, err, errlen);
	if (rc == BRIG_OK)
		rc = kv_room(kv, count, total, exists, old, it, err, errlen);
	if (rc == BRIG_OK)
		rc = sql_write(kv, it, err, errlen);
	return rc;
}

/*
 * BEGIN IMMEDIATE takes the write lock before counting, so another process
 * cannot slip a write between the limit check and ours.
 */
static int sql_put(brig_kv *kv, const struct kv_item *it, char *err, size_t errlen)
{
	int rc = sql_exec(kv, KV_BEGIN, err, errlen);

	if (rc != BRIG_OK)
		return rc;
	rc = sql_put_locked(kv, it, err, errlen);
	if (rc == BRIG_OK)
		rc = sql_exec(kv, KV_COMMIT, err, errlen);
	if (!sqlite3_get_autocommit(kv->u.sql.db))
		sql_exec(kv, KV_ROLLBACK, NULL, 0);
	return rc;
}

static int sql_del(brig_kv *kv, const char *key, char *err, size_t errlen)
{
	KV_STMT(kv, KV_DEL);
	int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return sql_fail(kv, rc, err, errlen);
	return sqlite3_changes(kv->u.sql.db) ? BRIG_OK : BRIG_E_NOTFOUND;
}

static int sql_keys(brig_kv *kv, json_t *arr, char *err, size_t errlen)
{
	KV_STMT(kv, KV_KEYS);
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		json_t *s = k ? json_stringn(k, sqlite3_column_bytes(st, 0)) : NULL;

		/* NULL also when another program stored a key that is not UTF-8. */
		if (json_array_append_new(arr, s))
			return errfmt(err, errlen, BRIG_E_INTERNAL, "kv store: unreadable key");
	}
	return rc == SQLITE_DONE ? BRIG_OK : sql_fail(kv, rc, err, errlen);
}

static void sql_close(brig_kv *kv)
{
	for (int i = 0; i < KV_NSTMT; i++)
		sqlite3_finalize(kv->u.sql.st[i]);
	sqlite3_close(kv->u.sql.db);
}

static const struct kv_ops sql_ops = {
    .get = sql_get,
    .put = sql_put,
    .del = sql_del,
    .keys = sql_keys,
    .close = sql_close,
};

/* A path that cannot hold a writable database is the caller's mistake. */
static int sql_open_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return BRIG_E_INVAL;
	case SQLITE_NOMEM:
		return BRIG_E_NOMEM;
	default:
		return BRIG_E_INTERNAL;
	}
}

/*
 * WAL lets readers proceed while another process writes.  Switching to it
 * needs an exclusive lock and fails at once, without the busy handler, when
 * another process is opening the same new file; so retry for as long as the
 * busy timeout would have waited.
 */
static int sql_wal(sqlite3 *db)
{
	int rc;

	for (int waited = 0;; waited += KV_RETRY_MS) {
		rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || waited >= KV_BUSY_TIMEOUT_MS)
			return rc;
		sqlite3_sleep(KV_RETRY_MS);
	}
}

static int sql_open(struct kv_sqlite *s, const char *path)
{
	/* brig_kv.mu serialises every use of the connection. */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &s->db, flags, NULL);

	if (rc != SQLITE_OK)
		return sql_open_rc(rc);
	if (sqlite3_db_readonly(s->db, "main") == 1)
		return BRIG_E_INVAL;
	sqlite3_busy_timeout(s->db, KV_BUSY_TIMEOUT_MS);
	rc = sql_wal(s->db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, kv_schema, NULL, NULL, NULL);
	for (int i = 0; i < KV_NSTMT && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(s->db, kv_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
	return rc == SQLITE_OK ? BRIG_OK : sql_open_rc(rc);
}

int brig_kv_open(const char *path, const brig_kv_limits *limits, brig_kv **out)
{
	brig_kv *kv;
	int rc;

	if (!out)
		return BRIG_E_INVAL;
	*out = NULL;
	if (!path || !*path)
		return BRIG_E_INVAL;
	kv = kv_alloc(limits, &sql_ops);
	if (!kv)
		return BRIG_E_NOMEM;
	rc = sql_open(&kv->u.sql, path);
	if (rc != BRIG_OK) {
		brig_kv_free(kv);
		return rc;
	}
	*out = kv;
	return BRIG_OK;
}

/* ----------------------------------------------------- the public API */

static int kv_get(brig_kv *kv, const char *key, char **out, char *err, size_t errlen)
{
	size_t klen;
	int rc;

	if (!kv || !out)
		return errfmt(err, errlen, BRIG_E_INVAL, "kv: missing argument");
	*out = NULL;
	rc = kv_key_check(kv, key, &klen, err, errlen);
	if (rc != BRIG_OK)
		return rc;
	pthread_mutex_lock(&kv->mu);
	rc = kv->ops->get(kv, key, out, err, errlen);
	pthread_mutex_unlock(&kv->mu);
	return rc;
}

static int kv_put(brig_kv *kv, const char *key, const json_t *value, char *err, size_t errlen)
{
	KV_AUTOFREE char *txt = NULL;
	struct kv_item it = {.key = key};
	int rc;

	if (!kv)
		return errfmt(err, errlen, BRIG_E_INVAL, "kv: missing argument");
	rc = kv_key_check(kv, key, &it.klen, err, errlen);
	if (rc != BRIG_OK)
		return rc;
	txt = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!txt)
		return errfmt(err, errlen, BRIG_E_NOMEM, "kv: out of memory");
	it.val = txt;
	it.vlen = strlen(txt);
	if (it.vlen > kv->lim.max_value_bytes)
		return errfmt(err, errlen, BRIG_E_LIMIT, "kv value exceeds %zu bytes",
			      kv->lim.max_value_bytes);
	pthread_mutex_lock(&kv->mu);
	rc = kv->ops->put(kv, &it, err, errlen);
	pthread_mutex_unlock(&kv->mu);
	return rc;
}

static int kv_del(brig_kv *kv, const char *key, char *err, size_t errlen)
{
	size_t klen;
	int rc;

	if (!kv)
		return errfmt(err, errlen, BRIG_E_INVAL, "kv: missing argument");
	rc = kv_key_check(kv, key, &klen, err, errlen);
	if (rc != BRIG_OK)
		return rc;
	pthread_mutex_lock(&kv->mu);
	rc = kv->ops->del(kv, key, err, errlen);
	pthread_mutex_unlock(&kv->mu);
	return rc;
}

static int kv_keys(brig_kv *kv, json_t **out, char *err, size_t errlen)
{
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (!arr)
		return errfmt(err, errlen, BRIG_E_NOMEM, "kv: out of memory");
	pthread_mutex_lock(&kv->mu);
	rc = kv->ops->keys(kv, arr, err, errlen);
	pthread_mutex_unlock(&kv->mu);
	if (rc != BRIG_OK)
		json_decref(arr);
	else
		*out = arr;
	return rc;
}

int brig_kv_get(brig_kv *kv, const char *key, char **json_out)
{
	return kv_get(kv, key, json_out, NULL, 0);
}

int brig_kv_set(brig_kv *kv, const char *key, const char *json)
{
	KV_AUTODECREF json_t *v = NULL;
	json_error_t e;

	if (!kv || !json)
		return BRIG_E_INVAL;
	v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (!v)
		return json_error_code(&e) == json_error_out_of_memory ? BRIG_E_NOMEM
								       : BRIG_E_INVAL;
	return kv_put(kv, key, v, NULL, 0);
}

int brig_kv_delete(brig_kv *kv, const char *key)
{
	return kv_del(kv, key, NULL, 0);
}

int brig_kv_keys(brig_kv *kv, char **json_out)
{
	KV_AUTODECREF json_t *arr = NULL;
	int rc;

	if (!kv || !json_out)
		return BRIG_E_INVAL;
	*json_out = NULL;
	rc = kv_keys(kv, &arr, NULL, 0);
	if (rc != BRIG_OK)
		return rc;
	*json_out = json_dumps(arr, JSON_COMPACT);
	return *json_out ? BRIG_OK : BRIG_E_NOMEM;
}

/* ---------------------------------------------------- kv.* host calls */

static int kvc_fail(struct hc_reply *rep, int rc, const char *msg)
{
	if (rc == BRIG_E_INVAL || rc == BRIG_E_LIMIT)
		return hc_fail(rep, "ValueError", "%s", msg);
	return hc_fail(rep, "RuntimeError", "%s", *msg ? msg : "kv store failed");
}

/* The "key" argument, or NULL with rep filled. */
static const char *kvc_key(json_t *args, struct hc_reply *rep)
{
	json_t *k = json_object_get(args, "key");
	const char *key = json_string_value(k);

	if (!key) {
		hc_fail(rep, "ValueError", "kv key must be a string");
		return NULL;
	}
	if (strlen(key) != json_string_length(k)) {
		hc_fail(rep, "ValueError", "kv key must not contain NUL");
		return NULL;
	}
	return key;
}

static json_t *kvc_found(json_t *value)
{
	return json_pack("{s:b, s:o}", "found", value != NULL, "value",
			 value ? value : json_null());
}

static int kvc_get(brig_kv *kv, json_t *args, struct hc_reply *rep)
{
	KV_AUTOFREE char *txt = NULL;
	char err[256] = "";
	const char *key = kvc_key(args, rep);
	json_t *v, *res;
	int rc;

	if (!key)
		return -1;
	rc = kv_get(kv, key, &txt, err, sizeof(err));
	if (rc != BRIG_OK && rc != BRIG_E_NOTFOUND)
		return kvc_fail(rep, rc, err);
	v = txt ? json_loads(txt, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	if (txt && !v)
		return kvc_fail(rep, BRIG_E_INTERNAL, "kv store holds a value that is not JSON");
	res = kvc_found(v);
	if (!res)
		return kvc_fail(rep, BRIG_E_NOMEM, "kv: out of memory");
	return hc_ok(rep, res);
}

static int kvc_set(brig_kv *kv, json_t *args, struct hc_reply *rep)
{
	char err[256] = "";
	const char *key = kvc_key(args, rep);
	json_t *value = json_object_get(args, "value");
	int rc;

	if (!key)
		return -1;
	if (!value)
		return hc_fail(rep, "ValueError", "kv.set needs a value");
	rc = kv_put(kv, key, value, err, sizeof(err));
	if (rc != BRIG_OK)
		return kvc_fail(rep, rc, err);
	return hc_ok(rep, json_null());
}

static int kvc_delete(brig_kv *kv, json_t *args, struct hc_reply *rep)
{
	char err[256] = "";
	const char *key = kvc_key(args, rep);
	int rc;

	if (!key)
		return -1;
	rc = kv_del(kv, key, err, sizeof(err));
	if (rc != BRIG_OK && rc != BRIG_E_NOTFOUND)
		return kvc_fail(rep, rc, err);
	return hc_ok(rep, json_boolean(rc == BRIG_OK));
}

static int kvc_keys(brig_kv *kv, json_t *args, struct hc_reply *rep)
{
	char err[256] = "";
	json_t *arr;
	int rc = kv_keys(kv, &arr, err, sizeof(err));

	if (rc != BRIG_OK)
		return kvc_fail(rep, rc, err);
	return hc_ok(rep, arr);
}

static const struct {
	const char *name;
	int (*fn)(brig_kv *kv, json_t *args, struct hc_reply *rep);
} kvc_table[] = {
    {"get", kvc_get},
    {"set", kvc_set},
    {"delete", kvc_delete},
    {"keys", kvc_keys},
};

void kv_call(brig_kv *kv, const char *op, json_t *args, struct hc_reply *rep)
{
	if (!kv) {
		hc_fail(rep, "RuntimeError", "no kv store");
		return;
	}
	if (!json_is_object(args)) {
		hc_fail(rep, "ValueError", "kv arguments must be an object");
		return;
	}
	for (size_t i = 0; op && i < sizeof(kvc_table) / sizeof(kvc_table[0]); i++) {
		if (strcmp(op, kvc_table[i].name) == 0) {
			kvc_table[i].fn(kv, args, rep);
			return;
		}
	}
	hc_fail(rep, "ValueError", "no such kv function: %s", op ? op : "(null)");
}
