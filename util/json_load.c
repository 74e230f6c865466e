/*
 * JSON loading into jansson trees (json_load.h).
 *
 * jansson's own lexer reads one byte a call, saves it with another and
 * unescapes every string in a second pass. This parser reads the document
 * in place instead. The end of a string without escapes is found by a
 * scan of 16 bytes a step, then its bytes are checked as UTF-8 in one call
 * and copied once into its json_t. A string with escapes is unescaped into
 * one scratch buffer that the whole parse shares. Each rule below repeats
 * one of jansson 2.14's (src/load.c), so that both accept the same
 * documents. The one exception is a NUL byte after a number or a literal:
 * jansson skips it, and this parser rejects it like any other NUL byte
 * outside a string.
 */
#include <beamline/json_load.h>

#include <beamline/utf8.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "json_load_internal.h"

#define SUPPORTED_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

#if JSON_INTEGER_IS_LONG_LONG
#define JSON_INT_MAX LLONG_MAX
#else
#define JSON_INT_MAX LONG_MAX
#endif

/* Numbers up to this many bytes are copied to the stack for strtod. */
#define SHORT_NUMBER 64

/* Keys longer than this are left out of error messages. */
#define QUOTED_KEY_MAX 40

typedef struct parser {
	const char *buf; /* the document */
	const char *end; /* one past its last byte */
	const char *at;	 /* the next byte to read */
	size_t flags;
	size_t depth; /* values open, counted as jansson counts them */
	json_error_t *error;
	bool failed;

	/* Unescaped strings. An escaped key stays on it, below `top`, until
	 * its value is parsed; other strings use it from `top` up. Keys are
	 * kept by offset, because growing the buffer moves it. */
	char *scratch;
	size_t scratch_cap;
	size_t scratch_top;
} parser_t;

/* A string token: the bytes between its quotes. */
typedef struct string_span {
	const char *start; /* first byte after the opening quote */
	const char *close; /* the closing quote */
	bool escaped;	   /* contains at least one backslash */
} string_span_t;

static json_t *parse_value(parser_t *ps);

/* ---- error reporting ---------------------------------------------------- */

static int clamp_int(size_t n)
{
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* Set line and column of the byte at `at` (or of the end of input), as
 * jansson counts them: lines from 1, columns in UTF-8 characters from 1. */
static void locate(const parser_t *ps, const char *at, json_error_t *error)
{
	const char *line_start = ps->buf;
	size_t line = 1;

	for (const char *p = ps->buf; p < at; p++) {
		if (*p == '\n') {
			line++;
			line_start = p + 1;
		}
	}

	const char *stop = at < ps->end ? at + 1 : ps->end;
	size_t column = 0;
	for (const char *p = line_start; p < stop; p++) {
		if (((unsigned char)*p & 0xC0) != 0x80)
			column++;
	}

	error->line = clamp_int(line);
	error->column = clamp_int(column);
	error->position = clamp_int(at < ps->end ? (size_t)(at - ps->buf) + 1 : (size_t)(ps->end - ps->buf));
}

/* Store the message and the code the way jansson does: the code sits in
 * the last byte of `text`, where json_error_code() reads it. */
static void set_text(json_error_t *error, enum json_error_code code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void set_text(json_error_t *error, enum json_error_code code, const char *fmt, va_list ap)
{
	vsnprintf(error->text, JSON_ERROR_TEXT_LENGTH - 1, fmt, ap);
	error->text[JSON_ERROR_TEXT_LENGTH - 2] = '\0';
	error->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)code;
}

/* Record a fault at byte `at` (ps->end when the input ended too early).
 * Only the first fault of a parse is kept. Returns NULL for the caller to
 * return. */
static void *fail(parser_t *ps, const char *at, enum json_error_code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void *fail(parser_t *ps, const char *at, enum json_error_code code, const char *fmt, ...)
{
	if (ps->failed)
		return NULL;
	ps->failed = true;
	if (!ps->error)
		return NULL;

	va_list ap;
	va_start(ap, fmt);
	set_text(ps->error, code, fmt, ap);
	va_end(ap);
	locate(ps, at, ps->error);
	return NULL;
}

static void *fail_no_memory(parser_t *ps)
{
	return fail(ps, ps->at, json_error_out_of_memory, "out of memory while parsing JSON");
}

/* Report that the byte at ps->at cannot start or follow what came before;
 * `expected` names what could have. `code` is used unless input ended. */
static void *unexpected_with(parser_t *ps, enum json_error_code code, const char *expected)
{
	if (ps->at == ps->end)
		return fail(ps, ps->at, json_error_premature_end_of_input, "unexpected end of input; expected %s",
			    expected);

	unsigned char c = (unsigned char)*ps->at;
	if (c >= 0x20 && c < 0x7F)
		return fail(ps, ps->at, code, "unexpected '%c'; expected %s", c, expected);
	return fail(ps, ps->at, code, "unexpected byte 0x%02x; expected %s", c, expected);
}

static void *unexpected(parser_t *ps, const char *expected)
{
	return unexpected_with(ps, json_error_invalid_syntax, expected);
}

static void init_error(json_error_t *error)
{
	if (!error)
		return;
	memset(error->text, 0, sizeof error->text);
	snprintf(error->source, sizeof error->source, "%s", "<buffer>");
	error->line = -1;
	error->column = -1;
	error->position = 0;
}

/* ---- string scanning ----------------------------------------------------- */

const char *bl__json_find_special_plain(const char *p, const char *end)
{
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\' || c < 0x20)
			return p;
	}
	return end;
}

#ifdef __SSE2__
const char *bl_json_find_special(const char *p, const char *end)
{
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i backslash = _mm_set1_epi8('\\');
	const __m128i last_control = _mm_set1_epi8(0x1F);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* An unsigned byte is a control byte when min(byte, 0x1F) is itself. */
		__m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);
		__m128i hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), control);
		unsigned mask = (unsigned)_mm_movemask_epi8(hits);
		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
	return bl__json_find_special_plain(p, end);
}
#else
const char *bl_json_find_special(const char *p, const char *end)
{
	return bl__json_find_special_plain(p, end);
}
#endif

/* Report the first byte of [start, stop) that is not well-formed UTF-8,
 * which the caller knows exists. */
static bool fail_utf8(parser_t *ps, const char *start, const char *stop)
{
	size_t valid = bl_utf8_first_fault((const uint8_t *)start, (size_t)(stop - start));

	fail(ps, start + valid, json_error_invalid_utf8, "invalid UTF-8 byte 0x%02x in a string",
	     (unsigned char)start[valid]);
	return false;
}

/* Report a fault at `at` in the string that starts at `start`, unless the
 * bytes before it hold invalid UTF-8: jansson reads in order and reports
 * that first. */
static bool fail_in_string(parser_t *ps, const char *start, const char *at, enum json_error_code code,
			   const char *message)
{
	if (!bl_utf8_is_valid((const uint8_t *)start, (size_t)(at - start)))
		return fail_utf8(ps, start, at);
	fail(ps, at, code, "%s", message);
	return false;
}

static bool is_hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Check the escape at *p (a backslash) and move *p past it. */
static bool skip_escape(parser_t *ps, const char *start, const char **p)
{
	const char *esc = *p;
	char message[64];

	if (esc + 1 == ps->end)
		return fail_in_string(ps, start, ps->end, json_error_premature_end_of_input,
				      "unexpected end of input in a string escape");

	switch (esc[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		*p = esc + 2;
		return true;
	case 'u':
		break;
	default: {
		unsigned char c = (unsigned char)esc[1];
		if (c >= 0x20 && c < 0x7F)
			snprintf(message, sizeof message, "invalid escape '\\%c' in a string", c);
		else
			snprintf(message, sizeof message, "invalid escape: byte 0x%02x after a backslash in a string", c);
		return fail_in_string(ps, start, esc + 1, json_error_invalid_syntax, message);
	}
	}

	for (const char *h = esc + 2; h < esc + 6; h++) {
		if (h == ps->end)
			return fail_in_string(ps, start, ps->end, json_error_premature_end_of_input,
					      "unexpected end of input in a \\u escape");
		if (!is_hex_digit(*h))
			return fail_in_string(ps, start, h, json_error_invalid_syntax,
					      "invalid \\u escape: it needs four hex digits");
	}
	*p = esc + 6;
	return true;
}

/* Find the end of the string whose opening quote is at ps->at, checking
 * its escapes, control bytes and UTF-8; move ps->at past its closing quote. */
static bool scan_string(parser_t *ps, string_span_t *span)
{
	const char *start = ps->at + 1;
	const char *p = start;
	char message[80];

	span->escaped = false;
	for (;;) {
		p = bl_json_find_special(p, ps->end);
		if (p == ps->end)
			return fail_in_string(ps, start, p, json_error_premature_end_of_input,
					      "unexpected end of input in a string");
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (!skip_escape(ps, start, &p))
				return false;
			span->escaped = true;
			continue;
		}
		snprintf(message, sizeof message, "control byte 0x%02x in a string; write it as the escape \\u%04x",
			 (unsigned char)*p, (unsigned char)*p);
		return fail_in_string(ps, start, p, json_error_invalid_syntax, message);
	}

	/* Escapes are ASCII, so the whole span is valid UTF-8 exactly when
	 * each run of plain bytes between them is. */
	if (!bl_utf8_is_valid((const uint8_t *)start, (size_t)(p - start)))
		return fail_utf8(ps, start, p);

	span->start = start;
	span->close = p;
	ps->at = p + 1;
	return true;
}

/* ---- unescaping ---------------------------------------------------------- */

/* Make room for `need` bytes of scratch above the top. */
static bool reserve_scratch(parser_t *ps, size_t need)
{
	if (ps->scratch_cap - ps->scratch_top >= need)
		return true;

	size_t cap = ps->scratch_cap ? ps->scratch_cap : 256;
	while (cap - ps->scratch_top < need)
		cap *= 2;
	char *grown = realloc(ps->scratch, cap);
	if (!grown) {
		fail_no_memory(ps);
		return false;
	}
	ps->scratch = grown;
	ps->scratch_cap = cap;
	return true;
}

/* Return the value of four hex digits, already checked by skip_escape. */
static uint32_t hex4(const char *s)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		uint32_t digit = c <= '9' ? (uint32_t)(c - '0') : (uint32_t)((c | 0x20) - 'a' + 10);
		v = v << 4 | digit;
	}
	return v;
}

static size_t encode_utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decode the \uXXXX escape at *p (one, or two for a surrogate pair) into
 * a code point and move *p past it. `close` ends the string. */
static bool decode_u_escape(parser_t *ps, const char **p, const char *close, uint32_t *cp)
{
	const char *esc = *p;
	uint32_t high = hex4(esc + 2);

	*p = esc + 6;
	if (high >= 0xDC00 && high <= 0xDFFF) {
		fail(ps, esc, json_error_invalid_syntax,
		     "invalid \\u%04X in a string: a low surrogate without a high surrogate before it", high);
		return false;
	}
	if (high < 0xD800 || high > 0xDBFF) {
		*cp = high;
		return true;
	}

	/* skip_escape checked every escape, so a "\u" here has four hex digits. */
	const char *next = *p;
	if (next >= close || next[0] != '\\' || next[1] != 'u') {
		fail(ps, esc, json_error_invalid_syntax,
		     "invalid \\u%04X in a string: a high surrogate needs a \\u escape of a low surrogate after it",
		     high);
		return false;
	}
	uint32_t low = hex4(next + 2);
	if (low < 0xDC00 || low > 0xDFFF) {
		fail(ps, esc, json_error_invalid_syntax, "invalid surrogate pair \\u%04X\\u%04X in a string", high, low);
		return false;
	}
	*p = next + 6;
	*cp = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
	return true;
}

static char simple_escape(char c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c; /* '"', '\\' and '/' stand for themselves */
	}
}

/*
 * Unescape the string of `span` into the scratch buffer at its top and
 * set *len. The result is never longer than the escaped text: an escape
 * of two bytes gives one, \uXXXX (six) at most three, and a surrogate
 * pair (twelve) four. A \u0000 is rejected in a key, and in a value unless
 * JSON_ALLOW_NUL.
 */
static bool unescape(parser_t *ps, const string_span_t *span, bool is_key, size_t *len)
{
	const char *p = span->start;
	const char *close = span->close;

	if (!reserve_scratch(ps, (size_t)(close - p)))
		return false;
	char *out = ps->scratch + ps->scratch_top;
	char *t = out;

	while (p < close) {
		const char *backslash = memchr(p, '\\', (size_t)(close - p));
		const char *run_end = backslash ? backslash : close;
		memcpy(t, p, (size_t)(run_end - p));
		t += run_end - p;
		p = run_end;
		if (!backslash)
			break;

		if (p[1] != 'u') {
			*t++ = simple_escape(p[1]);
			p += 2;
			continue;
		}
		const char *esc = p;
		uint32_t cp;
		if (!decode_u_escape(ps, &p, close, &cp))
			return false;
		if (cp == 0 && is_key) {
			fail(ps, esc, json_error_null_byte_in_key, "\\u0000 (a NUL byte) is not allowed in an object key");
			return false;
		}
		if (cp == 0 && !(ps->flags & JSON_ALLOW_NUL)) {
			fail(ps, esc, json_error_null_character, "\\u0000 (a NUL byte) is not allowed in a string here");
			return false;
		}
		t += encode_utf8(cp, t);
	}
	*len = (size_t)(t - out);
	return true;
}

/* ---- values -------------------------------------------------------------- */

static void skip_whitespace(parser_t *ps)
{
	const char *p = ps->at;

	while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->at = p;
}

static json_t *parse_string(parser_t *ps)
{
	string_span_t span;

	if (!scan_string(ps, &span))
		return NULL;

	const char *bytes = span.start;
	size_t len = (size_t)(span.close - span.start);
	if (span.escaped) {
		if (!unescape(ps, &span, false, &len))
			return NULL;
		bytes = ps->scratch + ps->scratch_top;
	}

	json_t *string = json_stringn_nocheck(bytes, len);
	return string ? string : fail_no_memory(ps);
}

static bool is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* Return the faulty byte of a number or a literal cut short by the byte at
 * p. A byte that ends a value (',', ']', '}', ':' or white space) belongs
 * to what follows, so the fault is the token's last byte, p - 1. Then the
 * error's position falls inside the member, which names the field in job
 * errors. Any other byte at p is itself the fault. */
static const char *token_fault(const char *p)
{
	return *p && strchr(",]}: \t\r\n", *p) ? p - 1 : p;
}

/* Move *p past one or more digits; `place` names where, for an error. */
static bool skip_digits(parser_t *ps, const char **p, const char *place)
{
	if (*p == ps->end) {
		fail(ps, *p, json_error_premature_end_of_input, "unexpected end of input; expected a digit %s", place);
		return false;
	}
	if (!is_digit(*p, ps->end)) {
		fail(ps, token_fault(*p), json_error_invalid_syntax, "invalid number: expected a digit %s", place);
		return false;
	}
	while (is_digit(*p, ps->end))
		(*p)++;
	return true;
}

/* Convert the digits of [start, stop) (after an optional '-') to
 * json_int_t, rejecting what it cannot hold as jansson does (strtoll). */
static json_t *make_integer(parser_t *ps, const char *start, const char *stop)
{
	bool negative = *start == '-';
	uintmax_t limit = negative ? (uintmax_t)JSON_INT_MAX + 1 : (uintmax_t)JSON_INT_MAX;
	uintmax_t magnitude = 0;

	for (const char *p = start + negative; p < stop; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (magnitude > (limit - digit) / 10)
			return fail(ps, stop - 1, json_error_numeric_overflow,
				    "integer out of range: json_int_t holds %lld to %lld", (long long)-JSON_INT_MAX - 1,
				    (long long)JSON_INT_MAX);
		magnitude = magnitude * 10 + digit;
	}

	json_int_t value;
	if (!negative)
		value = (json_int_t)magnitude;
	else if (magnitude == (uintmax_t)JSON_INT_MAX + 1)
		value = -JSON_INT_MAX - 1;
	else
		value = -(json_int_t)magnitude;

	json_t *number = json_integer(value);
	return number ? number : fail_no_memory(ps);
}

/*
 * Convert [start, stop) with strtod, as jansson does. Overflow to infinity
 * is rejected; underflow is accepted with strtod's result (zero or a
 * subnormal number), because jansson accepts it too.
 *
 * NOTE: strtod reads the decimal point of the LC_NUMERIC locale. jansson
 * rewrites '.' to that point first, but this code assumes the "C" locale,
 * which every program starts in and nothing in the engine changes (no
 * setlocale call). Under a locale with a decimal comma, "1.5" would read
 * as 1. The fix would be to rewrite the point as jansson does.
 */
static json_t *make_real(parser_t *ps, const char *start, const char *stop)
{
	size_t len = (size_t)(stop - start);
	char short_copy[SHORT_NUMBER];
	char *copy = len < sizeof short_copy ? short_copy : malloc(len + 1);

	if (!copy)
		return fail_no_memory(ps);
	memcpy(copy, start, len);
	copy[len] = '\0';

	errno = 0;
	double value = strtod(copy, NULL);
	bool overflow = errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL);
	if (copy != short_copy)
		free(copy);
	if (overflow)
		return fail(ps, stop - 1, json_error_numeric_overflow, "real number out of range of a double");

	json_t *number = json_real(value);
	return number ? number : fail_no_memory(ps);
}

/* Parse a number with the grammar of RFC 8259: no leading zeros, no '+',
 * digits on both sides of the decimal point. */
static json_t *parse_number(parser_t *ps)
{
	const char *start = ps->at;
	const char *p = start;
	bool is_real = false;

	if (*p == '-')
		p++;
	if (p < ps->end && *p == '0') {
		p++;
		if (is_digit(p, ps->end))
			return fail(ps, p, json_error_invalid_syntax, "invalid number: a leading zero is not allowed");
	} else if (!skip_digits(ps, &p, "after '-'")) {
		return NULL;
	}

	if (p < ps->end && *p == '.') {
		p++;
		is_real = true;
		if (!skip_digits(ps, &p, "after the decimal point"))
			return NULL;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		p++;
		is_real = true;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (!skip_digits(ps, &p, "in the exponent"))
			return NULL;
	}

	ps->at = p;
	return is_real ? make_real(ps, start, p) : make_integer(ps, start, p);
}

static json_t *parse_literal(parser_t *ps, const char *word, json_t *value)
{
	size_t len = strlen(word);

	for (size_t i = 0; i < len; i++) {
		const char *p = ps->at + i;
		if (p == ps->end)
			return fail(ps, p, json_error_premature_end_of_input, "unexpected end of input in '%s'", word);
		if (*p != word[i])
			return fail(ps, token_fault(p), json_error_invalid_syntax, "invalid literal: expected '%s'", word);
	}
	ps->at += len;
	return value;
}

/* Parse one member of `object`, from its key to its value; ps->at is at
 * the key. */
static bool parse_member(parser_t *ps, json_t *object, const char *expected)
{
	string_span_t span;

	if (ps->at == ps->end || *ps->at != '"') {
		unexpected(ps, expected);
		return false;
	}
	if (!scan_string(ps, &span))
		return false;

	/* A plain key is read in place; an escaped one stays on the scratch
	 * stack until its value is parsed. */
	const char *key = span.start;
	size_t key_len = (size_t)(span.close - span.start);
	size_t mark = ps->scratch_top;
	if (span.escaped) {
		if (!unescape(ps, &span, true, &key_len))
			return false;
		key = ps->scratch + mark;
		ps->scratch_top += key_len;
	}

	if ((ps->flags & JSON_REJECT_DUPLICATES) && json_object_getn(object, key, key_len)) {
		/* An escaped key may contain control bytes, so it is left out. */
		if (key_len <= QUOTED_KEY_MAX && !span.escaped)
			fail(ps, span.close, json_error_duplicate_key, "duplicate object key \"%.*s\"", (int)key_len,
			     key);
		else
			fail(ps, span.close, json_error_duplicate_key, "duplicate object key");
		return false;
	}

	skip_whitespace(ps);
	if (ps->at == ps->end || *ps->at != ':') {
		unexpected(ps, "':' after an object key");
		return false;
	}
	ps->at++;
	skip_whitespace(ps);

	json_t *value = parse_value(ps);
	if (!value)
		return false;
	if (span.escaped)
		key = ps->scratch + mark;
	ps->scratch_top = mark;
	/* The call takes the value, even when it fails. */
	if (json_object_setn_new_nocheck(object, key, key_len, value)) {
		fail_no_memory(ps);
		return false;
	}
	return true;
}

/* The token after a member or an element: a comma, the end, or a fault. */
enum after_item { NEXT_ITEM, CLOSED, FAILED };

/* Skip whitespace and the closing byte `close`, and return true, when the
 * container just opened is empty. */
static bool skip_to_close_of_empty(parser_t *ps, char close)
{
	skip_whitespace(ps);
	if (ps->at < ps->end && *ps->at == close) {
		ps->at++;
		return true;
	}
	return false;
}

/* Read the ',' before the next member or element, or the closing byte
 * `close`; `expected` names both for an error. */
static enum after_item read_separator(parser_t *ps, char close, const char *expected)
{
	skip_whitespace(ps);
	if (ps->at < ps->end && *ps->at == close) {
		ps->at++;
		return CLOSED;
	}
	if (ps->at == ps->end || *ps->at != ',') {
		unexpected(ps, expected);
		return FAILED;
	}
	ps->at++;
	skip_whitespace(ps);
	return NEXT_ITEM;
}

static json_t *parse_object(parser_t *ps)
{
	json_t *object = json_object();

	if (!object)
		return fail_no_memory(ps);
	ps->at++;
	if (skip_to_close_of_empty(ps, '}'))
		return object;

	enum after_item after = NEXT_ITEM;
	const char *expected = "a string key or '}'";
	while (after == NEXT_ITEM) {
		if (!parse_member(ps, object, expected))
			break;
		after = read_separator(ps, '}', "',' or '}' after an object member");
		expected = "a string key after ','";
	}
	if (after == CLOSED)
		return object;
	json_decref(object);
	return NULL;
}

static json_t *parse_array(parser_t *ps)
{
	json_t *array = json_array();

	if (!array)
		return fail_no_memory(ps);
	ps->at++;
	if (skip_to_close_of_empty(ps, ']'))
		return array;

	enum after_item after = NEXT_ITEM;
	while (after == NEXT_ITEM) {
		json_t *item = parse_value(ps);
		if (!item)
			break;
		/* The call takes the item, even when it fails. */
		if (json_array_append_new(array, item)) {
			fail_no_memory(ps);
			break;
		}
		after = read_separator(ps, ']', "',' or ']' after an array element");
	}
	if (after == CLOSED)
		return array;
	json_decref(array);
	return NULL;
}

/* Parse the value that starts at ps->at (whitespace already skipped). Like
 * jansson, count every value toward the depth limit, scalars included, so
 * JSON_PARSER_MAX_DEPTH empty arrays nest but a number inside them fails. */
static json_t *parse_value(parser_t *ps)
{
	json_t *value;

	if (++ps->depth > JSON_PARSER_MAX_DEPTH)
		return fail(ps, ps->at, json_error_stack_overflow, "nesting deeper than %d levels",
			    JSON_PARSER_MAX_DEPTH);
	if (ps->at == ps->end)
		return unexpected(ps, "a value");

	switch (*ps->at) {
	case '{':
		value = parse_object(ps);
		break;
	case '[':
		value = parse_array(ps);
		break;
	case '"':
		value = parse_string(ps);
		break;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		value = parse_number(ps);
		break;
	case 't':
		value = parse_literal(ps, "true", json_true());
		break;
	case 'f':
		value = parse_literal(ps, "false", json_false());
		break;
	case 'n':
		value = parse_literal(ps, "null", json_null());
		break;
	default:
		return unexpected(ps, "a value");
	}

	if (value)
		ps->depth--;
	return value;
}

/* ---- the document -------------------------------------------------------- */

static json_t *parse_document(parser_t *ps)
{
	skip_whitespace(ps);
	if (!(ps->flags & JSON_DECODE_ANY) && (ps->at == ps->end || (*ps->at != '[' && *ps->at != '{')))
		return unexpected(ps, "'[' or '{' at the top level (JSON_DECODE_ANY allows any value)");

	json_t *root = parse_value(ps);
	if (!root)
		return NULL;

	skip_whitespace(ps);
	if (ps->at != ps->end) {
		unexpected_with(ps, json_error_end_of_input_expected, "the end of input after the top-level value");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Fill `error` for a call that cannot start: no position, as jansson
 * reports "wrong arguments". */
static void fail_argument(json_error_t *error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_argument(json_error_t *error, const char *fmt, ...)
{
	if (!error)
		return;

	va_list ap;
	va_start(ap, fmt);
	set_text(error, json_error_invalid_argument, fmt, ap);
	va_end(ap);
}

json_t *bl_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
	init_error(error);
	if (!buf) {
		fail_argument(error, "bl_json_loadb needs a buffer, got NULL");
		return NULL;
	}
	if (flags & ~(size_t)SUPPORTED_FLAGS) {
		fail_argument(error,
			      "unsupported flags 0x%zx: bl_json_loadb takes only JSON_REJECT_DUPLICATES, "
			      "JSON_DECODE_ANY and JSON_ALLOW_NUL",
			      flags & ~(size_t)SUPPORTED_FLAGS);
		return NULL;
	}

	parser_t ps = {.buf = buf, .end = buf + len, .at = buf, .flags = flags, .error = error};
	json_t *root = parse_document(&ps);
	free(ps.scratch);
	if (root && error)
		error->position = clamp_int(len);
	return root;
}

const char *bl_json_type_phrase(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "a value of unknown type";
}
