/*
 * beamline-bench: runs benchmark suites and reports medians, spread and the
 * ratio against a peer measured in the same invocation.
 *
 *   beamline-bench actors [--threads N] [--reps R] [--only a,b] [--json FILE]
 *                         [--revision REV] [--timeout S]
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors.h"

static void usage(FILE *to)
{
	fputs("usage: beamline-bench actors [options]\n"
	      "  --threads N    worker threads for every system (default: online CPUs)\n"
	      "  --reps R       runs of each benchmark per system (default 5)\n"
	      "  --only LIST    comma-separated benchmarks: pingpong,threadring,counting,\n"
	      "                 fjthroughput,spawn,big,footprint,tasks,tasks_inside\n"
	      "  --json FILE    write the JSON document to FILE instead of standard output\n"
	      "  --revision REV source revision to record in the JSON\n"
	      "  --timeout S    seconds one run may take before it is killed and counted as\n"
	      "                 a bound (default 120)\n",
	      to);
}

static bool parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end != '\0' || end == text || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Path of `name` relative to this executable's folder, or NULL when it
 * does not exist there. Owned by the caller. */
static char *beside_self(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';

	char *path = malloc(PATH_MAX);
	if (!path)
		return NULL;
	snprintf(path, PATH_MAX, "%s/%s", dirname(self), name);
	if (access(path, X_OK) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "actors") != 0) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	actors_options_t opt = {.threads = cpus > 0 ? (unsigned)cpus : 1, .reps = 5, .timeout_s = 120};
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = value != NULL;
		if (ok && strcmp(arg, "--threads") == 0)
			ok = parse_unsigned(value, 1, 1024, &opt.threads);
		else if (ok && strcmp(arg, "--reps") == 0)
			ok = parse_unsigned(value, 1, 1000, &opt.reps);
		else if (ok && strcmp(arg, "--timeout") == 0)
			ok = parse_unsigned(value, 1, 86400, &opt.timeout_s);
		else if (ok && strcmp(arg, "--only") == 0)
			opt.only = value;
		else if (ok && strcmp(arg, "--json") == 0)
			opt.json_path = value;
		else if (ok && strcmp(arg, "--revision") == 0)
			opt.revision = value;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "beamline-bench: invalid option '%s%s%s'\n", arg, value ? " " : "", value ? value : "");
			usage(stderr);
			return 2;
		}
		i++;
	}

	opt.beamline = beside_self("beamline-savina");
	opt.caf = beside_self("peers/caf-savina");
	opt.starpu = beside_self("peers/starpu-tasks");
	if (!opt.beamline) {
		fputs("beamline-bench: beamline-savina not found next to beamline-bench; build the release preset\n", stderr);
		return 2;
	}
	if (!opt.caf)
		fputs("beamline-bench: peers/caf-savina not built (install libcaf-dev); CAF figures are skipped\n", stderr);
	if (!opt.starpu)
		fputs("beamline-bench: peers/starpu-tasks not built (install libstarpu-dev); StarPU figures are skipped\n",
		      stderr);

	return actors_suite(&opt);
}
