/*
 * The jail: one set of namespaces, a minimal root, seccomp and limits per
 * sandbox.  The parent prepares a jail_plan (all allocation happens there);
 * the cloned child only reads it and makes raw syscalls, because it may have
 * been cloned from a multi-threaded embedder where malloc is not safe.
 */
#ifndef BRIG_JAIL_H
#define BRIG_JAIL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jail/seccomp.h"

/* For the child-side steps: on failure name the step and return -errno. */
#define JAIL_TRY(expr, step)                                                                       \
	do {                                                                                       \
		if ((expr) < 0) {                                                                  \
			*what = (step);                                                            \
			return -errno;                                                             \
		}                                                                                  \
	} while (0)

/* The cgroup namespace comes later, once init is in the jail's cgroup. */
#define JAIL_NS_FLAGS                                                                              \
	(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

/* The guest's identity inside the user namespace. */
#define JAIL_UID 1000
#define JAIL_GID 1000
#define JAIL_HOME "/home/user"
#define JAIL_GUEST_DIR "/opt/brig"
#define JAIL_NATIVE_DIR JAIL_GUEST_DIR "/native"

/* Snapshot holders init keeps for a session (and spares on a kill). */
#define JAIL_MAX_SPARED 32

/* Fixed fd numbers the guest process sees. */
#define JAIL_FD_PROTO 3

/* No host directory is ever bound writable: writes go to an overlay's upper layer. */
enum jail_bind_kind {
	JAIL_BIND_RO,	   /* read-only bind */
	JAIL_BIND_SYMLINK, /* replicate a symlink: src is the link target */
	JAIL_BIND_OVERLAY, /* an rwc mount: src is the lower layer, a tmpfs the upper */
	JAIL_BIND_OUTPUTS  /* a private tmpfs (src: its options) whose root goes to the host */
};

struct jail_bind {
	const char *dst; /* absolute path inside the jail */
	const char *src; /* host path, or link target for symlinks */
	enum jail_bind_kind kind;
	bool is_dir;
};

struct jail_file {
	const char *path; /* inside the jail, e.g. "/etc/passwd" */
	const char *content;
};

#define JAIL_MAX_BINDS 64
#define JAIL_MAX_FILES 16
#define JAIL_MAX_ARGS 16
#define JAIL_MAX_ENV 40
/* Overlay (rwc) binds a plan may hold. */
#define JAIL_MAX_RWC 16
/* The fds init hands over with READY besides its own: two per overlay, and
 * the outputs directory's. */
#define JAIL_MAX_HANDED (2 * JAIL_MAX_RWC + 1)

/* Per-jail rlimits that need no option: generous for any runtime. */
#define JAIL_SIGPENDING 1024
#define JAIL_MSGQUEUE_BYTES (800 * 1024)
/* The kernel's own ceiling for RLIMIT_NOFILE (fs.nr_open's default). */
#define JAIL_MAX_NOFILE (1024 * 1024)

struct jail_rlimits {
	uint64_t cpu_seconds; /* 0: unlimited */
	uint64_t as_bytes;    /* 0: unlimited (set when no memory cgroup) */
	uint64_t data_bytes;  /* 0: unlimited (node without a memory cgroup) */
	uint64_t nproc;	      /* 0: unlimited (set when no pids cgroup) */
	uint64_t fsize_bytes;
	uint64_t nofile;
	uint64_t sigpending; /* queued signals and POSIX timers, per jail */
	uint64_t msgqueue;   /* POSIX message queue bytes, per jail */
};

struct jail_plan {
	const char *argv[JAIL_MAX_ARGS];
	const char *envp[JAIL_MAX_ENV];
	struct jail_bind binds[JAIL_MAX_BINDS];
	size_t nbinds;
	struct jail_file files[JAIL_MAX_FILES];
	size_t nfiles;
	/* Options (size=, nr_inodes=) of the one tmpfs behind /tmp, the home
	 * dir and /dev/shm, so that its size bounds what the guest writes in all. */
	char scratch_opts[128];
	struct jail_rlimits rl;
	/* The memory limit, which the guest's /proc/meminfo reports as the total. */
	uint64_t memory_bytes;
	const struct jail_bpf *bpf;
	const struct jail_bpf *bpf_memguard; /* stacked when no memory cgroup; or NULL */
	/* Host ids the guest's uid/gid map to. */
	uid_t host_uid;
	gid_t host_gid;
	bool privileged; /* the host process is root in the initial user ns */
	/* Nonzero: init brings up lo and listens on 127.0.0.1:proxy_port for
	 * the egress proxy (netns.c); the listener goes to the host with READY. */
	uint16_t proxy_port;
	/* A session: init supervises instead of ending with the guest, and a
	 * tmpfs at /run/brig (run_opts) holds snapshot files.
	 * timer_fd and shared tell init when to stop the guest's processes. */
	bool session;
	char run_opts[96];
	/* tmpfs options (size=, nr_inodes=) of the private upper layer that
	 * every JAIL_BIND_OVERLAY of the plan shares. */
	char rwc_opts[64];
	/* Opened by the host (cgroup_open_join): init writes "0" to each to join
	 * the jail's cgroup, or is cloned into cgroup_dir_fd.  -1 where unused. */
	int cgroup_fds[3];
	int cgroup_dir_fd;
	int timer_fd;
	struct jail_shared *shared;
	/* Child ends of the channels; the parent keeps the others. */
	int proto_fd;
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
};

struct jail_exit {
	int32_t pid; /* in the jail's pid namespace */
	int32_t status;
};

/* A running jail, seen from the host. */
struct jail_proc {
	pid_t pid;	     /* the jail's init, in the host's pid namespace */
	int pidfd;	     /* pollable; readable once init exits */
	int ctl_fd;	     /* setup errors and the guest's wait status arrive here */
	char setup_err[200]; /* set by jail_reap when the guest failed before exec */
	/* From init with READY, so the host can measure the jail without a
	 * cgroup: the jail's own /proc, and a sock_diag socket in its network
	 * namespace (-1 when the kernel has none).  Closed by jail_reap. */
	int proc_fd;
	int diag_fd;
	/* The egress proxy's listener in the jail's network namespace, from
	 * READY when the plan has a proxy_port; -1 otherwise.  The receiver
	 * owns it. */
	int listen_fd;
	/* Session mode: an O_PATH fd of the scratch tmpfs's root (from READY),
	 * which the host copies files through (brig_session_copy_files); its
	 * directories tmp and home are the guest's /tmp and home; -1 otherwise.
	 * Closed by jail_reap. */
	int scratch_fd;
	/* Session mode: exits init reported while the host waited for an ACK. */
	struct jail_exit exits[JAIL_MAX_SPARED];
	int nexits;
	int timer_fd; /* session mode: the plan's, for the freeze */
	struct jail_shared *shared;
	/* Handed over with READY (struct jail_rwc_fds); the receiver owns them. */
	int rwc_fds[JAIL_MAX_HANDED];
	int nrwc_fds;
	/* A zygote's: init and the guest are both clones of a warm interpreter. */
	bool warm;
};

/*
 * What init passes the host with READY, per overlay bind in plan order: an
 * O_PATH fd of the overlay's upper directory (what the guest changed, for
 * the commit) and one of the overlay's root (the guest's view, for fs.*);
 * then, when the plan has an outputs bind (always its last), an O_PATH fd
 * of that tmpfs's root.
 */
struct jail_rwc_fds {
	int fds[JAIL_MAX_HANDED];
	int n;
	int listen_fd;	/* and the proxy's listener (jail_net_listen), or -1 */
	int scratch_fd; /* sessions: the scratch tmpfs's root (rootfs.c), or -1 */
};

/*
 * A session's page that the host and init share (never the guest: it is
 * not forked into it, and exec would drop it anyway).  The host says
 * whether a call runs and when the last one ended; init says whether it
 * stops the guest.  See supervise.c.
 */
struct jail_shared {
	_Atomic uint32_t busy;	 /* host: a call runs */
	_Atomic uint32_t armed;	 /* the timer is set, or init is weighing it */
	_Atomic uint32_t frozen; /* init: it stops (or stopped) the guest */
	_Atomic uint64_t end_ns; /* host: CLOCK_MONOTONIC when the last call ended */
};

/*
 * Messages on ctl_fd: init reports READY/ERROR/STATUS; in session mode the
 * host sends the commands and init answers each with ACK (value: the
 * command), except THAW, which is not answered.  Snapshot
 * holders are named by pid and by the id init gave them, so a pid that was
 * freed and reused never passes for a holder.
 */
enum jail_ctl_kind {
	JAIL_CTL_READY = 1,
	JAIL_CTL_ERROR = 2,
	JAIL_CTL_STATUS = 3,
	JAIL_CMD_KILL = 4,   /* SIGKILL every process but init and the stopped holders */
	JAIL_CMD_SIGNAL = 5, /* send value to pid (never init or a holder) */
	/* 6 was CONT, now part of RESTORE */
	JAIL_CTL_ACK = 7,
	JAIL_CMD_SNAP_BEGIN = 8, /* a snapshot starts: watch for one new stopped child */
	JAIL_CMD_SNAP_END = 9,	 /* value 1: keep it as a holder; ACK: its pid and id */
	JAIL_CMD_DROP = 10,	 /* kill and forget holder pid/arg */
	JAIL_CMD_THAW = 12,	 /* a call starts: wake what the freeze stopped */
	JAIL_CMD_RESTORE = 13,	 /* KILL, wake holder pid/arg's spare; ACK arg -1: none */
};

struct jail_ctl_msg {
	int32_t kind;
	int32_t value;	 /* errno for ERROR, wait status for STATUS, signal for SIGNAL */
	int32_t pid;	 /* in the jail's pid namespace */
	int32_t arg;	 /* a holder's id */
	char what[120];	 /* the step that failed, for ERROR */
	uint64_t cpu_us; /* STATUS: init's CPU time and its reaped children's */
};

/*
 * Clone the jail's init.  The child waits for jail_go before it does
 * anything.  Returns 0 or -1 with a reason in err.
 */
int jail_spawn(const struct jail_plan *plan, struct jail_proc *out, char *err, size_t errlen);

/*
 * The jail's init, in a clone made with the namespace flags: builds the
 * root, forks the guest and supervises it; it never returns.  With warm,
 * the guest does not execve: jail_init returns 0 in it, once it is the
 * guest (identity, limits, seccomp, fds 0-3), so that a zygote's warm
 * interpreter goes on as the guest.  With by_signal, init also dies with
 * the thread that cloned it (the parent-death signal); in any case it
 * leaves when ctl hangs up.
 */
int jail_init(const struct jail_plan *plan, int ctl, bool born_inside, bool warm, bool by_signal);
/*
 * A warm init made ahead of demand: once the zygote wrote its id maps (a
 * byte on zctl, its channel to the zygote) it builds the root of tmpl
 * (whose fds are all -1), then take() waits for a
 * run whose plan is tmpl's but for its fds, and the ctl of that run's host.
 * From there on it is jail_init, warm.  Returns only in the guest.
 */
int jail_init_primed(const struct jail_plan *tmpl, int zctl,
		     int (*take)(void *arg, const struct jail_plan **plan, int *ctl), void *arg);
/*
 * Show argv as our command line in /proc (as far as the space of the one we
 * were started with allows), and blank our initial environment there.
 */
void jail_set_cmdline(const char *const *argv);
/* Write the uid/gid maps of the user namespace of pid (init, just cloned). */
int jail_write_id_maps(const struct jail_plan *plan, pid_t pid, char *err, size_t errlen);

/* Queued connections of the proxy's listener that the host did not accept. */
#define JAIL_PROXY_BACKLOG 64
/*
 * In init, before it drops its capabilities: bring up the loopback
 * interface of the jail's network namespace and listen on 127.0.0.1:port
 * (netns.c).  Returns the listening fd (non-blocking, close-on-exec) or
 * -errno.
 */
int jail_net_listen(uint16_t port);
/*
 * Whether an environment entry ("NAME=value") is one only the guest's code
 * reads, never an interpreter's start-up: those that name the egress proxy
 * (HTTP_PROXY, NO_PROXY, npm_config_proxy...) and BRIG_PYTHONPATH (the
 * agent's package directories).  A zygote started without them serves
 * plans that have them.
 */
bool jail_env_guest_only(const char *entry);

/* Let the child build the root and start the guest. */
int jail_go(struct jail_proc *p);

/*
 * Wait until the guest process exists.  Returns 0, or -1 with the child's
 * reason in err (the child has exited then).  The fds of the overlay binds
 * arrive in p->rwc_fds.
 */
int jail_wait_ready(struct jail_proc *p, char *err, size_t errlen);

/* Kill the jail's whole tree (SIGKILL to its init). */
void jail_kill(const struct jail_proc *p);

/*
 * Reap init.  Fills the guest's wait status from the ctl channel (or -1
 * when init died before reporting) and the tree's rusage.
 */
int jail_reap(struct jail_proc *p, int *guest_status, uint64_t *cpu_us);

/*
 * Session commands (supervise.c), answered by init.  Return 0, or -1 when
 * init is gone or did not acknowledge.
 */
int jail_kill_guests(struct jail_proc *p);
int jail_signal(struct jail_proc *p, int32_t pid, int sig);
/* Snapshots: open init's watch, then close it (keep: take the holder).
 * *pid and *id receive the holder init found, or 0. */
int jail_snap_begin(struct jail_proc *p);
int jail_snap_end(struct jail_proc *p, bool keep, int32_t *pid, int32_t *id);
/* A restore: kill every guest process as jail_kill_guests does, then wake
 * the spare of holder pid/id as the new live guest (supervise.c).  1 when
 * init knows no such holder (it died, or was found running and killed). */
int jail_restore(struct jail_proc *p, int32_t pid, int32_t id);
/* Kill and forget a holder and its spare. */
int jail_drop(struct jail_proc *p, int32_t pid, int32_t id);
/*
 * Bracket every call: between calls init stops every guest process (1 ms
 * after a call ends) and jail_call_begin wakes them.  Back-to-back calls
 * cost a few atomic operations and never wake init.
 */
int jail_call_begin(struct jail_proc *p);
int jail_call_end(struct jail_proc *p);
/* Read one ctl message without blocking: 1 when one was read, 0 if none, -1 on EOF. */
int jail_ctl_poll(struct jail_proc *p, struct jail_ctl_msg *m);

/* --- child side (rootfs.c, creds.c, supervise.c) --- */

/* init's loop in session mode: reap and report, obey commands, freeze
 * between calls.  Never returns. */
__attribute__((noreturn)) void jail_supervise(int ctl, int timer, struct jail_shared *shared,
					      int sock);

/*
 * A holder names the spare it made in one datagram to init's socket, the
 * abstract unix address JAIL_SPARE_SOCKET of the jail's own network
 * namespace (supervise.c, and the guest agents).
 */
#define JAIL_SPARE_SOCKET "brig-init"
#define JAIL_SPARE_MAGIC 0x65726170u /* "pare", little-endian */
struct jail_spare_msg {
	uint32_t magic;
	int32_t spare; /* the copy's pid, in the jail */
};
/* init's end: bound before the guest exists, so no guest can take the name. */
int jail_spare_socket(void);

/*
 * Open every bind source as an O_PATH fd into fds[] (one per bind, -1 for
 * symlinks).  Done first, with the caller's original credentials and before
 * the staging mount hides anything.  Returns 0 or -errno.
 */
int jail_open_sources(const struct jail_plan *plan, int *fds, const char **what);
/*
 * Cover the host-wide entries of the fresh procfs mounted at proc (procfs.c),
 * with synthetic meminfo, stat, loadavg and boot id.  devnull and scratch are
 * paths in the new root: the /dev/null to bind, and a directory to create and
 * remove again.  Returns 0 or -errno.
 */
int jail_cover_proc(const struct jail_plan *plan, const char *proc, const char *devnull,
		    const char *scratch, const char **what);
/*
 * Build the root filesystem and pivot into it.  Returns 0 or -errno, *what
 * names the step.  rwc receives the fds of the overlay binds (n counts them,
 * also on failure; the caller closes them).
 */
int jail_build_root(const struct jail_plan *plan, const int *fds, struct jail_rwc_fds *rwc,
		    const char **what);
/* Become the unprivileged guest identity (setresuid/gid, groups). */
int jail_set_identity(const struct jail_plan *plan, const char **what);
/* Drop every capability, set no_new_privs and rlimits. */
int jail_drop_privileges(const struct jail_plan *plan, const char **what);

#endif
