#include "machine.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "child.h"

static const char *string_or(const json_t *value, const char *fallback)
{
	const char *s = json_string_value(value);
	return s ? s : fallback;
}

/* Seconds `devices --json` and git may take. Both normally return within a second. */
#define PROBE_TIMEOUT_S 60

void machine_cpu_model(char *out, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, size, "unknown");
	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(out, size, "%s", colon + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
}

static json_int_t memory_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	return pages > 0 && page > 0 ? (json_int_t)pages * page : 0;
}

/* Flatten the platforms of `devices --json` to {platform, name, type}. */
static json_t *opencl_devices(const json_t *doc)
{
	json_t *list = json_array();
	size_t i, j;
	json_t *platform, *device;

	json_array_foreach(json_object_get(doc, "opencl"), i, platform) {
		json_array_foreach(json_object_get(platform, "devices"), j, device) {
			json_array_append_new(list, json_pack("{s:O?, s:O?, s:O?}", "platform",
							      json_object_get(platform, "name"), "name",
							      json_object_get(device, "name"), "type",
							      json_object_get(device, "type")));
		}
	}
	return list;
}

/* Fill machine's "opencl" from the engine, or set "opencl_error". */
static void describe_opencl(json_t *machine, const char *engine)
{
	json_object_set_new(machine, "opencl", json_array());
	if (!engine || access(engine, X_OK) != 0) {
		json_object_set_new(machine, "opencl_error", json_string("beamline-engine is not built"));
		return;
	}

	char program[4096], command[] = "devices", flag[] = "--json";
	snprintf(program, sizeof program, "%s", engine);
	char *argv[] = {program, command, flag, NULL};
	child_result_t r;
	if (child_run(&r, argv, NULL, PROBE_TIMEOUT_S) < 0) {
		json_object_set_new(machine, "opencl_error", json_string("beamline-engine devices could not start"));
		return;
	}

	json_error_t error;
	json_t *doc = r.exit_status == 0 ? json_loads(r.output, 0, &error) : NULL;
	if (doc)
		json_object_set_new(machine, "opencl", opencl_devices(doc));
	else
		json_object_set_new(machine, "opencl_error",
				    json_sprintf("beamline-engine devices --json failed "
						 "(exit status %d)",
						 r.exit_status));
	json_decref(doc);
	child_result_free(&r);
}

json_t *machine_describe(const char *engine)
{
	char model[256];
	struct utsname uts;
	machine_cpu_model(model, sizeof model);
	if (uname(&uts) != 0)
		snprintf(uts.release, sizeof uts.release, "unknown");

	json_t *machine = json_pack("{s:s, s:I, s:I, s:s}", "cpu_model", model, "cores",
				    (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "memory_bytes", memory_bytes(), "kernel",
				    uts.release);
	describe_opencl(machine, engine);
	return machine;
}

size_t machine_opencl_count(const json_t *machine)
{
	return json_array_size(json_object_get(machine, "opencl"));
}

/* Append `text` to `out` as lower-case words joined by '-', dropping the
 * "(R)" and "(TM)" marks and keeping at most `max` characters of it. */
static void append_words(char *out, size_t size, const char *text, size_t max)
{
	size_t len = strlen(out), added = 0;
	bool dash = len > 0;

	for (const char *p = text; *p && added < max && len + 2 < size; p++) {
		if (*p == '(' && (strncmp(p, "(R)", 3) == 0 || strncmp(p, "(TM)", 4) == 0)) {
			p = strchr(p, ')');
			continue;
		}
		if (!isalnum((unsigned char)*p)) {
			dash = len > 0;
			continue;
		}
		if (dash && out[len - 1] != '-') {
			out[len++] = '-';
			added++;
		}
		dash = false;
		out[len++] = (char)tolower((unsigned char)*p);
		added++;
	}
	out[len] = '\0';
}

/* The OpenCL part of the class: the first GPU's name, else "opencl-cpu"
 * or "opencl-other" for the first device, else "no-opencl", or
 * "opencl-unknown" when the device list could not be read. */
static void opencl_words(char *out, size_t size, const json_t *machine)
{
	const json_t *devices = json_object_get(machine, "opencl");
	size_t i;
	json_t *device;

	if (json_object_get(machine, "opencl_error")) {
		append_words(out, size, "opencl unknown", 40);
		return;
	}

	json_array_foreach(devices, i, device) {
		if (strcmp(string_or(json_object_get(device, "type"), ""), "gpu") == 0) {
			append_words(out, size, string_or(json_object_get(device, "name"), "gpu"), 40);
			return;
		}
	}
	if (json_array_size(devices) == 0) {
		append_words(out, size, "no opencl", 40);
		return;
	}
	const char *type = json_string_value(json_object_get(json_array_get(devices, 0), "type"));
	append_words(out, size, "opencl", 40);
	append_words(out, size, type && strcmp(type, "cpu") == 0 ? "cpu" : "other", 40);
}

void machine_class(char *out, size_t size, const json_t *machine, const char *build_type)
{
	char cores[32];
	snprintf(cores, sizeof cores, "%lldc", (long long)json_integer_value(json_object_get(machine, "cores")));

	out[0] = '\0';
	append_words(out, size, string_or(json_object_get(machine, "cpu_model"), "unknown"), 48);
	append_words(out, size, cores, 16);
	append_words(out, size, build_type, 16);
	opencl_words(out, size, machine);
}

/* The first line a git command prints, or "" when it fails. */
static int git_line(char *out, size_t size, const char *source_dir, char *const args[])
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", source_dir);
	char *argv[16] = {"git", "-C", dir};
	size_t n = 3;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	child_result_t r;
	out[0] = '\0';
	if (child_run(&r, argv, NULL, PROBE_TIMEOUT_S) < 0)
		return -1;
	int rc = r.exit_status == 0 ? 0 : -1;
	if (rc == 0)
		snprintf(out, size, "%.*s", (int)strcspn(r.output, "\n"), r.output);
	child_result_free(&r);
	return rc;
}

json_t *machine_source(const char *source_dir)
{
	char revision[128], status[256];
	char *rev_args[] = {"rev-parse", "HEAD", NULL};
	char *status_args[] = {"status", "--porcelain", "--untracked-files=no", NULL};

	if (git_line(revision, sizeof revision, source_dir, rev_args) < 0 || !revision[0])
		return json_pack("{s:s, s:n}", "revision", "unknown", "dirty");
	if (git_line(status, sizeof status, source_dir, status_args) < 0)
		return json_pack("{s:s, s:n}", "revision", revision, "dirty");
	return json_pack("{s:s, s:b}", "revision", revision, "dirty", status[0] != '\0');
}
