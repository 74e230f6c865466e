/*
 * The metrics registry under many threads: updates lose nothing, series
 * made on first use by racing threads are made once, and renders run
 * while updates go on. Run under ThreadSanitizer by the tsan preset.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_text.h"

#define THREADS 8
#define UPDATES 20000
#define TENANTS 4

typedef struct shared {
	bl_metric_t *counter;
	bl_metric_t *histogram;
	bl_metric_t *gauge;
	bl_metrics_t *registry;
	bool _Atomic stop;
	pthread_barrier_t start;
} shared_t;

/* Each thread spreads its updates over every tenant, so all threads race
 * to create the same series at their first update. */
static void *update(void *arg)
{
	shared_t *s = arg;
	char tenants[TENANTS][24];
	for (int t = 0; t < TENANTS; t++)
		snprintf(tenants[t], sizeof tenants[t], "tenant-%d", t);
	pthread_barrier_wait(&s->start);

	for (int i = 0; i < UPDATES; i++) {
		const char *labels[] = {tenants[i % TENANTS]};
		bl_metric_inc(bl_metric_series(s->counter, labels));
		bl_metric_observe(bl_metric_series(s->histogram, labels), (double)(i % 3));
		bl_metric_add(bl_metric_series(s->gauge, NULL), 1);
		bl_metric_add(bl_metric_series(s->gauge, NULL), -1);
	}
	return NULL;
}

/* Renders while the updates run; every histogram read must be
 * self-consistent: its +Inf bucket equal to its _count. */
static void *scrape(void *arg)
{
	shared_t *s = arg;
	int renders = 0;
	pthread_barrier_wait(&s->start);
	while (!atomic_load(&s->stop) || renders == 0) {
		char *text = NULL;
		size_t len;
		cr_assert_eq(bl_metrics_render(s->registry, &text, &len), 0);
		double inf = sample(text, "latency_seconds_bucket{tenant=\"tenant-0\",le=\"+Inf\"}");
		double count = sample(text, "latency_seconds_count{tenant=\"tenant-0\"}");
		cr_assert(isnan(inf) == isnan(count), "one render has +Inf %g and _count %g", inf, count);
		if (!isnan(inf))
			cr_assert_eq(inf, count, "the +Inf bucket is %g, _count %g", inf, count);
		free(text);
		renders++;
	}
	return NULL;
}

static void register_all(shared_t *s)
{
	static const char *const labels[] = {"tenant", NULL};
	static const double buckets[] = {0.5, 1.5};
	bl_metric_desc_t c = {.name = "updates_total", .help = "Updates.", .type = BL_METRIC_COUNTER, .labels = labels};
	bl_metric_desc_t h = {.name = "latency_seconds", .help = "Latency.", .type = BL_METRIC_HISTOGRAM,
			      .labels = labels, .buckets = buckets, .bucket_count = 2};
	bl_metric_desc_t g = {.name = "in_progress", .help = "In progress.", .type = BL_METRIC_GAUGE};

	cr_assert_eq(bl_metrics_new(&s->registry), 0);
	cr_assert_eq(bl_metrics_register(s->registry, &c, &s->counter, NULL), 0);
	cr_assert_eq(bl_metrics_register(s->registry, &h, &s->histogram, NULL), 0);
	cr_assert_eq(bl_metrics_register(s->registry, &g, &s->gauge, NULL), 0);
}

/* 8 threads × 20,000 updates over 4 tenants: each tenant's counter and
 * histogram count 8 × 5,000 = 40,000; the values 0, 1, 2 in turn put
 * a third in each bucket, give bucket 0.5 about a third and a _sum of
 * the exact total; the gauge, up then down each time, ends at 0. One
 * series per tenant: racing creators made each once. */
Test(engine_metrics_threads, concurrent_updates_are_exact, .timeout = 120)
{
	shared_t s = {0};
	pthread_t threads[THREADS + 1];
	register_all(&s);
	pthread_barrier_init(&s.start, NULL, THREADS + 1 + 1);

	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, update, &s), 0);
	cr_assert_eq(pthread_create(&threads[THREADS], NULL, scrape, &s), 0);
	pthread_barrier_wait(&s.start);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	atomic_store(&s.stop, true);
	pthread_join(threads[THREADS], NULL);
	char *text = render(s.registry);

	/* Per thread, i % 4 == t for 5,000 values of i; of those, i % 3 takes
	 * each of 0, 1, 2 by a count that depends on t; the sum is checked
	 * against the same loop run here. */
	for (int t = 0; t < TENANTS; t++) {
		double sum = 0;
		double zeros = 0;
		for (int i = t; i < UPDATES; i += TENANTS) {
			sum += i % 3;
			zeros += i % 3 == 0;
		}
		char series[128];
		snprintf(series, sizeof series, "updates_total{tenant=\"tenant-%d\"}", t);
		cr_expect_eq(sample(text, series), (double)THREADS * UPDATES / TENANTS, "%s", series);
		snprintf(series, sizeof series, "latency_seconds_count{tenant=\"tenant-%d\"}", t);
		cr_expect_eq(sample(text, series), (double)THREADS * UPDATES / TENANTS, "%s", series);
		snprintf(series, sizeof series, "latency_seconds_bucket{tenant=\"tenant-%d\",le=\"0.5\"}", t);
		cr_expect_eq(sample(text, series), THREADS * zeros, "%s", series);
		snprintf(series, sizeof series, "latency_seconds_sum{tenant=\"tenant-%d\"}", t);
		cr_expect_eq(sample(text, series), THREADS * sum, "%s", series);
	}
	cr_expect_eq(count_lines(text, "updates_total{"), TENANTS, "%s", text);
	cr_expect_eq(sample(text, "in_progress"), 0.0, "%s", text);
	free(text);
	pthread_barrier_destroy(&s.start);
	bl_metrics_free(&s.registry);
}

typedef struct flood {
	bl_metric_t *counter;
	int base;
} flood_t;

static void *flood_tenants(void *arg)
{
	const flood_t *f = arg;
	for (int i = 0; i < 500; i++) {
		char tenant[32];
		snprintf(tenant, sizeof tenant, "t-%d-%d", f->base, i);
		const char *labels[] = {tenant};
		bl_metric_inc(bl_metric_series(f->counter, labels));
	}
	return NULL;
}

/* 4 threads each bring 500 new tenants to a metric capped at 100 series:
 * exactly 100 tenants get a series, the other 1,900 jobs go to "_other",
 * and nothing is lost. */
Test(engine_metrics_threads, tenant_flood_is_capped, .timeout = 60)
{
	static const char *const labels[] = {"tenant", NULL};
	bl_metric_desc_t d = {.name = "flood_total", .help = "Flood.", .type = BL_METRIC_COUNTER, .labels = labels,
			      .max_series = 100};
	bl_metrics_t *r;
	bl_metric_t *m;
	pthread_t threads[4];
	flood_t floods[4];
	cr_assert_eq(bl_metrics_new(&r), 0);
	cr_assert_eq(bl_metrics_register(r, &d, &m, NULL), 0);

	for (int i = 0; i < 4; i++) {
		floods[i] = (flood_t){m, i};
		cr_assert_eq(pthread_create(&threads[i], NULL, flood_tenants, &floods[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	char *text = render(r);

	cr_expect_eq(count_lines(text, "flood_total{"), 101, "%d series", count_lines(text, "flood_total{"));
	cr_expect_eq(sample(text, "flood_total{tenant=\"_other\"}"), 1900.0, "%s",
		     strstr(text, "_other") ? strstr(text, "_other") : "no _other series");
	free(text);
	bl_metrics_free(&r);
}
