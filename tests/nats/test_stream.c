#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

static const char *jobs_subjects[] = {"jobs.>"};

static bl_js_stream_config_t jobs_config(void)
{
	return (bl_js_stream_config_t){
		.name = "JOBS",
		.subjects = jobs_subjects,
		.nsubjects = 1,
		.retention = BL_JS_RETENTION_WORKQUEUE,
		.storage = BL_JS_STORAGE_FILE,
		.duplicate_window_ns = 60LL * 1000000000,
		.max_age_ns = 3600LL * 1000000000,
	};
}

/* The first run creates the stream, the second finds it as configured and changes nothing. */
Test(nats_stream, ensure_is_idempotent, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_stream_config_t config = jobs_config();
	bl_nats_error_t err = {0};

	int first = bl_js_stream_ensure(nats, &config, NULL, &err);
	cr_assert_eq(first, 1, "first run: expected 1 (created), got %d: %s", first, err.error.message);
	fixture_publish_jobs(nats, 0, 3);
	int second = bl_js_stream_ensure(nats, &config, NULL, &err);

	cr_assert_eq(second, 0, "second run: expected 0 (matched), got %d: %s", second, err.error.message);
	bl_js_stream_state_t state;
	cr_assert_eq(bl_js_stream_state(nats, "JOBS", &state, &err), 0, "%s", err.error.message);
	cr_assert_eq(state.messages, 3, "the second run must keep the stream's messages, found %llu",
		     (unsigned long long)state.messages);
	bl_nats_free(nats);
}

/* An existing stream with other settings is reported field by field and left as it was. */
Test(nats_stream, mismatch_reported_by_name, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_stream_config_t config = jobs_config();
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_stream_ensure(nats, &config, NULL, &err), 1, "%s", err.error.message);

	bl_js_stream_config_t other = config;
	other.retention = BL_JS_RETENTION_LIMITS;
	other.max_age_ns = 0;
	uint32_t mismatches = 0;
	int rc = bl_js_stream_ensure(nats, &other, &mismatches, &err);

	cr_assert_eq(rc, -EEXIST, "expected -EEXIST, got %d", rc);
	cr_assert_eq(mismatches, BL_JS_FIELD_RETENTION | BL_JS_FIELD_MAX_AGE, "mask 0x%x", mismatches);
	cr_assert(strstr(err.error.message, "retention is \"workqueue\", expected \"limits\""), "message: %s",
		  err.error.message);
	cr_assert(strstr(err.error.message, "max_age is 3600000000000, expected 0"), "message: %s",
		  err.error.message);
	cr_assert_eq(bl_js_stream_ensure(nats, &config, NULL, &err), 0, "the stream must be unchanged: %s",
		     err.error.message);
	bl_nats_free(nats);
}

/* Subjects, storage, duplicate window and replicas are compared too. */
Test(nats_stream, other_fields_compared, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_stream_config_t config = jobs_config();
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_stream_ensure(nats, &config, NULL, &err), 1, "%s", err.error.message);

	const char *subjects[] = {"jobs.>", "more.>"};
	bl_js_stream_config_t other = config;
	other.subjects = subjects;
	other.nsubjects = 2;
	other.storage = BL_JS_STORAGE_MEMORY;
	other.duplicate_window_ns = 30LL * 1000000000;
	other.replicas = 3;
	uint32_t mismatches = 0;
	int rc = bl_js_stream_ensure(nats, &other, &mismatches, &err);

	cr_assert_eq(rc, -EEXIST);
	uint32_t expected = BL_JS_FIELD_SUBJECTS | BL_JS_FIELD_STORAGE | BL_JS_FIELD_DUPLICATE_WINDOW |
			    BL_JS_FIELD_REPLICAS;
	cr_assert_eq(mismatches, expected, "mask 0x%x, expected 0x%x (%s)", mismatches, expected, err.error.message);
	bl_nats_free(nats);
}

/* The server's own refusal comes back with its JetStream code and description. */
Test(nats_stream, api_error_has_code, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_stream_config_t config = jobs_config();
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_stream_ensure(nats, &config, NULL, &err), 1, "%s", err.error.message);

	/* A second stream on overlapping subjects is refused by the server (10065). */
	bl_js_stream_config_t overlap = config;
	overlap.name = "JOBS2";
	int rc = bl_js_stream_ensure(nats, &overlap, NULL, &err);

	cr_assert_lt(rc, 0);
	cr_assert_eq(err.api_code, 10065, "api_code %d: %s", err.api_code, err.error.message);
	cr_assert_eq(err.status, 400, "status %d", err.status);
	cr_assert(strstr(err.error.message, "10065"), "message: %s", err.error.message);
	bl_nats_free(nats);
}

/* Names that would break the API subject are rejected before anything is sent. */
Test(nats_stream, invalid_name_rejected)
{
	const char *names[] = {"", "a.b", "a*", "a>", "a b"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		bl_js_stream_config_t config = jobs_config();
		config.name = names[i];
		bl_nats_error_t err = {0};

		int rc = bl_js_stream_ensure(NULL, &config, NULL, &err);

		cr_assert_eq(rc, BL_EINVAL, "name \"%s\": expected BL_EINVAL, got %d", names[i], rc);
		cr_assert_str_eq(err.error.field, "name");
	}
}

/* Reading a stream that does not exist is -ENOENT with the server's 10059. */
Test(nats_stream, missing_stream_not_found, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_stream_state_t state;
	bl_nats_error_t err = {0};

	int rc = bl_js_stream_state(nats, "NOPE", &state, &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_eq(err.api_code, 10059);
	bl_nats_free(nats);
}
