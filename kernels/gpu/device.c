/*
 * Opening an OpenCL device: its context and queues, the memory each
 * tenant holds on it, and the cache of buffers that launches give back.
 */
#define _GNU_SOURCE /* strdup in C17 mode */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

/* Buffers kept for reuse: at most this share of the device's memory, and
 * never more than this many bytes. */
#define CACHE_SHARE 8u
#define CACHE_MAX_BYTES ((size_t)512 << 20)
#define BUFFER_MIN_BYTES ((size_t)256)

void bl_gpu_config_init(bl_gpu_config_t *cfg)
{
	*cfg = (bl_gpu_config_t){
		.cache_dir = NULL,
		.device_index = -1,
		.queues = 2,
		.default_tenant_bytes = 0,
		.poison = false,
		.kernel_form = BL_GPU_KERNELS_AUTO,
	};
}

/* ------------------------------------------------------------------------ */
/* Choosing the device                                                       */
/* ------------------------------------------------------------------------ */

typedef struct device_choice {
	cl_platform_id platform;
	cl_device_id device;
} device_choice_t;

/* List every device of every platform, in the order bl_gpu_describe uses.
 * Returns the count, 0 when there is none, or a negative code. */
static int list_devices(device_choice_t **out, bl_error_t *err)
{
	cl_uint platform_count = 0;
	cl_int status = clGetPlatformIDs(0, NULL, &platform_count);
	*out = NULL;
	if (status == -1001)
		return 0; /* CL_PLATFORM_NOT_FOUND_KHR: the ICD loader found no driver */
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clGetPlatformIDs");
	if (platform_count == 0)
		return 0;

	cl_platform_id *platforms = calloc(platform_count, sizeof *platforms);
	if (!platforms)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing OpenCL devices");
	status = clGetPlatformIDs(platform_count, platforms, NULL);
	int count = status == CL_SUCCESS ? 0 : bl_gpu_error(err, status, "clGetPlatformIDs");
	device_choice_t *list = NULL;

	for (cl_uint p = 0; count >= 0 && p < platform_count; p++) {
		cl_uint n = 0;
		if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0)
			continue; /* a broken platform does not hide the others */

		cl_device_id *ids = calloc(n, sizeof *ids);
		device_choice_t *grown = realloc(list, ((size_t)count + n) * sizeof *list);
		if (grown)
			list = grown;
		if (!ids || !grown) {
			free(ids);
			count = bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing OpenCL devices");
			break;
		}
		if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, n, ids, NULL) == CL_SUCCESS)
			for (cl_uint d = 0; d < n; d++)
				list[count++] = (device_choice_t){platforms[p], ids[d]};
		free(ids);
	}
	free(platforms);
	if (count <= 0)
		free(list);
	else
		*out = list;
	return count;
}

static bool is_type(cl_device_id device, cl_device_type wanted)
{
	cl_device_type type = 0;
	return clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL) == CL_SUCCESS && (type & wanted);
}

static int choose_device(device_choice_t *out, int index, bl_error_t *err)
{
	device_choice_t *list;
	int count = list_devices(&list, err);
	if (count < 0)
		return count;
	if (count == 0)
		return bl_error_set(err, -ENODEV, NULL,
				    "no OpenCL device found; install a GPU driver with OpenCL support, or "
				    "pocl-opencl-icd for an OpenCL device on the CPU");
	if (index >= count) {
		free(list);
		return bl_error_set(err, -ENODEV, NULL, "no OpenCL device %d: this machine has %d (0 to %d)", index,
				    count, count - 1);
	}

	int pick = index >= 0 ? index : 0;
	for (int i = 0; index < 0 && i < count; i++) {
		if (is_type(list[i].device, CL_DEVICE_TYPE_GPU)) {
			pick = i;
			break;
		}
	}
	*out = list[pick];
	free(list);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                       */
/* ------------------------------------------------------------------------ */

static void device_string(cl_device_id device, cl_device_info what, char *out, size_t size)
{
	if (clGetDeviceInfo(device, what, size, out, NULL) != CL_SUCCESS)
		snprintf(out, size, "unknown");
	out[size - 1] = '\0';
}

static bool has_fp64(cl_device_id device)
{
	cl_device_fp_config config = 0;
	cl_int status = clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof config, &config, NULL);
	return status == CL_SUCCESS && config != 0;
}

char *bl_gpu_cache_dir(const char *configured)
{
	if (configured)
		return strdup(configured);

	const char *dir = getenv("BEAMLINE_CACHE_DIR");
	if (dir && dir[0])
		return strdup(dir);

	char path[4096];
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0])
		snprintf(path, sizeof path, "%s/beamline", xdg);
	else if (home && home[0])
		snprintf(path, sizeof path, "%s/.cache/beamline", home);
	else
		return NULL;
	return strdup(path);
}

static void describe_device(bl_gpu_t *gpu)
{
	char platform_name[128];
	device_string(gpu->device, CL_DEVICE_NAME, gpu->name, sizeof gpu->name);
	device_string(gpu->device, CL_DRIVER_VERSION, gpu->driver, sizeof gpu->driver);
	if (clGetPlatformInfo(gpu->platform, CL_PLATFORM_VERSION, sizeof gpu->platform_version,
			      gpu->platform_version, NULL) != CL_SUCCESS)
		snprintf(gpu->platform_version, sizeof gpu->platform_version, "unknown");
	gpu->platform_version[sizeof gpu->platform_version - 1] = '\0';
	if (clGetPlatformInfo(gpu->platform, CL_PLATFORM_NAME, sizeof platform_name, platform_name, NULL) !=
	    CL_SUCCESS)
		snprintf(platform_name, sizeof platform_name, "unknown");
	platform_name[sizeof platform_name - 1] = '\0';

	/* A label cut short only loses the end of the driver version. */
	int n = snprintf(gpu->label, sizeof gpu->label, "%.100s (%.80s, driver %.60s)", gpu->name, platform_name,
			 gpu->driver);
	(void)n;
	gpu->fp64 = has_fp64(gpu->device);

	cl_ulong global = 0, max_alloc = 0;
	clGetDeviceInfo(gpu->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
	clGetDeviceInfo(gpu->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
	gpu->max_alloc = max_alloc ? (uint64_t)max_alloc : UINT64_MAX;
	gpu->cache_limit = global / CACHE_SHARE < CACHE_MAX_BYTES ? (size_t)(global / CACHE_SHARE) : CACHE_MAX_BYTES;
}

static int create_queues(bl_gpu_t *gpu, unsigned count, bl_error_t *err)
{
	gpu->queues = calloc(count, sizeof *gpu->queues);
	if (!gpu->queues)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory opening the OpenCL device");

	for (unsigned i = 0; i < count; i++) {
		cl_int status;
		/* Profiling gives each kernel's device time, reported apart from
		 * transfers; drivers keep the timestamps at small cost. */
		gpu->queues[i] = clCreateCommandQueue(gpu->context, gpu->device, CL_QUEUE_PROFILING_ENABLE, &status);
		if (status != CL_SUCCESS)
			return bl_gpu_error(err, status, "clCreateCommandQueue");
		gpu->queue_count++;
	}
	return 0;
}

int bl_gpu_open(bl_gpu_t **out, const bl_gpu_config_t *cfg, bl_error_t *err)
{
	if (!cfg || cfg->queues == 0 || cfg->queues > 64)
		return bl_error_set(err, BL_EINVAL, "queues", "expected 1 to 64 command queues");
	if (cfg->kernel_form > BL_GPU_KERNELS_GPU)
		return bl_error_set(err, BL_EINVAL, "kernel_form",
				    "kernel_form is %d, expected 0 (auto), 1 (CPU) or 2 (GPU)", (int)cfg->kernel_form);

	device_choice_t choice = {0};
	int rc = choose_device(&choice, cfg->device_index, err);
	if (rc < 0)
		return rc;

	bl_gpu_t *gpu = calloc(1, sizeof *gpu);
	if (!gpu)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory opening the OpenCL device");
	gpu->platform = choice.platform;
	gpu->device = choice.device;
	gpu->poison = cfg->poison;
	gpu->cpu_kernels = cfg->kernel_form == BL_GPU_KERNELS_CPU ||
			   (cfg->kernel_form == BL_GPU_KERNELS_AUTO && is_type(choice.device, CL_DEVICE_TYPE_CPU));
	gpu->default_tenant_bytes = cfg->default_tenant_bytes;
	gpu->cache_dir = bl_gpu_cache_dir(cfg->cache_dir);
	pthread_mutex_init(&gpu->lock, NULL);
	pthread_mutex_init(&gpu->program_lock, NULL);
	describe_device(gpu);

	cl_int status;
	gpu->context = clCreateContext(NULL, 1, &gpu->device, NULL, NULL, &status);
	rc = status == CL_SUCCESS ? 0 : bl_gpu_error(err, status, "clCreateContext");
	if (rc == 0)
		rc = create_queues(gpu, cfg->queues, err);
	if (rc < 0) {
		bl_gpu_close(&gpu);
		return rc;
	}
	*out = gpu;
	return 0;
}

void bl_gpu_close(bl_gpu_t **gpup)
{
	bl_gpu_t *gpu = *gpup;
	if (!gpu)
		return;
	*gpup = NULL;

	for (unsigned i = 0; i < gpu->queue_count; i++) {
		clFinish(gpu->queues[i]);
		clReleaseCommandQueue(gpu->queues[i]);
	}
	free(gpu->queues);
	for (gpu_buffer_t *b = gpu->free_buffers, *next; b; b = next) {
		next = b->next;
		clReleaseMemObject(b->mem);
		free(b);
	}
	for (gpu_tenant_t *t = gpu->tenants, *next; t; t = next) {
		next = t->next;
		free(t->name);
		free(t);
	}
	gpu_programs_free(gpu);
	if (gpu->context)
		clReleaseContext(gpu->context);
	pthread_mutex_destroy(&gpu->lock);
	pthread_mutex_destroy(&gpu->program_lock);
	free(gpu->cache_dir);
	free(gpu);
}

const char *bl_gpu_label(const bl_gpu_t *gpu)
{
	return gpu->label;
}

uint64_t bl_gpu_max_alloc(const bl_gpu_t *gpu)
{
	return gpu->max_alloc;
}

bool bl_gpu_has_fp64(const bl_gpu_t *gpu)
{
	return gpu->fp64;
}

cl_context bl_gpu_context(const bl_gpu_t *gpu)
{
	return gpu->context;
}

cl_device_id bl_gpu_device_id(const bl_gpu_t *gpu)
{
	return gpu->device;
}

/* ------------------------------------------------------------------------ */
/* Tenants                                                                   */
/* ------------------------------------------------------------------------ */

/* Find or add `name`; the caller holds gpu->lock. NULL when memory runs
 * out. */
static gpu_tenant_t *tenant_entry(bl_gpu_t *gpu, const char *name)
{
	for (gpu_tenant_t *t = gpu->tenants; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;

	gpu_tenant_t *t = calloc(1, sizeof *t);
	if (!t || !(t->name = strdup(name))) {
		free(t);
		return NULL;
	}
	t->next = gpu->tenants;
	gpu->tenants = t;
	return t;
}

int gpu_tenant_reserve(bl_gpu_t *gpu, const char *tenant, uint64_t bytes, uint64_t limit, bl_error_t *err)
{
	if (limit == 0)
		limit = gpu->default_tenant_bytes;

	pthread_mutex_lock(&gpu->lock);
	gpu_tenant_t *t = tenant_entry(gpu, tenant);
	int rc = 0;
	if (!t)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory accounting device memory");
	else if (limit && (bytes > limit || t->bytes > limit - bytes))
		rc = bl_error_set(err, BL_EQUOTA, NULL,
				  "device memory quota exceeded: tenant '%s' holds %llu bytes and needs %llu more, "
				  "over its mem_bytes of %llu",
				  tenant, (unsigned long long)t->bytes, (unsigned long long)bytes,
				  (unsigned long long)limit);
	else
		t->bytes += bytes;
	pthread_mutex_unlock(&gpu->lock);
	return rc;
}

void gpu_tenant_release(bl_gpu_t *gpu, const char *tenant, uint64_t bytes)
{
	pthread_mutex_lock(&gpu->lock);
	for (gpu_tenant_t *t = gpu->tenants; t; t = t->next) {
		if (strcmp(t->name, tenant) == 0) {
			t->bytes -= bytes < t->bytes ? bytes : t->bytes;
			break;
		}
	}
	pthread_mutex_unlock(&gpu->lock);
}

uint64_t bl_gpu_tenant_bytes(bl_gpu_t *gpu, const char *tenant)
{
	uint64_t bytes = 0;
	pthread_mutex_lock(&gpu->lock);
	for (gpu_tenant_t *t = gpu->tenants; t; t = t->next)
		if (strcmp(t->name, tenant) == 0)
			bytes = t->bytes;
	pthread_mutex_unlock(&gpu->lock);
	return bytes;
}

/* ------------------------------------------------------------------------ */
/* Buffer cache                                                              */
/* ------------------------------------------------------------------------ */

size_t gpu_buffer_class(size_t bytes)
{
	if (bytes <= BUFFER_MIN_BYTES)
		return BUFFER_MIN_BYTES;

	/* Four classes per power of two: at most 25% is wasted. */
	size_t top = (size_t)1 << (63 - __builtin_clzll((unsigned long long)(bytes - 1)) + 1);
	size_t step = top / 8;
	return (bytes + step - 1) / step * step;
}

int gpu_buffer_take(cl_mem *out, bl_gpu_t *gpu, size_t size, bl_error_t *err)
{
	pthread_mutex_lock(&gpu->lock);
	for (gpu_buffer_t **link = &gpu->free_buffers; *link; link = &(*link)->next) {
		gpu_buffer_t *b = *link;
		if (b->size == size) {
			*link = b->next;
			gpu->cached_bytes -= size;
			pthread_mutex_unlock(&gpu->lock);
			*out = b->mem;
			free(b);
			return 0;
		}
	}
	pthread_mutex_unlock(&gpu->lock);

	cl_int status;
	cl_mem mem = clCreateBuffer(gpu->context, CL_MEM_READ_WRITE, size, NULL, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateBuffer");
	*out = mem;
	return 0;
}

void gpu_buffer_give(bl_gpu_t *gpu, cl_mem mem, size_t size)
{
	gpu_buffer_t *b = malloc(sizeof *b);

	pthread_mutex_lock(&gpu->lock);
	bool keep = b && gpu->cached_bytes + size <= gpu->cache_limit;
	if (keep) {
		*b = (gpu_buffer_t){mem, size, gpu->free_buffers};
		gpu->free_buffers = b;
		gpu->cached_bytes += size;
	}
	pthread_mutex_unlock(&gpu->lock);

	if (!keep) {
		free(b);
		clReleaseMemObject(mem);
	}
}
