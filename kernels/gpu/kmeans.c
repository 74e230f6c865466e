/*
 * k-means on the device. Seeding, the centroid update and the handling of
 * empty clusters are the CPU's own (cpu/kmeans.h), run on the host in
 * float64; each Lloyd iteration's assignment runs on the device
 * (kmeans.cl, in the launch's floating type). One launch carries every
 * start: each assignment is followed by a host step that updates the
 * centroids and enqueues the next assignment, so the caller submits the
 * launch once per iteration.
 *
 * NOTE: with float32 rows the assignment compares float32 distances, so a
 * row within float32 rounding of equidistant from two centroids can get
 * another label than on the CPU, and the iterations then diverge.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/kmeans.h"
#include "enqueue.h"

/* The state of a device k-means across its host steps; freed with the
 * launch. */
typedef struct kmeans_job {
	bl__kmeans_t km;           /* host state of the current start, on float64 rows */
	bl_tensor_t *copy;         /* float64 copy of x, or NULL when x is float64 */
	bl_kmeans_args_t args;
	bl_kmeans_result_t *out;   /* the caller's, written by the last step */
	bl_kmeans_result_t best;   /* owned here until handed to *out */
	gpu_real_t real;
	cl_kernel assign;
	cl_mem centroids_buf;
	cl_mem labels_buf;
	cl_mem nearest_buf;
	bl_tensor_t *centroids;    /* k x d in the real dtype, written to the device */
	bl_tensor_t *labels;       /* n, downloaded */
	bl_tensor_t *nearest;      /* n in the real dtype, downloaded */
	uint64_t rng;              /* one stream through all starts, as on the CPU */
	unsigned start;            /* starts finished */
	unsigned iterations;       /* Lloyd iterations of the current start */
	bool last;                 /* the pending assignment is the start's final one */
} kmeans_job_t;

static void free_job(void *arg)
{
	kmeans_job_t *job = arg;
	bl__kmeans_destroy(&job->km);
	bl_tensor_free(&job->copy);
	bl_kmeans_result_free(&job->best);
	bl_tensor_free(&job->centroids);
	bl_tensor_free(&job->labels);
	bl_tensor_free(&job->nearest);
	free(job);
}

/* Allocate the job's host state for x, and hand the job to the launch,
 * which frees it. Returns 0 or a negative code. */
static int new_job(kmeans_job_t **out, bl_gpu_launch_t *launch, const bl_tensor_t *x, const bl_kmeans_args_t *args,
		   const bl_cancel_t *cancel, const gpu_real_t *real, bl_error_t *err)
{
	kmeans_job_t *job = calloc(1, sizeof *job);
	if (!job || gpu_launch_keep(launch, job, free_job) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for the k-means host steps");
	job->args = *args;
	job->real = *real;
	job->rng = args->seed;

	int rc = 0;
	if (x->dtype != BL_DTYPE_F64 && (rc = bl_tensor_convert(&job->copy, x, BL_DTYPE_F64, err)) < 0)
		return rc;
	job->km = (bl__kmeans_t){
		.x = job->copy ? job->copy->data : x->data,
		.n = x->shape[0],
		.d = x->shape[1],
		.k = args->k,
		.cancel = cancel,
	};
	if (!bl__kmeans_init(&job->km))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for k-means of %zu x %zu with k %zu",
				    job->km.n, job->km.d, job->km.k);

	size_t centroid_shape[2] = {job->km.k, job->km.d};
	if ((rc = bl_tensor_new(&job->best.centroids, BL_DTYPE_F64, 2, centroid_shape, err)) < 0 ||
	    (rc = bl_tensor_new(&job->best.labels, BL_DTYPE_I64, 1, &job->km.n, err)) < 0 ||
	    (rc = bl_tensor_new(&job->centroids, real->dtype, 2, centroid_shape, err)) < 0 ||
	    (rc = bl_tensor_new(&job->labels, BL_DTYPE_I64, 1, &job->km.n, err)) < 0 ||
	    (rc = bl_tensor_new(&job->nearest, real->dtype, 1, &job->km.n, err)) < 0)
		return rc;
	*out = job;
	return 0;
}

static int step(bl_gpu_launch_t *launch, void *arg, bl_error_t *err);

/* Enqueue a copy of the current centroids, in the real dtype, into the
 * device buffer kmeans_assign reads them from. One buffer serves every
 * iteration: the host step that overwrites job->centroids runs only after
 * the previous copy has completed. */
static int write_centroids(bl_gpu_launch_t *launch, kmeans_job_t *job, bl_error_t *err)
{
	size_t kd = job->km.k * job->km.d;
	for (size_t i = 0; i < kd; i++) {
		if (job->real.dtype == BL_DTYPE_F32)
			((float *)job->centroids->data)[i] = (float)job->km.centroids[i];
		else
			((double *)job->centroids->data)[i] = job->km.centroids[i];
	}
	if (job->centroids->nbytes == 0)
		return 0;

	cl_int status = clEnqueueWriteBuffer(gpu_launch_queue(launch), job->centroids_buf, CL_FALSE, 0,
					     job->centroids->nbytes, job->centroids->data, 0, NULL, NULL);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueWriteBuffer(k-means centroids)");
	gpu_launch_mark_enqueued(launch);
	return 0;
}

/* Enqueue an assignment against the current centroids: write them, run
 * kmeans_assign, download labels and distances, and register the host
 * step that reads them. */
static int enqueue_assign(bl_gpu_launch_t *launch, kmeans_job_t *job, bl_error_t *err)
{
	int rc = write_centroids(launch, job, err);
	if (rc < 0)
		return rc;
	rc = gpu_run_items(launch, job->assign, job->km.n, err);
	if (rc < 0)
		return rc;

	if ((rc = bl_gpu_download(launch, job->labels_buf, job->labels, err)) < 0 ||
	    (rc = bl_gpu_download(launch, job->nearest_buf, job->nearest, err)) < 0)
		return rc;
	return bl_gpu_launch_then(launch, step, job, err);
}

/* Seed the next start on the host and enqueue its first assignment. */
static int begin_start(bl_gpu_launch_t *launch, kmeans_job_t *job, bl_error_t *err)
{
	if (bl__kmeans_seed(&job->km, &job->rng) < 0)
		return bl_error_set(err, BL_ECANCELED, NULL, "cancelled during start %u of %u", job->start + 1,
				    job->args.starts);
	job->iterations = 0;
	job->last = job->args.max_iterations == 0;
	return enqueue_assign(launch, job, err);
}

/* Take the downloaded labels and distances into the host state. */
static void read_assignment(kmeans_job_t *job)
{
	memcpy(job->km.labels, job->labels->data, job->labels->nbytes);
	for (size_t i = 0; i < job->km.n; i++)
		job->km.nearest[i] = bl_tensor_get(job->nearest, i);
}

/* Finish a start after its final assignment: keep it when it is the best
 * so far, then begin the next start, or hand the result to the caller. */
static int finish_start(bl_gpu_launch_t *launch, kmeans_job_t *job, bl_error_t *err)
{
	double inertia = bl__kmeans_inertia(&job->km);
	if (job->start == 0 || inertia < job->best.inertia)
		bl__kmeans_keep(&job->best, &job->km, inertia, job->iterations);
	job->start++;
	if (job->start < job->args.starts)
		return begin_start(launch, job, err);

	*job->out = job->best;
	job->best = (bl_kmeans_result_t){0};
	return 0;
}

/*
 * The host step after each assignment. After an ordinary one, update the
 * centroids as the CPU does and enqueue the next assignment, the start's
 * final one when no centroid moved further than the tolerance or the
 * iterations are used up. After a final one, finish the start.
 */
static int step(bl_gpu_launch_t *launch, void *arg, bl_error_t *err)
{
	kmeans_job_t *job = arg;
	if (bl_cancel_requested(job->km.cancel))
		return bl_error_set(err, BL_ECANCELED, NULL, "cancelled during start %u of %u", job->start + 1,
				    job->args.starts);
	read_assignment(job);
	if (job->last)
		return finish_start(launch, job, err);

	double shift = bl__kmeans_update(&job->km);
	job->iterations++;
	job->last = shift <= job->args.tolerance || job->iterations >= job->args.max_iterations;
	return enqueue_assign(launch, job, err);
}

/* Upload x, allocate the buffers of the centroids and of the
 * assignment's outputs, and set the arguments of kmeans_assign, which
 * stay the same for every assignment. */
static int prepare_device(bl_gpu_launch_t *launch, kmeans_job_t *job, const bl_tensor_t *x, bl_error_t *err)
{
	cl_mem x_buf;
	int rc;
	if ((rc = gpu_upload_as(&x_buf, launch, x, job->real.dtype, err)) < 0 ||
	    (rc = bl_gpu_alloc(&job->centroids_buf, launch, job->centroids->nbytes, err)) < 0 ||
	    (rc = bl_gpu_alloc(&job->labels_buf, launch, job->labels->nbytes, err)) < 0 ||
	    (rc = bl_gpu_alloc(&job->nearest_buf, launch, job->nearest->nbytes, err)) < 0)
		return rc;
	rc = gpu_kernel_for(&job->assign, launch, "kmeans.cl", &job->real, "kmeans_assign", err);
	if (rc < 0)
		return rc;

	cl_ulong n = job->km.n;
	cl_ulong d = job->km.d;
	cl_ulong k = job->km.k;
	gpu_arg_value_t args[] = {GPU_ARG(x_buf), GPU_ARG(job->centroids_buf), GPU_ARG(n), GPU_ARG(d), GPU_ARG(k),
				  GPU_ARG(job->labels_buf), GPU_ARG(job->nearest_buf)};
	return gpu_args(job->assign, args, sizeof args / sizeof *args, err);
}

int bl_gpu_kmeans(bl_gpu_launch_t *launch, bl_kmeans_result_t *out, const bl_tensor_t *x,
		  const bl_kmeans_args_t *args, const bl_cancel_t *cancel, bl_error_t *err)
{
	int rc = bl__kmeans_check_args(x, args, err);
	if (rc < 0)
		return rc;
	gpu_real_t real;
	rc = gpu_real_for(&real, launch, &x, 1, err);
	if (rc < 0)
		return rc;

	kmeans_job_t *job = NULL;
	rc = new_job(&job, launch, x, args, cancel, &real, err);
	if (rc < 0)
		return rc;
	job->out = out;
	rc = prepare_device(launch, job, x, err);
	if (rc < 0)
		return rc;
	return begin_start(launch, job, err);
}
