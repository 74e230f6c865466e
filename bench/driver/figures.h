/*
 * The figures of one `beamline-bench run`: every sample of every figure,
 * with the peer measured beside it, gathered over the repetitions.
 */
#ifndef BL_BENCH_FIGURES_H
#define BL_BENCH_FIGURES_H

#include <stdbool.h>

#include <jansson.h>

#include "stats.h"

typedef enum better {
	BETTER_HIGHER, /* throughput, bandwidth */
	BETTER_LOWER,  /* time, latency, bytes */
} better_t;

typedef struct figure {
	char id[128]; /* "suite.name" */
	char unit[48];
	better_t better;
	sample_t values; /* one per repetition */
	char peer[48];   /* "" when nothing was measured beside it */
	sample_t peer_values;
	sample_t ratios; /* value / peer value, one per repetition with both */
} figure_t;

typedef struct figures {
	figure_t *items;
	size_t count;
	size_t capacity;
} figures_t;

/*
 * Add one repetition's value of figure `suite`.`name`, creating the figure
 * on first use. `peer` (borrowed, NULL for none) names what was measured
 * beside it in the same repetition, with `peer_value`. A value that is not
 * finite is dropped, so it never reaches a median. A peer value that is
 * not finite, such as that of a peer that timed out, leaves that
 * repetition without a ratio. Returns 0, or -EINVAL when the figure exists
 * with another unit, direction or peer.
 */
int figures_add(figures_t *f, const char *suite, const char *name, const char *unit, better_t better, double value,
		const char *peer, double peer_value);

/* The "figures" array of the run document; returns owned (json_decref). */
json_t *figures_json(const figures_t *f);

void figures_free(figures_t *f);

/* "higher" or "lower". */
const char *better_name(better_t better);

/* A finite double as a JSON real, anything else as null: JSON has no NaN. */
json_t *json_finite(double value);

#endif
