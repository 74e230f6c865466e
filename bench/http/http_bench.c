/*
 * beamline-http-bench: requests per second through the http block against
 * a server on 127.0.0.1, with a fixed number of requests in flight.
 *
 *   beamline-http-bench --url http://127.0.0.1:PORT/path [--concurrency N]
 *                       [--duration-s S] [--io-workers N]
 *
 * The block runs as the engine runs it (prepare is skipped): a runtime with
 * an I/O pool, the http service with 127.0.0.1/32 allowed, and the block's
 * start called per request, the next one started from the previous one's
 * completion. Prints one JSON line:
 *   {"system":"beamline-http","url":...,"concurrency":N,"io_workers":N,
 *    "requests":N,"errors":N,"elapsed_s":S,"rps":R}
 * Exits 1 when a request failed or none completed.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/blocks.h>
#include <beamline/http_service.h>
#include <beamline/services.h>

typedef struct bench {
	const bl_block_t *block;
	json_t *params;
	bl_block_env_t env;
	uint64_t stop_ns;          /* no request starts after this */
	atomic_ulong done;
	atomic_ulong errors;
	atomic_uint in_flight;
	bl_latch_t finished;       /* opens when the last request ends */
	char first_error[512];
	atomic_flag error_noted;
} bench_t;

typedef struct options {
	const char *url;
	unsigned concurrency;
	double duration_s;
	unsigned io_workers;
} options_t;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void start_one(bench_t *b);

/* Runs on an I/O worker: count the request, start the next one. */
static void on_done(void *ctx, bl_block_outcome_t *o)
{
	bench_t *b = ctx;

	if (!o || o->code != 0) {
		atomic_fetch_add(&b->errors, 1);
		if (!atomic_flag_test_and_set(&b->error_noted))
			snprintf(b->first_error, sizeof b->first_error, "%.64s: %s", o ? o->error_code : "out_of_memory",
				 o ? o->error.message : "");
	} else {
		atomic_fetch_add(&b->done, 1);
	}
	bl_block_outcome_free(&o);
	if (now_ns() < b->stop_ns) {
		start_one(b);
		return;
	}
	if (atomic_fetch_sub(&b->in_flight, 1) == 1)
		bl_latch_count_down(&b->finished);
}

static void start_one(bench_t *b)
{
	if (b->block->start(b->params, &b->env, on_done, b) == 0)
		return;
	atomic_fetch_add(&b->errors, 1);
	if (atomic_fetch_sub(&b->in_flight, 1) == 1)
		bl_latch_count_down(&b->finished);
}

static int parse_options(int argc, char **argv, options_t *o)
{
	*o = (options_t){.concurrency = 16, .duration_s = 5, .io_workers = 1};
	for (int i = 1; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (!value)
			return -1;
		if (strcmp(argv[i], "--url") == 0)
			o->url = value;
		else if (strcmp(argv[i], "--concurrency") == 0)
			o->concurrency = (unsigned)strtoul(value, NULL, 10);
		else if (strcmp(argv[i], "--duration-s") == 0)
			o->duration_s = strtod(value, NULL);
		else if (strcmp(argv[i], "--io-workers") == 0)
			o->io_workers = (unsigned)strtoul(value, NULL, 10);
		else
			return -1;
		i++;
	}
	bool bad = !o->url || strncmp(o->url, "http://127.0.0.1:", 17) != 0 || o->concurrency == 0 ||
		   o->concurrency > 10000 || !(o->duration_s > 0 && o->duration_s <= 600) || o->io_workers == 0 ||
		   o->io_workers > 64;
	return bad ? -1 : 0;
}

/* The runtime, its I/O pool and the http service. */
static int setup(bl_runtime_t **rt, bl_block_services_t *services, bl_pool_t **io, const options_t *o)
{
	bl_pool_config_t cfg;
	bl_error_t err;

	if (bl_runtime_new(rt) < 0)
		return -1;
	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = o->io_workers;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(*rt, &cfg, io);
	if (rc < 0) {
		fprintf(stderr, "beamline-http-bench: cannot start the I/O pool: %s\n", bl_strerror(rc));
		return -1;
	}
	json_t *section = json_pack("{s[s]s{si}}", "allow", "127.0.0.1/32", "breaker", "failures", 1000);
	rc = bl_http_service_new(&services->http, section, *io, &err);
	json_decref(section);
	if (rc < 0) {
		fprintf(stderr, "beamline-http-bench: %s\n", err.message);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	options_t o;
	bl_runtime_t *rt = NULL;
	bl_pool_t *io = NULL;
	bl_block_services_t services = {0};
	bench_t b = {.error_noted = ATOMIC_FLAG_INIT};

	if (parse_options(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: beamline-http-bench --url http://127.0.0.1:PORT/PATH [--concurrency N (16)]\n"
				"                           [--duration-s S (5)] [--io-workers N (1)]\n");
		return 2;
	}
	if (setup(&rt, &services, &io, &o) < 0)
		return 3;
	b.block = bl_block_find("http");
	b.params = json_pack("{ss}", "url", o.url);
	b.env = (bl_block_env_t){.io_pool = io, .services = &services, .data_dir = -1, .corr_id = "bench"};
	atomic_store(&b.in_flight, o.concurrency);
	bl_latch_init(&b.finished, 1);

	uint64_t t0 = now_ns();
	b.stop_ns = t0 + (uint64_t)(o.duration_s * 1e9);
	for (unsigned i = 0; i < o.concurrency; i++)
		start_one(&b);
	bl_latch_wait(&b.finished);
	double elapsed = (double)(now_ns() - t0) / 1e9;

	unsigned long done = atomic_load(&b.done), errors = atomic_load(&b.errors);
	printf("{\"system\":\"beamline-http\",\"url\":\"%s\",\"concurrency\":%u,\"io_workers\":%u,\"requests\":%lu,"
	       "\"errors\":%lu,\"elapsed_s\":%.3f,\"rps\":%.1f}\n",
	       o.url, o.concurrency, o.io_workers, done, errors, elapsed, (double)done / elapsed);
	if (errors)
		fprintf(stderr, "beamline-http-bench: %lu requests failed; the first: %s\n", errors, b.first_error);

	bl_http_service_stop(services.http);
	bl_runtime_free(&rt);
	bl_http_service_free(&services.http);
	json_decref(b.params);
	return errors || done == 0 ? 1 : 0;
}
