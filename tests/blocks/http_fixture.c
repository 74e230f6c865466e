/* The http block's test fixture: the server process and the runtime. */
#define _GNU_SOURCE /* pipe2 */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_fixture.h"

#define SERVER_SCRIPT BL_SOURCE_DIR "/tests/support/http_server.py"

double http_fixture_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void exec_server(int in, int out)
{
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	execlp("python3", "python3", SERVER_SCRIPT, (char *)NULL);
	_exit(127);
}

/* Read the "PORTS a b c" line within 20 s. */
static void read_ports(http_server_t *s, int fd)
{
	char line[128] = {0};
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (len < sizeof line - 1 && !strchr(line, '\n')) {
		cr_assert_gt(poll(&p, 1, 20000), 0, "the test server did not report its ports within 20 s");
		ssize_t n = read(fd, line + len, sizeof line - 1 - len);
		cr_assert_gt(n, 0, "the test server exited before reporting its ports (is python3 installed?)");
		len += (size_t)n;
	}
	cr_assert_eq(sscanf(line, "PORTS %d %d %d", &s->port, &s->other_port, &s->hole_port), 3,
		     "unexpected first line from the test server: %s", line);
}

void http_server_start(http_server_t *s)
{
	int in[2], out[2];

	if (system("command -v python3 >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not installed; the http tests need it for their server");
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	fflush(NULL);
	s->pid = fork();
	cr_assert_geq(s->pid, 0, "fork failed");
	if (s->pid == 0)
		exec_server(in[0], out[1]);
	close(in[0]);
	close(out[1]);
	s->stdin_fd = in[1];
	read_ports(s, out[0]);
	close(out[0]);
}

void http_server_stop(http_server_t *s)
{
	if (s->pid <= 0)
		return;
	close(s->stdin_fd);
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

void http_fixture_init(http_fixture_t *f, const char *config_json)
{
	bl_pool_config_t cfg;
	bl_error_t err = {0};
	json_error_t jerr;

	memset(f, 0, sizeof *f);
	cr_assert_eq(bl_runtime_new(&f->rt), 0);
	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = 2;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(f->rt, &cfg, &f->io);
	if (rc == -ENOSYS || rc == -EPERM) {
		bl_runtime_free(&f->rt);
		cr_skip_test("the kernel refuses io_uring: %s", bl_strerror(rc));
	}
	cr_assert_eq(rc, 0, "cannot start the I/O pool: %s", bl_strerror(rc));

	json_t *section = json_loads(config_json ? config_json : "{\"allow\": [\"127.0.0.1/32\"]}", 0, &jerr);
	cr_assert_not_null(section, "bad test config: %s", jerr.text);
	rc = bl_http_service_new(&f->services.http, section, f->io, &err);
	json_decref(section);
	cr_assert_eq(rc, 0, "cannot make the http service: %s", err.message);

	f->hook = bl_cancel_hook_new(&f->cancel);
	cr_assert_not_null(f->hook);
	f->env.io_pool = f->io;
	f->env.services = &f->services;
	f->env.cancel_hook = f->hook;
	f->env.cancel = &f->cancel;
	f->env.data_dir = -1;
	f->env.corr_id = "test";
	f->env.tenant = "t";
	f->env.job_id = "job";
	http_server_start(&f->server);
}

void http_fixture_fini(http_fixture_t *f)
{
	http_server_stop(&f->server);
	bl_http_service_stop(f->services.http);
	bl_runtime_free(&f->rt);
	bl_http_service_free(&f->services.http);
	bl_cancel_hook_free(&f->hook);
}

/* Replace every `name` in `text` with `port`; returns a new string. */
static char *put_port(const char *text, const char *name, int port)
{
	char number[16];
	size_t count = 0;

	snprintf(number, sizeof number, "%d", port);
	for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
		count++;
	char *out = malloc(strlen(text) + count * strlen(number) + 1);
	cr_assert_not_null(out);
	char *o = out;
	for (const char *p = text; *p;) {
		if (strncmp(p, name, strlen(name)) == 0) {
			o = stpcpy(o, number);
			p += strlen(name);
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static json_t *load_params(http_fixture_t *f, const char *params_json)
{
	json_error_t jerr;
	char *a = put_port(params_json, "OTHER", f->server.other_port);
	char *b = put_port(a, "HOLE", f->server.hole_port);
	char *c = put_port(b, "PORT", f->server.port);
	json_t *params = json_loads(c, 0, &jerr);

	cr_assert_not_null(params, "bad test params %s: %s", c, jerr.text);
	free(a);
	free(b);
	free(c);
	return params;
}

struct http_waiter {
	bl_latch_t latch;
	bl_block_outcome_t *outcome;
	json_t *params;
};

static void on_done(void *ctx, bl_block_outcome_t *outcome)
{
	http_waiter_t *w = ctx;
	w->outcome = outcome;
	bl_latch_count_down(&w->latch);
}

http_waiter_t *http_fixture_start(http_fixture_t *f, const char *params_json)
{
	bl_error_t err = {0};
	uint64_t mem = 0;
	http_waiter_t *w = calloc(1, sizeof *w);
	const bl_block_t *block = bl_block_find("http");

	cr_assert_not_null(w);
	cr_assert_not_null(block, "no http block in the registry");
	w->params = load_params(f, params_json);
	int rc = block->prepare(w->params, &f->env, &mem, &err);
	cr_assert_eq(rc, 0, "prepare refused %s: %s (%s)", params_json, err.message, err.field);

	bl_latch_init(&w->latch, 1);
	cr_assert_eq(block->start(w->params, &f->env, on_done, w), 0);
	return w;
}

bl_block_outcome_t *http_fixture_wait(http_waiter_t *w, unsigned cancel_after_ms, bl_cancel_hook_t *hook)
{
	if (cancel_after_ms && bl_latch_wait_for(&w->latch, cancel_after_ms) != 0)
		bl_cancel_hook_fire(hook);
	cr_assert_eq(bl_latch_wait_for(&w->latch, 20000), 0, "no outcome within 20 s");
	bl_block_outcome_t *o = w->outcome;
	json_decref(w->params);
	free(w);
	cr_assert_not_null(o, "the block reported no outcome (out of memory)");
	return o;
}

bl_block_outcome_t *http_fixture_run(http_fixture_t *f, const char *params_json, unsigned cancel_after_ms)
{
	return http_fixture_wait(http_fixture_start(f, params_json), cancel_after_ms, f->hook);
}

int http_fixture_count(http_fixture_t *f, const char *key, double *times, int n)
{
	char params[256];

	snprintf(params, sizeof params, "{\"url\": \"http://127.0.0.1:OTHER/count?key=%s\"}", key);
	bl_block_outcome_t *o = http_fixture_run(f, params, 0);
	cr_assert_eq(o->code, 0, "GET /count failed: %s", o->error.message);

	json_t *body = json_object_get(o->result, "body");
	int count = (int)json_integer_value(json_object_get(body, "count"));
	json_t *list = json_object_get(body, "times");
	for (int i = 0; i < n && i < count; i++)
		times[i] = json_real_value(json_array_get(list, (size_t)i));
	bl_block_outcome_free(&o);
	return count;
}
