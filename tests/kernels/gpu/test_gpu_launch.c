#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

static const char *const TWICE =
	"__kernel void twice(__global const float *x, __global float *y, uint n)\n"
	"{\n"
	"\tsize_t i = get_global_id(0);\n"
	"\tif (i < n)\n"
	"\t\ty[i] = 2.0f * x[i];\n"
	"}\n";

typedef struct twice_run {
	bl_tensor_t *x;
	bl_tensor_t *y;
} twice_run_t;

static void enqueue_twice(bl_gpu_launch_t *launch, bl_gpu_t *gpu, twice_run_t *run, size_t n, const char *options)
{
	bl_error_t err = {0};
	cl_program program;
	cl_kernel kernel;
	cl_mem x, y;
	cl_uint count = (cl_uint)n;

	run->x = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){n}, -10, 10);
	cr_assert_eq(bl_tensor_new(&run->y, BL_DTYPE_F32, 1, (size_t[]){n}, NULL), 0);
	cr_assert_eq(bl_gpu_program(&program, gpu, TWICE, options, NULL, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_kernel(&kernel, launch, program, "twice", &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_upload(&x, launch, run->x, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_alloc(&y, launch, run->y->nbytes, &err), 0, "%s", err.message);
	clSetKernelArg(kernel, 0, sizeof x, &x);
	clSetKernelArg(kernel, 1, sizeof y, &y);
	clSetKernelArg(kernel, 2, sizeof count, &count);
	cr_assert_eq(bl_gpu_run(launch, kernel, 1, (size_t[]){n}, (size_t[]){64}, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_download(launch, y, run->y, &err), 0, "%s", err.message);
}

static void expect_twice(const twice_run_t *run)
{
	for (size_t i = 0; i < run->x->count; i++)
		cr_assert_eq(((float *)run->y->data)[i], 2.0f * ((float *)run->x->data)[i], "element %zu", i);
}

static void free_twice(twice_run_t *run)
{
	bl_tensor_free(&run->x);
	bl_tensor_free(&run->y);
}

Test(gpu_launch, wait_runs_kernel)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	twice_run_t run = {0};

	enqueue_twice(launch, gpu, &run, 1001, NULL);
	gpu_test_finish(launch, "twice");
	expect_twice(&run);

	bl_gpu_launch_free(&launch);
	free_twice(&run);
	bl_gpu_close(&gpu);
}

/* The completion callback runs on a driver thread; the test waits on a
 * condition variable the callback signals. */
typedef struct completion {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	int rc;
} completion_t;

static void on_done(void *ctx, int rc, const bl_error_t *err)
{
	completion_t *c = ctx;
	(void)err;
	pthread_mutex_lock(&c->lock);
	c->calls++;
	c->rc = rc;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

Test(gpu_launch, submit_calls_back_once)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	twice_run_t run = {0};
	completion_t done = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1};
	bl_error_t err = {0};

	enqueue_twice(launch, gpu, &run, 100000, NULL);
	cr_assert_eq(bl_gpu_launch_submit(launch, on_done, &done, &err), 0, "%s", err.message);
	pthread_mutex_lock(&done.lock);
	while (done.calls == 0)
		pthread_cond_wait(&done.cond, &done.lock);
	pthread_mutex_unlock(&done.lock);

	cr_assert_eq(done.rc, 0);
	cr_assert_eq(bl_gpu_launch_continue(launch, &err), 0, "no host step is pending");
	expect_twice(&run);
	bl_gpu_launch_free(&launch);
	cr_assert_eq(done.calls, 1);
	free_twice(&run);
	bl_gpu_close(&gpu);
}

Test(gpu_launch, broken_source_returns_build_log)
{
	bl_gpu_t *gpu = gpu_test_open();
	cl_program program;
	bl_error_t err = {0};

	int rc = bl_gpu_program(&program, gpu, "__kernel void broken(__global float *x) { x[0] = undeclared_name; }",
				NULL, NULL, &err);

	cr_assert_eq(rc, BL_EFORMAT);
	cr_assert(strstr(err.message, "did not build"), "message: %s", err.message);
	cr_assert(strstr(err.message, "undeclared_name"), "the compiler's log names the fault: %s", err.message);
	bl_gpu_close(&gpu);
}

Test(gpu_launch, tenant_limit_rejects_allocation)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *first = NULL, *second = NULL;
	bl_error_t err = {0};
	cl_mem mem;

	cr_assert_eq(bl_gpu_launch_new(&first, gpu, "acme", 1 << 20, &err), 0);
	cr_assert_eq(bl_gpu_launch_new(&second, gpu, "acme", 1 << 20, &err), 0);
	cr_assert_eq(bl_gpu_alloc(&mem, first, 768 << 10, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_tenant_bytes(gpu, "acme"), 768 << 10);

	int rc = bl_gpu_alloc(&mem, second, 512 << 10, &err);
	cr_assert_eq(rc, BL_EQUOTA, "the tenant's second launch would pass its 1 MiB");
	cr_assert(strstr(err.message, "'acme'"), "message: %s", err.message);
	cr_assert(strstr(err.message, "mem_bytes"), "message: %s", err.message);

	bl_gpu_launch_free(&first);
	cr_assert_eq(bl_gpu_tenant_bytes(gpu, "acme"), 0, "freeing a launch gives its bytes back");
	cr_assert_eq(bl_gpu_alloc(&mem, second, 512 << 10, &err), 0, "%s", err.message);
	bl_gpu_launch_free(&second);
	bl_gpu_close(&gpu);
}

Test(gpu_launch, poisoned_buffer_reads_nan)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};
	cl_mem mem;

	cr_assert_eq(bl_tensor_new(&out, BL_DTYPE_F32, 1, (size_t[]){33}, NULL), 0);
	cr_assert_eq(bl_gpu_alloc(&mem, launch, out->nbytes, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_download(launch, mem, out, &err), 0, "%s", err.message);
	gpu_test_finish(launch, "poison");

	for (size_t i = 0; i < out->count; i++)
		cr_assert(isnan(((float *)out->data)[i]), "element %zu was never written and must read NaN", i);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&out);
	bl_gpu_close(&gpu);
}

/* A host step that enqueues the next round until three have run. */
typedef struct rounds {
	int done;
	twice_run_t runs[3];
	bl_gpu_t *gpu;
} rounds_t;

static int next_round(bl_gpu_launch_t *launch, void *arg, bl_error_t *err)
{
	rounds_t *r = arg;
	r->done++;
	if (r->done == 3)
		return 0;
	enqueue_twice(launch, r->gpu, &r->runs[r->done], 10 + (size_t)r->done, NULL);
	return bl_gpu_launch_then(launch, next_round, r, err);
}

Test(gpu_launch, host_steps_enqueue_rounds)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	rounds_t r = {.gpu = gpu};
	bl_error_t err = {0};

	enqueue_twice(launch, gpu, &r.runs[0], 10, NULL);
	cr_assert_eq(bl_gpu_launch_then(launch, next_round, &r, &err), 0);
	cr_assert_eq(bl_gpu_launch_then(launch, next_round, &r, &err), BL_EINVAL, "one step at a time");
	gpu_test_finish(launch, "rounds");

	cr_assert_eq(r.done, 3);
	for (int i = 0; i < 3; i++) {
		expect_twice(&r.runs[i]);
		free_twice(&r.runs[i]);
	}
	bl_gpu_launch_free(&launch);
	bl_gpu_close(&gpu);
}

static size_t count_cache_files(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/programs", dir);
	DIR *d = opendir(path);
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strstr(e->d_name, ".bin") != NULL;
	if (d)
		closedir(d);
	return n;
}

Test(gpu_launch, programs_cached_on_disk)
{
	char dir[] = "/tmp/bl-gpu-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	bl_gpu_config_t cfg;
	bl_gpu_config_init(&cfg);
	cfg.cache_dir = dir;
	bl_gpu_t *gpu = NULL;
	bl_error_t err = {0};
	cl_program program;
	double first_ms = -1, again_ms = -1;

	int rc = bl_gpu_open(&gpu, &cfg, &err);
	if (rc == -ENODEV)
		cr_skip_test("no OpenCL device");
	cr_assert_eq(bl_gpu_program(&program, gpu, TWICE, "-DCACHE_TEST", &first_ms, &err), 0, "%s", err.message);
	cr_assert_eq(bl_gpu_program(&program, gpu, TWICE, "-DCACHE_TEST", &again_ms, &err), 0);
	bl_gpu_close(&gpu);

	cr_assert_eq(again_ms, 0.0, "a program built once is kept in memory");
	cr_assert_eq(count_cache_files(dir), 1, "one binary is stored");
	cr_assert_eq(bl_gpu_open(&gpu, &cfg, &err), 0);
	cr_assert_eq(bl_gpu_program(&program, gpu, TWICE, "-DCACHE_TEST", &again_ms, &err), 0, "%s", err.message);
	cr_assert_eq(count_cache_files(dir), 1, "a later process loads the same binary");
	bl_gpu_close(&gpu);

	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(gpu_launch, corrupt_cache_entry_is_rebuilt)
{
	char dir[] = "/tmp/bl-gpu-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	bl_gpu_config_t cfg;
	bl_gpu_config_init(&cfg);
	cfg.cache_dir = dir;
	bl_gpu_t *gpu = NULL;
	bl_error_t err = {0};
	cl_program program;

	if (bl_gpu_open(&gpu, &cfg, &err) == -ENODEV)
		cr_skip_test("no OpenCL device");
	cr_assert_eq(bl_gpu_program(&program, gpu, TWICE, "-DCORRUPT_TEST", NULL, &err), 0, "%s", err.message);
	bl_gpu_close(&gpu);

	char cmd[4300];
	snprintf(cmd, sizeof cmd, "for f in %s/programs/*.bin; do printf garbage > \"$f\"; done", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(bl_gpu_open(&gpu, &cfg, &err), 0);
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	twice_run_t run = {0};
	enqueue_twice(launch, gpu, &run, 77, "-DCORRUPT_TEST");
	gpu_test_finish(launch, "after a corrupt cache entry");
	expect_twice(&run);

	bl_gpu_launch_free(&launch);
	free_twice(&run);
	bl_gpu_close(&gpu);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(gpu_launch, buffer_over_device_limit_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	cl_ulong max_alloc = 0;
	bl_error_t err = {0};
	cl_mem mem;
	clGetDeviceInfo(bl_gpu_device_id(gpu), CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);

	int rc = bl_gpu_alloc(&mem, launch, (size_t)max_alloc + 1, &err);

	cr_assert_eq(rc, BL_ELIMIT);
	cr_assert(strstr(err.message, "largest buffer"), "message: %s", err.message);
	cr_assert_eq(bl_gpu_tenant_bytes(gpu, "test"), 0, "nothing is held after the refusal");
	bl_gpu_launch_free(&launch);
	bl_gpu_close(&gpu);
}
