/*
 * The planner against the real engine on the bundled example mix
 * (examples/plan/mix.json): calibrate, sweep, and run the jobs at the
 * recommended size, fed at their arrival times. Every job must succeed,
 * and in builds without AddressSanitizer the predicted p99 must be within
 * 25% of the real one. The real p99 of 600 jobs is itself a sample: the
 * prediction passes when it is within 25% of some value in the real p99's
 * 95% confidence interval (bl_plan_check_t.real_p99_low_ms and high_ms).
 * The real run has 1,800 jobs in such builds, three times the mix's
 * number, to narrow the interval.
 * That interval keeps runs of slow jobs together (p99_interval.c). With
 * an interval that took the latencies as independent, a clean-clone run
 * failed at -32% against an interval of 31.15 to 31.92 ms. Four runs here
 * the same day gave real p99s from 26 to 40 ms.
 *
 * The prediction assumes the cores are the engine's. When other
 * processes keep more than a quarter of a core busy during calibration or
 * the real run, the measured times include them too, so the test is
 * skipped with the figure rather than passed or failed on it. Run it alone
 * (RUN_SERIAL).
 *
 * The prediction also assumes the cores run the jobs at the speed that
 * calibration measured. Some virtual machines change the speed of a core
 * about twofold in streaks of seconds, which no process in the guest
 * shows. When the work per job (check.service_drift) moved by more than
 * SERVICE_DRIFT_MAX between calibration and the real run, the test is
 * skipped with the figures too.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <unistd.h>

#include "plan.h"

#define MIX_PATH BL_SOURCE_DIR "/examples/plan/mix.json"
#define ERROR_MAX 0.25
#define OTHER_CORES_MAX 0.25
/* Measured with release builds on a quiet 2-core VM. With calibration
 * back to back and the k-nearest-neighbour jobs at their calibrated speed
 * (p50 within 10%), service_drift came out at +15% to +17%. Each job of
 * the sub-millisecond entries took 0.15 to 0.3 ms longer when jobs
 * arrived one by one. With those jobs slower it came out at +31% to +95%.
 * With the mix's calibration_spacing_ms of 50 it stayed within 4%. */
#define SERVICE_DRIFT_MAX 0.25
/* Jobs of the real run in builds without AddressSanitizer, where the
 * bound is checked. Three times the mix's 600 make the real p99 the 18th
 * largest latency, and its interval narrower: by about the square root
 * of 3 if the latencies were independent. With 600 jobs, one run's
 * interval was 30.2 to 53.2 ms around a p99 of 31.9 ms. */
#define CHECKED_VALIDATION_JOBS 1800
/* A target that every stable size meets, so the recommendation is the
 * smallest size that keeps up. The mix's own target suits release builds,
 * and a debug build on a busy machine may miss it. */
#define TARGET_MS 1e6

/* Under AddressSanitizer the mix keeps one worker about half busy, so the
 * p99 of 600 jobs moves by a third from one sample of arrivals to the next.
 * In one run the prediction was 33% high, while the simulation of the
 * run's own jobs (91.4 ms) matched the real p99 (90.8 ms). Such builds run
 * the whole plan and check that every job succeeds, and leave the 25% bound
 * to builds without it. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED_BUILD 1
#endif
#endif
#ifndef SANITIZED_BUILD
#define SANITIZED_BUILD 0
#endif

Test(engine_plan_run, predicted_p99_matches_real_run, .timeout = 240)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	bl_plan_workload_t *w = NULL;
	bl_plan_calibration_t cal;
	bl_plan_job_t *jobs = NULL;
	bl_plan_sweep_t sweep;
	bl_plan_check_t check = {0};
	bl_error_t err = {0};
	cr_assert_eq(bl_plan_workload_load(&w, MIX_PATH, &err), 0, "%s: %s", err.field, err.message);
	if (!SANITIZED_BUILD)
		w->validation_jobs = CHECKED_VALIDATION_JOBS;
	cr_assert_eq(bl_plan_calibrate(&cal, w, &err), 0, "calibrate: %s: %s", err.field, err.message);
	int n = bl_plan_arrivals_make(&jobs, w->simulated_jobs, w, cal.samples, NULL, 0, 1, &err);
	cr_assert_gt(n, 0, "arrivals: %s", err.message);
	bl_plan_limits_t lim = {.target_p99_ms = TARGET_MS, .max_cores = 8, .max_instances = 1};
	cr_assert_eq(bl_plan_sweep_run(&sweep, w, jobs, (size_t)n, &lim, &err), 0, "sweep: %s", err.message);
	int recommended = sweep.recommended;
	bl_plan_point_t p = recommended >= 0 ? sweep.points[recommended] : (bl_plan_point_t){0};
	bl_plan_sweep_free(&sweep);
	free(jobs);
	if (recommended < 0) {
		bl_plan_calibration_free(&cal);
		bl_plan_workload_free(&w);
	}
	cr_assert_geq(recommended, 0, "no size up to 8 cores keeps up: the calibrated jobs are too slow for the rate");
	bool fits = online <= 0 || p.cores <= (unsigned)online;

	int rc = fits ? bl_plan_validate(&check, w, &cal, &p, NULL, 0, 2, &err) : 0;
	double other_cores_in_calibration = cal.other_cores;
	bl_plan_calibration_free(&cal);
	bl_plan_workload_free(&w);

	if (!fits)
		cr_skip_test("the recommended %u CPU workers are more than the %ld cores here", p.cpu_workers, online);
	cr_assert_eq(rc, 0, "validate: %s", err.message);
	bl_plan_check_free(&check);
	cr_log_info("%u CPU workers: p99 predicted %.2f ms, real %.2f ms (95%% interval %.2f to %.2f ms), error %+.1f%%, "
		    "same jobs %.2f ms; other processes %.2f cores; work per job %+.1f%% against calibration (by p50), "
		    "shifted p99 %.2f ms",
		    check.cpu_workers, check.predicted_p99_ms, check.real_p99_ms, check.real_p99_low_ms,
		    check.real_p99_high_ms, 100 * check.error, check.same_jobs_p99_ms, check.other_cores,
		    100 * check.service_drift, check.shifted_p99_ms);
	cr_assert_eq(check.failed, 0, "%zu of %zu jobs failed", check.failed, check.jobs);
	cr_assert(isfinite(check.error), "no error figure: real p99 %.3f ms", check.real_p99_ms);
	if (other_cores_in_calibration > OTHER_CORES_MAX)
		cr_skip_test("other processes kept %.2f cores busy during calibration (p99 predicted %.2f ms, real %.2f "
			     "ms); the service times it measured include them",
			     other_cores_in_calibration, check.predicted_p99_ms, check.real_p99_ms);
	if (check.other_cores > OTHER_CORES_MAX)
		cr_skip_test("other processes kept %.2f cores busy during the real run (p99 predicted %.2f ms, real %.2f "
			     "ms); the comparison needs the cores to itself",
			     check.other_cores, check.predicted_p99_ms, check.real_p99_ms);
	if (fabs(check.service_drift) > SERVICE_DRIFT_MAX)
		cr_skip_test("the machine ran the jobs at a different speed than during calibration: work per job %+.1f%% "
			     "by p50, %+.1f%% by mean (p99 predicted %.2f ms, real %.2f ms, %.2f ms with the changed "
			     "service times); the comparison needs the speed that calibration measured",
			     100 * check.service_drift, 100 * check.service_drift_mean, check.predicted_p99_ms,
			     check.real_p99_ms, check.shifted_p99_ms);
	if (SANITIZED_BUILD)
		cr_skip_test("the 25%% bound is checked in builds without AddressSanitizer (p99 predicted %.2f ms, real "
			     "%.2f ms, same jobs %.2f ms, error %+.1f%%)",
			     check.predicted_p99_ms, check.real_p99_ms, check.same_jobs_p99_ms, 100 * check.error);
	/* Within ERROR_MAX of some value in the real p99's 95% interval. */
	double lowest = (1 - ERROR_MAX) * check.real_p99_low_ms;
	double highest = (1 + ERROR_MAX) * check.real_p99_high_ms;
	cr_assert(check.predicted_p99_ms >= lowest && check.predicted_p99_ms <= highest,
		  "p99 predicted %.2f ms, real %.2f ms (95%% interval %.2f to %.2f ms): more than 25%% from every value "
		  "in the interval (error %+.1f%% from the real p99); same jobs %.2f ms, work per job %+.1f%% by p50, "
		  "shifted p99 %.2f ms",
		  check.predicted_p99_ms, check.real_p99_ms, check.real_p99_low_ms, check.real_p99_high_ms,
		  100 * check.error, check.same_jobs_p99_ms, 100 * check.service_drift, check.shifted_p99_ms);
}
