/*
 * Three `beamline-engine serve` instances share the consumer; one is
 * killed with SIGKILL while it runs jobs, and the nats-server restarts
 * once. Every job must still end with exactly one result.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_harness.h"

#define INSTANCES 3
#define JOBS 60

/*
 * Human jobs that no one decides: each waits 300 to 700 ms for its
 * approval to expire, then takes the default decision, so the jobs are in
 * flight long enough for the kill and the restart to catch some of them.
 * The approvals live in the shared bucket, so a job taken again after the
 * kill finds the request its first delivery posted. Each instance still
 * gets a state folder of its own.
 */
Test(engine_serve_cluster, kill_and_restart_lose_nothing, .timeout = 110)
{
	serve_harness_t h;
	engine_child_t engines[INSTANCES];
	char path[700], extra[700], job[512], id[32];
	serve_harness_init(&h, ", \"consumer\": {\"ack_wait_ms\": 2000}", "");
	for (int i = 0; i < INSTANCES; i++) {
		snprintf(path, sizeof path, "%s/serve-%d.json", h.dir, i);
		snprintf(extra, sizeof extra, ", \"state_dir\": \"%s/state-%d\"", h.dir, i);
		serve_config_write(&h, path, extra);
		snprintf(id, sizeof id, "engine-%d", i);
		serve_start_with(&h, &engines[i], id, path);
	}

	for (int i = 0; i < JOBS; i++) {
		snprintf(job, sizeof job,
			 "{\"id\":\"k%d\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":60000,\"params\":{"
			 "\"summary\":\"wait\",\"requested_by\":\"test\",\"expires_in_ms\":%d,\"default_decision\":\"approve\"}}",
			 i, 300 + (i % 5) * 100);
		snprintf(id, sizeof id, "acme/k%d", i);
		serve_publish(&h, "acme", job, id);
	}
	sleep_ms(600);
	child_kill(&engines[0]);
	char *killed_log = test_file_read(engines[0].err_path);
	cr_assert_not_null(strstr(killed_log, "approval_posted"), "the killed engine had taken jobs:\n%s", killed_log);
	free(killed_log);
	sleep_ms(300);
	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "cannot stop nats-server: %s", h.server.error);
	sleep_ms(300);
	cr_assert_eq(bl_test_nats_restart(&h.server), 0, "cannot restart nats-server: %s", h.server.error);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", JOBS, 60000);

	cr_assert_eq(n, JOBS, "expected %d results, got %llu", JOBS, (unsigned long long)n);
	json_t *subjects = serve_result_subjects(&h);
	cr_assert_eq(json_object_size(subjects), JOBS, "one subject per job, got %zu", json_object_size(subjects));
	for (int i = 0; i < JOBS; i++) {
		snprintf(path, sizeof path, "beamline.results.v1.acme.k%d", i);
		json_int_t count = json_integer_value(json_object_get(subjects, path));
		cr_assert_eq(count, 1, "job k%d has %lld results, expected 1", i, (long long)count);
	}
	json_decref(subjects);
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_DLQ"), 0, "no dead letters");
	long long until = now_ms() + 10000;
	while (serve_stream_count(&h, "BEAMLINE_JOBS") > 0 && now_ms() < until)
		sleep_ms(50);
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_JOBS"), 0, "every delivery was acked");

	for (int i = 1; i < INSTANCES; i++) {
		kill(engines[i].pid, SIGTERM);
		cr_assert(child_wait(&engines[i], 15000), "engine %d did not exit after SIGTERM", i);
		cr_assert_eq(engines[i].status, 0, "engine %d exited with %d", i, engines[i].status);
	}
	serve_harness_fini(&h);
}
