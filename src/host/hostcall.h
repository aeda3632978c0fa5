/* The shape every host-function module shares: JSON in, JSON + blob out. */
#ifndef BRIG_HOSTCALL_H
#define BRIG_HOSTCALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The outcome of one host call.  On success err_type is NULL, value holds
 * the result (a new reference, may be NULL for JSON null) and blob/blob_len
 * an optional malloc'd byte payload.  On failure err_type names a Python
 * exception class (a string literal) and err_msg says why.
 */
struct hc_reply {
	json_t *value;
	uint8_t *blob;
	size_t blob_len;
	const char *err_type;
	char err_msg[512];
};

void hc_reply_init(struct hc_reply *r);
void hc_reply_clear(struct hc_reply *r);
/* Record a failure; returns -1 so callers can `return hc_fail(...)`. */
int hc_fail(struct hc_reply *r, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record success, taking ownership of value (may be NULL). Returns 0. */
int hc_ok(struct hc_reply *r, json_t *value);

/*
 * Cancellation of host calls in flight: when a run ends (deadline, limit,
 * kill) or a session call is killed, every call it started is told, so that
 * a slow transfer or command stops at once instead of at its own timeout.
 * A token is shared by the calls of one guest and outlives the run's state
 * for as long as a call holds a reference.  The fd is an eventfd that
 * becomes readable when the token fires and stays so: calls wait on it next
 * to their own fds.
 */
struct hc_cancel;

/* A fresh token, or NULL when out of memory or fds. */
struct hc_cancel *hc_cancel_new(void);
struct hc_cancel *hc_cancel_ref(struct hc_cancel *c);
void hc_cancel_unref(struct hc_cancel *c);
/* Cancel every call holding c.  Thread-safe; firing twice is harmless. */
void hc_cancel_fire(struct hc_cancel *c);
/* Whether c fired.  NULL is never cancelled. */
bool hc_cancelled(struct hc_cancel *c);
/* Readable once c fired; -1 for NULL. */
int hc_cancel_fd(struct hc_cancel *c);

#endif
