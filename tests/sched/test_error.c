#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <beamline/error.h>

Test(sched_error, set_fills_every_part)
{
	bl_error_t err;

	int rc = bl_error_set(&err, BL_EFORMAT, "params.k", "expected %d", 3);

	cr_assert_eq(rc, BL_EFORMAT);
	cr_assert_eq(err.code, BL_EFORMAT);
	cr_assert_str_eq(err.field, "params.k");
	cr_assert_str_eq(err.message, "expected 3");
}

Test(sched_error, set_without_field_is_empty)
{
	bl_error_t err;

	bl_error_set(&err, -ENOENT, NULL, "gone");

	cr_assert_str_eq(err.field, "");
}

Test(sched_error, set_cuts_long_message)
{
	bl_error_t err;
	char long_text[BL_ERROR_MESSAGE_MAX * 2];
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';

	bl_error_set(&err, BL_EINVAL, NULL, "%s", long_text);

	cr_assert_eq(strlen(err.message), BL_ERROR_MESSAGE_MAX - 1);
}

Test(sched_error, prefix_goes_in_front)
{
	bl_error_t err;
	bl_error_set(&err, BL_EFORMAT, "shape", "bad shape");

	bl_error_prefix(&err, "line %d: ", 7);

	cr_assert_str_eq(err.message, "line 7: bad shape");
	cr_assert_str_eq(err.field, "shape", "the field must not change");
	cr_assert_eq(err.code, BL_EFORMAT, "the code must not change");
}

/* A message pushed past the buffer keeps the whole prefix and loses its
 * end. */
Test(sched_error, prefix_cuts_the_message_end)
{
	bl_error_t err;
	char long_text[BL_ERROR_MESSAGE_MAX];
	memset(long_text, 'm', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	bl_error_set(&err, BL_EINVAL, NULL, "%s", long_text);

	bl_error_prefix(&err, "abc: ");

	cr_assert_eq(strlen(err.message), BL_ERROR_MESSAGE_MAX - 1);
	cr_assert_eq(strncmp(err.message, "abc: mmm", 8), 0, "got '%.16s...'", err.message);
}

/* A prefix longer than the buffer fills it alone, still terminated. */
Test(sched_error, prefix_longer_than_buffer)
{
	bl_error_t err;
	char long_prefix[BL_ERROR_MESSAGE_MAX * 2];
	memset(long_prefix, 'p', sizeof long_prefix - 1);
	long_prefix[sizeof long_prefix - 1] = '\0';
	bl_error_set(&err, BL_EINVAL, NULL, "tail");

	bl_error_prefix(&err, "%s", long_prefix);

	cr_assert_eq(strlen(err.message), BL_ERROR_MESSAGE_MAX - 1);
	cr_assert_null(strstr(err.message, "tail"));
}

Test(sched_error, prefix_on_null_is_ignored)
{
	bl_error_prefix(NULL, "x");
}

Test(sched_error, strerror_covers_both_ranges)
{
	cr_assert_str_eq(bl_err_name(-ENOENT), "ENOENT");
	cr_assert_str_eq(bl_err_name(BL_ELIMIT), "BL_ELIMIT");
	cr_assert_not_null(bl_strerror(-123456));
	cr_assert_str_eq(bl_err_name(-123456), "UNKNOWN");
}
