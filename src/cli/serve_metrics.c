/* `brig serve`'s counters and histograms, rendered as Prometheus text. */
#include "cli/serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static const double bounds[SERVE_NBUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
						  0.5,	 1,    2.5,   5,    10,	 30};

void serve_metrics_init(struct serve_metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
}

void serve_metrics_destroy(struct serve_metrics *m)
{
	pthread_mutex_destroy(&m->mu);
}

static void observe(struct serve_hist *h, double seconds)
{
	size_t i = 0;

	while (i < SERVE_NBUCKETS - 1 && seconds > bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}

void serve_metrics_run(struct serve_metrics *m, brig_lang lang, int error, double seconds)
{
	pthread_mutex_lock(&m->mu);
	if ((unsigned)lang < 3)
		m->runs[lang]++;
	if (error < 0 && -error < SERVE_NERRORS)
		m->errors[-error]++;
	observe(&m->run_seconds, seconds);
	pthread_mutex_unlock(&m->mu);
}

void serve_metrics_request(struct serve_metrics *m, unsigned status, double seconds)
{
	pthread_mutex_lock(&m->mu);
	if (status >= 100 && status < 600)
		m->status[status / 100]++;
	if (status == 429)
		m->rejected++;
	observe(&m->request_seconds, seconds);
	pthread_mutex_unlock(&m->mu);
}

static void printb(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void printb(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void render_hist(struct buf *b, const char *name, const char *help,
			const struct serve_hist *h)
{
	uint64_t cum = 0;

	printb(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < SERVE_NBUCKETS; i++) {
		cum += h->buckets[i];
		if (i < SERVE_NBUCKETS - 1)
			printb(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
			       (unsigned long long)cum);
		else
			printb(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	}
	printb(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void render_gauge(struct buf *b, const char *name, const char *help, uint64_t v)
{
	printb(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
	       (unsigned long long)v);
}

char *serve_metrics_render(struct serve_metrics *m, uint32_t active, uint32_t queued,
			   size_t sessions)
{
	struct buf b = BUF_INIT;

	pthread_mutex_lock(&m->mu);
	printb(&b, "# HELP brig_runs_total Runs and session calls, by language.\n"
		   "# TYPE brig_runs_total counter\n");
	for (int l = 0; l < 3; l++)
		printb(&b, "brig_runs_total{lang=\"%s\"} %llu\n", brig_lang_name((brig_lang)l),
		       (unsigned long long)m->runs[l]);
	printb(&b, "# HELP brig_run_errors_total Runs that ended in an error, by code.\n"
		   "# TYPE brig_run_errors_total counter\n");
	for (int e = 1; e < SERVE_NERRORS; e++) {
		if (m->errors[e])
			printb(&b, "brig_run_errors_total{code=\"%s\"} %llu\n", brig_err_name(-e),
			       (unsigned long long)m->errors[e]);
	}
	printb(&b, "# HELP brig_http_responses_total HTTP responses, by status class.\n"
		   "# TYPE brig_http_responses_total counter\n");
	for (int c = 1; c < 6; c++)
		printb(&b, "brig_http_responses_total{class=\"%dxx\"} %llu\n", c,
		       (unsigned long long)m->status[c]);
	printb(&b,
	       "# HELP brig_rejected_total Requests refused with 429 (queue full or rate).\n"
	       "# TYPE brig_rejected_total counter\nbrig_rejected_total %llu\n",
	       (unsigned long long)m->rejected);
	render_hist(&b, "brig_run_duration_seconds", "Time of runs and session calls.",
		    &m->run_seconds);
	render_hist(&b, "brig_http_request_duration_seconds", "Time of HTTP requests.",
		    &m->request_seconds);
	pthread_mutex_unlock(&m->mu);
	render_gauge(&b, "brig_runs_active", "Runs in progress.", active);
	render_gauge(&b, "brig_queue_depth", "Runs waiting for a slot.", queued);
	render_gauge(&b, "brig_sessions_active", "Open sessions.", sessions);
	return buf_steal(&b);
}
