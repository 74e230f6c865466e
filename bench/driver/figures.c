#include "figures.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *better_name(better_t better)
{
	return better == BETTER_HIGHER ? "higher" : "lower";
}

json_t *json_finite(double value)
{
	return isfinite(value) ? json_real(value) : json_null();
}

static figure_t *find(figures_t *f, const char *id)
{
	for (size_t i = 0; i < f->count; i++) {
		if (strcmp(f->items[i].id, id) == 0)
			return &f->items[i];
	}
	return NULL;
}

static figure_t *append(figures_t *f)
{
	if (f->count == f->capacity) {
		size_t capacity = f->capacity ? f->capacity * 2 : 32;
		figure_t *items = realloc(f->items, capacity * sizeof *items);
		if (!items) {
			fputs("beamline-bench: out of memory\n", stderr);
			abort();
		}
		f->items = items;
		f->capacity = capacity;
	}
	figure_t *fig = &f->items[f->count++];
	*fig = (figure_t){0};
	return fig;
}

int figures_add(figures_t *f, const char *suite, const char *name, const char *unit, better_t better, double value,
		const char *peer, double peer_value)
{
	char id[sizeof f->items->id];
	snprintf(id, sizeof id, "%s.%s", suite, name);
	figure_t *fig = find(f, id);

	if (!fig) {
		fig = append(f);
		snprintf(fig->id, sizeof fig->id, "%s", id);
		snprintf(fig->unit, sizeof fig->unit, "%s", unit);
		snprintf(fig->peer, sizeof fig->peer, "%s", peer ? peer : "");
		fig->better = better;
	} else if (strcmp(fig->unit, unit) != 0 || fig->better != better) {
		return -EINVAL;
	}
	if (peer && !fig->peer[0])
		snprintf(fig->peer, sizeof fig->peer, "%s", peer);
	else if (peer && strcmp(fig->peer, peer) != 0)
		return -EINVAL;

	if (!isfinite(value))
		return 0;
	sample_add(&fig->values, value);
	if (peer && isfinite(peer_value)) {
		sample_add(&fig->peer_values, peer_value);
		if (peer_value != 0)
			sample_add(&fig->ratios, value / peer_value);
	}
	return 0;
}

static json_t *values_json(const sample_t *s)
{
	json_t *values = json_array();
	for (size_t i = 0; i < s->count; i++)
		json_array_append_new(values, json_real(s->values[i]));
	return values;
}

static json_t *figure_json(const figure_t *fig)
{
	const sample_t *v = &fig->values;
	json_t *obj =
		json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", fig->id, "unit", fig->unit, "better",
			  better_name(fig->better), "reps", (json_int_t)v->count, "samples", values_json(v), "median",
			  json_finite(sample_median(v)), "min", json_finite(sample_min(v)), "max",
			  json_finite(sample_max(v)), "mad", json_finite(sample_mad(v)));
	if (fig->peer_values.count == 0)
		return obj;

	json_object_set_new(obj, "peer",
			    json_pack("{s:s, s:o, s:o}", "name", fig->peer, "median",
				      json_finite(sample_median(&fig->peer_values)), "samples",
				      values_json(&fig->peer_values)));
	double ratio = sample_median(&fig->values) / sample_median(&fig->peer_values);
	json_object_set_new(obj, "ratio", json_finite(ratio));
	json_object_set_new(obj, "ratio_samples", values_json(&fig->ratios));
	return obj;
}

json_t *figures_json(const figures_t *f)
{
	json_t *array = json_array();
	/* A figure whose every repetition failed has nothing to report, and
	 * its suite's entry gives the reason. */
	for (size_t i = 0; i < f->count; i++) {
		if (f->items[i].values.count > 0)
			json_array_append_new(array, figure_json(&f->items[i]));
	}
	return array;
}

void figures_free(figures_t *f)
{
	for (size_t i = 0; i < f->count; i++) {
		sample_free(&f->items[i].values);
		sample_free(&f->items[i].peer_values);
		sample_free(&f->items[i].ratios);
	}
	free(f->items);
	*f = (figures_t){0};
}
