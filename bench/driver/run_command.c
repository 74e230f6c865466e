/*
 * beamline-bench run: the suites within a time budget, as one JSON
 * document; and beamline-bench machine-class.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "child.h"
#include "commands.h"
#include "figures.h"
#include "machine.h"
#include "suites.h"
#include "verdict.h"

#define SCHEMA_VERSION 1

typedef enum suite_status {
	SUITE_SKIPPED,
	SUITE_RAN,
	SUITE_FAILED,
	SUITE_INTERRUPTED, /* SIGINT or SIGTERM stopped it after it started */
} suite_status_t;

typedef struct suite_run {
	const suite_t *suite;
	suite_status_t status;
	char reason[1024];
	unsigned planned_reps;
	unsigned reps;
	double elapsed_s;
	int exit_status;
	char stderr_tail[CHILD_STDERR_TAIL];
} suite_run_t;

typedef struct run_options {
	const char *suites;    /* comma-separated, NULL for all */
	double budget_s;       /* <= 0: no budget */
	unsigned reps;         /* 0: 5, or 3 with --quick */
	const char *json_path; /* NULL: standard output */
	bool quick;
	char build_dir[4096];
} run_options_t;

static void usage(FILE *to)
{
	size_t count;
	const suite_t *all = suites_all(&count);

	fputs("usage: beamline-bench run [--suite LIST] [--budget SECONDS] [--reps R] [--json FILE] [--quick]\n"
	      "                          [--build-dir DIR]\n"
	      "  --suite LIST      comma-separated suites to run (default: all)\n"
	      "  --budget SECONDS  fit the suites and their repetitions into about this many seconds;\n"
	      "                    a suite that does not fit is skipped and the document says so\n"
	      "  --reps R          repetitions of each suite, 1 to 100 (default 5, or 3 with --quick)\n"
	      "  --json FILE       write the run document to FILE (default: standard output)\n"
	      "  --quick           the smaller settings of every suite, for CI\n"
	      "  --build-dir DIR   the build tree with the programs (default: the one holding this program)\n"
	      "suites:\n",
	      to);
	for (size_t i = 0; i < count; i++)
		fprintf(to, "  %-8s %s\n", all[i].name, all[i].summary);
	fputs("Exit status: 0 every selected suite ran or was skipped, 1 a suite failed or the run was\n"
	      "interrupted, 2 usage error or a --json FILE that cannot be written.\n",
	      to);
}

/* The options that take a value, with what the value must be. */
static const struct {
	const char *name;
	const char *expected;
} value_options[] = {
	{"--suite", "a comma-separated list of suites"},
	{"--budget", "a number of seconds greater than 0"},
	{"--reps", "a whole number from 1 to 100"},
	{"--json", "a file path"},
	{"--build-dir", "a folder path shorter than 4096 bytes"},
};

/* Store the value of the option `name`, one of value_options. Returns 0,
 * or -1 when the value is invalid. */
static int set_option(run_options_t *opt, const char *name, const char *value)
{
	if (strcmp(name, "--suite") == 0)
		opt->suites = value;
	else if (strcmp(name, "--budget") == 0)
		return parse_seconds(value, &opt->budget_s) == 0 && opt->budget_s > 0 ? 0 : -1;
	else if (strcmp(name, "--reps") == 0)
		return parse_unsigned(value, 1, 100, &opt->reps);
	else if (strcmp(name, "--json") == 0)
		opt->json_path = value;
	else if (snprintf(opt->build_dir, sizeof opt->build_dir, "%s", value) >= (int)sizeof opt->build_dir)
		return -1;
	return 0;
}

/* The index of `arg` in value_options, or -1 when it is not one. */
static int value_option(const char *arg)
{
	for (size_t i = 0; i < sizeof value_options / sizeof *value_options; i++) {
		if (strcmp(arg, value_options[i].name) == 0)
			return (int)i;
	}
	return -1;
}

/* Parse the options; returns 0, or 2 after printing why. */
static int parse_options(run_options_t *opt, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "--quick") == 0) {
			opt->quick = true;
			continue;
		}

		int index = value_option(arg);
		if (index < 0)
			fprintf(stderr, "beamline-bench run: unknown option '%s'\n", arg);
		else if (!value)
			fprintf(stderr, "beamline-bench run: option %s needs a value: %s\n", arg,
				value_options[index].expected);
		else if (set_option(opt, arg, value) < 0)
			fprintf(stderr, "beamline-bench run: invalid value '%s' for %s: expected %s\n", value, arg,
				value_options[index].expected);
		else {
			i++;
			continue;
		}
		usage(stderr);
		return 2;
	}
	if (opt->reps == 0)
		opt->reps = opt->quick ? 3 : 5;
	return 0;
}

/* Check before any suite runs that the document can be written to
 * `path`, so that an unwritable path does not waste the run. An existing
 * file must be writable, and otherwise a probe file is created and removed.
 * Returns 0, or -1 after printing why. */
static int check_writable(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "beamline-bench run: --json %s is a folder; give a file path\n", path);
		return -1;
	}
	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) == 0)
			return 0;
	} else {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			unlink(path);
			return 0;
		}
	}
	fprintf(stderr, "beamline-bench run: cannot write the document to --json %s: %s\n", path, strerror(errno));
	return -1;
}

/* Fill `runs` with the selected suites in the table's order. Returns the
 * count, or -1 after naming an unknown suite. */
static int select_suites(suite_run_t *runs, const char *list)
{
	size_t count;
	const suite_t *all = suites_all(&count);

	if (list && !*list) {
		fputs("beamline-bench run: --suite is empty; name at least one suite\n", stderr);
		return -1;
	}
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ",");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)len, p);
		if (!suites_find(name)) {
			fprintf(stderr, "beamline-bench run: unknown suite '%s' in --suite; the suites are:", name);
			for (size_t i = 0; i < count; i++)
				fprintf(stderr, " %s", all[i].name);
			fputc('\n', stderr);
			return -1;
		}
		p += len + (p[len] == ',');
	}

	int n = 0;
	for (size_t i = 0; i < count; i++) {
		if (!list || name_in_list(list, all[i].name))
			runs[n++] = (suite_run_t){.suite = &all[i]};
	}
	return n;
}

/* Decide which suites run and how often; the rest get their reason. */
static void plan(suite_run_t *runs, size_t n, const suite_context_t *ctx, const run_options_t *opt)
{
	budget_item_t items[16];

	for (size_t i = 0; i < n; i++) {
		runs[i].status = SUITE_SKIPPED;
		items[i] = (budget_item_t){.rep_s = runs[i].suite->rep_s[opt->quick]};
		items[i].runnable = runs[i].suite->check(ctx, runs[i].reason, sizeof runs[i].reason) == 0;
	}
	budget_plan(items, n, opt->budget_s, opt->reps);
	for (size_t i = 0; i < n; i++) {
		runs[i].planned_reps = items[i].reps;
		if (items[i].runnable && items[i].reps == 0) {
			unsigned min = opt->reps < BUDGET_MIN_REPS ? opt->reps : BUDGET_MIN_REPS;
			snprintf(runs[i].reason, sizeof runs[i].reason,
				 "does not fit the budget of %.0f s after the suites before it: %u repetitions take "
				 "about %.0f s",
				 opt->budget_s, min, min * items[i].rep_s);
		}
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Record a failed repetition: its exit status, stderr tail and reason. */
static void fail(suite_run_t *run, const child_result_t *r, const char *why)
{
	run->status = SUITE_FAILED;
	run->exit_status = r ? r->exit_status : -1;
	snprintf(run->reason, sizeof run->reason, "%s", why);
	if (r)
		snprintf(run->stderr_tail, sizeof run->stderr_tail, "%s", r->stderr_tail);
}

/* Run one repetition of a suite; returns 0, or -1 after fail(). */
static int run_rep(suite_run_t *run, figures_t *figures, const suite_context_t *ctx, bool quick)
{
	command_t cmd = {0};
	child_result_t r;
	char why[1024];

	run->suite->command(ctx, &cmd);
	int rc = child_run(&r, cmd.argv, cmd.envp, run->suite->timeout_s[quick]);
	if (rc < 0) {
		snprintf(why, sizeof why, "cannot start %s: %s", cmd.argv[0], strerror(-rc));
		fail(run, NULL, why);
		return -1;
	}

	if ((r.timed_out || r.exit_status != 0) && child_interrupted()) {
		/* The forwarded SIGTERM stopped it, so the suite did not fail. */
		run->status = SUITE_INTERRUPTED;
		snprintf(run->reason, sizeof run->reason,
			 "interrupted by a signal during repetition %u of %u, after %u complete", run->reps + 1,
			 run->planned_reps, run->reps);
		child_result_free(&r);
		return -1;
	}
	if (r.output_truncated)
		snprintf(why, sizeof why,
			 "%s printed more than %u MiB to standard output, more than any suite's figures", cmd.argv[0],
			 CHILD_OUTPUT_MAX >> 20);
	else if (r.timed_out)
		snprintf(why, sizeof why, "%s timed out after %u s", cmd.argv[0], run->suite->timeout_s[quick]);
	else if (r.exit_status != 0)
		snprintf(why, sizeof why, "%s exited with status %d", cmd.argv[0], r.exit_status);
	else if (run->suite->parse(figures, r.output, why, sizeof why) == 0)
		why[0] = '\0';
	if (why[0])
		fail(run, &r, why);
	child_result_free(&r);
	return why[0] ? -1 : 0;
}

static const char *status_name(suite_status_t status)
{
	switch (status) {
	case SUITE_SKIPPED:
		return "skipped";
	case SUITE_RAN:
		return "ran";
	case SUITE_FAILED:
		return "failed";
	case SUITE_INTERRUPTED:
		return "interrupted";
	}
	return "unknown";
}

/* Write the warning for a suite with fewer than VERDICT_MIN_REPS
 * repetitions into `out`, and return `out`. */
static const char *few_reps_warning(const suite_run_t *run, char *out, size_t size)
{
	snprintf(out, size,
		 "only %u repetition%s, fewer than the %d that give a spread: compare calls its figures "
		 "inconclusive",
		 run->reps, run->reps == 1 ? "" : "s", VERDICT_MIN_REPS);
	return out;
}

/* Run the planned repetitions of one suite while the next one still fits
 * the budget and no signal has arrived. */
static void run_suite(suite_run_t *run, figures_t *figures, const suite_context_t *ctx, const run_options_t *opt,
		      double deadline)
{
	double start = now_s();

	fprintf(stderr, "beamline-bench: %s, %u repetitions\n", run->suite->name, run->planned_reps);
	for (unsigned rep = 0; rep < run->planned_reps; rep++) {
		/* Before the first repetition only the estimate is known. */
		double mean = rep ? (now_s() - start) / rep : run->suite->rep_s[opt->quick];
		if (opt->budget_s > 0 && now_s() + mean > deadline) {
			snprintf(run->reason, sizeof run->reason,
				 "stopped after %u of %u repetitions: one takes about %.1f s, more than the budget had "
				 "left",
				 rep, run->planned_reps, mean);
			break;
		}
		if (child_interrupted() && rep == 0) {
			snprintf(run->reason, sizeof run->reason, "not started: the run was interrupted by a signal");
			break;
		}
		if (child_interrupted()) {
			run->status = SUITE_INTERRUPTED;
			snprintf(run->reason, sizeof run->reason, "interrupted by a signal after %u of %u repetitions",
				 rep, run->planned_reps);
			break;
		}
		if (run_rep(run, figures, ctx, opt->quick) < 0)
			break;
		run->reps = rep + 1;
		run->status = SUITE_RAN;
	}
	if (run->status == SUITE_FAILED || run->status == SUITE_INTERRUPTED)
		fprintf(stderr, "beamline-bench: %s %s: %s\n", run->suite->name, status_name(run->status), run->reason);
	char warning[256];
	if (run->reps > 0 && run->reps < VERDICT_MIN_REPS)
		fprintf(stderr, "beamline-bench: %s: %s\n", run->suite->name,
			few_reps_warning(run, warning, sizeof warning));
	run->elapsed_s = now_s() - start;
}

static json_t *suites_json(const suite_run_t *runs, size_t n, bool quick)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		const suite_run_t *r = &runs[i];
		json_t *obj = json_pack("{s:s, s:s, s:I, s:I, s:f, s:f}", "name", r->suite->name, "status",
					status_name(r->status), "planned_reps", (json_int_t)r->planned_reps, "reps",
					(json_int_t)r->reps, "estimated_rep_s", r->suite->rep_s[quick], "elapsed_s",
					r->elapsed_s);
		if (r->reason[0])
			json_object_set_new(obj, "reason", json_string(r->reason));
		if (r->reps > 0 && r->reps < VERDICT_MIN_REPS) {
			char warning[256];
			json_object_set_new(obj, "warning", json_string(few_reps_warning(r, warning, sizeof warning)));
		}
		if (r->status == SUITE_FAILED) {
			json_object_set_new(obj, "exit_status", json_integer(r->exit_status));
			json_object_set_new(obj, "stderr_tail", json_string(r->stderr_tail));
		}
		json_array_append_new(list, obj);
	}
	return list;
}

static void utc_now(char *out, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *settings_json(const run_options_t *opt, const suite_run_t *runs, size_t n)
{
	json_t *names = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(names, json_string(runs[i].suite->name));
	return json_pack("{s:o, s:o, s:I, s:b, s:s}", "suites", names, "budget_s",
			 opt->budget_s > 0 ? json_real(opt->budget_s) : json_null(), "reps", (json_int_t)opt->reps,
			 "quick", opt->quick, "build_dir", opt->build_dir);
}

static int write_document(json_t *doc, const char *path)
{
	int rc = path ? json_dump_file(doc, path, JSON_INDENT(2)) : json_dumpf(doc, stdout, JSON_INDENT(2));
	if (rc != 0) {
		fprintf(stderr, "beamline-bench run: cannot write the document to %s: %s\n",
			path ? path : "standard output", strerror(errno));
		return -1;
	}
	if (!path)
		putchar('\n');
	return 0;
}

int run_main(int argc, char **argv, const char *self)
{
	run_options_t opt = {0};
	suite_run_t runs[16];
	figures_t figures = {0};
	char started[32], class[256], engine[4200], build_type[64];

	if (argc > 2 && strcmp(argv[2], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (default_build_dir(opt.build_dir, sizeof opt.build_dir, self) < 0 || parse_options(&opt, argc, argv) != 0)
		return 2;
	if (opt.json_path && check_writable(opt.json_path) < 0)
		return 2;
	int n = select_suites(runs, opt.suites);
	if (n < 0)
		return 2;

	utc_now(started, sizeof started);
	snprintf(engine, sizeof engine, "%s/engine/beamline-engine", opt.build_dir);
	json_t *machine = machine_describe(engine);
	build_type_of(build_type, sizeof build_type, opt.build_dir);
	machine_class(class, sizeof class, machine, build_type);
	json_object_set_new(machine, "class", json_string(class));
	suite_context_t ctx = {.build_dir = opt.build_dir,
			       .source_dir = BL_SOURCE_DIR,
			       .self = self,
			       .machine = machine,
			       .quick = opt.quick};

	plan(runs, (size_t)n, &ctx, &opt);
	child_forward_signals();
	double deadline = now_s() + opt.budget_s;
	bool failed = false;
	for (int i = 0; i < n; i++) {
		if (runs[i].planned_reps > 0)
			run_suite(&runs[i], &figures, &ctx, &opt, deadline);
		else
			fprintf(stderr, "beamline-bench: %s skipped: %s\n", runs[i].suite->name, runs[i].reason);
		failed = failed || runs[i].status == SUITE_FAILED;
	}

	json_t *doc = json_pack("{s:i, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o}", "schema_version", SCHEMA_VERSION,
				"tool", "beamline-bench", "started_at", started, "machine", machine, "source",
				machine_source(BL_SOURCE_DIR), "build_type", build_type, "settings",
				settings_json(&opt, runs, (size_t)n), "suites", suites_json(runs, (size_t)n, opt.quick),
				"figures", figures_json(&figures));
	int rc = write_document(doc, opt.json_path);
	json_decref(doc);
	figures_free(&figures);
	return rc < 0 || failed || child_interrupted() ? 1 : 0;
}

/* Check that `build_dir` is a folder with an executable beamline-engine,
 * which `engine` then names. Returns 0, or -1 after printing why. */
static int find_engine(char *engine, size_t size, const char *build_dir)
{
	struct stat st;
	if (stat(build_dir, &st) != 0) {
		fprintf(stderr,
			"beamline-bench machine-class: cannot read the build folder %s: %s; pass --build-dir DIR\n",
			build_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr,
			"beamline-bench machine-class: the build folder %s is not a folder; pass --build-dir DIR\n",
			build_dir);
		return -1;
	}
	snprintf(engine, size, "%s/engine/beamline-engine", build_dir);
	if (access(engine, X_OK) != 0) {
		fprintf(stderr,
			"beamline-bench machine-class: %s is not built, so the OpenCL devices are unknown; build the "
			"beamline-engine target first\n",
			engine);
		return -1;
	}
	return 0;
}

int machine_class_main(int argc, char **argv, const char *self)
{
	char build_dir[4096], engine[4200], class[256], build_type[64];

	if (argc > 2 && strcmp(argv[2], "--help") == 0) {
		puts("usage: beamline-bench machine-class [--build-dir DIR]\n"
		     "Prints the key that run documents record as machine.class and that baselines\n"
		     "are filed under: CPU model, core count, build type and OpenCL device.\n"
		     "Exit status: 0 the key is printed, 1 the build folder or its beamline-engine is\n"
		     "missing or `beamline-engine devices --json` failed, 2 usage error.");
		return 0;
	}
	if (default_build_dir(build_dir, sizeof build_dir, self) < 0)
		return 2;
	if (argc == 4 && strcmp(argv[2], "--build-dir") == 0) {
		snprintf(build_dir, sizeof build_dir, "%s", argv[3]);
	} else if (argc != 2) {
		fputs("usage: beamline-bench machine-class [--build-dir DIR]\n", stderr);
		return 2;
	}

	if (find_engine(engine, sizeof engine, build_dir) < 0)
		return 1;

	/* A key guessed without the device list would file the run under
	 * another machine's baselines, or under none, so a failure is fatal. */
	json_t *machine = machine_describe(engine);
	const char *error = json_string_value(json_object_get(machine, "opencl_error"));
	if (error) {
		fprintf(stderr, "beamline-bench machine-class: cannot list the OpenCL devices: %s\n", error);
		json_decref(machine);
		return 1;
	}
	build_type_of(build_type, sizeof build_type, build_dir);
	machine_class(class, sizeof class, machine, build_type);
	puts(class);
	json_decref(machine);
	return 0;
}
