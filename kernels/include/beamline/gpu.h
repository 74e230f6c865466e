/*
 * BeamLine GPU kernels: OpenCL devices, their programs and buffers, and the
 * device implementation of the compute kernels.
 *
 * The engine talks to devices through the OpenCL ICD loader, so any
 * installed driver works: a GPU vendor's, or PoCL, which turns the CPU
 * into an OpenCL device where no GPU exists.
 *
 * Work reaches a device as a launch: a sequence of uploads, kernel runs
 * and downloads on one in-order command queue, enqueued without waiting.
 * bl_gpu_launch_submit then registers a driver callback for when the last
 * command completes; no engine thread waits for the device. The callback
 * runs on a thread of the OpenCL implementation and must only hand the
 * completion on (send a message, submit a task).
 *
 * Conventions are those of <beamline/kernels.h>: 0 or a negative code, a
 * bl_error_t naming what was wrong, results through out-parameters placed
 * first and owned by the caller. OpenCL errors map to engine codes:
 * CL_OUT_OF_RESOURCES, CL_MEM_OBJECT_ALLOCATION_FAILURE and
 * CL_OUT_OF_HOST_MEMORY to BL_ENOMEM (retryable, the message gives the
 * OpenCL name), a program that does not build to BL_EFORMAT with the
 * compiler's log in the message, and the rest to BL_EINVAL.
 */
#ifndef BEAMLINE_GPU_H
#define BEAMLINE_GPU_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/kernels.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Discovery                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Describe every OpenCL platform and device the ICD loader finds, as a JSON
 * array of platforms, each with its name, vendor, version and "devices":
 * name, vendor, type, driver and OpenCL versions, compute units, clock,
 * global, local and largest-allocation memory, work-group limits, fp64
 * support and extensions. A device's "index" counts across platforms, as
 * bl_gpu_config_t.device_index does. A machine without any OpenCL
 * platform gives an empty array. A platform or device whose query fails
 * is listed with an "error" member naming the call and the OpenCL status.
 * Returns 0 and a new reference in *out, BL_ENOMEM, or BL_EINVAL when the
 * ICD loader cannot list the platforms. Safe from any thread.
 */
int bl_gpu_describe(json_t **out, bl_error_t *err);

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct bl_gpu bl_gpu_t;

/* Which form of the reduce, softmax and histogram kernels a device runs.
 * Both forms give the same results; they differ only in speed. */
typedef enum bl_gpu_kernel_form {
	/* By CL_DEVICE_TYPE: the CPU form on CPU devices, else the GPU form. */
	BL_GPU_KERNELS_AUTO = 0,
	/* Straight-line kernels over fixed blocks of the input, which a CPU
	 * OpenCL driver such as PoCL vectorises across work items. */
	BL_GPU_KERNELS_CPU,
	/* Grid-stride kernels with local-memory trees and atomics. */
	BL_GPU_KERNELS_GPU,
} bl_gpu_kernel_form_t;

typedef struct bl_gpu_config {
	/* Folder for built programs; NULL means $BEAMLINE_CACHE_DIR, else
	 * $XDG_CACHE_HOME/beamline, else $HOME/.cache/beamline. Created when
	 * missing; a cache that cannot be written only costs build time. */
	const char *cache_dir;
	/* The device: -1 picks the first GPU, or the first device of any
	 * type when there is no GPU; N >= 0 picks the Nth device in the
	 * order bl_gpu_describe lists them. */
	int device_index;
	/* In-order command queues; launches take them in turn. */
	unsigned queues;
	/* Device memory each tenant may hold at once, used when a launch
	 * gives no limit of its own; 0 means no limit. */
	uint64_t default_tenant_bytes;
	/* Fill every buffer bl_gpu_alloc hands out with 0xFF bytes (NaN as
	 * a float, -1 as an integer), so tests catch an element that a
	 * kernel never writes. Costs one fill per allocation. */
	bool poison;
	/* The form of the kernels that have two (per device type); tests force
	 * each one to cover both. */
	bl_gpu_kernel_form_t kernel_form;
} bl_gpu_config_t;

/* Return the cache folder `configured` names, or the default one described
 * at bl_gpu_config_t.cache_dir, as an owned string (free with free()).
 * Returns NULL when neither is set and there is no home folder. */
char *bl_gpu_cache_dir(const char *configured);

/* Create `folder` and its missing parents, with mode 0700. Failures are
 * not reported: they show when a file is then written there. */
void bl_gpu_make_folders(const char *folder);

/* Fill *cfg with the defaults: cache_dir NULL, device_index -1, 2 queues,
 * no default tenant limit, no poisoning, kernel form by device type. */
void bl_gpu_config_init(bl_gpu_config_t *cfg);

/*
 * Open a device: create its context and queues. Returns 0 and an owned
 * device in *out (free with bl_gpu_close), -ENODEV when the machine has no
 * OpenCL device (or none at `device_index`), BL_ENOMEM, or BL_EINVAL when
 * the driver refuses. Programs are built on first use, not here.
 */
int bl_gpu_open(bl_gpu_t **out, const bl_gpu_config_t *cfg, bl_error_t *err);

/* Release the device, its programs and its cached buffers. Every launch
 * must have been freed. Takes *gpu and sets it to NULL; NULL is fine. */
void bl_gpu_close(bl_gpu_t **gpu);

/* Return a label for results and logs, e.g. "NVIDIA H200 (OpenCL 3.0
 * CUDA, driver 550.54)"; borrowed for the device's lifetime. */
const char *bl_gpu_label(const bl_gpu_t *gpu);

/* Return the largest buffer the device creates, in bytes
 * (CL_DEVICE_MAX_MEM_ALLOC_SIZE). */
uint64_t bl_gpu_max_alloc(const bl_gpu_t *gpu);

/* Return whether the device computes in double precision (cl_khr_fp64). */
bool bl_gpu_has_fp64(const bl_gpu_t *gpu);

/* Return the device's OpenCL handles, for callers (tests, benchmarks, the
 * CLBlast bridge) that enqueue work themselves. Borrowed. */
cl_context bl_gpu_context(const bl_gpu_t *gpu);
cl_device_id bl_gpu_device_id(const bl_gpu_t *gpu);

/* Return the device memory in use by `tenant`'s launches, in bytes. */
uint64_t bl_gpu_tenant_bytes(bl_gpu_t *gpu, const char *tenant);

/* ------------------------------------------------------------------------ */
/* Programs                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Return the program built from `source` with `options` on this device.
 * Built programs are kept in memory, and on disk in the cache folder under
 * a key made of the device name, driver version, options and a hash of
 * the source, so a later process loads the binary instead of compiling.
 * *compile_ms gets the time this call spent building or loading (0 when
 * the program was already in memory); it may be NULL. Returns 0 and a
 * program borrowed for the device's lifetime, or BL_EFORMAT with the
 * compiler's log (cut to fit) when the source does not build. Thread-safe.
 */
int bl_gpu_program(cl_program *out, bl_gpu_t *gpu, const char *source, const char *options, double *compile_ms,
		   bl_error_t *err);

/* Return how many built programs could not be stored in the disk cache
 * (no cache folder, or a folder that cannot be written). */
unsigned bl_gpu_cache_failures(bl_gpu_t *gpu);

/* Return the disk cache's folder, or NULL when there is none. */
const char *bl_gpu_cache_folder(const bl_gpu_t *gpu);

/* The OpenCL C source of a bundled kernel file ("map.cl"), or NULL. */
const char *bl_gpu_source(const char *name);

/* ------------------------------------------------------------------------ */
/* Launches                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct bl_gpu_launch bl_gpu_launch_t;

/* Called once when a submitted launch completes: rc 0, or the negative
 * code of the failure with *err saying what failed. Runs on a thread of
 * the OpenCL implementation: it must not block or call OpenCL. */
typedef void (*bl_gpu_done_fn)(void *ctx, int rc, const bl_error_t *err);

/*
 * Start a launch for `tenant` on the device's next queue. The tenant may
 * hold at most `tenant_limit` bytes of device memory across all its
 * launches (0: the device's default). Returns 0 and an owned launch (free
 * with bl_gpu_launch_free), or BL_ENOMEM.
 */
int bl_gpu_launch_new(bl_gpu_launch_t **out, bl_gpu_t *gpu, const char *tenant, uint64_t tenant_limit,
		      bl_error_t *err);

/*
 * Allocate a device buffer of `bytes` for the launch, reusing a cached one
 * where the size fits. The bytes count against the tenant's limit until
 * the launch is freed: over it, BL_EQUOTA names the tenant, the bytes in
 * use and the limit. Returns 0 and a buffer owned by the launch,
 * BL_EQUOTA, BL_ELIMIT for more than the device's largest allocation
 * (CL_DEVICE_MAX_MEM_ALLOC_SIZE), or BL_ENOMEM. A zero-byte request gets a minimal buffer.
 */
int bl_gpu_alloc(cl_mem *out, bl_gpu_launch_t *launch, size_t bytes, bl_error_t *err);

/* Allocate a buffer for `t` and enqueue a copy of its data. t->data must
 * stay valid until the launch completes. Errors as bl_gpu_alloc. */
int bl_gpu_upload(cl_mem *out, bl_gpu_launch_t *launch, const bl_tensor_t *t, bl_error_t *err);

/* Enqueue a copy of the first t->nbytes of `buffer` into t->data, which
 * must stay valid until the launch completes. */
int bl_gpu_download(bl_gpu_launch_t *launch, cl_mem buffer, bl_tensor_t *t, bl_error_t *err);

/*
 * Return kernel `name` of `program` for this launch; its arguments are
 * set by the caller with clSetKernelArg before bl_gpu_run. The kernel
 * belongs to the launch. Returns 0, or BL_EINVAL when there is no such
 * kernel.
 */
int bl_gpu_kernel(cl_kernel *out, bl_gpu_launch_t *launch, cl_program program, const char *name,
		  bl_error_t *err);

/*
 * Enqueue `kernel` over `global` work items in `dims` dimensions, in
 * work-groups of `local` (NULL lets the driver choose). Each global size
 * is rounded up to a multiple of its local size; kernels check their
 * bounds. Returns 0, or the mapped OpenCL error with `kernel`'s name.
 */
int bl_gpu_run(bl_gpu_launch_t *launch, cl_kernel kernel, unsigned dims, const size_t *global,
	       const size_t *local, bl_error_t *err);

/*
 * Flush the launch's queue and call done(ctx, rc, err) once its last
 * command completes (or fails). After a successful submit, the callback
 * always runs exactly once; the caller keeps the launch and frees it
 * after the callback, not from inside it. Returns 0, or a negative code
 * when nothing could be submitted (the callback then never runs).
 */
int bl_gpu_launch_submit(bl_gpu_launch_t *launch, bl_gpu_done_fn done, void *ctx, bl_error_t *err);

/*
 * A host step of a launch: runs once the commands enqueued before it have
 * completed, on the thread that calls bl_gpu_launch_continue. It may read
 * downloaded data, enqueue more commands and register the next step (a
 * k-means iteration does). Returns 0 or a negative code with *err filled.
 */
typedef int (*bl_gpu_step_fn)(bl_gpu_launch_t *launch, void *arg, bl_error_t *err);

/* Register `fn(launch, arg)` as the launch's next host step; at most one is
 * pending at a time. Returns 0, or BL_EINVAL when one is already pending. */
int bl_gpu_launch_then(bl_gpu_launch_t *launch, bl_gpu_step_fn fn, void *arg, bl_error_t *err);

/*
 * Call after a submitted launch completed: run the pending host step, if
 * any. Returns 1 when the step enqueued more commands (submit the launch
 * again), 0 when the launch's work is done and its outputs are complete,
 * or a negative code.
 */
int bl_gpu_launch_continue(bl_gpu_launch_t *launch, bl_error_t *err);

/*
 * Run the launch to its end without callbacks: wait for its commands,
 * run its host steps, and repeat while they enqueue more. For tests and
 * benchmarks, which need a blocking call; the engine uses submit.
 * Returns 0 or a negative code.
 */
int bl_gpu_launch_wait(bl_gpu_launch_t *launch, bl_error_t *err);

/* Release the launch's kernels and return its buffers to the device's
 * cache, so the tenant's bytes are free again. Takes *launch and sets it
 * to NULL; NULL is fine. Must not be called while commands are in
 * flight, nor from a completion callback. */
void bl_gpu_launch_free(bl_gpu_launch_t **launch);

/* Return the time the launch's program builds took, in milliseconds. */
double bl_gpu_launch_compile_ms(const bl_gpu_launch_t *launch);

/* Return the device time of the launch's kernel runs so far (from the
 * queue's profiling timestamps), in milliseconds: the kernels alone,
 * without transfers. Libraries that enqueue their own kernels (CLBlast)
 * are not counted. */
double bl_gpu_launch_kernel_ms(const bl_gpu_launch_t *launch);

/* ------------------------------------------------------------------------ */
/* Device kernels                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Each function checks its inputs as its CPU counterpart in
 * <beamline/kernels.h> does, with the same errors, allocates its host
 * outputs, and enqueues the work on `launch`. The outputs hold their
 * values once the launch has run to its end (bl_gpu_launch_continue
 * returned 0, or bl_gpu_launch_wait returned 0); on failure they are not
 * set. Inputs must stay valid until then.
 *
 * A kernel computes in float32 when its floating inputs are all float32,
 * and in float64 otherwise, which needs a device with cl_khr_fp64: without
 * it, BL_EINVAL says so. Results match the CPU counterparts within a
 * relative 1e-4 in float32 (sums are accumulated in a different order).
 */
int bl_gpu_map(bl_gpu_launch_t *launch, bl_tensor_t **out, bl_map_op_t op, const bl_tensor_t *x,
	       const bl_tensor_t *y, double scalar, bl_error_t *err);
int bl_gpu_reduce(bl_gpu_launch_t *launch, bl_tensor_t **out, bl_reduce_op_t op, const bl_tensor_t *x, int axis,
		  bool all, bl_error_t *err);
int bl_gpu_softmax(bl_gpu_launch_t *launch, bl_tensor_t **out, const bl_tensor_t *x, bl_error_t *err);
int bl_gpu_histogram(bl_gpu_launch_t *launch, bl_tensor_t **counts, bl_tensor_t **edges, const bl_tensor_t *x,
		     size_t bins, bool range, double lo, double hi, bl_error_t *err);
int bl_gpu_pairwise_l2(bl_gpu_launch_t *launch, bl_tensor_t **out, const bl_tensor_t *x, const bl_tensor_t *y,
		       bool squared, bl_error_t *err);
int bl_gpu_topk(bl_gpu_launch_t *launch, bl_tensor_t **values, bl_tensor_t **indices, const bl_tensor_t *x,
		size_t k, bool largest, bl_error_t *err);
int bl_gpu_knn(bl_gpu_launch_t *launch, bl_tensor_t **predictions, const bl_tensor_t *train_x,
	       const bl_tensor_t *train_y, const bl_tensor_t *test_x, size_t k, bl_error_t *err);
/* k-means with the CPU's seeding (same seed, same starting centroids);
 * each Lloyd iteration's assignment runs on the device, one submit per
 * iteration, and `cancel` is polled between them. *out is filled when
 * the launch has run to its end. */
int bl_gpu_kmeans(bl_gpu_launch_t *launch, bl_kmeans_result_t *out, const bl_tensor_t *x,
		  const bl_kmeans_args_t *args, const bl_cancel_t *cancel, bl_error_t *err);
/*
 * Run every bundled kernel once on small inputs, in float32 and, when the
 * device has cl_khr_fp64, in float64, so that their programs are built and
 * cached on disk and the driver's first-launch compilation is done (PoCL
 * keeps its own cache, under $POCL_CACHE_DIR or ~/.cache/pocl). Sets the
 * milliseconds each pass took (0 for a pass not run). Returns 0 or the
 * first failure. CLBlast builds its sgemm kernels per process and per size
 * class, so only the smallest class is warmed.
 */
int bl_gpu_warm(bl_gpu_t *gpu, double *f32_ms, double *f64_ms, bl_error_t *err);

/* Enqueue an empty kernel on one work item: the cost of a launch. */
int bl_gpu_noop(bl_gpu_launch_t *launch, bl_error_t *err);

/* C = alpha * op(A) * op(B) + beta * C through CLBlast, float32; `c` must
 * exist with C's shape (it is read when beta is not 0). */
int bl_gpu_sgemm(bl_gpu_launch_t *launch, bl_tensor_t *c, const bl_tensor_t *a, const bl_tensor_t *b,
		 const bl_sgemm_args_t *args, bl_error_t *err);

/* Map an OpenCL status to an engine code and fill *err with the OpenCL
 * name and `what` ("clEnqueueNDRangeKernel(map_f32)"). Returns the code. */
int bl_gpu_error(bl_error_t *err, cl_int status, const char *what);

/* Return the OpenCL name of a status ("CL_OUT_OF_RESOURCES"); static. */
const char *bl_gpu_status_name(cl_int status);

#ifdef __cplusplus
}
#endif

#endif
