/*
 * A .npy file starts with a preamble: the magic string "\x93NUMPY", a major
 * and a minor version byte, and the header length as a little-endian
 * integer (2 bytes in version 1.0, 4 bytes in 2.0 and 3.0). The header, a
 * Python dict literal ending with '\n', follows, then the array data.
 * Version 3.0 differs from 2.0 only in allowing UTF-8 in the header. This
 * reader never needs UTF-8, because every key and accepted value is ASCII.
 *
 * The decoder is strict, because its input is untrusted: it accepts exactly
 * the keys descr, fortran_order and shape, the four little-endian dtypes of
 * bl_dtype_t, and a data length that matches the shape to the byte. The
 * file functions resolve paths with openat2 so that a path cannot leave the
 * directory it is given.
 */
#define _GNU_SOURCE /* syscall(), SYS_openat2 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <beamline/kernels.h>
#include <beamline/read_buffer.h>

/* Element data is copied as is between the file and the tensor. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kernels/npy.c copies little-endian .npy data as is and needs a little-endian host"
#endif

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6u
/* Magic, two version bytes, and the 2-byte header length of version 1.0. */
#define PREAMBLE_V1 10u
/* numpy pads the preamble and header to a multiple of 64 bytes so that the
 * data that follows is aligned for memory mapping. */
#define HEADER_ALIGN 64u
/* numpy's dimensions are npy_intp, a signed 64-bit integer on 64-bit hosts. */
#define DIM_MAX ((uint64_t)INT64_MAX)
/* Maximum length of an input excerpt quoted in an error message. */
#define QUOTE_MAX 24u

static const char accepted_dtypes[] = "'<f4' (float32), '<f8' (float64), '<i4' (int32) or '<i8' (int64)";

static const struct {
	const char *descr;
	bl_dtype_t dtype;
} descrs[] = {
	{"<f4", BL_DTYPE_F32},
	{"<f8", BL_DTYPE_F64},
	{"<i4", BL_DTYPE_I32},
	{"<i8", BL_DTYPE_I64},
};

void bl_npy_limits_init(bl_npy_limits_t *lim)
{
	lim->max_data_bytes = (size_t)1 << 30;
	lim->max_header_bytes = (size_t)64 << 10;
}

/* ------------------------------------------------------------------------ */
/* Header parsing                                                            */
/* ------------------------------------------------------------------------ */

/* What the header declares. */
typedef struct npy_header {
	bl_dtype_t dtype;
	unsigned ndim;
	size_t shape[BL_TENSOR_DIMS_MAX];
} npy_header_t;

/* A position in the header text, which may contain any byte, NUL included. */
typedef struct cursor {
	const char *p;
	const char *end;
	bool long_suffix; /* Python 2 'L' suffixes on integers are allowed */
} cursor_t;

/* Copy up to QUOTE_MAX bytes of `s` into `buf` for a message, with every
 * byte outside printable ASCII replaced by '?'. Returns `buf`. */
static const char *quote(char *buf, const char *s, size_t len)
{
	size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;
	for (size_t i = 0; i < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[n] = '\0';
	return buf;
}

/* Describe the text at the cursor for a message: a short excerpt, or "the
 * end of the header". Writes into `buf` (QUOTE_MAX + 3 bytes). */
static const char *found_at(char *buf, const cursor_t *c)
{
	if (c->p >= c->end)
		return "the end of the header";
	char excerpt[QUOTE_MAX + 1];
	const char *stop = c->p;
	while (stop < c->end && *stop != ',' && *stop != ')' && *stop != '}' && *stop != ' ' &&
	       (size_t)(stop - c->p) < QUOTE_MAX)
		stop++;
	if (stop == c->p)
		stop++;
	snprintf(buf, QUOTE_MAX + 3, "'%s'", quote(excerpt, c->p, (size_t)(stop - c->p)));
	return buf;
}

static void skip_space(cursor_t *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

/* Skip spaces and consume `ch` when it comes next. */
static bool accept(cursor_t *c, char ch)
{
	skip_space(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* Report that the text at the cursor is not what `expected` describes. */
static int unexpected(const cursor_t *c, const char *field, const char *expected, bl_error_t *err)
{
	char found[QUOTE_MAX + 3];
	return bl_error_set(err, BL_EFORMAT, field, "malformed .npy header: expected %s, found %s", expected,
			    found_at(found, c));
}

/* Parse a quoted Python string without escapes or prefixes and return its
 * contents through *s and *len. */
static int parse_string(cursor_t *c, const char **s, size_t *len, const char *what, bl_error_t *err)
{
	skip_space(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return unexpected(c, NULL, what, err);

	char q = *c->p++;
	const char *start = c->p;
	while (c->p < c->end && *c->p != q && *c->p != '\\' && *c->p != '\n')
		c->p++;
	if (c->p >= c->end || *c->p != q)
		return bl_error_set(err, BL_EFORMAT, NULL,
				    "malformed .npy header: %s has no closing quote or holds an escape or a line break",
				    what);
	*s = start;
	*len = (size_t)(c->p - start);
	c->p++;
	return 0;
}

/* Whether the cursor is at the word `w` (not followed by more of a name). */
static bool at_word(const cursor_t *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return false;
	const char *after = c->p + n;
	return after == c->end || !(*after == '_' || (*after >= '0' && *after <= '9') ||
				   (*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z'));
}

static int parse_descr(cursor_t *c, npy_header_t *h, bl_error_t *err)
{
	skip_space(c);
	if (c->p < c->end && (*c->p == '[' || *c->p == '('))
		return bl_error_set(err, BL_EFORMAT, "descr",
				    "descr is a %s, which describes a structured or subarray dtype and is not "
				    "supported; expected %s",
				    *c->p == '[' ? "list" : "tuple", accepted_dtypes);

	const char *s;
	size_t len;
	int rc = parse_string(c, &s, &len, "a quoted string as the value of 'descr'", err);
	if (rc < 0)
		return rc;

	for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++) {
		if (len == strlen(descrs[i].descr) && memcmp(s, descrs[i].descr, len) == 0) {
			h->dtype = descrs[i].dtype;
			return 0;
		}
	}
	char found[QUOTE_MAX + 1];
	const char *why = len > 0 && s[0] == '>' ? "big-endian data is not supported" : "the dtype is not supported";
	return bl_error_set(err, BL_EFORMAT, "descr", "descr '%s': %s; expected %s", quote(found, s, len), why,
			    accepted_dtypes);
}

static int parse_fortran_order(cursor_t *c, bl_error_t *err)
{
	skip_space(c);
	if (at_word(c, "False")) {
		c->p += strlen("False");
		return 0;
	}
	if (at_word(c, "True"))
		return bl_error_set(err, BL_EFORMAT, "fortran_order",
				    "fortran_order is True: Fortran (column-major) order is not supported; "
				    "expected False (C order)");
	return unexpected(c, "fortran_order", "False as the value of 'fortran_order'", err);
}

/* Parse one dimension: decimal digits without sign or leading zeros, with a
 * Python 2 'L' suffix where c->long_suffix allows it. */
static int parse_dim(cursor_t *c, size_t *dim, bl_error_t *err)
{
	skip_space(c);
	const char *start = c->p;
	uint64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned digit = (unsigned)(*c->p - '0');
		if (v > (DIM_MAX - digit) / 10)
			return bl_error_set(err, BL_EFORMAT, "shape",
					    "a dimension in shape is larger than %" PRIu64 ", numpy's largest", DIM_MAX);
		v = v * 10 + digit;
		c->p++;
	}

	size_t digits = (size_t)(c->p - start);
	char found[QUOTE_MAX + 3];
	if (digits == 0 && start < c->end && *start == '-')
		return bl_error_set(err, BL_EFORMAT, "shape", "shape has a negative dimension %s; expected a "
				    "non-negative integer", found_at(found, c));
	if (digits == 0)
		return unexpected(c, "shape", "a dimension (a non-negative integer) in shape", err);
	if (digits > 1 && *start == '0') {
		c->p = start;
		return bl_error_set(err, BL_EFORMAT, "shape", "shape has a dimension with a leading zero, %s; expected "
				    "a decimal integer", found_at(found, c));
	}
	if (c->long_suffix && c->p < c->end && *c->p == 'L')
		c->p++;
	*dim = (size_t)v;
	return 0;
}

/*
 * Parse a Python tuple of integers: "()", "(3,)", "(3, 4)" or "(3, 4,)".
 * "(3)" is rejected because Python reads it as the integer 3, not a tuple.
 */
static int parse_shape(cursor_t *c, npy_header_t *h, bl_error_t *err)
{
	if (!accept(c, '('))
		return unexpected(c, "shape", "'(' to open the shape tuple", err);

	unsigned n = 0;
	bool comma = false;
	while (!accept(c, ')')) {
		if (n > 0 && !comma)
			return unexpected(c, "shape", "',' or ')' after a dimension of shape", err);
		if (n == BL_TENSOR_DIMS_MAX)
			return bl_error_set(err, BL_EFORMAT, "shape",
					    "shape has more than %u dimensions, at most %u are supported",
					    BL_TENSOR_DIMS_MAX, BL_TENSOR_DIMS_MAX);
		int rc = parse_dim(c, &h->shape[n], err);
		if (rc < 0)
			return rc;
		n++;
		comma = accept(c, ',');
	}

	if (n == 1 && !comma)
		return bl_error_set(err, BL_EFORMAT, "shape",
				    "shape (%zu) is an integer, not a tuple; a 1-D shape is written (%zu,)", h->shape[0],
				    h->shape[0]);
	h->ndim = n;
	return 0;
}

enum { KEY_DESCR, KEY_FORTRAN_ORDER, KEY_SHAPE, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {"descr", "fortran_order", "shape"};

/* Parse one "key: value" entry of the dict into *h, marking the key seen. */
static int parse_entry(cursor_t *c, npy_header_t *h, bool seen[KEY_COUNT], bl_error_t *err)
{
	const char *s;
	size_t len;
	int rc = parse_string(c, &s, &len, "a quoted key", err);
	if (rc < 0)
		return rc;

	int key = -1;
	for (int k = 0; k < KEY_COUNT; k++) {
		if (len == strlen(key_names[k]) && memcmp(s, key_names[k], len) == 0)
			key = k;
	}
	char found[QUOTE_MAX + 1];
	if (key < 0)
		return bl_error_set(err, BL_EFORMAT, NULL,
				    "unexpected key '%s' in the .npy header; expected exactly 'descr', "
				    "'fortran_order' and 'shape'",
				    quote(found, s, len));
	if (seen[key])
		return bl_error_set(err, BL_EFORMAT, key_names[key], "key '%s' appears twice in the .npy header",
				    key_names[key]);
	seen[key] = true;

	if (!accept(c, ':'))
		return unexpected(c, key_names[key], "':' after the key", err);
	switch (key) {
	case KEY_DESCR:
		return parse_descr(c, h, err);
	case KEY_FORTRAN_ORDER:
		return parse_fortran_order(c, err);
	default:
		return parse_shape(c, h, err);
	}
}

/* Parse the dict and check that only spaces and a final '\n' follow it. */
static int parse_dict(cursor_t *c, npy_header_t *h, bl_error_t *err)
{
	if (!accept(c, '{'))
		return unexpected(c, NULL, "'{' at the start of the header", err);

	bool seen[KEY_COUNT] = {false, false, false};
	while (!accept(c, '}')) {
		int rc = parse_entry(c, h, seen, err);
		if (rc < 0)
			return rc;
		if (accept(c, ','))
			continue;
		if (!accept(c, '}'))
			return unexpected(c, NULL, "',' or '}' after a value", err);
		break;
	}

	for (int k = 0; k < KEY_COUNT; k++) {
		if (!seen[k])
			return bl_error_set(err, BL_EFORMAT, key_names[k],
					    "key '%s' is missing from the .npy header; expected exactly 'descr', "
					    "'fortran_order' and 'shape'",
					    key_names[k]);
	}
	skip_space(c);
	if (c->p != c->end)
		return unexpected(c, NULL, "only spaces and '\\n' after the dict", err);
	return 0;
}

static int parse_header(npy_header_t *h, const char *text, size_t len, unsigned major, bl_error_t *err)
{
	if (len == 0 || text[len - 1] != '\n')
		return bl_error_set(err, BL_EFORMAT, NULL, "the .npy header does not end with '\\n'");

	/* numpy reads the 'L' of Python 2 longs back from 1.0 and 2.0 headers;
	 * version 3.0 appeared after Python 2 support was gone. */
	cursor_t c = {.p = text, .end = text + len - 1, .long_suffix = major < 3};
	return parse_dict(&c, h, err);
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

/* Where the header lies in the image. */
typedef struct npy_layout {
	unsigned major;
	size_t header_start;
	size_t header_len;
	size_t data_start;
} npy_layout_t;

/* Read the magic, version and header length, and check them against the
 * header limit and the length of the image. */
static int parse_preamble(npy_layout_t *out, const unsigned char *buf, size_t len, const bl_npy_limits_t *lim,
			  bl_error_t *err)
{
	size_t magic_seen = len < MAGIC_LEN ? len : MAGIC_LEN;
	if (memcmp(buf, MAGIC, magic_seen) != 0)
		return bl_error_set(err, BL_EFORMAT, NULL, "not a .npy file: it does not start with \"\\x93NUMPY\"");
	if (len < MAGIC_LEN + 2)
		return bl_error_set(err, BL_EFORMAT, NULL, "truncated .npy file: %zu bytes, the preamble alone takes %u",
				    len, PREAMBLE_V1);

	unsigned major = buf[MAGIC_LEN], minor = buf[MAGIC_LEN + 1];
	if (major < 1 || major > 3 || minor != 0)
		return bl_error_set(err, BL_EFORMAT, NULL, ".npy format version %u.%u is not supported; expected 1.0, "
				    "2.0 or 3.0", major, minor);

	size_t len_bytes = major == 1 ? 2 : 4;
	size_t header_start = MAGIC_LEN + 2 + len_bytes;
	if (len < header_start)
		return bl_error_set(err, BL_EFORMAT, NULL, "truncated .npy file: %zu bytes, the preamble alone takes %zu",
				    len, header_start);

	size_t header_len = 0;
	for (size_t i = len_bytes; i-- > 0;)
		header_len = header_len << 8 | buf[MAGIC_LEN + 2 + i];
	size_t data_start = header_start + header_len;
	if (data_start > lim->max_header_bytes)
		return bl_error_set(err, BL_ELIMIT, NULL,
				    ".npy header of %zu bytes (preamble included) is over the limit of %zu bytes",
				    data_start, lim->max_header_bytes);
	if (data_start > len)
		return bl_error_set(err, BL_EFORMAT, NULL,
				    "truncated .npy file: the header ends at byte %zu but the file has %zu bytes",
				    data_start, len);

	*out = (npy_layout_t){major, header_start, header_len, data_start};
	return 0;
}

/* Write the shape as Python writes a tuple, for messages. */
static const char *format_shape(char *buf, size_t size, unsigned ndim, const size_t *shape)
{
	size_t used = (size_t)snprintf(buf, size, "(");
	for (unsigned i = 0; i < ndim && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, i ? ", %zu" : "%zu", shape[i]);
	if (used < size)
		snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
	return buf;
}

/*
 * Check the data length the shape implies against the limit and against
 * the bytes present. The limit applies to the product of the non-zero
 * dimensions too, so that an empty array cannot declare, say, 2^40 rows
 * of nothing that later loops would walk.
 */
static int check_data_length(const npy_header_t *h, size_t present, const bl_npy_limits_t *lim,
			     bl_error_t *err)
{
	size_t nonzero = bl_dtype_size(h->dtype);
	bool empty = false, over = nonzero > lim->max_data_bytes;
	for (unsigned i = 0; i < h->ndim && !over; i++) {
		if (h->shape[i] == 0) {
			empty = true;
			continue;
		}
		over = nonzero > lim->max_data_bytes / h->shape[i];
		nonzero *= over ? 1 : h->shape[i];
	}

	char shape[BL_TENSOR_DIMS_MAX * 22 + 4];
	format_shape(shape, sizeof shape, h->ndim, h->shape);
	if (over)
		return bl_error_set(err, BL_ELIMIT, "shape", "shape %s of %s describes more than the limit of %zu bytes "
				    "of data", shape, bl_dtype_name(h->dtype), lim->max_data_bytes);

	size_t needed = empty ? 0 : nonzero;
	if (present == needed)
		return 0;
	return bl_error_set(err, BL_EFORMAT, NULL, "the .npy header declares shape %s of %s, which takes %zu bytes "
			    "of data, but %zu bytes follow the header (%s)", shape, bl_dtype_name(h->dtype), needed,
			    present, present < needed ? "truncated data" : "trailing bytes");
}

int bl_npy_decode(bl_tensor_t **out, const void *buf, size_t len, const bl_npy_limits_t *lim, bl_error_t *err)
{
	bl_npy_limits_t defaults;
	if (!lim) {
		bl_npy_limits_init(&defaults);
		lim = &defaults;
	}

	const unsigned char *bytes = buf;
	npy_layout_t layout = {0};
	int rc = parse_preamble(&layout, bytes, len, lim, err);
	if (rc < 0)
		return rc;

	npy_header_t h = {0};
	rc = parse_header(&h, (const char *)bytes + layout.header_start, layout.header_len, layout.major, err);
	if (rc < 0)
		return rc;

	rc = check_data_length(&h, len - layout.data_start, lim, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *t;
	rc = bl_tensor_new(&t, h.dtype, h.ndim, h.shape, err);
	if (rc < 0)
		return rc;
	if (t->nbytes > 0)
		memcpy(t->data, bytes + layout.data_start, t->nbytes);
	*out = t;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/* Return the descr of `dtype`, or NULL for an unknown dtype. */
static const char *descr_of(bl_dtype_t dtype)
{
	for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++) {
		if (descrs[i].dtype == dtype)
			return descrs[i].descr;
	}
	return NULL;
}

int bl_npy_encode(void **buf, size_t *len, const bl_tensor_t *t, bl_error_t *err)
{
	const char *descr = descr_of(t->dtype);
	if (!descr || t->ndim > BL_TENSOR_DIMS_MAX)
		return bl_error_set(err, BL_EINVAL, NULL, "tensor has an unknown dtype or more than %u dimensions",
				    BL_TENSOR_DIMS_MAX);

	/* Eight dimensions of at most 20 digits keep the dict far below the
	 * 65,535 bytes that the 2-byte length of version 1.0 can describe. */
	char shape[BL_TENSOR_DIMS_MAX * 22 + 4];
	char dict[sizeof shape + 64];
	int dict_len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s}", descr,
				format_shape(shape, sizeof shape, t->ndim, t->shape));

	/* Pad with spaces and a final '\n' to the next multiple of 64 bytes. */
	size_t unpadded = PREAMBLE_V1 + (size_t)dict_len + 1;
	size_t preamble = (unpadded + HEADER_ALIGN - 1) / HEADER_ALIGN * HEADER_ALIGN;
	size_t header_len = preamble - PREAMBLE_V1;
	if (t->nbytes > SIZE_MAX - preamble)
		return bl_error_set(err, BL_ENOMEM, NULL, "tensor of %zu bytes is too large to encode in memory",
				    t->nbytes);

	unsigned char *b = malloc(preamble + t->nbytes);
	if (!b)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory encoding %zu bytes", preamble + t->nbytes);
	memcpy(b, MAGIC, MAGIC_LEN);
	b[MAGIC_LEN] = 1;
	b[MAGIC_LEN + 1] = 0;
	b[MAGIC_LEN + 2] = (unsigned char)(header_len & 0xff);
	b[MAGIC_LEN + 3] = (unsigned char)(header_len >> 8);
	memcpy(b + PREAMBLE_V1, dict, (size_t)dict_len);
	memset(b + PREAMBLE_V1 + dict_len, ' ', header_len - (size_t)dict_len - 1);
	b[preamble - 1] = '\n';
	if (t->nbytes > 0)
		memcpy(b + preamble, t->data, t->nbytes);

	*buf = b;
	*len = preamble + t->nbytes;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* openat2 fails with EAGAIN when a rename elsewhere races with a
 * RESOLVE_BENEATH lookup; a few retries settle it. */
#define OPEN_RETRIES 8
/* Tries at a fresh temporary name when the previous one exists. */
#define TEMP_TRIES 16

/* Replace the field of a filled error with `path`. */
static int with_path(bl_error_t *err, int rc, const char *path)
{
	if (err)
		snprintf(err->field, sizeof err->field, "%s", path);
	return rc;
}

/* Open `path` beneath `dirfd` with openat2. Returns the descriptor or a
 * negative errno value. There is deliberately no fallback to openat on
 * kernels without openat2 (before Linux 5.6): it would lose the check. */
static int open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	for (int attempt = 0;; attempt++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno == EINTR || (errno == EAGAIN && attempt < OPEN_RETRIES))
			continue;
		return -errno;
	}
}

/* Explain an openat2 failure with the path in err->field. */
static int open_failed(bl_error_t *err, int rc, const char *path, const char *purpose)
{
	switch (rc) {
	case -EXDEV:
		return bl_error_set(err, rc, path,
				    "cannot open %s: the path leaves its directory (an absolute path, '..' above it, or "
				    "a symbolic link out of it); expected a path beneath the directory",
				    purpose);
	case -ELOOP:
		return bl_error_set(err, rc, path,
				    "cannot open %s: the path goes through a magic link such as /proc/self/fd/N, or "
				    "through too many symbolic links",
				    purpose);
	default:
		return bl_error_set(err, rc, path, "cannot open %s: %s", purpose, bl_strerror(rc));
	}
}

/* Read up to `size` bytes, stopping early only at the end of the file.
 * Returns the count read or a negative errno value. */
static ssize_t read_all(int fd, unsigned char *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Check that `fd` is a regular file no larger than the limits allow and
 * return its size. */
static int check_file(size_t *size, int fd, const bl_npy_limits_t *lim, const char *path, bl_error_t *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;
		return bl_error_set(err, rc, path, "cannot stat the file: %s", bl_strerror(rc));
	}
	if (S_ISDIR(st.st_mode))
		return bl_error_set(err, -EISDIR, path, "the path is a directory; expected a .npy file");
	if (!S_ISREG(st.st_mode))
		return bl_error_set(err, BL_EINVAL, path,
				    "the path is not a regular file (a FIFO, socket or device); expected a .npy file");

	size_t max = lim->max_header_bytes + lim->max_data_bytes;
	if (max < lim->max_header_bytes)
		max = SIZE_MAX;
	if ((uintmax_t)st.st_size > max)
		return bl_error_set(err, BL_ELIMIT, path,
				    "file of %jd bytes is over the limit of %zu bytes (header and data limits together)",
				    (intmax_t)st.st_size, max);
	*size = (size_t)st.st_size;
	return 0;
}

static int read_file(bl_tensor_t **out, int dirfd, const char *path, const bl_npy_limits_t *lim, bl_error_t *err)
{
	/* O_NONBLOCK keeps the open from waiting for a writer when the path
	 * is a FIFO; check_file rejects it right after. */
	int fd = open_beneath(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return open_failed(err, fd, path, "the file for reading");

	size_t size = 0;
	int rc = check_file(&size, fd, lim, path, err);
	if (rc < 0)
		goto err_close_fd;

	void *block;
	unsigned char *buf = bl_read_buffer_alloc(size, &block);
	if (!buf) {
		rc = bl_error_set(err, BL_ENOMEM, path, "out of memory reading %zu bytes", size);
		goto err_close_fd;
	}
	/* A file that shrinks meanwhile decodes as truncated. Bytes appended
	 * meanwhile are not read, so the file is decoded as it was measured. */
	ssize_t got = read_all(fd, buf, size);
	if (got < 0) {
		rc = bl_error_set(err, (int)got, path, "cannot read the file: %s", bl_strerror((int)got));
		goto err_free_buf;
	}
	rc = bl_npy_decode(out, buf, (size_t)got, lim, err);
	if (rc < 0)
		with_path(err, rc, path);

err_free_buf:
	free(block);
err_close_fd:
	close(fd);
	return rc;
}

int bl_npy_read(bl_tensor_t **out, int dirfd, const char *path, const bl_npy_limits_t *lim, bl_error_t *err)
{
	bl_npy_limits_t defaults;
	if (!lim) {
		bl_npy_limits_init(&defaults);
		lim = &defaults;
	}

	int saved_errno = errno;
	int rc = read_file(out, dirfd, path, lim, err);
	errno = saved_errno;
	return rc;
}

/* Write all of `buf`, then flush it to the device. */
static int write_and_sync(int fd, const unsigned char *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* A regular file never accepts zero bytes of a non-empty write;
		 * stop instead of spinning if one does. */
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

/* A hard-to-guess suffix for temporary names; the names need not be
 * secret, because O_EXCL rejects one that already exists. */
static uint64_t temp_suffix(void)
{
	static atomic_uint_fast64_t counter;
	uint64_t r;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^
	       atomic_fetch_add(&counter, 1);
}

/* Create a new temporary file in `dfd` whose name starts with a dot and
 * `base`, so that a leftover from a crash shows what it was for. */
static int create_temp(char *name, size_t size, int dfd, const char *base)
{
	for (int attempt = 0;; attempt++) {
		snprintf(name, size, ".%.200s.%016" PRIx64 ".tmp", base, temp_suffix());
		int fd = open_beneath(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd != -EEXIST || attempt == TEMP_TRIES)
			return fd;
	}
}

/*
 * Write `buf` to a temporary file in `dfd`, flush it, rename it over
 * `base` and flush the directory, so that `base` contains either its old
 * content or all of the new. The temporary file is removed on failure.
 * NOTE: a replaced file does not keep its mode or owner. The new one has
 * mode 0666 less the umask and belongs to the writing process.
 */
static int replace_file(int dfd, const char *base, const unsigned char *buf, size_t len, const char *path,
			bl_error_t *err)
{
	char temp[256];
	int fd = create_temp(temp, sizeof temp, dfd, base);
	if (fd < 0)
		return bl_error_set(err, fd, path, "cannot create a temporary file in its directory: %s", bl_strerror(fd));

	int rc = write_and_sync(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		bl_error_set(err, rc, path, "cannot write the temporary file %s: %s", temp, bl_strerror(rc));
		goto err_unlink;
	}
	if (renameat(dfd, temp, dfd, base) < 0) {
		rc = -errno;
		bl_error_set(err, rc, path, "cannot rename the temporary file over it: %s", bl_strerror(rc));
		goto err_unlink;
	}
	/* The new content is in place under its name; flushing the directory
	 * makes the rename itself survive a crash. */
	if (fsync(dfd) < 0) {
		rc = -errno;
		return bl_error_set(err, rc, path, "wrote the file but cannot flush its directory: %s",
				    bl_strerror(rc));
	}
	return 0;

err_unlink:
	unlinkat(dfd, temp, 0);
	return rc;
}

static int write_file(const bl_tensor_t *t, int dirfd, const char *path, bl_error_t *err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return bl_error_set(err, BL_EINVAL, path, "the path does not end with a file name");

	void *buf;
	size_t len;
	int rc = bl_npy_encode(&buf, &len, t, err);
	if (rc < 0)
		return with_path(err, rc, path);

	/* "/x.npy" keeps its slash as the directory, which openat2 rejects. */
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir) {
		rc = bl_error_set(err, BL_ENOMEM, path, "out of memory");
		goto err_free_buf;
	}
	int dfd = open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0) {
		rc = open_failed(err, dfd, path, "the directory of the file");
		goto err_free_dir;
	}

	rc = replace_file(dfd, base, buf, len, path, err);

	close(dfd);
err_free_dir:
	free(dir);
err_free_buf:
	free(buf);
	return rc;
}

int bl_npy_write(const bl_tensor_t *t, int dirfd, const char *path, bl_error_t *err)
{
	int saved_errno = errno;
	int rc = write_file(t, dirfd, path, err);
	errno = saved_errno;
	return rc;
}
