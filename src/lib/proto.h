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
/*
 * Put back f, the frame proto_next just returned, so that the next call
 * returns it again (the caller cannot take it yet).
 */
void proto_unread(struct proto_reader *r, const struct proto_frame *f);

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

/* The parts of a message, before its JSON is parsed. */
struct proto_raw {
	uint32_t id;
	const char *json; /* json_len bytes, not NUL-terminated */
	size_t json_len;
	const uint8_t *blob;
	size_t blob_len;
};

/* Cut a message into its parts.  0, or -1 (err says why). */
int proto_split_msg(const struct proto_frame *f, struct proto_raw *raw, char *err, size_t errlen);
/* Parse the JSON of raw into m.  0, or -1 (err says why). */
int proto_parse_raw(const struct proto_raw *raw, struct proto_msg *m, char *err, size_t errlen);
/* Both steps at once. */
int proto_parse_msg(const struct proto_frame *f, struct proto_msg *m, char *err, size_t errlen);
/*
 * An upper bound on the bytes that parsing this JSON text makes the host
 * hold: the parsed tree at jansson's real cost per value (a 2-byte "[]"
 * costs over 100 bytes), plus the text once more for the parser's and the
 * encoder's copies.  A linear scan that never parses: callers refuse text
 * whose cost is over their budget before building anything.  Malformed text
 * gets an estimate too; the parser then rejects it.
 */
size_t proto_json_cost(const char *text, size_t len);
int proto_encode_msg(struct buf *out, uint8_t type, uint32_t id, const json_t *json,
		     const uint8_t *blob, size_t blob_len);

#endif
