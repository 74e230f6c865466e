/*
 * Rendering a registry in the Prometheus text exposition format 0.0.4:
 * per metric a "# HELP" and a "# TYPE" line, then one line per series, or
 * per histogram series its cumulative buckets (the last with le="+Inf"),
 * _sum and _count.
 *
 * Escaping: in HELP text a backslash and a line feed become "\\" and
 * "\n"; in label values a double quote becomes "\"" as well.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

typedef struct text {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* out of memory; later appends do nothing */
} text_t;

static void reserve(text_t *t, size_t more)
{
	if (t->failed || t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *grown = realloc(t->data, cap);
	if (!grown) {
		t->failed = true;
		return;
	}
	t->data = grown;
	t->cap = cap;
}

static void put(text_t *t, const char *s, size_t n)
{
	reserve(t, n);
	if (t->failed)
		return;
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void puts_text(text_t *t, const char *s)
{
	put(t, s, strlen(s));
}

/* Append `s`, escaping backslash and line feed, and double quote when
 * `quote` is set. */
static void put_escaped(text_t *t, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_text(t, "\\\\");
		else if (*s == '\n')
			puts_text(t, "\\n");
		else if (quote && *s == '"')
			puts_text(t, "\\\"");
		else
			put(t, s, 1);
	}
}

/* Write `v` as the exposition format writes numbers: +Inf, -Inf, NaN, or
 * %.15g when that reads back as the same double, else %.17g (which
 * always does). */
static void format_number(char *buf, size_t size, double v)
{
	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(buf, size, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, size, "%.17g", v);
}

static void put_number(text_t *t, double v)
{
	char buf[40];
	format_number(buf, sizeof buf, v);
	puts_text(t, buf);
}

/* Append {name="value",...}, with `le` last when not NULL; nothing when
 * there are no labels at all. */
static void put_labels(text_t *t, const bl_metric_series_t *s, const char *le)
{
	const bl_metric_t *m = s->metric;
	if (m->label_count == 0 && !le)
		return;

	puts_text(t, "{");
	for (unsigned i = 0; i < m->label_count; i++) {
		if (i)
			puts_text(t, ",");
		puts_text(t, m->labels[i]);
		puts_text(t, "=\"");
		put_escaped(t, s->values[i], true);
		puts_text(t, "\"");
	}
	if (le) {
		puts_text(t, m->label_count ? ",le=\"" : "le=\"");
		puts_text(t, le);
		puts_text(t, "\"");
	}
	puts_text(t, "}");
}

static void put_sample(text_t *t, const bl_metric_series_t *s, const char *suffix, const char *le, double v)
{
	puts_text(t, s->metric->name);
	puts_text(t, suffix);
	put_labels(t, s, le);
	puts_text(t, " ");
	put_number(t, v);
	puts_text(t, "\n");
}

/* A histogram series: its buckets made cumulative from one read of each,
 * so the +Inf bucket and _count always agree. */
static void put_histogram(text_t *t, const bl_metric_series_t *s)
{
	const bl_metric_t *m = s->metric;
	uint64_t total = 0;
	char le[40];

	for (unsigned i = 0; i <= m->bucket_count; i++) {
		total += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		format_number(le, sizeof le, i == m->bucket_count ? INFINITY : m->buckets[i]);
		put_sample(t, s, "_bucket", le, (double)total);
	}
	put_sample(t, s, "_sum", NULL, bl__metric_load_double(&s->bits));
	put_sample(t, s, "_count", NULL, (double)total);
}

static void put_series(text_t *t, const bl_metric_series_t *s)
{
	double v = bl__metric_load_double(&s->bits);
	switch (s->metric->type) {
	case BL_METRIC_COUNTER:
		put_sample(t, s, "", NULL, (double)atomic_load_explicit(&s->count, memory_order_relaxed) + v);
		break;
	case BL_METRIC_GAUGE:
		put_sample(t, s, "", NULL, v);
		break;
	case BL_METRIC_HISTOGRAM:
		put_histogram(t, s);
		break;
	}
}

static void put_metric(text_t *t, const bl_metric_t *m)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	puts_text(t, "# HELP ");
	puts_text(t, m->name);
	puts_text(t, " ");
	put_escaped(t, m->help, false);
	puts_text(t, "\n# TYPE ");
	puts_text(t, m->name);
	puts_text(t, " ");
	puts_text(t, types[m->type]);
	puts_text(t, "\n");

	/* The acquire load pairs with the release store that published the
	 * series (metrics_series.c). */
	for (size_t i = 0; i <= m->mask; i++) {
		const bl_metric_series_t *s = atomic_load_explicit(&m->slots[i], memory_order_acquire);
		if (s)
			put_series(t, s);
	}
}

int bl_metrics_render(bl_metrics_t *r, char **out, size_t *len)
{
	text_t t = {0};

	pthread_mutex_lock(&r->render_lock);
	for (size_t i = 0; i < r->collector_count; i++)
		r->collectors[i].fn(r->collectors[i].ctx);
	reserve(&t, 0);
	if (!t.failed)
		t.data[0] = '\0';
	for (size_t i = 0; i < r->count; i++)
		put_metric(&t, r->metrics[i]);
	pthread_mutex_unlock(&r->render_lock);

	if (t.failed) {
		free(t.data);
		*out = NULL;
		*len = 0;
		return BL_ENOMEM;
	}
	*out = t.data;
	*len = t.len;
	return 0;
}
