/*
 * What a jail uses, measured from the host when no cgroup does it.
 *
 * CPU time and memory come from the jail's own /proc (handed over by init):
 * it lists every process of the jail's pid namespace, whoever forked it and
 * whether or not it was reaped.  Socket buffers, which belong to no process,
 * come from sock_diag in the jail's network namespace.
 */
#ifndef BRIG_USAGE_H
#define BRIG_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One process as a sample saw it.  Times are in clock ticks. */
struct usage_proc {
	int32_t pid;	/* in the jail's pid namespace; 1 is init */
	int32_t ppid;	/* 0 when the parent is outside the namespace */
	uint64_t start; /* start time: tells a reused pid from the old process */
	uint64_t own;	/* utime + stime of every thread, the dead ones included */
	uint64_t child; /* cutime + cstime: children it has waited for */
	int64_t budget; /* scratch: growth of child not yet matched to a vanished child */
};

struct jail_usage {
	int proc_fd;	/* the jail's /proc (borrowed) */
	int diag_fd;	/* NETLINK_SOCK_DIAG in the jail's network namespace (borrowed) */
	pid_t init_pid; /* init, in the host's pid namespace */
	struct usage_proc *procs;
	size_t nprocs, cap;
	uint64_t lost;	  /* ticks of processes that vanished without being waited for */
	uint64_t cpu_us;  /* CPU time of the whole jail so far (never decreases) */
	uint64_t mem;	  /* bytes pinned at the last memory sample */
	uint64_t sockets; /* of which socket buffers */
	uint32_t seq;	  /* of the last sock_diag request */
	/*
	 * Count init's clones that have not exec'ed.  A cold jail's are init
	 * on its way to exec the guest (the embedder's pages); a warm jail's
	 * guest is one, and never execs.
	 */
	bool count_init_clones;
	char err[120]; /* why the last sample failed */
};

enum { USAGE_CPU = 1, USAGE_MEMORY = 2 };

/* Start measuring; the fds stay the caller's.  proc_fd < 0 disables it. */
void usage_init(struct jail_usage *u, int proc_fd, int diag_fd, pid_t init_pid);
void usage_free(struct jail_usage *u);

/*
 * Take a sample of what (USAGE_CPU | USAGE_MEMORY) and update cpu_us and
 * mem.  Memory is first bounded cheaply (resident anonymous and shared
 * memory, swap and page tables of every process, plus socket buffers); only
 * when that exceeds mem_limit are the processes' proportional shares read,
 * so that pages forked processes share are counted once.  Returns 0, 1
 * when the jail has ended, or -1 with a reason in err when the jail cannot
 * be measured.
 */
int usage_sample(struct jail_usage *u, unsigned what, uint64_t mem_limit);

/* Buffer bytes of the sockets of diag_fd's network namespace, or -errno. */
int64_t usage_socket_bytes(struct jail_usage *u);
/* Whether this kernel's sock_diag reports socket buffers: 0 or -errno. */
int usage_probe_sockets(void);

/* ------------------------------------------------- pure parts (unit-tested) */

/*
 * Parse /proc/PID/stat into p (pid, ppid, start, own, child).  Returns 0,
 * or -1 for text that is not a stat line.
 */
int usage_parse_stat(const char *text, struct usage_proc *p);
/* The value in kB of "key:" in a /proc status-like text, in bytes (0 if absent). */
uint64_t usage_kb_field(const char *text, const char *key);
/*
 * Account a new sample (sorted by pid, budgets unset) against the previous
 * one: a process that vanished was either waited for, and its time shows in
 * a surviving ancestor's (or init's) child time, or it was released without
 * a wait (its parent ignores SIGCHLD) and its last-seen time is kept in
 * lost.  Takes ownership of now.  Returns the jail's total ticks.
 */
uint64_t usage_account(struct jail_usage *u, struct usage_proc *now, size_t n);

#endif
