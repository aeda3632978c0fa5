/*
 * A sandbox in the making and in use: the capabilities frozen for it, the
 * jail's plan, its channels and cgroup, and the start-up sequence.  One-shot
 * runs (run.c) and sessions (session.c) are both built on it.
 */
#include "lib/sandbox.h"
#include "host/fs.h"
#include "host/mount_commit.h"
#include "host/netaddr.h"
#include "host/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* node hangs or aborts at start-up under a smaller RLIMIT_DATA; without a
 * memory cgroup the monitor still holds the jail to its memory limit. */
#define JS_MIN_DATA (64ull << 20)

/* Linux refuses a single argv string longer than this (MAX_ARG_STRLEN). */
#define MAX_ARG_BYTES (128 * 1024 - 1)

static const char passwd_text[] = "user:x:1000:1000:user:/home/user:/bin/sh\n"
				  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] = "user:x:1000:\nnogroup:x:65534:\n";
static const char hosts_text[] = "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tbrig\n";
static const char nsswitch_text[] = "passwd: files\ngroup: files\nhosts: files\n";

static void add_bind(struct jail_plan *p, const char *dst, const char *src,
		     enum jail_bind_kind kind, bool is_dir)
{
	p->binds[p->nbinds++] = (struct jail_bind){dst, src, kind, is_dir};
}

/* flags holds node's heap and stack flags, which argv points to. */
static void interp_argv(brig_executor *ex, brig_lang lang, const brig_limits *lim, const char *code,
			char flags[2][48], const char **a)
{
	uint64_t memory_bytes = lim->memory_bytes;

	switch (lang) {
	case BRIG_LANG_PYTHON:
		/* -I: no environment or user site; -S: site is replaced by the agent. */
		*a++ = ex->python, *a++ = "-I", *a++ = "-S", *a++ = "-B";
		*a++ = JAIL_GUEST_DIR "/python/agent.py";
		break;
	case BRIG_LANG_JS:
		snprintf(flags[0], sizeof(flags[0]), "--max-old-space-size=%" PRIu64,
			 memory_bytes / (1 << 20) > 16 ? memory_bytes / (1 << 20) - 8 : 8);
		/* Single-threaded V8 posts no work to platform threads, which a
		 * fork of node (zygotes, session snapshots) would not have. */
		*a++ = ex->node, *a++ = "--single-threaded", *a++ = flags[0];
		/* Only when asked: a zygote serves runs of its own command line. */
		if (lim->stack_bytes) {
			snprintf(flags[1], sizeof(flags[1]), "--stack-size=%" PRIu64,
				 lim->stack_bytes >> 10);
			*a++ = flags[1];
		}
		*a++ = JAIL_GUEST_DIR "/js/agent.js";
		break;
	case BRIG_LANG_SH:
		*a++ = ex->shell, *a++ = "-c", *a++ = code;
		break;
	}
	*a = NULL;
}

static void interp_env(const brig_executor *ex, const char **e)
{
	const char **end = e + JAIL_MAX_ENV - 1;

	*e++ = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	*e++ = "HOME=/home/user";
	*e++ = "USER=user";
	*e++ = "LOGNAME=user";
	*e++ = "SHELL=/bin/sh";
	*e++ = "LANG=C.UTF-8";
	*e++ = "TMPDIR=/tmp";
	*e++ = "PYTHONIOENCODING=utf-8";
	for (size_t i = 0; i < ex->passenv.n && e < end; i++)
		*e++ = ex->passenv.v[i];
	*e = NULL;
}

int sandbox_prewarm(brig_executor *ex, brig_lang lang, int timeout_ms)
{
	const char *argv[JAIL_MAX_ARGS], *envp[JAIL_MAX_ENV];
	char flags[2][48];
	size_t n = 0;

	interp_argv(ex, lang, &ex->limits, "", flags, argv);
	interp_env(ex, envp);
	while (argv[n])
		n++;
	argv[n - 1] = NULL; /* the zygote runs its own script instead of the agent */
	return warm_prewarm(&ex->warm, lang, argv, envp, timeout_ms);
}

static void plan_files(struct jail_plan *p)
{
	static const struct jail_file files[] = {
	    {"/etc/passwd", passwd_text}, {"/etc/group", group_text},
	    {"/etc/hosts", hosts_text},	  {"/etc/hostname", "brig\n"},
	    {"/etc/resolv.conf", ""},	  {"/etc/nsswitch.conf", nsswitch_text},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		p->files[p->nfiles++] = files[i];
}

/*
 * Inodes the rwc upper layer may hold: one per KiB of its size, and a few
 * for the overlay's own directories (its upper and work directories, and
 * the work directory's children).
 */
static uint64_t rwc_inodes(const struct sandbox *r)
{
	uint64_t bytes = r->lim.mount_write_bytes;

	return (bytes / 1024 > 64 ? bytes / 1024 : 64) + 16 + 3 * (uint64_t)r->nrwc;
}

/*
 * An rwc mount is an overlay over the host directory (rootfs.c) whose
 * changes sandbox_commit applies; the host directory is opened now, for
 * that.  The upper layer's tmpfs, shared by the run's rwc mounts, holds the
 * write limit plus the overlay's own few directories.
 */
static int plan_rwc(struct sandbox *r, const struct mount_spec *m, char *err, size_t errlen)
{
	int fd;

	if (r->nrwc >= JAIL_MAX_RWC) {
		snprintf(err, errlen, "too many rwc mounts (at most %d)", JAIL_MAX_RWC);
		return BRIG_E_INVAL;
	}
	if ((fd = open(m->host_path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "mount %s: %s: %s", m->vpath, m->host_path, strerror(errno));
		return BRIG_E_INVAL;
	}
	r->rwc_host_fds[r->nrwc] = fd;
	r->rwc_vpaths[r->nrwc++] = m->vpath;
	snprintf(r->plan.rwc_opts, sizeof(r->plan.rwc_opts),
		 "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=0700", r->lim.mount_write_bytes,
		 rwc_inodes(r));
	return BRIG_OK;
}

/* User mounts: ro and rw appear read-only to the guest's own file APIs (rw
 * writes go through fs.*), rwc is a private overlay committed afterwards. */
static int plan_mounts(struct sandbox *r, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->caps->nmounts; i++) {
		const struct mount_spec *m = &r->caps->mounts[i];
		struct stat st;
		int rc;

		if (stat(m->host_path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "mount %s: %s is not a directory", m->vpath,
				 m->host_path);
			return BRIG_E_INVAL;
		}
		if (r->plan.nbinds >= JAIL_MAX_BINDS) {
			snprintf(err, errlen, "too many mounts");
			return BRIG_E_INVAL;
		}
		if (m->mode == BRIG_MOUNT_RWC && (rc = plan_rwc(r, m, err, errlen)))
			return rc;
		add_bind(&r->plan, m->vpath, m->host_path,
			 m->mode == BRIG_MOUNT_RWC ? JAIL_BIND_OVERLAY : JAIL_BIND_RO, true);
	}
	return BRIG_OK;
}

/* What init hands over with READY: two fds per rwc mount, then the outputs'. */
static int handed_fds(const struct sandbox *r)
{
	return 2 * r->nrwc + (r->outputs ? 1 : 0);
}

/*
 * The outputs directory of a one-shot run (brig_caps_set_outputs), the
 * plan's last bind: a tmpfs the guest owns, whose size and inodes bound
 * the artifacts (a few inodes spare for subdirectories).
 */
static int plan_outputs(struct sandbox *r, char *err, size_t errlen)
{
	const brig_caps *c = r->caps;
	const char *vpath = c->outputs_set ? c->outputs : BRIG_DEFAULT_OUTPUTS;
	uint64_t bytes = c->artifact_bytes ? c->artifact_bytes : ARTIFACTS_DEFAULT_BYTES;

	if (r->plan.session || !vpath)
		return BRIG_OK;
	for (size_t i = 0; i < c->nmounts; i++) {
		if (fs_within(vpath, c->mounts[i].vpath) || fs_within(c->mounts[i].vpath, vpath)) {
			snprintf(err, errlen, "the outputs directory %s overlaps the mount %s",
				 vpath, c->mounts[i].vpath);
			return BRIG_E_INVAL;
		}
	}
	if (r->plan.nbinds >= JAIL_MAX_BINDS) {
		snprintf(err, errlen, "too many mounts");
		return BRIG_E_INVAL;
	}
	r->max_artifacts = c->max_artifacts ? c->max_artifacts : ARTIFACTS_DEFAULT_FILES;
	snprintf(r->outputs_opts, sizeof(r->outputs_opts),
		 "size=%" PRIu64 ",nr_inodes=%" PRIu32 ",mode=0755,uid=%d,gid=%d", bytes,
		 r->max_artifacts + 16, JAIL_UID, JAIL_GID);
	add_bind(&r->plan, vpath, r->outputs_opts, JAIL_BIND_OUTPUTS, true);
	r->outputs = vpath;
	return BRIG_OK;
}

int sandbox_collect(struct sandbox *r, brig_result *res)
{
	int rc;

	if (!r->outputs || r->proc.nrwc_fds != handed_fds(r))
		return BRIG_OK;
	rc = artifacts_collect(res, r->proc.rwc_fds[2 * r->nrwc], r->max_artifacts);
	if (rc != BRIG_OK && res->error == BRIG_OK)
		return result_fail(res, rc, "cannot read the outputs directory");
	return rc;
}

/* fs.* on an rwc mount acts on its overlay, as the guest's own APIs do. */
static int adopt_rwc(struct sandbox *r, brig_result *res)
{
	if (r->proc.nrwc_fds != handed_fds(r))
		return result_fail(res, BRIG_E_UNAVAILABLE,
				   "the sandbox did not hand over its rwc mounts and outputs");
	for (int i = 0; i < r->nrwc; i++) {
		int rc = fs_table_set_view(r->disp.fs, r->rwc_vpaths[i], r->proc.rwc_fds[2 * i + 1],
					   r->ex->privileged, r->ex->host_uid, r->ex->host_gid);

		if (rc < 0)
			return result_fail(res, BRIG_E_INTERNAL, "rwc mount %s: %s",
					   r->rwc_vpaths[i], strerror(-rc));
	}
	return BRIG_OK;
}

/* Record a commit failure: the first error of the result stays in front. */
static int commit_report(struct sandbox *r, brig_result *res, int rc, const char *msg)
{
	if (rc == BRIG_E_DENIED && r->rwc_refused && strcmp(r->rwc_refused, msg) == 0)
		return BRIG_OK;
	if (rc == BRIG_E_DENIED) {
		free(r->rwc_refused);
		r->rwc_refused = strdup(msg);
	}
	if (!res)
		return rc;
	if (res->error != BRIG_OK)
		return result_fail(res, res->error, "%s; %s", brig_result_message(res), msg);
	if (rc == BRIG_E_LIMIT)
		res->limit = BRIG_LIMIT_DISK;
	return result_fail(res, rc, "%s", msg);
}

int sandbox_commit(struct sandbox *r, brig_result *res)
{
	struct mount_budget budget = {r->lim.mount_write_bytes, rwc_inodes(r)};
	struct mount_owner owner = {r->ex->privileged, r->ex->host_uid, r->ex->host_gid};
	char msg[BRIG_ERRLEN], one[BRIG_ERRLEN];
	int rc = BRIG_OK;

	if (r->nrwc == 0 || r->proc.nrwc_fds != handed_fds(r))
		return BRIG_OK;
	if (!r->plan.session && r->disp_ready) {
		/* No host call may change an overlay while it is committed. */
		dispatch_destroy(&r->disp);
		r->disp_ready = false;
	}
	for (int i = 0; i < r->nrwc; i++) {
		int c = mount_commit(r->proc.rwc_fds[2 * i], r->rwc_host_fds[i], r->rwc_vpaths[i],
				     &owner, &budget, one, sizeof(one));

		/* A refusal does not stop the others (the first one is
		 * reported); anything else does. */
		if (c == BRIG_OK || (c == BRIG_E_DENIED && rc == BRIG_E_DENIED))
			continue;
		snprintf(msg, sizeof(msg), "%s", one);
		rc = c;
		if (c != BRIG_E_DENIED)
			break;
	}
	if (rc == BRIG_OK) {
		free(r->rwc_refused);
		r->rwc_refused = NULL;
		return BRIG_OK;
	}
	return commit_report(r, res, rc, msg);
}

/* One page past the end of a tmpfs of size tmp (which counts whole pages). */
static uint64_t fsize_cap(uint64_t tmp)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (tmp > UINT64_MAX - 2 * page)
		return UINT64_MAX;
	return (tmp + page - 1) / page * page + page;
}

static void plan_limits(struct sandbox *r)
{
	struct jail_plan *p = &r->plan;
	const struct cgroup_env *cg = &r->ex->cg;

	/* nr_inodes: an empty file costs about a kilobyte of unreclaimable
	 * kernel memory that size= does not count. */
	snprintf(p->scratch_opts, sizeof(p->scratch_opts),
		 "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=755,uid=%d,gid=%d", r->lim.tmp_bytes,
		 r->lim.tmp_inodes, JAIL_UID, JAIL_GID);
	/* Snapshot copies of /tmp and the home directory, in sessions. */
	snprintf(p->run_opts, sizeof(p->run_opts),
		 "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=1777", 2 * r->lim.tmp_bytes,
		 2 * r->lim.tmp_inodes);
	/* Every fd can hold kernel memory (pipe and socket buffers, epoll
	 * watches), so their number is bounded per process. */
	p->memory_bytes = r->lim.memory_bytes;
	p->rl.nofile = r->lim.max_open_files;
	p->rl.sigpending = JAIL_SIGPENDING;
	p->rl.msgqueue = JAIL_MSGQUEUE_BYTES;
	/* Memory no process owns, which only a memory cgroup would charge. */
	p->bpf_memguard = cg->memory ? NULL : &jail_seccomp_memguard;
	/* Above the scratch tmpfs's size, so that a file filling it gets
	 * ENOSPC, as a full disk does, not EFBIG (and bash SIGXFSZ); it still
	 * bounds one file in a rw mount. */
	p->rl.fsize_bytes = fsize_cap(r->lim.tmp_bytes);
	/* A per-process backstop; the monitor enforces the tree-wide figure. */
	if (r->lim.cpu_timeout_ms)
		p->rl.cpu_seconds = r->lim.cpu_timeout_ms / 1000 + 2;
	/* V8 reserves far more address space than it uses (PROT_NONE, which
	 * RLIMIT_DATA does not count), so node is bounded by data, not address
	 * space; its heap flag makes V8 fail first and cleanly. */
	if (!cg->memory && r->lang == BRIG_LANG_JS)
		p->rl.data_bytes =
		    r->lim.memory_bytes > JS_MIN_DATA ? r->lim.memory_bytes : JS_MIN_DATA;
	else if (!cg->memory)
		p->rl.as_bytes = r->lim.memory_bytes;
	if (!cg->pids)
		p->rl.nproc = r->lim.max_pids;
}

#define PROXY_URL "http://127.0.0.1:" BRIG_STR(BRIG_PROXY_PORT)
#define CA_DIR "/etc/ssl/certs"
#define BRIG_STR(x) BRIG_STR_(x)
#define BRIG_STR_(x) #x

static bool allowlist_names(const brig_caps *caps, const char *name)
{
	struct net_allow a;
	char err[200];

	for (size_t i = 0; i < caps->hosts.n; i++)
		if (net_allow_parse(caps->hosts.v[i], &a, err, sizeof(err)) == 0 &&
		    strcmp(a.host.name, name) == 0)
			return true;
	return false;
}

/*
 * Loopback is the jail's own, so clients go there direct; but a loopback
 * name the allowlist holds means the host's, through the proxy.
 */
static void plan_no_proxy(struct sandbox *r)
{
	static const char *const local[][2] = {
	    {"localhost", "localhost"}, {"127.0.0.1", "127.0.0.1"}, {"[::1]", "::1"}};
	char list[48] = "";

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!allowlist_names(r->caps, local[i][0]))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 *list ? "," : "", local[i][1]);
	snprintf(r->no_proxy[0], sizeof(r->no_proxy[0]), "NO_PROXY=%s", list);
	snprintf(r->no_proxy[1], sizeof(r->no_proxy[1]), "no_proxy=%s", list);
}

/*
 * With any allowed host, the guest's clients find the egress proxy the
 * standard ways: the variables curl, wget, Python, pip, node agents and npm
 * read.
 */
static void plan_proxy(struct sandbox *r)
{
	static const char *const vars[] = {"HTTP_PROXY=" PROXY_URL,
					   "HTTPS_PROXY=" PROXY_URL,
					   "http_proxy=" PROXY_URL,
					   "https_proxy=" PROXY_URL,
					   "PIP_PROXY=" PROXY_URL,
					   "npm_config_proxy=" PROXY_URL,
					   "npm_config_https_proxy=" PROXY_URL};
	const char **e = r->plan.envp;
	size_t n = 0;

	if (r->caps->hosts.n == 0)
		return;
	plan_no_proxy(r);
	/* Clients check servers' certificates against the host's authorities. */
	if (access(CA_DIR, R_OK | X_OK) == 0 && r->plan.nbinds < JAIL_MAX_BINDS)
		add_bind(&r->plan, CA_DIR, CA_DIR, JAIL_BIND_RO, true);
	while (e[n])
		n++;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && n < JAIL_MAX_ENV - 3; i++)
		e[n++] = vars[i];
	e[n++] = r->no_proxy[0];
	e[n++] = r->no_proxy[1];
	e[n] = NULL;
	r->plan.proxy_port = BRIG_PROXY_PORT;
}

/*
 * Python package directories, read-only, on the guest's sys.path (the agent
 * reads BRIG_PYTHONPATH): install_pkg's view, and brig_caps_add_packages'.
 */
static int plan_packages(struct sandbox *r, char *err, size_t errlen)
{
	const struct strv *dirs = pkg_caps_dirs(r->caps->pkg);
	struct buf path = BUF_INIT;
	const char **e = r->plan.envp;
	size_t n = 0, ndirs = dirs ? dirs->n : 0;
	int rc = BRIG_OK;

	if (!r->pkg.view && !ndirs)
		return BRIG_OK;
	if (ndirs > SANDBOX_MAX_SITES || r->plan.nbinds + ndirs + 1 > JAIL_MAX_BINDS) {
		snprintf(err, errlen, "too many package directories (at most %d)",
			 SANDBOX_MAX_SITES);
		return BRIG_E_INVAL;
	}
	rc |= buf_append(&path, "BRIG_PYTHONPATH=", 16);
	if (r->pkg.view) {
		add_bind(&r->plan, BRIG_PACKAGES_DIR, r->pkg.view, JAIL_BIND_RO, true);
		rc |= buf_append(&path, BRIG_PACKAGES_DIR, strlen(BRIG_PACKAGES_DIR));
	}
	for (size_t i = 0; i < ndirs; i++) {
		char *vpath = r->site_vpaths[i];

		snprintf(vpath, sizeof(r->site_vpaths[i]), "%s/%zu", SANDBOX_SITE_DIR, i);
		add_bind(&r->plan, vpath, dirs->v[i], JAIL_BIND_RO, true);
		rc |= buf_append(&path, ":", path.len > 16 ? 1 : 0);
		rc |= buf_append(&path, vpath, strlen(vpath));
	}
	if (rc) {
		buf_free(&path);
		return BRIG_E_NOMEM;
	}
	r->pythonpath = buf_steal(&path);
	while (e[n])
		n++;
	if (n < JAIL_MAX_ENV - 1)
		e[n++] = r->pythonpath, e[n] = NULL;
	return BRIG_OK;
}

static int plan_jail(struct sandbox *r, const char *code, char *err, size_t errlen)
{
	struct jail_plan *p = &r->plan;
	brig_executor *ex = r->ex;
	int rc;

	for (size_t i = 0; i < ex->nsys; i++)
		add_bind(p, ex->sys[i].dst, ex->sys[i].target, ex->sys[i].kind, ex->sys[i].is_dir);
	add_bind(p, JAIL_GUEST_DIR, ex->guest_dir, JAIL_BIND_RO, true);
	if (ex->native_dir_fd >= 0)
		add_bind(p, JAIL_NATIVE_DIR, ex->native_dir, JAIL_BIND_RO, true);
	interp_argv(ex, r->lang, &r->lim, code, r->node_flags, p->argv);
	interp_env(ex, p->envp);
	plan_proxy(r);
	plan_files(p);
	plan_limits(r);
	p->bpf = &jail_seccomp_filter;
	for (int i = 0; i < 3; i++)
		p->cgroup_fds[i] = -1;
	p->cgroup_dir_fd = -1;
	p->host_uid = ex->host_uid;
	p->host_gid = ex->host_gid;
	p->privileged = ex->privileged;
	if ((rc = plan_mounts(r, err, errlen)) || (rc = plan_packages(r, err, errlen)))
		return rc;
	return plan_outputs(r, err, errlen);
}

static int make_channels(struct sandbox *r, bool with_stdin)
{
	int sp[2], out[2], errp[2], in[2] = {-1, -1};

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (with_stdin && pipe2(in, O_CLOEXEC) < 0))
		return -1;
	r->host_fds[0] = sp[0], r->plan.proto_fd = sp[1];
	r->host_fds[1] = out[0], r->plan.stdout_fd = out[1];
	r->host_fds[2] = errp[0], r->plan.stderr_fd = errp[1];
	r->host_fds[3] = in[1], r->plan.stdin_fd = in[0];
	for (int i = 0; i < 4; i++) {
		if (r->host_fds[i] >= 0)
			fcntl(r->host_fds[i], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

static void close_child_ends(struct jail_plan *p)
{
	int *fds[] = {&p->proto_fd,	 &p->stdout_fd,	    &p->stderr_fd,     &p->stdin_fd,
		      &p->cgroup_fds[0], &p->cgroup_fds[1], &p->cgroup_fds[2], &p->cgroup_dir_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/*
 * V8 trusts its stack flag: past the thread's real stack (the guest's main
 * thread grows up to the RLIMIT_STACK it inherits from brig) node would
 * crash instead of throwing RangeError.
 */
static bool stack_fits(uint64_t bytes)
{
	struct rlimit rl;

	if (bytes < (64u << 10) || bytes > BRIG_MAX_STACK_BYTES)
		return false;
	return getrlimit(RLIMIT_STACK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	       bytes + (1u << 20) <= rl.rlim_cur;
}

/*
 * Without a memory cgroup the monitor bounds memory by measuring the jail,
 * socket buffers included: a jail it cannot measure does not run.
 */
static int check_measurable(struct sandbox *r, brig_result *res)
{
	int err = r->ex->sockdiag_err ? r->ex->sockdiag_err : -EPROTONOSUPPORT;

	if (r->ex->cg.memory ||
	    (r->proc.proc_fd >= 0 && r->proc.diag_fd >= 0 && !r->ex->sockdiag_err))
		return BRIG_OK;
	jail_kill(&r->proc);
	return result_fail(res, BRIG_E_UNAVAILABLE,
			   "the memory limit cannot be enforced here: no memory cgroup, and %s "
			   "(%s); load unix_diag and netlink_diag, or run brig in a delegated "
			   "cgroup (systemd-run --user --scope -p Delegate=yes)",
			   r->proc.proc_fd < 0 ? "the sandbox's /proc is unreadable"
					       : "sock_diag cannot measure socket buffers",
			   strerror(-err));
}

/*
 * The jail's init starts in the cgroup (v2: cloned into it) or joins it
 * itself, first thing, through files opened here (spawn.c): either is fast,
 * where the host moving it waits for an RCU grace period.  The guest init
 * forks later is born in the cgroup, under a cgroup namespace rooted there.
 */
/* The listener init made in the jail's network namespace, served from here. */
static int start_proxy(struct sandbox *r, brig_result *res)
{
	char err[BRIG_ERRLEN];
	int fd = r->proc.listen_fd, rc;

	if (!r->plan.proxy_port)
		return BRIG_OK;
	r->proc.listen_fd = -1;
	if (fd < 0) {
		jail_kill(&r->proc);
		return result_fail(res, BRIG_E_UNAVAILABLE,
				   "the sandbox did not hand over the egress proxy's listener");
	}
	rc = proxy_start(fd, (const char *const *)r->caps->hosts.v, r->caps->hosts.n,
			 &r->caps->proxy, NULL, &r->proxy, err, sizeof(err));
	if (rc != BRIG_OK) {
		jail_kill(&r->proc);
		return result_fail(res, rc, "%s", err);
	}
	return BRIG_OK;
}

int sandbox_start(struct sandbox *r, brig_result *res)
{
	char err[BRIG_ERRLEN], name[64];
	int rc;

	snprintf(name, sizeof(name), "%d-%" PRIuFAST64, (int)getpid(),
		 atomic_fetch_add(&r->ex->seq, 1));
	if ((rc = cgroup_create(&r->cg, &r->ex->cg, name, r->lim.memory_bytes, r->lim.max_pids)))
		return result_fail(res, BRIG_E_UNAVAILABLE, "cannot create cgroup: %s",
				   strerror(-rc));
	if ((rc = cgroup_open_join(&r->cg, r->plan.cgroup_fds, &r->plan.cgroup_dir_fd)) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "cannot join cgroup: %s",
				   strerror(-rc));
	r->warm = warm_spawn(&r->ex->warm, r->lang, &r->plan, &r->proc) == 0;
	if (!r->warm && jail_spawn(&r->plan, &r->proc, err, sizeof(err)) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "%s", err);
	close_child_ends(&r->plan);
	if (jail_go(&r->proc) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "the sandbox died during setup");
	if (jail_wait_ready(&r->proc, err, sizeof(err)) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "%s", err);
	if ((rc = adopt_rwc(r, res)) || (rc = check_measurable(r, res)))
		return rc;
	return start_proxy(r, res);
}

void sandbox_proxy_report(struct sandbox *r, brig_result *res, bool stop)
{
	struct proxy_stats st;

	if (!r->proxy)
		return;
	if (stop) {
		proxy_stop(r->proxy, &st);
		r->proxy = NULL;
	} else {
		proxy_stats_get(r->proxy, &st);
	}
	if (res)
		res->proxy_connections = st.connections, res->proxy_refused = st.refused;
}

void sandbox_cleanup(struct sandbox *r)
{
	close_child_ends(&r->plan);
	for (int i = 0; i < 4; i++) {
		if (r->host_fds[i] >= 0)
			close(r->host_fds[i]);
	}
	if (r->proc.pidfd >= 0) {
		int st;
		uint64_t cpu;

		jail_kill(&r->proc);
		jail_reap(&r->proc, &st, &cpu);
	}
	sandbox_proxy_report(r, NULL, true);
	cgroup_destroy(&r->cg);
	if (r->disp_ready)
		dispatch_destroy(&r->disp);
	r->disp_ready = false;
	/* A session's last changes: nobody is left to report a failure to. */
	if (r->plan.session)
		sandbox_commit(r, NULL);
	for (int i = 0; i < r->proc.nrwc_fds; i++)
		close(r->proc.rwc_fds[i]);
	r->proc.nrwc_fds = 0;
	for (int i = 0; i < r->nrwc; i++)
		close(r->rwc_host_fds[i]);
	r->nrwc = 0;
	free(r->rwc_refused);
	r->rwc_refused = NULL;
	pkg_run_cleanup(&r->pkg);
	free(r->pythonpath);
	r->pythonpath = NULL;
	brig_caps_free(r->caps);
}

bool sandbox_guest_has(const brig_executor *ex, const char *rel)
{
	return faccessat(ex->guest_dir_fd, rel, R_OK, 0) == 0;
}

bool sandbox_native_has(const brig_executor *ex, const char *rel)
{
	return ex->native_dir_fd >= 0 && faccessat(ex->native_dir_fd, rel, R_OK, 0) == 0;
}

int sandbox_validate(brig_executor *ex, brig_lang lang, const char *code, size_t len,
		     const char *filename, const brig_limits *lim, brig_result *res)
{
	if (!ex || (!code && len))
		return result_fail(res, BRIG_E_INVAL, "executor and code are required");
	if (lang != BRIG_LANG_PYTHON && lang != BRIG_LANG_JS && lang != BRIG_LANG_SH)
		return result_fail(res, BRIG_E_INVAL, "unknown language %d", (int)lang);
	if (filename && (strlen(filename) > PATH_MAX || strchr(filename, '\n')))
		return result_fail(res, BRIG_E_INVAL, "filename must be a single line");
	if (lang == BRIG_LANG_JS && !sandbox_guest_has(ex, "js/agent.js"))
		return result_fail(res, BRIG_E_UNSUPPORTED, "JavaScript is not yet supported");
	if (len > lim->max_code_bytes)
		return result_fail(res, BRIG_E_INVAL,
				   "code of %zu bytes exceeds the %" PRIu64 " byte limit", len,
				   lim->max_code_bytes);
	if (lang == BRIG_LANG_SH && (len > MAX_ARG_BYTES || memchr(code, '\0', len)))
		return result_fail(res, BRIG_E_INVAL,
				   "shell code must be under 128 KiB and contain no NUL byte");
	if (lim->memory_bytes < (16u << 20) || lim->max_pids < 4 || lim->tmp_bytes < 4096 ||
	    lim->max_frame_bytes < 4096 || lim->tmp_inodes < 16 || lim->max_open_files < 16)
		return result_fail(res, BRIG_E_INVAL,
				   "limits too small (memory >= 16 MiB, pids >= 4, tmp >= 4 KiB, "
				   "tmp inodes >= 16, open files >= 16)");
	if (lim->tmp_inodes > UINT32_MAX || lim->max_open_files > JAIL_MAX_NOFILE)
		return result_fail(res, BRIG_E_INVAL,
				   "limits too large (tmp inodes <= 2^32-1, open files <= %d)",
				   JAIL_MAX_NOFILE);
	if (lim->mount_write_bytes < 4096)
		return result_fail(res, BRIG_E_INVAL, "the mount write limit must be >= 4 KiB");
	if (lim->stack_bytes && !stack_fits(lim->stack_bytes))
		return result_fail(res, BRIG_E_INVAL,
				   "the stack must be from 64 KiB to %llu KiB, and 1 MiB below "
				   "RLIMIT_STACK",
				   (unsigned long long)(BRIG_MAX_STACK_BYTES >> 10));
	return BRIG_OK;
}

int sandbox_prepare(struct sandbox *r, const char *code, size_t len, const brig_run_opts *o,
		    brig_result *res)
{
	char err[BRIG_ERRLEN];
	int rc;

	pthread_mutex_lock(&r->ex->lock);
	r->ex->started = true;
	rc = caps_freeze(o->caps, &r->ex->fns, &r->caps);
	pthread_mutex_unlock(&r->ex->lock);
	if (rc)
		return result_fail(res, rc, "cannot copy capabilities");
	if ((rc = dispatch_init(&r->disp, r->caps, r->lim.max_frame_bytes - 64, err, sizeof(err))))
		return result_fail(res, rc, "%s", err);
	r->disp_ready = true;
	if ((rc = pkg_run_init(&r->pkg, r->ex, r->caps, err, sizeof(err))))
		return result_fail(res, rc, "%s", err);
	r->disp.pkg = &r->pkg;
	if ((rc = plan_jail(r, code, err, sizeof(err))))
		return result_fail(res, rc, "%s", err);
	if (make_channels(r, o->stdin_data != NULL || (o->stdin_stream && o->stdin_fd >= 0)) < 0)
		return result_fail(res, BRIG_E_INTERNAL, "cannot create channels: %s",
				   strerror(errno));
	return BRIG_OK;
}

bool sandbox_v8_oom(const struct sandbox *r, const brig_result *res, int sig)
{
	return r->lang == BRIG_LANG_JS && (sig == SIGABRT || sig == SIGTRAP) && res->err.data &&
	       strstr(res->err.data, "JavaScript heap out of memory") != NULL;
}
