/* `brig serve`: start-up, the signal loop, and a graceful shutdown. */
#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve_load.h"

static void free_server(struct serve *srv)
{
	brig_executor_free(srv->ex);
	serve_policy_free(&srv->policy);
	serve_tokens_free(&srv->tokens);
	serve_admit_destroy(&srv->admit);
	serve_metrics_destroy(&srv->metrics);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->idle);
}

static int load_files(struct serve *srv)
{
	char err[512];

	if (srv->opts.tokens_file &&
	    serve_load_tokens(srv->opts.tokens_file, &srv->tokens, err, sizeof(err))) {
		fprintf(stderr, "brig serve: --tokens %s: %s\n", srv->opts.tokens_file, err);
		return -1;
	}
	if (srv->opts.policy_file &&
	    serve_load_policy(srv->opts.policy_file, &srv->policy, err, sizeof(err))) {
		fprintf(stderr, "brig serve: --policy %s: %s\n", srv->opts.policy_file, err);
		return -1;
	}
	return 0;
}

/* Wait until no request is in a handler and no run holds a slot. */
static void drain(struct serve *srv)
{
	uint64_t deadline = serve_now_ms() + srv->opts.drain_timeout_ms;
	uint32_t active, waiting;

	for (;;) {
		pthread_mutex_lock(&srv->mu);
		bool idle = srv->inflight == 0;
		pthread_mutex_unlock(&srv->mu);
		serve_admit_counts(&srv->admit, &active, &waiting);
		if ((idle && active == 0 && waiting == 0) || serve_now_ms() >= deadline)
			return;
		usleep(20000);
	}
}

/* Serve until SIGTERM or SIGINT; the session reaper runs every second. */
static void signal_loop(struct serve *srv, struct MHD_Daemon *d)
{
	struct timespec tick = {1, 0};
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		serve_sess_reap(&srv->sessions, srv->opts.session_ttl_ms);
	}
	fprintf(stderr, "brig serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	pthread_mutex_lock(&srv->mu);
	srv->draining = true;
	pthread_mutex_unlock(&srv->mu);
	serve_http_quiesce(d);
	drain(srv);
	serve_sess_reap(&srv->sessions, 0);
	serve_http_stop(d);
	fprintf(stderr, "brig serve: stopped\n");
}

int serve_main(int argc, char **argv)
{
	struct serve srv;
	struct MHD_Daemon *d = NULL;
	brig_config cfg;
	sigset_t set;
	char err[512] = "", *why = NULL;
	int rc;

	memset(&srv, 0, sizeof(srv));
	rc = serve_parse_args(argc, argv, &srv.opts, err, sizeof(err));
	if (rc) {
		fprintf(rc > 0 ? stdout : stderr, "%s%s%s",
			rc > 0 ? serve_usage : "brig serve: ", rc > 0 ? "" : err,
			rc > 0 ? "" : "\n");
		return rc > 0 ? 0 : 2;
	}
	pthread_mutex_init(&srv.mu, NULL);
	pthread_cond_init(&srv.idle, NULL);
	serve_admit_init(&srv.admit, srv.opts.max_runs, srv.opts.max_queue);
	serve_metrics_init(&srv.metrics);
	serve_sessions_init(&srv.sessions, srv.opts.instance);
	if (load_files(&srv) || serve_open_stores(&srv.policy, err, sizeof(err))) {
		if (err[0])
			fprintf(stderr, "brig serve: %s\n", err);
		free_server(&srv);
		return 2;
	}
	serve_config(&cfg);
	if (brig_executor_new(&cfg, &srv.ex, &why)) {
		fprintf(stderr, "brig serve: sandbox unavailable: %s\n", why ? why : "unknown");
		free(why);
		free_server(&srv);
		return 125;
	}
	/* Threads inherit the mask: only the signal loop takes these. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (serve_http_start(&srv, &d, err, sizeof(err))) {
		fprintf(stderr, "brig serve: %s\n", err);
		free_server(&srv);
		return 2;
	}
	brig_executor_prewarm(srv.ex, BRIG_LANG_PYTHON, 10000);
	fprintf(stderr, "brig serve: ready\n");
	signal_loop(&srv, d);
	free_server(&srv);
	return 0;
}
