/* The frame codec: round trips, and every malformed input the guest could send. */
#include "check.h"
#include "lib/proto.h"

#include <malloc.h>
#include <stdlib.h>

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

/* What jansson allocates to parse text (0 when a sanitizer hides malloc). */
static size_t parsed_bytes(const char *text, size_t len)
{
	struct mallinfo2 before = mallinfo2(), after;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	size_t used;

	after = mallinfo2();
	used = after.uordblks + after.hblkhd - before.uordblks - before.hblkhd;
	CHECK(j != NULL);
	json_decref(j);
	return used > ((size_t)1 << 40) ? 0 : used; /* a trim, not growth */
}

/* "[" + item x n (comma separated) + "]" */
static char *repeat(const char *open, const char *item, size_t n, const char *close, size_t *len)
{
	size_t il = strlen(item), ol = strlen(open), cl = strlen(close);
	char *s = malloc(ol + n * (il + 1) + cl + 1), *p = s;

	memcpy(p, open, ol);
	p += ol;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, item, il);
		p += il;
		if (i + 1 < n)
			*p++ = ',';
	}
	memcpy(p, close, cl);
	p += cl;
	*p = '\0';
	*len = (size_t)(p - s);
	return s;
}

/*
 * The estimate that admits a call must never be below what parsing it
 * really takes, whatever the shape: that is what bounds the host.
 */
static void json_cost_bounds_parsing(void)
{
	static const struct {
		const char *open, *item, *close;
	} shapes[] = {
	    {"[", "[]", "]"},
	    {"[", "{}", "]"},
	    {"[", "0", "]"},
	    {"[", "1.5e3", "]"},
	    {"[", "\"\"", "]"},
	    {"[", "\"abcdefghij\"", "]"},
	    {"[", "null", "]"},
	    {"[", "[[[[]]]]", "]"},
	    {"[", "{\"a\":[1]}", "]"},
	    {"[", "\"\\u00e9\"", "]"},
	    {"{\"k\":[", "{\"x\":{}}", "]}"},
	};
	size_t len;
	char *text;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t real, cost;

		text = repeat(shapes[i].open, shapes[i].item, 50000, shapes[i].close, &len);
		real = parsed_bytes(text, len);
		cost = proto_json_cost(text, len);
		if (cost < real)
			fprintf(stderr, "%s: cost %zu < parsed %zu\n", shapes[i].item, cost, real);
		CHECK(cost >= real);
		/* Not absurdly above either: a bound that refuses everything is no use. */
		CHECK(!real || cost < 8 * real);
		free(text);
	}
	/* Objects with many members: the hash table grows. */
	text = malloc(50000 * 16 + 3);
	len = 0;
	text[len++] = '{';
	for (int i = 0; i < 50000; i++)
		len += (size_t)sprintf(text + len, "%s\"k%d\":0", i ? "," : "", i);
	text[len++] = '}';
	text[len] = '\0';
	CHECK(proto_json_cost(text, len) >= parsed_bytes(text, len));
	free(text);
	/* Long strings cost their bytes, twice at most (the parser's copy). */
	text = malloc((1 << 20) + 3);
	memset(text, 'a', (1 << 20) + 2);
	text[0] = text[(1 << 20) + 1] = '"';
	CHECK(proto_json_cost(text, (1 << 20) + 2) >= parsed_bytes(text, (1 << 20) + 2));
	CHECK(proto_json_cost(text, (1 << 20) + 2) < 3u << 20);
	free(text);
	/* Escaped quotes do not end a string; garbage gets a finite estimate. */
	CHECK(proto_json_cost("\"\\\"[[[\"", 7) == 14 + 96);
	CHECK(proto_json_cost("\xff\xfe]]]", 5) == 10);
}

/* A frame put back is the next one returned, whole. */
static void unread(void)
{
	struct buf out = BUF_INIT;
	struct proto_reader r;
	struct proto_frame f, g;
	struct proto_raw raw;
	char err[128];
	json_t *j = json_pack("{s:i}", "n", 1);

	proto_reader_init(&r, 1 << 20);
	proto_encode_msg(&out, PROTO_CALL, 1, j, (const uint8_t *)"xy", 2);
	proto_encode_msg(&out, PROTO_CALL, 2, j, NULL, 0);
	feed_all(&r, &out);
	CHECK(proto_next(&r, &f, err, sizeof(err)) == 1);
	proto_unread(&r, &f);
	CHECK(proto_next(&r, &g, err, sizeof(err)) == 1);
	CHECK(g.body == f.body && g.len == f.len);
	CHECK(proto_split_msg(&g, &raw, err, sizeof(err)) == 0);
	CHECK(raw.id == 1 && raw.json_len == 7 && memcmp(raw.json, "{\"n\":1}", 7) == 0);
	CHECK(raw.blob_len == 2 && memcmp(raw.blob, "xy", 2) == 0);
	CHECK(proto_next(&r, &g, err, sizeof(err)) == 1);
	CHECK(proto_split_msg(&g, &raw, err, sizeof(err)) == 0 && raw.id == 2);
	json_decref(j);
	buf_free(&out);
	proto_reader_free(&r);
}

/* A big frame is received into one allocation of its size, not doubled into twice it. */
static void big_frame_room(void)
{
	struct proto_reader r;
	struct proto_frame f;
	size_t body = (5u << 20) + 123;
	uint8_t hdr[5] = {(uint8_t)(body + 1), (uint8_t)((body + 1) >> 8),
			  (uint8_t)((body + 1) >> 16), 0, PROTO_EVENT};
	char *chunk = calloc(1, 65536), err[128];

	proto_reader_init(&r, 8u << 20);
	proto_feed(&r, hdr, 5);
	for (size_t done = 0; done < body;) {
		size_t n = body - done < 65536 ? body - done : 65536;

		proto_feed(&r, chunk, n);
		done += n;
	}
	CHECK(r.in.cap <= 2 * (body + 5) && r.in.cap >= body + 5);
	CHECK(proto_next(&r, &f, err, sizeof(err)) == 1 && f.len == body);
	/* Once it is consumed, the next bytes do not keep the big buffer. */
	proto_feed(&r, hdr, 1);
	CHECK(r.in.cap < (1u << 20));
	free(chunk);
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
	json_cost_bounds_parsing();
	unread();
	big_frame_room();
	return CHECK_DONE();
}
