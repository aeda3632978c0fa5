/*
 * The guest's syscall policy, an allowlist.
 *
 * Anything not listed fails with ENOSYS: runtimes read that as "not supported
 * here" and fall back.  clone3 is deliberately left out: its flags sit in
 * memory where a filter cannot see them, and glibc falls back to clone, whose
 * flags can be checked.  The classes that reach rarely used kernel code or
 * lead out of the namespaces fail with EPERM instead, so that a refusal reads
 * as one.  Calls from another ABI (i386 int 0x80, the x32 bit) kill the
 * process.
 */
#include "jail/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define DENY SCMP_ACT_ERRNO(EPERM)
#define ALLOW SCMP_ACT_ALLOW
/* Return 0 without running the call. */
#define SKIP SCMP_ACT_ERRNO(0)
/* The kernel reads int and unsigned int arguments from the low half only. */
#define LOW32 0xffffffffULL
/* Not exported to user space; the type sits below SOCK_NONBLOCK/SOCK_CLOEXEC. */
#define SOCK_TYPE_MASK 0xfULL

/* clang-format off */
/*
 * files and descriptors; fcntl, flock, fadvise64 and preadv2 are filtered by
 * their arguments below.  Not listed, so ENOSYS as on a kernel built without
 * them: inotify, fanotify and cachestat.  The system directories are binds
 * that every sandbox and the host share, so watching them (or probing their
 * page cache) would show what other sandboxes and the host run.
 */
static const char *const allow_files[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "pwritev2",
	"open", "openat", "openat2", "creat", "close", "close_range", "lseek", "dup", "dup2", "dup3",
	"fsync", "fdatasync", "syncfs", "sync_file_range", "truncate", "ftruncate", "fallocate",
	"readahead", "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "pipe", "pipe2",
	"memfd_create", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
	"mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "unlink",
	"unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
	"fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask", "utime", "utimes",
	"utimensat", "futimesat", "mknod", "mknodat", "getxattr", "lgetxattr", "fgetxattr",
	"listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr", "fsetxattr",
	"removexattr", "lremovexattr", "fremovexattr"
};

/*
 * waiting for events.  Linux AIO (io_setup...) is not listed: its reads take
 * RWF_NOWAIT from memory the filter cannot see.
 */
static const char *const allow_events[] = {
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
	"signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime"
};

/* memory */
static const char *const allow_memory[] = {
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
	"mlock2", "munlock", "mlockall", "munlockall", "membarrier", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind", "map_shadow_stack"
};

/* processes and threads; clone is filtered by its flags below */
static const char *const allow_processes[] = {
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill",
	"tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "getpid", "getppid", "gettid",
	"getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid", "setreuid",
	"setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capget",
	"capset", "prctl", "arch_prctl", "set_tid_address", "set_robust_list", "get_robust_list",
	"rseq", "futex", "futex_waitv", "restart_syscall", "seccomp", "landlock_create_ruleset",
	"landlock_add_rule", "landlock_restrict_self"
};

/* scheduling and limits; setrlimit and prlimit64 are filtered below */
static const char *const allow_scheduling[] = {
	"getrlimit", "getrusage", "getpriority", "setpriority",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
	"sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "sched_setattr",
	"ioprio_get", "ioprio_set", "getcpu"
};

/* signals */
static const char *const allow_signals[] = {
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
	"rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause", "alarm"
};

/* time */
static const char *const allow_time[] = {
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
	"times", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete"
};

/* system information */
static const char *const allow_system_info[] = {
	"uname", "sysinfo", "getrandom"
};

/* sockets; socket itself is filtered by family below */
static const char *const allow_sockets[] = {
	"socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
	"getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"shutdown", "setsockopt", "getsockopt"
};

/* System V and POSIX IPC, inside the jail's own ipc namespace */
static const char *const allow_ipc[] = {
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
	"msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
	"mq_notify", "mq_getsetattr"
};

/* looking into or steering other processes */
static const char *const deny_other_processes[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"process_madvise", "migrate_pages", "move_pages"
};

/* large, frequently exploited kernel interfaces */
static const char *const deny_kernel_surface[] = {
	"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "modify_ldt"
};

/* leaving or reshaping the namespaces and the root */
static const char *const deny_namespaces[] = {
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
	"fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns", "name_to_handle_at",
	"open_by_handle_at"
};

/* whole-machine state */
static const char *const deny_machine[] = {
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
	"swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog", "iopl",
	"ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup",
	"nfsservctl", "uselib", "sethostname", "setdomainname"
};

/* execution domains only serve old binaries and weaken ASLR */
static const char *const deny_personality[] = {
	"personality"
};
struct name_group {
	const char *const *names;
	size_t count;
	uint32_t action;
};

#define GROUP(arr, act) {(arr), sizeof(arr) / sizeof((arr)[0]), (act)}

static const struct name_group name_groups[] = {
	GROUP(allow_files, ALLOW),
	GROUP(allow_events, ALLOW),
	GROUP(allow_memory, ALLOW),
	GROUP(allow_processes, ALLOW),
	GROUP(allow_scheduling, ALLOW),
	GROUP(allow_signals, ALLOW),
	GROUP(allow_time, ALLOW),
	GROUP(allow_system_info, ALLOW),
	GROUP(allow_sockets, ALLOW),
	GROUP(allow_ipc, ALLOW),
	GROUP(deny_other_processes, DENY),
	GROUP(deny_kernel_surface, DENY),
	GROUP(deny_namespaces, DENY),
	GROUP(deny_machine, DENY),
	GROUP(deny_personality, DENY),
};

/* A rule with argument comparisons; all comparisons must hold. */
struct arg_rule {
	const char *name;
	uint32_t action;
	unsigned int count;
	struct scmp_arg_cmp cmp[3];
};

#define ARG(i, o, a, b) {.arg = (i), .op = (o), .datum_a = (a), .datum_b = (b)}
#define LOW32_IS(i, v) ARG(i, SCMP_CMP_MASKED_EQ, LOW32, (v))
#define TYPE_IS(v) ARG(1, SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, (v))

/* Every other value of the call, through a comparison that always holds. */
#define OTHERWISE(name, i) {(name), ALLOW, 1, {ARG(i, SCMP_CMP_GE, 0, 0)}}

#define IOCTL_DENY(req) {"ioctl", DENY, 1, {LOW32_IS(1, req)}}
#define CLONE_DENY(flag) {"clone", DENY, 1, {ARG(0, SCMP_CMP_MASKED_EQ, (flag), (flag))}}
#define SOCKET_ALLOW(fam, type, proto) \
	{"socket", ALLOW, 3, {LOW32_IS(0, fam), TYPE_IS(type), ARG(2, SCMP_CMP_EQ, (proto), 0)}}
#define SOCKET_DENY(fam, type) {"socket", DENY, 2, {LOW32_IS(0, fam), TYPE_IS(type)}}

#define NS_FLAGS \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | \
	 CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME)

static const struct arg_rule arg_rules[] = {
	/*
	 * TIOCSTI pushes input into a terminal and TIOCLINUX reaches the console.
	 * libseccomp silently drops conditional rules on a syscall that also has
	 * an unconditional one, so every other ioctl is allowed through a
	 * comparison that always holds (OTHERWISE: a1 >= 0), which libseccomp
	 * places after the equality checks; so for every OTHERWISE below.  The
	 * unit test pins this order.
	 */
	IOCTL_DENY(TIOCSTI),
	IOCTL_DENY(TIOCLINUX),
	OTHERWISE("ioctl", 1),
	/* dnotify watches a directory as inotify does. */
	{"fcntl", DENY, 1, {LOW32_IS(1, F_NOTIFY)}},
	OTHERWISE("fcntl", 1),
	/*
	 * A flock on a file every sandbox shares (/usr, /opt/brig, the device
	 * nodes) is a signal between sandboxes, and the filter cannot see which
	 * file an fd names: flock succeeds and locks nothing.  fcntl record
	 * locks, which SQLite uses, stay real (see SECURITY.md).
	 */
	{"flock", SKIP, 0, {}},
	/*
	 * Evicting a shared file's pages and watching them return shows when
	 * someone else read it: DONTNEED, mere advice, is accepted and ignored.
	 * An RWF_NOWAIT read tells whether a page is cached without loading it.
	 */
	{"fadvise64", SKIP, 1, {LOW32_IS(3, POSIX_FADV_DONTNEED)}},
	OTHERWISE("fadvise64", 3),
	{"preadv2", SCMP_ACT_ERRNO(EOPNOTSUPP), 1,
	 {ARG(5, SCMP_CMP_MASKED_EQ, RWF_NOWAIT, RWF_NOWAIT)}},
	OTHERWISE("preadv2", 5),
	/*
	 * RLIMIT_CORE stays at 1 (creds.c): for exactly 1 the kernel aborts a
	 * pipe core_pattern helper, and writes no core file below one page.
	 * Reading it is fine.
	 */
	{"setrlimit", DENY, 1, {LOW32_IS(0, RLIMIT_CORE)}},
	OTHERWISE("setrlimit", 0),
	{"prlimit64", DENY, 2, {LOW32_IS(1, RLIMIT_CORE), ARG(2, SCMP_CMP_NE, 0, 0)}},
	OTHERWISE("prlimit64", 1),
	/* Threads and processes, but no new namespaces: each widens the kernel surface. */
	{"clone", ALLOW, 1, {ARG(0, SCMP_CMP_MASKED_EQ, NS_FLAGS, 0)}},
	CLONE_DENY(CLONE_NEWUSER),
	CLONE_DENY(CLONE_NEWNS),
	CLONE_DENY(CLONE_NEWPID),
	CLONE_DENY(CLONE_NEWNET),
	CLONE_DENY(CLONE_NEWIPC),
	CLONE_DENY(CLONE_NEWUTS),
	CLONE_DENY(CLONE_NEWCGROUP),
	CLONE_DENY(CLONE_NEWTIME),
	/*
	 * Only the families and protocols the runtimes use, so that nothing else
	 * autoloads a protocol module.  Netlink route serves getifaddrs and
	 * getaddrinfo's address checks; the namespace holds nothing else to see.
	 * Other sockets fail with ENOSYS like any unlisted call.
	 */
	{"socket", ALLOW, 1, {LOW32_IS(0, AF_UNIX)}},
	SOCKET_ALLOW(AF_INET, SOCK_STREAM, 0),
	SOCKET_ALLOW(AF_INET, SOCK_STREAM, IPPROTO_TCP),
	SOCKET_ALLOW(AF_INET, SOCK_DGRAM, 0),
	SOCKET_ALLOW(AF_INET, SOCK_DGRAM, IPPROTO_UDP),
	SOCKET_ALLOW(AF_INET6, SOCK_STREAM, 0),
	SOCKET_ALLOW(AF_INET6, SOCK_STREAM, IPPROTO_TCP),
	SOCKET_ALLOW(AF_INET6, SOCK_DGRAM, 0),
	SOCKET_ALLOW(AF_INET6, SOCK_DGRAM, IPPROTO_UDP),
	SOCKET_ALLOW(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE),
	SOCKET_ALLOW(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE),
	{"socket", DENY, 1, {LOW32_IS(0, AF_PACKET)}},
	SOCKET_DENY(AF_INET, SOCK_RAW),
	SOCKET_DENY(AF_INET6, SOCK_RAW),
	SOCKET_DENY(AF_INET, SOCK_PACKET),
};
/* clang-format on */

static void release_ctx(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static void free_insns(struct sock_filter **p)
{
	free(*p);
}

static int fail(char *err, size_t errlen, const char *what, const char *name, int errnum)
{
	snprintf(err, errlen, "seccomp: %s%s%s: %s", what, name ? " " : "", name ? name : "",
		 strerror(errnum));
	return -1;
}

/*
 * Add a rule by name.  A name libseccomp does not know at all is an error (a
 * typo or a libseccomp too old); a name it knows for other architectures only
 * is skipped.
 */
static int add_rule(scmp_filter_ctx ctx, const struct arg_rule *r, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(r->name);
	int rc;

	if (nr == __NR_SCMP_ERROR)
		return fail(err, errlen, "unknown syscall", r->name, ENOENT);
	if (nr < 0)
		return 0;
	rc = seccomp_rule_add_array(ctx, r->action, nr, r->count, r->cmp);
	if (rc < 0)
		return fail(err, errlen, "cannot add rule for", r->name, -rc);
	return 0;
}

static int add_names(scmp_filter_ctx ctx, const struct name_group *g, char *err, size_t errlen)
{
	for (size_t i = 0; i < g->count; i++) {
		struct arg_rule r = {.name = g->names[i], .action = g->action};

		if (add_rule(ctx, &r, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int add_all_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(name_groups) / sizeof(name_groups[0]); i++) {
		if (add_names(ctx, &name_groups[i], err, errlen) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(arg_rules) / sizeof(arg_rules[0]); i++) {
		if (add_rule(ctx, &arg_rules[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* libseccomp 2.5 exports only to a descriptor, so go through a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct jail_bpf *out, char *err, size_t errlen)
{
	__attribute__((cleanup(close_fd))) int fd = memfd_create("brig-seccomp", MFD_CLOEXEC);
	__attribute__((cleanup(free_insns))) struct sock_filter *insns = NULL;
	off_t size;
	int rc;

	if (fd < 0)
		return fail(err, errlen, "memfd_create", NULL, errno);
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
		return fail(err, errlen, "export", NULL, -rc);
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return fail(err, errlen, "export", NULL, errno);
	if (size == 0 || size % sizeof(*insns) != 0 || (size_t)size / sizeof(*insns) > BPF_MAXINSNS)
		return fail(err, errlen, "export", "(bad program size)", EINVAL);
	if (!(insns = malloc((size_t)size)))
		return fail(err, errlen, "export", NULL, ENOMEM);
	if ((rc = read_all(fd, insns, (size_t)size)) < 0)
		return fail(err, errlen, "export", NULL, -rc);
	out->insns = insns;
	out->len = (unsigned short)((size_t)size / sizeof(*insns));
	insns = NULL;
	return 0;
}

int jail_seccomp_build(struct jail_bpf *out, char *err, size_t errlen)
{
	__attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = NULL;
	int rc;

	out->insns = NULL;
	out->len = 0;
	if (!(ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS))))
		return fail(err, errlen, "seccomp_init", NULL, ENOMEM);
	/*
	 * libseccomp sends foreign-architecture calls, and on x86_64 any number
	 * with the x32 bit set, to the bad-arch action.
	 */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
		return fail(err, errlen, "bad-arch action", NULL, -rc);
	/* A binary search over syscall numbers instead of a linear scan. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
		return fail(err, errlen, "optimize", NULL, -rc);
	if (add_all_rules(ctx, err, errlen) < 0)
		return -1;
	return export_bpf(ctx, out, err, errlen);
}

void jail_seccomp_free(struct jail_bpf *bpf)
{
	if (!bpf)
		return;
	free((void *)bpf->insns);
	bpf->insns = NULL;
	bpf->len = 0;
}

/* ------------------------------------------------------------------------
 * Stacked on the policy above when the jail has no memory cgroup.
 *
 * memfd_create and System V shared memory, semaphore arrays and message
 * queues hold memory outside every process's address space and past the
 * process's life: no rlimit bounds them and the monitor's sampling of the
 * jail's processes cannot see them.  A memory cgroup charges them, so only
 * then are they allowed.  (POSIX shared memory is a file in the jail's
 * size-limited /dev/shm; POSIX message queues are bounded by
 * RLIMIT_MSGQUEUE.)
 */
static const char *const deny_without_memcg[] = {"memfd_create", "shmget", "semget", "msgget"};

int jail_seccomp_build_memguard(struct jail_bpf *out, char *err, size_t errlen)
{
	static const struct name_group denied = GROUP(deny_without_memcg, DENY);
	__attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = NULL;
	int rc;

	out->insns = NULL;
	out->len = 0;
	if (!(ctx = seccomp_init(SCMP_ACT_ALLOW)))
		return fail(err, errlen, "seccomp_init", NULL, ENOMEM);
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
		return fail(err, errlen, "bad-arch action", NULL, -rc);
	if (add_names(ctx, &denied, err, errlen) < 0)
		return -1;
	return export_bpf(ctx, out, err, errlen);
}
