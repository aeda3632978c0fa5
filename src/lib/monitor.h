/*
 * The host side of a running jail: one poll loop that drains stdout and
 * stderr within their bounds, speaks the protocol, feeds stdin, enforces the
 * wall and CPU deadlines, and notices when the jail exits.
 */
#ifndef BRIG_MONITOR_H
#define BRIG_MONITOR_H

#include "lib/dispatch.h"
#include "lib/internal.h"
#include "lib/proto.h"

struct monitor {
	/* set by the caller */
	struct jail_proc *proc;
	const struct cgroup *cg;
	const brig_limits *lim;
	const brig_run_opts *opts;
	struct dispatch *disp;
	brig_result *res;
	int out_fd, err_fd, proto_fd, stdin_fd;
	bool out_pending; /* the dispatcher holds bytes the socket refused */
	/* outcome */
	int error;	       /* BRIG_OK, or why the monitor ended the run */
	brig_limit_kind limit; /* the limit that ended it */
	char msg[256];
	brig_limit_kind guest_limit; /* a limit the agent reported (MemoryError...) */
	uint64_t cpu_sampled_us;     /* without a cgroup: the tree's CPU when last seen */
	/* internal */
	struct proto_reader reader;
	size_t stdin_off;
	bool exited, killed;
};

/* Run until the jail has exited and its output is drained. */
void monitor_run(struct monitor *m);

#endif
