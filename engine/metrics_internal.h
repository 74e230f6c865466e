/*
 * The registry's data structures, shared by metrics.c (registration),
 * metrics_series.c (finding and updating series) and metrics_render.c.
 *
 * A metric's series live in an open-addressing table of atomic pointers
 * that never moves: readers probe it without a lock, and a new series is
 * written into its empty slot with a release store under the metric's
 * lock, after it is fully built. The table has room for twice the series
 * the cap allows (normal, overflow and the all-"_other" one), so probing
 * always ends at an empty slot or a match.
 */
#ifndef BL_ENGINE_METRICS_INTERNAL_H
#define BL_ENGINE_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"

struct bl_metric_series {
	/* Set once, before the series is published. */
	bl_metric_t *metric;
	uint64_t hash;
	char *values[BL_METRICS_LABELS_MAX]; /* point into the same allocation */

	/* Shared; every update is a relaxed atomic, since each value stands
	 * alone and renders need no order between them. */
	uint64_t _Atomic count;       /* a counter's integer increments */
	uint64_t _Atomic bits;        /* a double: gauge value, counter's fractional adds, histogram sum */
	uint64_t _Atomic buckets[];   /* a histogram's per-bucket counts (not cumulative), +Inf last */
};

struct bl_metric {
	/* Set once at registration. */
	bl_metrics_t *registry;
	char *name;
	char *help;
	bl_metric_type_t type;
	char *labels[BL_METRICS_LABELS_MAX];
	unsigned label_count;
	int tenant_label;             /* index of the "tenant" label; -1 when none */
	double buckets[BL_METRICS_BUCKETS_MAX];
	unsigned bucket_count;
	unsigned max_series;

	/* The series table: slots read by anyone, written under `lock`. */
	bl_metric_series_t *_Atomic *slots;
	size_t mask;                  /* slot count - 1; the count is a power of two */
	pthread_mutex_t lock;
	unsigned normal_count;        /* guarded by lock */
	unsigned overflow_count;      /* guarded by lock */
	bool cap_logged;              /* guarded by lock */
};

typedef struct collector {
	bl_metrics_collect_fn fn;
	void *ctx;
	void (*free_ctx)(void *ctx); /* NULL: ctx is borrowed */
} collector_t;

struct bl_metrics {
	/* Set before the registry is shared. */
	bl_metric_t **metrics;
	size_t count;
	collector_t *collectors;
	size_t collector_count;

	pthread_mutex_t render_lock;  /* one render at a time, collectors included */
};

/* Make the series table of `metric` from its max_series. Returns 0 or
 * BL_ENOMEM. */
int bl__metric_table_init(bl_metric_t *metric);

/* Free the table and every series in it. */
void bl__metric_table_destroy(bl_metric_t *metric);

/* Read a double stored as bits in an atomic. */
double bl__metric_load_double(const uint64_t _Atomic *bits);

#endif
