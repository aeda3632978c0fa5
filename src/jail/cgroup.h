/*
 * cgroup accounting and limits for one jail: memory, pids and CPU usage.
 * Uses cgroup v1 (as root) or a delegated cgroup v2 subtree; when neither is
 * writable the jail falls back to rlimits and this module reports so.
 */
#ifndef BRIG_CGROUP_H
#define BRIG_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cgroup_mode { CGROUP_NONE = 0, CGROUP_V1, CGROUP_V2 };

/* What the host offers; probed once per executor. */
struct cgroup_env {
	enum cgroup_mode mode;
	char base[3][256]; /* v1: memory, pids, cpuacct parents; v2: [0] only */
	bool memory, pids, cpu;
	char why[512]; /* with CGROUP_NONE: why no hierarchy could be used */
};

/* In a delegated v2 cgroup, brig's own process moves to this leaf. */
#define CGROUP_HOST_LEAF "brig-host"

struct cgroup {
	const struct cgroup_env *env;
	char path[3][320]; /* "" when the controller is not used */
};

/* Find a usable hierarchy and create brig's parent directories in it. */
void cgroup_probe(struct cgroup_env *env);
/*
 * The v2 part of the probe, on the hierarchy mounted at root where our
 * cgroup is self ("/a/b.scope"); pid is the process to move out of it.  A
 * usable cgroup is one delegated to us (writable) that offers memory and
 * pids; its children get them enabled, after brig moves itself into a
 * leaf when it lives there.  True when env is set up; else env->why says
 * why not.  Tests point root at a fake tree.
 */
bool cgroup_probe_v2(struct cgroup_env *env, const char *root, const char *self, pid_t pid);
/* Our cgroup v2 path from the text of /proc/self/cgroup ("0::/path").  0 or -1. */
int cgroup_self_v2(const char *text, char *out, size_t len);
/* Describe the environment for `brig doctor` ("v1 memory,pids,cpu", ...). */
void cgroup_describe(const struct cgroup_env *env, char *out, size_t len);

/* Create the jail's cgroup named name with the given limits.  0 or -errno. */
int cgroup_create(struct cgroup *cg, const struct cgroup_env *env, const char *name,
		  uint64_t memory_bytes, uint32_t max_pids);
/*
 * Open what the jail's init needs to start inside the jail's cgroup.  v1:
 * each hierarchy's tasks file in fds[], to which init writes "0" (a thread
 * moving itself takes no global lock, where moving a process waits for an
 * RCU grace period, ~10 ms on an idle hierarchy).  v2: the directory in
 * *dir_fd, for clone3's CLONE_INTO_CGROUP, and cgroup.procs in fds[0] for
 * kernels without it.  The kernel checks the opener's credentials, not the
 * writer's.  Unused fds are -1.  Returns 0, or -errno with nothing open.
 */
int cgroup_open_join(const struct cgroup *cg, int fds[3], int *dir_fd);
/* CPU time used by the jail so far, or -1 when not accounted. */
int64_t cgroup_cpu_us(const struct cgroup *cg);
/* Whether the kernel enforces this jail's memory limit. */
bool cgroup_limits_memory(const struct cgroup *cg);
/* How many processes the memory controller killed so far (0 without one). */
int64_t cgroup_oom_kills(const struct cgroup *cg);
/* Whether the memory controller killed something / pids.max was hit. */
bool cgroup_oom_killed(const struct cgroup *cg);
bool cgroup_pids_hit(const struct cgroup *cg);
/* Remove the cgroup once its processes are gone. */
void cgroup_destroy(struct cgroup *cg);

#endif
