/*
 * Helpers for the tests that run beamline-bench itself: a scratch folder,
 * a build tree of stand-in programs, and running the tool with its output
 * captured.
 */
#ifndef BL_TESTS_BENCH_TOOL_H
#define BL_TESTS_BENCH_TOOL_H

#include <jansson.h>

typedef struct tool_output {
	int status; /* exit status, or -1 when it did not exit normally */
	char *out;  /* standard output, owned */
	char *err;  /* standard error, owned */
} tool_output_t;

/* Create a scratch folder under $TMPDIR or /tmp; `out` gets its path. */
void tool_scratch(char *out, size_t size);

/* Remove a scratch folder and everything in it. */
void tool_remove(const char *dir);

/* Make `dir`/bench a build tree whose beamline-savina and peers are the
 * stand-in script tests/bench/mock/savina. */
void tool_mock_build(const char *dir);

/* Run `env ENV beamline-bench ARGS` through the shell; ENV may be "".
 * Free the result with tool_output_free. */
tool_output_t tool_run(const char *env, const char *args);

void tool_output_free(tool_output_t *o);

/* The first object in `array` whose `key` is the string `value`, or a
 * failed test. Returns borrowed. */
json_t *tool_find(const json_t *array, const char *key, const char *value);

/* Load a JSON file, failing the test when it is not one. Returns owned. */
json_t *tool_load(const char *path);

/* Write `doc` to `path`, failing the test on error. */
void tool_save(const json_t *doc, const char *path);

#endif
