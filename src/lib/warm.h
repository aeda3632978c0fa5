/*
 * Warm start: the executor's zygotes, one per language, started on demand
 * and replaced when they die.  A run asks for a jail; when no zygote can
 * give one right now (none yet, still warming up, dead, or started for
 * another interpreter command line) the run starts cold instead.
 */
#ifndef BRIG_WARM_H
#define BRIG_WARM_H

#include <pthread.h>
#include <stdbool.h>

#include "jail/jail.h"

struct warm_zygote;

struct warm {
	bool enabled;
	unsigned pool;		  /* inits each zygote primes ahead */
	char *zygote_dir;	  /* libbrig_zygote.so and the node addon */
	char *guest_dir;	  /* the host's copy of the guest agents */
	char *daemon_socket;	  /* set: the daemon's zygotes serve us, not our own */
	struct warm_zygote *z[2]; /* python, js */
};

int warm_init(struct warm *w, bool enabled, unsigned pool, const char *zygote_dir,
	      const char *guest_dir, const char *daemon_socket);
void warm_destroy(struct warm *w);

/*
 * A jail for plan from lang's zygote (0, out filled as jail_spawn fills
 * it), or 1: start cold.  Starts the zygote when there is none.
 */
int warm_spawn(struct warm *w, int lang, const struct jail_plan *plan, struct jail_proc *out);

/*
 * Start lang's zygote for plans with this interpreter command line (argv
 * without the agent's script) and environment, and wait up to timeout_ms
 * for it to be warm.  0 when it is, -1 otherwise.
 */
int warm_prewarm(struct warm *w, int lang, const char *const *argv, const char *const *envp,
		 int timeout_ms);

/*
 * Serving other processes (the daemon).  warm_greet says HELLO on a new
 * connection; warm_relay answers one spawn request read from it with the
 * zygote's reply (0), or returns 1 when the client hung up, -1 for a
 * malformed request.  The inits the zygotes clone are the caller's
 * children: warm_reap reaps those that exited (and notices dead zygotes).
 */
int warm_greet(int conn);
int warm_relay(struct warm *w, int conn);
void warm_reap(struct warm *w);

#endif
