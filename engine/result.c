#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>
#include <beamline/json_dump.h>
#include <beamline/utf8.h>

static const char *const status_names[] = {"ok", "error", "timeout", "rejected", "cancelled"};

const char *bl_job_status_name(bl_job_status_t s)
{
	if ((unsigned)s >= sizeof status_names / sizeof *status_names)
		return "unknown";
	return status_names[s];
}

json_t *bl_json_string_lossy(const char *s)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t len = strlen(s);
	size_t at = bl_utf8_first_fault(u, len);

	if (at == len)
		return json_stringn(s, len);

	/* Each invalid byte grows to the three bytes of U+FFFD. */
	char *clean = malloc(len * 3 + 1);
	if (!clean)
		return NULL;
	size_t used = 0;
	for (size_t i = 0; i < len;) {
		size_t good = i == 0 ? at : bl_utf8_first_fault(u + i, len - i);
		memcpy(clean + used, s + i, good);
		used += good;
		i += good;
		if (i < len) {
			memcpy(clean + used, "\xEF\xBF\xBD", 3);
			used += 3;
			i++;
		}
	}
	json_t *v = json_stringn(clean, used);
	free(clean);
	return v;
}

/* Set obj[key] to the text `s`; NULL and "" are left out. Returns false
 * when memory runs out. */
static bool set_text(json_t *obj, const char *key, const char *s)
{
	if (!s || !*s)
		return true;
	return json_object_set_new(obj, key, bl_json_string_lossy(s)) == 0;
}

/* jansson integers are signed 64-bit, so a larger count is clamped; at one
 * count per microsecond that is about 292,000 years. */
static json_t *count_value(uint64_t n)
{
	return json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n);
}

static bool set_error(json_t *obj, const bl_job_result_t *r)
{
	if (!r->error_code || !*r->error_code)
		return true;

	json_t *error = json_object();
	if (!error)
		return false;
	bool ok = set_text(error, "code", r->error_code) && set_text(error, "message", r->error_message) &&
		  set_text(error, "field", r->error_field) &&
		  json_object_set_new(error, "retryable", json_boolean(r->retryable)) == 0;
	if (!ok) {
		json_decref(error);
		return false;
	}
	return json_object_set_new(obj, "error", error) == 0;
}

static bool set_timing(json_t *obj, const bl_job_result_t *r)
{
	json_t *timing = json_object();
	if (!timing)
		return false;
	if (json_object_set_new(timing, "queued", count_value(r->queued_us)) != 0 ||
	    json_object_set_new(timing, "run", count_value(r->run_us)) != 0) {
		json_decref(timing);
		return false;
	}
	return json_object_set_new(obj, "timing_us", timing) == 0;
}

char *bl_job_result_encode(const bl_job_result_t *r)
{
	return bl_job_result_encode_len(r, NULL);
}

char *bl_job_result_encode_len(const bl_job_result_t *r, size_t *len)
{
	if (!r)
		return NULL;
	json_t *obj = json_object();
	if (!obj)
		return NULL;

	bool ok = set_text(obj, "id", r->id) && set_text(obj, "tenant", r->tenant) &&
		  json_object_set_new(obj, "status", json_string(bl_job_status_name(r->status))) == 0;
	if (ok && r->result)
		ok = json_object_set(obj, "result", r->result) == 0;
	ok = ok && set_error(obj, r);
	if (ok && r->attempts > 0)
		ok = json_object_set_new(obj, "attempts", json_integer(r->attempts)) == 0;
	ok = ok && set_text(obj, "pool", r->pool) && set_text(obj, "device", r->device) &&
	     set_text(obj, "traceparent", r->traceparent) && set_timing(obj, r);

	/* Not json_dumps: a result can carry megabytes of text (an fs get),
	 * which jansson's writer takes about 7 ms per MiB to escape. */
	char *line = ok ? bl_json_dumps_with(obj, r->result ? r->attached : NULL, len) : NULL;
	json_decref(obj);
	return line;
}
