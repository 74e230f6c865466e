/*
 * Running a suite's child: what is kept of a standard output larger than
 * CHILD_OUTPUT_MAX. The child is a shell one-liner, so no benchmark runs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "child.h"

/* The child prints 1 MiB more 'a's than the cap allows, then a short
 * "END". The kept output must be the first CHILD_OUTPUT_MAX - 1 bytes,
 * all 'a', and flagged as truncated: the later, smaller write must not be
 * appended after a gap. */
Test(bench_child, large_output_keeps_contiguous_head, .timeout = 60)
{
	char script[256];
	snprintf(script, sizeof script, "head -c %u /dev/zero | tr '\\0' a; printf END",
		 CHILD_OUTPUT_MAX + (1u << 20));
	char *argv[] = {"sh", "-c", script, NULL};
	child_result_t r;

	int rc = child_run(&r, argv, NULL, 50);

	cr_assert_eq(rc, 0, "child_run returned %d", rc);
	cr_expect_eq(r.exit_status, 0, "exit status %d", r.exit_status);
	cr_expect(r.output_truncated, "an output over the cap is not flagged as truncated");
	cr_expect_eq(r.output_len, CHILD_OUTPUT_MAX - 1, "kept %zu bytes, expected %u", r.output_len,
		     CHILD_OUTPUT_MAX - 1);
	cr_expect_eq(strspn(r.output, "a"), r.output_len, "the kept output is not all 'a' up to its end");
	child_result_free(&r);
}

/* An output under the cap is kept whole and not flagged. */
Test(bench_child, small_output_kept_whole, .timeout = 60)
{
	char *argv[] = {"sh", "-c", "printf 'one\\ntwo\\n'", NULL};
	child_result_t r;

	int rc = child_run(&r, argv, NULL, 50);

	cr_assert_eq(rc, 0, "child_run returned %d", rc);
	cr_expect_str_eq(r.output, "one\ntwo\n");
	cr_expect(!r.output_truncated, "a small output is flagged as truncated");
	child_result_free(&r);
}
