/* The frame codec of docs/PROTOCOL.md.  Pure: no I/O. */
#ifndef BRIG_PROTO_H
#define BRIG_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum proto_type {
	PROTO_RUN = 0x01,
	PROTO_CALL = 0x02,
	PROTO_REPLY = 0x03,
	PROTO_EVENT = 0x04,
	PROTO_REQ = 0x05,  /* host -> guest: a session request */
	PROTO_DONE = 0x06, /* guest -> host: its answer */
};

struct proto_frame {
	uint8_t type;
	const uint8_t *body; /* points into the reader; valid until the next call */
	size_t len;
};

/* Accumulates bytes from the socket and cuts them into frames. */
struct proto_reader {
	struct buf in;
	size_t off;	  /* start of the first unconsumed byte */
	size_t max_frame; /* bound on length (type + body) */
};

void proto_reader_init(struct proto_reader *r, size_t max_frame);
void proto_reader_free(struct proto_reader *r);
/* Append received bytes.  -1 on allocation failure. */
int proto_feed(struct proto_reader *r, const void *p, size_t n);
/*
 * Extract the next complete frame: 1 with *f set, 0 when more bytes are
 * needed, -1 on a malformed or oversized frame (err says which).
 */
int proto_next(struct proto_reader *r, struct proto_frame *f, char *err, size_t errlen);

/* Append one frame: type, then the concatenation of the two parts. */
int proto_encode(struct buf *out, uint8_t type, const void *a, size_t alen, const void *b,
		 size_t blen);
/* RUN: u32 meta_len, meta JSON, code. */
int proto_encode_run(struct buf *out, const char *meta_json, const char *code, size_t len);

/* CALL and REPLY share a layout: u32 id, u32 json_len, JSON, blob. */
struct proto_msg {
	uint32_t id;
	json_t *json; /* owned by the caller after a successful parse */
	const uint8_t *blob;
	size_t blob_len;
};

int proto_parse_msg(const struct proto_frame *f, struct proto_msg *m, char *err, size_t errlen);
int proto_encode_msg(struct buf *out, uint8_t type, uint32_t id, const json_t *json,
		     const uint8_t *blob, size_t blob_len);

#endif
