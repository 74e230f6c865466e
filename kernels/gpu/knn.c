/*
 * k-nearest-neighbour classification on the device: checks as
 * bl_cpu_knn, then knn.cl finds each test row's k nearest training rows,
 * computing distances in the launch's floating type, and a host step
 * votes. The vote recomputes the k distances in float64, as the CPU
 * computes them, so its tie rules see the CPU's numbers.
 *
 * NOTE: with float32 features the device ranks training rows by float32
 * distances. Where two of them are within float32 rounding of each other
 * at the k-th place, the neighbour set, and so the vote, can differ from
 * the CPU's. Integer-valued features (digits) are exact in float32.
 */
#include <stdlib.h>

#include "cpu/knn.h"
#include "enqueue.h"

/* What the host step needs; freed with the launch. */
typedef struct knn_job {
	const bl_tensor_t *train_x; /* the inputs, valid until the launch completes */
	const bl_tensor_t *train_y;
	const bl_tensor_t *test_x;
	bl_tensor_t *nearest;       /* m x k training indices, downloaded */
	bl_tensor_t *predictions;   /* the caller's result, filled by the step */
	bl__knn_neighbour_t *neighbours;
	bl__knn_tally_t *tallies;
} knn_job_t;

static void free_job(void *arg)
{
	knn_job_t *job = arg;
	bl_tensor_free(&job->nearest);
	free(job->neighbours);
	free(job->tallies);
	free(job);
}

/* Allocate the job for classifying into `predictions`, and hand it to the
 * launch, which frees it. Returns 0 or a negative code. */
static int new_job(knn_job_t **out, bl_gpu_launch_t *launch, const bl_tensor_t *train_x, const bl_tensor_t *train_y,
		   const bl_tensor_t *test_x, size_t k, bl_tensor_t *predictions, bl_error_t *err)
{
	knn_job_t *job = calloc(1, sizeof *job);
	if (!job || gpu_launch_keep(launch, job, free_job) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for the knn host step");
	*job = (knn_job_t){.train_x = train_x, .train_y = train_y, .test_x = test_x, .predictions = predictions};

	size_t shape[2] = {test_x->shape[0], k};
	int rc = bl_tensor_new(&job->nearest, BL_DTYPE_I64, 2, shape, err);
	if (rc < 0)
		return rc;
	job->neighbours = malloc(k * sizeof *job->neighbours);
	job->tallies = malloc(k * sizeof *job->tallies);
	if (!job->neighbours || !job->tallies)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for %zu neighbours", k);
	*out = job;
	return 0;
}

/* Return the squared distance between training row `train_row` and test
 * row `test_row`, in float64 whatever the dtype, as the CPU computes it. */
static double squared_distance(const knn_job_t *job, size_t train_row, size_t test_row)
{
	size_t d = job->test_x->shape[1];
	double s = 0;
	for (size_t c = 0; c < d; c++) {
		double diff = bl_tensor_get(job->train_x, train_row * d + c) - bl_tensor_get(job->test_x, test_row * d + c);
		s += diff * diff;
	}
	return s;
}

/* Order neighbours by distance, then by training index. */
static int compare_neighbours(const void *pa, const void *pb)
{
	const bl__knn_neighbour_t *a = pa;
	const bl__knn_neighbour_t *b = pb;
	if (a->dist != b->dist)
		return a->dist < b->dist ? -1 : 1;
	return (a->index > b->index) - (a->index < b->index);
}

/* The host step: for each test row, put its k neighbours in order by
 * their float64 distances and vote. */
static int vote_rows(bl_gpu_launch_t *launch, void *arg, bl_error_t *err)
{
	(void)launch;
	(void)err;
	knn_job_t *job = arg;
	size_t m = job->nearest->shape[0];
	size_t k = job->nearest->shape[1];
	const int64_t *nearest = job->nearest->data;
	int64_t *predictions = job->predictions->data;

	for (size_t t = 0; t < m; t++) {
		for (size_t i = 0; i < k; i++) {
			size_t index = (size_t)nearest[t * k + i];
			job->neighbours[i] = (bl__knn_neighbour_t){squared_distance(job, index, t), index};
		}
		qsort(job->neighbours, k, sizeof *job->neighbours, compare_neighbours);
		predictions[t] = bl__knn_vote(job->neighbours, k, job->train_y, job->tallies);
	}
	return 0;
}

/* Upload the features, run knn_nearest over the test rows, download the
 * nearest indices and register the vote. test_x must have rows. */
static int enqueue(bl_gpu_launch_t *launch, knn_job_t *job, const gpu_real_t *real, const bl_tensor_t *train_x,
		   const bl_tensor_t *test_x, size_t k, bl_error_t *err)
{
	cl_mem train_buf;
	cl_mem test_buf;
	cl_mem dists_buf;
	cl_mem nearest_buf;
	int rc;
	if ((rc = gpu_upload_as(&train_buf, launch, train_x, real->dtype, err)) < 0 ||
	    (rc = gpu_upload_as(&test_buf, launch, test_x, real->dtype, err)) < 0 ||
	    (rc = bl_gpu_alloc(&dists_buf, launch, job->nearest->count * bl_dtype_size(real->dtype), err)) < 0 ||
	    (rc = bl_gpu_alloc(&nearest_buf, launch, job->nearest->nbytes, err)) < 0)
		return rc;
	cl_kernel kernel;
	rc = gpu_kernel_for(&kernel, launch, "knn.cl", real, "knn_nearest", err);
	if (rc < 0)
		return rc;

	cl_ulong n = train_x->shape[0];
	cl_ulong m = test_x->shape[0];
	cl_ulong d = test_x->shape[1];
	cl_ulong k_arg = k;
	gpu_arg_value_t args[] = {GPU_ARG(train_buf), GPU_ARG(test_buf),  GPU_ARG(n),	      GPU_ARG(m),
				  GPU_ARG(d),	      GPU_ARG(k_arg),	  GPU_ARG(dists_buf), GPU_ARG(nearest_buf)};
	rc = gpu_args(kernel, args, sizeof args / sizeof *args, err);
	if (rc < 0)
		return rc;
	rc = gpu_run_items(launch, kernel, test_x->shape[0], err);
	if (rc < 0)
		return rc;

	rc = bl_gpu_download(launch, nearest_buf, job->nearest, err);
	if (rc < 0)
		return rc;
	return bl_gpu_launch_then(launch, vote_rows, job, err);
}

int bl_gpu_knn(bl_gpu_launch_t *launch, bl_tensor_t **predictions, const bl_tensor_t *train_x,
	       const bl_tensor_t *train_y, const bl_tensor_t *test_x, size_t k, bl_error_t *err)
{
	int rc = bl__knn_check_args(train_x, train_y, test_x, k, err);
	if (rc < 0)
		return rc;
	const bl_tensor_t *inputs[2] = {train_x, test_x};
	gpu_real_t real;
	rc = gpu_real_for(&real, launch, inputs, 2, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *t;
	rc = bl_tensor_new(&t, BL_DTYPE_I64, 1, &test_x->shape[0], err);
	if (rc < 0)
		return rc;
	if (t->count > 0) {
		knn_job_t *job = NULL;
		rc = new_job(&job, launch, train_x, train_y, test_x, k, t, err);
		if (rc == 0)
			rc = enqueue(launch, job, &real, train_x, test_x, k, err);
		if (rc < 0) {
			bl_tensor_free(&t);
			return rc;
		}
	}
	*predictions = t;
	return 0;
}
