#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>
#include <beamline/json_load.h>
#include <beamline/trace.h>

#include "job_limits.h"

#define NAME_CHARS "[A-Za-z0-9._-]"
#define BLOCK_CHARS "[a-z_]"
#define MAX_ATTEMPTS 100
#define DEFAULT_BACKOFF_MS 100
#define DEFAULT_MAX_BACKOFF_MS 10000

#define STRINGIFY_ARG(x) #x
#define STRINGIFY(x) STRINGIFY_ARG(x)

/* Maximum bytes of a rejected value that a message quotes. */
#define QUOTE_MAX 48

static const char *const priority_names[BL_PRIORITY_COUNT] = {"critical", "high", "normal", "low"};

static const char *const job_fields[] = {
	"id", "tenant", "priority", "block", "params", "timeout_ms", "deadline", "retry", "traceparent",
};

static const char *const retry_fields[] = {"max_attempts", "backoff_ms", "max_backoff_ms"};

void bl_job_limits_init(bl_job_limits_t *lim)
{
	*lim = (bl_job_limits_t){
		.max_bytes = 1024 * 1024,
		.max_depth = 32,
		.max_string_bytes = 64 * 1024,
		.max_array_items = 65536,
		.max_object_keys = 1024,
		.max_name_bytes = 128,
		.max_timeout_ms = UINT64_C(24) * 60 * 60 * 1000,
	};
}

const char *bl_priority_name(bl_priority_t p)
{
	if ((unsigned)p >= BL_PRIORITY_COUNT)
		return "unknown";
	return priority_names[p];
}

/* Write `s` into `buf` as a double-quoted ASCII string for a message:
 * quotes and backslashes are escaped, other bytes outside printable ASCII
 * are written as \xNN, and a long value is cut with "...". */
static const char *quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t used = 0;

	buf[used++] = '"';
	for (size_t i = 0; i < len && i < QUOTE_MAX && used + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			used += (size_t)snprintf(buf + used, size - used, "\\%c", c);
		else if (c >= 0x20 && c < 0x7F)
			buf[used++] = (char)c;
		else
			used += (size_t)snprintf(buf + used, size - used, "\\x%02X", c);
	}
	if (len > QUOTE_MAX && used + 4 < size) {
		memcpy(buf + used, "...", 3);
		used += 3;
	}
	buf[used++] = '"';
	buf[used] = '\0';
	return buf;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

static bool is_block_char(char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

/* Return the offset of the first byte of `s` that `allowed` rejects, or
 * `len` when there is none. */
static size_t find_bad_byte(const char *s, size_t len, bool (*allowed)(char))
{
	size_t i = 0;
	while (i < len && allowed(s[i]))
		i++;
	return i;
}

static bool is_dot_name(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

static bool is_usable_name(const char *s, size_t len, const bl_job_limits_t *lim)
{
	return len > 0 && len <= lim->max_name_bytes && find_bad_byte(s, len, is_name_char) == len &&
	       !is_dot_name(s, len);
}

static char *copy_string(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

int bl_job_check_name(const char *s, size_t len, size_t max_bytes, const char *field, bl_error_t *err)
{
	char quoted[QUOTE_MAX * 4 + 8];

	if (len == 0)
		return bl_error_set(err, BL_EFORMAT, field,
				    "expected 1 to %zu characters from " NAME_CHARS ", got an empty string", max_bytes);
	if (len > max_bytes)
		return bl_error_set(err, BL_ELIMIT, field, "name is %zu bytes long, over the limit of %zu bytes", len,
				    max_bytes);

	size_t bad = find_bad_byte(s, len, is_name_char);
	if (bad < len)
		return bl_error_set(err, BL_EFORMAT, field,
				    "expected only characters from " NAME_CHARS
				    ", got %s with byte 0x%02X at offset %zu",
				    quote(quoted, sizeof quoted, s, len), (unsigned char)s[bad], bad);
	if (is_dot_name(s, len))
		return bl_error_set(
			err, BL_EFORMAT, field,
			"expected a name other than \".\" or \"..\", which would name a directory in a path, got %s",
			quote(quoted, sizeof quoted, s, len));
	return 0;
}

/* Check that `v` is a valid id or tenant name, and copy it into *out. */
static int take_name(const json_t *v, const char *field, const bl_job_limits_t *lim, char **out, bl_error_t *err)
{
	if (!json_is_string(v))
		return bl_error_set(err, BL_EFORMAT, field,
				    "expected a string of 1 to %zu characters from " NAME_CHARS ", got %s",
				    lim->max_name_bytes, bl_json_type_phrase(v));

	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	int rc = bl_job_check_name(s, len, lim->max_name_bytes, field, err);
	if (rc < 0)
		return rc;

	*out = copy_string(s, len);
	return *out ? 0 : bl_error_set(err, BL_ENOMEM, field, "out of memory while copying the field");
}

/* A tenant's name is its folder's name beneath the data folder, where the
 * engine keeps its own state in ".beamline", and one token of NATS
 * subjects (beamline.jobs.v1.TENANT), which dots separate: so no dot. */
static int check_tenant_name(const char *tenant, bl_error_t *err)
{
	if (!strchr(tenant, '.'))
		return 0;
	return bl_error_set(err, BL_EFORMAT, "tenant",
			    "expected a tenant name without '.', got \"%s\"; a dot would split the tenant's NATS "
			    "subjects, and names starting with one are kept for the engine's own folders",
			    tenant);
}

static int take_priority(const json_t *v, bl_priority_t *out, bl_error_t *err)
{
	char quoted[QUOTE_MAX * 4 + 8];

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bl_error_set(err, BL_EFORMAT, "priority",
				    "expected one of \"critical\", \"high\", \"normal\" or \"low\", got %s",
				    bl_json_type_phrase(v));

	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	for (int p = 0; p < BL_PRIORITY_COUNT; p++) {
		if (len == strlen(priority_names[p]) && memcmp(s, priority_names[p], len) == 0) {
			*out = (bl_priority_t)p;
			return 0;
		}
	}
	return bl_error_set(err, BL_EFORMAT, "priority",
			    "expected one of \"critical\", \"high\", \"normal\" or \"low\", got %s",
			    quote(quoted, sizeof quoted, s, len));
}

static int take_block(const json_t *v, const bl_job_limits_t *lim, char **out, bl_error_t *err)
{
	char quoted[QUOTE_MAX * 4 + 8];

	if (!json_is_string(v))
		return bl_error_set(err, BL_EFORMAT, "block", "expected a block name of " BLOCK_CHARS ", got %s",
				    bl_json_type_phrase(v));

	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0)
		return bl_error_set(err, BL_EFORMAT, "block",
				    "expected a block name of " BLOCK_CHARS ", got an empty string");
	if (len > lim->max_name_bytes)
		return bl_error_set(err, BL_ELIMIT, "block", "name is %zu bytes long, over the limit of %zu bytes", len,
				    lim->max_name_bytes);
	size_t bad = find_bad_byte(s, len, is_block_char);
	if (bad < len)
		return bl_error_set(err, BL_EFORMAT, "block",
				    "expected only characters from " BLOCK_CHARS
				    ", got %s with byte 0x%02X at offset %zu",
				    quote(quoted, sizeof quoted, s, len), (unsigned char)s[bad], bad);

	*out = copy_string(s, len);
	return *out ? 0 : bl_error_set(err, BL_ENOMEM, "block", "out of memory while copying the field");
}

static int take_params(const json_t *v, json_t **out, bl_error_t *err)
{
	if (!v) {
		*out = json_object();
		return *out ? 0 : bl_error_set(err, BL_ENOMEM, "params", "out of memory while creating empty params");
	}
	if (!json_is_object(v))
		return bl_error_set(err, BL_EFORMAT, "params", "expected an object, got %s", bl_json_type_phrase(v));

	/* json_incref only adds a reference; the cast drops the const that
	 * the borrowed tree carries. */
	*out = json_incref((json_t *)(uintptr_t)v);
	return 0;
}

/*
 * Read an integer field in [min, max] into *out. `expected` describes the
 * accepted values for the message ("a positive integer"). A value above
 * `max` fails with `above_code`: BL_ELIMIT when `max` is a configured
 * limit, BL_EFORMAT when it is part of the format.
 */
static int take_integer(const json_t *v, const char *field, const char *expected, json_int_t min, uint64_t max,
			int above_code, uint64_t *out, bl_error_t *err)
{
	if (!json_is_integer(v))
		return bl_error_set(err, BL_EFORMAT, field, "expected %s, got %s", expected, bl_json_type_phrase(v));

	json_int_t n = json_integer_value(v);
	if (n < min)
		return bl_error_set(err, BL_EFORMAT, field, "expected %s, got %" JSON_INTEGER_FORMAT, expected, n);
	if ((uint64_t)n > max)
		return bl_error_set(err, above_code, field,
				    "expected %s no greater than %" PRIu64 ", got %" JSON_INTEGER_FORMAT, expected, max,
				    n);

	*out = (uint64_t)n;
	return 0;
}

/* A cursor over timestamp text. */
typedef struct cursor {
	const char *s;
	size_t len;
	size_t i;
} cursor_t;

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool read_digits(cursor_t *c, size_t count, int *out)
{
	int n = 0;

	if (c->len - c->i < count)
		return false;
	for (size_t k = 0; k < count; k++) {
		char d = c->s[c->i + k];
		if (!is_digit(d))
			return false;
		n = n * 10 + (d - '0');
	}
	c->i += count;
	*out = n;
	return true;
}

static bool read_char(cursor_t *c, char want)
{
	if (c->i >= c->len || c->s[c->i] != want)
		return false;
	c->i++;
	return true;
}

static bool is_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Return the number of days from 1970-01-01 to the given date of the
 * proleptic Gregorian calendar; negative before 1970. */
static int64_t days_since_epoch(int year, int month, int day)
{
	static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	int64_t y = year;

	/* Days from 0000-01-01 to January 1 of `year`: year 0 is a leap year,
	 * so every later year adds the leap days of the years before it plus
	 * that one. */
	int64_t days = 365 * y;
	if (y > 0)
		days += (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 + 1;
	days += before_month[month - 1] + (month > 2 && is_leap_year(y) ? 1 : 0) + day - 1;
	return days - 719528; /* the same count for 1970-01-01 */
}

/* Parse "YYYY-MM-DD" into the date fields, or write the reason into `reason`. */
static bool parse_date(cursor_t *c, int *year, int *month, int *day, char *reason, size_t reason_size)
{
	if (!read_digits(c, 4, year) || !read_char(c, '-') || !read_digits(c, 2, month) || !read_char(c, '-') ||
	    !read_digits(c, 2, day)) {
		snprintf(reason, reason_size, "the date must be written as YYYY-MM-DD");
		return false;
	}
	if (*month < 1 || *month > 12) {
		snprintf(reason, reason_size, "month %02d does not exist", *month);
		return false;
	}
	if (*day < 1 || *day > days_in_month(*year, *month)) {
		snprintf(reason, reason_size, "day %02d does not exist in %04d-%02d, which has %d days", *day, *year,
			 *month, days_in_month(*year, *month));
		return false;
	}
	return true;
}

/* Parse "hh:mm:ss" and an optional fraction, which is cut to whole
 * milliseconds. */
static bool parse_time(cursor_t *c, int *hour, int *minute, int *second, int *frac_ms, char *reason, size_t reason_size)
{
	if (!read_digits(c, 2, hour) || !read_char(c, ':') || !read_digits(c, 2, minute) || !read_char(c, ':') ||
	    !read_digits(c, 2, second)) {
		snprintf(reason, reason_size, "the time must be written as hh:mm:ss");
		return false;
	}
	if (*hour > 23 || *minute > 59 || *second > 60) {
		snprintf(reason, reason_size, "time %02d:%02d:%02d does not exist", *hour, *minute, *second);
		return false;
	}

	*frac_ms = 0;
	if (!read_char(c, '.'))
		return true;
	size_t first = c->i;
	for (int scale = 100; c->i < c->len && is_digit(c->s[c->i]); c->i++) {
		*frac_ms += (c->s[c->i] - '0') * scale;
		scale /= 10;
	}
	if (c->i == first) {
		snprintf(reason, reason_size, "a digit must follow the decimal point");
		return false;
	}
	return true;
}

/* Parse "Z" or "+hh:mm" / "-hh:mm" into minutes east of UTC. */
static bool parse_zone(cursor_t *c, int *offset_min, char *reason, size_t reason_size)
{
	int hours, minutes;

	if (c->i == c->len) {
		snprintf(reason, reason_size, "the time zone is missing (add Z or an offset such as +02:00)");
		return false;
	}
	if (read_char(c, 'Z') || read_char(c, 'z')) {
		*offset_min = 0;
		return true;
	}

	int sign = c->s[c->i] == '-' ? -1 : 1;
	if (!(read_char(c, '+') || read_char(c, '-')) || !read_digits(c, 2, &hours) || !read_char(c, ':') ||
	    !read_digits(c, 2, &minutes)) {
		snprintf(reason, reason_size, "the time zone must be Z or an offset written as +hh:mm or -hh:mm");
		return false;
	}
	if (hours > 23 || minutes > 59) {
		snprintf(reason, reason_size, "time zone offset %02d:%02d does not exist", hours, minutes);
		return false;
	}
	*offset_min = sign * (hours * 60 + minutes);
	return true;
}

/*
 * Parse an RFC 3339 date-time (section 5.6) into Unix milliseconds:
 * "YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)". As the RFC allows, 'T'
 * and 'Z' may be lower case; a space in place of 'T' is rejected. Second
 * 60 (a leap second) is accepted only at 23:59 UTC and counts as the first
 * second of the next day, because Unix time has no leap seconds.
 */
static bool parse_timestamp(const char *s, size_t len, int64_t *out, char *reason, size_t reason_size)
{
	cursor_t c = {.s = s, .len = len};
	int year, month, day, hour, minute, second, frac_ms, offset_min;

	if (!parse_date(&c, &year, &month, &day, reason, reason_size))
		return false;
	if (!read_char(&c, 'T') && !read_char(&c, 't')) {
		snprintf(reason, reason_size, "'T' must separate the date from the time");
		return false;
	}
	if (!parse_time(&c, &hour, &minute, &second, &frac_ms, reason, reason_size) ||
	    !parse_zone(&c, &offset_min, reason, reason_size))
		return false;
	if (c.i != len) {
		snprintf(reason, reason_size, "unexpected text after the time zone");
		return false;
	}
	int utc_minute = ((hour * 60 + minute - offset_min) % 1440 + 1440) % 1440;
	if (second == 60 && utc_minute != 23 * 60 + 59) {
		snprintf(reason, reason_size, "second 60 (a leap second) can only follow 23:59:59 UTC");
		return false;
	}

	int64_t day_ms = ((int64_t)hour * 3600 + minute * 60 + second) * 1000 + frac_ms;
	*out = days_since_epoch(year, month, day) * 86400000 + day_ms - (int64_t)offset_min * 60000;
	return true;
}

static int take_deadline(const json_t *v, bl_job_t *job, bl_error_t *err)
{
	char quoted[QUOTE_MAX * 4 + 8];
	char reason[160];

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bl_error_set(
			err, BL_EFORMAT, "deadline",
			"expected an RFC 3339 timestamp with a time zone, such as \"2026-12-04T21:00:00Z\", got %s",
			bl_json_type_phrase(v));

	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (!parse_timestamp(s, len, &job->deadline_ms, reason, sizeof reason))
		return bl_error_set(
			err, BL_EFORMAT, "deadline",
			"expected an RFC 3339 timestamp with a time zone, such as \"2026-12-04T21:00:00Z\", got %s: %s",
			quote(quoted, sizeof quoted, s, len), reason);
	job->has_deadline = true;
	return 0;
}

/* Reject the first key of `obj` that is not in `known`, naming it under
 * `prefix` ("" at the top level). */
static int reject_unknown(const json_t *obj, const char *prefix, const char *const *known, size_t count,
			  const char *listed, bl_error_t *err)
{
	/* jansson's iterators take a non-const object but do not modify it. */
	json_t *members = (json_t *)(uintptr_t)obj;

	for (void *it = json_object_iter(members); it; it = json_object_iter_next(members, it)) {
		const char *key = json_object_iter_key(it);
		bool found = false;
		for (size_t i = 0; i < count && !found; i++)
			found = strcmp(key, known[i]) == 0;
		if (found)
			continue;
		char field[BL_ERROR_FIELD_MAX];
		snprintf(field, sizeof field, "%s%s%s", prefix, *prefix ? "." : "", key);
		return bl_error_set(err, BL_EFORMAT, field, "unknown field. The fields are %s.", listed);
	}
	return 0;
}

static int take_retry(const json_t *v, const bl_job_limits_t *lim, bl_job_retry_t *out, bl_error_t *err)
{
	uint64_t attempts = 1;
	uint64_t backoff = DEFAULT_BACKOFF_MS;
	uint64_t max_backoff;
	int rc;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return bl_error_set(err, BL_EFORMAT, "retry", "expected an object, got %s", bl_json_type_phrase(v));
	rc = reject_unknown(v, "retry", retry_fields, sizeof retry_fields / sizeof *retry_fields,
			    "max_attempts, backoff_ms and max_backoff_ms", err);
	if (rc)
		return rc;

	const json_t *field = json_object_get(v, "max_attempts");
	if (field && (rc = take_integer(field, "retry.max_attempts", "a positive integer", 1, MAX_ATTEMPTS, BL_EFORMAT,
					&attempts, err)))
		return rc;
	field = json_object_get(v, "backoff_ms");
	if (field && (rc = take_integer(field, "retry.backoff_ms", "a non-negative integer", 0, lim->max_timeout_ms,
					BL_ELIMIT, &backoff, err)))
		return rc;
	max_backoff = backoff > DEFAULT_MAX_BACKOFF_MS ? backoff : DEFAULT_MAX_BACKOFF_MS;
	field = json_object_get(v, "max_backoff_ms");
	if (field && (rc = take_integer(field, "retry.max_backoff_ms", "a non-negative integer", 0, lim->max_timeout_ms,
					BL_ELIMIT, &max_backoff, err)))
		return rc;
	if (max_backoff < backoff)
		return bl_error_set(err, BL_EFORMAT, "retry.max_backoff_ms",
				    "expected at least backoff_ms (%" PRIu64 "), got %" PRIu64, backoff, max_backoff);

	*out = (bl_job_retry_t){
		.max_attempts = (unsigned)attempts,
		.backoff_ms = backoff,
		.max_backoff_ms = max_backoff,
		.max_attempts_given = json_object_get(v, "max_attempts") != NULL};
	return 0;
}

static int take_traceparent(const json_t *v, bl_job_t *job, bl_error_t *err)
{
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bl_error_set(err, BL_EFORMAT, "traceparent", "expected a W3C traceparent string, got %s",
				    bl_json_type_phrase(v));

	bl_trace_t trace;
	int rc = bl_trace_parse(&trace, json_string_value(v), err);
	if (rc == 0)
		memcpy(job->traceparent, trace.traceparent, sizeof job->traceparent);
	return rc;
}

static int require(const json_t *root, const char *field, const json_t **out, bl_error_t *err)
{
	*out = json_object_get(root, field);
	if (!*out)
		return bl_error_set(err, BL_EFORMAT, field, "required field is missing");
	return 0;
}

/* Validate every field of the top-level object `root` into `job`, in the
 * order of the format's description, and stop at the first error. */
static int fill_job(const json_t *root, const bl_job_limits_t *lim, bl_job_t *job, bl_error_t *err)
{
	const json_t *v;
	int rc;

	if ((rc = reject_unknown(root, "", job_fields, sizeof job_fields / sizeof *job_fields,
				 "id, tenant, priority, block, params, timeout_ms, deadline, retry and traceparent", err)))
		return rc;
	if ((rc = require(root, "id", &v, err)) || (rc = take_name(v, "id", lim, &job->id, err)))
		return rc;
	if ((rc = require(root, "tenant", &v, err)) || (rc = take_name(v, "tenant", lim, &job->tenant, err)) ||
	    (rc = check_tenant_name(job->tenant, err)))
		return rc;
	if ((rc = take_priority(json_object_get(root, "priority"), &job->priority, err)))
		return rc;
	if ((rc = require(root, "block", &v, err)) || (rc = take_block(v, lim, &job->block, err)))
		return rc;
	if ((rc = take_params(json_object_get(root, "params"), &job->params, err)))
		return rc;
	v = json_object_get(root, "timeout_ms");
	if (v && (rc = take_integer(v, "timeout_ms", "a positive integer", 1, lim->max_timeout_ms, BL_ELIMIT,
				    &job->timeout_ms, err)))
		return rc;
	if ((rc = take_deadline(json_object_get(root, "deadline"), job, err)))
		return rc;
	if ((rc = take_retry(json_object_get(root, "retry"), lim, &job->retry, err)))
		return rc;
	return take_traceparent(json_object_get(root, "traceparent"), job, err);
}

static void clear_name(char *buf, size_t size)
{
	if (buf && size > 0)
		buf[0] = '\0';
}

static void copy_name(char *buf, size_t size, const char *s, size_t len, const bl_job_limits_t *lim)
{
	if (!buf || size == 0 || len >= size || !is_usable_name(s, len, lim))
		return;
	memcpy(buf, s, len);
	buf[len] = '\0';
}

static void salvage_from_tree(const json_t *root, const bl_job_limits_t *lim, char *id_out, char *tenant_out,
			      size_t name_size)
{
	const json_t *id = json_object_get(root, "id");
	const json_t *tenant = json_object_get(root, "tenant");

	if (json_is_string(id))
		copy_name(id_out, name_size, json_string_value(id), json_string_length(id), lim);
	if (json_is_string(tenant))
		copy_name(tenant_out, name_size, json_string_value(tenant), json_string_length(tenant), lim);
}

/* Drop a name that does not end before byte `offset`. Text after a syntax
 * error has no reliable structure, so a string found there may not be the
 * name it seems to be. */
static void drop_name_after(bl__job_name_span_t *span, size_t offset)
{
	if (span->start + span->len + 1 > offset)
		span->usable = false;
}

static void salvage_from_text(const char *text, const bl__job_names_t *names, const bl_job_limits_t *lim, char *id_out,
			      char *tenant_out, size_t name_size)
{
	if (names->id.usable)
		copy_name(id_out, name_size, text + names->id.start, names->id.len, lim);
	if (names->tenant.usable)
		copy_name(tenant_out, name_size, text + names->tenant.start, names->tenant.len, lim);
}

/* Turn a load error (bl_json_loadb) into BL_EFORMAT, naming the member
 * that the error position falls in. Memory exhaustion becomes BL_ENOMEM
 * and the parser's own depth limit BL_ELIMIT. */
static int report_load_error(const char *text, size_t len, const json_error_t *jerr, bl_error_t *err)
{
	char path[BL_ERROR_FIELD_MAX];
	const char *detail = jerr->text;
	int code = BL_EFORMAT;

	if (json_error_code(jerr) == json_error_out_of_memory)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory while parsing the job");
	if (json_error_code(jerr) == json_error_null_character)
		detail = "\\u0000 (a NUL byte) is not allowed in strings";
	/* Reached only when max_depth is above the parser's own depth limit. */
	if (json_error_code(jerr) == json_error_stack_overflow) {
		code = BL_ELIMIT;
		detail = "nesting exceeds the parser's limit of " STRINGIFY(JSON_PARSER_MAX_DEPTH) " levels";
	}

	size_t offset = jerr->position > 0 ? (size_t)jerr->position : 0;
	if (bl__job_limits_path_at(text, len, offset, path, sizeof path) != 0)
		path[0] = '\0';
	return bl_error_set(err, code, path, "invalid JSON at line %d, column %d (byte %d): %s", jerr->line,
			    jerr->column, jerr->position, detail);
}

int bl_job_parse(bl_job_t **out, const char *text, size_t len, const bl_job_limits_t *lim, char *id_out,
		 char *tenant_out, size_t name_size, bl_error_t *err)
{
	bl__job_names_t names;
	json_error_t jerr;
	int rc;

	clear_name(id_out, name_size);
	clear_name(tenant_out, name_size);
	if (!out || !lim || (!text && len > 0))
		return bl_error_set(err, BL_EINVAL, NULL, "bl_job_parse needs a result pointer, limits and text");
	if (!text)
		text = "";

	rc = bl__job_limits_check(text, len, lim, &names, err);
	if (rc) {
		salvage_from_text(text, &names, lim, id_out, tenant_out, name_size);
		return rc;
	}

	/* Not json_loadb: jansson's lexer takes about 16 ms for a job that
	 * carries 1 MiB of text (an fs put); bl_json_loadb about 0.2 ms. */
	json_t *root = bl_json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		size_t failed_at = jerr.position > 0 ? (size_t)jerr.position : 0;
		drop_name_after(&names.id, failed_at);
		drop_name_after(&names.tenant, failed_at);
		salvage_from_text(text, &names, lim, id_out, tenant_out, name_size);
		return report_load_error(text, len, &jerr, err);
	}
	if (!json_is_object(root)) {
		rc = bl_error_set(err, BL_EFORMAT, NULL, "expected a JSON object at the top level, got %s",
				  bl_json_type_phrase(root));
		json_decref(root);
		return rc;
	}
	salvage_from_tree(root, lim, id_out, tenant_out, name_size);

	bl_job_t *job = calloc(1, sizeof *job);
	if (!job) {
		json_decref(root);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory while allocating the job");
	}
	job->priority = BL_PRIORITY_NORMAL;
	job->retry = (bl_job_retry_t){
		.max_attempts = 1, .backoff_ms = DEFAULT_BACKOFF_MS, .max_backoff_ms = DEFAULT_MAX_BACKOFF_MS};
	rc = fill_job(root, lim, job, err);
	json_decref(root);
	if (rc) {
		bl_job_free(&job);
		return rc;
	}

	*out = job;
	return 0;
}

void bl_job_free(bl_job_t **job)
{
	if (!job || !*job)
		return;

	bl_job_t *j = *job;
	free(j->id);
	free(j->tenant);
	free(j->block);
	json_decref(j->params);
	free(j);
	*job = NULL;
}
