/*
 * Base64: round trips for every length, known values, and malformed text
 * refused at the right offset.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/base64.h>

/* Lengths 0 to 300 cover every tail (0, 1, 2 bytes past a multiple of
 * three) and several full 8-byte ASCII words. */
Test(util_codec, base64_round_trips_every_length)
{
	uint8_t data[300], back[300];
	char text[405];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 97 + 13);

	for (size_t n = 0; n <= sizeof data; n++) {
		uint64_t decoded;
		size_t bad_at;
		bl_base64_encode(text, data, n);
		cr_assert_eq(strlen(text), bl_base64_encoded_len(n));
		cr_assert_eq(bl_base64_check(&decoded, text, strlen(text), &bad_at), 0, "length %zu refused at %zu", n,
			     bad_at);
		cr_assert_eq(decoded, n);
		bl_base64_decode(back, text, strlen(text));
		cr_assert_eq(memcmp(back, data, n), 0, "length %zu came back different", n);
	}
}

Test(util_codec, base64_known_values)
{
	char text[16];
	bl_base64_encode(text, (const uint8_t *)"foobar", 6);
	cr_assert_str_eq(text, "Zm9vYmFy");
	bl_base64_encode(text, (const uint8_t *)"fo", 2);
	cr_assert_str_eq(text, "Zm8=");
}

/* Each case names where the first fault is. */
Test(util_codec, base64_refuses_malformed_text)
{
	static const struct {
		const char *text;
		size_t bad_at;
	} cases[] = {
		{"abc", 3},      /* not a multiple of 4 */
		{"ab=c", 2},     /* padding before the end */
		{"a===", 1},     /* three pads */
		{"Zm9=", 2},     /* bits left in the dropped part */
		{"Zm8 ", 3},     /* white space */
		{"Zm8=Zm8=", 3}, /* padding in the middle */
		{"Zm-v", 2},     /* the URL alphabet */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t n;
		size_t bad_at = 999;
		cr_assert_eq(bl_base64_check(&n, cases[i].text, strlen(cases[i].text), &bad_at), -1, "accepted '%s'",
			     cases[i].text);
		cr_assert_eq(bad_at, cases[i].bad_at, "'%s': expected offset %zu, got %zu", cases[i].text,
			     cases[i].bad_at, bad_at);
	}
}

/* The allocating forms agree with the in-place ones and reject what the
 * check rejects. */
Test(util_codec, base64_new_round_trips)
{
	size_t text_len, back_len;
	char *text = bl_base64_encode_new("foob", 4, &text_len);
	cr_assert_str_eq(text, "Zm9vYg==");
	cr_assert_eq(text_len, 8);

	unsigned char *back = bl_base64_decode_new(text, text_len, &back_len);
	cr_assert_not_null(back);
	cr_assert_eq(back_len, 4);
	cr_assert_str_eq((char *)back, "foob");
	cr_assert_null(bl_base64_decode_new("Zm9vY", 5, &back_len));
	cr_assert_null(bl_base64_decode_new("Zm9v Yg==", 9, &back_len));
	free(text);
	free(back);
}
