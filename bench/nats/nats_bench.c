/*
 * beamline-nats-bench: the bare-NATS halves of bench/nats/run, and the
 * client side of its engine halves.
 *
 *   baseline URL N      a work-queue stream like BEAMLINE_JOBS, N no-op jobs
 *                       published, then timed: fetch in batches, publish a
 *                       result with Nats-Msg-Id and wait for its ack, ack the
 *                       job. Prints jobs per second.
 *   publish URL N       publish N no-op jobs to beamline.jobs.v1.bench.
 *   results URL N       wait for N messages in BEAMLINE_RESULTS; prints jobs
 *                       per second from the first result to the Nth.
 *   echo URL            a bare responder on bench.echo (queue group), until killed.
 *   latency URL SUBJECT N
 *                       N sequential requests of a no-op job to SUBJECT, each
 *                       with a new id; prints p50 and p99 in microseconds.
 *
 * It uses the same NATS layer (nats/) as the engine for JetStream, so the
 * baseline measures what the engine adds on top of that layer.
 */
#define _DEFAULT_SOURCE /* usleep */

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include <beamline/js.h>
#include <beamline/nats.h>

#define BATCH 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bl_nats_t *connect_to(const char *url)
{
	const char *urls[] = {url};
	bl_nats_config_t cfg = {.urls = urls, .nurls = 1};
	bl_nats_error_t err = {0};
	bl_nats_t *nats = NULL;
	if (bl_nats_connect(&nats, &cfg, &err) < 0) {
		fprintf(stderr, "beamline-nats-bench: cannot connect to %s: %s\n", url, err.error.message);
		exit(1);
	}
	return nats;
}

static void die(const char *what, const bl_nats_error_t *err)
{
	fprintf(stderr, "beamline-nats-bench: %s: %s\n", what, err->error.message);
	exit(1);
}

static void publish_jobs(bl_nats_t *nats, const char *subject, long n)
{
	char job[256], id[64];
	bl_nats_error_t err = {0};
	for (long i = 0; i < n; i++) {
		snprintf(id, sizeof id, "b%ld", i);
		snprintf(job, sizeof job,
			 "{\"id\":\"%s\",\"tenant\":\"bench\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}", id);
		bl_js_publish_opts_t opts = {.msg_id = id};
		if (bl_js_publish(nats, subject, job, strlen(job), &opts, NULL, &err) < 0)
			die("publish", &err);
	}
}

static int cmd_baseline(const char *url, long n)
{
	bl_nats_t *nats = connect_to(url);
	bl_nats_error_t err = {0};
	const char *job_subjects[] = {"bench.jobs.>"};
	const char *result_subjects[] = {"bench.results.>"};
	bl_js_stream_config_t jobs = {.name = "BENCH_JOBS", .subjects = job_subjects, .nsubjects = 1,
				      .retention = BL_JS_RETENTION_WORKQUEUE, .duplicate_window_ns = 120000000000};
	bl_js_stream_config_t results = {.name = "BENCH_RESULTS", .subjects = result_subjects, .nsubjects = 1,
					 .duplicate_window_ns = 120000000000, .allow_direct = true};
	bl_js_consumer_config_t consumer = {.stream = "BENCH_JOBS", .durable = "bench", .ack_wait_ns = 30000000000};
	if (bl_js_stream_ensure(nats, &jobs, NULL, &err) < 0 || bl_js_stream_ensure(nats, &results, NULL, &err) < 0 ||
	    bl_js_consumer_ensure(nats, &consumer, NULL, &err) < 0)
		die("setup", &err);
	publish_jobs(nats, "bench.jobs.bench", n);

	bl_js_puller_t *puller = NULL;
	bl_js_msg_t *msgs[BATCH];
	if (bl_js_puller_new(&puller, nats, "BENCH_JOBS", "bench", &err) < 0)
		die("puller", &err);
	double start = now_s();
	long done = 0;
	while (done < n) {
		int got = bl_js_fetch(puller, msgs, BATCH, 500, &err);
		if (got < 0)
			die("fetch", &err);
		for (int i = 0; i < got; i++) {
			char subject[64], id[32], line[160];
			snprintf(id, sizeof id, "%" PRIu64, bl_js_msg_meta(msgs[i])->stream_seq);
			snprintf(subject, sizeof subject, "bench.results.bench.%s", id);
			snprintf(line, sizeof line, "{\"id\":\"%s\",\"tenant\":\"bench\",\"status\":\"ok\",\"result\":{}}", id);
			bl_js_publish_opts_t opts = {.msg_id = id};
			if (bl_js_publish(nats, subject, line, strlen(line), &opts, NULL, &err) < 0)
				die("publish result", &err);
			bl_js_ack(msgs[i], NULL);
			bl_js_msg_free(msgs[i]);
		}
		done += got;
	}
	double took = now_s() - start;
	printf("baseline_jobs_per_s %.1f\n", (double)n / took);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
	return 0;
}

static uint64_t results_count(bl_nats_t *nats)
{
	bl_js_stream_state_t st = {0};
	return bl_js_stream_state(nats, "BEAMLINE_RESULTS", &st, NULL) == 0 ? st.messages : 0;
}

static int cmd_results(const char *url, long n)
{
	bl_nats_t *nats = connect_to(url);
	double first = 0;
	uint64_t at_first = 0, count;
	while ((count = results_count(nats)) < (uint64_t)n) {
		if (count > 0 && first == 0) {
			first = now_s();
			at_first = count;
		}
		usleep(1000);
	}
	double took = now_s() - first;
	printf("engine_jobs_per_s %.1f\n", first > 0 && took > 0 ? (double)(count - at_first) / took : 0.0);
	bl_nats_free(nats);
	return 0;
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)sub;
	(void)closure;
	const char *line = "{\"id\":\"x\",\"tenant\":\"bench\",\"status\":\"ok\",\"result\":{\"outputs\":{}}}";
	if (natsMsg_GetReply(msg))
		natsConnection_PublishString(nc, natsMsg_GetReply(msg), line);
	natsMsg_Destroy(msg);
}

/* A plain cnats connection that sends each reply at once (no flusher delay). */
static int cmd_echo(const char *url)
{
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, url) != NATS_OK ||
	    natsOptions_SetSendAsap(opts, true) != NATS_OK || natsConnection_Connect(&nc, opts) != NATS_OK ||
	    natsConnection_QueueSubscribe(&sub, nc, "bench.echo", "bench", on_echo, NULL) != NATS_OK) {
		fprintf(stderr, "beamline-nats-bench: cannot serve bench.echo on %s\n", url);
		return 1;
	}
	natsConnection_Flush(nc);
	printf("echo_ready\n");
	fflush(stdout);
	pause();
	return 0;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_latency(const char *url, const char *subject, long n)
{
	bl_nats_t *nats = connect_to(url);
	double *us = calloc((size_t)n, sizeof *us);
	char job[256];
	static long run;
	run = (long)getpid();
	for (long i = 0; i < n; i++) {
		natsMsg *reply = NULL;
		snprintf(job, sizeof job,
			 "{\"id\":\"l%ld-%ld\",\"tenant\":\"bench\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}", run,
			 i);
		double start = now_s();
		natsStatus s = natsConnection_RequestString(&reply, bl_nats_raw(nats), subject, job, 5000);
		us[i] = (now_s() - start) * 1e6;
		if (s != NATS_OK) {
			fprintf(stderr, "beamline-nats-bench: request %ld to %s failed: %s\n", i, subject, natsStatus_GetText(s));
			return 1;
		}
		if (i == n - 1 && getenv("BENCH_SHOW_REPLY"))
			fprintf(stderr, "last reply: %.*s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
		natsMsg_Destroy(reply);
	}
	qsort(us, (size_t)n, sizeof *us, compare_double);
	printf("p50_us %.1f p99_us %.1f\n", us[n / 2], us[(size_t)((double)n * 0.99)]);
	free(us);
	bl_nats_free(nats);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "baseline") == 0)
		return cmd_baseline(argv[2], atol(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "publish") == 0) {
		bl_nats_t *nats = connect_to(argv[2]);
		publish_jobs(nats, "beamline.jobs.v1.bench", atol(argv[3]));
		bl_nats_free(nats);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "results") == 0)
		return cmd_results(argv[2], atol(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "echo") == 0)
		return cmd_echo(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "latency") == 0)
		return cmd_latency(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: beamline-nats-bench baseline|publish|results URL N\n"
			"       beamline-nats-bench echo URL\n"
			"       beamline-nats-bench latency URL SUBJECT N\n");
	return 2;
}
