/*
 * The seccomp allowlist, exercised in forked children.
 *
 * Denied calls are told apart from reachable ones with a "marker" filter
 * installed before the policy: it answers every probed call with ECHRNG.  Of
 * two ERRNO answers the kernel reports the newer filter's, so a call the
 * policy refuses reads EPERM (or ENOSYS), and one it lets through reads
 * ECHRNG, whatever the caller's privileges and without running the call.
 */
#include "check.h"
#include "jail/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#ifndef RWF_HIPRI
#define RWF_HIPRI 0x00000001
#endif
/* The same number on every architecture (added in Linux 6.5). */
#define SYS_CACHESTAT 451L

#define MARK ECHRNG
#define SETUP_FAILED 250
#define HIGH_BITS 0x100000000UL
#define NS_FLAG_COUNT 8

static const unsigned long ns_flags[NS_FLAG_COUNT] = {
    CLONE_NEWUSER, CLONE_NEWNS,	 CLONE_NEWPID,	  CLONE_NEWNET,
    CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* One raw syscall and the errno it must end with (0: it must succeed). */
struct probe {
	const char *name;
	long nr;
	long a[6];
	int want;
};

#define BAD ((long)1) /* a pointer that faults */

static const struct probe denied[] = {
    {"ptrace", SYS_ptrace, {-1, 0, 0, 0}, EPERM},
    {"process_vm_readv", SYS_process_vm_readv, {0, 0, 1, 0, 1, 0}, EPERM},
    {"process_vm_writev", SYS_process_vm_writev, {0, 0, 1, 0, 1, 0}, EPERM},
    {"pidfd_getfd", SYS_pidfd_getfd, {-1, -1, 0}, EPERM},
    {"kcmp", SYS_kcmp, {-1, -1, -1, 0, 0}, EPERM},
    {"process_madvise", SYS_process_madvise, {-1, 0, 0, 0, 0}, EPERM},
    {"migrate_pages", SYS_migrate_pages, {-1, 0, 0, 0}, EPERM},
    {"move_pages", SYS_move_pages, {-1, 1, 0, 0, 0, 0}, EPERM},
    {"bpf", SYS_bpf, {-1, 0, 0}, EPERM},
    {"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0}, EPERM},
    {"userfaultfd", SYS_userfaultfd, {-1}, EPERM},
    {"keyctl", SYS_keyctl, {-1, 0, 0, 0, 0}, EPERM},
    {"add_key", SYS_add_key, {0, 0, 0, 0, 0}, EPERM},
    {"request_key", SYS_request_key, {0, 0, 0, 0}, EPERM},
    {"io_uring_setup", SYS_io_uring_setup, {0, 0}, EPERM},
    {"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, 0, 0, 0}, EPERM},
    {"io_uring_register", SYS_io_uring_register, {-1, 0, 0, 0}, EPERM},
    {"mount", SYS_mount, {0, 0, 0, 0, 0}, EPERM},
    {"umount2", SYS_umount2, {0, 0}, EPERM},
    {"pivot_root", SYS_pivot_root, {0, 0}, EPERM},
    {"chroot", SYS_chroot, {0}, EPERM},
    {"move_mount", SYS_move_mount, {-1, 0, -1, 0, 0}, EPERM},
    {"open_tree", SYS_open_tree, {-1, 0, 0}, EPERM},
    {"fsopen", SYS_fsopen, {0, 0}, EPERM},
    {"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0}, EPERM},
    {"fsmount", SYS_fsmount, {-1, 0, 0}, EPERM},
    {"fspick", SYS_fspick, {-1, 0, 0}, EPERM},
    {"mount_setattr", SYS_mount_setattr, {-1, 0, 0, 0, 0}, EPERM},
    {"unshare", SYS_unshare, {-1}, EPERM},
    {"setns", SYS_setns, {-1, 0}, EPERM},
    {"kexec_load", SYS_kexec_load, {0, 0, 0, -1}, EPERM},
    {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, -1}, EPERM},
    {"init_module", SYS_init_module, {0, 0, 0}, EPERM},
    {"finit_module", SYS_finit_module, {-1, 0, 0}, EPERM},
    {"delete_module", SYS_delete_module, {0, 0}, EPERM},
    {"reboot", SYS_reboot, {0, 0, 0, 0}, EPERM},
    {"swapon", SYS_swapon, {0, 0}, EPERM},
    {"swapoff", SYS_swapoff, {0}, EPERM},
    {"acct", SYS_acct, {BAD}, EPERM},
    {"quotactl", SYS_quotactl, {-1, 0, 0, 0}, EPERM},
    {"quotactl_fd", SYS_quotactl_fd, {-1, 0, 0, 0}, EPERM},
    {"lookup_dcookie", SYS_lookup_dcookie, {0, 0, 0}, EPERM},
    {"name_to_handle_at", SYS_name_to_handle_at, {-1, 0, 0, 0, 0}, EPERM},
    {"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0}, EPERM},
    {"personality", SYS_personality, {0xdead}, EPERM},
    {"syslog", SYS_syslog, {-1, 0, 0}, EPERM},
#ifdef SYS_iopl
    {"iopl", SYS_iopl, {99}, EPERM},
    {"ioperm", SYS_ioperm, {-1, 1, 1}, EPERM},
    {"modify_ldt", SYS_modify_ldt, {99, 0, 0}, EPERM},
    {"uselib", SYS_uselib, {0}, EPERM},
#endif
    {"settimeofday", SYS_settimeofday, {BAD, 0}, EPERM},
    {"clock_settime", SYS_clock_settime, {-1, 0}, EPERM},
    {"clock_adjtime", SYS_clock_adjtime, {-1, 0}, EPERM},
    {"adjtimex", SYS_adjtimex, {0}, EPERM},
    {"vhangup", SYS_vhangup, {0}, EPERM},
    {"nfsservctl", SYS_nfsservctl, {0}, EPERM},
    {"sethostname", SYS_sethostname, {0, -1}, EPERM},
    {"setdomainname", SYS_setdomainname, {0, -1}, EPERM},
    {"clone3", SYS_clone3, {0, 0}, ENOSYS},
/* Watching and page-cache probes of the shared binds: not offered at all. */
#ifdef SYS_inotify_init
    {"inotify_init", SYS_inotify_init, {0}, ENOSYS},
#endif
    {"inotify_init1", SYS_inotify_init1, {0}, ENOSYS},
    {"inotify_add_watch", SYS_inotify_add_watch, {-1, 0, 0}, ENOSYS},
    {"inotify_rm_watch", SYS_inotify_rm_watch, {-1, 0}, ENOSYS},
    {"fanotify_init", SYS_fanotify_init, {0, 0}, ENOSYS},
    {"fanotify_mark", SYS_fanotify_mark, {-1, 0, 0, -1, 0}, ENOSYS},
    {"cachestat", SYS_CACHESTAT, {-1, 0, 0, 0}, ENOSYS},
    {"io_setup", SYS_io_setup, {1, 0}, ENOSYS},
    {"io_submit", SYS_io_submit, {0, 1, 0}, ENOSYS},
    {"io_getevents", SYS_io_getevents, {0, 1, 1, 0, 0}, ENOSYS},
    {"io_pgetevents", SYS_io_pgetevents, {0, 1, 1, 0, 0, 0}, ENOSYS},
    {"io_cancel", SYS_io_cancel, {0, 0, 0}, ENOSYS},
    {"io_destroy", SYS_io_destroy, {0}, ENOSYS},
};

#define N_DENIED (sizeof(denied) / sizeof(denied[0]))

/* Calls the policy filters by their arguments; the marker catches them all. */
static const long by_argument[] = {SYS_fcntl,	SYS_flock,     SYS_fadvise64,
				   SYS_preadv2, SYS_setrlimit, SYS_prlimit64};

/* What a child installs: the marker (a libseccomp context) and the policy. */
struct filters {
	scmp_filter_ctx marker;
	const struct jail_bpf *policy;
};

typedef int (*child_fn)(const void *arg);

/* ------------------------------------------------------------ helpers */

static void child_setup(const struct filters *f)
{
	struct rlimit no_core = {0, 0};

	setrlimit(RLIMIT_CORE, &no_core);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(SETUP_FAILED);
	if (f->marker && seccomp_load(f->marker) < 0)
		_exit(SETUP_FAILED);
	if (f->policy && jail_seccomp_install(f->policy) < 0)
		_exit(SETUP_FAILED);
}

/* Run fn in a filtered child; its return value becomes the exit status. */
static int run_child(const struct filters *f, child_fn fn, const void *arg)
{
	int st = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		child_setup(f);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static bool exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static void expect_exit(const char *what, int st, int want)
{
	CHECK(exited_with(st, want));
	if (exited_with(st, want))
		return;
	if (st != -1 && WIFEXITED(st))
		fprintf(stderr, "  %s: got %s, want %s\n", what, strerror(WEXITSTATUS(st)),
			strerror(want));
	else
		fprintf(stderr, "  %s: status %#x\n", what, (unsigned)st);
}

static int do_probe(const void *arg)
{
	const struct probe *p = arg;
	long r = syscall(p->nr, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]);

	return r < 0 ? errno : 0;
}

static int probe_status(const struct filters *f, const struct probe *p)
{
	return run_child(f, do_probe, p);
}

/* ------------------------------------------------------------ the marker */

static int mark(scmp_filter_ctx ctx, long nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(MARK), (int)nr, n, cmp);
}

static scmp_filter_ctx build_marker(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; i < N_DENIED && rc == 0; i++)
		rc = mark(ctx, denied[i].nr, 0, NULL);
	for (size_t i = 0; i < sizeof(by_argument) / sizeof(by_argument[0]) && rc == 0; i++)
		rc = mark(ctx, by_argument[i], 0, NULL);
	for (int i = 0; i < NS_FLAG_COUNT && rc == 0; i++)
		rc =
		    mark(ctx, SYS_clone, 1, &SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	if (rc == 0)
		rc = mark(ctx, SYS_ioctl, 1, &SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCSTI));
	if (rc == 0)
		rc = mark(ctx, SYS_ioctl, 1, &SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCLINUX));
	if (rc == 0)
		rc = mark(ctx, SYS_socket, 1, &SCMP_A0(SCMP_CMP_EQ, AF_PACKET, 0));
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct scmp_arg_cmp raw[] = {SCMP_A0(SCMP_CMP_EQ, i ? AF_INET6 : AF_INET, 0),
					     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW)};

		rc = mark(ctx, SYS_socket, 2, raw);
	}
	if (rc < 0 && ctx) {
		seccomp_release(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* ------------------------------------------------------------ build */

static void test_build(const struct jail_bpf *bpf)
{
	struct jail_bpf copy = {0};
	char err[256] = "";

	CHECK(bpf->insns != NULL);
	CHECK(bpf->len > 10);
	/* A second build is independent and identical. */
	CHECK(jail_seccomp_build(&copy, err, sizeof(err)) == 0);
	CHECK(copy.insns != bpf->insns);
	CHECK(copy.len == bpf->len);
	CHECK(copy.insns && memcmp(copy.insns, bpf->insns, bpf->len * sizeof(*bpf->insns)) == 0);
	jail_seccomp_free(&copy);
	CHECK(copy.insns == NULL && copy.len == 0);
	jail_seccomp_free(NULL);
	/* The program built into the library is this very policy. */
	CHECK(jail_seccomp_filter.len == bpf->len);
	CHECK(memcmp(jail_seccomp_filter.insns, bpf->insns, bpf->len * sizeof(*bpf->insns)) == 0);
}

static int install_program(const void *arg)
{
	return -jail_seccomp_install(arg);
}

static void test_install_errors(void)
{
	struct sock_filter bad_insn = {0xffff, 0, 0, 0};
	struct jail_bpf empty = {0};
	struct jail_bpf bad = {&bad_insn, 1};
	struct filters none = {0};

	CHECK(jail_seccomp_install(&empty) == -EINVAL);
	CHECK(jail_seccomp_install(NULL) == -EINVAL);
	/* The kernel's verdict on a malformed program comes back as -errno. */
	expect_exit("malformed program", run_child(&none, install_program, &bad), EINVAL);
}

/* ------------------------------------------------------------ (a) denied calls */

static void test_denied(const struct filters *both, const struct filters *marker_only)
{
	for (size_t i = 0; i < N_DENIED; i++) {
		const struct probe *p = &denied[i];

		/* The marker alone catches the call: the probe can tell. */
		expect_exit(p->name, probe_status(marker_only, p), MARK);
		expect_exit(p->name, probe_status(both, p), p->want);
	}
}

static void test_allowed_and_unknown(const struct filters *both)
{
	static const struct probe getpid_p = {"getpid", SYS_getpid, {0}, 0};
	static const struct probe unknown = {"syscall 1000", 1000, {0}, ENOSYS};
	static const struct probe sync_p = {"sync", SYS_sync, {0}, ENOSYS};

	expect_exit(getpid_p.name, probe_status(both, &getpid_p), 0);
	expect_exit(unknown.name, probe_status(both, &unknown), ENOSYS);
	expect_exit(sync_p.name, probe_status(both, &sync_p), ENOSYS);
}

/* ------------------------------------------------------------ filtered by argument */

/*
 * Under the marker, MARK means the policy let the call through; anything
 * else is the policy's own answer (0 for a call it skips).
 */
static void test_by_argument(const struct filters *both)
{
	static long old[2];
	const long core = RLIMIT_CORE, nofile = RLIMIT_NOFILE;
	const struct probe probes[] = {
	    {"fcntl F_NOTIFY", SYS_fcntl, {-1, F_NOTIFY, DN_ACCESS}, EPERM},
	    {"fcntl F_NOTIFY | 1 << 32", SYS_fcntl, {-1, (long)(HIGH_BITS | F_NOTIFY), 0}, EPERM},
	    {"fcntl F_GETFL", SYS_fcntl, {-1, F_GETFL}, MARK},
	    {"fcntl F_SETLK", SYS_fcntl, {-1, F_SETLK, 0}, MARK},
	    {"flock", SYS_flock, {-1, LOCK_EX}, 0},
	    {"fadvise DONTNEED", SYS_fadvise64, {-1, 0, 0, POSIX_FADV_DONTNEED}, 0},
	    {"fadvise DONTNEED | 1 << 32",
	     SYS_fadvise64,
	     {-1, 0, 0, (long)(HIGH_BITS | POSIX_FADV_DONTNEED)},
	     0},
	    {"fadvise WILLNEED", SYS_fadvise64, {-1, 0, 0, POSIX_FADV_WILLNEED}, MARK},
	    {"preadv2 RWF_NOWAIT", SYS_preadv2, {-1, 0, 0, 0, 0, RWF_NOWAIT}, EOPNOTSUPP},
	    {"preadv2 RWF_NOWAIT | RWF_HIPRI",
	     SYS_preadv2,
	     {-1, 0, 0, 0, 0, RWF_NOWAIT | RWF_HIPRI},
	     EOPNOTSUPP},
	    {"preadv2", SYS_preadv2, {-1, 0, 0, 0, 0, 0}, MARK},
	    {"setrlimit RLIMIT_CORE", SYS_setrlimit, {core, BAD}, EPERM},
	    {"setrlimit RLIMIT_CORE | 1 << 32",
	     SYS_setrlimit,
	     {(long)(HIGH_BITS | core), BAD},
	     EPERM},
	    {"setrlimit RLIMIT_NOFILE", SYS_setrlimit, {nofile, BAD}, MARK},
	    {"prlimit64 set RLIMIT_CORE", SYS_prlimit64, {0, core, BAD, 0}, EPERM},
	    {"prlimit64 set RLIMIT_CORE | 1 << 32",
	     SYS_prlimit64,
	     {0, (long)(HIGH_BITS | core), BAD, 0},
	     EPERM},
	    {"prlimit64 get RLIMIT_CORE", SYS_prlimit64, {0, core, 0, (long)old}, MARK},
	    {"prlimit64 set RLIMIT_NOFILE", SYS_prlimit64, {0, nofile, BAD, 0}, MARK},
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_exit(probes[i].name, probe_status(both, &probes[i]), probes[i].want);
}

/* Take a flock under the policy, report over a pipe, and hold the file open. */
static int flock_and_hold(const void *arg)
{
	const int *fds = arg; /* the file, the pipe's write end */
	char ch = flock(fds[0], LOCK_EX) == 0 ? 'y' : 'n';

	if (write(fds[1], &ch, 1) != 1)
		return 1;
	alarm(60); /* the parent kills us long before */
	pause();
	return 0;
}

/* The policy's flock claims success and locks nothing another process sees. */
static void test_flock_locks_nothing(const struct filters *policy, const char *dir)
{
	char path[256], ch = 0;
	int file, pipefd[2], other, st = -1;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/lockfile", dir);
	file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHECK(file >= 0 && pipe(pipefd) == 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fds[2] = {file, pipefd[1]};

		child_setup(policy);
		_exit(flock_and_hold(fds));
	}
	close(pipefd[1]);
	CHECK(read(pipefd[0], &ch, 1) == 1);
	CHECK(ch == 'y');
	/* The child still holds the file open with its "lock". */
	other = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(other >= 0 && flock(other, LOCK_EX | LOCK_NB) == 0);
	close(other);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(pipefd[0]);
	close(file);
	unlink(path);
}

/* ------------------------------------------------------------ (b) clone */

static int clone_flags(const void *arg)
{
	unsigned long flags = *(const unsigned long *)arg;
	long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	int st;

	if (r == 0)
		_exit(0);
	if (r < 0)
		return errno;
	waitpid((pid_t)r, &st, 0);
	return 0;
}

static int fork_and_reap(const void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(42);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 1;
	return exited_with(st, 42) ? 0 : 2;
}

static void *thread_body(void *arg)
{
	return arg;
}

static int start_thread(const void *arg)
{
	pthread_t t;
	void *ret = NULL;
	int marker = 7;

	if (pthread_create(&t, NULL, thread_body, &marker) != 0)
		return 1;
	if (pthread_join(t, &ret) != 0)
		return 2;
	return ret == &marker ? 0 : 3;
}

static void test_clone(const struct filters *both, const struct filters *policy)
{
	static const char *const names[NS_FLAG_COUNT] = {
	    "CLONE_NEWUSER", "CLONE_NEWNS",  "CLONE_NEWPID",	"CLONE_NEWNET",
	    "CLONE_NEWIPC",  "CLONE_NEWUTS", "CLONE_NEWCGROUP", "CLONE_NEWTIME",
	};
	unsigned long plain = 0;

	for (int i = 0; i < NS_FLAG_COUNT; i++)
		expect_exit(names[i], run_child(both, clone_flags, &ns_flags[i]), EPERM);
	expect_exit("clone without flags", run_child(both, clone_flags, &plain), 0);
	expect_exit("fork", run_child(policy, fork_and_reap, NULL), 0);
	expect_exit("pthread_create", run_child(policy, start_thread, NULL), 0);
}

/* ------------------------------------------------------------ (c) other ABIs */

#ifdef __x86_64__
static int x32_getpid(const void *arg)
{
	syscall(0x40000000L | SYS_getpid);
	return 0;
}

/* getpid through the i386 entry point; 20 is its number there. */
static int i386_getpid(const void *arg)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return ret == getpid() ? 0 : 1;
}

static bool killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static void test_foreign_abi(const struct filters *policy)
{
	struct filters none = {0};
	int plain_i386 = run_child(&none, i386_getpid, NULL);

	/* Without the filter the x32 call returns (ENOSYS or a pid). */
	CHECK(exited_with(run_child(&none, x32_getpid, NULL), 0));
	CHECK(killed_by(run_child(policy, x32_getpid, NULL), SIGSYS));
	/* Where the kernel runs i386 calls at all, the filter must kill them. */
	if (exited_with(plain_i386, 0))
		CHECK(killed_by(run_child(policy, i386_getpid, NULL), SIGSYS));
	else
		CHECK(!exited_with(run_child(policy, i386_getpid, NULL), 0));
}
#endif

/* ------------------------------------------------------------ (d) ioctl */

struct pty {
	int master;
	int slave;
};

static int open_pty(struct pty *p)
{
	const char *name;

	p->slave = -1;
	p->master = posix_openpt(O_RDWR | O_NOCTTY);
	if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0)
		return -1;
	if (!(name = ptsname(p->master)))
		return -1;
	p->slave = open(name, O_RDWR | O_NOCTTY);
	return p->slave < 0 ? -1 : 0;
}

static void test_ioctl(const struct filters *f, const struct pty *pty, int pipe_rd)
{
	/* The child works on its own copy of these. */
	char ch = 'x', linux_sub = 11;
	struct termios tio;
	int avail;
	const long sti = TIOCSTI, lin = TIOCLINUX;
	const struct probe probes[] = {
	    {"TIOCSTI on a pty", SYS_ioctl, {pty->slave, sti, (long)&ch}, EPERM},
	    {"TIOCSTI | 1 << 32",
	     SYS_ioctl,
	     {pty->slave, (long)(HIGH_BITS | sti), (long)&ch},
	     EPERM},
	    {"TIOCSTI | ~0 << 32",
	     SYS_ioctl,
	     {pty->slave, (long)(~0UL << 32 | sti), (long)&ch},
	     EPERM},
	    {"TIOCSTI on fd 0", SYS_ioctl, {0, sti, (long)&ch}, EPERM},
	    {"TIOCSTI | 1 << 32 on fd 0",
	     SYS_ioctl,
	     {0, (long)(HIGH_BITS | sti), (long)&ch},
	     EPERM},
	    {"TIOCLINUX", SYS_ioctl, {pty->slave, lin, (long)&linux_sub}, EPERM},
	    {"TIOCLINUX | 1 << 32",
	     SYS_ioctl,
	     {pty->slave, (long)(HIGH_BITS | lin), (long)&linux_sub},
	     EPERM},
	    {"TCGETS", SYS_ioctl, {pty->slave, TCGETS, (long)&tio}, 0},
	    {"FIONREAD on a pty", SYS_ioctl, {pty->master, FIONREAD, (long)&avail}, 0},
	    {"FIONREAD on a pipe", SYS_ioctl, {pipe_rd, FIONREAD, (long)&avail}, 0},
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_exit(probes[i].name, probe_status(f, &probes[i]), probes[i].want);
}

static void test_ioctls(const struct filters *both, const struct filters *policy)
{
	struct pty pty;
	int fds[2];

	CHECK(open_pty(&pty) == 0);
	CHECK(pipe(fds) == 0);
	test_ioctl(both, &pty, fds[0]);
	test_ioctl(policy, &pty, fds[0]);
	close(fds[0]);
	close(fds[1]);
	close(pty.slave);
	close(pty.master);
}

/* ------------------------------------------------------------ sockets */

/* Let through: anything but a filter's refusal. */
static int socket_reachable(const void *arg)
{
	const long *a = arg;
	int fd = socket((int)a[0], (int)a[1], (int)a[2]);

	if (fd >= 0)
		return 0;
	return (errno == EPERM || errno == ENOSYS || errno == MARK) ? errno : 0;
}

static void test_sockets(const struct filters *both)
{
	static const long ok[][3] = {
	    {AF_UNIX, SOCK_STREAM, 0},
	    {AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0},
	    {AF_UNIX, SOCK_SEQPACKET, 0},
	    {AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0},
	    {AF_INET, SOCK_STREAM, IPPROTO_TCP},
	    {AF_INET, SOCK_DGRAM, IPPROTO_UDP},
	    {AF_INET6, SOCK_STREAM, 0},
	    {AF_INET6, SOCK_DGRAM, 0},
	    {AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE},
	};
	static const struct probe refused[] = {
	    {"AF_PACKET", SYS_socket, {AF_PACKET, SOCK_RAW, 0}, EPERM},
	    {"AF_INET SOCK_RAW", SYS_socket, {AF_INET, SOCK_RAW, IPPROTO_ICMP}, EPERM},
	    {"AF_INET6 SOCK_RAW", SYS_socket, {AF_INET6, SOCK_RAW | SOCK_CLOEXEC, 0}, EPERM},
	    {"AF_VSOCK", SYS_socket, {40, SOCK_STREAM, 0}, ENOSYS},
	    {"AF_NETLINK audit", SYS_socket, {AF_NETLINK, SOCK_RAW, 9}, ENOSYS},
	    {"AF_INET sctp", SYS_socket, {AF_INET, SOCK_STREAM, 132}, ENOSYS},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		expect_exit("allowed socket", run_child(both, socket_reachable, ok[i]), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		expect_exit(refused[i].name, probe_status(both, &refused[i]), refused[i].want);
}

/* ------------------------------------------------------------ (e) real programs */

struct program {
	const char *const *argv;
	const char *const *envp;
};

static int exec_program(const void *arg)
{
	const struct program *p = arg;

	alarm(300); /* a wedged runtime fails the test instead of hanging it */
	execve(p->argv[0], (char *const *)p->argv, (char *const *)p->envp);
	return 127;
}

/* Run a program with stdout captured into out (NUL-terminated); returns the wait status. */
static int run_program(const struct filters *f, const struct program *p, char *out, size_t cap)
{
	int fds[2], st = -1;
	size_t len = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		child_setup(f);
		_exit(exec_program(p));
	}
	close(fds[1]);
	for (;;) {
		char spill[512];
		bool room = len + 1 < cap;
		ssize_t n = room ? read(fds[0], out + len, cap - len - 1)
				 : read(fds[0], spill, sizeof(spill));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n > 0 && room)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static const char python_code[] =
    "import asyncio, ctypes, json, multiprocessing, os, ssl, subprocess, threading\n"
    "import numpy\n"
    "a = numpy.ones((300, 300))\n"
    "total = int(numpy.dot(a, a).sum())\n"
    "seen = []\n"
    "t = threading.Thread(target=seen.append, args=(1,))\n"
    "t.start(); t.join()\n"
    "ls = subprocess.run(['ls', '/'], capture_output=True, text=True, check=True).stdout\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os._exit(7)\n"
    "_, st = os.waitpid(pid, 0)\n"
    "async def main():\n"
    "    await asyncio.sleep(0.001)\n"
    "    return json.dumps({'n': 1})\n"
    "doc = asyncio.run(main())\n"
    "ssl.create_default_context()\n"
    "with multiprocessing.Pool(2) as pool:\n"
    "    sq = pool.map(abs, [-2, -3])\n"
    "same = ctypes.CDLL(None).getpid() == os.getpid()\n"
    "ok = ('usr' in ls.split() and os.waitstatus_to_exitcode(st) == 7 and seen == [1]\n"
    "      and doc == '{\"n\": 1}' and sq == [2, 3] and same)\n"
    "print('py-ok' if ok else 'py-bad', total)\n"
    "raise SystemExit(0 if ok else 1)\n";

static const char node_code[] =
    "const cp = require('child_process'), fs = require('fs'), path = require('path');\n"
    "const { Worker } = require('worker_threads');\n"
    "const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1,\n"
    "  127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1,\n"
    "  106, 11]);\n"
    "(async () => {\n"
    "  const ls = cp.execSync('ls /').toString().split('\\n');\n"
    "  const file = path.join(process.env.BRIG_T, 'js.txt');\n"
    "  await fs.promises.writeFile(file, 'brig');\n"
    "  const back = fs.readFileSync(file, 'utf8');\n"
    "  const answer = await new Promise((resolve, reject) => {\n"
    "    const w = new Worker('require(\"worker_threads\").parentPort.postMessage(6 * 7)',\n"
    "      { eval: true });\n"
    "    w.once('message', resolve); w.once('error', reject);\n"
    "  });\n"
    "  await new Promise((resolve) => setTimeout(resolve, 1));\n"
    "  const { instance } = await WebAssembly.instantiate(wasm);\n"
    "  const ok = ls.includes('usr') && back === 'brig' && answer === 42 &&\n"
    "    instance.exports.add(2, 3) === 5;\n"
    "  console.log(ok ? 'js-ok' : 'js-bad');\n"
    "  process.exit(ok ? 0 : 1);\n"
    "})().catch((e) => { console.error(e); process.exit(2); });\n";

static const char sh_code[] =
    "cd \"$BRIG_T\" && ls / | sort | head -3 > x && cat x; sleep 0.01 & wait";

/*
 * Every coreutil named in the design, each checked for its result; one
 * command a line, because set -e ignores failures inside an && list.
 */
static const char bash_code[] = "set -eu\n"
				"cd \"$BRIG_T\"\n"
				"mkdir -p d/e\n"
				"touch d/e/f\n"
				"echo 'b a c' | tr ' ' '\\n' | sort > s\n"
				"cp s d/s2\n"
				"mv d/s2 d/s3\n"
				"rm d/s3\n"
				"[ ! -e d/s3 ]\n"
				"[ \"$(wc -l < s)\" -eq 3 ]\n"
				"[ \"$(head -1 s)\" = a ]\n"
				"[ \"$(tail -1 s)\" = c ]\n"
				"grep -q b s\n"
				"[ \"$(sed s/a/z/ s | head -1)\" = z ]\n"
				"[ \"$(awk '{ n++ } END { print n }' s)\" = 3 ]\n"
				"[ \"$(find d -name f | wc -l)\" -eq 1 ]\n"
				"[ \"$(seq 4 | xargs echo)\" = '1 2 3 4' ]\n"
				"echo x | tee t > /dev/null\n"
				"[ \"$(cat t)\" = x ]\n"
				"[ \"$(echo a:b | cut -d: -f2)\" = b ]\n"
				"yes | head -2 > y\n"
				"[ \"$(stat -c %s y)\" = 4 ]\n"
				"du -s d > /dev/null\n"
				"df . > /dev/null\n"
				"date +%s > /dev/null\n"
				"[ \"$(id -u)\" -ge 0 ]\n"
				"env | grep -q '^BRIG_T='\n"
				"for i in 1 2; do sleep 0.01 & done\n"
				"wait\n"
				"[ \"$(cat < <(echo sub))\" = sub ]\n"
				"[ \"$( (echo nested) )\" = nested ]\n"
				"echo bash-ok\n";

static void test_programs(const struct filters *policy, const char *dir)
{
	char t_env[128], out[4096], ref[4096];
	const char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
			      "LC_ALL=C",
			      "HOME=/tmp",
			      "OPENBLAS_NUM_THREADS=4",
			      t_env,
			      NULL};
	const char *py[] = {"/usr/bin/python3", "-c", python_code, NULL};
	const char *js[] = {"/usr/bin/node", "-e", node_code, NULL};
	const char *sh[] = {"/bin/sh", "-c", sh_code, NULL};
	const char *bash[] = {"/bin/bash", "-c", bash_code, NULL};
	struct filters none = {0};
	int st;

	snprintf(t_env, sizeof(t_env), "BRIG_T=%s", dir);
	st = run_program(policy, &(struct program){py, envp}, out, sizeof(out));
	CHECK(exited_with(st, 0));
	CHECK_STR(out, "py-ok 27000000\n");
	st = run_program(policy, &(struct program){js, envp}, out, sizeof(out));
	CHECK(exited_with(st, 0));
	CHECK_STR(out, "js-ok\n");
	st = run_program(policy, &(struct program){bash, envp}, out, sizeof(out));
	CHECK(exited_with(st, 0));
	CHECK_STR(out, "bash-ok\n");
	/* The same pipeline unfiltered gives the reference output. */
	CHECK(exited_with(run_program(&none, &(struct program){sh, envp}, ref, sizeof(ref)), 0));
	st = run_program(policy, &(struct program){sh, envp}, out, sizeof(out));
	CHECK(exited_with(st, 0));
	CHECK(strchr(ref, '\n') != NULL);
	CHECK_STR(out, ref);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct jail_bpf bpf = {0};
	char err[256] = "", dir[] = "/tmp/brig-seccomp-XXXXXX";
	struct filters policy = {NULL, &bpf}, both = {NULL, &bpf}, marker_only = {NULL, NULL};

	CHECK(jail_seccomp_build(&bpf, err, sizeof(err)) == 0);
	if (!bpf.insns) {
		fprintf(stderr, "build: %s\n", err);
		return CHECK_DONE();
	}
	both.marker = marker_only.marker = build_marker();
	CHECK(both.marker != NULL);
	if (!both.marker)
		return CHECK_DONE();
	test_build(&bpf);
	test_install_errors();
	test_denied(&both, &marker_only);
	test_allowed_and_unknown(&both);
	test_clone(&both, &policy);
#ifdef __x86_64__
	test_foreign_abi(&policy);
#endif
	test_ioctls(&both, &policy);
	test_sockets(&both);
	test_by_argument(&both);
	CHECK(mkdtemp(dir) != NULL);
	test_flock_locks_nothing(&policy, dir);
	test_programs(&policy, dir);
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	seccomp_release(both.marker);
	jail_seccomp_free(&bpf);
	return CHECK_DONE();
}
