/*
 * The admin endpoint's config section: listen addresses (loopback only
 * unless allowed), the token file and the body limit, each error naming
 * its key.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "admin.h"

static int parse(const char *json, bl_admin_config_t *cfg, bl_error_t *err)
{
	json_t *section = json_loads(json, 0, NULL);
	cr_assert_not_null(section, "bad test JSON: %s", json);
	int rc = bl_admin_config_parse(cfg, section, err);
	json_decref(section);
	return rc;
}

/* Each bad section fails naming the key at fault. */
Test(engine_admin_config, bad_sections_name_the_key)
{
	static const struct {
		const char *json;
		const char *field;
	} bad[] = {
		{"{}", "admin.token_file"},
		{"{\"token_file\": \"\"}", "admin.token_file"},
		{"{\"token_file\": \"t\", \"listen\": \"localhost:80\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"127.0.0.1\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"127.0.0.1:70000\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"127.0.0.1:x\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"[::1:0\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"0.0.0.0:8481\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"[::]:8481\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": \"192.168.1.5:8481\"}", "admin.listen"},
		{"{\"token_file\": \"t\", \"listen\": 8481}", "admin.listen"},
		{"{\"token_file\": \"t\", \"allow_non_loopback\": \"yes\"}", "admin.allow_non_loopback"},
		{"{\"token_file\": \"t\", \"metrics_require_token\": 1}", "admin.metrics_require_token"},
		{"{\"token_file\": \"t\", \"max_body_bytes\": 1}", "admin.max_body_bytes"},
		{"{\"token_file\": \"t\", \"port\": 1}", "admin.port"},
		{"[]", "admin"},
	};
	bl_admin_config_t cfg;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bl_error_t err = {0};
		int rc = parse(bad[i].json, &cfg, &err);
		cr_assert_lt(rc, 0, "%s was accepted", bad[i].json);
		cr_assert_str_eq(err.field, bad[i].field, "%s: %s", bad[i].json, err.message);
	}
}

/* Loopback addresses of both families pass, and so does any address
 * once allow_non_loopback is true; the default is 127.0.0.1, port 0. */
Test(engine_admin_config, loopback_and_allowed_addresses)
{
	bl_admin_config_t cfg;
	bl_error_t err = {0};

	cr_assert_eq(parse("{\"token_file\": \"t\"}", &cfg, &err), 0, "%s", err.message);
	cr_assert_str_eq(cfg.host, "127.0.0.1");
	cr_assert_eq(cfg.port, 0);
	int other_loopback = parse("{\"token_file\": \"t\", \"listen\": \"127.9.9.9:8481\"}", &cfg, &err);
	cr_assert_eq(other_loopback, 0, "%s", err.message);
	cr_assert_eq(cfg.port, 8481);
	cr_assert_eq(parse("{\"token_file\": \"t\", \"listen\": \"[::1]:8481\"}", &cfg, &err), 0, "%s", err.message);
	cr_assert(cfg.ipv6);
	cr_assert_str_eq(cfg.host, "::1");
	cr_assert_eq(parse("{\"token_file\": \"t\", \"listen\": \"0.0.0.0:8481\", \"allow_non_loopback\": true}", &cfg,
			   &err),
		     0, "%s", err.message);
}

/* /metrics is open by default, as Prometheus scrapes loopback without a
 * token; "metrics_require_token": true closes it. */
Test(engine_admin_config, metrics_token_is_optional)
{
	bl_admin_config_t cfg;
	bl_error_t err = {0};

	cr_assert_eq(parse("{\"token_file\": \"t\"}", &cfg, &err), 0, "%s", err.message);
	cr_expect_not(cfg.metrics_require_token);
	cr_assert_eq(parse("{\"token_file\": \"t\", \"metrics_require_token\": true}", &cfg, &err), 0, "%s",
		     err.message);
	cr_expect(cfg.metrics_require_token);
}
