/*
 * libFuzzer target for the UTF-8 checks. The vector check of multi-byte
 * text must agree with the scalar one, with and without NUL allowed. Each
 * input is checked as it is and repeated to at least 256 bytes, so that
 * a short input also goes through the vector path. A disagreement calls
 * abort(), so that libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes of the repeated input, at least; two blocks of the ASCII test. */
#define REPEATED_MIN 256

static void expect_agreement(const uint8_t *s, size_t len)
{
	for (int allow_nul = 0; allow_nul <= 1; allow_nul++) {
		bool scalar = bl__utf8_scan(s, len, allow_nul, false);
		bool vector = bl__utf8_scan(s, len, allow_nul, true);
		if (scalar != vector) {
			fprintf(stderr, "%zu bytes, NUL %s: the scalar check found them %s, the vector check %s\n", len,
				allow_nul ? "allowed" : "refused", scalar ? "valid" : "invalid",
				vector ? "valid" : "invalid");
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!bl__utf8_vector_available())
		return 0;
	expect_agreement(data, size);
	if (size == 0 || size >= REPEATED_MIN)
		return 0;

	size_t copies = (REPEATED_MIN + size - 1) / size;
	uint8_t *repeated = malloc(copies * size);
	if (!repeated)
		return 0;
	for (size_t c = 0; c < copies; c++)
		memcpy(repeated + c * size, data, size);
	expect_agreement(repeated, copies * size);
	free(repeated);
	return 0;
}
