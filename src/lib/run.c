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
#include "lib/sandbox.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int queue_code(struct sandbox *r, struct monitor *m, const char *code, size_t len,
		      const brig_run_opts *o)
{
	char meta[2 * PATH_MAX + 64];
	struct buf frame = BUF_INIT;
	ssize_t left;

	if (r->lang == BRIG_LANG_SH)
		return 0;
	/* The agent refuses a call that would not fit, rather than be killed for it. */
	snprintf(meta, sizeof(meta), "filename=%s\nmax_frame=%" PRIu64 "\noutputs=%s\n",
		 o->filename ? o->filename : "<string>", r->lim.max_frame_bytes,
		 r->outputs ? r->outputs : "");
	if (proto_encode_run(&frame, meta, code, len) < 0) {
		buf_free(&frame);
		return -1;
	}
	left = dispatch_send(&r->disp, frame.data, frame.len);
	buf_free(&frame);
	m->out_pending = left > 0;
	return left < 0 ? -1 : 0;
}

static void set_signal_outcome(brig_result *res, const struct monitor *m, const struct sandbox *r,
			       int sig)
{
	res->signal = sig;
	res->exit_code = 128 + sig;
	if (m->error != BRIG_OK)
		return;
	if (cgroup_oom_killed(&r->cg) || m->guest_limit == BRIG_LIMIT_MEMORY ||
	    sandbox_v8_oom(r, res, sig)) {
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
static void classify(brig_result *res, const struct monitor *m, const struct sandbox *r, int status)
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

static void supervise(struct sandbox *r, brig_result *res, const char *code, size_t len,
		      const brig_run_opts *o)
{
	struct monitor m = {0};
	int status;
	uint64_t rusage_cpu;
	int64_t cg_cpu;

	m.proc = &r->proc, m.cg = &r->cg, m.lim = &r->lim, m.opts = o, m.disp = &r->disp;
	m.res = res;
	res->warm = r->warm;
	m.proto_fd = r->host_fds[0], m.out_fd = r->host_fds[1], m.err_fd = r->host_fds[2];
	m.stdin_fd = r->host_fds[3];
	m.interrupt_fd = cancel_fd(o->cancel);
	r->disp.out_fd = m.proto_fd;
	for (int i = 0; i < 4; i++)
		r->host_fds[i] = -1; /* the monitor owns and closes them now */
	if (queue_code(r, &m, code, len, o) < 0) {
		jail_kill(&r->proc);
		result_fail(res, BRIG_E_NOMEM, "cannot encode the code frame");
	}
	monitor_open(&m);
	monitor_run(&m);
	monitor_close(&m);
	cg_cpu = cgroup_cpu_us(&r->cg);
	jail_reap(&r->proc, &status, &rusage_cpu);
	res->cpu_us = cg_cpu >= 0 ? (uint64_t)cg_cpu : rusage_cpu;
	if (res->cpu_us < m.cpu_sampled_us)
		res->cpu_us = m.cpu_sampled_us;
	if (res->error == BRIG_OK)
		classify(res, &m, r, status);
}

/* A token triggered before the run began: build nothing. */
static int not_cancelled(const brig_run_opts *o, brig_result *res)
{
	if (brig_cancel_triggered(o->cancel))
		return result_fail(res, BRIG_E_CANCELLED, "cancelled by the embedder");
	return BRIG_OK;
}

int brig_run(brig_executor *ex, brig_lang lang, const char *code, size_t code_len,
	     const brig_run_opts *opts, brig_result **out)
{
	brig_run_opts defaults;
	struct sandbox r = {.ex = ex,
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
	if (sandbox_validate(ex, lang, code, code_len, opts->filename, &r.lim, res) == BRIG_OK &&
	    not_cancelled(opts, res) == BRIG_OK &&
	    sandbox_prepare(&r, code ? code : "", code_len, opts, res) == BRIG_OK &&
	    sandbox_start(&r, res) == BRIG_OK) {
		supervise(&r, res, code ? code : "", code_len, opts);
		sandbox_proxy_report(&r, res, true);
		/* The jail is reaped: no guest code can race the commit. */
		sandbox_commit(&r, res);
		sandbox_collect(&r, res);
	}
	sandbox_cleanup(&r);
	res->wall_us = now_us() - t0;
	return res->error;
}
