#include "bench_tool.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void tool_scratch(char *out, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(out, size, "%s/bl-bench-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(out), "cannot create a scratch folder at %s", out);
}

void tool_remove(const char *dir)
{
	char command[4200];
	snprintf(command, sizeof command, "rm -rf '%s'", dir);
	cr_expect_eq(system(command), 0, "cannot remove %s", dir);
}

void tool_mock_build(const char *dir)
{
	char path[4096];
	static const char *const links[] = {"bench/beamline-savina", "bench/peers/caf-savina",
					    "bench/peers/starpu-tasks"};

	snprintf(path, sizeof path, "%s/bench", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/bench/peers", dir);
	mkdir(path, 0755);
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, links[i]);
		cr_assert_eq(symlink(BL_BENCH_MOCK_DIR "/savina", path), 0, "cannot link %s", path);
	}
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	rewind(f);

	char *text = malloc((size_t)len + 1);
	cr_assert_not_null(text);
	size_t got = fread(text, 1, (size_t)len, f);
	text[got] = '\0';
	fclose(f);
	return text;
}

tool_output_t tool_run(const char *env, const char *args)
{
	char dir[4096], command[16384];
	tool_scratch(dir, sizeof dir);
	snprintf(command, sizeof command, "env %s %s %s >%s/out 2>%s/err", env, BL_BENCH_PROGRAM, args, dir, dir);

	int status = system(command);
	tool_output_t o = {.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1};
	snprintf(command, sizeof command, "%s/out", dir);
	o.out = read_all(command);
	unlink(command);
	snprintf(command, sizeof command, "%s/err", dir);
	o.err = read_all(command);
	unlink(command);
	rmdir(dir);
	return o;
}

void tool_output_free(tool_output_t *o)
{
	free(o->out);
	free(o->err);
	*o = (tool_output_t){0};
}

json_t *tool_find(const json_t *array, const char *key, const char *value)
{
	size_t i;
	json_t *obj;
	json_array_foreach(array, i, obj) {
		const char *s = json_string_value(json_object_get(obj, key));
		if (s && strcmp(s, value) == 0)
			return obj;
	}
	cr_assert_fail("no object with %s \"%s\"", key, value);
	return NULL;
}

json_t *tool_load(const char *path)
{
	json_error_t error;
	json_t *doc = json_load_file(path, 0, &error);
	cr_assert_not_null(doc, "%s is not JSON: %s (line %d)", path, error.text, error.line);
	return doc;
}

void tool_save(const json_t *doc, const char *path)
{
	cr_assert_eq(json_dump_file(doc, path, JSON_INDENT(2)), 0, "cannot write %s", path);
}
