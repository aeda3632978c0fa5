/*
 * Zygotes: a warm interpreter (Python or node, started once) that never
 * runs guest code, and forks the jail's init for each run on request.  The
 * init it forks builds the jail as a cold one does (spawn.c), and its guest
 * goes back into the warm interpreter instead of starting one.
 *
 * The conversation, on a SOCK_SEQPACKET socket: the zygote says HELLO when
 * it is warm; then each request is a plan (plan_wire.h) with its fds, and
 * each reply a struct zygote_reply with init's pidfd when it succeeded.
 */
#ifndef BRIG_ZYGOTE_H
#define BRIG_ZYGOTE_H

#include <stdint.h>

#include "jail/plan_wire.h"

#define ZYGOTE_HELLO 0x6f6c6548u /* "Helo" */

/* Most inits a zygote primes ahead of demand. */
#define ZYGOTE_MAX_POOL 8

struct zygote_hello {
	uint32_t magic;
	uint32_t version; /* plan_wire's: a zygote of another build is refused */
	int32_t pid;
};

struct zygote_reply {
	int32_t err; /* 0, or a positive errno */
	int32_t pid; /* init, in the zygote's pid namespace */
	char msg[200];
};

/*
 * The zygote's loop, on sock: say HELLO, then serve requests until the
 * socket closes (then exit).  Returns 0 only in a guest: the caller's
 * interpreter goes on as the guest of one run, whose environment is set.
 * It keeps pool inits primed for the plan it served last (0: none).
 * before_clone (or NULL) runs before each clone: node must make its heap
 * inheritable again.
 */
int zygote_serve(int sock, int pool, void (*before_clone)(void));

#endif
