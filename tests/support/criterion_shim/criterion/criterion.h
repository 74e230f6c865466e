/*
 * A stand-in for Criterion 2.4's <criterion/criterion.h>, used only by the
 * ThreadSanitizer build.
 *
 * Criterion cannot start under ThreadSanitizer. Its sandbox library, BoxFort,
 * maps a shared arena with MAP_FIXED at random addresses in a range that
 * ThreadSanitizer reserves for its shadow memory, so the test program aborts
 * before any test runs. This header declares the subset of Criterion's C API
 * that our tests use, and ../runner.c runs each test inside the test
 * program's own process. The same test sources build against either: put
 * this folder first on the include path and link runner.c in place of
 * libcriterion.
 *
 * Differences from Criterion:
 * - A test runs in the runner's process. Only tests that set .signal or
 *   .exit_code run in a forked child, so tests of one program run together
 *   (no --filter) share global state. CTest runs each test on its own.
 * - A fatal assertion on a thread the test started cannot unwind the test,
 *   so it reports the failure and ends the whole program. A timeout of a
 *   test in the runner's process also ends the whole program.
 * - A ThreadSanitizer report does not change the line printed for the test.
 *   ThreadSanitizer makes the program exit with 66 instead, which CTest
 *   counts as a failure. The exception is a forked test that ends by its
 *   expected signal, which still passes after a report.
 * - cr_skip_test() in a test that expects a signal reports a skip, where
 *   Criterion reports a failure.
 * - A negative or NaN .timeout fails the test. Criterion leaves it unspecified.
 * - Macros that take an optional message accept at most 31 arguments in all.
 * - .init and .fini may use assertions. A failure in .init skips the test
 *   body, and .fini still runs.
 *
 * Supported:
 * - Test and TestSuite, with the attributes .init, .fini, .signal,
 *   .exit_code, .disabled, .description and .timeout.
 * - cr_assert and cr_expect, alone or with the suffixes _not, _eq, _neq, _lt,
 *   _leq, _gt, _geq, _null, _not_null, _float_eq, _float_neq, _str_eq,
 *   _str_neq, _str_lt, _str_leq, _str_gt, _str_geq, _str_empty,
 *   _str_not_empty, _arr_eq, _arr_neq and _fail.
 * - cr_skip_test, cr_log, cr_log_info, cr_log_warn and cr_log_error.
 */
#ifndef BL_TEST_CRITERION_SHIM_H
#define BL_TEST_CRITERION_SHIM_H

/* Criterion's header provides these to its users, and tests rely on it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BL__CRITERION_PRINTF(format_index, first_arg) \
	__attribute__((format(printf, format_index, first_arg)))

/* ------------------------------------------------------------------------ */
/* Registry                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The attributes a Test() or TestSuite() may set, named as in Criterion.
 * A test's .timeout, .signal and .exit_code override its suite's when they
 * are not zero. Both .init functions run (the suite's first), and both
 * .fini functions run (the test's first).
 */
typedef struct bl__criterion_attributes {
	void (*init)(void);
	void (*fini)(void);
	int signal;
	int exit_code;
	bool disabled;
	const char *description;
	double timeout;
	/* Set by the macros, so that the initializer list is never empty. */
	int end_of_list;
} bl__criterion_attributes_t;

typedef struct bl__criterion_test {
	const char *suite;
	const char *name;
	const char *file;
	int line;
	void (*body)(void);
	bl__criterion_attributes_t attributes;
	/* Written once by the registry, before main() starts. */
	struct bl__criterion_test *next;
} bl__criterion_test_t;

typedef struct bl__criterion_suite {
	const char *name;
	bl__criterion_attributes_t attributes;
	struct bl__criterion_suite *next;
} bl__criterion_suite_t;

/* Add a test or suite to the registry. Called from constructors before
 * main(). The registry borrows the object, which is static. */
void bl__criterion_register_test(bl__criterion_test_t *test);
void bl__criterion_register_suite(bl__criterion_suite_t *suite);

/*
 * Test(suite, name, attributes...) { body }
 *
 * Defines a test and registers it from a constructor. The trailing
 * .end_of_list keeps the attribute list non-empty when no attribute is
 * given, as ISO C requires an argument for "...".
 */
#define Test(...) BL__CRITERION_TEST(__VA_ARGS__, .end_of_list = 0)
#define BL__CRITERION_TEST(Suite, Name, ...)                                            \
	static void bl__criterion_body_##Suite##_##Name(void);                          \
	static bl__criterion_test_t bl__criterion_test_##Suite##_##Name = {             \
		.suite = #Suite,                                                        \
		.name = #Name,                                                          \
		.file = __FILE__,                                                       \
		.line = __LINE__,                                                       \
		.body = bl__criterion_body_##Suite##_##Name,                            \
		.attributes = {__VA_ARGS__},                                            \
	};                                                                              \
	__attribute__((constructor)) static void bl__criterion_add_##Suite##_##Name(void) \
	{                                                                               \
		bl__criterion_register_test(&bl__criterion_test_##Suite##_##Name);      \
	}                                                                               \
	static void bl__criterion_body_##Suite##_##Name(void)

/*
 * TestSuite(suite, attributes...);
 *
 * Sets attributes shared by every test of the suite. It ends with the
 * definition of the suite object, so the caller's semicolon completes it.
 */
#define TestSuite(...) BL__CRITERION_SUITE(__VA_ARGS__, .end_of_list = 0)
#define BL__CRITERION_SUITE(Suite, ...)                                                 \
	static bl__criterion_suite_t bl__criterion_suite_##Suite;                       \
	__attribute__((constructor)) static void bl__criterion_add_suite_##Suite(void)  \
	{                                                                               \
		bl__criterion_register_suite(&bl__criterion_suite_##Suite);             \
	}                                                                               \
	static bl__criterion_suite_t bl__criterion_suite_##Suite = {                    \
		.name = #Suite,                                                         \
		.attributes = {__VA_ARGS__},                                            \
	}

/* ------------------------------------------------------------------------ */
/* Failure reports                                                          */
/* ------------------------------------------------------------------------ */

/*
 * The location and expression of a failed check. `form` is the checked
 * expression, with @1, @2 and @3 standing for the first three macro
 * arguments, whose source text is `source`. Both are NULL for cr_assert_fail.
 */
typedef struct bl__criterion_check {
	const char *file;
	int line;
	const char *form;
	const char *source;
	/* The compared strings of a string check. */
	bool has_strings;
	const char *strings[2];
	/* Left, right and epsilon of a floating-point check. */
	bool has_numbers;
	long double numbers[3];
} bl__criterion_check_t;

/* Print the failure to stderr and end the test as failed. */
_Noreturn void bl__criterion_assert_failed(const bl__criterion_check_t *check);
_Noreturn void bl__criterion_assert_failed_message(const bl__criterion_check_t *check,
						   const char *format, ...)
	BL__CRITERION_PRINTF(2, 3);

/* Print the failure to stderr, mark the test failed and return. */
void bl__criterion_expect_failed(const bl__criterion_check_t *check);
void bl__criterion_expect_failed_message(const bl__criterion_check_t *check, const char *format,
					 ...) BL__CRITERION_PRINTF(2, 3);

/* End the test as skipped, with an optional reason. */
_Noreturn void bl__criterion_skip(const char *file, int line);
_Noreturn void bl__criterion_skip_message(const char *file, int line, const char *format, ...)
	BL__CRITERION_PRINTF(3, 4);

/* Strings compare as strcmp() does, and NULL sorts before every string. */
static inline int bl__criterion_strcmp(const char *left, const char *right)
{
	if (left == NULL || right == NULL)
		return (left != NULL) - (right != NULL);
	return strcmp(left, right);
}

/* Criterion's float_eq test: each difference is at most epsilon. */
static inline bool bl__criterion_within(long double left, long double right, long double epsilon)
{
	return left - right <= epsilon && right - left <= epsilon;
}

/* Criterion's float_neq test: one difference exceeds epsilon. */
static inline bool bl__criterion_apart(long double left, long double right, long double epsilon)
{
	return left - right > epsilon || right - left > epsilon;
}

/* ------------------------------------------------------------------------ */
/* Optional messages                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Every check takes its operands and then, optionally, a printf format and
 * its arguments. The macros below count the arguments to pick a BARE or a
 * MESSAGE expansion, so the format is checked by the compiler and nothing
 * needs an empty format string (-Wformat-zero-length) or a trailing comma.
 */
#define BL__CRITERION_CAT(a, b) BL__CRITERION_CAT_(a, b)
#define BL__CRITERION_CAT_(a, b) a##b

#define BL__CRITERION_ARG32(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, \
			    a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30,  \
			    a31, a32, ...)                                                       \
	a32

#define BL__CRITERION_MESSAGE_X8 MESSAGE, MESSAGE, MESSAGE, MESSAGE, MESSAGE, MESSAGE, MESSAGE, MESSAGE
#define BL__CRITERION_MESSAGE_X28 \
	BL__CRITERION_MESSAGE_X8, BL__CRITERION_MESSAGE_X8, BL__CRITERION_MESSAGE_X8, MESSAGE, MESSAGE, \
		MESSAGE, MESSAGE

/* The extra level lets BL__CRITERION_MESSAGE_X28 expand into 28 arguments
 * before BL__CRITERION_ARG32 counts them. */
#define BL__CRITERION_PICK(...) BL__CRITERION_ARG32(__VA_ARGS__)

/* BARE for exactly N arguments, MESSAGE for more, TOO_FEW for fewer. */
#define BL__CRITERION_FORM1(...) \
	BL__CRITERION_PICK(__VA_ARGS__, BL__CRITERION_MESSAGE_X28, MESSAGE, MESSAGE, BARE, unused)
#define BL__CRITERION_FORM2(...) \
	BL__CRITERION_PICK(__VA_ARGS__, BL__CRITERION_MESSAGE_X28, MESSAGE, BARE, TOO_FEW, unused)
#define BL__CRITERION_FORM3(...) \
	BL__CRITERION_PICK(__VA_ARGS__, BL__CRITERION_MESSAGE_X28, BARE, TOO_FEW, TOO_FEW, unused)

/*
 * BARE when the argument list is empty, MESSAGE otherwise. The list is
 * empty only if it has no comma, does not start with parentheses, is not
 * a function-like macro name, and BL__CRITERION_COMMA_IF_CALLED followed by
 * the list and "()" yields a comma. A list that ends in the name of a
 * function-like macro is misread; a format string never does.
 */
#define BL__CRITERION_HAS_COMMA(...) \
	BL__CRITERION_PICK(__VA_ARGS__, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, \
			   1, 1, 1, 1, 1, 1, 1, 1, 1, 0, unused)
#define BL__CRITERION_COMMA_IF_CALLED(...) ,
#define BL__CRITERION_FORM0(...)                                                              \
	BL__CRITERION_FORM0_OF(BL__CRITERION_HAS_COMMA(__VA_ARGS__),                          \
			       BL__CRITERION_HAS_COMMA(BL__CRITERION_COMMA_IF_CALLED __VA_ARGS__), \
			       BL__CRITERION_HAS_COMMA(__VA_ARGS__()),                        \
			       BL__CRITERION_HAS_COMMA(BL__CRITERION_COMMA_IF_CALLED __VA_ARGS__()))
#define BL__CRITERION_FORM0_OF(comma, parenthesized, macro, called) \
	BL__CRITERION_FORM0_OF_(comma, parenthesized, macro, called)
#define BL__CRITERION_FORM0_OF_(comma, parenthesized, macro, called) \
	BL__CRITERION_PICK(BL__CRITERION_EMPTY_IF_##comma##parenthesized##macro##called,   \
			   BL__CRITERION_MESSAGE_X28, MESSAGE, BARE, MESSAGE, unused)
#define BL__CRITERION_EMPTY_IF_0001 ,

#define BL__CRITERION_SITE(Form, Source) .file = __FILE__, .line = __LINE__, .form = Form, .source = Source

/* `Report` is bl__criterion_assert_failed or bl__criterion_expect_failed. */
#define BL__CRITERION_UNARY_BARE(Report, Prefix, Suffix, Form, Source, Value)      \
	do {                                                                       \
		if (!(Prefix(Value) Suffix))                                       \
			Report(&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}); \
	} while (0)
#define BL__CRITERION_UNARY_MESSAGE(Report, Prefix, Suffix, Form, Source, Value, ...) \
	do {                                                                          \
		if (!(Prefix(Value) Suffix))                                          \
			Report##_message(                                             \
				&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}, \
				__VA_ARGS__);                                         \
	} while (0)

#define BL__CRITERION_BINARY_BARE(Report, Op, Form, Source, Left, Right)           \
	do {                                                                       \
		if (!((Left)Op(Right)))                                            \
			Report(&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}); \
	} while (0)
#define BL__CRITERION_BINARY_MESSAGE(Report, Op, Form, Source, Left, Right, ...)     \
	do {                                                                         \
		if (!((Left)Op(Right)))                                              \
			Report##_message(                                            \
				&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}, \
				__VA_ARGS__);                                        \
	} while (0)
#define BL__CRITERION_BINARY_TOO_FEW(...) \
	_Static_assert(0, "this Criterion check needs two operands before its message")

/* Both string forms keep the left and right strings for the report. */
#define BL__CRITERION_STRING_BARE(Report, Op, Form, Source, Left, Right)                   \
	do {                                                                               \
		const char *bl__criterion_left = (Left);                                   \
		const char *bl__criterion_right = (Right);                                 \
		if (!(bl__criterion_strcmp(bl__criterion_left, bl__criterion_right) Op 0)) \
			Report(&(const bl__criterion_check_t){                             \
				BL__CRITERION_SITE(Form, Source),                          \
				.has_strings = true,                                   \
				.strings = {bl__criterion_left, bl__criterion_right}});    \
	} while (0)
#define BL__CRITERION_STRING_MESSAGE(Report, Op, Form, Source, Left, Right, ...)           \
	do {                                                                               \
		const char *bl__criterion_left = (Left);                                   \
		const char *bl__criterion_right = (Right);                                 \
		if (!(bl__criterion_strcmp(bl__criterion_left, bl__criterion_right) Op 0)) \
			Report##_message(                                                  \
				&(const bl__criterion_check_t){                            \
					BL__CRITERION_SITE(Form, Source),                  \
					.has_strings = true,                                   \
				.strings = {bl__criterion_left, bl__criterion_right}}, \
				__VA_ARGS__);                                              \
	} while (0)
#define BL__CRITERION_STRING_TOO_FEW BL__CRITERION_BINARY_TOO_FEW

/* `Holds` is bl__criterion_within or bl__criterion_apart. */
#define BL__CRITERION_FLOAT_BARE(Report, Holds, Form, Source, Left, Right, Epsilon)    \
	do {                                                                           \
		long double bl__criterion_left = (Left);                               \
		long double bl__criterion_right = (Right);                             \
		long double bl__criterion_epsilon = (Epsilon);                         \
		if (!Holds(bl__criterion_left, bl__criterion_right, bl__criterion_epsilon)) \
			Report(&(const bl__criterion_check_t){                         \
				BL__CRITERION_SITE(Form, Source),                      \
				.has_numbers = true,                                   \
				.numbers = {bl__criterion_left, bl__criterion_right,   \
					    bl__criterion_epsilon}});                  \
	} while (0)
#define BL__CRITERION_FLOAT_MESSAGE(Report, Holds, Form, Source, Left, Right, Epsilon, ...) \
	do {                                                                                \
		long double bl__criterion_left = (Left);                                    \
		long double bl__criterion_right = (Right);                                  \
		long double bl__criterion_epsilon = (Epsilon);                              \
		if (!Holds(bl__criterion_left, bl__criterion_right, bl__criterion_epsilon)) \
			Report##_message(                                                   \
				&(const bl__criterion_check_t){                             \
					BL__CRITERION_SITE(Form, Source),                   \
					.has_numbers = true,                                \
					.numbers = {bl__criterion_left, bl__criterion_right, \
						    bl__criterion_epsilon}},                \
				__VA_ARGS__);                                               \
	} while (0)
#define BL__CRITERION_FLOAT_TOO_FEW(...) \
	_Static_assert(0, "this Criterion check needs three operands before its message")

#define BL__CRITERION_ARRAY_BARE(Report, Op, Form, Source, Left, Right, Size)      \
	do {                                                                       \
		if (!(memcmp((Left), (Right), (Size))Op 0))                        \
			Report(&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}); \
	} while (0)
#define BL__CRITERION_ARRAY_MESSAGE(Report, Op, Form, Source, Left, Right, Size, ...) \
	do {                                                                          \
		if (!(memcmp((Left), (Right), (Size))Op 0))                           \
			Report##_message(                                             \
				&(const bl__criterion_check_t){BL__CRITERION_SITE(Form, Source)}, \
				__VA_ARGS__);                                         \
	} while (0)
#define BL__CRITERION_ARRAY_TOO_FEW BL__CRITERION_FLOAT_TOO_FEW

#define BL__CRITERION_FAIL_BARE(Report, ...) \
	Report(&(const bl__criterion_check_t){.file = __FILE__, .line = __LINE__})
#define BL__CRITERION_FAIL_MESSAGE(Report, ...) \
	Report##_message(&(const bl__criterion_check_t){.file = __FILE__, .line = __LINE__}, __VA_ARGS__)

/*
 * Each public check stringizes its own arguments (#__VA_ARGS__), because
 * only there are they still the source text, before macro expansion.
 */
#define BL__CRITERION_UNARY(Report, Prefix, Suffix, Form, Source, ...)                            \
	BL__CRITERION_CAT(BL__CRITERION_UNARY_, BL__CRITERION_FORM1(__VA_ARGS__))(Report, Prefix, \
										  Suffix, Form,   \
										  Source,         \
										  __VA_ARGS__)
#define BL__CRITERION_BINARY(Report, Op, Form, Source, ...) \
	BL__CRITERION_CAT(BL__CRITERION_BINARY_, BL__CRITERION_FORM2(__VA_ARGS__))(Report, Op, Form, \
										   Source, __VA_ARGS__)
#define BL__CRITERION_STRING(Report, Op, Form, Source, ...) \
	BL__CRITERION_CAT(BL__CRITERION_STRING_, BL__CRITERION_FORM2(__VA_ARGS__))(Report, Op, Form, \
										   Source, __VA_ARGS__)
#define BL__CRITERION_FLOAT(Report, Holds, Form, Source, ...) \
	BL__CRITERION_CAT(BL__CRITERION_FLOAT_, BL__CRITERION_FORM3(__VA_ARGS__))(Report, Holds,     \
										  Form, Source,      \
										  __VA_ARGS__)
#define BL__CRITERION_ARRAY(Report, Op, Form, Source, ...) \
	BL__CRITERION_CAT(BL__CRITERION_ARRAY_, BL__CRITERION_FORM3(__VA_ARGS__))(Report, Op, Form, \
										  Source, __VA_ARGS__)
#define BL__CRITERION_FAIL(Report, ...) \
	BL__CRITERION_CAT(BL__CRITERION_FAIL_, BL__CRITERION_FORM0(__VA_ARGS__))(Report, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

/* cr_assert_* end the test on failure, and cr_expect_* mark it failed and go on. */
#define BL__CRITERION_ASSERT bl__criterion_assert_failed
#define BL__CRITERION_EXPECT bl__criterion_expect_failed

#define cr_assert(...) BL__CRITERION_UNARY(BL__CRITERION_ASSERT, , , "@1", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect(...) BL__CRITERION_UNARY(BL__CRITERION_EXPECT, , , "@1", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_not(...) \
	BL__CRITERION_UNARY(BL__CRITERION_ASSERT, !, , "!(@1)", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_not(...) \
	BL__CRITERION_UNARY(BL__CRITERION_EXPECT, !, , "!(@1)", #__VA_ARGS__, __VA_ARGS__)

#define cr_assert_null(...) \
	BL__CRITERION_UNARY(BL__CRITERION_ASSERT, , == NULL, "@1 == NULL", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_null(...) \
	BL__CRITERION_UNARY(BL__CRITERION_EXPECT, , == NULL, "@1 == NULL", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_not_null(...) \
	BL__CRITERION_UNARY(BL__CRITERION_ASSERT, , != NULL, "@1 != NULL", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_not_null(...) \
	BL__CRITERION_UNARY(BL__CRITERION_EXPECT, , != NULL, "@1 != NULL", #__VA_ARGS__, __VA_ARGS__)

#define cr_assert_eq(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, ==, "@1 == @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_eq(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, ==, "@1 == @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_neq(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, !=, "@1 != @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_neq(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, !=, "@1 != @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_lt(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, <, "@1 < @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_lt(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, <, "@1 < @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_leq(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, <=, "@1 <= @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_leq(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, <=, "@1 <= @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_gt(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, >, "@1 > @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_gt(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, >, "@1 > @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_geq(...) BL__CRITERION_BINARY(BL__CRITERION_ASSERT, >=, "@1 >= @2", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_geq(...) BL__CRITERION_BINARY(BL__CRITERION_EXPECT, >=, "@1 >= @2", #__VA_ARGS__, __VA_ARGS__)

#define cr_assert_float_eq(...)                                                                 \
	BL__CRITERION_FLOAT(BL__CRITERION_ASSERT, bl__criterion_within, "|@1 - @2| <= @3",      \
			    #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_float_eq(...)                                                                 \
	BL__CRITERION_FLOAT(BL__CRITERION_EXPECT, bl__criterion_within, "|@1 - @2| <= @3",      \
			    #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_float_neq(...) \
	BL__CRITERION_FLOAT(BL__CRITERION_ASSERT, bl__criterion_apart, "|@1 - @2| > @3", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_float_neq(...) \
	BL__CRITERION_FLOAT(BL__CRITERION_EXPECT, bl__criterion_apart, "|@1 - @2| > @3", #__VA_ARGS__, __VA_ARGS__)

#define cr_assert_str_eq(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, ==, "strcmp(@1, @2) == 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_eq(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, ==, "strcmp(@1, @2) == 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_neq(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, !=, "strcmp(@1, @2) != 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_neq(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, !=, "strcmp(@1, @2) != 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_lt(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, <, "strcmp(@1, @2) < 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_lt(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, <, "strcmp(@1, @2) < 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_leq(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, <=, "strcmp(@1, @2) <= 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_leq(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, <=, "strcmp(@1, @2) <= 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_gt(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, >, "strcmp(@1, @2) > 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_gt(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, >, "strcmp(@1, @2) > 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_geq(...) \
	BL__CRITERION_STRING(BL__CRITERION_ASSERT, >=, "strcmp(@1, @2) >= 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_geq(...) \
	BL__CRITERION_STRING(BL__CRITERION_EXPECT, >=, "strcmp(@1, @2) >= 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_empty(...) \
	BL__CRITERION_UNARY(BL__CRITERION_ASSERT, , [0] == '\0', "@1[0] == '\\0'", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_empty(...) \
	BL__CRITERION_UNARY(BL__CRITERION_EXPECT, , [0] == '\0', "@1[0] == '\\0'", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_str_not_empty(...) \
	BL__CRITERION_UNARY(BL__CRITERION_ASSERT, , [0] != '\0', "@1[0] != '\\0'", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_str_not_empty(...) \
	BL__CRITERION_UNARY(BL__CRITERION_EXPECT, , [0] != '\0', "@1[0] != '\\0'", #__VA_ARGS__, __VA_ARGS__)

#define cr_assert_arr_eq(...) \
	BL__CRITERION_ARRAY(BL__CRITERION_ASSERT, ==, "memcmp(@1, @2, @3) == 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_arr_eq(...) \
	BL__CRITERION_ARRAY(BL__CRITERION_EXPECT, ==, "memcmp(@1, @2, @3) == 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_arr_neq(...) \
	BL__CRITERION_ARRAY(BL__CRITERION_ASSERT, !=, "memcmp(@1, @2, @3) != 0", #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_arr_neq(...) \
	BL__CRITERION_ARRAY(BL__CRITERION_EXPECT, !=, "memcmp(@1, @2, @3) != 0", #__VA_ARGS__, __VA_ARGS__)

/* cr_assert_fail([format, ...]) and cr_expect_fail([format, ...]). */
#define cr_assert_fail(...) BL__CRITERION_FAIL(BL__CRITERION_ASSERT, __VA_ARGS__)
#define cr_expect_fail(...) BL__CRITERION_FAIL(BL__CRITERION_EXPECT, __VA_ARGS__)

/* cr_skip_test([format, ...]) ends the test as skipped, and the runner exits with 77. */
#define cr_skip_test(...) \
	BL__CRITERION_CAT(BL__CRITERION_SKIP_, BL__CRITERION_FORM0(__VA_ARGS__))(__VA_ARGS__)
#define BL__CRITERION_SKIP_BARE(...) bl__criterion_skip(__FILE__, __LINE__)
#define BL__CRITERION_SKIP_MESSAGE(...) bl__criterion_skip_message(__FILE__, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

/* Severities as Criterion names them. Info lines appear only with --verbose. */
enum criterion_severity {
	CR_LOG_INFO,
	CR_LOG_WARNING,
	CR_LOG_ERROR,
};

/* Print one log line to stderr, prefixed by its severity. */
void cr_log(enum criterion_severity severity, const char *format, ...) BL__CRITERION_PRINTF(2, 3);

#define cr_log_info(...) cr_log(CR_LOG_INFO, __VA_ARGS__)
#define cr_log_warn(...) cr_log(CR_LOG_WARNING, __VA_ARGS__)
#define cr_log_error(...) cr_log(CR_LOG_ERROR, __VA_ARGS__)

#endif
