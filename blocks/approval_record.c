/*
 * Approval records: ids, decision words, times, and the JSON that people
 * and clients see, and the checks of stored records. The stores read and
 * write them (approval_files.c, engine/approvals_kv.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <beamline/approvals.h>

int bl_decision_parse(bl_decision_t *out, const char *word)
{
	if (strcmp(word, "approve") == 0)
		*out = BL_DECISION_APPROVE;
	else if (strcmp(word, "reject") == 0)
		*out = BL_DECISION_REJECT;
	else
		return BL_EINVAL;
	return 0;
}

const char *bl_decision_name(bl_decision_t d)
{
	return d == BL_DECISION_APPROVE ? "approve" : "reject";
}

int bl_approval_id(char *out, size_t size, const char *tenant, const char *job_id, bl_error_t *err)
{
	size_t len = strlen(tenant) + 1 + strlen(job_id);
	if (len > BL_APPROVAL_ID_MAX || len >= size)
		return bl_error_set(err, BL_ELIMIT, "id",
				    "the approval id \"TENANT:ID\" would be %zu bytes, over the limit of %u; use a "
				    "shorter job id",
				    len, BL_APPROVAL_ID_MAX);
	snprintf(out, size, "%s:%s", tenant, job_id);
	return (int)len;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

int bl_approval_id_check(const char *id, const char *field, bl_error_t *err)
{
	size_t len = strlen(id);
	const char *colon = strchr(id, ':');

	if (len > BL_APPROVAL_ID_MAX)
		return bl_error_set(err, BL_ELIMIT, field, "the approval id is %zu bytes, over the limit of %u", len,
				    BL_APPROVAL_ID_MAX);
	if (!colon || colon == id || colon[1] == '\0' || id[0] == '.')
		return bl_error_set(err, BL_EFORMAT, field,
				    "expected an approval id \"TENANT:JOB_ID\" (as `beamline-engine approvals` lists "
				    "them), got \"%.64s\"",
				    id);
	for (size_t i = 0; i < len; i++) {
		if (&id[i] != colon && !is_name_char(id[i]))
			return bl_error_set(err, BL_EFORMAT, field,
					    "expected only [A-Za-z0-9._-] around one ':', got byte 0x%02X at "
					    "offset %zu",
					    (unsigned char)id[i], i);
	}
	return 0;
}

void bl_approval_clear(bl_approval_t *a)
{
	json_decref(a->request);
	json_decref(a->decision);
	a->request = NULL;
	a->decision = NULL;
}

int64_t bl_approval_expires_ms(const bl_approval_t *a)
{
	return (int64_t)json_integer_value(json_object_get(a->request, "expires_ms"));
}

/* Check that text from a person is 1 to `max` bytes (0 allowed when
 * `may_be_empty`) without control characters. */
static int check_text(const char *text, size_t max, bool may_be_empty, const char *field, bl_error_t *err)
{
	size_t len = strlen(text);
	if (len == 0 && !may_be_empty)
		return bl_error_set(err, BL_EFORMAT, field, "expected a non-empty string");
	if (len > max)
		return bl_error_set(err, BL_ELIMIT, field, "the text is %zu bytes, over the limit of %zu", len, max);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 && c != '\n' && c != '\t')
			return bl_error_set(err, BL_EFORMAT, field, "control character 0x%02X at offset %zu", c, i);
	}
	return 0;
}

int bl_decision_input_check(const bl_decision_input_t *in, bl_error_t *err)
{
	if (!in->by)
		return bl_error_set(err, BL_EFORMAT, "by", "missing: say who decides");
	int rc = check_text(in->by, BL_APPROVAL_NAME_MAX, false, "by", err);
	if (rc == 0 && in->by[strspn(in->by, " \t\n")] == '\0')
		rc = bl_error_set(err, BL_EFORMAT, "by", "expected a name, got only white space");
	if (rc == 0 && in->comment)
		rc = check_text(in->comment, BL_APPROVAL_COMMENT_MAX, true, "comment", err);
	return rc;
}

int64_t bl_approval_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bl_approval_format_time(char *out, size_t size, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03dZ", (int)(ms % 1000));
}

json_t *bl_approval_describe(const bl_approval_t *a)
{
	json_t *d = json_deep_copy(a->request);
	if (!d)
		return NULL;

	const char *status = "pending";
	if (a->decision) {
		const char *word = json_string_value(json_object_get(a->decision, "decision"));
		status = word && strcmp(word, "approve") == 0 ? "approved" : "rejected";
		json_object_set(d, "decision", a->decision);
	}
	json_object_set_new(d, "status", json_string(status));
	return d;
}

int bl_approval_check_request(const json_t *req, const char *name, bl_error_t *err)
{
	if (!json_is_string(json_object_get(req, "id")) || !json_is_integer(json_object_get(req, "expires_ms")) ||
	    !json_is_string(json_object_get(req, "default_decision")))
		return bl_error_set(err, BL_EFORMAT, name,
				    "the request lacks \"id\", \"expires_ms\" or \"default_decision\"");
	return 0;
}

int bl_approval_check_decision(const json_t *d, const char *name, bl_error_t *err)
{
	bl_decision_t decision;
	const char *word = json_string_value(json_object_get(d, "decision"));
	const json_t *comment = json_object_get(d, "comment");

	bool valid = word && bl_decision_parse(&decision, word) == 0;
	valid = valid && json_is_string(json_object_get(d, "decided_by")) &&
		json_is_string(json_object_get(d, "decided_at"));
	valid = valid && json_is_boolean(json_object_get(d, "defaulted")) &&
		(!comment || json_is_string(comment) || json_is_null(comment));
	if (!valid)
		return bl_error_set(err, BL_EFORMAT, name,
				    "the decision lacks \"decision\" (approve or reject), \"decided_by\", "
				    "\"decided_at\" or \"defaulted\", or has a \"comment\" that is not a string");
	return 0;
}
