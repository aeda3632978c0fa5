/*
 * The parts of http.request that read what a remote server sends: the
 * header callback (status lines, "Name: value" lines, repeated and
 * non-UTF-8 values) and the body callback with its size limit.  They are
 * static in src/host/http.c, so this target compiles that file in; nothing
 * else of it runs here.
 *
 * Input: a byte choosing the body limit, then the response, split into
 * header lines at each '\n' until an empty line; the rest is the body, fed
 * in pieces.
 *
 * Invariants: the headers always encode as a JSON object of strings; names
 * are lower-case tokens; no more than MAX_RESP_HEADERS lines (repeats
 * included) are accepted after a status line, nor more than
 * MAX_RESP_HEADER_BYTES; the values hold at most two bytes per byte received
 * (ISO-8859-1 widened to UTF-8, never more); the body never exceeds its limit
 * and is exactly the bytes accepted.
 */
#include "fuzz.h"

#include <ctype.h>

#include "../../src/host/http.c"

static const size_t body_limits[] = {0, 1, 100, 4096};

static void check_headers(const struct xfer *x)
{
	const char *name;
	json_t *v;
	char *text;

	size_t total = 0;

	FUZZ_ASSERT(json_object_size(x->headers) <= MAX_RESP_HEADERS);
	json_object_foreach(x->headers, name, v)
	{
		FUZZ_ASSERT(json_is_string(v));
		total += json_string_length(v);
		FUZZ_ASSERT(*name != '\0' && strlen(name) <= 256);
		for (const char *c = name; *c; c++)
			FUZZ_ASSERT(is_tchar((unsigned char)*c) && !(*c >= 'A' && *c <= 'Z'));
	}
	/* At most two UTF-8 bytes per byte received: no amplification. */
	FUZZ_ASSERT(total <= 2 * x->hdr_bytes);
	text = json_dumps(x->headers, JSON_COMPACT);
	FUZZ_ASSERT(text != NULL);
	free(text);
}

/* A "Name: value" line, as a server's header (written apart from http.c). */
static bool is_header_line(const uint8_t *p, size_t len)
{
	size_t n = 0;

	while (n < len && n < 256 && p[n] && (isalnum(p[n]) || strchr("!#$%&'*+-.^_`|~", p[n])))
		n++;
	return n > 0 && n < len && p[n] == ':';
}

/* Header lines up to the blank one; returns where the body starts. */
static size_t feed_headers(struct xfer *x, const uint8_t *p, size_t n)
{
	size_t off = 0, lines = 0;

	while (off < n) {
		const uint8_t *nl = memchr(p + off, '\n', n - off);
		size_t len = nl ? (size_t)(nl - (p + off)) + 1 : n - off;
		bool blank = len == 1 ? p[off] == '\n' : len == 2 && p[off] == '\r' && nl;
		char *line = malloc(len); /* exactly len bytes, as curl hands them over */
		size_t got;

		FUZZ_ASSERT(line != NULL);
		memcpy(line, p + off, len);
		got = on_header(line, 1, len, x);
		free(line);
		off += len;
		if (got != len) {
			FUZZ_ASSERT(got == 0 && (x->hdr_too_big || x->oom));
			return n;
		}
		/* Accepted: at most MAX_RESP_HEADERS lines since the status line. */
		if (len >= 5 && !memcmp(p + off - len, "HTTP/", 5))
			lines = 0;
		else if (is_header_line(p + off - len, len))
			FUZZ_ASSERT(++lines <= MAX_RESP_HEADERS);
		if (blank)
			break;
	}
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct xfer x = {0};
	size_t off, taken = 0;

	x.max = body_limits[fuzz_take_byte(&in) % (sizeof(body_limits) / sizeof(body_limits[0]))];
	x.headers = json_object();
	FUZZ_ASSERT(x.headers != NULL);
	off = feed_headers(&x, in.p, in.n);
	check_headers(&x);
	FUZZ_ASSERT(x.hdr_bytes <= MAX_RESP_HEADER_BYTES);
	for (size_t piece = 1; off < in.n; piece = piece * 3 % 17 + 1) {
		size_t len = piece < in.n - off ? piece : in.n - off;
		char *copy = malloc(len);
		size_t got;

		FUZZ_ASSERT(copy != NULL);
		memcpy(copy, in.p + off, len);
		got = on_body(copy, 1, len, &x);
		free(copy);
		FUZZ_ASSERT(got == len || got == 0);
		if (got == 0) {
			FUZZ_ASSERT(x.body_too_big || x.oom);
			break;
		}
		FUZZ_ASSERT(memcmp(x.body + taken, in.p + off, len) == 0);
		taken += len;
		off += len;
	}
	FUZZ_ASSERT(x.len == taken && x.len <= x.max);
	xfer_free(&x);
	return 0;
}
