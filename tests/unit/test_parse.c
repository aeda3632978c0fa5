/* Parsing of durations, sizes and counts, plus the buffer and UTF-8 helpers. */
#include <stdlib.h>

#include "check.h"
#include "util/buf.h"
#include "util/parse.h"
#include "util/strv.h"
#include "util/utf8.h"

static void durations(void)
{
	uint64_t ms = 0;

	CHECK(parse_duration_ms("500ms", &ms) == 0 && ms == 500);
	CHECK(parse_duration_ms("2s", &ms) == 0 && ms == 2000);
	CHECK(parse_duration_ms("1.5s", &ms) == 0 && ms == 1500);
	CHECK(parse_duration_ms("1m", &ms) == 0 && ms == 60000);
	CHECK(parse_duration_ms("1h", &ms) == 0 && ms == 3600000);
	CHECK(parse_duration_ms("3", &ms) == 0 && ms == 3000);
	CHECK(parse_duration_ms("2S", &ms) == 0 && ms == 2000);
	CHECK(parse_duration_ms("", &ms) == -1);
	CHECK(parse_duration_ms("s", &ms) == -1);
	CHECK(parse_duration_ms("-1s", &ms) == -1);
	CHECK(parse_duration_ms("0", &ms) == -1);
	CHECK(parse_duration_ms("0.1ms", &ms) == -1);
	CHECK(parse_duration_ms("5 s", &ms) == -1);
	CHECK(parse_duration_ms("5x", &ms) == -1);
	CHECK(parse_duration_ms("nan", &ms) == -1);
	CHECK(parse_duration_ms("1e300h", &ms) == -1);
	CHECK(parse_duration_ms(NULL, &ms) == -1);
}

static void sizes(void)
{
	uint64_t b = 0;

	CHECK(parse_size("64m", &b) == 0 && b == 64ull << 20);
	CHECK(parse_size("1g", &b) == 0 && b == 1ull << 30);
	CHECK(parse_size("256mb", &b) == 0 && b == 256ull << 20);
	CHECK(parse_size("256MiB", &b) == 0 && b == 256ull << 20);
	CHECK(parse_size("512k", &b) == 0 && b == 512ull << 10);
	CHECK(parse_size("100", &b) == 0 && b == 100);
	CHECK(parse_size("1.5k", &b) == 0 && b == 1536);
	CHECK(parse_size("0", &b) == -1);
	CHECK(parse_size("-5m", &b) == -1);
	CHECK(parse_size("5q", &b) == -1);
	CHECK(parse_size("m", &b) == -1);
	CHECK(parse_size("99999999999t", &b) == -1);
}

static void counts(void)
{
	uint32_t n = 0;

	CHECK(parse_count("64", &n) == 0 && n == 64);
	CHECK(parse_count("0", &n) == -1);
	CHECK(parse_count("-1", &n) == -1);
	CHECK(parse_count("12x", &n) == -1);
	CHECK(parse_count("4294967296", &n) == -1);
	CHECK(parse_count("4294967295", &n) == 0 && n == 4294967295u);
}

static void buffers(void)
{
	struct buf b = BUF_INIT;
	struct strv sv = STRV_INIT, copy = STRV_INIT;
	char *s;

	CHECK(buf_append(&b, "ab", 2) == 0 && b.len == 2 && strcmp(b.data, "ab") == 0);
	for (int i = 0; i < 1000; i++)
		buf_append(&b, "xyz", 3);
	CHECK(b.len == 3002 && b.data[3002] == '\0');
	s = buf_steal(&b);
	CHECK(s && strlen(s) == 3002 && b.data == NULL && b.len == 0);
	free(s);
	s = buf_steal(&b);
	CHECK(s && *s == '\0');
	free(s);
	CHECK(strv_push(&sv, "a") == 0 && strv_push(&sv, "b") == 0 && sv.n == 2);
	CHECK(sv.v[2] == NULL);
	CHECK(strv_copy(&copy, &sv) == 0 && copy.n == 2 && strcmp(copy.v[1], "b") == 0);
	CHECK(copy.v[0] != sv.v[0]);
	strv_free(&sv);
	strv_free(&copy);
	CHECK(sv.n == 0 && sv.v == NULL);
}

static void utf8(void)
{
	struct buf b = BUF_INIT;

	CHECK(utf8_seq_len((const unsigned char *)"a", 1) == 1);
	CHECK(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2) == 2);
	CHECK(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3) == 3);
	CHECK(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4) == 4);
	CHECK(utf8_seq_len((const unsigned char *)"\xc0\xaf", 2) == 0);	    /* overlong */
	CHECK(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3) == 0); /* surrogate */
	CHECK(utf8_seq_len((const unsigned char *)"\xe2\x82", 2) == 0);	    /* truncated */
	CHECK(utf8_seq_len((const unsigned char *)"\xff", 1) == 0);
	CHECK(utf8_sanitize(&b,
			    "a\xff"
			    "b\0c",
			    5) == 0);
	CHECK(b.len == 7 && memcmp(b.data,
				   "a\xef\xbf\xbd"
				   "b\0c",
				   7) == 0);
	buf_free(&b);
}

int main(void)
{
	durations();
	sizes();
	counts();
	buffers();
	utf8();
	return CHECK_DONE();
}
