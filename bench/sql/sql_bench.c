/*
 * beamline-sql-bench: queries per second through the sql block.
 *
 * Keeps `clients` jobs in flight, each
 *   SELECT abalance FROM pgbench_accounts WHERE aid = $1
 * with a random aid, through the block API on real pools (an I/O pool
 * driving libpq, a blocking pool) and a pool of `clients` connections, as
 * the engine runs them. A finished job starts the next one from its done
 * callback. Counts completions after a warm-up and prints one JSON line.
 * bench/sql/run starts PostgreSQL, loads pgbench's tables and runs
 * `pgbench -S` with the same client count for the peer figure.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <beamline/blocks.h>
#include <beamline/services.h>

#define CLIENTS_MAX 256

typedef struct options {
	const char *dsn;
	unsigned clients;
	double seconds;
	double warmup;
	long accounts;
	unsigned io_workers;
} options_t;

typedef struct client {
	struct bench *bench;
	bl_block_env_t env;
	bl_cancel_t cancel;
	json_t *params;
	uint64_t started_ns;
	unsigned seed;
} client_t;

typedef struct bench {
	options_t opt;
	const bl_block_t *block;
	client_t clients[CLIENTS_MAX];
	atomic_bool measuring;
	atomic_bool stopping;
	atomic_uint_fast64_t done;
	atomic_uint_fast64_t errors;
	atomic_uint_fast64_t latency_ns; /* summed over measured jobs */
	bl_latch_t idle;                 /* every client has stopped */
	char first_error[BL_ERROR_MESSAGE_MAX + 64];
	atomic_flag error_noted;
} bench_t;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void start_job(client_t *c);

static void job_done(void *ctx, bl_block_outcome_t *o)
{
	client_t *c = ctx;
	bench_t *b = c->bench;

	if (atomic_load(&b->measuring)) {
		atomic_fetch_add(&b->done, 1);
		atomic_fetch_add(&b->latency_ns, now_ns() - c->started_ns);
		if (!o || o->code < 0)
			atomic_fetch_add(&b->errors, 1);
	}
	if (o && o->code < 0 && !atomic_flag_test_and_set(&b->error_noted))
		snprintf(b->first_error, sizeof b->first_error, "%s: %s", o->error_code, o->error.message);
	bl_block_outcome_free(&o);
	json_decref(c->params);
	c->params = NULL;

	if (atomic_load(&b->stopping)) {
		bl_latch_count_down(&b->idle);
		return;
	}
	start_job(c);
}

static void start_job(client_t *c)
{
	bench_t *b = c->bench;
	long aid = 1 + (long)(rand_r(&c->seed) % b->opt.accounts);

	c->params = json_pack("{s:s, s:s, s:[I]}", "database", "bench", "sql",
			      "SELECT abalance FROM pgbench_accounts WHERE aid = $1", "params", (json_int_t)aid);
	c->started_ns = now_ns();
	if (!c->params || b->block->start(c->params, &c->env, job_done, c) < 0) {
		fprintf(stderr, "beamline-sql-bench: cannot start a job\n");
		exit(1);
	}
}

static int parse(int argc, char **argv, options_t *o)
{
	*o = (options_t){.clients = 8, .seconds = 10, .warmup = 1, .accounts = 100000, .io_workers = 1};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (strcmp(argv[i], "--dsn") == 0)
			o->dsn = v;
		else if (strcmp(argv[i], "--clients") == 0)
			o->clients = (unsigned)atoi(v);
		else if (strcmp(argv[i], "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(argv[i], "--warmup") == 0)
			o->warmup = atof(v);
		else if (strcmp(argv[i], "--accounts") == 0)
			o->accounts = atol(v);
		else if (strcmp(argv[i], "--io-workers") == 0)
			o->io_workers = (unsigned)atoi(v);
		else
			return -1;
		i++;
	}
	if (!o->dsn || o->clients < 1 || o->clients > CLIENTS_MAX || o->seconds <= 0 || o->accounts < 1 ||
	    o->io_workers < 1)
		return -1;
	return 0;
}

static int start_pools(bl_runtime_t **rt, bl_pool_t **io, bl_pool_t **blocking, unsigned io_workers)
{
	bl_pool_config_t cfg;
	int rc = bl_runtime_new(rt);

	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = io_workers;
	cfg.pin_workers = false;
	if (rc == 0)
		rc = bl_runtime_add_pool(*rt, &cfg, io);

	bl_pool_config_init(&cfg);
	cfg.name = "blocking";
	cfg.workers = 1;
	cfg.pin_workers = false;
	if (rc == 0)
		rc = bl_runtime_add_pool(*rt, &cfg, blocking);
	return rc;
}

int main(int argc, char **argv)
{
	static bench_t b;
	bl_runtime_t *rt = NULL;
	bl_pool_t *io = NULL, *blocking = NULL;
	bl_block_services_t *services = NULL;
	bl_error_t err = {0};

	if (parse(argc, argv, &b.opt) < 0) {
		fprintf(stderr, "usage: beamline-sql-bench --dsn DSN [--clients N (1-%d, default 8)] [--seconds S "
			"(default 10)] [--warmup S (default 1)] [--accounts N (rows of pgbench_accounts, default "
			"100000)] [--io-workers N (default 1)]\n", CLIENTS_MAX);
		return 2;
	}
	int rc = start_pools(&rt, &io, &blocking, b.opt.io_workers);
	if (rc < 0) {
		fprintf(stderr, "beamline-sql-bench: cannot start the pools: %s\n", bl_strerror(rc));
		return 1;
	}

	json_t *config = json_pack("{s:{s:{s:{s:s, s:s, s:i, s:b}}}}", "sql", "databases", "bench", "driver",
				   "postgres", "dsn", b.opt.dsn, "pool_size", (int)b.opt.clients, "shared", 1);
	bl_services_setup_t setup = {.config = config,
				     .rt = rt,
				     .control_pool = blocking,
				     .io_pool = io,
				     .blocking_pool = blocking,
				     .data_dir = "/nonexistent",
				     .state_dir = "/nonexistent"};
	if (bl_block_services_new(&services, &setup, &err) < 0) {
		fprintf(stderr, "beamline-sql-bench: %s: %s\n", err.field, err.message);
		return 1;
	}

	b.block = bl_block_find("sql");
	bl_latch_init(&b.idle, b.opt.clients);
	for (unsigned i = 0; i < b.opt.clients; i++) {
		client_t *c = &b.clients[i];
		c->bench = &b;
		c->seed = 12345u + i;
		c->env = (bl_block_env_t){.io_pool = io, .blocking_pool = blocking, .services = services,
					  .cancel = &c->cancel, .data_dir = -1, .tenant = "bench", .job_id = "bench",
					  .corr_id = "bench"};
		start_job(c);
	}

	usleep((useconds_t)(b.opt.warmup * 1e6));
	atomic_store(&b.measuring, true);
	uint64_t t0 = now_ns();
	usleep((useconds_t)(b.opt.seconds * 1e6));
	atomic_store(&b.measuring, false);
	uint64_t t1 = now_ns();
	atomic_store(&b.stopping, true);
	bl_latch_wait(&b.idle);

	uint64_t done = atomic_load(&b.done);
	double elapsed = (double)(t1 - t0) / 1e9;
	printf("{\"bench\": \"sql_block_select\", \"clients\": %u, \"io_workers\": %u, \"seconds\": %.3f, "
	       "\"queries\": %llu, \"errors\": %llu, \"qps\": %.1f, \"mean_latency_us\": %.1f}\n",
	       b.opt.clients, b.opt.io_workers, elapsed, (unsigned long long)done,
	       (unsigned long long)atomic_load(&b.errors), (double)done / elapsed,
	       done ? (double)atomic_load(&b.latency_ns) / (double)done / 1e3 : 0.0);
	if (atomic_load(&b.errors) > 0)
		fprintf(stderr, "beamline-sql-bench: first error: %s\n", b.first_error);

	bl_block_services_stop(services);
	bl_runtime_free(&rt);
	bl_block_services_free(&services);
	json_decref(config);
	return atomic_load(&b.errors) > 0 ? 1 : 0;
}
