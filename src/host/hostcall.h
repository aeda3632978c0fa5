/* The shape every host-function module shares: JSON in, JSON + blob out. */
#ifndef BRIG_HOSTCALL_H
#define BRIG_HOSTCALL_H

#include <jansson.h>
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

#endif
