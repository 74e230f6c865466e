/*
 * beamline-engine submit JOBS.jsonl --nats URL [--timeout-s N]
 *                 [--output FILE] [--creds FILE]
 *
 * Publishes each job of JOBS.jsonl to the engine's work queue on NATS,
 * then waits for the results the serving engines store, and writes one
 * result line per job in the order they finish (docs/submit.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <beamline/trace.h>

#include "cli.h"
#include "output.h"
#include "submit.h"

static void submit_usage(FILE *to)
{
	fputs("usage: beamline-engine submit JOBS.jsonl --nats URL [--timeout-s N] [--output FILE]\n"
	      "                              [--creds FILE]\n"
	      "\n"
	      "Publishes each job of JOBS.jsonl (\"-\" reads standard input) to the stream\n"
	      "BEAMLINE_JOBS on subject beamline.jobs.v1.<tenant>, with the message id\n"
	      "<tenant>/<id> (a job published again within the stream's duplicate window is\n"
	      "not run again), then writes one result per job, as JSON lines, in the order\n"
	      "they finish: the stored result, a dead-letter entry, or a timeout.\n"
	      "\n"
	      "  --nats URL        the NATS server, e.g. nats://127.0.0.1:4222 (required)\n"
	      "  --timeout-s N     seconds to wait for the results after the last publish\n"
	      "                    (default: 300)\n"
	      "  --output FILE     write the results to FILE (default: standard output)\n"
	      "  --creds FILE      NATS user credentials (JWT and nkey seed)\n"
	      "\n"
	      "Exit status: 0 every job succeeded, 1 some job did not (or had no result in\n"
	      "time), 2 usage error, 3 the command could not run.\n",
	      to);
}

/* Parse the words after "submit". Returns 0, 1 for --help, or -1 after printing why. */
static int parse_submit_options(int argc, char **argv, submit_options_t *o)
{
	for (int i = 2; i < argc; i++) {
		const char *word = argv[i];
		if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
			return 1;
		if (strncmp(word, "--", 2) != 0 || strcmp(word, "-") == 0) {
			if (o->jobs_path) {
				fprintf(stderr, "beamline-engine submit: one jobs file expected, got '%s' and '%s'\n",
					o->jobs_path, word);
				return -1;
			}
			o->jobs_path = word;
			continue;
		}

		const char *value = i + 1 < argc ? argv[++i] : NULL;
		if (!value) {
			fprintf(stderr, "beamline-engine submit: option %s needs a value\n", word);
			return -1;
		}
		char *end;
		if (strcmp(word, "--nats") == 0) {
			o->url = value;
		} else if (strcmp(word, "--output") == 0) {
			o->output_path = value;
		} else if (strcmp(word, "--creds") == 0) {
			o->creds_path = value;
		} else if (strcmp(word, "--timeout-s") == 0) {
			errno = 0;
			o->timeout_s = strtoull(value, &end, 10);
			if (errno || *end || value[0] == '-' || end == value || o->timeout_s > 86400) {
				fprintf(stderr, "beamline-engine submit: --timeout-s: expected seconds from 0 to 86400, "
						"got '%s'\n", value);
				return -1;
			}
		} else {
			fprintf(stderr, "beamline-engine submit: unknown option %s; see beamline-engine submit --help\n",
				word);
			return -1;
		}
	}

	if (!o->jobs_path || !o->url) {
		fprintf(stderr, "beamline-engine submit: missing %s\n", !o->jobs_path ? "the jobs file" : "--nats URL");
		return -1;
	}
	return 0;
}

/* Connect and check that the engine's three streams exist. Returns 0, or
 * a negative code with *err saying what is missing. */
static int connect_engine(submit_t *s, bl_error_t *err)
{
	const char *urls[] = {s->opts->url};
	bl_nats_config_t config = {
		.urls = urls, .nurls = 1, .name = "beamline-engine submit", .creds_file = s->opts->creds_path,
		.max_reconnects = 5,
	};
	bl_nats_error_t nerr = {0};

	int rc = bl_nats_connect(&s->nats, &config, &nerr);
	if (rc < 0)
		return bl_error_set(err, rc, "--nats", "cannot connect to %s: %s", s->opts->url, nerr.error.message);

	const char *streams[] = {SUBMIT_JOBS_STREAM, SUBMIT_RESULTS_STREAM, SUBMIT_DLQ_STREAM};
	for (size_t i = 0; i < 3; i++) {
		bl_js_stream_state_t state;
		rc = bl_js_stream_state(s->nats, streams[i], &state, &nerr);
		if (rc == -ENOENT)
			return bl_error_set(err, rc, "--nats",
					    "%s has no stream %s; start `beamline-engine serve` against it first",
					    s->opts->url, streams[i]);
		if (rc < 0)
			return bl_error_set(err, rc, "--nats", "cannot read the stream %s: %s", streams[i],
					    nerr.error.message);
	}
	return 0;
}

/* Count one more line awaiting `job`'s key; the first one adds the key. */
static int await_job(submit_t *s, const bl_job_t *job, bl_error_t *err)
{
	char key[600];
	snprintf(key, sizeof key, "%s/%s", job->tenant, job->id);
	submit_job_t *awaited = bl_strmap_get(&s->awaited, key);
	if (awaited) {
		awaited->copies++;
		s->waiting++;
		return 0;
	}

	awaited = calloc(1, sizeof *awaited);
	if (awaited) {
		awaited->tenant = strdup(job->tenant);
		awaited->id = strdup(job->id);
	}
	if (!awaited || !awaited->tenant || !awaited->id || bl_strmap_put(&s->awaited, key, awaited) < 0) {
		if (awaited) {
			free(awaited->tenant);
			free(awaited->id);
		}
		free(awaited);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	}
	awaited->copies = 1;
	s->waiting++;
	return 0;
}

/* Publish one parsed job (its text as read) with its message id and trace context. */
static int publish_job(submit_t *s, const bl_job_t *job, const char *text, size_t len, const char *traceparent,
		       bl_error_t *err)
{
	char subject[300], msg_id[600];
	snprintf(subject, sizeof subject, "beamline.jobs.v1.%s", job->tenant);
	snprintf(msg_id, sizeof msg_id, "%s/%s", job->tenant, job->id);
	bl_nats_header_t header = {"traceparent", traceparent};
	bl_js_publish_opts_t opts = {.msg_id = msg_id, .headers = &header, .nheaders = 1};
	bl_js_pub_ack_t ack;
	bl_nats_error_t nerr = {0};

	int rc = bl_js_publish(s->nats, subject, text, len, &opts, &ack, &nerr);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot publish the job to %s: %s", subject, nerr.error.message);
	if (ack.duplicate)
		s->duplicates++;
	else
		s->published++;
	return 0;
}

/* Validate, publish and await one line; a failure becomes its result line. */
static void submit_line(submit_t *s, const char *text, size_t len, unsigned long line_no)
{
	char id[256], tenant[256];
	bl_job_limits_t limits;
	bl_job_t *job = NULL;
	bl_error_t err = {0};
	bl_trace_t trace;

	bl_job_limits_init(&limits);
	int rc = bl_job_parse(&job, text, len, &limits, id, tenant, sizeof id, &err);
	if (rc < 0) {
		bl_error_prefix(&err, "line %lu: ", line_no);
		bl__submit_write_error(s, id, tenant, NULL, "invalid_job", &err, false);
		return;
	}

	rc = bl_trace_continue(&trace, job->traceparent);
	if (rc < 0)
		bl_error_set(&err, rc, NULL, "line %lu: cannot start a trace: %s", line_no, bl_strerror(rc));
	if (rc >= 0)
		rc = bl__submit_watch_tenant(s, job->tenant, &err);
	if (rc >= 0)
		rc = publish_job(s, job, text, len, trace.traceparent, &err);
	if (rc >= 0)
		rc = await_job(s, job, &err);
	if (rc < 0) {
		bl_error_prefix(&err, "line %lu: ", line_no);
		bl__submit_write_error(s, job->id, job->tenant, trace.traceparent, "publish_failed", &err, true);
	}
	bl_job_free(&job);
}

/* Read the jobs file line by line and submit each job. Returns 0 or -errno. */
static int submit_all(submit_t *s, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long line_no = 0;

	while ((len = getline(&line, &cap, in)) >= 0) {
		line_no++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t)len)
			continue;
		s->lines++;
		submit_line(s, line, (size_t)len, line_no);
	}
	int rc = 0;
	if (ferror(in))
		rc = errno ? -errno : -EIO;
	free(line);
	return rc;
}

static void print_summary(const submit_t *s, FILE *to)
{
	fprintf(to, "%llu jobs: %llu published, %llu already in the stream (not run again)\n",
		(unsigned long long)s->lines, (unsigned long long)s->published, (unsigned long long)s->duplicates);
	fprintf(to, "%-12s %10s\n", "status", "jobs");
	for (int st = BL_JOB_OK; st <= BL_JOB_CANCELLED; st++)
		fprintf(to, "%-12s %10llu\n", bl_job_status_name((bl_job_status_t)st),
			(unsigned long long)s->by_status[st]);
}

/* Open the input and the output; returns 0 or a negative code with *err. */
static int open_files(const submit_options_t *o, FILE **in, bl_output_t *output, bl_error_t *err)
{
	struct stat st;

	*in = strcmp(o->jobs_path, "-") == 0 ? stdin : fopen(o->jobs_path, "r");
	if (!*in)
		return bl_error_set(err, -errno, o->jobs_path, "cannot open the jobs file: %s", strerror(errno));
	if (fstat(fileno(*in), &st) != 0 || S_ISDIR(st.st_mode))
		return bl_error_set(err, -EISDIR, o->jobs_path, "the jobs file is a folder; give a file of JSON lines");
	return bl_output_open(output, o->output_path, &st, err);
}

int bl__submit_main(int argc, char **argv)
{
	submit_options_t opts = {.timeout_s = 300, .progress = isatty(STDERR_FILENO)};
	submit_t s = {.opts = &opts};
	bl_output_t output = {0};
	bl_error_t err = {0};
	FILE *in = NULL;

	int parsed = parse_submit_options(argc, argv, &opts);
	if (parsed != 0) {
		submit_usage(parsed > 0 ? stdout : stderr);
		return parsed > 0 ? 0 : EXIT_USAGE;
	}

	int rc = open_files(&opts, &in, &output, &err);
	s.out = output.file;
	if (rc == 0)
		rc = connect_engine(&s, &err);
	if (rc == 0) {
		bl_trace_t tag;
		rc = bl_trace_new(&tag);
		memcpy(s.run_tag, tag.traceparent + 3, 16);
	}
	if (rc == 0)
		rc = submit_all(&s, in);
	if (rc == 0)
		bl__submit_wait(&s);
	else if (!err.message[0])
		bl_error_set(&err, rc, opts.jobs_path, "cannot read the jobs file: %s", strerror(-rc));

	bl__submit_cleanup(&s);
	bl_nats_free(s.nats);
	if (rc == 0 && s.write_error)
		rc = bl_error_set(&err, s.write_error, opts.output_path ? opts.output_path : "output",
				  "cannot write the results: %s", strerror(-s.write_error));
	int close_rc = output.file ? bl_output_close(&output, rc == 0, rc == 0 ? &err : NULL) : 0;
	rc = rc < 0 ? rc : close_rc;
	if (in && in != stdin)
		fclose(in);
	if (rc < 0) {
		fprintf(stderr, "beamline-engine submit: %s%s%s\n", err.field[0] ? err.field : "",
			err.field[0] ? ": " : "", err.message);
		return EXIT_RUN_FAILED;
	}

	print_summary(&s, stderr);
	return s.by_status[BL_JOB_OK] == s.lines ? 0 : EXIT_JOBS_FAILED;
}
