/*
 * The egress proxy of one sandbox (brig_proxy_limits in brig.h): accepts on
 * a listener in the jail's network namespace, checks each request as
 * http.request checks one (the allowlist, then public addresses only unless
 * an IP was allowed), connects from the host to an address it checked, and
 * relays bytes both ways within the run's limits.  One thread accepts; each
 * connection has a thread of its own.
 */
#ifndef BRIG_PROXY_H
#define BRIG_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "brig.h"

struct proxy;

struct proxy_stats {
	uint64_t connections; /* accepted */
	uint64_t refused;     /* answered with an error instead of carried */
};

/*
 * Serve listen_fd (taken over, also on failure) for the allowlist entries
 * (already valid: brig_caps_allow_host checked them).  lim may be NULL;
 * zero fields take defaults.  resolver is the lookup helper (resolve.h),
 * NULL for getent.  Returns 0, or a brig_error with err set.
 */
int proxy_start(int listen_fd, const char *const *allow, size_t n, const brig_proxy_limits *lim,
		const char *resolver, struct proxy **out, char *err, size_t errlen);
/* What the proxy counted so far.  Thread-safe. */
void proxy_stats_get(struct proxy *p, struct proxy_stats *st);
/*
 * Close every connection and the listener, join the threads, free p, and
 * fill final (unless NULL) with the last counts.  NULL is a no-op.
 */
void proxy_stop(struct proxy *p, struct proxy_stats *final);

#endif
