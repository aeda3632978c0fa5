/* `brig doctor`: what this host offers the sandbox, and whether it works. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brig.h"
#include "cli/cli.h"
#include "jail/cgroup.h"
#include "jail/probe.h"
#include "jail/sysfile.h"
#include "jail/usage.h"

static void line(const char *what, bool ok, const char *detail)
{
	printf("%-16s %-5s %s\n", what, ok ? "ok" : "FAIL", detail);
}

static void how(const char *what, const char *mechanism)
{
	printf("  %-14s %s\n", what, mechanism);
}

/* Whether sock_diag lists this host's sockets with their buffers. */
static bool sock_diag_works(char *detail, size_t len)
{
	int rc = usage_probe_sockets();

	if (rc < 0)
		snprintf(detail, len,
			 "%s: socket buffers cannot be measured, so runs without a memory cgroup "
			 "are refused (load unix_diag and netlink_diag)",
			 strerror(-rc));
	else
		snprintf(detail, len, "socket buffers can be measured");
	return rc == 0;
}

/*
 * What enforces each limit on this host, and how well.  Without a cgroup
 * the figures are bounds, not kernel guarantees; this says which.
 */
static void explain_limits(const struct cgroup_env *cg)
{
	char buf[400];

	printf("limits (defaults: --memory 256m --pids %u --max-open-files %u --tmp-inodes %u):\n",
	       BRIG_DEFAULT_MAX_PIDS, BRIG_DEFAULT_MAX_OPEN_FILES, BRIG_DEFAULT_TMP_INODES);
	if (cg->memory) {
		how("memory",
		    "kernel-enforced by the memory cgroup: every process, their kernel "
		    "objects, tmpfs pages and socket buffers; the OOM killer ends the run");
	} else {
		how("memory", "measured by brig every 20 ms: the anonymous, shared and swapped "
			      "memory and page tables of every process (forked pages counted once) "
			      "plus every socket buffer; the run is killed when the sum exceeds "
			      "--memory");
		how("", "between two samples each process is held to RLIMIT_AS = --memory "
			"(node: RLIMIT_DATA, at least 64 MiB), so an overshoot lasts at most 20 ms "
			"and never exceeds --pids times that");
		how("", "memfd_create and System V shared memory, semaphores and message queues "
			"are refused (EPERM): memory no process owns");
	}
	how("processes", cg->pids ? "kernel-enforced by the pids cgroup"
				  : "RLIMIT_NPROC, counted per sandbox (its own user namespace)");
	how("cpu time",
	    cg->cpu ? "the cgroup's CPU counter, checked every 20 ms; RLIMIT_CPU per process"
		    : "measured by brig every 20 ms over every process and thread of the sandbox "
		      "(its own /proc: zombies, orphans, children of any thread); RLIMIT_CPU per "
		      "process");
	if (!cg->cpu)
		how("", "a child released without a wait (its parent ignores SIGCHLD) and gone "
			"within one sample escapes the count: --timeout bounds it");
	how("disk", "one tmpfs's size= and nr_inodes= behind /tmp, /home/user and /dev/shm (in all "
		    "--tmp-size, --tmp-inodes); RLIMIT_FSIZE");
	if (!cg->memory) {
		snprintf(buf, sizeof(buf),
			 "RLIMIT_NOFILE per process; pipe buffers: 8 KiB per pipe beyond this "
			 "user's fs.pipe-user-pages-soft (%ld pages, shared by all its processes)",
			 sysfile_long("/proc/sys/fs/pipe-user-pages-soft"));
		how("pipes", buf);
		snprintf(buf, sizeof(buf),
			 "RLIMIT_NOFILE, RLIMIT_SIGPENDING (%d: signals and timers), "
			 "RLIMIT_MSGQUEUE (%d bytes), per sandbox; epoll watches: "
			 "fs.epoll.max_user_watches (%ld) per sandbox",
			 1024, 800 * 1024, sysfile_long("/proc/sys/fs/epoll/max_user_watches"));
		how("kernel objects", buf);
	}
}

/* The proof: build a real sandbox and run `true` in it. */
static bool smoke_test(char *detail, size_t len)
{
	brig_config cfg;
	brig_executor *ex = NULL;
	brig_result *res = NULL;
	char *why = NULL;
	bool ok = false;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	/* One run per process: a zygote would cost more than it saves. */
	cfg.warm_start = -1;
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	if (brig_executor_new(&cfg, &ex, &why)) {
		snprintf(detail, len, "%s", why ? why : "executor unavailable");
	} else if (brig_run(ex, BRIG_LANG_SH, "exit 0", 6, NULL, &res) != BRIG_OK ||
		   brig_result_exit_code(res) != 0) {
		snprintf(detail, len, "%s", brig_result_message(res));
	} else {
		snprintf(detail, len, "ran a sandboxed shell");
		ok = true;
	}
	brig_result_free(res);
	brig_executor_free(ex);
	free(why);
	return ok;
}

int cli_doctor(void)
{
	struct probe_report r;
	struct cgroup_env cg;
	char buf[600];
	bool works, diag = true;

	jail_probe(&r);
	cgroup_probe(&cg);
	printf("brig %s doctor (running as %s)\n", BRIG_VERSION,
	       r.root ? "root; guests map to uid 65534"
		      : "an unprivileged user; guests map to your uid");
	line("user namespaces", r.userns, r.userns ? "available" : r.userns_why);
	line("seccomp", r.seccomp,
	     r.seccomp ? "filters available" : "CONFIG_SECCOMP_FILTER missing");
	cgroup_describe(&cg, buf, sizeof(buf));
	line("cgroup", true, buf);
	if (cg.mode == CGROUP_NONE) {
		printf("%-22s %s\n", "", cg.why[0] ? cg.why : "no cgroup hierarchy found");
		printf("%-22s for kernel-enforced limits run brig in a delegated scope:\n"
		       "%-22s   systemd-run --user --scope -p Delegate=yes brig ...\n"
		       "%-22s or as root (cgroup v1 or v2)\n",
		       "", "", "");
		diag = sock_diag_works(buf, sizeof(buf));
		line("sock_diag", diag, buf);
	}
	snprintf(buf, sizeof(buf),
		 r.landlock_abi ? "ABI %d (not required)" : "unavailable (not required)",
		 r.landlock_abi);
	line("landlock", true, buf);
	explain_limits(&cg);
	snprintf(buf, sizeof(buf), "not tried: fix the failures above first");
	works = r.userns && r.seccomp && diag && smoke_test(buf, sizeof(buf));
	line("sandbox", works, buf);
	printf("verdict: %s\n",
	       works ? "sandboxing will work" : "sandboxing will NOT work; see the fixes above");
	return works ? 0 : 1;
}
