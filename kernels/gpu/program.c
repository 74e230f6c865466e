/*
 * Built programs: kept in memory per device, and on disk so that a later
 * process loads a binary instead of compiling. A cache entry's name is a
 * hash of everything that changes the binary: the device, its driver, the
 * platform version, the build options and the source.
 */
#define _GNU_SOURCE /* strdup in C17 mode */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "device.h"

/* Largest binary read back from the cache. */
#define BINARY_MAX_BYTES ((size_t)256 << 20)

static uint64_t hash_text(uint64_t h, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return (h ^ 0xff) * 0x100000001b3ull; /* a separator, so "ab"+"c" differs from "a"+"bc" */
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------ */
/* The disk cache                                                            */
/* ------------------------------------------------------------------------ */

static void cache_path(char *out, size_t size, const bl_gpu_t *gpu, uint64_t key)
{
	snprintf(out, size, "%s/programs/%016llx.bin", gpu->cache_dir, (unsigned long long)key);
}

void bl_gpu_make_folders(const char *folder)
{
	char path[4096];
	snprintf(path, sizeof path, "%s", folder);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	mkdir(path, 0700);
}

/* Read a cached binary; NULL when there is none or it cannot be read. */
static unsigned char *read_binary(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;

	unsigned char *data = NULL;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= BINARY_MAX_BYTES) {
		data = malloc((size_t)st.st_size);
		if (data && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			free(data);
			data = NULL;
		}
		*len = (size_t)st.st_size;
	}
	fclose(f);
	return data;
}

/* Write a binary through a temporary file and a rename, so a reader never
 * sees half of one. */
static bool write_binary(const bl_gpu_t *gpu, const char *path, const unsigned char *data, size_t len)
{
	char tmp[4300];
	char folder[4200];
	snprintf(folder, sizeof folder, "%.4000s/programs", gpu->cache_dir);
	bl_gpu_make_folders(folder); /* a failure shows as a failed open below */
	snprintf(tmp, sizeof tmp, "%.4200s.%d.tmp", path, (int)getpid());

	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	bool ok = done == len && close(fd) == 0 && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok;
}

/* Store the binary of a freshly built program; returns whether it was
 * stored. */
static bool save_program(const bl_gpu_t *gpu, cl_program program, const char *path)
{
	size_t len = 0;
	if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0)
		return false;

	bool stored = false;
	unsigned char *data = malloc(len);
	if (data && clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof data, &data, NULL) == CL_SUCCESS)
		stored = write_binary(gpu, path, data, len);
	free(data);
	return stored;
}

/* Load and build a cached binary; NULL when there is none or the driver
 * rejects it (a stale file from another driver is then rebuilt over). */
static cl_program load_program(const bl_gpu_t *gpu, const char *path, const char *options)
{
	size_t len = 0;
	unsigned char *data = read_binary(path, &len);
	if (!data)
		return NULL;

	cl_int status, binary_status;
	const unsigned char *binaries[] = {data};
	cl_program program =
		clCreateProgramWithBinary(gpu->context, 1, &gpu->device, &len, binaries, &binary_status, &status);
	free(data);
	if (status != CL_SUCCESS || binary_status != CL_SUCCESS)
		return NULL;
	if (clBuildProgram(program, 1, &gpu->device, options, NULL, NULL) != CL_SUCCESS) {
		clReleaseProgram(program);
		return NULL;
	}
	return program;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

/* Put the compiler's log in *err, from its first error line on, cut to
 * fit the message. */
static int build_failure(bl_error_t *err, const bl_gpu_t *gpu, cl_program program, cl_int status)
{
	size_t len = 0;
	clGetProgramBuildInfo(program, gpu->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
	char *log = len ? malloc(len + 1) : NULL;
	if (log && clGetProgramBuildInfo(program, gpu->device, CL_PROGRAM_BUILD_LOG, len, log, NULL) == CL_SUCCESS)
		log[len] = '\0';
	else if (log)
		log[0] = '\0';

	const char *first = log ? strstr(log, "error") : NULL;
	while (first && first > log && first[-1] != '\n')
		first--;
	int rc = bl_error_set(err, BL_EFORMAT, NULL, "the OpenCL program did not build (%s); compiler log: %s",
			      bl_gpu_status_name(status), first ? first : (log && log[0] ? log : "(empty)"));
	free(log);
	return rc;
}

static int build_program(cl_program *out, const bl_gpu_t *gpu, const char *source, const char *options,
			 bl_error_t *err)
{
	cl_int status;
	cl_program program = clCreateProgramWithSource(gpu->context, 1, &source, NULL, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateProgramWithSource");

	status = clBuildProgram(program, 1, &gpu->device, options, NULL, NULL);
	if (status != CL_SUCCESS) {
		int rc = status == CL_BUILD_PROGRAM_FAILURE || status == CL_INVALID_BUILD_OPTIONS
				 ? build_failure(err, gpu, program, status)
				 : bl_gpu_error(err, status, "clBuildProgram");
		clReleaseProgram(program);
		return rc;
	}
	*out = program;
	return 0;
}

static gpu_program_t *find_program(bl_gpu_t *gpu, uint64_t source_hash, const char *options)
{
	for (gpu_program_t *p = gpu->programs; p; p = p->next)
		if (p->source_hash == source_hash && strcmp(p->options, options) == 0)
			return p;
	return NULL;
}

/* Build from the disk cache or the source, and remember the result. The
 * caller holds gpu->program_lock. */
static int add_program(cl_program *out, bl_gpu_t *gpu, const char *source, uint64_t source_hash,
		       const char *options, bl_error_t *err)
{
	uint64_t key = hash_text(hash_text(hash_text(hash_text(source_hash, gpu->name), gpu->driver),
					   gpu->platform_version),
				 options);
	char path[4200];
	if (gpu->cache_dir)
		cache_path(path, sizeof path, gpu, key);

	cl_program program = gpu->cache_dir ? load_program(gpu, path, options) : NULL;
	if (!program) {
		int rc = build_program(&program, gpu, source, options, err);
		if (rc < 0)
			return rc;
		if (!gpu->cache_dir || !save_program(gpu, program, path))
			gpu->cache_failures++;
	}

	gpu_program_t *entry = calloc(1, sizeof *entry);
	if (!entry || !(entry->options = strdup(options))) {
		free(entry);
		clReleaseProgram(program);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory keeping an OpenCL program");
	}
	entry->source_hash = source_hash;
	entry->program = program;
	entry->next = gpu->programs;
	gpu->programs = entry;
	*out = program;
	return 0;
}

int bl_gpu_program(cl_program *out, bl_gpu_t *gpu, const char *source, const char *options, double *compile_ms,
		   bl_error_t *err)
{
	if (!source)
		return bl_error_set(err, BL_EINVAL, NULL, "no OpenCL source given");
	options = options ? options : "";
	uint64_t source_hash = hash_text(0xcbf29ce484222325ull, source);
	double started = now_ms();

	pthread_mutex_lock(&gpu->program_lock);
	gpu_program_t *known = find_program(gpu, source_hash, options);
	int rc = 0;
	if (known)
		*out = known->program;
	else
		rc = add_program(out, gpu, source, source_hash, options, err);
	pthread_mutex_unlock(&gpu->program_lock);

	if (compile_ms)
		*compile_ms = known ? 0.0 : now_ms() - started;
	return rc;
}

unsigned bl_gpu_cache_failures(bl_gpu_t *gpu)
{
	pthread_mutex_lock(&gpu->program_lock);
	unsigned failures = gpu->cache_failures;
	pthread_mutex_unlock(&gpu->program_lock);
	return failures;
}

const char *bl_gpu_cache_folder(const bl_gpu_t *gpu)
{
	return gpu->cache_dir;
}

void gpu_programs_free(bl_gpu_t *gpu)
{
	for (gpu_program_t *p = gpu->programs, *next; p; p = next) {
		next = p->next;
		clReleaseProgram(p->program);
		free(p->options);
		free(p);
	}
	gpu->programs = NULL;
}
