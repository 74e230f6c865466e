#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>
#include <beamline/json_dump.h>

static const char *const status_names[] = {"ok", "error", "timeout", "rejected", "cancelled"};

const char *bl_job_status_name(bl_job_status_t s)
{
	if ((unsigned)s >= sizeof status_names / sizeof *status_names)
		return "unknown";
	return status_names[s];
}

/* Return the length of the well-formed UTF-8 sequence at `s` (`n` bytes
 * available), or 0 when it is not one: overlong forms, surrogates and code
 * points above U+10FFFF are rejected, as jansson rejects them. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		cp = s[0] & 0x1Fu;
		min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = s[0] & 0x0Fu;
		min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		cp = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Return a JSON string for `s`. Text from a rejected job can carry bytes
 * that are not UTF-8 (a message that quotes the input, or a cut in the
 * middle of a character), and jansson refuses such strings, so each
 * invalid byte becomes U+FFFD. Returns NULL when memory runs out.
 */
static json_t *text_value(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_sequence(u + i, len - i);
		if (n == 0)
			break;
		i += n;
	}
	if (i == len)
		return json_stringn(s, len);

	/* Each invalid byte grows to the three bytes of U+FFFD. */
	char *clean = malloc(len * 3 + 1);
	if (!clean)
		return NULL;
	size_t used = 0;
	for (i = 0; i < len;) {
		size_t n = utf8_sequence(u + i, len - i);
		if (n == 0) {
			memcpy(clean + used, "\xEF\xBF\xBD", 3);
			used += 3;
			i++;
		} else {
			memcpy(clean + used, s + i, n);
			used += n;
			i += n;
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
	return json_object_set_new(obj, key, text_value(s)) == 0;
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
