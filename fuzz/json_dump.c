/*
 * libFuzzer target for bl_json_dumps: it must write what jansson's
 * json_dumps writes (JSON_COMPACT | JSON_ENCODE_ANY), byte for byte, for
 * the document the input parses to, and for the input's bytes taken as
 * one string (where jansson refuses bytes that are not UTF-8, so must
 * bl_json_dumps). A disagreement calls abort(), so that libFuzzer records
 * the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_dump.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expect_same(json_t *v, const char *label)
{
	char *mine = bl_json_dumps(v, NULL);
	char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if ((mine == NULL) != (theirs == NULL) || (mine && strcmp(mine, theirs) != 0)) {
		fprintf(stderr, "%s: bl_json_dumps wrote %.300s\njansson wrote %.300s\n", label,
			mine ? mine : "(nothing)", theirs ? theirs : "(nothing)");
		abort();
	}
	free(mine);
	free(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (doc) {
		expect_same(doc, "the parsed document");
		json_decref(doc);
	}

	json_t *text = json_stringn_nocheck((const char *)data, size);
	if (text) {
		expect_same(text, "the input as one string");
		json_decref(text);
	}
	return 0;
}
