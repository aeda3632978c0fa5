/* Admission to `brig serve`'s runs: a bounded number at once, a bounded
 * queue behind them, and a token bucket per caller. */
#include "cli/serve.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t serve_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

void serve_admit_init(struct serve_admit *a, uint32_t max_active, uint32_t max_queue)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->max_active = max_active;
	a->max_queue = max_queue;
}

void serve_admit_destroy(struct serve_admit *a)
{
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->rates);
}

int serve_admit_enter(struct serve_admit *a)
{
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	if (a->active >= a->max_active) {
		if (a->waiting >= a->max_queue) {
			rc = -1;
			goto out;
		}
		a->waiting++;
		while (a->active >= a->max_active)
			pthread_cond_wait(&a->cv, &a->mu);
		a->waiting--;
	}
	a->active++;
out:
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void serve_admit_leave(struct serve_admit *a)
{
	pthread_mutex_lock(&a->mu);
	a->active--;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void serve_admit_counts(struct serve_admit *a, uint32_t *active, uint32_t *waiting)
{
	pthread_mutex_lock(&a->mu);
	*active = a->active;
	*waiting = a->waiting;
	pthread_mutex_unlock(&a->mu);
}

static struct serve_rate *rate_for(struct serve_admit *a, const char *name, double burst)
{
	struct serve_rate *v;

	for (size_t i = 0; i < a->nrates; i++) {
		if (strcmp(a->rates[i].name, name) == 0)
			return &a->rates[i];
	}
	/* One entry per token name of the tokens file: the table stays small. */
	if (!(v = realloc(a->rates, (a->nrates + 1) * sizeof(*v))))
		return NULL;
	a->rates = v;
	v = &a->rates[a->nrates++];
	memset(v, 0, sizeof(*v));
	strncpy(v->name, name, sizeof(v->name) - 1);
	v->tokens = burst;
	v->last_ms = serve_now_ms();
	return v;
}

int serve_admit_rate(struct serve_admit *a, const char *name, const struct serve_grant *g)
{
	struct serve_rate *r;
	uint64_t now = serve_now_ms();
	int rc = 0;

	if (!g || g->rate_per_s <= 0)
		return 0;
	pthread_mutex_lock(&a->mu);
	r = rate_for(a, name, g->rate_burst);
	if (!r) {
		rc = -1;
		goto out;
	}
	r->tokens += (double)(now - r->last_ms) / 1000.0 * g->rate_per_s;
	if (r->tokens > g->rate_burst)
		r->tokens = g->rate_burst;
	r->last_ms = now;
	if (r->tokens < 1.0)
		rc = -1;
	else
		r->tokens -= 1.0;
out:
	pthread_mutex_unlock(&a->mu);
	return rc;
}
