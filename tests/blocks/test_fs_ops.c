/*
 * The fs block's operations through the block interface: each happy
 * path, binary content through base64, ranges, the size limits and the
 * tenant quota, overwrite, cancellation, and the "fs" config section.
 */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <beamline/base64.h>

#include "fs_fixture.h"

static const char *str_of(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static json_int_t int_of(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static void run_ok(fs_fixture_t *f, fs_outcome_t *o, const char *params)
{
	fs_fixture_run(f, o, params);
	cr_assert_eq(o->code, 0, "%s failed: %s (%s)", params, o->error.message, o->error.field);
	cr_assert_not_null(o->result);
}

extern const bl_block_t bl__fs_block;

/* The memory estimate that prepare gives a get of `path`. */
static uint64_t get_estimate(fs_fixture_t *f, const char *path)
{
	uint64_t mem = 0;
	bl_error_t err;
	json_t *params = json_pack("{s:s, s:s}", "op", "get", "path", path);

	cr_assert_eq(bl__fs_block.prepare(params, &f->env, &mem, &err), 0, "prepare failed: %s", err.message);
	json_decref(params);
	return mem;
}

/* A tenant with a memory quota gets estimates from the file's size. A
 * tenant without one gets no file lookup and counts no data, and neither
 * does a get of a missing file, whose run reports not_found. */
Test(blocks_fs_ops, get_estimate_reads_size_only_under_quota, .timeout = 60)
{
	fs_fixture_t f;
	char big[1000];
	fs_fixture_init(&f);
	memset(big, 'b', sizeof big);
	fs_write_file(f.tenant, "small.txt", "0123456789", 10);
	fs_write_file(f.tenant, "big.txt", big, sizeof big);

	f.env.device_mem_limit = UINT64_C(1) << 30;
	uint64_t small = get_estimate(&f, "small.txt");
	uint64_t large = get_estimate(&f, "big.txt");
	cr_assert_eq(large - small, (1000 - 10) + (1336 - 16), "data and base64 text: %llu",
		     (unsigned long long)(large - small));

	uint64_t missing = get_estimate(&f, "missing.txt");
	cr_assert_eq(small - missing, 10 + 16, "a missing file counts no data: %llu", (unsigned long long)missing);

	f.env.device_mem_limit = 0;
	cr_assert_eq(get_estimate(&f, "small.txt"), missing);
	cr_assert_eq(get_estimate(&f, "big.txt"), missing);
	fs_fixture_fini(&f);
}

/* With the env's attach_text, a get keeps its content apart from the
 * result's tree; put back in place, the result is the same as without. */
Test(blocks_fs_ops, attached_content_matches_the_tree, .timeout = 60)
{
	const char *gets[] = {"{\"op\":\"get\",\"path\":\"text.txt\"}",
			      "{\"op\":\"get\",\"path\":\"text.txt\",\"offset\":2,\"length\":3}",
			      "{\"op\":\"get\",\"path\":\"text.txt\",\"encoding\":\"base64\"}",
			      "{\"op\":\"get\",\"path\":\"bytes.bin\"}", "{\"op\":\"get\",\"path\":\"empty\"}"};
	fs_fixture_t f;
	fs_outcome_t apart, inside;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "text.txt", "line \"one\"\nzwei\n", 16);
	fs_write_file(f.tenant, "bytes.bin", "\x00\xff\x10", 3);
	fs_write_file(f.tenant, "empty", "", 0);

	for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
		f.env.attach_text = true;
		run_ok(&f, &apart, gets[i]);
		f.env.attach_text = false;
		run_ok(&f, &inside, gets[i]);

		cr_assert(apart.attached, "%s: the content was not kept apart", gets[i]);
		cr_assert_not(inside.attached, "%s: kept apart without attach_text", gets[i]);
		cr_assert(json_equal(apart.result, inside.result), "%s: the results differ", gets[i]);
		fs_outcome_fini(&apart);
		fs_outcome_fini(&inside);
	}
	fs_fixture_fini(&f);
}

/* A text put then a get returns the same text, marked utf8. */
Test(blocks_fs_ops, put_then_get_round_trips_text, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);

	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"notes.txt\",\"content\":\"h\\u00e9llo\\n\"}");
	cr_assert_eq(int_of(o.result, "size"), 7, "é is two bytes: expected 7, got %lld", (long long)int_of(o.result, "size"));
	cr_assert(json_is_true(json_object_get(o.result, "created")));
	fs_outcome_fini(&o);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"notes.txt\"}");
	cr_assert_str_eq(str_of(o.result, "content"), "h\xc3\xa9llo\n");
	cr_assert_str_eq(str_of(o.result, "encoding"), "utf8");
	cr_assert_eq(int_of(o.result, "size"), 7);
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

/* All 256 byte values survive a base64 put and come back as base64,
 * since they are not UTF-8. */
Test(blocks_fs_ops, binary_round_trips_through_base64, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	uint8_t bytes[256];
	fs_fixture_init(&f);
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)(255 - i);
	fs_write_file(f.tenant, "ref.bin", bytes, sizeof bytes);
	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"ref.bin\"}");
	cr_assert_str_eq(str_of(o.result, "encoding"), "base64");
	char *encoded = strdup(str_of(o.result, "content"));
	fs_outcome_fini(&o);

	char params[1024];
	snprintf(params, sizeof params, "{\"op\":\"put\",\"path\":\"copy.bin\",\"encoding\":\"base64\",\"content\":\"%s\"}",
		 encoded);
	run_ok(&f, &o, params);
	cr_assert_eq(int_of(o.result, "size"), 256);
	fs_outcome_fini(&o);

	size_t len;
	char *copy = fs_read_file(f.tenant, "copy.bin", &len);
	cr_assert_eq(len, 256);
	cr_assert_eq(memcmp(copy, bytes, 256), 0, "the copy differs from the original");
	free(copy);
	free(encoded);
	fs_fixture_fini(&f);
}

/* Text may be requested as base64, and a binary file as utf8 fails
 * naming params.encoding. */
Test(blocks_fs_ops, get_honours_the_requested_encoding, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "t.txt", "abc", 3);
	fs_write_file(f.tenant, "b.bin", "\xff\xfe", 2);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"t.txt\",\"encoding\":\"base64\"}");
	cr_assert_str_eq(str_of(o.result, "content"), "YWJj");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"b.bin\",\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_str_eq(o.error_code, "invalid_params");
	fs_fixture_fini(&f);
}

/* A file with NUL bytes comes back as base64. A job that requests text
 * fails on params.encoding, with a message that suggests base64
 * ("a", NUL, "b" is "YQBi"). */
Test(blocks_fs_ops, get_nul_bytes_are_not_text, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "z", "a\0b", 3);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"z\"}");
	cr_assert_str_eq(str_of(o.result, "encoding"), "base64");
	cr_assert_str_eq(str_of(o.result, "content"), "YQBi");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"z\",\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error_code, "invalid_params");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "a NUL byte at offset 1"), "message: %s", o.error.message);
	cr_assert_not_null(strstr(o.error.message, "base64"), "message: %s", o.error.message);
	fs_fixture_fini(&f);
}

/* A range that cuts a multi-byte character is not text, though the file
 * is, so the error names the range, not the whole file. It gives the
 * offset of the first byte that is not text in the file, not in the
 * range. The file is "a", U+20AC, "b", NUL. */
Test(blocks_fs_ops, get_utf8_error_names_the_range, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "euro", "a\xe2\x82\xac" "b\0", 6);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"euro\",\"offset\":1,\"length\":2,\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error_code, "invalid_params");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "bytes 1 to 2 of 'euro'"), "message: %s", o.error.message);
	cr_assert_not_null(strstr(o.error.message, "base64"), "message: %s", o.error.message);
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"euro\",\"offset\":2,\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "from offset 2 (byte 0x82)"), "message: %s", o.error.message);
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"euro\",\"offset\":4,\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "NUL byte at offset 5"), "message: %s", o.error.message);
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"euro\",\"length\":5,\"encoding\":\"utf8\"}");
	cr_assert_eq(o.code, 0, "the first 5 bytes are text: %s", o.error.message);
	cr_assert_str_eq(str_of(o.result, "content"), "a\xe2\x82\xac" "b");
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

/* The error names the first byte that is not text, even where a NUL
 * comes later: 0xFF at offset 0 before the NUL at 4, and a character cut
 * off by the end of the file at offset 3. */
Test(blocks_fs_ops, get_utf8_error_names_the_first_fault, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "ff", "\xff" "abc\0", 5);
	fs_write_file(f.tenant, "cut", "abc\xe2\x82", 5);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"ff\",\"encoding\":\"utf8\"}");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "byte 0xff at offset 0"), "message: %s", o.error.message);
	cr_assert_null(strstr(o.error.message, "NUL"), "message: %s", o.error.message);
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"cut\",\"encoding\":\"utf8\"}");
	cr_assert_not_null(strstr(o.error.message, "byte 0xe2 at offset 3"), "message: %s", o.error.message);
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

/* An unknown encoding is rejected with the value that was given, so
 * "UTF-8" for "utf8" is easy to spot. */
Test(blocks_fs_ops, bad_encoding_is_named, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"a\",\"encoding\":\"UTF-8\"}");
	cr_assert(!o.prepared, "prepare accepted \"UTF-8\"");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "got 'UTF-8'"), "message: %s", o.error.message);
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"a\",\"encoding\":null}");
	cr_assert(!o.prepared, "prepare accepted null");
	cr_assert_str_eq(o.error.field, "params.encoding");
	cr_assert_not_null(strstr(o.error.message, "a non-string value"), "message: %s", o.error.message);
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

/* offset and length select a range. A range past the end is cut to the
 * file, and an offset past the end is an error on params.offset. */
Test(blocks_fs_ops, get_reads_a_range, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "digits", "0123456789", 10);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"digits\",\"offset\":3,\"length\":4}");
	cr_assert_str_eq(str_of(o.result, "content"), "3456");
	cr_assert_eq(int_of(o.result, "size"), 10);
	fs_outcome_fini(&o);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"digits\",\"offset\":8,\"length\":100}");
	cr_assert_str_eq(str_of(o.result, "content"), "89");
	fs_outcome_fini(&o);

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"digits\",\"offset\":10}");
	cr_assert_str_eq(str_of(o.result, "content"), "");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"digits\",\"offset\":11}");
	cr_assert_str_eq(o.error.field, "params.offset");
	fs_fixture_fini(&f);
}

/* Files just under, at and over a page come back whole, as text and as
 * base64: gets of a page or more read into a buffer that starts inside
 * a page, not at its start. */
Test(blocks_fs_ops, get_reads_sizes_around_a_page, .timeout = 60)
{
	static const size_t sizes[] = {4095, 4096, 4097, 8191 + 64};
	fs_fixture_t f;
	fs_outcome_t o;
	char data[8192 + 64];
	fs_fixture_init(&f);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('A' + i % 23);

	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		fs_write_file(f.tenant, "page", data, sizes[k]);
		run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"page\"}");
		cr_assert_eq(int_of(o.result, "length"), (json_int_t)sizes[k]);
		cr_assert_eq(memcmp(str_of(o.result, "content"), data, sizes[k]), 0, "%zu bytes came back different",
			     sizes[k]);
		fs_outcome_fini(&o);

		run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"page\",\"encoding\":\"base64\"}");
		const char *b64 = str_of(o.result, "content");
		size_t back_len = 0;
		unsigned char *back = bl_base64_decode_new(b64, strlen(b64), &back_len);
		cr_assert_not_null(back, "invalid base64 for %zu bytes", sizes[k]);
		cr_assert_eq(back_len, sizes[k]);
		cr_assert_eq(memcmp(back, data, sizes[k]), 0, "%zu bytes came back different in base64", sizes[k]);
		free(back);
		fs_outcome_fini(&o);
	}
	fs_fixture_fini(&f);
}

/* A file larger than the I/O chunk is read and written whole. */
Test(blocks_fs_ops, large_file_round_trips, .timeout = 120)
{
	fs_fixture_t f;
	fs_outcome_t o;
	size_t size = (9u << 20) + 123;
	fs_fixture_init(&f);
	char *data = malloc(size + 1);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	data[size] = '\0';

	json_t *params = json_pack("{s:s, s:s, s:s}", "op", "put", "path", "big", "content", data);
	char *text = json_dumps(params, 0);
	run_ok(&f, &o, text);
	fs_outcome_fini(&o);
	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"big\"}");
	cr_assert_eq(int_of(o.result, "length"), (json_int_t)size);
	cr_assert_eq(memcmp(str_of(o.result, "content"), data, size), 0, "the big file came back different");
	fs_outcome_fini(&o);
	free(text);
	json_decref(params);
	free(data);
	fs_fixture_fini(&f);
}

/* list returns name, type, size and mtime, sorted, without the
 * temporary files of puts, and cuts at max_list_entries. */
Test(blocks_fs_ops, list_describes_entries, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	char dir[400];
	fs_fixture_init(&f);
	snprintf(dir, sizeof dir, "%s/sub", f.tenant);
	mkdir(dir, 0700);
	fs_write_file(f.tenant, "b", "12345", 5);
	fs_write_file(f.tenant, "a", "1", 1);
	fs_write_file(f.tenant, ".bl-put-99-1", "partial", 7);

	run_ok(&f, &o, "{\"op\":\"list\"}");
	json_t *entries = json_object_get(o.result, "entries");
	cr_assert_eq(json_array_size(entries), 3, "expected a, b, sub; got %zu entries", json_array_size(entries));
	cr_assert_str_eq(str_of(json_array_get(entries, 0), "name"), "a");
	cr_assert_str_eq(str_of(json_array_get(entries, 1), "name"), "b");
	cr_assert_eq(int_of(json_array_get(entries, 1), "size"), 5);
	cr_assert_str_eq(str_of(json_array_get(entries, 1), "type"), "file");
	cr_assert_str_eq(str_of(json_array_get(entries, 2), "type"), "dir");
	cr_assert_not_null(strchr(str_of(json_array_get(entries, 0), "mtime"), 'T'));
	cr_assert(json_is_false(json_object_get(o.result, "truncated")));
	fs_outcome_fini(&o);

	f.services.fs.max_list_entries = 2;
	run_ok(&f, &o, "{\"op\":\"list\",\"path\":\".\"}");
	cr_assert_eq(json_array_size(json_object_get(o.result, "entries")), 2);
	cr_assert(json_is_true(json_object_get(o.result, "truncated")));
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"list\",\"path\":\"a\"}");
	cr_assert_str_eq(o.error_code, "not_found");
	fs_fixture_fini(&f);
}

/* A name that is not UTF-8 cannot be a JSON string: the entry gets
 * U+FFFD for each bad byte in "name" and the bytes in "name_base64"
 * (0xFF 0xFE ".bin" is "//4uYmlu"), and the result stays valid JSON. A
 * UTF-8 name gets no name_base64. */
Test(blocks_fs_ops, list_encodes_names_not_utf8, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "ok.txt", "1", 1);
	fs_write_file(f.tenant, "\xff\xfe.bin", "2", 1);

	run_ok(&f, &o, "{\"op\":\"list\"}");
	json_t *entries = json_object_get(o.result, "entries");
	cr_assert_eq(json_array_size(entries), 2);
	json_t *ok = json_array_get(entries, 0);
	json_t *bad = json_array_get(entries, 1);

	cr_assert_str_eq(str_of(ok, "name"), "ok.txt");
	cr_assert_null(json_object_get(ok, "name_base64"));
	cr_assert_not_null(str_of(bad, "name"), "the entry has no name");
	cr_assert_str_eq(str_of(bad, "name"), "\xEF\xBF\xBD\xEF\xBF\xBD.bin");
	cr_assert_str_eq(str_of(bad, "name_base64"), "//4uYmlu");
	char *text = json_dumps(o.result, JSON_COMPACT);
	cr_assert_not_null(text, "the result cannot be written as JSON");
	json_t *again = json_loads(text, 0, NULL);
	cr_assert_not_null(again, "the written result does not parse: %s", text);
	json_decref(again);
	free(text);
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

Test(blocks_fs_ops, stat_describes_a_file, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	char path[400];
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "x", "abc", 3);
	snprintf(path, sizeof path, "%s/x", f.tenant);
	chmod(path, 0640);

	run_ok(&f, &o, "{\"op\":\"stat\",\"path\":\"x\"}");
	cr_assert_str_eq(str_of(o.result, "type"), "file");
	cr_assert_eq(int_of(o.result, "size"), 3);
	cr_assert_str_eq(str_of(o.result, "mode"), "0640");
	fs_outcome_fini(&o);

	run_ok(&f, &o, "{\"op\":\"stat\",\"path\":\"\"}");
	cr_assert_str_eq(str_of(o.result, "type"), "dir");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"stat\",\"path\":\"missing\"}");
	cr_assert_str_eq(o.error_code, "not_found");
	cr_assert_str_eq(o.error.field, "params.path");
	fs_fixture_fini(&f);
}

/* delete removes files and empty folders, and refuses a folder with
 * something in it. */
Test(blocks_fs_ops, delete_removes_files_and_empty_folders, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	char dir[400];
	fs_fixture_init(&f);
	snprintf(dir, sizeof dir, "%s/full", f.tenant);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/empty", f.tenant);
	mkdir(dir, 0700);
	fs_write_file(f.tenant, "full/x", "x", 1);

	run_ok(&f, &o, "{\"op\":\"delete\",\"path\":\"full/x\"}");
	cr_assert_str_eq(str_of(o.result, "type"), "file");
	fs_outcome_fini(&o);
	cr_assert_null(fs_read_file(f.tenant, "full/x", NULL));
	run_ok(&f, &o, "{\"op\":\"delete\",\"path\":\"empty\"}");
	cr_assert_str_eq(str_of(o.result, "type"), "dir");
	fs_outcome_fini(&o);

	fs_write_file(f.tenant, "full/y", "y", 1);
	fs_fixture_run(&f, &o, "{\"op\":\"delete\",\"path\":\"full\"}");
	cr_assert_str_eq(o.error_code, "folder_not_empty");
	fs_fixture_run(&f, &o, "{\"op\":\"delete\",\"path\":\"full/nope\"}");
	cr_assert_str_eq(o.error_code, "not_found");
	fs_fixture_fini(&f);
}

/* overwrite false refuses an existing name and keeps the old file; the
 * default replaces it. */
Test(blocks_fs_ops, overwrite_false_keeps_the_old_file, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "keep", "old", 3);

	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"keep\",\"content\":\"new\",\"overwrite\":false}");
	cr_assert_str_eq(o.error_code, "already_exists");
	char *text = fs_read_file(f.tenant, "keep", NULL);
	cr_assert_str_eq(text, "old");
	free(text);

	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"fresh\",\"content\":\"new\",\"overwrite\":false}");
	fs_outcome_fini(&o);
	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"keep\",\"content\":\"new\"}");
	cr_assert(json_is_false(json_object_get(o.result, "created")));
	fs_outcome_fini(&o);
	text = fs_read_file(f.tenant, "keep", NULL);
	cr_assert_str_eq(text, "new");
	free(text);
	cr_assert_eq(fs_count_names(f.tenant, ".", ".bl-put-"), 0, "a temporary file was left");
	fs_fixture_fini(&f);
}

/* Over max_op_bytes, a put and a get fail with limit_exceeded before any
 * data moves. */
Test(blocks_fs_ops, op_size_limit_is_enforced, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	f.services.fs.max_op_bytes = 4;
	fs_write_file(f.tenant, "five", "12345", 5);

	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"p\",\"content\":\"12345\"}");
	cr_assert_eq(o.code, BL_ELIMIT);
	cr_assert_str_eq(o.error.field, "params.content");
	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"p\",\"encoding\":\"base64\",\"content\":\"MTIzNDU=\"}");
	cr_assert_eq(o.code, BL_ELIMIT, "5 decoded bytes are over 4");
	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"five\"}");
	cr_assert_str_eq(o.error_code, "limit_exceeded");
	cr_assert(!o.rejected);
	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"five\",\"length\":5}");
	cr_assert_eq(o.code, BL_ELIMIT);
	cr_assert_str_eq(o.error.field, "params.length");

	run_ok(&f, &o, "{\"op\":\"get\",\"path\":\"five\",\"length\":4}");
	cr_assert_str_eq(str_of(o.result, "content"), "1234");
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

/* The tenant quota counts every regular file, nested ones included, and
 * a replaced file's old size is not counted twice. A put over the quota
 * ends "rejected" and writes nothing. A delete frees its file's bytes. */
Test(blocks_fs_ops, tenant_quota_rejects_the_put, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	char dir[400];
	fs_fixture_init(&f);
	f.services.fs.max_tenant_bytes = 10;
	snprintf(dir, sizeof dir, "%s/deep", f.tenant);
	mkdir(dir, 0700);
	fs_write_file(f.tenant, "deep/six", "123456", 6);

	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"four\",\"content\":\"1234\"}");
	fs_outcome_fini(&o);
	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"four\",\"content\":\"abcd\"}");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"one\",\"content\":\"1\"}");
	cr_assert_eq(o.code, BL_EQUOTA);
	cr_assert(o.rejected, "a quota refusal must end the job rejected");
	cr_assert_str_eq(o.error_code, "quota_exceeded");
	cr_assert(strstr(o.error.message, "11 bytes"), "message: %s", o.error.message);
	cr_assert_null(fs_read_file(f.tenant, "one", NULL));

	run_ok(&f, &o, "{\"op\":\"delete\",\"path\":\"four\"}");
	fs_outcome_fini(&o);
	run_ok(&f, &o, "{\"op\":\"put\",\"path\":\"one\",\"content\":\"1234\"}");
	fs_outcome_fini(&o);
	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"two\",\"content\":\"1\"}");
	cr_assert_eq(o.code, BL_EQUOTA, "6 + 4 bytes fill the quota of 10");
	fs_fixture_fini(&f);
}

/* A job cancelled before its put runs reports "cancelled", and the
 * temporary file it may have created is gone. The cancel message is
 * handled after the actor's first step, with the first write in flight. */
Test(blocks_fs_ops, cancelled_put_leaves_no_file, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "target", "old", 3);

	bl_cancel_hook_fire(f.hook);
	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"target\",\"content\":\"new\"}");

	cr_assert_eq(o.code, BL_ECANCELED, "got %d: %s", o.code, o.error.message);
	cr_assert_str_eq(o.error_code, "cancelled");
	char *text = fs_read_file(f.tenant, "target", NULL);
	cr_assert_str_eq(text, "old");
	free(text);
	cr_assert_eq(fs_count_names(f.tenant, ".", ""), 3, "expected only ., .. and target");
	fs_fixture_fini(&f);
}

/* A cancel that arrives while a large put is writing cancels the write
 * in flight. The old file stays and no temporary file is left, named or
 * open. The cancel fires once the temporary file has data, with most of
 * the 256 MiB still to write. */
Test(blocks_fs_ops, cancel_during_put_drops_the_temporary_file, .timeout = 120)
{
	fs_fixture_t f;
	fs_outcome_t o;
	size_t size = 256u << 20;
	fs_fixture_init(&f);
	f.services.fs.max_op_bytes = size;
	fs_write_file(f.tenant, "target", "old", 3);
	char *data = malloc(size);
	memset(data, 'z', size);
	json_t *params = json_pack("{s:s, s:s, s:s%}", "op", "put", "path", "target", "content", data, size);
	free(data);

	fs_fixture_run_json(&f, &o, params, fs_put_is_writing);

	cr_assert_eq(o.code, BL_ECANCELED, "got %d: %s", o.code, o.error.message);
	cr_assert(strstr(o.error.message, "during its put"), "not cancelled mid-put: %s", o.error.message);
	char *text = fs_read_file(f.tenant, "target", NULL);
	cr_assert_str_eq(text, "old");
	free(text);
	cr_assert_eq(fs_count_names(f.tenant, ".", ""), 3, "expected only ., .. and target");
	cr_assert(!fs_put_is_writing(&f), "the temporary file is still open");
	json_decref(params);
	fs_fixture_fini(&f);
}

/* Params that do not fit an operation are refused with the field named. */
Test(blocks_fs_ops, bad_params_name_the_field, .timeout = 60)
{
	static const struct {
		const char *params;
		const char *field;
	} cases[] = {
		{"{\"path\":\"a\"}", "params.op"},
		{"{\"op\":\"move\",\"path\":\"a\"}", "params.op"},
		{"{\"op\":\"get\"}", "params.path"},
		{"{\"op\":\"get\",\"path\":7}", "params.path"},
		{"{\"op\":\"get\",\"path\":\"\"}", "params.path"},
		{"{\"op\":\"delete\",\"path\":\".\"}", "params.path"},
		{"{\"op\":\"get\",\"path\":\"a\",\"lenght\":3}", "params.lenght"},
		{"{\"op\":\"get\",\"path\":\"a\",\"offset\":-1}", "params.offset"},
		{"{\"op\":\"list\",\"content\":\"x\"}", "params.content"},
		{"{\"op\":\"put\",\"path\":\"a\"}", "params.content"},
		{"{\"op\":\"put\",\"path\":\"a\",\"content\":\"x\",\"overwrite\":1}", "params.overwrite"},
		{"{\"op\":\"put\",\"path\":\"a\",\"content\":\"abc\",\"encoding\":\"base64\"}", "params.content"},
		{"{\"op\":\"put\",\"path\":\"a\",\"content\":\"ab=c\",\"encoding\":\"base64\"}", "params.content"},
		{"{\"op\":\"put\",\"path\":\"a\",\"content\":\"x\",\"encoding\":\"hex\"}", "params.encoding"},
		{"{\"op\":\"put\",\"path\":\".bl-put-1-1\",\"content\":\"x\"}", "params.path"},
	};
	fs_fixture_t f;
	fs_fixture_init(&f);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		fs_outcome_t o;
		fs_fixture_run(&f, &o, cases[i].params);
		cr_assert(!o.prepared, "prepare accepted %s", cases[i].params);
		cr_assert_str_eq(o.error.field, cases[i].field, "expected %s for %s, got '%s': %s", cases[i].field,
				 cases[i].params, o.error.field, o.error.message);
	}
	fs_fixture_fini(&f);
}

/* A tenant without a folder gets a clear error naming "tenant". */
Test(blocks_fs_ops, tenant_without_folder_is_an_error, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	int fd = f.env.data_dir;
	f.env.data_dir = -1;

	fs_fixture_run(&f, &o, "{\"op\":\"list\"}");
	cr_assert(!o.prepared);
	cr_assert_str_eq(o.error.field, "tenant");
	cr_assert(strstr(o.error.message, "no folder"), "message: %s", o.error.message);
	f.env.data_dir = fd;
	fs_fixture_fini(&f);
}

/* The "fs" config section sets each limit and names a bad key. */
Test(blocks_fs_ops, config_section_sets_limits, .timeout = 60)
{
	bl_block_services_t *s = NULL;
	bl_error_t err = {0};
	json_t *cfg = json_loads("{\"fs\":{\"max_op_bytes\":1024,\"max_tenant_bytes\":0,\"max_list_entries\":7,"
				 "\"max_path_bytes\":100}}",
				 0, NULL);
	bl_services_setup_t setup = {.config = cfg};

	cr_assert_eq(bl_block_services_new(&s, &setup, &err), 0, "%s", err.message);
	cr_assert_eq(s->fs.max_op_bytes, 1024);
	cr_assert_eq(s->fs.max_tenant_bytes, 0);
	cr_assert_eq(s->fs.max_list_entries, 7);
	cr_assert_eq(s->fs.max_path_bytes, 100);
	bl_block_services_stop(s);
	bl_block_services_free(&s);
	json_decref(cfg);

	static const char *const bad[][2] = {
		{"{\"fs\":{\"max_op_bytes\":0}}", "fs.max_op_bytes"},
		{"{\"fs\":{\"max_list_entries\":\"9\"}}", "fs.max_list_entries"},
		{"{\"fs\":{\"max_path_bytes\":5000}}", "fs.max_path_bytes"},
		{"{\"fs\":{\"max_files\":3}}", "fs.max_files"},
		{"{\"fs\":[]}", "fs"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cfg = json_loads(bad[i][0], 0, NULL);
		setup.config = cfg;
		cr_assert_lt(bl_block_services_new(&s, &setup, &err), 0, "accepted %s", bad[i][0]);
		cr_assert_str_eq(err.field, bad[i][1], "expected %s, got %s", bad[i][1], err.field);
		json_decref(cfg);
	}
}

/* Without a config, the documented defaults apply. */
Test(blocks_fs_ops, config_defaults, .timeout = 60)
{
	bl_block_services_t *s = NULL;
	bl_services_setup_t setup = {0};

	cr_assert_eq(bl_block_services_new(&s, &setup, NULL), 0);
	cr_assert_eq(s->fs.max_op_bytes, 16u << 20);
	cr_assert_eq(s->fs.max_tenant_bytes, UINT64_C(1) << 30);
	cr_assert_eq(s->fs.max_list_entries, 1000);
	cr_assert_eq(s->fs.max_path_bytes, 4095);
	bl_block_services_stop(s);
	bl_block_services_free(&s);
}
