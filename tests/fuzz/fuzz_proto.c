/*
 * The frame decoder (src/lib/proto.c) as the monitor drives it: guest bytes
 * arriving in arbitrary pieces, cut into frames, CALL/DONE messages parsed,
 * EVENT bodies read as JSON.
 *
 * Input: one byte choosing the frame limit and how often the stream repeats
 * (up to 80 KiB in all, so the reader's compaction past 64 KiB runs too),
 * one byte seeding the read sizes, then the bytes the guest writes.
 *
 * Invariants: no frame exceeds the limit; every error message is UTF-8 (it
 * reaches the result's JSON); a parsed message's blob ends where its frame
 * ends; re-encoding a parsed message and decoding it again gives the same id,
 * JSON and blob.
 */
#include "fuzz.h"
#include "lib/proto.h"

#include <jansson.h>

static const size_t frame_limits[] = {1, 5, 9, 64, 4096, 16u << 20, 0xffffffffu};
static const unsigned repeats[] = {1, 1, 1, 2, 3, 40};
/* Enough to pass the reader's 64 KiB compaction point, and no more. */
#define MAX_STREAM (80u << 10)
/* Round trips are costly; the first frames of each input get one. */
#define MAX_ROUNDTRIPS 32

static void check_roundtrip(const struct proto_msg *m)
{
	struct proto_reader r;
	struct proto_frame f;
	struct proto_msg again;
	struct buf enc = BUF_INIT;
	char err[160];

	FUZZ_ASSERT(proto_encode_msg(&enc, PROTO_REPLY, m->id, m->json, m->blob, m->blob_len) == 0);
	proto_reader_init(&r, enc.len);
	FUZZ_ASSERT(proto_feed(&r, enc.data, enc.len) == 0);
	FUZZ_ASSERT(proto_next(&r, &f, err, sizeof(err)) == 1);
	FUZZ_ASSERT(f.type == PROTO_REPLY);
	FUZZ_ASSERT(proto_parse_msg(&f, &again, err, sizeof(err)) == 0);
	FUZZ_ASSERT(again.id == m->id);
	FUZZ_ASSERT(json_equal(again.json, m->json));
	FUZZ_ASSERT(again.blob_len == m->blob_len);
	FUZZ_ASSERT(m->blob_len == 0 || memcmp(again.blob, m->blob, m->blob_len) == 0);
	FUZZ_ASSERT(proto_next(&r, &f, err, sizeof(err)) == 0);
	json_decref(again.json);
	proto_reader_free(&r);
	buf_free(&enc);
}

static void take_frame(const struct proto_frame *f, unsigned *roundtrips)
{
	struct proto_msg m;
	char err[160];

	if (f->type == PROTO_EVENT) {
		json_decref(json_loadb((const char *)f->body, f->len, 0, NULL));
		return;
	}
	if (f->type != PROTO_CALL && f->type != PROTO_DONE)
		return;
	if (proto_parse_msg(f, &m, err, sizeof(err)) < 0) {
		FUZZ_ASSERT(m.json == NULL);
		FUZZ_ASSERT(fuzz_utf8_valid(err, strlen(err)));
		return;
	}
	FUZZ_ASSERT(m.json != NULL);
	FUZZ_ASSERT(m.blob + m.blob_len == f->body + f->len);
	if ((*roundtrips)++ < MAX_ROUNDTRIPS)
		check_roundtrip(&m);
	json_decref(m.json);
}

/* Feeds the stream in pieces of pseudo-random size; false once it is rejected. */
static bool feed_all(struct proto_reader *r, const uint8_t *p, size_t n, uint32_t *seed,
		     unsigned *roundtrips)
{
	struct proto_frame f;
	char err[160];
	int rc = 0;

	for (size_t off = 0; off < n;) {
		size_t piece;

		*seed = *seed * 1103515245u + 12345u;
		piece = 1 + (*seed >> 16) % 97;
		if (piece > n - off)
			piece = n - off;
		FUZZ_ASSERT(proto_feed(r, p + off, piece) == 0);
		off += piece;
		while ((rc = proto_next(r, &f, err, sizeof(err))) == 1) {
			FUZZ_ASSERT(f.len + 1 <= r->max_frame);
			FUZZ_ASSERT(f.type >= PROTO_RUN && f.type <= PROTO_DONE);
			take_frame(&f, roundtrips);
		}
		if (rc < 0) {
			FUZZ_ASSERT(fuzz_utf8_valid(err, strlen(err)));
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_byte(&in);
	uint32_t seed = fuzz_take_byte(&in);
	struct proto_reader r;
	unsigned times = repeats[(mode >> 4) % (sizeof(repeats) / sizeof(repeats[0]))];
	struct proto_frame none;
	char err[160];
	unsigned roundtrips = 0;

	proto_reader_init(
	    &r, frame_limits[(mode & 15) % (sizeof(frame_limits) / sizeof(frame_limits[0]))]);
	/* Asking before any bytes arrived is allowed: the answer is "need more". */
	FUZZ_ASSERT(proto_next(&r, &none, err, sizeof(err)) == 0);
	if (in.n && times > MAX_STREAM / in.n)
		times = MAX_STREAM / in.n ? MAX_STREAM / in.n : 1;
	for (unsigned i = 0; i < times && feed_all(&r, in.p, in.n, &seed, &roundtrips); i++)
		;
	proto_reader_free(&r);
	return 0;
}
