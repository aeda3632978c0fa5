/*
 * One run, start to finish: validate, freeze the capabilities, plan the
 * jail, spawn it, hand it the code, monitor it, and classify the outcome.
 */
#include "lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/dispatch.h"
#include "lib/monitor.h"
#include "lib/proto.h"

/* Linux refuses a single argv string longer than this (MAX_ARG_STRLEN). */
#define MAX_ARG_BYTES (128 * 1024 - 1)

static const char passwd_text[] = "user:x:1000:1000:user:/home/user:/bin/sh\n"
				  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] = "user:x:1000:\nnogroup:x:65534:\n";
static const char hosts_text[] = "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tbrig\n";
static const char nsswitch_text[] = "passwd: files\ngroup: files\nhosts: files\n";

/* Everything a run owns; released by run_cleanup. */
struct run {
	brig_executor *ex;
	brig_lang lang;
	brig_limits lim;
	brig_caps *caps;
	struct dispatch disp;
	bool disp_ready;
	struct jail_plan plan;
	struct jail_proc proc;
	struct cgroup cg;
	int host_fds[4]; /* proto, stdout, stderr, stdin (host ends) */
	char maxheap[48];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void add_bind(struct jail_plan *p, const char *dst, const char *src,
		     enum jail_bind_kind kind, bool is_dir)
{
	p->binds[p->nbinds++] = (struct jail_bind){dst, src, kind, is_dir};
}

static void plan_argv(struct run *r, const char *code)
{
	const char **a = r->plan.argv;
	brig_executor *ex = r->ex;

	switch (r->lang) {
	case BRIG_LANG_PYTHON:
		/* -I: no environment or user site; -S: site is replaced by the agent. */
		*a++ = ex->python, *a++ = "-I", *a++ = "-S", *a++ = "-B";
		*a++ = JAIL_GUEST_DIR "/python/agent.py";
		break;
	case BRIG_LANG_JS:
		snprintf(r->maxheap, sizeof(r->maxheap), "--max-old-space-size=%" PRIu64,
			 r->lim.memory_bytes / (1 << 20) > 16 ? r->lim.memory_bytes / (1 << 20) - 8
							      : 8);
		*a++ = ex->node, *a++ = r->maxheap, *a++ = JAIL_GUEST_DIR "/js/agent.js";
		break;
	case BRIG_LANG_SH:
		*a++ = ex->shell, *a++ = "-c", *a++ = code;
		break;
	}
	*a = NULL;
}

static void plan_env(struct run *r)
{
	const char **e = r->plan.envp;

	*e++ = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	*e++ = "HOME=/home/user";
	*e++ = "USER=user";
	*e++ = "LOGNAME=user";
	*e++ = "SHELL=/bin/sh";
	*e++ = "LANG=C.UTF-8";
	*e++ = "TMPDIR=/tmp";
	*e++ = "PYTHONIOENCODING=utf-8";
	for (size_t i = 0; i < r->ex->passenv.n && e < r->plan.envp + JAIL_MAX_ENV - 1; i++)
		*e++ = r->ex->passenv.v[i];
	*e = NULL;
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

/* User mounts: ro and rw appear read-only to the guest's own file APIs (rw
 * writes go through fs.*), rwc is a writable bind. */
static int plan_mounts(struct run *r, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->caps->nmounts; i++) {
		const struct mount_spec *m = &r->caps->mounts[i];
		struct stat st;

		if (stat(m->host_path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "mount %s: %s is not a directory", m->vpath,
				 m->host_path);
			return BRIG_E_INVAL;
		}
		if (r->plan.nbinds >= JAIL_MAX_BINDS) {
			snprintf(err, errlen, "too many mounts");
			return BRIG_E_INVAL;
		}
		add_bind(&r->plan, m->vpath, m->host_path,
			 m->mode == BRIG_MOUNT_RWC ? JAIL_BIND_RW : JAIL_BIND_RO, true);
	}
	return BRIG_OK;
}

static void plan_limits(struct run *r)
{
	struct jail_plan *p = &r->plan;
	const struct cgroup_env *cg = &r->ex->cg;

	snprintf(p->tmpfs_opts, sizeof(p->tmpfs_opts), "size=%" PRIu64 ",mode=1777",
		 r->lim.tmp_bytes);
	snprintf(p->home_opts, sizeof(p->home_opts), "size=%" PRIu64 ",mode=755,uid=%d,gid=%d",
		 r->lim.tmp_bytes, JAIL_UID, JAIL_GID);
	p->rl.nofile = 4096;
	p->rl.fsize_bytes = r->lim.tmp_bytes;
	/* A per-process backstop; the monitor enforces the tree-wide figure. */
	if (r->lim.cpu_timeout_ms)
		p->rl.cpu_seconds = r->lim.cpu_timeout_ms / 1000 + 2;
	/* V8 reserves far more address space than it uses, so node gets its
	 * heap flag instead of an address-space limit. */
	if (!cg->memory && r->lang != BRIG_LANG_JS)
		p->rl.as_bytes = r->lim.memory_bytes;
	if (!cg->pids)
		p->rl.nproc = r->lim.max_pids;
}

static int plan_jail(struct run *r, const char *code, char *err, size_t errlen)
{
	struct jail_plan *p = &r->plan;
	brig_executor *ex = r->ex;

	for (size_t i = 0; i < ex->nsys; i++)
		add_bind(p, ex->sys[i].dst, ex->sys[i].target, ex->sys[i].kind, ex->sys[i].is_dir);
	add_bind(p, JAIL_GUEST_DIR, ex->guest_dir, JAIL_BIND_RO, true);
	plan_argv(r, code);
	plan_env(r);
	plan_files(p);
	plan_limits(r);
	p->bpf = &jail_seccomp_filter;
	p->host_uid = ex->host_uid;
	p->host_gid = ex->host_gid;
	p->privileged = ex->privileged;
	return plan_mounts(r, err, errlen);
}

static int make_channels(struct run *r, bool with_stdin)
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
	int *fds[] = {&p->proto_fd, &p->stdout_fd, &p->stderr_fd, &p->stdin_fd};

	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int attach(struct run *r, pid_t pid, brig_result *res)
{
	int rc = cgroup_attach(&r->cg, pid);

	if (rc < 0) {
		jail_kill(&r->proc);
		return result_fail(res, BRIG_E_UNAVAILABLE, "cannot join cgroup: %s",
				   strerror(-rc));
	}
	return BRIG_OK;
}

/*
 * Moving a task into a cgroup v1 hierarchy waits for an RCU grace period
 * (~10 ms) when the hierarchy was idle.  Agent languages execute no user
 * code before the RUN frame, which is sent only after both init and the
 * guest are attached, so the attach overlaps the interpreter's start.  A
 * shell runs its code at once, so it is attached before it starts.
 */
static int start_jail(struct run *r, brig_result *res)
{
	char err[BRIG_ERRLEN], name[64];
	bool overlap = r->lang != BRIG_LANG_SH && r->ex->cg.mode != CGROUP_NONE;
	int rc;

	snprintf(name, sizeof(name), "%d-%" PRIuFAST64, (int)getpid(),
		 atomic_fetch_add(&r->ex->seq, 1));
	if ((rc = cgroup_create(&r->cg, &r->ex->cg, name, r->lim.memory_bytes, r->lim.max_pids)))
		return result_fail(res, BRIG_E_UNAVAILABLE, "cannot create cgroup: %s",
				   strerror(-rc));
	if (jail_spawn(&r->plan, &r->proc, err, sizeof(err)) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "%s", err);
	close_child_ends(&r->plan);
	if (overlap && jail_go(&r->proc) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "the sandbox died during setup");
	if ((rc = attach(r, r->proc.pid, res)))
		return rc;
	if (!overlap && jail_go(&r->proc) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "the sandbox died during setup");
	if (jail_wait_ready(&r->proc, err, sizeof(err)) < 0)
		return result_fail(res, BRIG_E_UNAVAILABLE, "%s", err);
	if (overlap) {
		pid_t guest = jail_guest_pid(&r->proc);

		if (guest <= 0)
			return result_fail(res, BRIG_E_UNAVAILABLE, "the guest did not start");
		return attach(r, guest, res);
	}
	return BRIG_OK;
}

static int queue_code(struct run *r, struct monitor *m, const char *code, size_t len,
		      const brig_run_opts *o)
{
	char meta[PATH_MAX + 16];
	struct buf frame = BUF_INIT;
	ssize_t left;

	if (r->lang == BRIG_LANG_SH)
		return 0;
	snprintf(meta, sizeof(meta), "filename=%s\n", o->filename ? o->filename : "<string>");
	if (proto_encode_run(&frame, meta, code, len) < 0) {
		buf_free(&frame);
		return -1;
	}
	left = dispatch_send(&r->disp, frame.data, frame.len);
	buf_free(&frame);
	m->out_pending = left > 0;
	return left < 0 ? -1 : 0;
}

static void set_signal_outcome(brig_result *res, const struct monitor *m, const struct run *r,
			       int sig)
{
	res->signal = sig;
	res->exit_code = 128 + sig;
	if (m->error != BRIG_OK)
		return;
	if (cgroup_oom_killed(&r->cg) || m->guest_limit == BRIG_LIMIT_MEMORY) {
		res->limit = BRIG_LIMIT_MEMORY;
		result_fail(res, BRIG_E_LIMIT, "memory limit of %" PRIu64 " bytes exceeded",
			    r->lim.memory_bytes);
	} else if (sig == SIGXCPU || (sig == SIGKILL && r->lim.cpu_timeout_ms &&
				      res->cpu_us >= r->lim.cpu_timeout_ms * 1000)) {
		res->limit = BRIG_LIMIT_CPU;
		result_fail(res, BRIG_E_CANCELLED, "CPU time limit of %" PRIu64 " ms exceeded",
			    r->lim.cpu_timeout_ms);
	} else {
		result_fail(res, BRIG_E_GUEST_ABORT, "guest killed by signal %d (%s)", sig,
			    strsignal(sig));
	}
}

/* Turn the monitor's verdict and the guest's wait status into the result. */
static void classify(brig_result *res, const struct monitor *m, const struct run *r, int status)
{
	if (m->error != BRIG_OK) {
		res->limit = m->limit;
		result_fail(res, m->error, "%s", m->msg);
		/* We killed init, so no status came back: the guest died of SIGKILL. */
		if (status < 0)
			status = SIGKILL;
	}
	if (status >= 0 && WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (status >= 0 && WIFSIGNALED(status))
		set_signal_outcome(res, m, r, WTERMSIG(status));
	else if (m->error == BRIG_OK)
		result_fail(res, BRIG_E_INTERNAL, "%s",
			    r->proc.setup_err[0] ? r->proc.setup_err
						 : "the sandbox ended without a status");
	if (res->error != BRIG_OK || res->exit_code == 0)
		return;
	if (m->guest_limit == BRIG_LIMIT_MEMORY || m->guest_limit == BRIG_LIMIT_DISK) {
		res->limit = m->guest_limit;
		result_fail(res, BRIG_E_LIMIT, "%s limit exceeded",
			    m->guest_limit == BRIG_LIMIT_MEMORY ? "memory" : "disk (tmpfs size)");
	} else if (cgroup_oom_killed(&r->cg)) {
		res->limit = BRIG_LIMIT_MEMORY;
		result_fail(res, BRIG_E_LIMIT, "memory limit exceeded");
	} else if (cgroup_pids_hit(&r->cg)) {
		res->limit = BRIG_LIMIT_PIDS;
		result_fail(res, BRIG_E_LIMIT, "process limit of %u reached", r->lim.max_pids);
	}
}

static void run_cleanup(struct run *r)
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
	cgroup_destroy(&r->cg);
	if (r->disp_ready)
		dispatch_destroy(&r->disp);
	brig_caps_free(r->caps);
}

static void supervise(struct run *r, brig_result *res, const char *code, size_t len,
		      const brig_run_opts *o)
{
	struct monitor m = {0};
	int status;
	uint64_t rusage_cpu;
	int64_t cg_cpu;

	m.proc = &r->proc, m.cg = &r->cg, m.lim = &r->lim, m.opts = o, m.disp = &r->disp;
	m.res = res;
	m.proto_fd = r->host_fds[0], m.out_fd = r->host_fds[1], m.err_fd = r->host_fds[2];
	m.stdin_fd = r->host_fds[3];
	r->disp.out_fd = m.proto_fd;
	for (int i = 0; i < 4; i++)
		r->host_fds[i] = -1; /* the monitor owns and closes them now */
	if (queue_code(r, &m, code, len, o) < 0) {
		jail_kill(&r->proc);
		result_fail(res, BRIG_E_NOMEM, "cannot encode the code frame");
	}
	monitor_run(&m);
	cg_cpu = cgroup_cpu_us(&r->cg);
	jail_reap(&r->proc, &status, &rusage_cpu);
	res->cpu_us = cg_cpu >= 0 ? (uint64_t)cg_cpu : rusage_cpu;
	if (res->cpu_us < m.cpu_sampled_us)
		res->cpu_us = m.cpu_sampled_us;
	if (res->error == BRIG_OK)
		classify(res, &m, r, status);
}

static bool guest_has(const brig_executor *ex, const char *rel)
{
	return faccessat(ex->guest_dir_fd, rel, R_OK, 0) == 0;
}

static int validate(brig_executor *ex, brig_lang lang, const char *code, size_t len,
		    const char *filename, const brig_limits *lim, brig_result *res)
{
	if (!ex || (!code && len))
		return result_fail(res, BRIG_E_INVAL, "executor and code are required");
	if (lang != BRIG_LANG_PYTHON && lang != BRIG_LANG_JS && lang != BRIG_LANG_SH)
		return result_fail(res, BRIG_E_INVAL, "unknown language %d", (int)lang);
	if (filename && (strlen(filename) > PATH_MAX || strchr(filename, '\n')))
		return result_fail(res, BRIG_E_INVAL, "filename must be a single line");
	if (lang == BRIG_LANG_JS && !guest_has(ex, "js/agent.js"))
		return result_fail(res, BRIG_E_UNSUPPORTED, "JavaScript is not yet supported");
	if (len > lim->max_code_bytes)
		return result_fail(res, BRIG_E_INVAL,
				   "code of %zu bytes exceeds the %" PRIu64 " byte limit", len,
				   lim->max_code_bytes);
	if (lang == BRIG_LANG_SH && (len > MAX_ARG_BYTES || memchr(code, '\0', len)))
		return result_fail(res, BRIG_E_INVAL,
				   "shell code must be under 128 KiB and contain no NUL byte");
	if (lim->memory_bytes < (16u << 20) || lim->max_pids < 4 || lim->tmp_bytes < 4096 ||
	    lim->max_frame_bytes < 4096)
		return result_fail(res, BRIG_E_INVAL,
				   "limits too small (memory >= 16 MiB, pids >= 4, tmp >= 4 KiB)");
	return BRIG_OK;
}

static int prepare(struct run *r, const char *code, size_t len, const brig_run_opts *o,
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
	if ((rc = plan_jail(r, code, err, sizeof(err))))
		return result_fail(res, rc, "%s", err);
	if (make_channels(r, o->stdin_data != NULL) < 0)
		return result_fail(res, BRIG_E_INTERNAL, "cannot create channels: %s",
				   strerror(errno));
	return BRIG_OK;
}

int brig_run(brig_executor *ex, brig_lang lang, const char *code, size_t code_len,
	     const brig_run_opts *opts, brig_result **out)
{
	brig_run_opts defaults;
	struct run r = {.ex = ex,
			.lang = lang,
			.proc = {.pidfd = -1, .ctl_fd = -1},
			.host_fds = {-1, -1, -1, -1}};
	brig_result *res = result_new();
	uint64_t t0 = now_us();

	if (out)
		*out = res;
	if (!res || !out)
		return BRIG_E_NOMEM;
	if (!opts) {
		brig_run_opts_init(&defaults);
		opts = &defaults;
	}
	r.plan.proto_fd = r.plan.stdout_fd = r.plan.stderr_fd = r.plan.stdin_fd = -1;
	if (ex) {
		r.lim = ex->limits;
		limits_resolve(&r.lim, &opts->limits);
	}
	if (validate(ex, lang, code, code_len, opts->filename, &r.lim, res) == BRIG_OK &&
	    prepare(&r, code ? code : "", code_len, opts, res) == BRIG_OK &&
	    start_jail(&r, res) == BRIG_OK)
		supervise(&r, res, code ? code : "", code_len, opts);
	run_cleanup(&r);
	res->wall_us = now_us() - t0;
	return res->error;
}
