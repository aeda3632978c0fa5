/*
 * `brig serve`: the pieces of the HTTP service and how they meet.
 *
 *   serve.c          options, start-up, signals, shutdown
 *   serve_http.c     libmicrohttpd: connections, bounds, auth, routing, logs
 *   serve_api.c      the /v1 endpoints: requests to runs and sessions
 *   serve_admit.c    admission: concurrent runs, the queue, per-token rate
 *   serve_session.c  the session table: ids, owners, idle expiry
 *   serve_metrics.c  counters and histograms, Prometheus text
 *   serve_policy.c   tokens and policy files (pure)
 *   serve_request.c  request bodies and their check against a grant (pure)
 */
#ifndef BRIG_CLI_SERVE_H
#define BRIG_CLI_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brig.h"
#include "cli/serve_policy.h"
#include "cli/serve_request.h"

/* --------------------------------------------------------------- options */

struct serve_opts {
	const char *listen; /* "HOST:PORT" or "unix:PATH" */
	const char *tokens_file;
	const char *policy_file;
	const char *instance;	   /* session ids start with it, for a router */
	uint64_t max_body;	   /* bytes */
	uint32_t max_header;	   /* bytes of request line plus headers */
	uint32_t request_timeout;  /* seconds a connection may stay silent */
	uint32_t max_connections;  /* open connections */
	uint32_t max_runs;	   /* runs at once */
	uint32_t max_queue;	   /* runs waiting for a slot */
	uint32_t max_sessions;	   /* per token, unless the policy says */
	uint64_t session_ttl_ms;   /* idle sessions are closed after this */
	uint64_t drain_timeout_ms; /* SIGTERM: how long in-flight runs may finish */
	brig_limits ceiling;	   /* limits no request exceeds (zero: default) */
};

/* `brig serve ARGS`: parse argv (argv[0] is "serve").  Pure. */
int serve_parse_args(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen);
extern const char serve_usage[];

/* ------------------------------------------------------------- admission */

struct serve_rate {
	char name[72];
	double tokens;
	uint64_t last_ms;
};

struct serve_admit {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t active, waiting, max_active, max_queue;
	struct serve_rate *rates;
	size_t nrates;
};

void serve_admit_init(struct serve_admit *a, uint32_t max_active, uint32_t max_queue);
void serve_admit_destroy(struct serve_admit *a);
/* Take a run slot, waiting in the queue; -1 when the queue is full. */
int serve_admit_enter(struct serve_admit *a);
void serve_admit_leave(struct serve_admit *a);
/* One request of caller `name` against its grant's rate; -1 when over it. */
int serve_admit_rate(struct serve_admit *a, const char *name, const struct serve_grant *g);
void serve_admit_counts(struct serve_admit *a, uint32_t *active, uint32_t *waiting);

/* --------------------------------------------------------------- metrics */

#define SERVE_NBUCKETS 13
#define SERVE_NERRORS 16

struct serve_hist {
	uint64_t buckets[SERVE_NBUCKETS]; /* cumulative at render time */
	uint64_t count;
	double sum;
};

struct serve_metrics {
	pthread_mutex_t mu;
	uint64_t runs[3];		/* by brig_lang */
	uint64_t errors[SERVE_NERRORS]; /* by -brig_error */
	uint64_t status[6];		/* HTTP responses by class: 1xx..5xx */
	uint64_t rejected;		/* 429 for a full queue or the rate */
	struct serve_hist run_seconds, request_seconds;
};

void serve_metrics_init(struct serve_metrics *m);
void serve_metrics_destroy(struct serve_metrics *m);
void serve_metrics_run(struct serve_metrics *m, brig_lang lang, int error, double seconds);
void serve_metrics_request(struct serve_metrics *m, unsigned status, double seconds);
/* Prometheus text exposition; malloc'd. */
char *serve_metrics_render(struct serve_metrics *m, uint32_t active, uint32_t queued,
			   size_t sessions);

/* -------------------------------------------------------------- sessions */

#define SERVE_ID_LEN 32 /* hex digits: 128 bits from getrandom */
#define SERVE_MAX_SNAPSHOTS 16

struct serve_sess;

#define SERVE_INSTANCE_MAX 32

struct serve_sessions {
	char prefix[SERVE_INSTANCE_MAX + 2]; /* "NAME." or "" */
	pthread_mutex_t mu;
	struct serve_sess *head;
	size_t count;
};

/* instance: NULL, or a name every id starts with ("NAME.hex"). */
void serve_sessions_init(struct serve_sessions *t, const char *instance);
/*
 * Reserve a session for owner, at most max of them: 0 with *out (one
 * reference), or -1 when owner has max.  The session is visible once
 * serve_sess_started gave it its brig_session.
 */
int serve_sess_reserve(struct serve_sessions *t, const char *owner, uint32_t max,
		       struct serve_sess **out);
/* Hand over s (from brig_session_new, on any thread: a session outlives
 * the thread that made it) and caps, owned from now on; NULL s drops the
 * reservation. */
void serve_sess_started(struct serve_sessions *t, struct serve_sess *sess, brig_session *s,
			brig_caps *caps, brig_lang lang);
/* owner's session id with a reference, or NULL (absent or another's). */
struct serve_sess *serve_sess_get(struct serve_sessions *t, const char *owner, const char *id);
void serve_sess_put(struct serve_sessions *t, struct serve_sess *sess);
/* Remove owner's session id (interrupting a call in it); -1 when absent. */
int serve_sess_close(struct serve_sessions *t, const char *owner, const char *id);
/* Close sessions idle for ttl_ms; closing everything with ttl_ms 0. */
void serve_sess_reap(struct serve_sessions *t, uint64_t ttl_ms);
size_t serve_sess_count(struct serve_sessions *t);

const char *serve_sess_id(const struct serve_sess *sess);
brig_session *serve_sess_handle(struct serve_sess *sess);
brig_lang serve_sess_lang(const struct serve_sess *sess);
/* Serialise calls (handlers load and unload around them). */
void serve_sess_lock(struct serve_sess *sess);
void serve_sess_unlock(struct serve_sess *sess);
/* With the lock: whether the handlers are loaded, and change it. */
bool *serve_sess_loaded(struct serve_sess *sess);
/* With the lock: keep snap; its id in id_out, or -1 when 16 are kept. */
int serve_sess_add_snapshot(struct serve_sess *sess, brig_snapshot *snap, char *id_out);
const brig_snapshot *serve_sess_snapshot(struct serve_sess *sess, const char *id);

/* 32 hex digits of getrandom into out[33]; -1 when the kernel fails. */
int serve_random_id(char *out, size_t hexlen);

/* ------------------------------------------------------------ the server */

struct serve {
	struct serve_opts opts;
	brig_executor *ex;
	struct serve_tokens tokens; /* n == 0: no authentication (loopback only) */
	struct serve_policy policy;
	struct serve_admit admit;
	struct serve_metrics metrics;
	struct serve_sessions sessions;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	uint32_t inflight; /* requests inside a handler */
	bool draining;
};

/* A request as the API sees it: who, what, and how to answer. */
struct serve_call {
	const char *method;
	const char *path;
	const char *body;
	size_t body_len;
	const char *who; /* the token's name, or "anonymous" */
	const struct serve_grant *grant;
	enum { SERVE_PLAIN, SERVE_NDJSON, SERVE_SSE } stream;
};

struct serve_reply {
	unsigned status;
	char *body; /* malloc'd */
	const char *content_type;
	unsigned retry_after; /* seconds; 0: no header */
	int stream_fd;	      /* >= 0: stream this pipe's content instead of body */
};

/* Route a call to its endpoint. */
void serve_api_handle(struct serve *srv, const struct serve_call *c, struct serve_reply *r);
/* A JSON error body {"error": ..., "message": ...} with status. */
void serve_reply_error(struct serve_reply *r, unsigned status, const char *error, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

/* The HTTP front: start listening (0) or fail with a message. */
struct MHD_Daemon;
int serve_http_start(struct serve *srv, struct MHD_Daemon **out, char *err, size_t errlen);
/* Stop accepting connections; already open ones are served. */
void serve_http_quiesce(struct MHD_Daemon *d);
void serve_http_stop(struct MHD_Daemon *d);

/* `brig serve` and `brig mcp`: argv[0] is the subcommand; the exit status. */
int serve_main(int argc, char **argv);
int mcp_main(int argc, char **argv);

uint64_t serve_now_ms(void);

#endif
