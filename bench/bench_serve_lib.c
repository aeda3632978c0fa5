/*
 * The library's side of `brig serve`'s load figures: N runs of Python
 * `pass`, each a fresh sandbox from a warm executor, on C threads at once,
 * as `brig serve` makes them (bench/bench.py puts wrk's figures for
 * POST /v1/run next to these).
 *
 * usage: bench_serve_lib CONCURRENCY N
 * prints: runs_per_s R p50_ms P p99_ms Q errors E warm W
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brig.h"

struct shared {
	brig_executor *ex;
	atomic_int next, errors, warm;
	int n;
	double *lat_ms;
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *worker(void *arg)
{
	struct shared *s = arg;
	int i;

	while ((i = atomic_fetch_add(&s->next, 1)) < s->n) {
		brig_result *r = NULL;
		double t0 = now_ms();

		brig_run(s->ex, BRIG_LANG_PYTHON, "pass", 4, NULL, &r);
		s->lat_ms[i] = now_ms() - t0;
		if (!r || brig_result_error(r) || brig_result_exit_code(r))
			atomic_fetch_add(&s->errors, 1);
		else
			atomic_fetch_add(&s->warm, brig_result_warm(r));
		brig_result_free(r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct shared s = {0};
	brig_config cfg;
	pthread_t *t;
	char *why = NULL;
	int c = argc == 3 ? atoi(argv[1]) : 0;
	double t0, secs;

	s.n = argc == 3 ? atoi(argv[2]) : 0;
	if (c < 1 || s.n < 1) {
		fprintf(stderr, "usage: bench_serve_lib CONCURRENCY N\n");
		return 2;
	}
	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	cfg.warm_start = 1;
	if (brig_executor_new(&cfg, &s.ex, &why)) {
		fprintf(stderr, "bench: %s\n", why ? why : "executor unavailable");
		return 1;
	}
	brig_executor_prewarm(s.ex, BRIG_LANG_PYTHON, 10000);
	s.lat_ms = calloc((size_t)s.n, sizeof(double));
	t = calloc((size_t)c, sizeof(pthread_t));
	if (!s.lat_ms || !t)
		return 1;
	t0 = now_ms();
	for (int i = 0; i < c; i++)
		pthread_create(&t[i], NULL, worker, &s);
	for (int i = 0; i < c; i++)
		pthread_join(t[i], NULL);
	secs = (now_ms() - t0) / 1e3;
	qsort(s.lat_ms, (size_t)s.n, sizeof(double), cmp);
	printf("runs_per_s %.1f p50_ms %.2f p99_ms %.2f errors %d warm %d\n", s.n / secs,
	       s.lat_ms[s.n / 2], s.lat_ms[(size_t)s.n * 99 / 100], atomic_load(&s.errors),
	       atomic_load(&s.warm));
	free(s.lat_ms);
	free(t);
	brig_executor_free(s.ex);
	return 0;
}
