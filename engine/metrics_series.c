/*
 * A metric's series: the lock-free table that finds them, their creation
 * under the series cap, and the atomic updates of their values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics_internal.h"

/* Which cap a new series counts against (see metrics.h). */
typedef enum series_kind {
	KIND_NORMAL,
	KIND_OVERFLOW,
	KIND_LAST, /* every label "_other"; always has room */
} series_kind_t;

/* Label values as stored: each cut to BL_METRICS_VALUE_MAX bytes. */
typedef struct key {
	const char *values[BL_METRICS_LABELS_MAX];
	size_t lens[BL_METRICS_LABELS_MAX];
	uint64_t hash;
} key_t;

/* ------------------------------------------------------------------------ */
/* Table                                                                     */
/* ------------------------------------------------------------------------ */

int bl__metric_table_init(bl_metric_t *m)
{
	size_t need = 2 * (2 * (size_t)m->max_series + 1);
	size_t slots = 16;
	while (slots < need)
		slots *= 2;
	m->slots = calloc(slots, sizeof *m->slots);
	m->mask = slots - 1;
	return m->slots ? 0 : BL_ENOMEM;
}

void bl__metric_table_destroy(bl_metric_t *m)
{
	if (!m->slots)
		return;
	for (size_t i = 0; i <= m->mask; i++)
		free(atomic_load_explicit(&m->slots[i], memory_order_relaxed));
	free(m->slots);
	m->slots = NULL;
}

/* The length of `s` cut to BL_METRICS_VALUE_MAX bytes without splitting a
 * UTF-8 character. */
static size_t cut_length(const char *s)
{
	size_t n = strnlen(s, BL_METRICS_VALUE_MAX + 1);
	if (n <= BL_METRICS_VALUE_MAX)
		return n;
	n = BL_METRICS_VALUE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* FNV-1a over the values, each followed by a 0xFF byte, which UTF-8 text
 * never contains, so ("ab", "c") and ("a", "bc") differ. */
static void make_key(const bl_metric_t *m, const char *const *values, key_t *k)
{
	uint64_t h = 14695981039346656037u;
	for (unsigned i = 0; i < m->label_count; i++) {
		k->values[i] = values && values[i] ? values[i] : "";
		k->lens[i] = cut_length(k->values[i]);
		for (size_t j = 0; j < k->lens[i]; j++)
			h = (h ^ (unsigned char)k->values[i][j]) * 1099511628211u;
		h = (h ^ 0xFF) * 1099511628211u;
	}
	k->hash = h;
}

static bool key_matches(const bl_metric_t *m, const bl_metric_series_t *s, const key_t *k)
{
	if (s->hash != k->hash)
		return false;
	for (unsigned i = 0; i < m->label_count; i++) {
		if (strncmp(s->values[i], k->values[i], k->lens[i]) != 0 || s->values[i][k->lens[i]] != '\0')
			return false;
	}
	return true;
}

/*
 * Find the series of *k. Returns it, or NULL with *empty set to the empty
 * slot where it would go. The acquire load pairs with the release store
 * in add_locked: a reader that sees the pointer sees the series' fields.
 */
static bl_metric_series_t *probe(const bl_metric_t *m, const key_t *k, size_t *empty)
{
	for (size_t i = k->hash & m->mask;; i = (i + 1) & m->mask) {
		bl_metric_series_t *s = atomic_load_explicit(&m->slots[i], memory_order_acquire);
		if (!s) {
			*empty = i;
			return NULL;
		}
		if (key_matches(m, s, k))
			return s;
	}
}

/* ------------------------------------------------------------------------ */
/* Creating series                                                           */
/* ------------------------------------------------------------------------ */

/* Build the series of *k and publish it in `slot`. */
static bl_metric_series_t *add_locked(bl_metric_t *m, const key_t *k, size_t slot)
{
	size_t buckets = m->type == BL_METRIC_HISTOGRAM ? m->bucket_count + 1u : 0;
	size_t size = sizeof(bl_metric_series_t) + buckets * sizeof(uint64_t);
	size_t text = 0;
	for (unsigned i = 0; i < m->label_count; i++)
		text += k->lens[i] + 1;

	bl_metric_series_t *s = calloc(1, size + text);
	if (!s)
		return NULL;
	s->metric = m;
	s->hash = k->hash;
	char *p = (char *)s + size;
	for (unsigned i = 0; i < m->label_count; i++) {
		memcpy(p, k->values[i], k->lens[i]);
		p[k->lens[i]] = '\0';
		s->values[i] = p;
		p += k->lens[i] + 1;
	}

	atomic_store_explicit(&m->slots[slot], s, memory_order_release);
	return s;
}

/* Whether a series of `kind` may still be created; counts it if so. */
static bool take_room_locked(bl_metric_t *m, series_kind_t kind)
{
	unsigned *count = kind == KIND_NORMAL ? &m->normal_count : &m->overflow_count;
	if (kind == KIND_LAST)
		return true;
	if (*count >= m->max_series) {
		if (kind == KIND_NORMAL && !m->cap_logged)
			BL_LOG(BL_LOG_WARN, "metrics", "metric_series_capped", NULL,
			       "a metric reached its series cap; new label sets are counted under \"_other\"",
			       BL_LOG_S("metric", m->name), BL_LOG_I("max_series", m->max_series));
		m->cap_logged = true;
		return false;
	}
	(*count)++;
	return true;
}

/* The label values that stand in for `values` past the cap of `kind`. */
static void overflow_values(const bl_metric_t *m, const char *const *values, series_kind_t kind,
			    const char **out)
{
	for (unsigned i = 0; i < m->label_count; i++) {
		bool keep = kind == KIND_OVERFLOW && m->tenant_label >= 0 && (int)i != m->tenant_label;
		out[i] = keep && values ? values[i] : BL_METRICS_OTHER;
	}
}

static bl_metric_series_t *find_or_add(bl_metric_t *m, const char *const *values, series_kind_t kind)
{
	key_t k;
	size_t slot;

	make_key(m, values, &k);
	bl_metric_series_t *s = probe(m, &k, &slot);
	if (s)
		return s;

	pthread_mutex_lock(&m->lock);
	s = probe(m, &k, &slot);
	bool full = !s && !take_room_locked(m, kind);
	if (!s && !full)
		s = add_locked(m, &k, slot);
	pthread_mutex_unlock(&m->lock);
	if (!full)
		return s;

	const char *other[BL_METRICS_LABELS_MAX];
	series_kind_t next = kind == KIND_NORMAL && m->tenant_label >= 0 ? KIND_OVERFLOW : KIND_LAST;
	overflow_values(m, values, next, other);
	return find_or_add(m, other, next);
}

bl_metric_series_t *bl_metric_series(bl_metric_t *metric, const char *const *values)
{
	return find_or_add(metric, values, KIND_NORMAL);
}

/* ------------------------------------------------------------------------ */
/* Updates                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t to_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return b;
}

double bl__metric_load_double(const uint64_t _Atomic *bits)
{
	uint64_t b = atomic_load_explicit(bits, memory_order_relaxed);
	double v;
	memcpy(&v, &b, sizeof v);
	return v;
}

/* Add to a double kept as bits. Relaxed: the value stands alone. */
static void add_double(uint64_t _Atomic *bits, double v)
{
	uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
	double now;
	do
		memcpy(&now, &old, sizeof now);
	while (!atomic_compare_exchange_weak_explicit(bits, &old, to_bits(now + v), memory_order_relaxed,
						      memory_order_relaxed));
}

void bl_metric_inc(bl_metric_series_t *s)
{
	bl_metric_add(s, 1.0);
}

void bl_metric_add(bl_metric_series_t *s, double value)
{
	if (!s || isnan(value))
		return;
	if (s->metric->type == BL_METRIC_GAUGE) {
		add_double(&s->bits, value);
		return;
	}
	if (s->metric->type != BL_METRIC_COUNTER || value < 0)
		return;

	/* Whole increments stay exact past 2^53 in the integer part. */
	if (value == floor(value) && value < 9007199254740992.0)
		atomic_fetch_add_explicit(&s->count, (uint64_t)value, memory_order_relaxed);
	else
		add_double(&s->bits, value);
}

void bl_metric_set(bl_metric_series_t *s, double value)
{
	if (!s || isnan(value) || s->metric->type == BL_METRIC_HISTOGRAM)
		return;
	if (s->metric->type == BL_METRIC_COUNTER)
		atomic_store_explicit(&s->count, 0, memory_order_relaxed);
	atomic_store_explicit(&s->bits, to_bits(value), memory_order_relaxed);
}

void bl_metric_observe(bl_metric_series_t *s, double value)
{
	if (!s || isnan(value) || s->metric->type != BL_METRIC_HISTOGRAM)
		return;

	const bl_metric_t *m = s->metric;
	unsigned i = 0;
	while (i < m->bucket_count && value > m->buckets[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	add_double(&s->bits, value);
}
