/*
 * beamline-bench: runs the benchmark suites, writes one JSON document per
 * run, and compares two documents for regressions.
 *
 *   beamline-bench run [--suite LIST] [--budget SECONDS] [--reps R] [--json FILE] [--quick]
 *   beamline-bench compare BASE.json NEW.json [--markdown FILE] [--threshold PCT]
 *   beamline-bench machine-class [--build-dir DIR]
 *   beamline-bench actors [--threads N] [--reps R] [--only a,b] [--json FILE|-] [--revision REV]
 *                         [--timeout S] [--programs DIR]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors.h"
#include "commands.h"

static void usage(FILE *to)
{
	fputs("usage: beamline-bench COMMAND [options]\n"
	      "  run            run the suites within a time budget and write one JSON document\n"
	      "  compare        compare two run documents; exit 1 on a regression\n"
	      "  machine-class  print the key that baselines are filed under\n"
	      "  actors         the actor suite against its peers, as a table and JSON\n"
	      "`beamline-bench COMMAND --help` describes each command's options.\n",
	      to);
}

static void actors_usage(FILE *to)
{
	fputs("usage: beamline-bench actors [options]\n"
	      "  --threads N    worker threads for every system (default: online CPUs)\n"
	      "  --reps R       runs of each benchmark per system (default 5)\n"
	      "  --only LIST    comma-separated benchmarks: pingpong,threadring,counting,\n"
	      "                 fjthroughput,spawn,big,footprint,tasks,tasks_inside\n"
	      "  --json FILE    write the JSON document to FILE instead of standard output;\n"
	      "                 with '-', the document alone to standard output, the table to\n"
	      "                 standard error\n"
	      "  --revision REV source revision to record in the JSON\n"
	      "  --timeout S    seconds one run may take before it is killed and counted as\n"
	      "                 a bound (default 120)\n"
	      "  --programs DIR the folder holding beamline-savina and peers/ (default: this\n"
	      "                 program's folder)\n",
	      to);
}

/* Path of `name` in `dir`, or NULL when it is not an executable there.
 * Returns owned (free). */
static char *program_in(const char *dir, const char *name)
{
	char *path = malloc(PATH_MAX);
	if (!path)
		return NULL;
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	if (access(path, X_OK) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

/* Parse the actors options into `opt`; returns 0, or 2 after printing why. */
static int parse_actors_options(actors_options_t *opt, const char **programs, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = value != NULL;
		if (ok && strcmp(arg, "--threads") == 0)
			ok = parse_unsigned(value, 1, 1024, &opt->threads) == 0;
		else if (ok && strcmp(arg, "--reps") == 0)
			ok = parse_unsigned(value, 1, 1000, &opt->reps) == 0;
		else if (ok && strcmp(arg, "--timeout") == 0)
			ok = parse_unsigned(value, 1, 86400, &opt->timeout_s) == 0;
		else if (ok && strcmp(arg, "--only") == 0)
			opt->only = value;
		else if (ok && strcmp(arg, "--json") == 0)
			opt->json_path = value;
		else if (ok && strcmp(arg, "--revision") == 0)
			opt->revision = value;
		else if (ok && strcmp(arg, "--programs") == 0)
			*programs = value;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "beamline-bench: invalid option '%s%s%s'\n", arg, value ? " " : "",
				value ? value : "");
			actors_usage(stderr);
			return 2;
		}
		i++;
	}
	return 0;
}

int actors_main(int argc, char **argv, const char *self)
{
	if (argc > 2 && strcmp(argv[2], "--help") == 0) {
		actors_usage(stdout);
		return 0;
	}

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	actors_options_t opt = {.threads = cpus > 0 ? (unsigned)cpus : 1, .reps = 5, .timeout_s = 120};
	char self_dir[PATH_MAX];
	snprintf(self_dir, sizeof self_dir, "%.*s", (int)(strrchr(self, '/') - self), self);
	const char *programs = self_dir;
	if (parse_actors_options(&opt, &programs, argc, argv) != 0)
		return 2;

	char *beamline = program_in(programs, "beamline-savina");
	char *caf = program_in(programs, "peers/caf-savina");
	char *starpu = program_in(programs, "peers/starpu-tasks");
	opt.beamline = beamline;
	opt.caf = caf;
	opt.starpu = starpu;
	int rc = 2;
	if (!beamline)
		fprintf(stderr, "beamline-bench: beamline-savina not found in %s; build the release preset\n",
			programs);
	if (beamline && !caf)
		fputs("beamline-bench: peers/caf-savina not built (install libcaf-dev); CAF figures are skipped\n",
		      stderr);
	if (beamline && !starpu)
		fputs("beamline-bench: peers/starpu-tasks not built (install libstarpu-dev); StarPU figures are "
		      "skipped\n",
		      stderr);
	if (beamline)
		rc = actors_suite(&opt);

	free(beamline);
	free(caf);
	free(starpu);
	return rc;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		fputs("beamline-bench: cannot read /proc/self/exe to find the build tree\n", stderr);
		return 2;
	}
	self[n] = '\0';

	const char *command = argc >= 2 ? argv[1] : "";
	if (strcmp(command, "run") == 0)
		return run_main(argc, argv, self);
	if (strcmp(command, "compare") == 0)
		return compare_main(argc, argv);
	if (strcmp(command, "machine-class") == 0)
		return machine_class_main(argc, argv, self);
	if (strcmp(command, "actors") == 0)
		return actors_main(argc, argv, self);
	if (strcmp(command, "--help") == 0 || strcmp(command, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (command[0])
		fprintf(stderr, "beamline-bench: unknown command '%s'\n", command);
	usage(stderr);
	return 2;
}
