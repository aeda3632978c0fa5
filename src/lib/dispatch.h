/*
 * Host calls of one run: routed to http, fs, kv, time or an embedder's
 * function, and executed on a small pool of worker threads so that calls the
 * guest issues together (asyncio.gather) run concurrently.  The pool starts
 * on the first call: runs that make none pay nothing.
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
/*
 * Backpressure bounds.  Past them the monitor stops reading calls and the
 * workers stop starting them, so a guest that floods calls or never reads
 * its replies blocks itself instead of growing the host.
 */
#define DISPATCH_MAX_PENDING 256
#define DISPATCH_QUEUED_HIGH (32u << 20) /* request bytes not started yet */
#define DISPATCH_OUTQ_HIGH (16u << 20)	 /* reply bytes the guest has not read */

struct dispatch_job;

struct dispatch {
	const brig_caps *caps; /* frozen for this run */
	struct http_policy *http;
	struct fs_table *fs;
	brig_kv *kv;
	bool own_kv;
	size_t max_reply; /* bound on one encoded reply */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dispatch_job *queue, *queue_tail;
	int out_fd;	 /* the protocol socket; set by the caller */
	struct buf outq; /* frames the socket has not taken yet */
	size_t outq_off;
	size_t pending;	     /* submitted and not finished */
	size_t queued_bytes; /* request blobs waiting for a worker */
	unsigned gen;	     /* bumped when the guest is replaced (sessions) */
	pthread_t workers[DISPATCH_MAX_WORKERS];
	int nworkers;
	bool stopping;
	int event_fd; /* readable when output is waiting for the socket */
};

/* Prepare the run's capabilities.  0, or a brig_error with err set. */
int dispatch_init(struct dispatch *d, const brig_caps *caps, size_t max_reply, char *err,
		  size_t errlen);
/* Queue one CALL frame's content; takes ownership of json. */
int dispatch_submit(struct dispatch *d, uint32_t id, json_t *json, const uint8_t *blob,
		    size_t blob_len);
/*
 * Queue bytes for the guest and write what the socket takes now.  Returns
 * the bytes still queued (the monitor sends them on POLLOUT), or -1.
 * Workers call it with replies; the monitor with the RUN frame.
 */
ssize_t dispatch_send(struct dispatch *d, const void *p, size_t n);
/*
 * The guest was killed and another will take the channel: drop queued
 * output, and the replies of calls still running when they finish.
 */
void dispatch_new_guest(struct dispatch *d);
/* Whether the monitor may read more calls from the guest now. */
bool dispatch_accepting(struct dispatch *d);
/* Write queued bytes; returns how many remain. */
size_t dispatch_flush(struct dispatch *d);
/* Stop the workers (waiting for calls in progress) and free everything. */
void dispatch_destroy(struct dispatch *d);

#endif
