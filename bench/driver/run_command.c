/*
 * beamline-bench run: the suites within a time budget, as one JSON
 * document; and beamline-bench machine-class.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "child.h"
#include "commands.h"
#include "figures.h"
#include "machine.h"
#include "suites.h"

#define SCHEMA_VERSION 1

typedef enum suite_status {
	SUITE_SKIPPED,
	SUITE_RAN,
	SUITE_FAILED,
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
	      "interrupted, 2 usage error.\n",
	      to);
}

/* Parse the options; returns 0, or 2 after printing why. */
static int parse_options(run_options_t *opt, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;
		if (strcmp(arg, "--quick") == 0) {
			opt->quick = true;
			continue;
		}
		if (!value)
			ok = false;
		else if (strcmp(arg, "--suite") == 0)
			opt->suites = value;
		else if (strcmp(arg, "--budget") == 0)
			ok = parse_seconds(value, &opt->budget_s) == 0 && opt->budget_s > 0;
		else if (strcmp(arg, "--reps") == 0)
			ok = parse_unsigned(value, 1, 100, &opt->reps) == 0;
		else if (strcmp(arg, "--json") == 0)
			opt->json_path = value;
		else if (strcmp(arg, "--build-dir") == 0)
			ok = snprintf(opt->build_dir, sizeof opt->build_dir, "%s", value) < (int)sizeof opt->build_dir;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "beamline-bench run: invalid option '%s%s%s'\n", arg, value ? " " : "",
				value ? value : "");
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (opt->reps == 0)
		opt->reps = opt->quick ? 3 : 5;
	return 0;
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

	if (r.timed_out)
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
		if (child_interrupted()) {
			snprintf(run->reason, sizeof run->reason, "interrupted by a signal after %u repetitions", rep);
			break;
		}
		if (run_rep(run, figures, ctx, opt->quick) < 0)
			break;
		run->reps = rep + 1;
		run->status = SUITE_RAN;
	}
	if (run->status == SUITE_FAILED)
		fprintf(stderr, "beamline-bench: %s failed: %s\n", run->suite->name, run->reason);
	run->elapsed_s = now_s() - start;
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
	}
	return "unknown";
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

int machine_class_main(int argc, char **argv, const char *self)
{
	char build_dir[4096], engine[4200], class[256], build_type[64];

	if (argc > 2 && strcmp(argv[2], "--help") == 0) {
		puts("usage: beamline-bench machine-class [--build-dir DIR]\n"
		     "Prints the key that run documents record as machine.class and that baselines\n"
		     "are filed under: CPU model, core count, build type and OpenCL device.");
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

	snprintf(engine, sizeof engine, "%s/engine/beamline-engine", build_dir);
	json_t *machine = machine_describe(engine);
	build_type_of(build_type, sizeof build_type, build_dir);
	machine_class(class, sizeof class, machine, build_type);
	puts(class);
	json_decref(machine);
	return 0;
}
