/*
 * beamline-device-bench: what one OpenCL device does for the engine,
 * measured in one process. Each section lives in its own file and adds
 * one member to the JSON document; device_bench.c runs them in order.
 *
 * Conventions. Section functions return 0 with an owned JSON value in
 * *out, or a negative code from <beamline/error.h> with *err saying what
 * failed; main then stops with that message. Each section also prints
 * its rows as a table on stderr. Timings are medians over `reps` runs,
 * each after one warm-up run, with the minimum and the maximum beside.
 */
#ifndef BL_BENCH_DEVICE_BENCH_H
#define BL_BENCH_DEVICE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/gpu.h>

#define BENCH_NAME "beamline-device-bench"
#define BENCH_REPS_MAX 64u

/* A temporary folder for everything the bench writes. */
typedef struct scratch {
	char root[256];      /* TMPDIR/bl-device-bench-XXXXXX */
	char data[300];      /* the engine's data folder */
	char tenant[320];    /* data/b: tenant "b" */
	char placement[320]; /* the engine's placement model file */
} scratch_t;

typedef struct bench {
	unsigned reps;
	bool quick;
	int device_index; /* as bl_gpu_config_t.device_index */
	bl_gpu_t *gpu;    /* opened once, shared by every section */
	scratch_t scratch;
} bench_t;

/* ------------------------------------------------------------------------ */
/* stats.c: clocks and summaries                                             */
/* ------------------------------------------------------------------------ */

typedef struct summary {
	double median;
	double min;
	double max;
} summary_t;

/* Return CLOCK_MONOTONIC in milliseconds. */
double bench_now_ms(void);

/* Return the median, minimum and maximum of `n` values (n >= 1); sorts
 * `values` in place. */
summary_t bench_summarize(double *values, unsigned n);

/* Return {"median", "min", "max"} as a new reference. */
json_t *bench_summary_json(summary_t s);

/* Return `v` as a JSON real, or null when it is NaN or infinite, which
 * JSON cannot hold; a new reference. */
json_t *bench_real(double v);

/* ------------------------------------------------------------------------ */
/* inputs.c: random tensors from fixed seeds                                 */
/* ------------------------------------------------------------------------ */

/* Allocate a tensor of `dtype` (float32, float64 or int64) and `shape`
 * filled with uniform numbers in [lo, hi) drawn from `seed` (integers
 * are rounded down). Returns 0 and an owned tensor, or BL_ENOMEM. */
int bench_random(bl_tensor_t **out, bl_dtype_t dtype, unsigned ndim, const size_t *shape, double lo, double hi,
		 uint64_t seed, bl_error_t *err);

/* Return max |a - b| over max |a| for two tensors of one count (elements
 * read as doubles); 0 when both are all zeros, NaN when the counts
 * differ or an element is NaN. */
double bench_max_rel_diff(const bl_tensor_t *a, const bl_tensor_t *b);

/* ------------------------------------------------------------------------ */
/* scratch.c: the temporary folder and runs of the engine                    */
/* ------------------------------------------------------------------------ */

/* Create the folders of `s` under $TMPDIR (else /tmp). Returns 0 or a
 * negative errno with *err naming the folder. */
int scratch_create(scratch_t *s, bl_error_t *err);

/* Remove the folder of `s` and everything under it; reports on stderr
 * what could not be removed. Safe to call twice. */
void scratch_remove(scratch_t *s);

/* Write `t` as `name` in the tenant's folder. Returns 0 or a negative
 * code with *err filled. */
int scratch_write_npy(const scratch_t *s, const bl_tensor_t *t, const char *name, bl_error_t *err);

/* Write `text` as the file `name` under the scratch root, and put its path
 * in `path` (`size` bytes). Returns 0 or a negative errno. */
int scratch_write_file(const scratch_t *s, const char *name, const char *text, char *path, size_t size,
		       bl_error_t *err);

/*
 * Run the jobs in `jobs` (JSON lines) through bl_run_jobs on device
 * `device_index`, with the tenant quotas of `quotas` (NULL: defaults) and
 * every file in the scratch folder. Every job must end "ok". Returns 0,
 * the run's jobs per second in *jobs_per_s (may be NULL) and, when
 * `results` is not NULL, an owned JSON object of the results by job id;
 * or a negative code with *err filled.
 */
int scratch_run_jobs(json_t **results, double *jobs_per_s, const scratch_t *s, const char *jobs, const char *quotas,
		     int device_index, bl_error_t *err);

/* ------------------------------------------------------------------------ */
/* Sections                                                                  */
/* ------------------------------------------------------------------------ */

/* Return the number of float32 elements per buffer of the triad and of the
 * memory-bound kernels: 64 MiB (16 MiB quick) of floats, capped at half
 * the device's largest allocation, rounded down to a multiple of 4096. */
size_t bench_stream_elements(const bench_t *b);

/*
 * triad.c: the device's own bandwidth. bench_triad_open builds triad, runs
 * it once and checks its result. bench_triad_gbps runs it once more and
 * gives its GB/s, so that another section can pair its runs with triad's.
 * bench_triad is the triad section itself: `reps` runs and their median.
 */
typedef struct bench_triad bench_triad_t;
int bench_triad_open(bench_triad_t **out, bench_t *b, bl_error_t *err);
int bench_triad_gbps(double *gbps, bench_triad_t *t, bl_error_t *err);
void bench_triad_close(bench_triad_t **t);
int bench_triad(json_t **out, bench_triad_t *t, const bench_t *b, bl_error_t *err);

/* memory_bound.c: map, reduce, softmax and histogram against triad, each
 * run paired with a triad run just before it. */
int bench_memory_bound(json_t **out, bench_t *b, bench_triad_t *triad, bl_error_t *err);

/* cpu_ceiling.c: on a CPU device, the histogram and softmax written by
 * hand in AVX2 C on the device's cores, each run paired with a triad run:
 * the ratio to triad that the processor itself allows. */
int bench_cpu_ceiling(json_t **out, bench_t *b, bench_triad_t *triad, bl_error_t *err);

/* kernels.c: each kernel on the CPU and on the device. */
int bench_kernels(json_t **out, bench_t *b, bl_error_t *err);

/* sgemm_compare.c: the engine's sgemm job against a direct CLBlast call. */
int bench_sgemm(json_t **out, bench_t *b, bl_error_t *err);

/* launch_overhead.c: the engine's launch path against a bare enqueue. */
int bench_launch(json_t **out, bench_t *b, bl_error_t *err);

#endif
