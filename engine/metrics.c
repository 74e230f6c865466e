/*
 * The metrics registry: its lifecycle, the checks on each metric's
 * description, and the collectors a render runs first.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

int bl_metrics_new(bl_metrics_t **out)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return BL_ENOMEM;
	pthread_mutex_init(&(*out)->render_lock, NULL);
	return 0;
}

static void metric_free(bl_metric_t *m)
{
	if (!m)
		return;
	bl__metric_table_destroy(m);
	pthread_mutex_destroy(&m->lock);
	for (unsigned i = 0; i < m->label_count; i++)
		free(m->labels[i]);
	free(m->name);
	free(m->help);
	free(m);
}

void bl_metrics_free(bl_metrics_t **metrics)
{
	bl_metrics_t *r = *metrics;
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		metric_free(r->metrics[i]);
	free(r->metrics);
	for (size_t i = 0; i < r->collector_count; i++) {
		if (r->collectors[i].free_ctx)
			r->collectors[i].free_ctx(r->collectors[i].ctx);
	}
	free(r->collectors);
	pthread_mutex_destroy(&r->render_lock);
	free(r);
	*metrics = NULL;
}

/* ------------------------------------------------------------------------ */
/* Checking a description                                                    */
/* ------------------------------------------------------------------------ */

static bool is_name_char(char c, bool first, bool colon_allowed)
{
	bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
	return letter || (!first && c >= '0' && c <= '9');
}

static bool is_name(const char *s, bool colon_allowed)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		if (!is_name_char(s[i], i == 0, colon_allowed))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int check_labels(const bl_metric_desc_t *d, bl_error_t *err)
{
	size_t n = 0;
	for (; d->labels && d->labels[n]; n++) {
		const char *label = d->labels[n];
		if (n == BL_METRICS_LABELS_MAX)
			return bl_error_set(err, BL_ELIMIT, d->name, "more than %d labels", BL_METRICS_LABELS_MAX);
		if (!is_name(label, false) || strncmp(label, "__", 2) == 0)
			return bl_error_set(err, BL_EINVAL, d->name,
					    "label name '%s' is invalid: expected [a-zA-Z_][a-zA-Z0-9_]* not starting "
					    "with \"__\"",
					    label);
		if (d->type == BL_METRIC_HISTOGRAM && strcmp(label, "le") == 0)
			return bl_error_set(err, BL_EINVAL, d->name, "a histogram cannot have a label named \"le\"");
		for (size_t j = 0; j < n; j++) {
			if (strcmp(d->labels[j], label) == 0)
				return bl_error_set(err, BL_EINVAL, d->name, "label '%s' appears twice", label);
		}
	}
	return 0;
}

static int check_buckets(const bl_metric_desc_t *d, bl_error_t *err)
{
	if (d->type != BL_METRIC_HISTOGRAM)
		return 0;
	if (d->bucket_count == 0 || !d->buckets)
		return bl_error_set(err, BL_EINVAL, d->name, "a histogram needs at least one bucket");
	if (d->bucket_count > BL_METRICS_BUCKETS_MAX)
		return bl_error_set(err, BL_ELIMIT, d->name, "%zu buckets, at most %d", d->bucket_count,
				    BL_METRICS_BUCKETS_MAX);
	for (size_t i = 0; i < d->bucket_count; i++) {
		if (!isfinite(d->buckets[i]) || (i > 0 && !(d->buckets[i] > d->buckets[i - 1])))
			return bl_error_set(err, BL_EINVAL, d->name,
					    "bucket %zu (%g) is not finite or not above the one before it", i,
					    d->buckets[i]);
	}
	return 0;
}

static int check_desc(const bl_metrics_t *r, const bl_metric_desc_t *d, bl_error_t *err)
{
	if (!is_name(d->name, true))
		return bl_error_set(err, BL_EINVAL, d->name ? d->name : "name",
				    "metric name is invalid: expected [a-zA-Z_:][a-zA-Z0-9_:]*");
	if (d->type == BL_METRIC_COUNTER && !ends_with(d->name, "_total"))
		return bl_error_set(err, BL_EINVAL, d->name, "a counter's name must end in \"_total\"");
	if (d->type != BL_METRIC_COUNTER && ends_with(d->name, "_total"))
		return bl_error_set(err, BL_EINVAL, d->name, "only a counter's name may end in \"_total\"");
	if (!d->help || !*d->help || strchr(d->help, '\n'))
		return bl_error_set(err, BL_EINVAL, d->name, "the help text must be one line, not empty");
	for (size_t i = 0; i < r->count; i++) {
		if (strcmp(r->metrics[i]->name, d->name) == 0)
			return bl_error_set(err, BL_EINVAL, d->name, "a metric of this name is already registered");
	}

	int rc = check_labels(d, err);
	return rc < 0 ? rc : check_buckets(d, err);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

/* Copy the names and buckets of *d into `m`. Returns 0 or BL_ENOMEM. */
static int copy_desc(bl_metric_t *m, const bl_metric_desc_t *d)
{
	m->name = strdup(d->name);
	m->help = strdup(d->help);
	m->type = d->type;
	m->tenant_label = -1;
	for (; d->labels && d->labels[m->label_count]; m->label_count++) {
		unsigned i = m->label_count;
		m->labels[i] = strdup(d->labels[i]);
		if (!m->labels[i])
			return BL_ENOMEM;
		if (strcmp(d->labels[i], "tenant") == 0)
			m->tenant_label = (int)i;
	}
	m->bucket_count = d->type == BL_METRIC_HISTOGRAM ? (unsigned)d->bucket_count : 0;
	if (m->bucket_count)
		memcpy(m->buckets, d->buckets, m->bucket_count * sizeof *m->buckets);
	m->max_series = d->max_series ? d->max_series : BL_METRICS_SERIES_DEFAULT;
	return m->name && m->help ? 0 : BL_ENOMEM;
}

int bl_metrics_register(bl_metrics_t *r, const bl_metric_desc_t *d, bl_metric_t **out, bl_error_t *err)
{
	*out = NULL;
	int rc = check_desc(r, d, err);
	if (rc < 0)
		return rc;

	bl_metric_t *m = calloc(1, sizeof *m);
	bl_metric_t **grown = realloc(r->metrics, (r->count + 1) * sizeof *grown);
	if (grown)
		r->metrics = grown;
	if (!m || !grown) {
		free(m);
		return bl_error_set(err, BL_ENOMEM, d->name, "out of memory registering the metric");
	}
	m->registry = r;
	pthread_mutex_init(&m->lock, NULL);
	rc = copy_desc(m, d);
	if (rc == 0)
		rc = bl__metric_table_init(m);
	if (rc < 0) {
		metric_free(m);
		return bl_error_set(err, rc, d->name, "out of memory registering the metric");
	}

	/* A metric without labels has exactly one series: make it now, so it
	 * renders as 0 before its first update. */
	if (m->label_count == 0 && !bl_metric_series(m, NULL)) {
		metric_free(m);
		return bl_error_set(err, BL_ENOMEM, d->name, "out of memory registering the metric");
	}
	r->metrics[r->count++] = m;
	*out = m;
	return 0;
}

int bl_metrics_add_collector(bl_metrics_t *r, bl_metrics_collect_fn fn, void *ctx, void (*free_ctx)(void *))
{
	collector_t *grown = realloc(r->collectors, (r->collector_count + 1) * sizeof *grown);
	if (!grown) {
		if (free_ctx)
			free_ctx(ctx);
		return BL_ENOMEM;
	}
	r->collectors = grown;
	r->collectors[r->collector_count++] = (collector_t){fn, ctx, free_ctx};
	return 0;
}
