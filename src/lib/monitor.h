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
#include "jail/usage.h"

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
	/* Without a cgroup the monitor measures the jail itself (usage.h). */
	bool cg_cpu, cg_mem; /* whether the cgroup accounts CPU / limits memory */
	struct jail_usage usage;
	uint64_t next_check_ms; /* when limits are next checked */
	/* internal */
	struct proto_reader reader;
	bool blocked; /* a call waits in the reader for room in the budget */
	size_t stdin_off;
	/* A streamed stdin (opts->stdin_stream): a chunk read, not yet written. */
	char *sbuf;
	size_t slen, soff;
	bool src_open;
	bool exited, killed;

	/* Sessions: one call at a time, answered by a DONE frame. */
	bool session;
	int ctl_fd;	  /* init's reports: the live guest's exit */
	int interrupt_fd; /* readable when another thread asked for a kill (-1: none) */
	int break_fd;	  /* readable when another thread asked for SIGINT */
	int32_t live_pid; /* the guest process serving calls (jail pid) */
	int live_status;  /* its wait status once it exited, else -1 */
	uint32_t wait_id; /* the call awaited */
	bool done;
	json_t *done_json; /* the DONE frame's JSON (owned) and blob */
	struct buf done_blob;
	/* End the live guest; the default kills the whole jail. */
	void (*kill)(struct monitor *m, void *ud);
	void *kill_ud;
	uint64_t cpu_base_us; /* the jail's CPU use when the call started */
	uint64_t call_cpu_us; /* CPU the call used */
};

/* Prepare the protocol reader; call once before any run or call. */
void monitor_open(struct monitor *m);
/* One-shot runs: until the jail has exited and its output is drained. */
void monitor_run(struct monitor *m);
/*
 * Sessions: until the guest answers call id, the live guest exits, or a
 * limit or interrupt ends it.  m->res receives this call's output.
 */
void monitor_call(struct monitor *m, uint32_t id);
/* Close the channels and free the reader. */
void monitor_close(struct monitor *m);

#endif
