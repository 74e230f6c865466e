/*
 * The text form of `beamline-engine devices`: aligned "key: value" lines,
 * sizes in KiB, MiB or GiB, and extensions wrapped at 80 columns.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Width of the key column, so values line up. */
#define KEY_WIDTH 28
#define LINE_WIDTH 80

/* Write `bytes` as "512 KiB", "480 MiB" or "5.0 GiB". */
static void format_bytes(char *out, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	size_t unit = 0;

	while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
		value /= 1024.0;
		unit++;
	}
	if (unit == 0 || value == (double)(uint64_t)value)
		snprintf(out, size, "%.0f %s", value, units[unit]);
	else
		snprintf(out, size, "%.1f %s", value, units[unit]);
}

/* Return obj["name"], or a placeholder when a failed query left it out. */
static const char *name_of(const json_t *obj)
{
	const char *name = json_string_value(json_object_get(obj, "name"));
	return name ? name : "(name unknown)";
}

static void print_line(FILE *to, int indent, const char *key, const char *value)
{
	fprintf(to, "%*s%-*s %s\n", indent, "", KEY_WIDTH - indent, key, value);
}

static void print_string(FILE *to, int indent, const char *key, const json_t *obj, const char *member)
{
	const char *value = json_string_value(json_object_get(obj, member));
	if (value)
		print_line(to, indent, key, value[0] ? value : "(empty)");
}

static void print_integer(FILE *to, int indent, const char *key, const json_t *obj, const char *member,
			  const char *unit)
{
	const json_t *value = json_object_get(obj, member);
	char text[64];
	if (!json_is_integer(value))
		return;

	snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT "%s", json_integer_value(value), unit);
	print_line(to, indent, key, text);
}

/* Print a size in bytes; 0 prints nothing, because hwloc and drivers
 * report 0 for what they do not know. */
static void print_bytes(FILE *to, int indent, const char *key, const json_t *obj, const char *member)
{
	json_int_t bytes = json_integer_value(json_object_get(obj, member));
	char text[32];
	if (bytes <= 0)
		return;

	format_bytes(text, sizeof text, (uint64_t)bytes);
	print_line(to, indent, key, text);
}

static void print_bool(FILE *to, int indent, const char *key, const json_t *obj, const char *member)
{
	const json_t *value = json_object_get(obj, member);
	if (json_is_boolean(value))
		print_line(to, indent, key, json_is_true(value) ? "yes" : "no");
}

/* Print "2 x 1 MiB" for the caches of one level, when hwloc found any. */
static void print_cache(FILE *to, const char *key, const json_t *cpu, const char *bytes_member,
			const char *count_member)
{
	json_int_t bytes = json_integer_value(json_object_get(cpu, bytes_member));
	json_int_t count = json_integer_value(json_object_get(cpu, count_member));
	char size[32];
	char text[64];
	if (bytes <= 0 || count <= 0)
		return;

	format_bytes(size, sizeof size, (uint64_t)bytes);
	snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT " x %s", count, size);
	print_line(to, 2, key, text);
}

static void print_cpu(FILE *to, const json_t *cpu)
{
	fputs("CPU (hwloc)\n", to);
	print_string(to, 2, "model:", cpu, "model");
	print_integer(to, 2, "packages:", cpu, "packages", "");
	print_integer(to, 2, "NUMA nodes:", cpu, "numa_nodes", "");
	print_integer(to, 2, "cores:", cpu, "cores", "");
	print_integer(to, 2, "processing units:", cpu, "pus", "");
	print_cache(to, "L2 cache:", cpu, "l2_cache_bytes", "l2_caches");
	print_cache(to, "L3 cache:", cpu, "l3_cache_bytes", "l3_caches");
	print_bytes(to, 2, "memory:", cpu, "memory_bytes");
}

/* Print "4096 x 4096 x 4096". */
static void print_sizes(FILE *to, int indent, const char *key, const json_t *array)
{
	char text[128] = "";
	size_t used = 0;
	size_t i;
	json_t *value;
	if (!json_is_array(array))
		return;

	json_array_foreach(array, i, value) {
		int n = snprintf(text + used, sizeof text - used, "%s%" JSON_INTEGER_FORMAT, i ? " x " : "",
				 json_integer_value(value));
		if (n < 0 || (size_t)n >= sizeof text - used)
			break;
		used += (size_t)n;
	}
	print_line(to, indent, key, text);
}

/* Print the extensions as "N:" and then the names, wrapped under the value
 * column. */
static void print_extensions(FILE *to, int indent, const json_t *extensions)
{
	const int column = KEY_WIDTH + 1;
	int width = column;
	size_t i;
	json_t *name;
	if (!json_is_array(extensions))
		return;

	fprintf(to, "%*s%-*s %zu", indent, "", KEY_WIDTH - indent, "extensions:", json_array_size(extensions));
	json_array_foreach(extensions, i, name) {
		const char *text = json_string_value(name);
		int len = text ? (int)strlen(text) : 0;
		if (i == 0 || width + 1 + len > LINE_WIDTH) {
			fprintf(to, "\n%*s%s", column, "", text ? text : "");
			width = column + len;
			continue;
		}
		fprintf(to, " %s", text);
		width += 1 + len;
	}
	fputc('\n', to);
}

static void print_device(FILE *to, const json_t *device)
{
	char vectors[64];

	fprintf(to, "  device %" JSON_INTEGER_FORMAT ": %s\n", json_integer_value(json_object_get(device, "index")),
		name_of(device));
	print_string(to, 4, "error:", device, "error");
	print_string(to, 4, "type:", device, "type");
	print_string(to, 4, "vendor:", device, "vendor");
	print_string(to, 4, "driver version:", device, "driver_version");
	print_string(to, 4, "OpenCL version:", device, "version");
	print_string(to, 4, "OpenCL C version:", device, "opencl_c_version");
	print_bool(to, 4, "available:", device, "available");
	print_integer(to, 4, "compute units:", device, "compute_units", "");
	print_integer(to, 4, "max clock:", device, "max_clock_mhz", " MHz");
	print_bytes(to, 4, "global memory:", device, "global_mem_bytes");
	print_bytes(to, 4, "global memory cache:", device, "global_mem_cache_bytes");
	print_bytes(to, 4, "local memory:", device, "local_mem_bytes");
	print_bytes(to, 4, "max allocation:", device, "max_alloc_bytes");
	print_integer(to, 4, "max work-group size:", device, "max_work_group_size", "");
	print_sizes(to, 4, "max work-item sizes:", json_object_get(device, "max_work_item_sizes"));
	if (json_object_get(device, "preferred_vector_width_float")) {
		snprintf(vectors, sizeof vectors, "float %" JSON_INTEGER_FORMAT ", double %" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(device, "preferred_vector_width_float")),
			 json_integer_value(json_object_get(device, "preferred_vector_width_double")));
		print_line(to, 4, "preferred vector width:", vectors);
	}
	print_bool(to, 4, "fp64:", device, "fp64");
	print_extensions(to, 4, json_object_get(device, "extensions"));
}

static void print_platform(FILE *to, size_t index, const json_t *platform)
{
	const json_t *devices = json_object_get(platform, "devices");
	size_t i;
	json_t *device;

	fprintf(to, "\nOpenCL platform %zu: %s\n", index, name_of(platform));
	print_string(to, 2, "error:", platform, "error");
	print_string(to, 2, "vendor:", platform, "vendor");
	print_string(to, 2, "version:", platform, "version");
	print_string(to, 2, "profile:", platform, "profile");
	if (json_array_size(devices) == 0)
		fputs("  no devices\n", to);
	json_array_foreach(devices, i, device)
		print_device(to, device);
}

void bl__devices_print(const json_t *doc, FILE *to)
{
	const json_t *opencl = json_object_get(doc, "opencl");
	size_t i;
	json_t *platform;

	print_cpu(to, json_object_get(doc, "cpu"));

	fputs("\nBLAS\n", to);
	print_string(to, 2, "OpenBLAS kernels:", json_object_get(doc, "blas"), "core");

	if (json_array_size(opencl) == 0)
		fputs("\nno OpenCL platform found; install pocl-opencl-icd for a CPU OpenCL device\n", to);
	json_array_foreach(opencl, i, platform)
		print_platform(to, i, platform);

	const json_t *warm = json_object_get(doc, "warm");
	if (json_is_object(warm))
		fprintf(to, "\nwarmed %s: float32 kernels %.0f ms, float64 kernels %.0f ms\n",
			json_string_value(json_object_get(warm, "device")),
			json_number_value(json_object_get(warm, "float32_ms")),
			json_number_value(json_object_get(warm, "float64_ms")));
}
