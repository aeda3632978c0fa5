/* `brig doctor`: what this host offers the sandbox, and whether it works. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brig.h"
#include "cli/cli.h"
#include "jail/cgroup.h"
#include "jail/probe.h"

static void line(const char *what, bool ok, const char *detail)
{
	printf("%-16s %-5s %s\n", what, ok ? "ok" : "FAIL", detail);
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
	bool works;

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
	if (cg.mode == CGROUP_NONE)
		printf("%-16s       memory/pids limits use rlimits; for cgroup limits run as "
		       "root (v1) or delegate a cgroup v2 subtree (systemd-run --user -p "
		       "Delegate=yes)\n",
		       "");
	snprintf(buf, sizeof(buf),
		 r.landlock_abi ? "ABI %d (not required)" : "unavailable (not required)",
		 r.landlock_abi);
	line("landlock", true, buf);
	snprintf(buf, sizeof(buf), "not tried: fix the failures above first");
	works = r.userns && r.seccomp && smoke_test(buf, sizeof(buf));
	line("sandbox", works, buf);
	printf("verdict: %s\n",
	       works ? "sandboxing will work" : "sandboxing will NOT work; see the fixes above");
	return works ? 0 : 1;
}
