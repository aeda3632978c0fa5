/*
 * A jail_plan as bytes, so that a zygote (zygote.c), maybe in another
 * process (the daemon), can build the jail the plan describes.  The plan's
 * fds travel beside the bytes (SCM_RIGHTS), in slot order, absent ones
 * skipped; the bytes say which are present.  Pure: no side effects.
 */
#ifndef BRIG_PLAN_WIRE_H
#define BRIG_PLAN_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jail/jail.h"

/* Larger plans (many long mount paths) are spawned cold. */
#define PLAN_WIRE_MAX (160 * 1024)

enum plan_fd_slot {
	PLAN_FD_CTL,
	PLAN_FD_PROTO,
	PLAN_FD_STDIN,
	PLAN_FD_STDOUT,
	PLAN_FD_STDERR,
	PLAN_FD_CG0,
	PLAN_FD_CG1,
	PLAN_FD_CG2,
	PLAN_FD_CGDIR,
	PLAN_NFDS
};

/* Where the fd mask sits: two plans that differ only there are alike. */
#define PLAN_WIRE_MASK_AT 8

/* Changes with the layout of plans: both ends must be of one build. */
uint32_t plan_wire_version(void);

/*
 * Encode plan (not a session's) and its fds.  fds receives the fds to send,
 * in slot order; *nfds their number.  Returns the length written to buf, or
 * -1 when the plan does not fit in cap bytes.
 */
ssize_t plan_wire_encode(const struct jail_plan *plan, int lang, int ctl, uint8_t *buf, size_t cap,
			 int fds[PLAN_NFDS], int *nfds);

/*
 * Decode buf in place: the plan's strings point into buf, which must
 * outlive it.  fds are the nfds received with it; they are placed in the
 * plan (*ctl for the ctl slot), and *lang is the language encoded.
 * Returns 0, or -1 when the bytes are not a plan of this build or the fds
 * do not match them.  buf is only read.  With fds NULL the plan is a
 * template: every fd is -1, whatever the bytes say.
 */
int plan_wire_decode(uint8_t *buf, size_t len, const int *fds, int nfds, struct jail_plan *plan,
		     int *lang, int *ctl);

#endif
