/*
 * Helpers shared by the commands: option values, lists and paths.
 */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

int parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end != '\0' || end == text || text[0] == '-' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int parse_seconds(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || *end != '\0' || end == text || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

bool name_in_list(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += len) {
		bool starts = p == list || p[-1] == ',';
		bool ends = p[len] == '\0' || p[len] == ',';
		if (starts && ends)
			return true;
	}
	return false;
}

int default_build_dir(char *out, size_t size, const char *self)
{
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", self);

	/* self is BUILD/bench/beamline-bench. */
	char *bench = dirname(copy);
	int n = snprintf(out, size, "%s", dirname(bench));
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "beamline-bench: the path of this program is too long: %s\n", self);
		return -1;
	}
	return 0;
}

void build_type_of(char *out, size_t size, const char *build_dir)
{
	char path[4200], line[512];
	snprintf(path, sizeof path, "%s/CMakeCache.txt", build_dir);
	snprintf(out, size, "%s", BL_BUILD_TYPE);

	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		const char *key = "CMAKE_BUILD_TYPE:STRING=";
		if (strncmp(line, key, strlen(key)) == 0) {
			snprintf(out, size, "%.*s", (int)strcspn(line + strlen(key), "\r\n"), line + strlen(key));
			break;
		}
	}
	if (f)
		fclose(f);
}
