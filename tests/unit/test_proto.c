/* The frame codec: round trips, and every malformed input the guest could send. */
#include "check.h"
#include "lib/proto.h"

static void feed_all(struct proto_reader *r, const struct buf *b)
{
	proto_feed(r, b->data, b->len);
}

static void round_trip(void)
{
	struct buf out = BUF_INIT;
	struct proto_reader r;
	struct proto_frame f;
	struct proto_msg m;
	char err[128];
	json_t *j = json_pack("{s:s}", "fn", "kv.get");

	proto_reader_init(&r, 1 << 20);
	CHECK(proto_encode_msg(&out, PROTO_CALL, 7, j, (const uint8_t *)"a\0b", 3) == 0);
	/* Feed byte by byte: a frame split anywhere must reassemble. */
	for (size_t i = 0; i < out.len; i++) {
		CHECK(proto_next(&r, &f, err, sizeof(err)) == 0);
		proto_feed(&r, out.data + i, 1);
	}
	CHECK(proto_next(&r, &f, err, sizeof(err)) == 1);
	CHECK(f.type == PROTO_CALL);
	CHECK(proto_parse_msg(&f, &m, err, sizeof(err)) == 0);
	CHECK(m.id == 7 && m.blob_len == 3 && memcmp(m.blob, "a\0b", 3) == 0);
	CHECK_STR(json_string_value(json_object_get(m.json, "fn")), "kv.get");
	CHECK(proto_next(&r, &f, err, sizeof(err)) == 0);
	json_decref(m.json);
	json_decref(j);
	buf_free(&out);
	proto_reader_free(&r);
}

static void run_frame(void)
{
	struct buf out = BUF_INIT;
	struct proto_reader r;
	struct proto_frame f;
	char err[128];

	proto_reader_init(&r, 1 << 20);
	CHECK(proto_encode_run(&out, "filename=x\n", "print(1)", 8) == 0);
	feed_all(&r, &out);
	CHECK(proto_next(&r, &f, err, sizeof(err)) == 1 && f.type == PROTO_RUN);
	CHECK(f.len == 4 + 11 + 8 && memcmp(f.body + 4, "filename=x\n", 11) == 0);
	CHECK(memcmp(f.body + 15, "print(1)", 8) == 0);
	buf_free(&out);
	proto_reader_free(&r);
}

static int next_of(const void *bytes, size_t n, size_t max, char *err)
{
	struct proto_reader r;
	struct proto_frame f;
	int rc;

	proto_reader_init(&r, max);
	proto_feed(&r, bytes, n);
	rc = proto_next(&r, &f, err, 128);
	proto_reader_free(&r);
	return rc;
}

static void malformed(void)
{
	char err[128];
	const uint8_t zero_len[] = {0, 0, 0, 0, 2};
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 2};
	const uint8_t bad_type[] = {1, 0, 0, 0, 0x7f};
	const uint8_t partial[] = {10, 0, 0, 0, 2, 1, 2};
	const uint8_t over_max[] = {0x01, 0x10, 0, 0, 2};

	CHECK(next_of(zero_len, sizeof(zero_len), 1024, err) == -1);
	CHECK(next_of(huge, sizeof(huge), 1024, err) == -1 && strstr(err, "4294967295"));
	CHECK(next_of(over_max, sizeof(over_max), 1024, err) == -1);
	CHECK(next_of(bad_type, sizeof(bad_type), 1024, err) == -1 && strstr(err, "0x7f"));
	CHECK(next_of(partial, sizeof(partial), 1024, err) == 0);
}

static int parse_body(const uint8_t *body, size_t len, char *err)
{
	struct proto_frame f = {PROTO_CALL, body, len};
	struct proto_msg m;
	int rc = proto_parse_msg(&f, &m, err, 128);

	json_decref(m.json);
	return rc;
}

static void malformed_msgs(void)
{
	char err[128];
	const uint8_t short_hdr[] = {1, 0, 0, 0, 5};
	const uint8_t json_past_end[] = {1, 0, 0, 0, 50, 0, 0, 0, '{', '}'};
	const uint8_t bad_json[] = {1, 0, 0, 0, 2, 0, 0, 0, '{', 'x'};
	const uint8_t ok_json[] = {1, 0, 0, 0, 2, 0, 0, 0, '{', '}'};

	CHECK(parse_body(short_hdr, sizeof(short_hdr), err) == -1);
	CHECK(parse_body(json_past_end, sizeof(json_past_end), err) == -1);
	CHECK(parse_body(bad_json, sizeof(bad_json), err) == -1 && strstr(err, "JSON"));
	CHECK(parse_body(ok_json, sizeof(ok_json), err) == 0);
}

/* A NUL inside a string is a guest's value like any other; in a key it is not. */
static void nul_in_strings(void)
{
	const char text[] = "{\"k\":\"a\\u0000b\"}";
	const char key[] = "{\"a\\u0000\":1}";
	uint8_t body[64] = {1, 0, 0, 0, sizeof(text) - 1, 0, 0, 0};
	struct proto_frame f = {PROTO_CALL, body, 8 + sizeof(text) - 1};
	struct proto_msg m;
	char err[128];

	memcpy(body + 8, text, sizeof(text) - 1);
	CHECK(proto_parse_msg(&f, &m, err, sizeof(err)) == 0);
	CHECK(json_string_length(json_object_get(m.json, "k")) == 3);
	json_decref(m.json);
	body[4] = sizeof(key) - 1;
	memcpy(body + 8, key, sizeof(key) - 1);
	f.len = 8 + sizeof(key) - 1;
	CHECK(parse_body(body, f.len, err) == -1 && strstr(err, "NUL"));
}

static void many_frames(void)
{
	struct buf out = BUF_INIT;
	struct proto_reader r;
	struct proto_frame f;
	char err[128];
	json_t *j = json_integer(1);
	int n = 0;

	proto_reader_init(&r, 1 << 20);
	for (int i = 0; i < 5000; i++)
		proto_encode_msg(&out, PROTO_REPLY, (uint32_t)i, j, NULL, 0);
	feed_all(&r, &out);
	while (proto_next(&r, &f, err, sizeof(err)) == 1)
		n++;
	CHECK(n == 5000);
	json_decref(j);
	buf_free(&out);
	proto_reader_free(&r);
}

int main(void)
{
	round_trip();
	run_frame();
	malformed();
	malformed_msgs();
	nul_in_strings();
	many_frames();
	return CHECK_DONE();
}
