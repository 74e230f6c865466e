/*
 * The files of deploy/, read by the programs that use them. promtool
 * checks the alert rules and the scrape config, nats-server the NATS
 * config, and the engine's config loader both engine configs.
 * check_manifests.py (python3-yaml) checks the Kubernetes manifests and
 * the Containerfile against each other and the repository. The
 * dashboard's and the rules' queries must name only metrics that
 * docs/metrics.md lists.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "serve.h"

#define DEPLOY BL_SOURCE_DIR "/deploy/"

/* Run `command` through the shell; returns its exit status, its output
 * (standard error included) in `out`. */
static int run(const char *command, char *out, size_t size)
{
	char line[2048];
	snprintf(line, sizeof line, "%s 2>&1", command);
	FILE *p = popen(line, "r");
	cr_assert_not_null(p, "cannot run %s", command);
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void need_promtool(void)
{
	struct stat st;
	if (stat(BL_PROMTOOL, &st) != 0)
		cr_skip_test("promtool is missing at %s: the fetch_promtool setup test could not download Debian's "
			     "prometheus package (no apt-get or no mirror); see scripts/fetch-promtool",
			     BL_PROMTOOL);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	char *text = malloc((size_t)size + 1);
	cr_assert_not_null(text);
	cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	return text;
}

/* promtool parses every alert rule and its template (exit 0). */
Test(deploy, alert_rules_pass_promtool, .timeout = 60)
{
	char out[4096];
	need_promtool();

	int rc = run("'" BL_PROMTOOL "' check rules '" DEPLOY "prometheus/alerts.yml'", out, sizeof out);

	cr_expect_eq(rc, 0, "promtool check rules exited %d:\n%s", rc, out);
}

/* The scrape job example is a valid Prometheus config, rules included. */
Test(deploy, scrape_config_passes_promtool, .timeout = 60)
{
	char out[4096];
	need_promtool();

	int rc = run("'" BL_PROMTOOL "' check config '" DEPLOY "prometheus/scrape.yml'", out, sizeof out);

	cr_expect_eq(rc, 0, "promtool check config exited %d:\n%s", rc, out);
}

/* nats-server accepts the config (its -t mode parses and checks it
 * without starting). */
Test(deploy, nats_config_is_valid, .timeout = 30)
{
	char out[4096];
	if (run("command -v nats-server", out, sizeof out) != 0)
		cr_skip_test("nats-server is not installed (Debian package nats-server)");

	int rc = run("nats-server -t -c '" DEPLOY "nats/nats-server.conf'", out, sizeof out);

	cr_expect_eq(rc, 0, "nats-server -t exited %d:\n%s", rc, out);
}

/* systemd accepts the unit: every directive known, every value valid.
 * `verify` also wants the ExecStart program installed, so a copy of the
 * unit that starts /bin/true instead is checked. */
Test(deploy, systemd_unit_verifies, .timeout = 60)
{
	char out[4096], dir[] = "/tmp/bl-unit-XXXXXX", path[64], command[256];
	if (run("command -v systemd-analyze", out, sizeof out) != 0)
		cr_skip_test("systemd-analyze is not installed (Debian package systemd)");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/beamline-engine.service", dir);
	snprintf(command, sizeof command,
		 "sed 's|^ExecStart=/usr/local/bin/beamline-engine|ExecStart=/bin/true|' '%s' > '%s'",
		 DEPLOY "systemd/beamline-engine.service", path);
	cr_assert_eq(run(command, out, sizeof out), 0, "%s", out);

	snprintf(command, sizeof command, "systemd-analyze verify '%s'", path);
	int rc = run(command, out, sizeof out);

	cr_expect_eq(rc, 0, "systemd-analyze verify exited %d:\n%s", rc, out);
	cr_expect_eq(out[0], '\0', "systemd-analyze verify warned:\n%s", out);
	unlink(path);
	rmdir(dir);
}

#define CHECK_MANIFESTS "python3 '" BL_SOURCE_DIR "/tests/deploy/check_manifests.py'"

/* Run check_manifests.py with `args`; skip the test when Python or
 * PyYAML is missing (the script exits 77). */
static int run_check_manifests(const char *args, char *out, size_t size)
{
	char command[1024];
	if (run("command -v python3", out, size) != 0)
		cr_skip_test("python3 is not installed (Debian package python3)");

	snprintf(command, sizeof command, "%s %s '%s'", CHECK_MANIFESTS, args, BL_SOURCE_DIR);
	int rc = run(command, out, size);
	if (rc == 77)
		cr_skip_test("%s", out);
	return rc;
}

/* Load the config at `path` as `beamline-engine serve` does: the "nats"
 * and "engine" sections by the service's loader, then the "admin"
 * section by the admin endpoint's parser, which must listen on
 * `host`:8481. */
static void expect_config_loads(const char *path, const char *host)
{
	bl_serve_config_t cfg;
	bl_error_t err = {0};
	int rc = bl_serve_config_load(&cfg, path, &err);
	cr_expect_eq(rc, 0, "%s: %s: %s", path, err.field, err.message);
	if (rc != 0)
		return;

	bl_admin_config_t admin;
	rc = bl_admin_config_parse(&admin, json_object_get(cfg.services, "admin"), &err);
	cr_expect_eq(rc, 0, "%s: %s: %s", path, err.field, err.message);
	cr_expect_str_eq(admin.host, host, "%s: admin.listen", path);
	cr_expect_eq(admin.port, 8481, "%s: admin.listen", path);
	bl_serve_config_free(&cfg);
}

/* The host config: NATS and the admin endpoint on loopback. */
Test(deploy, host_config_loads)
{
	expect_config_loads(DEPLOY "config/engine.json", "127.0.0.1");
}

/* The ConfigMap's engine.json, taken out of the YAML by
 * check_manifests.py: the admin endpoint on every interface with
 * allow_non_loopback, as the kubelet's probes need. */
Test(deploy, configmap_config_loads, .timeout = 30)
{
	char out[8192], path[] = "/tmp/bl-configmap-XXXXXX";
	int rc = run_check_manifests("engine-config", out, sizeof out);
	cr_assert_eq(rc, 0, "check_manifests.py engine-config exited %d:\n%s", rc, out);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "cannot create %s", path);
	cr_assert_eq(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);

	expect_config_loads(path, "0.0.0.0");
	unlink(path);
}

/* The manifests against each other and the engine's config: kinds and
 * apiVersions, probes on the admin port, the token copied from the
 * Secret, resources, volumes for every path of the config, the HPA's
 * target (check_manifests.py lists each rule). */
Test(deploy, kubernetes_manifests_agree, .timeout = 30)
{
	char out[8192];

	int rc = run_check_manifests("kubernetes", out, sizeof out);

	cr_expect_eq(rc, 0, "check_manifests.py kubernetes exited %d:\n%s", rc, out);
}

/* The Containerfile against the repository and the manifests: Debian 12
 * bases, COPY sources present, the runtime packages of
 * `scripts/install-deps run`, the command, EXPOSE and the user. */
Test(deploy, containerfile_agrees, .timeout = 30)
{
	char out[8192];

	int rc = run_check_manifests("container", out, sizeof out);

	cr_expect_eq(rc, 0, "check_manifests.py container exited %d:\n%s", rc, out);
}

/* Every beamline_engine_* and process_* name a dashboard query or an
 * alert uses is a metric docs/metrics.md lists (a histogram's _bucket
 * series taken back to its name), so a renamed metric
 * cannot leave a dashboard or an alert silently empty. */
Test(deploy, queries_use_documented_metrics)
{
	const char *files[] = {DEPLOY "grafana/beamline-engine.json", DEPLOY "prometheus/alerts.yml"};
	char *docs = read_all(BL_SOURCE_DIR "/docs/metrics.md");
	int checked = 0;

	for (int f = 0; f < 2; f++) {
		char *text = read_all(files[f]);
		for (char *p = text; (p = strpbrk(p, "bp"));) {
			bool ours = strncmp(p, "beamline_engine_", 16) == 0 || strncmp(p, "process_", 8) == 0;
			bool starts_word = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
			if (!ours || !starts_word) {
				p++;
				continue;
			}
			char name[128];
			size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
			snprintf(name, sizeof name, "%.*s", (int)n, p);
			if (n > 7 && strcmp(name + n - 7, "_bucket") == 0)
				name[n - 7] = '\0';
			char quoted[140];
			snprintf(quoted, sizeof quoted, "`%s`", name);
			cr_expect_not_null(strstr(docs, quoted), "%s uses %s, which docs/metrics.md does not list", files[f],
					   name);
			checked++;
			p += n;
		}
		free(text);
	}
	cr_expect_gt(checked, 20, "only %d metric names found in the dashboard and rules", checked);
	free(docs);
}
