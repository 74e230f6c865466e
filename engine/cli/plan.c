/*
 * beamline-engine plan WORKLOAD.json: the capacity planner (docs/plan.md).
 * Calibrates the mix on this host, simulates every size within the
 * limits, recommends the fewest cores that meet the target p99, and
 * checks the prediction against real runs that fit this machine.
 */
#define _GNU_SOURCE /* mkstemp */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "plan.h"
#include "report.h"

/* plan's own exit status: the plan completed, and no size within the
 * limits meets the target. */
#define EXIT_TARGET_UNMET 1

typedef struct plan_options {
	const char *workload_path;
	double target_p99_ms;   /* 0: the workload's */
	unsigned max_cores;
	unsigned max_instances;
	const char *svg_path;
	const char *json_path;
	bool validate;
	uint64_t seed;
} plan_options_t;

static void usage(FILE *to)
{
	fputs("usage: beamline-engine plan WORKLOAD.json [options]\n"
	      "\n"
	      "Calibrates the workload's job mix on this host (real jobs through the engine),\n"
	      "simulates the pools under the engine's admission rules across pool sizes and\n"
	      "instance counts, and recommends the configuration with the fewest cores whose\n"
	      "p99 latency (arrival to completion) meets the target. docs/plan.md describes the\n"
	      "workload file and how far to trust the figures.\n"
	      "\n"
	      "options:\n"
	      "  --target-p99-ms N   the target p99 latency in ms (default: the workload's\n"
	      "                      target_p99_ms)\n"
	      "  --max-cores N       the most cores a configuration may use, over all\n"
	      "                      instances [32]\n"
	      "  --max-instances N   the most engine instances sharing one stream [4]\n"
	      "  --svg FILE          write a chart of p99 and utilisation against pool size\n"
	      "  --json FILE         write the whole plan as JSON\n"
	      "  --validate          run the jobs through the engine at the recommended size\n"
	      "                      and one beside it, and compare (the default)\n"
	      "  --no-validate       skip those runs\n"
	      "  --seed N            seed of the simulated arrivals and service times [1]\n"
	      "\n"
	      "Exit status: 0 a configuration meets the target, 1 none within --max-cores\n"
	      "does, 2 usage error, 3 the plan could not be made.\n",
	      to);
}

static bool parse_number(const char *text, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

/* Apply `opt` with `value`. Returns 0, or -1 after printing why. */
static int apply_option(plan_options_t *o, const char *opt, const char *value)
{
	double v;

	if (strcmp(opt, "--svg") == 0) {
		o->svg_path = value;
		return 0;
	}
	if (strcmp(opt, "--json") == 0) {
		o->json_path = value;
		return 0;
	}
	if (strcmp(opt, "--target-p99-ms") == 0 && parse_number(value, 1e-3, 1e9, &v)) {
		o->target_p99_ms = v;
		return 0;
	}
	if (strcmp(opt, "--max-cores") == 0 && parse_number(value, 1, 4096, &v) && v == (unsigned)v) {
		o->max_cores = (unsigned)v;
		return 0;
	}
	if (strcmp(opt, "--max-instances") == 0 && parse_number(value, 1, 256, &v) && v == (unsigned)v) {
		o->max_instances = (unsigned)v;
		return 0;
	}
	if (strcmp(opt, "--seed") == 0 && parse_number(value, 0, 9007199254740992.0, &v) && v == (uint64_t)v) {
		o->seed = (uint64_t)v;
		return 0;
	}
	if (strcmp(opt, "--target-p99-ms") == 0 || strcmp(opt, "--max-cores") == 0 ||
	    strcmp(opt, "--max-instances") == 0 || strcmp(opt, "--seed") == 0)
		fprintf(stderr,
			"beamline-engine plan: %s: invalid value '%s'; expected a number above 0 (an integer for all "
			"but --target-p99-ms; --max-cores up to 4096, --max-instances up to 256)\n",
			opt, value);
	else
		fprintf(stderr, "beamline-engine plan: unknown option %s; see beamline-engine plan --help\n", opt);
	return -1;
}

/* Parse the words after "plan". Returns 0, 1 for --help, or -1 after
 * printing what was wrong. */
static int parse_options(int argc, char **argv, plan_options_t *o)
{
	for (int i = 2; i < argc; i++) {
		const char *word = argv[i];
		if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
			return 1;
		if (strcmp(word, "--validate") == 0 || strcmp(word, "--no-validate") == 0) {
			o->validate = strcmp(word, "--validate") == 0;
			continue;
		}
		if (strncmp(word, "--", 2) != 0) {
			if (o->workload_path) {
				fprintf(stderr, "beamline-engine plan: one workload file expected, got '%s' and '%s'\n",
					o->workload_path, word);
				return -1;
			}
			o->workload_path = word;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "beamline-engine plan: option %s needs a value\n", word);
			return -1;
		}
		if (apply_option(o, word, argv[++i]) < 0)
			return -1;
	}
	if (!o->workload_path) {
		fprintf(stderr, "beamline-engine plan: missing the workload file (JSON; docs/plan.md)\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The steps                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * One output file of the plan (--svg, --json). It is written to a
 * temporary file beside its target. Every output is renamed over its
 * target once all of them are written, so a plan that fails leaves no
 * partial file and not one of two files. A path that exists and is not a
 * regular file, such as /dev/stdout, is written in place.
 * NOTE: a plan interrupted while it writes, or whose second rename fails,
 * can still leave a temporary file or one new output.
 */
typedef struct plan_output {
	const char *path;  /* as given, or NULL when not asked for */
	char *target;      /* the file to replace: path, or the file its link names */
	char *temp;        /* the temporary file, or NULL when written in place */
	mode_t mode;       /* the file's mode: the old file's, or what the umask allows */
} plan_output_t;

typedef struct plan_state {
	plan_options_t opt;
	bl_plan_workload_t *w;
	double target;
	double *trace_s;        /* NULL for the Poisson process */
	size_t trace_count;
	bl_plan_calibration_t cal;
	bl_plan_job_t *jobs;
	size_t job_count;
	bl_plan_sweep_t sweep;
	bl_plan_check_t checks[2];
	size_t check_count;
	plan_output_t svg;
	plan_output_t json;
} plan_state_t;

static int read_trace(plan_state_t *st, bl_error_t *err)
{
	char *fallback = NULL;
	const char *path = st->w->trace_path;

	if (st->w->process != BL_PLAN_TRACE)
		return 0;
	if (!path && !(path = fallback = bl_plan_trace_default_path(st->w->trace)))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	int rc = bl_plan_trace_read(&st->trace_s, st->w->trace, path, err);
	free(fallback);
	if (rc < 0)
		return rc;
	st->trace_count = (size_t)rc;
	fprintf(stderr, "trace %s: %zu arrivals, replayed at %g times their spacing\n", st->w->trace, st->trace_count,
		st->w->time_scale);
	return 0;
}

static int simulate(plan_state_t *st, bl_error_t *err)
{
	bl_plan_limits_t lim = {st->target, st->opt.max_cores, st->opt.max_instances};

	int rc = bl_plan_arrivals_make(&st->jobs, st->w->simulated_jobs, st->w, st->cal.samples, st->trace_s,
				       st->trace_count, st->opt.seed, err);
	if (rc < 0)
		return rc;
	st->job_count = (size_t)rc;
	fprintf(stderr, "simulating %zu jobs at each size...\n", st->job_count);
	return bl_plan_sweep_run(&st->sweep, st->w, st->jobs, st->job_count, &lim, err);
}

static void print_recommendation(const plan_state_t *st)
{
	const bl_plan_sweep_t *s = &st->sweep;

	if (s->recommended < 0) {
		printf("\nthe target p99 of %.2f ms cannot be met within --max-cores %u and --max-instances %u", st->target,
		       st->opt.max_cores, st->opt.max_instances);
		if (s->best >= 0)
			printf("; the lowest p99 there is %.2f ms, with %u instance(s) of %u CPU workers",
			       s->points[s->best].result.p99_ms, s->points[s->best].instances,
			       s->points[s->best].cpu_workers);
		if (s->best >= 0 && s->points[s->best].result.rejected > 0)
			printf(", which rejects %zu jobs (a tenant's max_queued)", s->points[s->best].result.rejected);
		printf("\n");
		return;
	}
	const bl_plan_point_t *p = &s->points[s->recommended];
	printf("\nrecommended: %u instance(s) of %u CPU workers", p->instances, p->cpu_workers);
	if (st->w->has_io)
		printf(" and %u I/O workers", p->io_workers);
	printf(" (%u cores): predicted p99 %.2f ms, p50 %.2f ms, CPU utilisation %.0f%%\n", p->cores,
	       p->result.p99_ms, p->result.p50_ms, 100 * p->result.utilisation);
}

static int validate(plan_state_t *st, bl_error_t *err)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cores_here = online > 0 ? (unsigned)online : 1;
	int picks[2], primary;

	size_t n = bl_plan_validation_points(&st->sweep, cores_here, picks, &primary);
	if (primary >= 0 && st->sweep.points[primary].cores > cores_here)
		printf("not validated: %u cores at one instance is more than the %u cores of this machine\n",
		       st->sweep.points[primary].cores, cores_here);
	if (st->sweep.recommended >= 0 && st->sweep.points[st->sweep.recommended].instances > 1)
		printf("not validated: the recommendation runs %u instances; the checks below run one\n",
		       st->sweep.points[st->sweep.recommended].instances);
	for (size_t i = 0; i < n; i++) {
		const bl_plan_point_t *p = &st->sweep.points[picks[i]];
		fprintf(stderr, "validating at %u CPU workers: %zu jobs fed at their arrival times...\n", p->cpu_workers,
			st->w->validation_jobs);
		int rc = bl_plan_validate(&st->checks[st->check_count], st->w, &st->cal, p, st->trace_s, st->trace_count,
					  st->opt.seed + 1 + i, err);
		if (rc < 0)
			return rc;
		bl_plan_print_check(stdout, st->w, &st->checks[st->check_count++]);
	}
	return 0;
}

/* Create o->temp beside o->target. With `probe`, remove it at once: that
 * tells before the long calibration whether the file can be written. */
static int create_temp(plan_output_t *o, bool probe, bl_error_t *err)
{
	size_t len = strlen(o->target) + sizeof ".tmp-XXXXXX";

	o->temp = malloc(len);
	if (!o->temp)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	snprintf(o->temp, len, "%s.tmp-XXXXXX", o->target);
	int fd = mkstemp(o->temp);
	if (fd < 0 || fchmod(fd, o->mode) != 0) {
		int rc = bl_error_set(err, -errno, o->path, "cannot write this file: %s", strerror(errno));
		if (fd >= 0)
			unlink(o->temp);
		free(o->temp);
		o->temp = NULL;
		return rc;
	}
	close(fd);
	if (probe) {
		unlink(o->temp);
		free(o->temp);
		o->temp = NULL;
	}
	return 0;
}

/* Resolve the output's target and check that it can be written. */
static int prepare_output(plan_output_t *o, const char *path, bl_error_t *err)
{
	char resolved[PATH_MAX];
	struct stat st;

	o->path = path;
	if (!path)
		return 0;
	bool exists = stat(path, &st) == 0;
	o->target = strdup(exists && S_ISREG(st.st_mode) && realpath(path, resolved) ? resolved : path);
	if (!o->target)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (exists && !S_ISREG(st.st_mode))
		return 0;
	mode_t mask = umask(0);
	umask(mask);
	o->mode = exists ? st.st_mode & 07777 : 0666 & ~mask;
	return create_temp(o, true, err);
}

/* The file to write the output to, or NULL when it was not asked for. */
static const char *begin_output(plan_output_t *o, bl_error_t *err, int *rc)
{
	if (!o->path || *rc < 0)
		return NULL;
	struct stat st;
	if (stat(o->target, &st) == 0 && !S_ISREG(st.st_mode))
		return o->target;
	*rc = create_temp(o, false, err);
	return *rc < 0 ? NULL : o->temp;
}

/* Rename the temporary file over the target when `keep`, or remove it. */
static int finish_output(plan_output_t *o, bool keep, bl_error_t *err)
{
	int rc = 0;

	if (o->temp && keep && rename(o->temp, o->target) != 0)
		rc = bl_error_set(err, -errno, o->path, "cannot write this file: %s", strerror(errno));
	if (o->temp && (rc < 0 || !keep))
		unlink(o->temp);
	free(o->temp);
	free(o->target);
	*o = (plan_output_t){0};
	return rc;
}

/* After a writer failed on the temporary file, name the path as given. */
static int name_output(const plan_output_t *o, int rc, bl_error_t *err)
{
	if (rc < 0 && o->temp)
		snprintf(err->field, sizeof err->field, "%s", o->path);
	return rc;
}

/* Write the chart and the JSON plan, then put both in place. */
static int write_outputs(plan_state_t *st, bl_error_t *err)
{
	int rc = 0;
	const char *svg = begin_output(&st->svg, err, &rc);
	if (svg)
		rc = name_output(&st->svg, bl_plan_write_svg(svg, &st->sweep, st->target, err), err);

	const char *json = begin_output(&st->json, err, &rc);
	if (json)
		rc = name_output(&st->json,
				 bl_plan_write_json(json, st->w, &st->cal, &st->sweep, st->target, st->checks,
						    st->check_count, err),
				 err);

	if (finish_output(&st->svg, rc == 0, err) < 0)
		rc = -1;
	if (finish_output(&st->json, rc == 0, err) < 0)
		rc = -1;
	return rc;
}

static int make_plan(plan_state_t *st, bl_error_t *err)
{
	int rc = read_trace(st, err);
	if (rc < 0)
		return rc;

	fprintf(stderr, "calibrating: %zu jobs of each of %zu mix entries, one at a time...\n",
		st->w->calibration_samples + 1, st->w->entry_count);
	if ((rc = bl_plan_calibrate(&st->cal, st->w, err)) < 0)
		return rc;
	bl_plan_print_calibration(stdout, st->w, &st->cal);

	if ((rc = simulate(st, err)) < 0)
		return rc;
	bl_plan_print_table(stdout, st->w, &st->sweep, st->target);
	print_recommendation(st);
	fflush(stdout);

	if (st->opt.validate && (rc = validate(st, err)) < 0)
		return rc;
	return write_outputs(st, err);
}

int bl__plan_main(int argc, char **argv)
{
	plan_state_t st = {.opt = {.max_cores = 32, .max_instances = 4, .validate = true, .seed = 1}};
	bl_error_t err = {0};

	int parsed = parse_options(argc, argv, &st.opt);
	if (parsed == 1) {
		usage(stdout);
		return 0;
	}
	if (parsed < 0)
		return EXIT_USAGE;

	int rc = bl_plan_workload_load(&st.w, st.opt.workload_path, &err);
	if (rc == 0) {
		st.target = st.opt.target_p99_ms > 0 ? st.opt.target_p99_ms : st.w->target_p99_ms;
		if (st.target <= 0)
			rc = bl_error_set(&err, BL_EFORMAT, "target_p99_ms",
					  "missing: give target_p99_ms in the workload or --target-p99-ms");
	}
	if (rc == 0 && (rc = prepare_output(&st.svg, st.opt.svg_path, &err)) == 0)
		rc = prepare_output(&st.json, st.opt.json_path, &err);
	if (rc == 0) {
		/* Errors only: the plan reports failed jobs itself, and a bad
		 * template would otherwise log one warning per job. */
		bl_log_start(BL_LOG_ERROR, STDERR_FILENO);
		rc = make_plan(&st, &err);
		bl_log_stop();
	}
	if (rc < 0)
		fprintf(stderr, "beamline-engine plan: %s%s%s\n", err.field[0] ? err.field : "", err.field[0] ? ": " : "",
			err.message);

	int status = 0;
	if (rc < 0)
		status = EXIT_RUN_FAILED;
	else if (st.sweep.recommended < 0)
		status = EXIT_TARGET_UNMET;
	finish_output(&st.svg, false, &err);
	finish_output(&st.json, false, &err);
	free(st.trace_s);
	free(st.jobs);
	for (size_t i = 0; i < st.check_count; i++)
		bl_plan_check_free(&st.checks[i]);
	bl_plan_sweep_free(&st.sweep);
	bl_plan_calibration_free(&st.cal);
	bl_plan_workload_free(&st.w);
	return status;
}
