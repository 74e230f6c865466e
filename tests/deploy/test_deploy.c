/*
 * The files of deploy/, read by the programs that use them. promtool
 * checks the alert rules and the scrape config, nats-server the NATS
 * config, and the engine's parser the admin sections of the configs. The
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

/* The engine.json embedded in the ConfigMap: the lines after
 * "engine.json: |", without their indentation. Owned. */
static char *configmap_json(void)
{
	char *yaml = read_all(DEPLOY "kubernetes/configmap.yaml");
	char *start = strstr(yaml, "engine.json: |\n");
	cr_assert_not_null(start, "configmap.yaml has no engine.json block");
	char *json = calloc(1, strlen(yaml) + 1);
	char *out = json;
	for (char *line = start + strlen("engine.json: |\n"); *line;) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t indent = strspn(line, " ");
		if (len > 0 && indent < 4)
			break;
		memcpy(out, line + (indent < len ? 4 : len), len - (indent < len ? 4 : len));
		out += len - (indent < len ? 4 : len);
		*out++ = '\n';
		line = end ? end + 1 : line + len;
	}
	free(yaml);
	return json;
}

/* Both engine configs are JSON whose "admin" section the engine accepts:
 * the host one on loopback, the Kubernetes one on every interface with
 * allow_non_loopback, as the probes need. */
Test(deploy, engine_configs_have_valid_admin_sections)
{
	char *texts[] = {read_all(DEPLOY "config/engine.json"), configmap_json()};
	const char *hosts[] = {"127.0.0.1", "0.0.0.0"};

	for (int i = 0; i < 2; i++) {
		json_error_t jerr;
		json_t *doc = json_loads(texts[i], 0, &jerr);
		cr_assert_not_null(doc, "config %d is not JSON: line %d: %s\n%s", i, jerr.line, jerr.text, texts[i]);
		bl_admin_config_t cfg;
		bl_error_t err = {0};
		int rc = bl_admin_config_parse(&cfg, json_object_get(doc, "admin"), &err);
		cr_expect_eq(rc, 0, "config %d: %s: %s", i, err.field, err.message);
		cr_expect_str_eq(cfg.host, hosts[i]);
		cr_expect_eq(cfg.port, 8481);
		json_decref(doc);
		free(texts[i]);
	}
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
