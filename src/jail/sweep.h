/*
 * Sweeps, for the jail's init in a session: stop every process of the jail
 * but init (a freeze), or kill every one but init and the snapshot holders,
 * and prove it from /proc (and, for the holders, from what init's wait
 * calls report).
 *
 * A stopped process can be woken by any running one, so "every process is
 * stopped" is only proven by two scans of /proc in a row that find the same
 * tasks, all stopped, with the same context-switch counts: a task woken in
 * between would have run and been switched out again, which the counts
 * show.  Nothing ran between the scans, so nothing is left to wake anyone.
 *
 * Runs in a clone of a possibly threaded embedder: raw syscalls only, no
 * malloc; the state lives in init's own anonymous mapping.
 */
#ifndef BRIG_JAIL_SWEEP_H
#define BRIG_JAIL_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "jail/jail.h"

/* Tasks a sweep can account for; more fail it. */
#define SWEEP_MAX_TASKS 65536
/* Killed processes a kill sweep remembers as past running code. */
#define SWEEP_MAX_GONE 256

struct sweep_task {
	int32_t tid;
	uint32_t pad;
	uint64_t switches; /* voluntary + involuntary context switches */
};

/* A snapshot holder, and its spare: a stopped copy it made, ready to be
 * the live guest of the next restore (0 when it has none).  ran: which of
 * them init saw continue or stop again since it took them (RAN_*). */
struct sweep_holder {
	int32_t pid, id;
	int32_t spare;
	int32_t ran;
};

#define RAN_HOLDER 1
#define RAN_SPARE 2

struct sweep {
	int proc_fd;		/* /proc, open */
	int ctl;		/* a message here makes a freeze give way */
	void (*reap)(void *ud); /* called between passes */
	void *reap_ud;
	/* The snapshot holders and their spares: a kill spares them while they
	 * are stopped children of init, a thaw never wakes them. */
	struct sweep_holder holders[JAIL_MAX_SPARED];
	int nholders;
	/* What the last freeze stopped (every non-holder once it overflowed). */
	bool stopped_all;
	int nstopped;
	int32_t stopped[SWEEP_MAX_TASKS];
	/* The last two scans. */
	int nprev, ncur;
	bool overflow;
	/* This kill sweep's processes found past running code (all their tasks
	 * dead or exiting): they never run again, so later passes skip them. */
	int ngone;
	int32_t gone[SWEEP_MAX_GONE];
	/* This pass's processes killed while stopped. */
	int nstopkill;
	int32_t stopkill[SWEEP_MAX_GONE];
	struct sweep_task prev[SWEEP_MAX_TASKS], cur[SWEEP_MAX_TASKS];
};

/* Stop every process but init.  0 when proven, 1 when it gave way to a
 * message on ctl (what it stopped is woken again), -1 when out of time. */
int sweep_freeze(struct sweep *w);
/* Kill every process but init and the holders and spares that stayed
 * stopped since init took them (they are its children: a continue or a new
 * stop of theirs reaches init's wait, which reports it with sweep_ran); the
 * others are killed and forgotten.  0, or -1 out of time. */
int sweep_kill(struct sweep *w);
/* Wake what the last freeze stopped. */
void sweep_thaw(struct sweep *w);

struct sweep_holder *sweep_holder(struct sweep *w, int32_t pid);
/* The holder that pid is, or whose spare it is; NULL for any other. */
struct sweep_holder *sweep_spared(struct sweep *w, int32_t pid);
/* pid, a holder or spare, was continued or stopped again: it ran. */
void sweep_ran(struct sweep *w, int32_t pid);
/* pid is no holder or spare any more: a holder's spare is killed with it. */
void sweep_forget(struct sweep *w, int32_t pid);
/* Whether pid lives with every task stopped, as init's child. */
bool sweep_stopped_child(struct sweep *w, int32_t pid);

uint64_t sweep_now_ns(void);

#endif
