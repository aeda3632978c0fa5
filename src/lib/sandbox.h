/* A sandbox's parts and start-up, shared by one-shot runs and sessions. */
#ifndef BRIG_SANDBOX_H
#define BRIG_SANDBOX_H

#include "lib/dispatch.h"
#include "lib/internal.h"
#include "lib/monitor.h"
#include "lib/packages.h"

/* brig_caps_add_packages: the directories a sandbox may bind, and where. */
#define SANDBOX_MAX_SITES 8
#define SANDBOX_SITE_DIR "/opt/site"

/* Everything a sandbox owns; released by sandbox_cleanup. */
struct sandbox {
	brig_executor *ex;
	brig_lang lang;
	brig_limits lim;
	brig_limits call_lim; /* sessions: the limits of the call in progress */
	brig_caps *caps;
	struct dispatch disp;
	bool disp_ready;
	struct jail_plan plan;
	struct jail_proc proc;
	struct cgroup cg;
	int host_fds[4];	/* proto, stdout, stderr, stdin (host ends) */
	char node_flags[2][48]; /* node's heap and stack flags, which argv points to */
	/* rwc mounts in plan order: their host directories (O_PATH) and guest
	 * paths; the overlays' fds arrive in proc.rwc_fds. */
	int rwc_host_fds[JAIL_MAX_RWC];
	const char *rwc_vpaths[JAIL_MAX_RWC];
	int nrwc;
	char *rwc_refused;			 /* the last refusal reported, not repeated */
	bool warm;				 /* the jail came from a zygote */
	struct proxy *proxy;			 /* the egress proxy, when hosts are allowed */
	char no_proxy[2][64];			 /* NO_PROXY=, no_proxy= (the plan points here) */
	struct pkg_run pkg;			 /* install_pkg */
	char *pythonpath;			 /* BRIG_PYTHONPATH= (the plan points here) */
	char site_vpaths[SANDBOX_MAX_SITES][32]; /* where brig_caps_add_packages' dirs are */
	/* The outputs directory's tmpfs options; its fd follows the rwc ones. */
	char outputs_opts[128];
	const char *outputs; /* its guest path, or NULL */
	uint32_t max_artifacts;
};

/* Check code and limits for lang; fills res on failure. */
int sandbox_validate(brig_executor *ex, brig_lang lang, const char *code, size_t len,
		     const char *filename, const brig_limits *lim, brig_result *res);
/* Freeze the capabilities, build the policies and the plan, open the channels. */
int sandbox_prepare(struct sandbox *r, const char *code, size_t len, const brig_run_opts *o,
		    brig_result *res);
/* Clone the jail, join its cgroup, wait until the guest exists. */
int sandbox_start(struct sandbox *r, brig_result *res);
/*
 * Commit what the guest changed in its rwc mounts to the host directories
 * (src/host/mount_commit.c).  Call when no guest code runs, or, in a
 * session, after a call.  A one-shot run's host calls are stopped first.
 * A failure is recorded in res (unless NULL) and returned; a refusal
 * identical to the last one reported is not reported again.
 */
int sandbox_commit(struct sandbox *r, brig_result *res);
/*
 * The egress proxy's counts into res (unless NULL); with stop, close its
 * connections and end it first.  A no-op without a proxy.
 */
void sandbox_proxy_report(struct sandbox *r, brig_result *res, bool stop);
/* Read the outputs directory into res (a one-shot run, once the jail is reaped). */
int sandbox_collect(struct sandbox *r, brig_result *res);
/* Kill whatever is left and release everything (a session commits first). */
void sandbox_cleanup(struct sandbox *r);
/* V8 aborts (SIGABRT or SIGTRAP) when its heap, sized to the memory limit, is full. */
bool sandbox_v8_oom(const struct sandbox *r, const brig_result *res, int sig);
/* brig_executor_prewarm: lang's zygote for the executor's defaults. */
int sandbox_prewarm(brig_executor *ex, brig_lang lang, int timeout_ms);
/* Whether the guest directory has this file (e.g. "js/agent.js"). */
bool sandbox_guest_has(const brig_executor *ex, const char *rel);
/* Whether the native files bound into every jail include this one. */
bool sandbox_native_has(const brig_executor *ex, const char *rel);

#endif
