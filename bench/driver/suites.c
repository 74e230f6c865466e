/*
 * The suite table: prerequisites, costs and command lines. Every suite is
 * an existing program or script, run once per repetition; the servers the
 * scripts start (nginx, PostgreSQL, nats-server) listen on 127.0.0.1 only.
 */
#include "suites.h"

#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"

void command_arg(command_t *cmd, const char *format, ...)
{
	va_list ap;
	if (cmd->argc == COMMAND_ARGS_MAX)
		abort();
	va_start(ap, format);
	vsnprintf(cmd->args[cmd->argc], sizeof cmd->args[0], format, ap);
	va_end(ap);
	cmd->argv[cmd->argc] = cmd->args[cmd->argc];
	cmd->argv[++cmd->argc] = NULL;
}

void command_env(command_t *cmd, const char *format, ...)
{
	va_list ap;
	if (cmd->envc == COMMAND_ENV_MAX)
		abort();
	va_start(ap, format);
	vsnprintf(cmd->env[cmd->envc], sizeof cmd->env[0], format, ap);
	va_end(ap);
	cmd->envp[cmd->envc] = cmd->env[cmd->envc];
	cmd->envp[++cmd->envc] = NULL;
}

/* 1 with a reason unless `build_dir`/`path` is an executable. */
static int need_built(const suite_context_t *ctx, const char *path, char *reason, size_t size)
{
	char full[4096];
	snprintf(full, sizeof full, "%s/%s", ctx->build_dir, path);
	if (access(full, X_OK) == 0)
		return 0;
	snprintf(reason, size, "%s is not built", full);
	return 1;
}

/* 1 with a reason unless `program` is found in PATH or at `fallback`. */
static int need_tool(const char *program, const char *fallback, const char *package, char *reason, size_t size)
{
	const char *path = getenv("PATH");
	char full[4096];

	while (path && *path) {
		size_t len = strcspn(path, ":");
		snprintf(full, sizeof full, "%.*s/%s", (int)len, path, program);
		if (access(full, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	if (fallback && access(fallback, X_OK) == 0)
		return 0;
	snprintf(reason, size, "%s is not installed (Debian package %s)", program, package);
	return 1;
}

static int check_actors(const suite_context_t *ctx, char *reason, size_t size)
{
	return need_built(ctx, "bench/beamline-savina", reason, size);
}

static void command_actors(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s", ctx->self);
	command_arg(cmd, "actors");
	command_arg(cmd, "--programs");
	command_arg(cmd, "%s/bench", ctx->build_dir);
	command_arg(cmd, "--reps");
	command_arg(cmd, "1");
	command_arg(cmd, "--json");
	command_arg(cmd, "-");
	/* Quick: the four benchmarks whose peer also finishes in seconds;
	 * CAF's spawn alone can run into the 120 s limit. */
	if (ctx->quick) {
		command_arg(cmd, "--only");
		command_arg(cmd, "pingpong,threadring,counting,tasks");
		command_arg(cmd, "--timeout");
		command_arg(cmd, "30");
	}
}

static int check_engine(const suite_context_t *ctx, char *reason, size_t size)
{
	return need_built(ctx, "bench/beamline-engine-bench", reason, size);
}

static void command_engine(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/beamline-engine-bench", ctx->build_dir);
	command_arg(cmd, "--reps");
	command_arg(cmd, "1");
	if (ctx->quick)
		command_arg(cmd, "--quick");
}

static int check_kernels(const suite_context_t *ctx, char *reason, size_t size)
{
	if (need_built(ctx, "bench/beamline-device-bench", reason, size))
		return 1;
	if (machine_opencl_count(ctx->machine) > 0)
		return 0;

	const char *why = json_string_value(json_object_get(ctx->machine, "opencl_error"));
	snprintf(reason, size, "no OpenCL device%s%s", why ? ": " : "", why ? why : "");
	return 1;
}

static void command_kernels(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/beamline-device-bench", ctx->build_dir);
	command_arg(cmd, "--reps");
	command_arg(cmd, "1");
	if (ctx->quick)
		command_arg(cmd, "--quick");
	/* Program caches in the build tree: each repetition is a new process,
	 * and only the first should pay for building the kernels. */
	command_env(cmd, "BEAMLINE_CACHE_DIR=%s/gpu-cache", ctx->build_dir);
	command_env(cmd, "POCL_CACHE_DIR=%s/pocl-cache", ctx->build_dir);
}

static int check_fs(const suite_context_t *ctx, char *reason, size_t size)
{
	if (need_built(ctx, "bench/beamline-fs-bench", reason, size) ||
	    need_built(ctx, "engine/beamline-engine", reason, size))
		return 1;
	return need_tool("fio", NULL, "fio", reason, size);
}

static void command_fs(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/fs/run", ctx->source_dir);
	command_arg(cmd, "--json");
	command_arg(cmd, "--reps");
	command_arg(cmd, "1");
	command_arg(cmd, "--build");
	command_arg(cmd, "%s", ctx->build_dir);
	if (ctx->quick) {
		command_arg(cmd, "--total-mib");
		command_arg(cmd, "32");
	}
}

static int check_http(const suite_context_t *ctx, char *reason, size_t size)
{
	if (need_built(ctx, "bench/beamline-http-bench", reason, size))
		return 1;
	if (need_tool("wrk", NULL, "wrk", reason, size))
		return 1;
	/* bench/http/run unpacks nginx from its Debian package on its first
	 * run, as scripts/install-deps installs the other tools. */
	return 0;
}

static void command_http(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/http/run", ctx->source_dir);
	command_arg(cmd, "--duration-s");
	command_arg(cmd, ctx->quick ? "2" : "5");
	command_env(cmd, "BUILD=%s", ctx->build_dir);
}

static int check_sql(const suite_context_t *ctx, char *reason, size_t size)
{
	if (need_built(ctx, "bench/beamline-sql-bench", reason, size) ||
	    need_built(ctx, "engine/beamline-engine", reason, size))
		return 1;

	glob_t found;
	int rc = glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &found);
	globfree(&found);
	if (rc == 0)
		return 0;
	snprintf(reason, size, "no PostgreSQL programs under /usr/lib/postgresql/*/bin (Debian package postgresql-15)");
	return 1;
}

static void command_sql(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/sql/run", ctx->source_dir);
	command_env(cmd, "BUILD=%s", ctx->build_dir);
	command_env(cmd, "DURATION=%s", ctx->quick ? "2" : "10");
	command_env(cmd, "SCALE=%s", ctx->quick ? "1" : "10");
	command_env(cmd, "RUN_JOBS=%s", ctx->quick ? "5000" : "50000");
}

static int check_nats(const suite_context_t *ctx, char *reason, size_t size)
{
	if (need_built(ctx, "bench/beamline-nats-bench", reason, size) ||
	    need_built(ctx, "engine/beamline-engine", reason, size))
		return 1;
	return need_tool("nats-server", "/usr/sbin/nats-server", "nats-server", reason, size);
}

static void command_nats(const suite_context_t *ctx, command_t *cmd)
{
	command_arg(cmd, "%s/bench/nats/run", ctx->source_dir);
	command_env(cmd, "BUILD=%s", ctx->build_dir);
	command_env(cmd, "JOBS=%s", ctx->quick ? "2000" : "20000");
	command_env(cmd, "REQUESTS=%s", ctx->quick ? "500" : "5000");
}

/* NOTE: the costs are estimates from the figures in bench/RESULTS.md on a
 * 2-core machine, with the start-up of servers included. A slower machine
 * or a debug build takes longer. `run` then measures the first repetition
 * and cuts the rest, but it cannot take back the decision to start. */
static const suite_t suites[] = {
	{"actors", "Savina micro-benchmarks and task overhead against CAF and StarPU",
	 {180, 10}, {1800, 300}, check_actors, command_actors, parse_actors},
	{"engine", "jobs per second through a local run; the sgemm job against OpenBLAS",
	 {40, 8}, {600, 120}, check_engine, command_engine, parse_engine},
	{"kernels", "one OpenCL device: triad, memory-bound kernels, kernels against the CPU, sgemm, launches",
	 {120, 30}, {900, 300}, check_kernels, command_kernels, parse_kernels},
	{"fs", "fs block write and read throughput against fio",
	 {30, 6}, {600, 120}, check_fs, command_fs, parse_fs},
	{"http", "http block requests per second against wrk, on a loopback nginx",
	 {14, 7}, {120, 60}, check_http, command_http, parse_http},
	{"sql", "sql block and engine run queries per second against pgbench",
	 {60, 15}, {300, 120}, check_sql, command_sql, parse_sql},
	{"nats", "service-mode jobs per second and request latency against bare NATS",
	 {25, 6}, {300, 120}, check_nats, command_nats, parse_nats},
};

const suite_t *suites_all(size_t *count)
{
	*count = sizeof suites / sizeof *suites;
	return suites;
}

const suite_t *suites_find(const char *name)
{
	for (size_t i = 0; i < sizeof suites / sizeof *suites; i++) {
		if (strcmp(suites[i].name, name) == 0)
			return &suites[i];
	}
	return NULL;
}
