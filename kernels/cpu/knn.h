/*
 * The parts of the CPU k-nearest-neighbour classifier that the device
 * version reuses, so that both validate and vote alike. Internal to the
 * kernels library.
 */
#ifndef BEAMLINE_KERNELS_CPU_KNN_H
#define BEAMLINE_KERNELS_CPU_KNN_H

#include <stddef.h>
#include <stdint.h>

#include <beamline/kernels.h>

/* A training row by its squared distance to the test row. */
typedef struct bl__knn_neighbour {
	double dist;
	size_t index;
} bl__knn_neighbour_t;

/* Votes for one label among the k neighbours. */
typedef struct bl__knn_tally {
	int64_t label;
	size_t votes;
	double nearest; /* distance of the label's nearest neighbour */
} bl__knn_tally_t;

/* Check the arguments of a classification as bl_cpu_knn documents them.
 * Returns 0 or BL_EINVAL naming the field. */
int bl__knn_check_args(const bl_tensor_t *train_x, const bl_tensor_t *train_y, const bl_tensor_t *test_x, size_t k,
		       bl_error_t *err);

/*
 * Return the label most of the k neighbours hold, which must come nearest
 * first, by distance and then by training index. A tie goes to the label
 * whose nearest neighbour is closer, then to the smaller label. train_y
 * contains int32 or int64 labels, and `tallies` has room for k entries.
 */
int64_t bl__knn_vote(const bl__knn_neighbour_t *neighbours, size_t k, const bl_tensor_t *train_y,
		     bl__knn_tally_t *tallies);

#endif
