/*
 * libFuzzer target for bl_npy_decode. Whatever decodes must survive
 * bl_npy_encode and decode again to an identical tensor; a mismatch calls
 * abort(), so that libFuzzer records the input. The limits are small so
 * that no input makes the decoder allocate much.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_tensor(const bl_tensor_t *a, const bl_tensor_t *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim || a->count != b->count || a->nbytes != b->nbytes)
		return false;
	for (unsigned i = 0; i < a->ndim; i++) {
		if (a->shape[i] != b->shape[i])
			return false;
	}
	return memcmp(a->data, b->data, a->nbytes) == 0;
}

/* A failure must report itself the same way through err as through the
 * return value, with a message. */
static void check_error(int rc, const bl_error_t *err)
{
	if (err->code != rc || err->message[0] == '\0') {
		fprintf(stderr, "decode returned %d but err contains code %d and message \"%s\"\n", rc, err->code,
			err->message);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bl_npy_limits_t lim = {.max_data_bytes = 1u << 16, .max_header_bytes = 4096};
	bl_tensor_t *first = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_decode(&first, data, size, &lim, &err);
	if (rc < 0) {
		check_error(rc, &err);
		return 0;
	}

	void *buf = NULL;
	size_t len = 0;
	bl_tensor_t *second = NULL;
	if (bl_npy_encode(&buf, &len, first, &err) < 0) {
		fprintf(stderr, "re-encoding a decoded tensor failed: %s\n", err.message);
		abort();
	}
	rc = bl_npy_decode(&second, buf, len, &lim, &err);
	if (rc < 0 || !same_tensor(first, second)) {
		fprintf(stderr, "re-encoded tensor decodes differently (rc %d: %s)\n", rc, rc < 0 ? err.message : "");
		abort();
	}

	free(buf);
	bl_tensor_free(&first);
	bl_tensor_free(&second);
	return 0;
}
