/*
 * The service mode with credentials-file authentication: a nats-server in
 * operator mode, whose keys and JWTs tests/support/nats-keys makes for each
 * test (CTest passes its path in BL_NATS_KEYS), and `beamline-engine serve`
 * connecting with `nats.creds_file`.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve_harness.h"

/* Make the keys in `keys` (a folder under the harness folder), skipping where the generator cannot run. */
static void make_keys(const char *keys)
{
	const char *script = getenv("BL_NATS_KEYS");
	if (!script || access(script, X_OK) != 0)
		cr_skip_test("skipped: BL_NATS_KEYS does not name the executable tests/support/nats-keys");
	if (system("python3 -c 'import cryptography' >/dev/null 2>&1") != 0)
		cr_skip_test("skipped: python3 with the cryptography module (python3-cryptography) is needed");
	cr_assert_eq(mkdir(keys, 0700), 0, "cannot create %s", keys);

	char cmd[PATH_MAX + 160];
	snprintf(cmd, sizeof cmd, "%s %s", script, keys);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

/*
 * Set up what serve_harness_init sets up, with authentication: the server
 * trusts the generated operator, and both the test's connection and the
 * engine's config use the user's credentials file.
 */
static void init_with_creds(serve_harness_t *h)
{
	char keys[600], path[700];
	bl_nats_error_t err = {0};

	memset(h, 0, sizeof *h);
	test_dir_make(h->dir, sizeof h->dir);
	snprintf(keys, sizeof keys, "%s/keys", h->dir);
	make_keys(keys);
	snprintf(path, sizeof path, "%s/operator.conf", keys);
	char *conf = test_file_read(path);
	int rc = bl_test_nats_start_with(&h->server, conf);
	free(conf);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", h->server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server in operator mode: %s", h->server.error);

	snprintf(path, sizeof path, "%s/data", h->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/data/acme", h->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/user.creds", keys);
	snprintf(h->nats_extra, sizeof h->nats_extra, ", \"creds_file\": \"%s\"", path);
	snprintf(h->config_path, sizeof h->config_path, "%s/serve.json", h->dir);
	serve_config_write(h, h->config_path, "");

	const char *urls[] = {h->server.url};
	bl_nats_config_t nc = {.urls = urls, .nurls = 1, .max_reconnects = -1, .creds_file = path};
	rc = bl_nats_connect(&h->nats, &nc, &err);
	cr_assert_eq(rc, 0, "cannot connect with %s: %s", path, err.error.message);
}

/* With nats.creds_file, serve connects to a server in operator mode, creates its streams in
 * the account the JWT names, and a published job comes back as a stored result. */
Test(engine_serve_auth, creds_file_job_end_to_end, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	init_with_creds(&h);
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", NOOP_JOB("c1"), NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	cr_assert_eq(n, 1, "expected 1 result, got %llu", (unsigned long long)n);
	json_t *result = serve_result(&h, "acme", "c1");
	cr_assert_not_null(result, "no result for c1");
	const char *status = json_string_value(json_object_get(result, "status"));
	cr_assert_str_eq(status ? status : "(missing)", "ok", "job c1: status %s", status ? status : "(missing)");
	json_decref(result);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A server that rejects the engine's credentials makes serve exit with status 3, and its
 * log names nats.creds_file. */
Test(engine_serve_auth, rejected_creds_file_exits_3, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	char stranger[700];
	init_with_creds(&h);
	snprintf(stranger, sizeof stranger, "%s/keys/stranger.creds", h.dir);
	snprintf(h.nats_extra, sizeof h.nats_extra, ", \"creds_file\": \"%s\"", stranger);
	serve_config_write(&h, h.config_path, "");
	const char *args[] = {"serve", "--config", h.config_path, "--log-level", "info", NULL};

	child_start(&engine, h.dir, "engine", args);
	bool exited = child_wait(&engine, 20000);

	cr_assert(exited, "serve kept running with rejected credentials");
	cr_assert_eq(engine.status, 3, "expected exit status 3, got %d", engine.status);
	char *log = test_file_read(engine.err_path);
	cr_assert_not_null(strstr(log, "nats.creds_file"), "the log does not name nats.creds_file:\n%s", log);
	free(log);
	serve_harness_fini(&h);
}
