/*
 * The parts of the CPU k-means that the device k-means reuses, so that
 * both seed, update and validate alike: the state of one start, k-means++
 * seeding, the centroid update with its handling of empty clusters, and
 * the inertia.
 * Internal to the kernels library.
 */
#ifndef BEAMLINE_KERNELS_CPU_KMEANS_H
#define BEAMLINE_KERNELS_CPU_KMEANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/kernels.h>

/* The data (n rows of d float64) and the state of one start. */
typedef struct bl__kmeans {
	const double *x;
	size_t n;
	size_t d;
	size_t k;
	double *centroids; /* k x d */
	double *previous;  /* k x d, the centroids before the update */
	double *sums;      /* k x d, per-cluster sums during the update */
	size_t *sizes;     /* k */
	int64_t *labels;   /* n */
	double *nearest;   /* n, squared distance to the nearest centroid */
	const bl_cancel_t *cancel;
} bl__kmeans_t;

/* Check the arguments of a k-means as bl_cpu_kmeans documents them.
 * Returns 0 or BL_EINVAL naming the field. */
int bl__kmeans_check_args(const bl_tensor_t *x, const bl_kmeans_args_t *args, bl_error_t *err);

/* Allocate the working arrays of *km, whose x, n, d, k and cancel are
 * set. Returns false when memory runs out, and bl__kmeans_destroy then
 * frees whatever was allocated. */
bool bl__kmeans_init(bl__kmeans_t *km);

/* Free the working arrays of *km (not km->x, which it borrows). */
void bl__kmeans_destroy(bl__kmeans_t *km);

/* Seed km->centroids by k-means++ from the generator *rng, leaving in
 * km->nearest each row's squared distance to its nearest seed. Returns 0
 * or BL_ECANCELED. */
int bl__kmeans_seed(bl__kmeans_t *km, uint64_t *rng);

/* Move each centroid to the mean of the rows km->labels gives it. An
 * empty cluster takes the row with the largest km->nearest. Returns the
 * largest distance any centroid moved. */
double bl__kmeans_update(bl__kmeans_t *km);

/* Return the sum of the squared distances of the rows to the centroids
 * km->labels gives them, summed in row order as an assignment sums it. */
double bl__kmeans_inertia(const bl__kmeans_t *km);

/* Copy the centroids and labels of *km, the inertia and the iteration
 * count into *best, whose tensors have the result's shapes. */
void bl__kmeans_keep(bl_kmeans_result_t *best, const bl__kmeans_t *km, double inertia, unsigned iterations);

#endif
