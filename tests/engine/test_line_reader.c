/*
 * Lines of job text: split across reads, too long, without a last
 * newline, with NUL bytes inside, and a failing read.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ, usleep */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line_reader.h"

/* The reading end of a pipe with `text` written into it and the writing
 * end closed. */
static int pipe_with(const char *text, size_t len)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) >= 0, true);
	cr_assert_eq(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	return fds[0];
}

static void expect_line(bl_line_reader_t *r, const char *want, size_t want_len)
{
	char *line = NULL;
	bool too_long = true;
	ssize_t len = bl_line_reader_next(r, &line, &too_long);

	cr_assert_eq(len, (ssize_t)want_len, "length %zd, expected %zu", len, want_len);
	cr_assert_not(too_long);
	cr_assert_eq(memcmp(line, want, want_len), 0);
	cr_assert_eq(line[want_len], '\0', "the line ends with a NUL");
}

static void expect_too_long(bl_line_reader_t *r)
{
	char *line = NULL;
	bool too_long = false;

	cr_assert_eq(bl_line_reader_next(r, &line, &too_long), (ssize_t)r->max);
	cr_assert(too_long);
	cr_assert_str_eq(line, "");
}

static void expect_end(bl_line_reader_t *r)
{
	char *line;
	bool too_long;

	cr_assert_eq(bl_line_reader_next(r, &line, &too_long), -1);
	cr_assert_eq(r->error, 0);
}

Test(engine_line_reader, lines_blank_and_last_without_newline)
{
	bl_line_reader_t r;
	int fd = pipe_with("one\n\ntwo\r\nthree", 15);
	bl_line_reader_init(&r, fd, 100);

	expect_line(&r, "one", 3);
	expect_line(&r, "", 0);
	expect_line(&r, "two\r", 4);
	expect_line(&r, "three", 5);
	expect_end(&r);
	bl_line_reader_free(&r);
	close(fd);
}

Test(engine_line_reader, line_over_max_is_dropped_whole)
{
	bl_line_reader_t r;
	int fd = pipe_with("12345\n123456\nok\n1234567", 23);
	bl_line_reader_init(&r, fd, 5);

	expect_line(&r, "12345", 5);
	expect_too_long(&r);
	expect_line(&r, "ok", 2);
	expect_too_long(&r);
	expect_end(&r);
	bl_line_reader_free(&r);
	close(fd);
}

Test(engine_line_reader, nul_bytes_count_in_length)
{
	bl_line_reader_t r;
	int fd = pipe_with("a\0b\n", 4);
	bl_line_reader_init(&r, fd, 100);

	expect_line(&r, "a\0b", 3);
	expect_end(&r);
	bl_line_reader_free(&r);
	close(fd);
}

/* A line of several megabytes, longer than many reads, and one past max
 * that the reader must read through without keeping. */
Test(engine_line_reader, long_lines_across_reads)
{
	size_t n = 3u << 20;
	size_t total = (n + 1) + (n + 2) + 4;
	char *text = malloc(total);
	memset(text, 'x', total);
	text[n] = '\n';
	text[2 * n + 2] = '\n';
	memcpy(text + 2 * n + 3, "end\n", 4);

	char path[] = "/tmp/bl-line-reader-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, text, total), (ssize_t)total);
	lseek(fd, 0, SEEK_SET);

	bl_line_reader_t r;
	bl_line_reader_init(&r, fd, n);
	expect_line(&r, text, n);
	expect_too_long(&r);
	expect_line(&r, "end", 3);
	expect_end(&r);
	cr_assert_leq(r.cap, 2 * n + 2 * 65536, "the buffer held at most a line and a block, not %zu bytes", r.cap);
	bl_line_reader_free(&r);
	close(fd);
	free(text);
}

typedef struct slow_writer {
	int fd;
	const char *text;
} slow_writer_t;

static void *write_slowly(void *arg)
{
	slow_writer_t *w = arg;
	for (const char *p = w->text; *p; p++) {
		cr_assert_eq(write(w->fd, p, 1), 1);
		usleep(200);
	}
	close(w->fd);
	return NULL;
}

Test(engine_line_reader, pipe_written_a_byte_at_a_time)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	slow_writer_t w = {.fd = fds[1], .text = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n"};
	pthread_t thread;
	cr_assert_eq(pthread_create(&thread, NULL, write_slowly, &w), 0);

	bl_line_reader_t r;
	bl_line_reader_init(&r, fds[0], 100);
	expect_line(&r, "{\"id\":\"a\"}", 10);
	expect_line(&r, "{\"id\":\"b\"}", 10);
	expect_end(&r);
	pthread_join(thread, NULL);
	bl_line_reader_free(&r);
	close(fds[0]);
}

Test(engine_line_reader, failed_read_is_reported)
{
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	bl_line_reader_t r;
	char *line;
	bool too_long;

	bl_line_reader_init(&r, fd, 100);
	cr_assert_eq(bl_line_reader_next(&r, &line, &too_long), -1);
	cr_assert_eq(r.error, -EISDIR);
	bl_line_reader_free(&r);
	close(fd);
}
