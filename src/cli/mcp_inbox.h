/*
 * brig mcp's input: a thread reads stdin while a tool call runs, so that
 * notifications/cancelled (and the client's hang-up) can stop that call.
 */
#ifndef BRIG_MCP_INBOX_H
#define BRIG_MCP_INBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "brig.h"

struct mcp_inbox;

/* Start reading in; NULL when out of memory or threads. */
struct mcp_inbox *mcp_inbox_start(FILE *in, size_t max_line);
/*
 * The next message, in order (the caller owns it).  NULL with *error set
 * for a line that is not JSON (-32700) or is too long (-32600), *why
 * saying so, for the caller to answer; NULL with *error 0 once the input
 * ended and everything before was taken.  Requests that a cancellation
 * named before they started never come.
 */
json_t *mcp_inbox_next(struct mcp_inbox *ib, int *error, const char **why);
/*
 * The request id starts running; what can stop it follows: a one-shot
 * run's cancel token, or the session whose call it is (which is asked to
 * break, as Ctrl-C would).  A cancellation of id, or the end of the input,
 * meanwhile triggers them (at once when it came first).  Returns whether
 * the request was cancelled already: a session's call is then best not
 * started (a break that comes before the call starts is lost).
 */
void mcp_inbox_begin(struct mcp_inbox *ib, json_t *id);
bool mcp_inbox_watch(struct mcp_inbox *ib, brig_cancel *run, brig_session *session);
/* The request ended: whether it was cancelled (then it gets no answer). */
bool mcp_inbox_end(struct mcp_inbox *ib);
/* Free, once mcp_inbox_next returned NULL (the reader has ended). */
void mcp_inbox_free(struct mcp_inbox *ib);

#endif
