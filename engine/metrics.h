/*
 * A metrics registry: counters, gauges and histograms with label sets,
 * rendered in the Prometheus text exposition format 0.0.4.
 *
 * Threads. Metrics and collectors are added by one thread before the
 * first render, and while no other thread adds any. bl_metric_series and
 * every update (inc, add, set, observe) are safe from any thread: a
 * series is found without a lock, and its value is a set of atomics. Only the first use
 * of a new label set takes the metric's lock, to create the series.
 * Rendering may run on any thread. Renders are serialised among
 * themselves and run concurrently with updates, so one render is not one
 * snapshot. Each histogram series is self-consistent, though: its +Inf
 * bucket and _count come from the same reads of its buckets.
 *
 * Series cap. Each metric holds at most `max_series` label sets. Past
 * that, a new label set goes to an overflow series whose "tenant" label
 * is "_other" (every label is "_other" when the metric has no "tenant"
 * label), so a flood of tenant names cannot grow memory without bound.
 * The overflow series are capped at `max_series` too; past both caps,
 * updates go to the one series whose labels are all "_other".
 *
 * Series are never removed while the registry lives.
 */
#ifndef BL_ENGINE_METRICS_H
#define BL_ENGINE_METRICS_H

#include <stddef.h>

#include <beamline/error.h>

/* Labels per metric, at most. */
#define BL_METRICS_LABELS_MAX 4
/* Buckets per histogram, at most, not counting +Inf. */
#define BL_METRICS_BUCKETS_MAX 32
/* Series per metric when the description gives 0. */
#define BL_METRICS_SERIES_DEFAULT 1000
/* Bytes of one label value, at most; a longer one is cut at a UTF-8
 * character boundary. */
#define BL_METRICS_VALUE_MAX 128
/* The label value that takes the series past the cap. */
#define BL_METRICS_OTHER "_other"

typedef struct bl_metrics bl_metrics_t;
typedef struct bl_metric bl_metric_t;
typedef struct bl_metric_series bl_metric_series_t;

typedef enum bl_metric_type {
	BL_METRIC_COUNTER,
	BL_METRIC_GAUGE,
	BL_METRIC_HISTOGRAM,
} bl_metric_type_t;

/* What a metric is; every pointer is borrowed for the call only. */
typedef struct bl_metric_desc {
	const char *name;               /* [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in "_total" */
	const char *help;               /* one line of text */
	bl_metric_type_t type;
	const char *const *labels;      /* NULL-terminated label names; NULL: none */
	const double *buckets;          /* a histogram's upper bounds, strictly increasing and finite */
	size_t bucket_count;
	unsigned max_series;            /* 0: BL_METRICS_SERIES_DEFAULT */
} bl_metric_desc_t;

/* A function a render calls first, to set gauges (or counters mirrored
 * from another source) from the state they describe. Runs on the
 * rendering thread; renders never overlap. */
typedef void (*bl_metrics_collect_fn)(void *ctx);

/* Make an empty registry. Returns 0 and an owned registry (free with
 * bl_metrics_free), or BL_ENOMEM. */
int bl_metrics_new(bl_metrics_t **out);

/* Free the registry, its metrics and their series. Takes *metrics; NULL
 * is fine. No other thread may use it any more. */
void bl_metrics_free(bl_metrics_t **metrics);

/*
 * Add a metric described by *desc (copied). Returns 0 and the metric in
 * *out (borrowed for the registry's life), or BL_EINVAL with *err naming
 * what is wrong (a bad name, a counter without "_total", a label named
 * "le" on a histogram, unordered buckets, a name already registered),
 * BL_ELIMIT past BL_METRICS_LABELS_MAX or BL_METRICS_BUCKETS_MAX, or
 * BL_ENOMEM. Call before the first render (see the top of this file).
 */
int bl_metrics_register(bl_metrics_t *metrics, const bl_metric_desc_t *desc, bl_metric_t **out, bl_error_t *err);

/*
 * Call `fn(ctx)` at the start of every render, in the order added. With
 * `free_ctx` NULL, `ctx` is borrowed for the registry's life; otherwise
 * the registry takes it and frees it with free_ctx(ctx), also when this
 * call fails. Returns 0 or BL_ENOMEM. Call before the first render.
 */
int bl_metrics_add_collector(bl_metrics_t *metrics, bl_metrics_collect_fn fn, void *ctx, void (*free_ctx)(void *));

/*
 * Return the series of `metric` for `values`, creating it on first use,
 * or an overflow series past the cap (see the top of this file).
 * `values` is borrowed and holds one value per label, in the order of the
 * description; a NULL value is read as "".
 * The series is borrowed for the registry's life. Returns NULL only when
 * memory runs out; the update functions then do nothing. Any thread.
 */
bl_metric_series_t *bl_metric_series(bl_metric_t *metric, const char *const *values);

/* Add 1 to a counter or a gauge. Any thread. */
void bl_metric_inc(bl_metric_series_t *series);

/* Add `value` to a counter (ignored when negative or NaN, since a counter
 * only grows) or to a gauge. Any thread. */
void bl_metric_add(bl_metric_series_t *series, double value);

/* Set a gauge to `value`; on a counter, for collectors that mirror a
 * monotonic source, set the counter's value. Any thread. */
void bl_metric_set(bl_metric_series_t *series, double value);

/* Count `value` in a histogram's bucket and sum (NaN is ignored). Any
 * thread. */
void bl_metric_observe(bl_metric_series_t *series, double value);

/*
 * Run the collectors, then render every metric, with its HELP and TYPE
 * lines, in the text exposition format 0.0.4. Returns 0 and owned text
 * in *out (free with free()) of *len bytes, or BL_ENOMEM. Any thread.
 */
int bl_metrics_render(bl_metrics_t *metrics, char **out, size_t *len);

/* The Content-Type of the rendered text. */
#define BL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
