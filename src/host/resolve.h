/*
 * Host name resolution that a deadline and a cancellation interrupt.
 *
 * getaddrinfo cannot be interrupted: a thread blocked in it can neither be
 * cancelled safely (glibc's resolver and NSS modules hold locks) nor be
 * joined before it returns, which may take the resolver's timeouts times its
 * attempts times its servers, or longer for other NSS sources.  So brig asks
 * getent(1), glibc's own front end to getaddrinfo with the same
 * nsswitch.conf, resolv.conf and /etc/hosts, in a child process that is
 * killed and reaped at the deadline or on cancellation: a lookup never
 * outlives its call, and leaves no thread or process behind.
 */
#ifndef BRIG_RESOLVE_H
#define BRIG_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "hostcall.h"
#include "netaddr.h"

#define RESOLVE_HELPER "/usr/bin/getent"

enum resolve_status {
	RESOLVE_BLOCKED = 1, /* resolve_public: an address is not public */
	RESOLVE_OK = 0,
	RESOLVE_FAILED = -1,	/* no such name, no address, or the lookup failed */
	RESOLVE_TIMEOUT = -2,	/* deadline_ms passed */
	RESOLVE_CANCELLED = -3, /* cancel fired */
};

/* Called for each address in the answer; nonzero stops the lookup with that value. */
typedef int (*resolve_fn)(void *userdata, const struct net_ip *ip);

/*
 * Look name up with helper (RESOLVE_HELPER; tests substitute their own),
 * calling each for every address.  deadline_ms is CLOCK_MONOTONIC
 * milliseconds; cancel may be NULL.  Returns a resolve_status (err says
 * why), or what each returned to stop.
 */
int resolve_name(const char *helper, const char *name, uint64_t deadline_ms,
		 struct hc_cancel *cancel, resolve_fn each, void *userdata, char *err,
		 size_t errlen);

/* What resolve_public found. */
#define RESOLVE_MAX_ADDRS 16
struct resolve_public {
	struct net_ip ips[RESOLVE_MAX_ADDRS]; /* distinct, in the answer's order */
	size_t n;
	struct net_ip blocked; /* with RESOLVE_BLOCKED: the first one not public */
};

/*
 * Look name up as resolve_name does, for a connection that may reach only
 * public addresses: every answer must pass net_ip_blocked, or the lookup
 * stops with RESOLVE_BLOCKED.  Otherwise a resolve_status; with RESOLVE_OK,
 * out holds the addresses (up to RESOLVE_MAX_ADDRS, maybe none).
 */
int resolve_public(const char *helper, const char *name, uint64_t deadline_ms,
		   struct hc_cancel *cancel, struct resolve_public *out, char *err, size_t errlen);

#endif
