/*
 * libFuzzer target for bl_json_loadb. For each input and each combination
 * of its three flags, bl_json_loadb and jansson's json_loadb must both
 * reject the input or both accept it with equal trees (json_equal). A
 * rejection must come with a message and a position inside the input.
 * Each input is also tried between two quotes, so that random bytes reach
 * the string scan. A disagreement calls abort(), so that libFuzzer
 * records the input.
 *
 * One difference is expected: jansson 2.14 skips a NUL byte that directly
 * follows a number or a literal ("[1\0]" loads as [1]), where
 * bl_json_loadb rejects every NUL byte outside a \u0000 escape. When
 * jansson accepts and bl_json_loadb rejects such a NUL, the NUL is removed
 * and the comparison runs again.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_load.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t flag_sets[] = {
	0,
	JSON_REJECT_DUPLICATES,
	JSON_DECODE_ANY,
	JSON_ALLOW_NUL,
	JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	JSON_DECODE_ANY | JSON_ALLOW_NUL,
	JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
};

static void disagree(size_t size, size_t flags, const char *reason, const json_error_t *error)
{
	fprintf(stderr, "json_load: %zu bytes, flags 0x%zx: %s (our error: line %d, column %d, position %d, \"%s\")\n",
		size, flags, reason, error->line, error->column, error->position, error->text);
	abort();
}

/* Return whether bl_json_loadb rejected `doc` at a NUL byte that jansson
 * skips: one right after the last digit of a number or letter of a
 * literal. */
static bool is_skipped_nul(const char *doc, const json_error_t *error)
{
	int at = error->position - 1;

	if (at < 1 || doc[at] != '\0')
		return false;
	char before = doc[at - 1];
	return (before >= '0' && before <= '9') || (before >= 'a' && before <= 'z');
}

/* Check the error of a rejected input: a message and a position inside. */
static void check_error(size_t size, size_t flags, const json_error_t *error)
{
	bool inside = error->position >= 0 && (size_t)error->position <= size;

	if (!inside || error->line < 1 || error->column < 0 || error->text[0] == '\0')
		disagree(size, flags, "the error has no message or points outside the input", error);
}

static void expect_agreement(const char *doc, size_t size, size_t flags)
{
	json_error_t ours_error;
	json_t *theirs = json_loadb(doc, size, flags, NULL);
	json_t *ours = bl_json_loadb(doc, size, flags, &ours_error);

	if (theirs && !ours && is_skipped_nul(doc, &ours_error)) {
		char *without = malloc(size);
		if (!without)
			abort();
		size_t at = (size_t)ours_error.position - 1;
		memcpy(without, doc, at);
		memcpy(without + at, doc + at + 1, size - at - 1);
		json_decref(theirs);
		expect_agreement(without, size - 1, flags);
		free(without);
		return;
	}

	if (!theirs && ours)
		disagree(size, flags, "json_loadb rejected it, bl_json_loadb accepted it", &ours_error);
	if (theirs && !ours)
		disagree(size, flags, "json_loadb accepted it, bl_json_loadb rejected it", &ours_error);
	if (theirs && !json_equal(ours, theirs))
		disagree(size, flags, "the trees differ", &ours_error);
	if (!ours)
		check_error(size, flags, &ours_error);
	json_decref(ours);
	json_decref(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof flag_sets / sizeof *flag_sets; i++)
		expect_agreement((const char *)data, size, flag_sets[i]);

	char *quoted = malloc(size + 2);
	if (!quoted)
		return 0;
	quoted[0] = '"';
	memcpy(quoted + 1, data, size);
	quoted[size + 1] = '"';
	expect_agreement(quoted, size + 2, JSON_DECODE_ANY);
	expect_agreement(quoted, size + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL);
	free(quoted);
	return 0;
}
