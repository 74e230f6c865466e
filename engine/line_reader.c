/* Lines of job text (line_reader.h). */
#include "line_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <beamline/error.h>

/* Bytes asked of each read, and the buffer's first size. */
#define READ_BLOCK (64u * 1024u)

void bl_line_reader_init(bl_line_reader_t *r, int fd, size_t max)
{
	*r = (bl_line_reader_t){.fd = fd, .max = max};
}

void bl_line_reader_free(bl_line_reader_t *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

/* Move the unread bytes to the front, and make room for a block more and
 * a NUL. The buffer never grows past a line of max bytes and a block. */
static int make_room(bl_line_reader_t *r)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->cap - r->end > READ_BLOCK / 2)
		return 0;

	size_t cap = r->cap ? r->cap * 2 : READ_BLOCK;
	char *grown = realloc(r->buf, cap);
	if (!grown)
		return BL_ENOMEM;
	r->buf = grown;
	r->cap = cap;
	return 0;
}

/* Read what the input has, up to the room left but one byte for a NUL. */
static int fill(bl_line_reader_t *r)
{
	int rc = make_room(r);
	if (rc < 0)
		return rc;

	ssize_t n;
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return 0;
}

/* Hand out the `len` bytes at r->start as a line, `used` bytes consumed. */
static ssize_t take(bl_line_reader_t *r, char **line, size_t len, size_t used)
{
	*line = r->buf + r->start;
	(*line)[len] = '\0';
	r->start += used;
	return (ssize_t)len;
}

/* Drop a line that was too long, up to `next`, its end. */
static ssize_t drop(bl_line_reader_t *r, char **line, bool *too_long, size_t next)
{
	static char empty[1];

	r->start = next;
	*too_long = true;
	*line = empty;
	return (ssize_t)r->max;
}

ssize_t bl_line_reader_next(bl_line_reader_t *r, char **line, bool *too_long)
{
	size_t searched = 0;

	*too_long = false;
	for (;;) {
		size_t have = r->end - r->start;
		char *nl = have > searched ? memchr(r->buf + r->start + searched, '\n', have - searched) : NULL;
		size_t len = nl ? (size_t)(nl - (r->buf + r->start)) : have;

		if (nl && !*too_long && len <= r->max)
			return take(r, line, len, len + 1);
		if (nl)
			return drop(r, line, too_long, r->start + len + 1);
		if (r->eof && *too_long)
			return drop(r, line, too_long, r->end);
		if (r->eof)
			return have > 0 ? take(r, line, have, have) : -1;

		searched = have;
		if (have > r->max) {
			/* Too long already: forget its bytes, look for its end. */
			*too_long = true;
			r->start = r->end;
			searched = 0;
		}
		int rc = fill(r);
		if (rc < 0) {
			r->error = rc;
			return -1;
		}
	}
}
