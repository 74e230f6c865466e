/*
 * libFuzzer target for bl_job_parse. Each input is parsed under small
 * limits, so the fuzzer reaches every limit quickly. A parsed job must
 * satisfy the format's rules and the limits, and must encode to a result
 * that parses as JSON. A rejected job must carry a proper error that also
 * encodes, and a limit error must match a real excess in the JSON. Any
 * inconsistency aborts, which libFuzzer reports as a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>

#define NAME_SIZE 33

static const bl_job_limits_t limits = {
	.max_bytes = 4096,
	.max_depth = 8,
	.max_string_bytes = 256,
	.max_array_items = 64,
	.max_object_keys = 16,
	.max_name_bytes = 32,
	.max_timeout_ms = 60000,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *reason)
{
	fprintf(stderr, "job_parse: %s\n", reason);
	abort();
}

/* A salvaged name is "" or a valid name that fits its buffer. */
static void check_name(const char *name)
{
	size_t len = strnlen(name, NAME_SIZE);
	if (len == NAME_SIZE)
		fail("salvaged name is not NUL-terminated");
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		fail("salvaged name has a byte outside [A-Za-z0-9._-]");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		fail("salvaged name is a dot name");
}

/* Return which limit a value at nesting level `depth` breaks, itself or
 * anywhere below it, or NULL when it breaks none. */
static const char *find_excess(const json_t *v, unsigned depth)
{
	if (json_is_string(v) && json_string_length(v) > limits.max_string_bytes)
		return "max_string_bytes";
	if (!json_is_array(v) && !json_is_object(v))
		return NULL;
	if (depth > limits.max_depth)
		return "max_depth";

	if (json_is_array(v)) {
		if (json_array_size(v) > limits.max_array_items)
			return "max_array_items";
		for (size_t i = 0; i < json_array_size(v); i++) {
			const char *excess = find_excess(json_array_get(v, i), depth + 1);
			if (excess)
				return excess;
		}
		return NULL;
	}

	if (json_object_size(v) > limits.max_object_keys)
		return "max_object_keys";
	/* jansson's iterators take a non-const object but do not modify it. */
	json_t *members = (json_t *)(uintptr_t)v;
	for (void *it = json_object_iter(members); it; it = json_object_iter_next(members, it)) {
		if (json_object_iter_key_len(it) > limits.max_string_bytes)
			return "max_string_bytes";
		const char *excess = find_excess(json_object_iter_value(it), depth + 1);
		if (excess)
			return excess;
	}
	return NULL;
}

/*
 * Check a BL_ELIMIT against the tree that jansson builds from the same
 * text. When the text is valid JSON of at most max_bytes, the violation
 * must be in the tree, or come from a field rule that checks a limit.
 * This catches a scan that counts more than the JSON contains.
 */
static void check_limit_error(const uint8_t *data, size_t size, const bl_error_t *err)
{
	static const char *const limited_fields[] = {"id",	   "tenant",	       "block",
						     "timeout_ms", "retry.backoff_ms", "retry.max_backoff_ms"};

	if (size > limits.max_bytes)
		return;
	json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return;
	const char *excess = find_excess(root, 1);
	json_decref(root);
	if (excess)
		return;
	for (size_t i = 0; i < sizeof limited_fields / sizeof *limited_fields; i++) {
		if (strcmp(err->field, limited_fields[i]) == 0)
			return;
	}
	fail("BL_ELIMIT for valid JSON that is within every limit");
}

static json_t *encode_and_load(const bl_job_result_t *r)
{
	json_error_t jerr;

	char *line = bl_job_result_encode(r);
	if (!line)
		fail("bl_job_result_encode returned NULL");
	if (strchr(line, '\n'))
		fail("the encoded result spans more than one line");
	json_t *back = json_loads(line, 0, &jerr);
	free(line);
	if (!back)
		fail("the encoded result is not valid JSON");
	return back;
}

static void check_job(bl_job_t *job, const char *id, const char *tenant)
{
	if (!job || strcmp(job->id, id) != 0 || strcmp(job->tenant, tenant) != 0)
		fail("a parsed job's names differ from the salvaged ones");
	if ((unsigned)job->priority >= BL_PRIORITY_COUNT)
		fail("priority out of range");
	if (job->block[0] == '\0' || strspn(job->block, "abcdefghijklmnopqrstuvwxyz_") != strlen(job->block))
		fail("block name breaks the format");
	if (!json_is_object(job->params))
		fail("params is not an object");
	if (job->timeout_ms > limits.max_timeout_ms)
		fail("timeout_ms exceeds max_timeout_ms");
	if (job->retry.max_attempts < 1 || job->retry.max_attempts > 100 ||
	    job->retry.max_backoff_ms < job->retry.backoff_ms)
		fail("retry breaks the format");
	if (find_excess(job->params, 2))
		fail("a parsed job breaks a limit that the scan should have caught");

	bl_job_result_t r = {.id = job->id,
			     .tenant = job->tenant,
			     .status = BL_JOB_OK,
			     .result = job->params,
			     .attempts = 1,
			     .pool = "cpu"};
	json_t *back = encode_and_load(&r);
	if (strcmp(json_string_value(json_object_get(back, "id")), job->id) != 0)
		fail("the encoded id differs from the job's");
	if (!json_equal(json_object_get(back, "result"), job->params))
		fail("the encoded result differs from the job's params");
	json_decref(back);
}

static void check_error(int rc, const bl_error_t *err, const char *id, const char *tenant)
{
	if (rc != BL_EFORMAT && rc != BL_ELIMIT && rc != BL_ENOMEM)
		fail("bl_job_parse returned an undocumented code");
	if (err->code != rc || err->message[0] == '\0')
		fail("the error does not match the return code or has no message");

	bl_job_result_t r = {.id = id,
			     .tenant = tenant,
			     .status = BL_JOB_REJECTED,
			     .error_code = "invalid_job",
			     .error_field = err->field,
			     .error_message = err->message};
	json_t *back = encode_and_load(&r);
	json_decref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bl_job_t *job = NULL;
	bl_error_t err = {0};
	char id[NAME_SIZE], tenant[NAME_SIZE];

	int rc = bl_job_parse(&job, (const char *)data, size, &limits, id, tenant, sizeof id, &err);

	check_name(id);
	check_name(tenant);
	if (rc == 0) {
		check_job(job, id, tenant);
		bl_job_free(&job);
		if (job)
			fail("bl_job_free did not clear the pointer");
	} else {
		if (job)
			fail("a failed parse returned a job");
		check_error(rc, &err, id, tenant);
		if (rc == BL_ELIMIT)
			check_limit_error(data, size, &err);
	}
	return 0;
}
