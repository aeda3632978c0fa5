/*
 * Host calls of one run: routed to http, fs, kv, time or an embedder's
 * function, and executed on a small pool of worker threads so that calls the
 * guest issues together (asyncio.gather) run concurrently.  The pool starts
 * on the first call: runs that make none pay nothing.
 *
 * What the guest makes the host hold is bounded in bytes.  Every call is
 * charged its cost before it is parsed (its blob plus proto_json_cost of its
 * JSON, the parsed tree at its real size), and replies are charged until the
 * guest reads them.  The monitor admits a call only while the charges fit
 * the budget (the run's max_frame_bytes) and otherwise leaves the socket
 * unread, so a guest that floods calls or never reads its replies blocks
 * itself instead of growing the host.  Workers start no call while replies
 * overflow the budget, so at most one reply per worker comes on top.
 */
#ifndef BRIG_DISPATCH_H
#define BRIG_DISPATCH_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/internal.h"

#define DISPATCH_MAX_WORKERS 8
/* What a call costs besides its JSON and blob: the job, the reply's shell. */
#define DISPATCH_CALL_OVERHEAD 512u

struct dispatch_job;
struct hc_cancel;

struct dispatch {
	const brig_caps *caps; /* frozen for this run */
	struct pkg_run *pkg;   /* install_pkg; set by the sandbox */
	struct http_policy *http;
	struct fs_table *fs;
	brig_kv *kv;
	bool own_kv;
	size_t max_reply; /* bound on one encoded reply */
	size_t budget;	  /* bytes of admitted calls and unread replies */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* workers: a call to start, or stop */
	pthread_cond_t idle; /* no call pending */
	struct dispatch_job *queue, *queue_tail;
	int out_fd;	 /* the protocol socket; set by the caller */
	struct buf outq; /* frames the socket has not taken yet */
	size_t outq_off;
	size_t pending;		  /* submitted and not finished */
	size_t admitted;	  /* the cost of those */
	size_t want_room;	  /* the cost the monitor waits to admit, or 0 */
	unsigned gen;		  /* bumped when the guest is replaced (sessions) */
	struct hc_cancel *cancel; /* fired by dispatch_cancel; NULL until a call */
	pthread_t workers[DISPATCH_MAX_WORKERS];
	int nworkers;
	bool stopping;
	int event_fd; /* readable when output waits for the socket or room freed */
};

/* Prepare the run's capabilities.  0, or a brig_error with err set. */
int dispatch_init(struct dispatch *d, const brig_caps *caps, size_t max_reply, char *err,
		  size_t errlen);
/* What a call with this JSON and blob costs (see above). */
size_t dispatch_cost(const char *json, size_t json_len, size_t blob_len);
/*
 * Whether a call of this cost may be admitted now.  When not, the
 * dispatcher wakes the monitor (event_fd) as soon as room frees.  A cost
 * over the budget never fits: refuse that call with dispatch_refuse.
 */
bool dispatch_room(struct dispatch *d, size_t cost);
/* Whether the monitor still waits for the room it asked for. */
bool dispatch_waiting(struct dispatch *d);
/* Queue one admitted CALL's content; takes ownership of json. */
int dispatch_submit(struct dispatch *d, uint32_t id, json_t *json, const uint8_t *blob,
		    size_t blob_len, size_t cost);
/* Answer call id with an error without running it (its cost is over the budget). */
int dispatch_refuse(struct dispatch *d, uint32_t id, size_t cost);
/*
 * Queue bytes for the guest and write what the socket takes now.  Returns
 * the bytes still queued (the monitor sends them on POLLOUT), or -1.
 * Workers call it with replies; the monitor with the RUN frame.
 */
ssize_t dispatch_send(struct dispatch *d, const void *p, size_t n);
/*
 * Cancel every call submitted so far: queued ones are dropped, running ones
 * are told (an HTTP transfer aborts, a command is
 * killed, a C function may ask brig_hostcall_cancelled).  Thread-safe.
 */
void dispatch_cancel(struct dispatch *d);
/* Wait until no call runs (after dispatch_cancel: until the functions return). */
void dispatch_wait_idle(struct dispatch *d);
/*
 * The guest was killed and another will take the channel: drop queued
 * output, and the replies of calls still running when they finish.
 */
void dispatch_new_guest(struct dispatch *d);
/* Write queued bytes; returns how many remain. */
size_t dispatch_flush(struct dispatch *d);
/* Cancel and stop the workers (waiting for calls in progress) and free everything. */
void dispatch_destroy(struct dispatch *d);

#endif
