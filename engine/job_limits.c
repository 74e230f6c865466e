#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_load.h>

#include "job_limits.h"

/* What the scan expects next inside one container. */
typedef enum want {
	WANT_KEY,   /* object, after '{' or ',' */
	WANT_COLON, /* object, after a key */
	WANT_VALUE, /* object after ':', array after '[' or ',' */
	WANT_COMMA, /* after a value */
} want_t;

/* One open object or array. */
typedef struct frame {
	char kind; /* '{' or '[' */
	want_t want;
	size_t count;	  /* keys or items seen so far */
	size_t key_start; /* object: the current key, raw and without quotes */
	size_t key_len;
} frame_t;

typedef struct scan {
	const char *text;
	size_t end; /* the scan never reads at or past this offset */
	size_t pos;
	frame_t *frames;
	size_t depth;
	size_t cap;
	const bl_job_limits_t *lim; /* NULL when the scan only finds a path */
	bl_error_t *err;
	size_t id_keys; /* top-level "id" keys seen */
	size_t tenant_keys;
	bl__job_name_span_t id;
	bl__job_name_span_t tenant;
} scan_t;

static void append(char *buf, size_t size, size_t *used, const char *src, size_t n)
{
	if (*used + 1 >= size)
		return;
	size_t room = size - 1 - *used;
	if (n > room)
		n = room;
	memcpy(buf + *used, src, n);
	*used += n;
	buf[*used] = '\0';
}

/* Write the path of the member the scan is in. A container's member is
 * left out while the scan waits for its next key or item, so a violation
 * that concerns the container itself names the container. */
static void render_path(const scan_t *s, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < s->depth; i++) {
		const frame_t *f = &s->frames[i];
		if (f->count == 0)
			continue;
		if (f->kind == '{') {
			if (f->want == WANT_KEY)
				continue;
			if (used > 0)
				append(buf, size, &used, ".", 1);
			append(buf, size, &used, s->text + f->key_start, f->key_len);
		} else {
			if (f->want != WANT_COMMA)
				continue;
			char index[32];
			int n = snprintf(index, sizeof index, "[%zu]", f->count - 1);
			append(buf, size, &used, index, (size_t)n);
		}
	}
}

static int violation(scan_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int violation(scan_t *s, const char *fmt, ...)
{
	char path[BL_ERROR_FIELD_MAX];
	char message[BL_ERROR_MESSAGE_MAX];
	va_list ap;

	render_path(s, path, sizeof path);
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	return bl_error_set(s->err, BL_ELIMIT, path, "%s", message);
}

static frame_t *top(scan_t *s)
{
	return s->depth > 0 ? &s->frames[s->depth - 1] : NULL;
}

/* Account for a value that starts at s->pos: it is a new item when its
 * array waits for one. */
static int begin_value(scan_t *s)
{
	frame_t *f = top(s);

	if (!f)
		return 0;
	if (f->kind == '[' && f->want == WANT_VALUE) {
		f->count++;
		if (s->lim && f->count > s->lim->max_array_items)
			return violation(s, "array exceeds the limit of %zu items: item %zu starts at byte %zu",
					 s->lim->max_array_items, f->count, s->pos);
	}
	f->want = WANT_COMMA;
	return 0;
}

static int open_container(scan_t *s, char kind)
{
	int rc = begin_value(s);
	if (rc)
		return rc;

	if (s->lim && s->depth >= s->lim->max_depth)
		return violation(s, "nesting exceeds the limit of %u levels: level %zu opens at byte %zu",
				 s->lim->max_depth, s->depth + 1, s->pos);
	if (s->depth == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		frame_t *frames = realloc(s->frames, cap * sizeof *frames);
		if (!frames)
			return bl_error_set(s->err, BL_ENOMEM, NULL, "out of memory while checking the job's nesting");
		s->frames = frames;
		s->cap = cap;
	}

	s->frames[s->depth++] = (frame_t){.kind = kind, .want = kind == '{' ? WANT_KEY : WANT_VALUE};
	s->pos++;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Return the number of UTF-8 bytes that the \uXXXX escape at `p` decodes
 * to, or 0 when four hex digits do not follow (jansson rejects that). A
 * surrogate counts 2, so a valid pair counts the 4 bytes it encodes. */
static size_t unicode_escape_bytes(const char *p, size_t avail)
{
	unsigned v = 0;

	if (avail < 6)
		return 0;
	for (size_t i = 2; i < 6; i++) {
		int d = hex_digit(p[i]);
		if (d < 0)
			return 0;
		v = v * 16 + (unsigned)d;
	}
	if (v < 0x80)
		return 1;
	if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))
		return 2;
	return 3;
}

/*
 * Scan the string whose opening quote is at s->pos, counting its length
 * after unescaping. Stops counting, and returns false, as soon as the
 * length passes `max`; otherwise returns true. Leaves s->pos after the
 * closing quote, or at s->end when the text ends inside the string.
 * *closed and *escaped report whether the string was closed and whether
 * it had an escape. An escaped quote never ends the string. A malformed
 * escape counts as one byte, and the scan goes on after its first two
 * bytes, so it cannot hide a closing quote.
 */
static bool scan_string(scan_t *s, size_t max, bool *closed, bool *escaped)
{
	size_t i = s->pos + 1;
	size_t decoded = 0;

	*closed = false;
	*escaped = false;
	while (i < s->end) {
		/* A run of plain bytes, found 16 at a time: each counts one. */
		size_t plain = (size_t)(bl_json_find_special(s->text + i, s->text + s->end) - (s->text + i));
		if (plain > 0) {
			if (decoded + plain > max) {
				s->pos = i + (max - decoded) + 1;
				return false;
			}
			decoded += plain;
			i += plain;
			continue;
		}

		char c = s->text[i];
		size_t n = 1;
		if (c == '"') {
			*closed = true;
			i++;
			break;
		}
		if (c == '\\') {
			*escaped = true;
			size_t u = 0;
			if (i + 1 < s->end && s->text[i + 1] == 'u')
				u = unicode_escape_bytes(s->text + i, s->end - i);
			if (u > 0) {
				n = u;
				i += 6;
			} else {
				i += 2;
			}
		} else {
			i++;
		}
		decoded += n;
		if (decoded > max) {
			s->pos = i < s->end ? i : s->end;
			return false;
		}
	}
	s->pos = i < s->end ? i : s->end;
	return true;
}

static bool key_is(const scan_t *s, const frame_t *f, const char *name)
{
	size_t n = strlen(name);
	return f->key_len == n && memcmp(s->text + f->key_start, name, n) == 0;
}

static int scan_key(scan_t *s, frame_t *f)
{
	size_t start = s->pos;
	size_t max = s->lim ? s->lim->max_string_bytes : SIZE_MAX;
	bool closed, escaped;

	f->count++;
	if (s->lim && f->count > s->lim->max_object_keys)
		return violation(s, "object exceeds the limit of %zu keys: key %zu starts at byte %zu",
				 s->lim->max_object_keys, f->count, start);
	if (!scan_string(s, max, &closed, &escaped))
		return violation(s, "key starting at byte %zu exceeds the limit of %zu bytes", start, max);

	f->key_start = start + 1;
	f->key_len = s->pos - start - 1 - (closed ? 1 : 0);
	f->want = WANT_COLON;
	if (s->depth == 1 && key_is(s, f, "id"))
		s->id_keys++;
	if (s->depth == 1 && key_is(s, f, "tenant"))
		s->tenant_keys++;
	return 0;
}

/* Return where to record the string value that starts now, when it is the
 * value of a top-level "id" or "tenant" member. */
static bl__job_name_span_t *name_target(scan_t *s)
{
	frame_t *f = top(s);

	if (s->depth != 1 || f->kind != '{' || f->want != WANT_VALUE)
		return NULL;
	if (key_is(s, f, "id"))
		return &s->id;
	if (key_is(s, f, "tenant"))
		return &s->tenant;
	return NULL;
}

static int scan_value_string(scan_t *s)
{
	size_t start = s->pos;
	size_t max = s->lim ? s->lim->max_string_bytes : SIZE_MAX;
	bl__job_name_span_t *target = name_target(s);
	bool closed, escaped;

	int rc = begin_value(s);
	if (rc)
		return rc;
	if (!scan_string(s, max, &closed, &escaped))
		return violation(s, "string starting at byte %zu exceeds the limit of %zu bytes", start, max);

	if (target && closed && !escaped)
		*target = (bl__job_name_span_t){.usable = true, .start = start + 1, .len = s->pos - start - 2};
	return 0;
}

static int scan_string_token(scan_t *s)
{
	frame_t *f = top(s);

	if (f && f->kind == '{' && f->want == WANT_KEY)
		return scan_key(s, f);
	return scan_value_string(s);
}

static void scan_punctuation(scan_t *s, char c)
{
	frame_t *f = top(s);

	s->pos++;
	if (!f)
		return;
	if (c == '}' || c == ']') {
		/* A closer that does not match its opener is jansson's error to
		 * report; popping anyway keeps the depth count honest. */
		s->depth--;
	} else if (c == ',') {
		f->want = f->kind == '{' ? WANT_KEY : WANT_VALUE;
	} else if (c == ':' && f->kind == '{' && f->want == WANT_COLON) {
		f->want = WANT_VALUE;
	}
}

/* Scan tokens until s->pos reaches `stop` or a violation. Numbers,
 * literals and stray bytes start a value at their first byte; their
 * further bytes change nothing because the container then waits for a
 * comma. */
static int scan_until(scan_t *s, size_t stop)
{
	while (s->pos < stop) {
		char c = s->text[s->pos];
		int rc = 0;
		switch (c) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			s->pos++;
			break;
		case '{':
		case '[':
			rc = open_container(s, c);
			break;
		case '}':
		case ']':
		case ',':
		case ':':
			scan_punctuation(s, c);
			break;
		case '"':
			rc = scan_string_token(s);
			break;
		default:
			rc = begin_value(s);
			s->pos++;
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static bl__job_name_span_t finish_name(size_t keys, bl__job_name_span_t span)
{
	if (keys != 1)
		return (bl__job_name_span_t){.usable = false};
	return span;
}

int bl__job_limits_check(const char *text, size_t len, const bl_job_limits_t *lim, bl__job_names_t *names,
			 bl_error_t *err)
{
	scan_t s = {.text = text, .end = len < lim->max_bytes ? len : lim->max_bytes, .lim = lim, .err = err};

	int rc = scan_until(&s, s.end);
	if (rc == 0 && len > lim->max_bytes)
		rc = bl_error_set(err, BL_ELIMIT, NULL,
				  "text exceeds the limit of %zu bytes at byte %zu: the job is %zu bytes long",
				  lim->max_bytes, lim->max_bytes, len);

	if (names) {
		names->id = finish_name(s.id_keys, s.id);
		names->tenant = finish_name(s.tenant_keys, s.tenant);
	}
	free(s.frames);
	return rc;
}

int bl__job_limits_path_at(const char *text, size_t len, size_t offset, char *path, size_t size)
{
	scan_t s = {.text = text, .end = len};

	if (size > 0)
		path[0] = '\0';
	int rc = scan_until(&s, offset < len ? offset : len);
	if (rc == 0)
		render_path(&s, path, size);
	free(s.frames);
	return rc;
}
