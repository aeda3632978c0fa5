/*
 * Identity and privileges of jailed processes.  Runs in the cloned child:
 * raw syscalls only.
 */
#include "jail/jail.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int jail_set_identity(const struct jail_plan *plan, const char **what)
{
	/* Raw syscalls: glibc's wrappers would try to signal the threads of the
	 * process we were cloned from, which do not exist here, and hang. */
	JAIL_TRY(syscall(SYS_setresgid, JAIL_GID, JAIL_GID, JAIL_GID), "setresgid");
	/* As root we inherited root's supplementary groups; they would still
	 * grant host file access through the binds.  Unprivileged callers
	 * cannot drop theirs (setgroups is denied to them). */
	if (plan->privileged)
		JAIL_TRY(syscall(SYS_setgroups, 0, NULL), "setgroups");
	JAIL_TRY(syscall(SYS_setresuid, JAIL_UID, JAIL_UID, JAIL_UID), "setresuid");
	return 0;
}

static int set_limit(int resource, uint64_t soft, uint64_t hard)
{
	struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};

	return setrlimit(resource, &rl);
}

static int apply_rlimits(const struct jail_rlimits *rl, const char **what)
{
	/*
	 * Exactly 1, not 0: for a limit of 1 the kernel refuses to start a pipe
	 * core_pattern helper (systemd-coredump, apport) and writes no core
	 * file, which needs one page; 0 stops the file only.  The seccomp
	 * policy keeps the guest from changing it.
	 */
	JAIL_TRY(set_limit(RLIMIT_CORE, 1, 1), "RLIMIT_CORE");
	if (rl->nofile)
		JAIL_TRY(set_limit(RLIMIT_NOFILE, rl->nofile, rl->nofile), "RLIMIT_NOFILE");
	if (rl->fsize_bytes)
		JAIL_TRY(set_limit(RLIMIT_FSIZE, rl->fsize_bytes, rl->fsize_bytes), "RLIMIT_FSIZE");
	/* The soft limit sends SIGXCPU; the hard one a second later SIGKILL. */
	if (rl->cpu_seconds)
		JAIL_TRY(set_limit(RLIMIT_CPU, rl->cpu_seconds, rl->cpu_seconds + 1), "RLIMIT_CPU");
	if (rl->as_bytes)
		JAIL_TRY(set_limit(RLIMIT_AS, rl->as_bytes, rl->as_bytes), "RLIMIT_AS");
	if (rl->data_bytes)
		JAIL_TRY(set_limit(RLIMIT_DATA, rl->data_bytes, rl->data_bytes), "RLIMIT_DATA");
	if (rl->nproc)
		JAIL_TRY(set_limit(RLIMIT_NPROC, rl->nproc, rl->nproc), "RLIMIT_NPROC");
	/* Counted per user namespace, so per jail: kernel objects that the
	 * memory cgroup would otherwise be alone to bound. */
	if (rl->sigpending)
		JAIL_TRY(set_limit(RLIMIT_SIGPENDING, rl->sigpending, rl->sigpending),
			 "RLIMIT_SIGPENDING");
	if (rl->msgqueue)
		JAIL_TRY(set_limit(RLIMIT_MSGQUEUE, rl->msgqueue, rl->msgqueue), "RLIMIT_MSGQUEUE");
	return 0;
}

static int drop_caps(const char **what)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};

	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			*what = "drop bounding capabilities";
			return -errno;
		}
	}
	JAIL_TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps");
	JAIL_TRY(syscall(SYS_capset, &hdr, data), "capset");
	return 0;
}

int jail_drop_privileges(const struct jail_plan *plan, const char **what)
{
	int rc;

	if ((rc = apply_rlimits(&plan->rl, what)) < 0)
		return rc;
	if ((rc = drop_caps(what)) < 0)
		return rc;
	JAIL_TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
	return 0;
}
