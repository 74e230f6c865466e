/*
 * beamline-device-bench: the engine's figures on one OpenCL device, in one
 * process.
 *
 *   1. triad bandwidth of the device, with a kernel of our own;
 *   2. the memory-bound kernels (map, reduce, softmax, histogram) against
 *      triad, from their device time;
 *   3. on a CPU device, the histogram and softmax written by hand in AVX2
 *      C against the same triad: what the processor allows;
 *   4. each kernel on the CPU and on the device;
 *   5. sgemm through the engine against a direct CLBlast call;
 *   6. the engine's launch path against a bare enqueue and finish.
 *
 * Prints a table on stderr and one JSON document on stdout. Exits 0 when
 * every step ran, whether or not the targets were met; 1 when there is no
 * OpenCL device or a step failed; 2 for a usage error.
 *
 *   beamline-device-bench [--reps N] [--quick] [--gpu-device N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "device_bench.h"
#include "log.h"

static const char usage[] =
	"usage: " BENCH_NAME " [--reps N] [--quick] [--gpu-device N]\n"
	"  --reps N        timed runs of each measurement, 1 to 64 (default 5)\n"
	"  --quick         smaller sizes: 16 MiB buffers, sgemm up to 1024, 200 launches\n"
	"  --gpu-device N  the Nth OpenCL device, counted as `beamline-engine devices` lists them\n"
	"                  (default: the first GPU, else the first device)\n";

/* Parse a whole decimal number in [lo, hi]; false otherwise. */
static bool parse_count(long *out, const char *text, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

_Static_assert(BENCH_REPS_MAX == 64u, "expected_value names 64 as the most --reps");

/* Return what the value of option `name` must be, for an error message. */
static const char *expected_value(const char *name)
{
	if (strcmp(name, "--reps") == 0)
		return ": expected a whole number from 1 to 64";
	if (strcmp(name, "--gpu-device") == 0)
		return ": expected a device number from 0 to 1023";
	return "";
}

/* Returns 0, 1 for --help, or -1 with the reason on stderr. */
static int parse_options(bench_t *b, int argc, char **argv)
{
	long v;
	for (int i = 1; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(argv[i], "--help") == 0)
			return 1;
		if (strcmp(argv[i], "--quick") == 0) {
			b->quick = true;
		} else if (strcmp(argv[i], "--reps") == 0 && parse_count(&v, value, 1, BENCH_REPS_MAX)) {
			b->reps = (unsigned)v, i++;
		} else if (strcmp(argv[i], "--gpu-device") == 0 && parse_count(&v, value, 0, 1023)) {
			b->device_index = (int)v, i++;
		} else {
			fprintf(stderr, BENCH_NAME ": invalid option '%s'%s%s%s\n", argv[i], *value ? " with value " : "",
				strncmp(argv[i], "--", 2) == 0 && *value ? value : "", expected_value(argv[i]));
			return -1;
		}
	}
	return 0;
}

/* Use the fastest OpenBLAS kernels the CPU supports, as the engine does:
 * OpenBLAS reads OPENBLAS_CORETYPE only when it loads. */
static void choose_blas_kernels(char **argv)
{
	const char *better = bl__blas_better_coretype();
	if (!better || getenv("OPENBLAS_CORETYPE"))
		return;
	setenv("OPENBLAS_CORETYPE", better, 1);
	execv("/proc/self/exe", argv);
}

/* Point every program cache that is not set already into the scratch
 * folder, so the bench writes nothing to the user's home. A cold cache
 * costs only build time, which the warm-up runs absorb. */
static void use_scratch_caches(const scratch_t *s)
{
	static const char *const vars[] = {"BEAMLINE_CACHE_DIR", "POCL_CACHE_DIR", "CUDA_CACHE_PATH"};
	char path[400];
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		if (getenv(vars[i]) && *getenv(vars[i]))
			continue;
		snprintf(path, sizeof path, "%s/cache-%zu", s->root, i);
		mkdir(path, 0700);
		setenv(vars[i], path, 1);
	}
	fprintf(stderr, "program caches: BEAMLINE_CACHE_DIR=%s POCL_CACHE_DIR=%s\n", getenv("BEAMLINE_CACHE_DIR"),
		getenv("POCL_CACHE_DIR"));
}

static const char *device_type(const bl_gpu_t *gpu)
{
	cl_device_type type = 0;
	clGetDeviceInfo(bl_gpu_device_id(gpu), CL_DEVICE_TYPE, sizeof type, &type, NULL);
	if (type & CL_DEVICE_TYPE_GPU)
		return "gpu";
	if (type & CL_DEVICE_TYPE_CPU)
		return "cpu";
	return type & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator" : "other";
}

static int open_device(bench_t *b, bl_error_t *err)
{
	bl_gpu_config_t cfg;
	bl_gpu_config_init(&cfg);
	cfg.device_index = b->device_index;

	int rc = bl_gpu_open(&b->gpu, &cfg, err);
	if (rc == -ENODEV)
		bl_error_prefix(err, "no OpenCL device to measure: ");
	return rc;
}

/* Run the six sections in order; *doc gets the document. */
static int run_sections(json_t **doc, bench_t *b, bl_error_t *err)
{
	json_t *triad = NULL, *memory = NULL, *ceiling = NULL, *kernels = NULL, *sgemm = NULL, *launch = NULL;
	bench_triad_t *stream = NULL;

	int rc = bench_triad_open(&stream, b, err);
	if (rc == 0)
		rc = bench_triad(&triad, stream, b, err);
	if (rc == 0)
		rc = bench_memory_bound(&memory, b, stream, err);
	if (rc == 0)
		rc = bench_cpu_ceiling(&ceiling, b, stream, err);
	bench_triad_close(&stream);
	if (rc == 0)
		rc = bench_kernels(&kernels, b, err);
	if (rc == 0)
		rc = bench_sgemm(&sgemm, b, err);
	if (rc == 0)
		rc = bench_launch(&launch, b, err);
	if (rc < 0) {
		json_t *parts[] = {triad, memory, ceiling, kernels, sgemm, launch};
		for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
			json_decref(parts[i]);
		return rc;
	}

	*doc = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "suite", "device", "device",
			 bl_gpu_label(b->gpu), "device_type", device_type(b->gpu), "blas_core", bl_blas_core_name(),
			 "reps", (int)b->reps, "quick", b->quick, "triad", triad, "memory_bound", memory, "cpu_ceiling",
			 ceiling, "kernels", kernels, "sgemm", sgemm, "launch", launch);
	return 0;
}

int main(int argc, char **argv)
{
	bench_t b = {.reps = 5, .device_index = -1};
	bl_error_t err = {0};
	json_t *doc = NULL;

	int parsed = parse_options(&b, argc, argv);
	if (parsed != 0) {
		fputs(usage, parsed > 0 ? stdout : stderr);
		return parsed > 0 ? 0 : 2;
	}
	choose_blas_kernels(argv);
	bl_log_start(BL_LOG_WARN, 2);

	int rc = scratch_create(&b.scratch, &err);
	if (rc == 0) {
		use_scratch_caches(&b.scratch);
		rc = open_device(&b, &err);
	}
	if (rc == 0) {
		fprintf(stderr, "device: %s\nOpenBLAS kernels: %s\n", bl_gpu_label(b.gpu), bl_blas_core_name());
		rc = run_sections(&doc, &b, &err);
	}
	if (rc == 0) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		fprintf(stderr, BENCH_NAME ": %s\n", err.message);
	}

	json_decref(doc);
	bl_gpu_close(&b.gpu);
	scratch_remove(&b.scratch);
	bl_log_stop();
	return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}
