#include "jail/probe.h"
#include "jail/sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION 1
#endif

void jail_explain_userns(bool root, int err, char *why, size_t len)
{
	if (sysfile_long("/proc/sys/user/max_user_namespaces") == 0) {
		snprintf(why, len,
			 "user namespaces are disabled (user.max_user_namespaces = 0); fix: "
			 "sysctl -w user.max_user_namespaces=15000");
	} else if (sysfile_long("/proc/sys/kernel/unprivileged_userns_clone") == 0 && !root) {
		snprintf(why, len,
			 "unprivileged user namespaces are disabled "
			 "(kernel.unprivileged_userns_clone = 0); fix: "
			 "sysctl -w kernel.unprivileged_userns_clone=1, or run as root");
	} else if (sysfile_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 &&
		   !root) {
		snprintf(why, len,
			 "AppArmor restricts unprivileged user namespaces; fix: sysctl -w "
			 "kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor "
			 "profile that allows 'userns' for brig");
	} else {
		snprintf(why, len,
			 "cannot create user namespaces (%s); inside a container, run it "
			 "with user namespaces allowed (e.g. a seccomp profile permitting "
			 "clone/unshare)",
			 strerror(err));
	}
}

static void probe_userns(struct probe_report *r)
{
	int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | SIGCHLD;
	int status;
	pid_t pid = (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		jail_explain_userns(r->root, errno, r->userns_why, sizeof(r->userns_why));
		return;
	}
	r->userns = waitpid(pid, &status, 0) == pid && WIFEXITED(status);
	if (!r->userns)
		snprintf(r->userns_why, sizeof(r->userns_why), "probe child failed");
}

bool jail_userns_disabled(bool root, char *why, size_t len)
{
	bool off = sysfile_long("/proc/sys/user/max_user_namespaces") == 0 ||
		   (!root && sysfile_long("/proc/sys/kernel/unprivileged_userns_clone") == 0);

	if (off)
		jail_explain_userns(root, EPERM, why, len);
	return off;
}

bool jail_privileged(void)
{
	char map[128];
	unsigned long inside, outside, count;

	/* Root inside a user namespace (a rootless container) cannot map other
	 * host uids: only the full identity map marks the initial namespace. */
	if (geteuid() != 0 || sysfile_read("/proc/self/uid_map", NULL, map, sizeof(map)) < 0)
		return false;
	return sscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
	       outside == 0 && count == 4294967295UL;
}

void jail_probe(struct probe_report *r)
{
	long abi;

	memset(r, 0, sizeof(*r));
	r->root = jail_privileged();
	probe_userns(r);
	/* PR_GET_SECCOMP fails with EINVAL when the kernel lacks seccomp. */
	r->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
		     access("/proc/sys/kernel/seccomp/actions_avail", R_OK) == 0;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	r->landlock_abi = abi > 0 ? (int)abi : 0;
}
