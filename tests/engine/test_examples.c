#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_harness.h"

#ifndef BL_SOURCE_DIR
#error "BL_SOURCE_DIR must name the source tree"
#endif

static json_t *metric(const harness_t *h, const char *id, const char *name)
{
	json_t *r = harness_result(h, id);
	cr_assert_not_null(r, "no result for %s", id);
	cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "ok", "%s did not succeed", id);
	return json_object_get(json_object_get(json_object_get(r, "result"), "metrics"), name);
}

static double output_number(const harness_t *h, const char *id)
{
	json_t *r = harness_result(h, id);
	cr_assert_not_null(r, "no result for %s", id);
	return json_number_value(json_object_get(json_object_get(json_object_get(r, "result"), "outputs"), "out"));
}

/*
 * The example jobs of examples/jobs.jsonl reach the published or recorded
 * reference figures of examples/README.md, run on a copy of the example
 * tenant's data (so the test writes nothing into the source tree).
 */
Test(engine_examples, example_jobs_reach_reference_figures, .timeout = 300)
{
	harness_t h;
	harness_init(&h);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/demo' && cp -r '%s/examples/tenants/demo' '%s/demo'", h.data, BL_SOURCE_DIR,
		 h.data);
	cr_assert_eq(system(cmd), 0, "cannot copy the example data");
	FILE *f = fopen(BL_SOURCE_DIR "/examples/jobs.jsonl", "r");
	cr_assert_not_null(f, "examples/jobs.jsonl is missing");
	char jobs[16384];
	size_t n = fread(jobs, 1, sizeof jobs - 1, f);
	jobs[n] = '\0';
	fclose(f);

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_eq(json_integer_value(metric(&h, "digits-knn", "correct")), 173, "k-NN must classify 173 of 180");
	cr_assert_float_eq(json_number_value(metric(&h, "digits-knn", "accuracy")), 0.961111, 1e-6);
	cr_assert_float_eq(json_number_value(metric(&h, "iris-kmeans", "inertia")), 78.851441, 1e-5);
	cr_assert_float_eq(json_number_value(metric(&h, "iris-kmeans", "adjusted_rand_index")), 0.730238, 1e-5);
	double ari = json_number_value(metric(&h, "digits-kmeans", "adjusted_rand_index"));
	cr_assert(ari > 0.5 && ari < 0.9, "digits k-means ARI %.3f is far from the recorded 0.67", ari);
	cr_assert_float_eq(output_number(&h, "delay-mean"), 7.7039, 1e-9);
	cr_assert_float_eq(output_number(&h, "delay-min"), -59, 0);
	cr_assert_float_eq(output_number(&h, "delay-max"), 522, 0);
	cr_assert_float_eq(output_number(&h, "distance-mean"), 723.8467, 1e-9);
	cr_assert_eq(json_integer_value(metric(&h, "delay-late-count", "counted")), 4349,
		     "4,349 flights are more than 15 minutes late");
	cr_assert_eq(json_integer_value(metric(&h, "delay-histogram", "counted")), 20000, "every flight is counted");
	harness_fini(&h);
}
