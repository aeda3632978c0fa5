/*
 * The request head a client sends its HTTP proxy: parsed, and rewritten for
 * the origin server.  Pure: no sockets, no DNS.
 */
#ifndef BRIG_PROXY_REQ_H
#define BRIG_PROXY_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "netaddr.h"
#include "util/buf.h"

/* The longest request head (request line and headers) a client may send. */
#define PROXY_HEAD_MAX (32u << 10)

struct proxy_req {
	bool connect; /* CONNECT host:port: a tunnel */
	struct net_host host;
	unsigned port;
	/* Plain HTTP: the method and the target in origin form ("/a?b"),
	 * pointing into the head that was parsed. */
	const char *method;
	size_t method_len;
	const char *path;
	size_t path_len;
	const char *headers; /* the first header line, or the blank line */
	size_t head_len;     /* the whole head, its blank line included */
};

/*
 * Where the head ends: the length up to and including the blank line, or 0
 * while incomplete.  A lone LF ends lines too.
 */
size_t proxy_head_end(const char *data, size_t len);
/*
 * Parse a complete head of head_len bytes (proxy_head_end).  Accepts
 * "CONNECT host:port HTTP/1.x" and absolute "http://" targets.  Returns 0,
 * or the HTTP status to answer (400, 405 or 501) with the reason in why.
 */
int proxy_req_parse(const char *head, size_t head_len, struct proxy_req *out, char *why,
		    size_t whylen);
/*
 * The head to send the origin server for a plain HTTP request: origin-form
 * target, Host set to the host that was checked, hop-by-hop and Proxy-*
 * headers dropped, and "Connection: close", so that one proxy connection
 * carries one request.  Returns 0 or -1 when memory runs out.
 */
int proxy_req_rewrite(const struct proxy_req *r, struct buf *out);
/*
 * A complete proxy error response: status, a reason phrase naming brig and
 * why (clients show the phrase, e.g. "Tunnel connection failed: 403 ..."),
 * and the same text as a plain-text body.
 */
int proxy_error_response(int status, const char *why, struct buf *out);

#endif
