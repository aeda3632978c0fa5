/*
 * brig mcp's input, read on a thread of its own: the main thread runs one
 * request at a time, and this one keeps listening meanwhile, so that
 * notifications/cancelled reaches the call it names (MCP: the server stops
 * it and sends no answer) and a client that hangs up stops it too.
 */
#include "cli/mcp_inbox.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct mcp_inbox {
	FILE *in;
	size_t max_line;
	pthread_t reader;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	/* Not yet taken, oldest first: {"msg": message} or {"error": code}. */
	json_t *queue;
	bool eof;
	/* The request running, and what stops it. */
	json_t *running;
	bool cancelled;
	brig_cancel *run;
	brig_session *session;
};

#define TOO_LONG (-32600)
#define NOT_JSON (-32700)

/* Under the lock: stop the running request with what it is watched by. */
static void stop_running(struct mcp_inbox *ib)
{
	ib->cancelled = true;
	if (ib->run)
		brig_cancel_trigger(ib->run);
	if (ib->session)
		brig_session_break(ib->session);
}

static bool is_request_with_id(json_t *entry, json_t *id)
{
	json_t *msg = json_object_get(entry, "msg"), *mid = json_object_get(msg, "id");

	return mid && json_object_get(msg, "method") && json_equal(mid, id);
}

/* Under the lock: id's request stops, or never starts. */
static void cancel(struct mcp_inbox *ib, json_t *id)
{
	size_t i;
	json_t *msg;

	if (!id)
		return;
	if (ib->running && json_equal(ib->running, id)) {
		stop_running(ib);
		return;
	}
	json_array_foreach(ib->queue, i, msg)
	{
		if (is_request_with_id(msg, id)) {
			json_array_remove(ib->queue, i);
			return;
		}
	}
}

static bool is_cancellation(json_t *msg)
{
	const char *method = json_string_value(json_object_get(msg, "method"));

	return method && !json_object_get(msg, "id") &&
	       strcmp(method, "notifications/cancelled") == 0;
}

/* One line in: queued, or acted on at once when it is a cancellation. */
static void take_line(struct mcp_inbox *ib, const char *line, size_t n)
{
	json_error_t jerr;
	json_t *msg = n > ib->max_line ? NULL : json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);

	pthread_mutex_lock(&ib->lock);
	if (msg && is_cancellation(msg))
		cancel(ib, json_object_get(json_object_get(msg, "params"), "requestId"));
	else if (msg)
		json_array_append_new(ib->queue, json_pack("{s:O}", "msg", msg));
	else
		json_array_append_new(
		    ib->queue, json_pack("{s:i}", "error", n > ib->max_line ? TOO_LONG : NOT_JSON));
	pthread_cond_signal(&ib->ready);
	pthread_mutex_unlock(&ib->lock);
	json_decref(msg);
}

static void *read_all(void *p)
{
	struct mcp_inbox *ib = p;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, ib->in)) > 0) {
		if (!(n == 1 && line[0] == '\n'))
			take_line(ib, line, (size_t)n);
	}
	free(line);
	pthread_mutex_lock(&ib->lock);
	ib->eof = true;
	/* Nobody is left to answer: the running request stops. */
	if (ib->running)
		stop_running(ib);
	pthread_cond_signal(&ib->ready);
	pthread_mutex_unlock(&ib->lock);
	return NULL;
}

struct mcp_inbox *mcp_inbox_start(FILE *in, size_t max_line)
{
	struct mcp_inbox *ib = calloc(1, sizeof(*ib));

	if (!ib || !(ib->queue = json_array())) {
		free(ib);
		return NULL;
	}
	ib->in = in;
	ib->max_line = max_line;
	pthread_mutex_init(&ib->lock, NULL);
	pthread_cond_init(&ib->ready, NULL);
	if (pthread_create(&ib->reader, NULL, read_all, ib) != 0) {
		json_decref(ib->queue);
		free(ib);
		return NULL;
	}
	return ib;
}

json_t *mcp_inbox_next(struct mcp_inbox *ib, int *error, const char **why)
{
	json_t *entry, *msg = NULL;

	*error = 0;
	pthread_mutex_lock(&ib->lock);
	while (json_array_size(ib->queue) == 0 && !ib->eof)
		pthread_cond_wait(&ib->ready, &ib->lock);
	if ((entry = json_array_get(ib->queue, 0))) {
		msg = json_incref(json_object_get(entry, "msg"));
		*error = (int)json_integer_value(json_object_get(entry, "error"));
		json_array_remove(ib->queue, 0);
	}
	pthread_mutex_unlock(&ib->lock);
	*why = *error == TOO_LONG ? "message too large" : "parse error";
	return msg;
}

void mcp_inbox_begin(struct mcp_inbox *ib, json_t *id)
{
	pthread_mutex_lock(&ib->lock);
	ib->running = json_deep_copy(id);
	ib->cancelled = ib->eof;
	ib->run = NULL;
	ib->session = NULL;
	pthread_mutex_unlock(&ib->lock);
}

bool mcp_inbox_watch(struct mcp_inbox *ib, brig_cancel *run, brig_session *session)
{
	bool cancelled;

	pthread_mutex_lock(&ib->lock);
	ib->run = run;
	ib->session = session;
	if ((cancelled = ib->cancelled))
		stop_running(ib);
	pthread_mutex_unlock(&ib->lock);
	return cancelled;
}

bool mcp_inbox_end(struct mcp_inbox *ib)
{
	bool cancelled;

	pthread_mutex_lock(&ib->lock);
	cancelled = ib->cancelled;
	json_decref(ib->running);
	ib->running = NULL;
	ib->run = NULL;
	ib->session = NULL;
	ib->cancelled = false;
	pthread_mutex_unlock(&ib->lock);
	return cancelled;
}

void mcp_inbox_free(struct mcp_inbox *ib)
{
	if (!ib)
		return;
	pthread_join(ib->reader, NULL);
	json_decref(ib->queue);
	json_decref(ib->running);
	pthread_cond_destroy(&ib->ready);
	pthread_mutex_destroy(&ib->lock);
	free(ib);
}
