#include "lib/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

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
	/* Drop consumed bytes before growing, so the buffer stays near one frame. */
	if (r->off && r->off == r->in.len) {
		r->in.len = 0;
		r->off = 0;
	} else if (r->off > 65536) {
		memmove(r->in.data, r->in.data + r->off, r->in.len - r->off);
		r->in.len -= r->off;
		r->off = 0;
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

int proto_parse_msg(const struct proto_frame *f, struct proto_msg *m, char *err, size_t errlen)
{
	json_error_t jerr;
	uint32_t jlen;

	memset(m, 0, sizeof(*m));
	if (f->len < 8) {
		snprintf(err, errlen, "truncated message header");
		return -1;
	}
	m->id = get_u32(f->body);
	jlen = get_u32(f->body + 4);
	if (jlen > f->len - 8) {
		snprintf(err, errlen, "JSON length %u exceeds frame", jlen);
		return -1;
	}
	m->json = json_loadb((const char *)f->body + 8, jlen, JSON_DECODE_ANY, &jerr);
	if (!m->json) {
		/* jansson quotes the input near the error, maybe half a character. */
		snprintf(err, errlen, "malformed JSON: %s", jerr.text);
		utf8_scrub(err);
		return -1;
	}
	m->blob = f->body + 8 + jlen;
	m->blob_len = f->len - 8 - jlen;
	return 0;
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
