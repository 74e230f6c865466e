#include <criterion/criterion.h>
#include <string.h>

#include <beamline/js.h>

/* The form of servers before 2.9: stream, consumer, then five numbers. */
Test(nats_meta, old_form_parses)
{
	char buf[256];
	bl_js_meta_t meta;

	int rc = bl_js_meta_parse(&meta, buf, sizeof buf, "$JS.ACK.JOBS.worker.2.17.5.1700000000123456789.3");

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(meta.domain, "");
	cr_assert_str_eq(meta.stream, "JOBS");
	cr_assert_str_eq(meta.consumer, "worker");
	cr_assert_eq(meta.delivered, 2);
	cr_assert_eq(meta.stream_seq, 17);
	cr_assert_eq(meta.consumer_seq, 5);
	cr_assert_eq(meta.timestamp_ns, 1700000000123456789LL);
	cr_assert_eq(meta.pending, 3);
}

/* The newer form puts a domain ("_" for none) and an account hash first and a random token last. */
Test(nats_meta, new_form_parses_with_and_without_domain)
{
	char buf[256];
	bl_js_meta_t meta;

	int rc = bl_js_meta_parse(&meta, buf, sizeof buf,
				  "$JS.ACK.hub.ACCHASH.JOBS.worker.1.9.4.1700000000000000000.0.xyz");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(meta.domain, "hub");
	cr_assert_str_eq(meta.stream, "JOBS");
	cr_assert_str_eq(meta.consumer, "worker");
	cr_assert_eq(meta.delivered, 1);
	cr_assert_eq(meta.stream_seq, 9);
	cr_assert_eq(meta.consumer_seq, 4);
	cr_assert_eq(meta.pending, 0);

	rc = bl_js_meta_parse(&meta, buf, sizeof buf, "$JS.ACK._.ACCHASH.S.c.1.2.3.4.5.r");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(meta.domain, "", "\"_\" means no domain, got \"%s\"", meta.domain);
	cr_assert_eq(meta.pending, 5);
}

/* Anything else is rejected rather than read with shifted fields. */
Test(nats_meta, malformed_subjects_rejected)
{
	static const char *bad[] = {
		"$JS.ACK.JOBS.worker.2.17.5.1700.3.x",     /* 10 tokens */
		"$JS.ACK.d.h.JOBS.worker.2.17.5.1700.3",  /* 11 tokens */
		"$JS.ACK.JOBS.worker.2.17.5.1700",        /* 8 tokens */
		"$JS.NAK.JOBS.worker.2.17.5.1700.3",      /* wrong prefix */
		"$JS.ACK.JOBS.worker.x.17.5.1700.3",      /* not a number */
		"$JS.ACK.JOBS.worker.-2.17.5.1700.3",     /* negative */
		"$JS.ACK.JOBS..2.17.5.1700.3",            /* empty token */
		"_INBOX.abc.1",
		"",
	};
	char buf[256];
	bl_js_meta_t meta;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = bl_js_meta_parse(&meta, buf, sizeof buf, bad[i]);
		cr_assert_eq(rc, BL_EFORMAT, "\"%s\": expected BL_EFORMAT, got %d", bad[i], rc);
	}
}

/* The buffer must hold the whole subject; a short one is reported, not overrun. */
Test(nats_meta, short_buffer_rejected)
{
	const char *reply = "$JS.ACK.JOBS.worker.2.17.5.1700.3";
	char buf[64];
	memset(buf, 'z', sizeof buf);
	bl_js_meta_t meta;

	int rc = bl_js_meta_parse(&meta, buf, strlen(reply), reply);

	cr_assert_eq(rc, BL_ELIMIT);
	cr_assert_eq(buf[strlen(reply)], 'z', "nothing may be written past the given size");
}
