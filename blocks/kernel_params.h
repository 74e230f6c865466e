/*
 * Parameters of the kernel block:
 *
 *   { "kernel": "knn",
 *     "device": "cpu" | "gpu" | "auto",                   (default "auto")
 *     "inputs": { "train_x": "digits_x.npy",
 *                 "train_y": { "path": "digits_y.npy", "rows": [0, 1617] },
 *                 "test_x":  { "path": "digits_x.npy", "rows": [1617, 1797],
 *                              "columns": [0, 64] },
 *                 "weights": [[1, 2], [3, 4]],
 *                 "bias":    { "data": [0.5, 0.5], "dtype": "float32" } },
 *     "args": { "k": 5 },
 *     "outputs": { "predictions": "knn_predictions.npy" } }
 *
 * An input is a file beneath the tenant's folder (a name, or an object
 * with "path" and optional "rows" / "columns" ranges [start, stop)), or
 * inline data (nested arrays, or an object with "data" and "dtype"). An
 * output named in "outputs" is written there as .npy; the others are
 * returned inline in the result when they are small enough. JSON has no
 * NaN or infinity, so such values become null in an inline output; name
 * a file to keep them.
 */
#ifndef BL_BLOCKS_KERNEL_PARAMS_H
#define BL_BLOCKS_KERNEL_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/blocks.h>
#include <beamline/gpu.h>

#define KERNEL_IO_MAX 5u /* four names and the terminating NULL */

typedef enum arg_type {
	ARG_UINT,   /* integer in [min, max] */
	ARG_DOUBLE, /* number in [min, max] */
	ARG_BOOL,
	ARG_NAME,   /* a string, checked by the kernel */
	ARG_AXIS,   /* an integer axis, or "all" */
	ARG_RANGE,  /* [lo, hi] with lo <= hi */
} arg_type_t;

typedef struct arg_spec {
	const char *name;
	arg_type_t type;
	double min;
	double max;
	bool required;
} arg_spec_t;

struct kernel_run;

typedef struct kernel_spec {
	const char *name;
	const char *inputs[KERNEL_IO_MAX]; /* NULL-terminated */
	unsigned required_inputs;          /* the first N inputs are required */
	const char *outputs[KERNEL_IO_MAX];
	const arg_spec_t *args;
	size_t nargs;
	/* Compute the outputs and metrics from the loaded inputs. Returns 0
	 * when done, 1 when the work continues on other tasks (which then
	 * call kernel_run_finish), or a negative code. */
	int (*compute)(struct kernel_run *run);
	/* Enqueue the kernel on a device launch, setting the outputs, which
	 * hold their values once the launch has run to its end. NULL for a
	 * kernel without a device implementation. */
	int (*gpu_enqueue)(struct kernel_run *run, bl_gpu_launch_t *launch);
	/* After the launch: metrics and outputs that need the results.
	 * Optional. */
	int (*gpu_after)(struct kernel_run *run);
	/* The run's work for the placement model: multiply-adds for the
	 * products and distances, elements read for the rest. */
	double (*work)(const struct kernel_run *run);
	/* The largest tensor the run holds on the device, in bytes, so a run
	 * too large for the device is caught before anything is allocated. */
	double (*device_bytes)(const struct kernel_run *run);
} kernel_spec_t;

/* Return the spec of `name`, or NULL. */
const kernel_spec_t *kernel_spec_find(const char *name);

/* Check `params` against its kernel's spec: known keys only, inputs well
 * formed, args typed and in range, outputs plain file names. On success
 * *spec is the kernel's spec. */
int kernel_params_check(const kernel_spec_t **spec, json_t *params, bl_error_t *err);

/*
 * Check what the job's files allow before it is queued: every input file
 * opens beneath the tenant's folder (as the read will), no output would
 * overwrite one of the job's own inputs, and a tenant without a folder
 * names no file. Estimate the bytes a run holds: file sizes and inline
 * data, times two for outputs and conversions.
 */
int kernel_params_estimate(uint64_t *bytes, json_t *params, const bl_block_env_t *env, bl_error_t *err);

/* Load input `name` as a tensor, or set *out to NULL when it is absent. */
int kernel_input_load(bl_tensor_t **out, json_t *params, const char *name, const bl_block_env_t *env,
		      bl_error_t *err);

/* Read an argument; absent arguments give `fallback`. Values were checked
 * by kernel_params_check. */
double kernel_arg_number(json_t *params, const char *name, double fallback);
bool kernel_arg_bool(json_t *params, const char *name, bool fallback);
const char *kernel_arg_name(json_t *params, const char *name, const char *fallback);
/* An ARG_AXIS: returns true with *axis set, or false for "all" or absent. */
bool kernel_arg_axis(json_t *params, const char *name, int *axis);
/* An ARG_RANGE: returns true with *lo, *hi set, or false when absent. */
bool kernel_arg_range(json_t *params, const char *name, double *lo, double *hi);

/* Return the file name given for output `name`, or NULL. */
const char *kernel_output_path(json_t *params, const char *name);

#endif
