/*
 * An opened OpenCL device, as the files of kernels/gpu see it.
 */
#ifndef BL_KERNELS_GPU_DEVICE_H
#define BL_KERNELS_GPU_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"

/* A built program, kept for the device's lifetime. */
typedef struct gpu_program {
	uint64_t source_hash;
	char *options;
	cl_program program;
	struct gpu_program *next;
} gpu_program_t;

/* Device memory in use by one tenant across its launches. */
typedef struct gpu_tenant {
	char *name;
	uint64_t bytes;
	struct gpu_tenant *next;
} gpu_tenant_t;

/* A buffer returned by a freed launch, kept for reuse. */
typedef struct gpu_buffer {
	cl_mem mem;
	size_t size;
	struct gpu_buffer *next;
} gpu_buffer_t;

struct bl_gpu {
	cl_platform_id platform;
	cl_device_id device;
	cl_context context;
	cl_command_queue *queues;
	unsigned queue_count;
	unsigned _Atomic next_queue;

	char label[256];
	char name[128];
	char driver[64];
	char platform_version[128];
	bool fp64;
	bool poison;
	bool cpu_kernels; /* run the CPU form of the kernels (bl_gpu_kernel_form_t) */
	uint64_t default_tenant_bytes;
	uint64_t max_alloc; /* the largest buffer the device creates */
	char *cache_dir; /* NULL when no folder could be chosen */

	/* Builds take seconds, so programs have their own lock. */
	pthread_mutex_t program_lock;
	gpu_program_t *programs;
	unsigned cache_failures; /* programs built but not stored on disk */

	/* Guards tenants and the buffer cache. */
	pthread_mutex_t lock;
	gpu_tenant_t *tenants;
	gpu_buffer_t *free_buffers;
	size_t cached_bytes;
	size_t cache_limit;
};

/*
 * Take `bytes` against `tenant`'s `limit` (0: none). Returns 0, or
 * BL_EQUOTA with a message naming the tenant, its bytes in use and the limit.
 */
int gpu_tenant_reserve(bl_gpu_t *gpu, const char *tenant, uint64_t bytes, uint64_t limit, bl_error_t *err);

/* Give back bytes taken by gpu_tenant_reserve. */
void gpu_tenant_release(bl_gpu_t *gpu, const char *tenant, uint64_t bytes);

/* Round a request up to the buffer size class that serves it. */
size_t gpu_buffer_class(size_t bytes);

/* Take a cached buffer of exactly `size` bytes, or create one. Returns 0
 * or the mapped OpenCL error. */
int gpu_buffer_take(cl_mem *out, bl_gpu_t *gpu, size_t size, bl_error_t *err);

/* Keep a buffer for reuse, or release it when the cache is full. */
void gpu_buffer_give(bl_gpu_t *gpu, cl_mem mem, size_t size);

/* Free every program of the device. */
void gpu_programs_free(bl_gpu_t *gpu);

#endif
