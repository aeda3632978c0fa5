#include "lib/proto.h"
#include "util/utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void proto_reader_init(struct proto_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame;
}

void proto_reader_free(struct proto_reader *r)
{
	buf_free(&r->in);
}

int proto_feed(struct proto_reader *r, const void *p, size_t n)
{
	size_t avail, need;

	/* Drop consumed bytes before growing, so the buffer stays near one frame. */
	if (r->off && r->off == r->in.len) {
		r->in.len = 0;
		r->off = 0;
		/* And let a buffer grown for one big frame go. */
		if (r->in.cap > (1u << 20))
			buf_free(&r->in);
	} else if (r->off > 65536) {
		memmove(r->in.data, r->in.data + r->off, r->in.len - r->off);
		r->in.len -= r->off;
		r->off = 0;
	}
	/*
	 * Once a frame's length is known, make room for all of it at once:
	 * growing by doubling would copy it several times, and hold the old
	 * and the new copy together at each step.
	 */
	avail = r->in.len - r->off;
	if (avail >= 4) {
		const uint8_t *h = (const uint8_t *)r->in.data + r->off;

		need = 4 + (size_t)get_u32(h);
		if (need <= 4 + r->max_frame && need > avail + n &&
		    buf_reserve(&r->in, need - avail) < 0)
			return -1;
	}
	return buf_append(&r->in, p, n);
}

static int known_type(uint8_t t)
{
	return t >= PROTO_RUN && t <= PROTO_DONE;
}

int proto_next(struct proto_reader *r, struct proto_frame *f, char *err, size_t errlen)
{
	size_t avail = r->in.len - r->off;
	const uint8_t *p;
	uint32_t len;

	/* Before the first bytes arrive in.data is NULL: no arithmetic on it. */
	if (avail < 4)
		return 0;
	p = (const uint8_t *)r->in.data + r->off;
	len = get_u32(p);
	if (len == 0 || len > r->max_frame) {
		snprintf(err, errlen, "frame length %u outside 1..%zu", len, r->max_frame);
		return -1;
	}
	if (avail >= 5 && !known_type(p[4])) {
		snprintf(err, errlen, "unknown frame type 0x%02x", p[4]);
		return -1;
	}
	if (avail - 4 < len)
		return 0;
	f->type = p[4];
	f->body = p + 5;
	f->len = len - 1;
	r->off += 4 + (size_t)len;
	return 1;
}

void proto_unread(struct proto_reader *r, const struct proto_frame *f)
{
	r->off -= 5 + f->len;
}

int proto_encode(struct buf *out, uint8_t type, const void *a, size_t alen, const void *b,
		 size_t blen)
{
	uint8_t hdr[5];
	uint64_t total = 1 + (uint64_t)alen + blen;

	if (total > UINT32_MAX)
		return -1;
	put_u32(hdr, (uint32_t)total);
	hdr[4] = type;
	if (buf_reserve(out, 5 + alen + blen))
		return -1;
	buf_append(out, hdr, 5);
	buf_append(out, a, alen);
	buf_append(out, b, blen);
	return 0;
}

int proto_encode_run(struct buf *out, const char *meta_json, const char *code, size_t len)
{
	size_t mlen = strlen(meta_json);
	struct buf head = BUF_INIT;
	uint8_t n[4];
	int rc;

	put_u32(n, (uint32_t)mlen);
	if (buf_append(&head, n, 4) || buf_append(&head, meta_json, mlen)) {
		buf_free(&head);
		return -1;
	}
	rc = proto_encode(out, PROTO_RUN, head.data, head.len, code, len);
	buf_free(&head);
	return rc;
}

int proto_split_msg(const struct proto_frame *f, struct proto_raw *raw, char *err, size_t errlen)
{
	uint32_t jlen;

	memset(raw, 0, sizeof(*raw));
	if (f->len < 8) {
		snprintf(err, errlen, "truncated message header");
		return -1;
	}
	raw->id = get_u32(f->body);
	jlen = get_u32(f->body + 4);
	if (jlen > f->len - 8) {
		snprintf(err, errlen, "JSON length %u exceeds frame", jlen);
		return -1;
	}
	raw->json = (const char *)f->body + 8;
	raw->json_len = jlen;
	raw->blob = f->body + 8 + jlen;
	raw->blob_len = f->len - 8 - jlen;
	return 0;
}

int proto_parse_raw(const struct proto_raw *raw, struct proto_msg *m, char *err, size_t errlen)
{
	json_error_t jerr;

	memset(m, 0, sizeof(*m));
	m->id = raw->id;
	/* Strings may hold NUL (as \u0000); whoever reads one as a C string checks. */
	m->json = json_loadb(raw->json, raw->json_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!m->json) {
		/* jansson quotes the guest's bytes, and snprintf may cut a
		 * character in half: the message must stay UTF-8. */
		snprintf(err, errlen, "malformed JSON: %s", jerr.text);
		utf8_scrub(err);
		return -1;
	}
	m->blob = raw->blob;
	m->blob_len = raw->blob_len;
	return 0;
}

int proto_parse_msg(const struct proto_frame *f, struct proto_msg *m, char *err, size_t errlen)
{
	struct proto_raw raw;

	memset(m, 0, sizeof(*m));
	if (proto_split_msg(f, &raw, err, errlen) < 0)
		return -1;
	return proto_parse_raw(&raw, m, err, errlen);
}

/*
 * What jansson 2.14 allocates per value, malloc overhead included, measured
 * on x86-64 and rounded up (tests/unit/test_proto.c checks that the sum
 * stays above the real figure): an array with its first table 136 bytes, an
 * object with its first buckets 224, a string 90 plus its bytes, a number
 * 32; then up to 16 per ',' and ':' for the array's table slots (the
 * table doubles) and the object's hash buckets (under two per member).
 * true, false and null are shared and cost only their slot.
 */
#define COST_ARRAY 160
#define COST_OBJECT 256
#define COST_STRING 96
#define COST_NUMBER 48
#define COST_MEMBER 16

size_t proto_json_cost(const char *text, size_t len)
{
	size_t cost = 2 * len;
	bool in_string = false, in_number = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
		    c == 'E') {
			cost += in_number ? 0 : COST_NUMBER;
			in_number = true;
			continue;
		}
		in_number = false;
		if (c == '[')
			cost += COST_ARRAY;
		else if (c == '{')
			cost += COST_OBJECT;
		else if (c == '"')
			cost += COST_STRING, in_string = true;
		else if (c == ',' || c == ':')
			cost += COST_MEMBER;
	}
	return cost;
}

int proto_encode_msg(struct buf *out, uint8_t type, uint32_t id, const json_t *json,
		     const uint8_t *blob, size_t blob_len)
{
	char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
	struct buf head = BUF_INIT;
	uint8_t n[8];
	int rc = -1;

	if (!text)
		return -1;
	put_u32(n, id);
	put_u32(n + 4, (uint32_t)strlen(text));
	if (!buf_append(&head, n, 8) && !buf_append(&head, text, strlen(text)))
		rc = proto_encode(out, type, head.data, head.len, blob, blob_len);
	free(text);
	buf_free(&head);
	return rc;
}
