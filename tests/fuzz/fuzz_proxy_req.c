/*
 * The egress proxy's request parser and rewriter (src/host/proxy_req.c):
 * the bytes a guest sends its proxy decide which host the host connects to.
 *
 * Invariants:
 *  - a parsed request names a normalised host and a port in 1..65535, and
 *    re-parsing the host's name gives the same host;
 *  - a plain request's rewritten head starts with its method and an
 *    origin-form target ("/"), names exactly the checked host once in Host,
 *    ends with one blank line, holds no bare CR or LF inside lines and no
 *    Proxy-* header;
 *  - an error response is one status line of printable ASCII, then headers.
 */
#include "fuzz.h"
#include "host/proxy_req.h"

#include <string.h>
#include <strings.h>

static void check_rewrite(const struct proxy_req *r)
{
	struct buf out = BUF_INIT;
	const char *host;

	if (proxy_req_rewrite(r, &out) != 0) {
		buf_free(&out);
		return;
	}
	FUZZ_ASSERT(out.len > r->method_len + 1 && out.data[r->method_len + 1] == '/');
	FUZZ_ASSERT(memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
	FUZZ_ASSERT(strstr(out.data, "\r\n\r\n") == out.data + out.len - 4);
	host = strstr(out.data, "\r\nHost: ");
	FUZZ_ASSERT(host && strncmp(host + 8, r->host.name, strlen(r->host.name)) == 0);
	FUZZ_ASSERT(strcasestr(host + 8, "\r\nHost:") == NULL);
	FUZZ_ASSERT(strcasestr(out.data, "\r\nProxy-") == NULL);
	for (size_t i = 0; i + 1 < out.len; i++)
		FUZZ_ASSERT((out.data[i] == '\r') == (out.data[i + 1] == '\n'));
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char head[PROXY_HEAD_MAX + 1], why[300];
	struct proxy_req r;
	struct buf err = BUF_INIT;
	struct net_host again;
	size_t end;

	if (size > PROXY_HEAD_MAX)
		return 0;
	memcpy(head, data, size);
	head[size] = '\0';
	end = proxy_head_end(head, size);
	if (end && proxy_req_parse(head, end, &r, why, sizeof(why)) == 0) {
		FUZZ_ASSERT(r.port >= 1 && r.port <= 65535);
		FUZZ_ASSERT(net_host_parse(r.host.name, &again, why, sizeof(why)) == 0);
		FUZZ_ASSERT(strcmp(again.name, r.host.name) == 0);
		if (!r.connect)
			check_rewrite(&r);
	} else if (end) {
		FUZZ_ASSERT(proxy_error_response(400, why, &err) == 0);
		FUZZ_ASSERT(strncmp(err.data, "HTTP/1.1 400 ", 13) == 0);
		for (const char *c = err.data; *c != '\r'; c++)
			FUZZ_ASSERT(*c >= ' ' && *c < 0x7f);
	}
	buf_free(&err);
	return 0;
}
