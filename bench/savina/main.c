/*
 * beamline-savina BENCH [--threads N]
 *
 * Runs one Savina benchmark on a fresh runtime with one CPU pool of N
 * workers (default: one per core) and prints one JSON line; see
 * bench/README.md for the workloads and the output fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "savina.h"

typedef struct bench {
	const char *name;
	savina_fn run;
} bench_t;

static const bench_t benches[] = {
	{"pingpong", savina_pingpong},   {"threadring", savina_threadring},
	{"counting", savina_counting},   {"fjthroughput", savina_fjthroughput},
	{"spawn", savina_spawn},         {"big", savina_big},
	{"footprint", savina_footprint}, {"tasks", savina_tasks},
	{"tasks_inside", savina_tasks_inside},
};

static void usage(FILE *to)
{
	fprintf(to, "usage: beamline-savina BENCH [--threads N]\nBENCH is one of:");
	for (size_t i = 0; i < sizeof benches / sizeof *benches; i++)
		fprintf(to, " %s", benches[i].name);
	fprintf(to, "\n--threads N  worker threads of the CPU pool (default: one per core)\n");
}

static const bench_t *find_bench(const char *name)
{
	for (size_t i = 0; i < sizeof benches / sizeof *benches; i++) {
		if (strcmp(benches[i].name, name) == 0)
			return &benches[i];
	}
	return NULL;
}

static void print_result(const bench_t *bench, unsigned threads, const savina_result_t *r)
{
	printf("{\"system\":\"beamline\",\"bench\":\"%s\",\"threads\":%u,\"ops\":%llu,\"unit\":\"%s\","
	       "\"elapsed_s\":%.6f,\"ns_per_op\":%.2f,\"check\":%s",
	       bench->name, threads, (unsigned long long)r->ops, r->unit, r->elapsed_s,
	       r->elapsed_s * 1e9 / (double)r->ops, r->check ? "true" : "false");
	if (strcmp(bench->name, "footprint") == 0)
		printf(",\"rss_growth_bytes\":%lld,\"bytes_per_actor\":%.1f", (long long)r->rss_growth_bytes,
		       r->bytes_per_actor);
	printf("}\n");
}

/* With BEAMLINE_BENCH_STATS set, the pool's scheduler counters go to
 * stderr, to see why a figure is what it is. */
static void print_stats(bl_pool_t *pool)
{
	bl_pool_stats_t st;
	bl_pool_stats(pool, &st);
	fprintf(stderr,
		"activations=%llu messages=%llu tasks=%llu steals=%llu parks=%llu wakeups=%llu "
		"spawned=%llu exited=%llu pinned=%llu\n",
		(unsigned long long)st.activations, (unsigned long long)st.messages,
		(unsigned long long)st.tasks, (unsigned long long)st.steals, (unsigned long long)st.parks,
		(unsigned long long)st.wakeups, (unsigned long long)st.spawned, (unsigned long long)st.exited,
		(unsigned long long)st.pinned);
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const bench_t *bench = find_bench(argv[1]);
	if (!bench) {
		fprintf(stderr, "beamline-savina: unknown benchmark '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}

	unsigned threads = 0;
	for (int i = 2; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = (unsigned)strtoul(argv[++i], &end, 10);
		if (!end || *end != '\0' || threads == 0 || threads > 1024) {
			fprintf(stderr, "beamline-savina: invalid argument '%s': expected --threads N, N from 1 to 1024\n",
				argv[i]);
			return 2;
		}
	}

	bl_runtime_t *rt;
	bl_pool_t *pool;
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.workers = threads;
	if (getenv("BEAMLINE_BENCH_BATCH"))
		cfg.batch = (unsigned)atoi(getenv("BEAMLINE_BENCH_BATCH"));
	if (getenv("BEAMLINE_BENCH_SPIN"))
		cfg.spin_rounds = (unsigned)atoi(getenv("BEAMLINE_BENCH_SPIN"));
	int rc = bl_runtime_new(&rt);
	if (rc == 0)
		rc = bl_runtime_add_pool(rt, &cfg, &pool);
	if (rc < 0) {
		fprintf(stderr, "beamline-savina: cannot start the runtime: %s\n", bl_strerror(rc));
		return 1;
	}

	savina_result_t result = {0};
	rc = bench->run(pool, &result);
	threads = bl_pool_worker_count(pool);
	if (getenv("BEAMLINE_BENCH_STATS"))
		print_stats(pool);
	bl_runtime_free(&rt);
	if (rc < 0) {
		fprintf(stderr, "beamline-savina: %s failed: %s\n", bench->name, bl_strerror(rc));
		return 1;
	}

	print_result(bench, threads, &result);
	return result.check ? 0 : 1;
}
