/*
 * Field-by-field comparison of JetStream configurations, for setup's
 * "verify, never overwrite" rule.
 */
#include <ctype.h>
#include <string.h>

#include <beamline/js.h>

#include "internal.h"
#include "setup.h"

const char *bl_js_field_name(uint32_t field)
{
	switch (field) {
	case BL_JS_FIELD_SUBJECTS:
		return "subjects";
	case BL_JS_FIELD_RETENTION:
		return "retention";
	case BL_JS_FIELD_STORAGE:
		return "storage";
	case BL_JS_FIELD_DUPLICATE_WINDOW:
		return "duplicate_window";
	case BL_JS_FIELD_MAX_AGE:
		return "max_age";
	case BL_JS_FIELD_REPLICAS:
		return "num_replicas";
	case BL_JS_FIELD_MAX_MSGS_PER_SUBJECT:
		return "max_msgs_per_subject";
	case BL_JS_FIELD_DISCARD:
		return "discard";
	case BL_JS_FIELD_DENY_DELETE:
		return "deny_delete";
	case BL_JS_FIELD_ALLOW_ROLLUP:
		return "allow_rollup_hdrs";
	case BL_JS_FIELD_ALLOW_DIRECT:
		return "allow_direct";
	case BL_JS_FIELD_ACK_POLICY:
		return "ack_policy";
	case BL_JS_FIELD_ACK_WAIT:
		return "ack_wait";
	case BL_JS_FIELD_MAX_DELIVER:
		return "max_deliver";
	case BL_JS_FIELD_MAX_ACK_PENDING:
		return "max_ack_pending";
	case BL_JS_FIELD_FILTER_SUBJECT:
		return "filter_subject";
	case BL_JS_FIELD_DELIVER_SUBJECT:
		return "deliver_subject";
	default:
		return "unknown";
	}
}

static void note(bl__js_diff_t *diff, uint32_t field)
{
	diff->mask |= field;
	if (diff->text[0])
		bl__nats_appendf(diff->text, sizeof diff->text, "; ");
}

void bl__js_diff_int(bl__js_diff_t *diff, uint32_t field, int64_t have, int64_t want)
{
	if (have == want)
		return;
	note(diff, field);
	bl__nats_appendf(diff->text, sizeof diff->text, "%s is %lld, expected %lld", bl_js_field_name(field),
			 (long long)have, (long long)want);
}

void bl__js_diff_str(bl__js_diff_t *diff, uint32_t field, const char *have, const char *want)
{
	if (!have)
		have = "";
	if (!want)
		want = "";
	if (strcmp(have, want) == 0)
		return;
	note(diff, field);
	bl__nats_appendf(diff->text, sizeof diff->text, "%s is \"%s\", expected \"%s\"", bl_js_field_name(field),
			 have, want);
}

void bl__js_diff_bool(bl__js_diff_t *diff, uint32_t field, bool have, bool want)
{
	if (have == want)
		return;
	note(diff, field);
	bl__nats_appendf(diff->text, sizeof diff->text, "%s is %s, expected %s", bl_js_field_name(field),
			 have ? "true" : "false", want ? "true" : "false");
}

int64_t bl__js_get_int(const json_t *obj, const char *key, int64_t fallback)
{
	const json_t *value = json_object_get(obj, key);
	return json_is_integer(value) ? (int64_t)json_integer_value(value) : fallback;
}

int bl__js_check_name(const char *name, const char *field, bl_nats_error_t *err)
{
	if (!name || !name[0])
		return bl__nats_fail(err, BL_EINVAL, field, "%s is missing", field);
	size_t len = strlen(name);
	if (len > 255)
		return bl__nats_fail(err, BL_EINVAL, field, "%s is %zu bytes long, at most 255 are allowed", field,
				     len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || isspace(c) || c < 0x20)
			return bl__nats_fail(err, BL_EINVAL, field,
					     "%s \"%s\" contains '%c' at byte %zu; names may not contain '.', '*', "
					     "'>', '/', '\\\\' or whitespace",
					     field, name, isprint(c) ? c : '?', i);
	}
	return 0;
}
