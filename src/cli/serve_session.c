/*
 * `brig serve`'s sessions: each has an unguessable id and an owner (the
 * token's name), and is only ever found by its owner.  References keep a
 * session alive while a request uses it; closing unlinks it at once and
 * frees it when the last reference goes.
 */
#include "cli/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct serve_sess {
	char id[SERVE_INSTANCE_MAX + 2 + SERVE_ID_LEN + 1];
	char owner[72];
	brig_session *s; /* NULL while it starts */
	brig_caps *caps; /* what it was started with, freed with it */
	brig_lang lang;
	pthread_mutex_t call_mu;
	unsigned refs;
	bool linked;
	bool loaded;
	uint64_t last_used_ms;
	brig_snapshot *snaps[SERVE_MAX_SNAPSHOTS];
	char snap_ids[SERVE_MAX_SNAPSHOTS][17];
	size_t nsnaps;
	struct serve_sess *next;
};

int serve_random_id(char *out, size_t hexlen)
{
	unsigned char raw[32];
	size_t n = hexlen / 2, got = 0;

	if (n > sizeof(raw))
		return -1;
	while (got < n) {
		ssize_t r = getrandom(raw + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

void serve_sessions_init(struct serve_sessions *t, const char *instance)
{
	memset(t, 0, sizeof(*t));
	if (instance)
		snprintf(t->prefix, sizeof(t->prefix), "%s.", instance);
	pthread_mutex_init(&t->mu, NULL);
}

static void sess_free(struct serve_sess *sess)
{
	for (size_t i = 0; i < sess->nsnaps; i++)
		brig_snapshot_free(sess->snaps[i]);
	brig_session_free(sess->s);
	brig_caps_free(sess->caps);
	pthread_mutex_destroy(&sess->call_mu);
	free(sess);
}

static void unlink_locked(struct serve_sessions *t, struct serve_sess *sess)
{
	struct serve_sess **pp = &t->head;

	while (*pp && *pp != sess)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = sess->next;
		t->count--;
	}
	sess->linked = false;
}

int serve_sess_reserve(struct serve_sessions *t, const char *owner, uint32_t max,
		       struct serve_sess **out)
{
	struct serve_sess *sess = calloc(1, sizeof(*sess));
	size_t plen = strlen(t->prefix);
	uint32_t n = 0;

	if (sess)
		memcpy(sess->id, t->prefix, plen);
	if (!sess || serve_random_id(sess->id + plen, SERVE_ID_LEN)) {
		free(sess);
		return -2;
	}
	snprintf(sess->owner, sizeof(sess->owner), "%s", owner);
	pthread_mutex_init(&sess->call_mu, NULL);
	sess->refs = 2; /* the table's and the caller's */
	sess->linked = true;
	sess->last_used_ms = serve_now_ms();
	pthread_mutex_lock(&t->mu);
	for (struct serve_sess *p = t->head; p; p = p->next)
		n += strcmp(p->owner, owner) == 0;
	if (n >= max) {
		pthread_mutex_unlock(&t->mu);
		pthread_mutex_destroy(&sess->call_mu);
		free(sess);
		return -1;
	}
	sess->next = t->head;
	t->head = sess;
	t->count++;
	pthread_mutex_unlock(&t->mu);
	*out = sess;
	return 0;
}

void serve_sess_started(struct serve_sessions *t, struct serve_sess *sess, brig_session *s,
			brig_caps *caps, brig_lang lang)
{
	pthread_mutex_lock(&t->mu);
	sess->s = s;
	sess->caps = caps;
	sess->lang = lang;
	if (!s && sess->linked) {
		unlink_locked(t, sess);
		sess->refs--;
	}
	pthread_mutex_unlock(&t->mu);
}

struct serve_sess *serve_sess_get(struct serve_sessions *t, const char *owner, const char *id)
{
	struct serve_sess *found = NULL;

	pthread_mutex_lock(&t->mu);
	for (struct serve_sess *p = t->head; p; p = p->next) {
		if (p->s && strcmp(p->id, id) == 0 && strcmp(p->owner, owner) == 0) {
			found = p;
			found->refs++;
			found->last_used_ms = serve_now_ms();
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return found;
}

void serve_sess_put(struct serve_sessions *t, struct serve_sess *sess)
{
	bool last;

	pthread_mutex_lock(&t->mu);
	sess->last_used_ms = serve_now_ms();
	last = --sess->refs == 0;
	pthread_mutex_unlock(&t->mu);
	if (last)
		sess_free(sess);
}

/* Unlink sess and drop the table's reference; interrupt a call in it. */
static struct serve_sess *close_locked(struct serve_sessions *t, struct serve_sess *sess)
{
	unlink_locked(t, sess);
	if (sess->s && sess->refs > 1)
		brig_session_interrupt(sess->s);
	return --sess->refs == 0 ? sess : NULL;
}

int serve_sess_close(struct serve_sessions *t, const char *owner, const char *id)
{
	struct serve_sess *dead = NULL;
	int rc = -1;

	pthread_mutex_lock(&t->mu);
	for (struct serve_sess *p = t->head; p; p = p->next) {
		if (p->s && strcmp(p->id, id) == 0 && strcmp(p->owner, owner) == 0) {
			dead = close_locked(t, p);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	if (dead)
		sess_free(dead);
	return rc;
}

void serve_sess_reap(struct serve_sessions *t, uint64_t ttl_ms)
{
	uint64_t now = serve_now_ms();
	struct serve_sess *dead = NULL, *p, *next;

	pthread_mutex_lock(&t->mu);
	for (p = t->head; p; p = next) {
		next = p->next;
		/* Idle means no request holds it; ttl 0 (shutdown) takes all. */
		if (p->s && (ttl_ms == 0 || (p->refs == 1 && now - p->last_used_ms >= ttl_ms))) {
			struct serve_sess *d = close_locked(t, p);
			if (d) {
				d->next = dead;
				dead = d;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
	for (p = dead; p; p = next) {
		next = p->next;
		sess_free(p);
	}
}

size_t serve_sess_count(struct serve_sessions *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->count;
	pthread_mutex_unlock(&t->mu);
	return n;
}

const char *serve_sess_id(const struct serve_sess *sess)
{
	return sess->id;
}

brig_session *serve_sess_handle(struct serve_sess *sess)
{
	return sess->s;
}

brig_lang serve_sess_lang(const struct serve_sess *sess)
{
	return sess->lang;
}

void serve_sess_lock(struct serve_sess *sess)
{
	pthread_mutex_lock(&sess->call_mu);
}

void serve_sess_unlock(struct serve_sess *sess)
{
	pthread_mutex_unlock(&sess->call_mu);
}

bool *serve_sess_loaded(struct serve_sess *sess)
{
	return &sess->loaded;
}

int serve_sess_add_snapshot(struct serve_sess *sess, brig_snapshot *snap, char *id_out)
{
	if (sess->nsnaps >= SERVE_MAX_SNAPSHOTS)
		return -1;
	if (serve_random_id(sess->snap_ids[sess->nsnaps], 16))
		return -1;
	sess->snaps[sess->nsnaps] = snap;
	memcpy(id_out, sess->snap_ids[sess->nsnaps], 17);
	sess->nsnaps++;
	return 0;
}

const brig_snapshot *serve_sess_snapshot(struct serve_sess *sess, const char *id)
{
	for (size_t i = 0; i < sess->nsnaps; i++) {
		if (strcmp(sess->snap_ids[i], id) == 0)
			return sess->snaps[i];
	}
	return NULL;
}
