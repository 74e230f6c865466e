/*
 * beamline-engine devices: what the engine can compute on. The CPU as
 * hwloc reports it, the OpenBLAS kernel set, and every OpenCL platform and
 * device, in the order bl_gpu_config_t.device_index counts them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/gpu.h>
#include <beamline/kernels.h>
#include <beamline/sched.h>

#include "cli.h"

static void usage(FILE *to)
{
	fputs("usage: beamline-engine devices [--json] [--warm [--gpu-device N]]\n"
	      "\n"
	      "Describes the machine: the CPU topology (from hwloc), the OpenBLAS kernel set,\n"
	      "and every OpenCL platform and device. A device's index is the device_index\n"
	      "that selects it.\n"
	      "\n"
	      "options:\n"
	      "  --json          print one JSON document {\"cpu\", \"blas\", \"opencl\"} instead\n"
	      "                  of text\n"
	      "  --warm          then run every kernel once on the device, so that its\n"
	      "                  programs are built and cached before the first job needs\n"
	      "                  them (under $BEAMLINE_CACHE_DIR, else ~/.cache/beamline)\n"
	      "  --gpu-device N  the device --warm uses (default: the first GPU, else the\n"
	      "                  first device)\n"
	      "\n"
	      "Exit status: 0 the machine was described (with or without OpenCL devices),\n"
	      "2 usage error, 3 the description or the warm-up failed.\n",
	      to);
}

typedef struct devices_options {
	bool json;
	bool warm;
	int gpu_device; /* -1: the default device */
} devices_options_t;

/* Read the value of --gpu-device. Returns 0, or -1 after printing why. */
static int parse_device_index(const char *value, int *out)
{
	char *end;
	errno = 0;
	long v = value ? strtol(value, &end, 10) : -1;
	if (!value || errno || end == value || *end || v < 0 || v > 1023) {
		fprintf(stderr, "beamline-engine: --gpu-device: expected an integer from 0 to 1023, got '%s'\n",
			value ? value : "nothing");
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Parse the words after "devices". Returns 0, 1 when help was requested,
 * or -1 after printing what was wrong. */
static int parse_options(int argc, char **argv, devices_options_t *opts)
{
	for (int i = 2; i < argc; i++) {
		const char *word = argv[i];
		if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
			return 1;
		if (strcmp(word, "--json") == 0) {
			opts->json = true;
			continue;
		}
		if (strcmp(word, "--warm") == 0) {
			opts->warm = true;
			continue;
		}
		if (strncmp(word, "--gpu-device=", 13) == 0 || strcmp(word, "--gpu-device") == 0) {
			const char *value = word[12] == '=' ? word + 13 : (i + 1 < argc ? argv[++i] : NULL);
			if (parse_device_index(value, &opts->gpu_device) < 0)
				return -1;
			continue;
		}
		if (word[0] == '-')
			fprintf(stderr, "beamline-engine: unknown option %s; see beamline-engine devices --help\n", word);
		else
			fprintf(stderr, "beamline-engine: devices takes no arguments, got '%s'\n", word);
		return -1;
	}
	return 0;
}

/* Describe the CPU as JSON. Returns a new reference, or NULL with *err
 * filled. */
static json_t *describe_cpu(bl_error_t *err)
{
	bl_cpu_info_t info;
	int rc = bl_cpu_info_load(&info);
	if (rc < 0) {
		bl_error_set(err, rc, NULL, "hwloc could not load the CPU topology: %s", bl_strerror(rc));
		return NULL;
	}

	json_t *cpu = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "model", info.model, "packages",
				(json_int_t)info.packages, "numa_nodes", (json_int_t)info.numa_nodes, "cores",
				(json_int_t)info.cores, "pus", (json_int_t)info.pus, "l2_cache_bytes",
				(json_int_t)info.l2_bytes, "l2_caches", (json_int_t)info.l2_count, "l3_cache_bytes",
				(json_int_t)info.l3_bytes, "l3_caches", (json_int_t)info.l3_count, "memory_bytes",
				(json_int_t)info.memory_bytes);
	if (!cpu)
		bl_error_set(err, BL_ENOMEM, NULL, "out of memory describing the CPU");
	return cpu;
}

/* Build {"cpu", "blas", "opencl"}. Returns a new reference, or NULL with
 * *err filled. */
static json_t *describe_machine(bl_error_t *err)
{
	json_t *cpu = describe_cpu(err);
	if (!cpu)
		return NULL;

	json_t *opencl = NULL;
	if (bl_gpu_describe(&opencl, err) < 0) {
		json_decref(cpu);
		return NULL;
	}

	json_t *doc = json_pack("{s:o, s:{s:s}, s:o}", "cpu", cpu, "blas", "core", bl_blas_core_name(), "opencl",
				opencl);
	if (!doc)
		bl_error_set(err, BL_ENOMEM, NULL, "out of memory describing the machine");
	return doc;
}

/* Open the device and run every kernel on it once. Returns the report
 * {"device", "float32_ms", "float64_ms"}, or NULL with *err filled. */
static json_t *warm_device(int index, bl_error_t *err)
{
	bl_gpu_config_t cfg;
	bl_gpu_config_init(&cfg);
	cfg.device_index = index;
	bl_gpu_t *gpu = NULL;
	double f32_ms = 0, f64_ms = 0;

	if (bl_gpu_open(&gpu, &cfg, err) < 0)
		return NULL;
	json_t *report = NULL;
	int rc = bl_gpu_warm(gpu, &f32_ms, &f64_ms, err);
	if (rc == 0 && bl_gpu_cache_failures(gpu) > 0)
		rc = bl_error_set(err, -EIO, NULL,
				  "the kernels ran, but %u built programs could not be stored in the cache folder '%s'; "
				  "set BEAMLINE_CACHE_DIR to a folder that can be written",
				  bl_gpu_cache_failures(gpu), bl_gpu_cache_folder(gpu) ? bl_gpu_cache_folder(gpu) : "(none)");
	if (rc == 0)
		report = json_pack("{s:s, s:f, s:f}", "device", bl_gpu_label(gpu), "float32_ms", f32_ms, "float64_ms",
				   f64_ms);
	bl_gpu_close(&gpu);
	return report;
}

int bl__devices_main(int argc, char **argv)
{
	devices_options_t opts = {.gpu_device = -1};
	bl_error_t err = {0};

	int parsed = parse_options(argc, argv, &opts);
	if (parsed == 0 && opts.gpu_device >= 0 && !opts.warm) {
		fprintf(stderr, "beamline-engine: --gpu-device only applies to --warm\n");
		parsed = -1;
	}
	if (parsed == 1) {
		usage(stdout);
		return 0;
	}
	if (parsed < 0) {
		fputs("usage: beamline-engine devices [--json] [--warm [--gpu-device N]]\n", stderr);
		return EXIT_USAGE;
	}

	json_t *doc = describe_machine(&err);
	if (!doc) {
		fprintf(stderr, "beamline-engine: devices: %s\n", err.message);
		return EXIT_RUN_FAILED;
	}

	int status = 0;
	if (opts.warm) {
		json_t *warm = warm_device(opts.gpu_device, &err);
		if (!warm) {
			fprintf(stderr, "beamline-engine: devices --warm: %s\n", err.message);
			status = EXIT_RUN_FAILED;
		}
		json_object_set_new(doc, "warm", warm ? warm : json_null());
	}

	if (opts.json) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		bl__devices_print(doc, stdout);
	}
	json_decref(doc);
	return fflush(stdout) == 0 ? status : EXIT_RUN_FAILED;
}
