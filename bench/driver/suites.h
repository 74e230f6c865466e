/*
 * The suites of `beamline-bench run`: what each needs, what one
 * repetition costs, the command that runs it, and how its output becomes
 * figures.
 */
#ifndef BL_BENCH_SUITES_H
#define BL_BENCH_SUITES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "figures.h"

#define COMMAND_ARGS_MAX 24
#define COMMAND_ENV_MAX 8

/* One child command line with its own storage. */
typedef struct command {
	char args[COMMAND_ARGS_MAX][512];
	char env[COMMAND_ENV_MAX][640];
	char *argv[COMMAND_ARGS_MAX + 1];
	char *envp[COMMAND_ENV_MAX + 1];
	size_t argc;
	size_t envc;
} command_t;

/* What every suite may read; borrowed for the whole run. */
typedef struct suite_context {
	const char *build_dir;  /* the build tree holding bench/ and engine/ */
	const char *source_dir; /* the repository, for the scripts */
	const char *self;       /* this program, for `actors` */
	const json_t *machine;  /* machine_describe()'s object */
	bool quick;             /* the smaller settings, for CI */
} suite_context_t;

typedef struct suite {
	const char *name;
	const char *summary;
	/* Estimated seconds of one repetition on a 2-core machine, [0] with
	 * the full and [1] with the quick settings. `run` measures the real
	 * cost of each repetition and plans the rest with that. */
	double rep_s[2];
	/* Seconds one repetition may take before it is stopped. */
	unsigned timeout_s[2];
	/* 0 when the suite can run here, else 1 with the reason in `reason`. */
	int (*check)(const suite_context_t *ctx, char *reason, size_t size);
	/* Fill `cmd` with one repetition's command line. */
	void (*command)(const suite_context_t *ctx, command_t *cmd);
	/* Add the figures of one repetition's standard output to `f`. Returns
	 * 0, or -1 with the reason in `error`. */
	int (*parse)(figures_t *f, const char *output, char *error, size_t size);
} suite_t;

/* The known suites in the order `run` runs them; *count gets how many. */
const suite_t *suites_all(size_t *count);

/* The suite called `name`, or NULL. */
const suite_t *suites_find(const char *name);

/* Append an argument or a "NAME=value" environment entry, printf-style. */
void command_arg(command_t *cmd, const char *format, ...) __attribute__((format(printf, 2, 3)));
void command_env(command_t *cmd, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Output parsers, one per suite; see suite_t.parse. */
int parse_actors(figures_t *f, const char *output, char *error, size_t size);
int parse_engine(figures_t *f, const char *output, char *error, size_t size);
int parse_kernels(figures_t *f, const char *output, char *error, size_t size);
int parse_fs(figures_t *f, const char *output, char *error, size_t size);
int parse_http(figures_t *f, const char *output, char *error, size_t size);
int parse_sql(figures_t *f, const char *output, char *error, size_t size);
int parse_nats(figures_t *f, const char *output, char *error, size_t size);

#endif
