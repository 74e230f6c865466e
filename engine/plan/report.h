/*
 * The planner's output: the calibration summary and the table for a
 * person, an SVG chart of p99 latency and utilisation against pool size,
 * and the whole plan as JSON.
 */
#ifndef BL_ENGINE_PLAN_REPORT_H
#define BL_ENGINE_PLAN_REPORT_H

#include <stdio.h>

#include <beamline/error.h>

#include "plan.h"

/* Print each entry's samples, mean, p50 and p99 service time. */
void bl_plan_print_calibration(FILE *to, const bl_plan_workload_t *w, const bl_plan_calibration_t *c);

/* Print the sweep. For each instance count (and I/O worker count) it shows
 * the sizes up to two past the first that meets the target, and it marks
 * the recommended row. */
void bl_plan_print_table(FILE *to, const bl_plan_workload_t *w, const bl_plan_sweep_t *s, double target_p99_ms);

/* Print one validation: predicted and real p50 and p99, the error, and
 * how far each mix entry's service time moved from calibration's. */
void bl_plan_print_check(FILE *to, const bl_plan_workload_t *w, const bl_plan_check_t *c);

/* Write the chart to `path`. Returns 0 or a negative errno with *err. */
int bl_plan_write_svg(const char *path, const bl_plan_sweep_t *s, double target_p99_ms, bl_error_t *err);

/* Write the plan as one JSON document to `path`: the target, the
 * calibration, every point, the recommendation and the `check_count`
 * validations. Returns 0, a negative errno or BL_ENOMEM with *err. */
int bl_plan_write_json(const char *path, const bl_plan_workload_t *w, const bl_plan_calibration_t *c,
		       const bl_plan_sweep_t *s, double target_p99_ms, const bl_plan_check_t *checks,
		       size_t check_count, bl_error_t *err);

#endif
