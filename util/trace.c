#include <beamline/trace.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Offsets in "00-<32>-<16>-<2>". */
enum {
	TRACE_ID_AT = 3,
	TRACE_ID_LEN = 32,
	PARENT_ID_AT = 36,
	PARENT_ID_LEN = 16,
	FLAGS_AT = 53,
};

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Check `len` lowercase hex digits at text[at]; `what` names them in errors. */
static int check_hex(const char *text, size_t at, size_t len, const char *what, bl_error_t *err)
{
	bool all_zero = true;

	for (size_t i = at; i < at + len; i++) {
		if (!is_lower_hex(text[i]) && isprint((unsigned char)text[i]))
			return bl_error_set(err, BL_EFORMAT, "traceparent",
					    "the %s must be lowercase hexadecimal; character %zu is '%c'", what, i + 1,
					    text[i]);
		if (!is_lower_hex(text[i]))
			return bl_error_set(err, BL_EFORMAT, "traceparent",
					    "the %s must be lowercase hexadecimal; character %zu is byte 0x%02x", what,
					    i + 1, (unsigned char)text[i]);
		all_zero = all_zero && text[i] == '0';
	}
	if (all_zero && len > 2)
		return bl_error_set(err, BL_EFORMAT, "traceparent", "the %s is all zeros, which W3C Trace Context forbids",
				    what);
	return 0;
}

int bl_trace_parse(bl_trace_t *out, const char *text, bl_error_t *err)
{
	size_t len = strnlen(text, BL_TRACEPARENT_LEN + 1);
	if (len != BL_TRACEPARENT_LEN)
		return bl_error_set(err, BL_EFORMAT, "traceparent",
				    "expected 55 characters as 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, "
				    "got %s%zu",
				    len > BL_TRACEPARENT_LEN ? "more than " : "", len > BL_TRACEPARENT_LEN ? len - 1 : len);
	if (text[0] != '0' || text[1] != '0')
		return bl_error_set(err, BL_EFORMAT, "traceparent", "unsupported version '%.2s'; expected 00", text);
	if (text[2] != '-' || text[PARENT_ID_AT - 1] != '-' || text[FLAGS_AT - 1] != '-')
		return bl_error_set(err, BL_EFORMAT, "traceparent",
				    "expected '-' after the version, the trace id and the parent id (characters 3, 36 "
				    "and 53)");

	int rc = check_hex(text, TRACE_ID_AT, TRACE_ID_LEN, "trace id", err);
	if (rc == 0)
		rc = check_hex(text, PARENT_ID_AT, PARENT_ID_LEN, "parent id", err);
	if (rc == 0)
		rc = check_hex(text, FLAGS_AT, 2, "flags", err);
	if (rc < 0)
		return rc;
	memcpy(out->traceparent, text, BL_TRACEPARENT_LEN + 1);
	return 0;
}

/* Fill `len` bytes with random data, never all zeros. Returns 0 or -errno. */
static int random_id(uint8_t *bytes, size_t len)
{
	bool all_zero = true;

	while (all_zero) {
		size_t got = 0;
		while (got < len) {
			ssize_t n = getrandom(bytes + got, len - got, 0);
			if (n < 0 && errno != EINTR)
				return -errno;
			got += n > 0 ? (size_t)n : 0;
		}
		for (size_t i = 0; i < len; i++)
			all_zero = all_zero && bytes[i] == 0;
	}
	return 0;
}

static void write_hex(char *to, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		to[2 * i] = digits[bytes[i] >> 4];
		to[2 * i + 1] = digits[bytes[i] & 15];
	}
}

int bl_trace_new(bl_trace_t *out)
{
	uint8_t trace_id[16], parent_id[8];
	int rc = random_id(trace_id, sizeof trace_id);
	if (rc == 0)
		rc = random_id(parent_id, sizeof parent_id);
	if (rc < 0)
		return rc;

	memcpy(out->traceparent, "00-", 3);
	write_hex(out->traceparent + TRACE_ID_AT, trace_id, sizeof trace_id);
	out->traceparent[PARENT_ID_AT - 1] = '-';
	write_hex(out->traceparent + PARENT_ID_AT, parent_id, sizeof parent_id);
	memcpy(out->traceparent + FLAGS_AT - 1, "-00", 4);
	return 0;
}

int bl_trace_continue(bl_trace_t *out, const char *incoming)
{
	if (incoming && bl_trace_parse(out, incoming, NULL) == 0)
		return 1;
	return bl_trace_new(out);
}

int bl_trace_child(bl_trace_t *out, const bl_trace_t *parent)
{
	uint8_t parent_id[8];
	int rc = random_id(parent_id, sizeof parent_id);
	if (rc < 0)
		return rc;

	*out = *parent;
	write_hex(out->traceparent + PARENT_ID_AT, parent_id, sizeof parent_id);
	return 0;
}

void bl_trace_id(char out[33], const bl_trace_t *trace)
{
	memcpy(out, trace->traceparent + TRACE_ID_AT, TRACE_ID_LEN);
	out[TRACE_ID_LEN] = '\0';
}
