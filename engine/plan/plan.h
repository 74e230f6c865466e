/*
 * The capacity planner's steps: calibrate service times on this host,
 * sweep pool sizes and instance counts through the simulation, and check
 * a prediction against a real run. The command (cli/plan.c) strings them
 * together and reports (report.h).
 */
#ifndef BL_ENGINE_PLAN_PLAN_H
#define BL_ENGINE_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>

#include "arrivals.h"
#include "sim.h"
#include "workload.h"

/* Offered load at or above this never drains: such sizes are not simulated. */
#define BL_PLAN_LOAD_MAX 0.98

typedef struct bl_plan_calibration {
	bl_plan_samples_t *samples; /* one per mix entry; owned */
	size_t entry_count;
	size_t jobs;                /* jobs run, warm-up ones included */
	double wall_s;
	double other_cores;         /* cores other processes kept busy meanwhile; -1: unknown */
	double other_core_s;        /* the same as core-seconds, summed over the tenants' runs */
} bl_plan_calibration_t;

/*
 * Run calibration_samples + 1 jobs of each mix entry through the engine,
 * one at a time on one CPU worker, and keep each entry's run times but the
 * first (a cold start). With calibration_spacing_ms above 0, the jobs are
 * fed that far apart, so that a core idles between them as it does under
 * real traffic. A job that runs longer than that delays the next.
 * Returns 0 with *out filled (free with bl_plan_calibration_free), or a
 * negative code with *err: a failed job names its mix entry ("mix[1].job")
 * and the engine's error.
 */
int bl_plan_calibrate(bl_plan_calibration_t *out, const bl_plan_workload_t *w, bl_error_t *err);

void bl_plan_calibration_free(bl_plan_calibration_t *c);

/* One configuration of the sweep. */
typedef struct bl_plan_point {
	unsigned instances;
	unsigned cpu_workers;   /* per instance */
	unsigned io_workers;    /* per instance */
	unsigned cores;         /* instances * (cpu_workers + io_workers when the mix has I/O) */
	double offered_load;    /* compute work over CPU worker time; the busier of CPU and I/O */
	bool simulated;         /* false when offered_load >= BL_PLAN_LOAD_MAX */
	bl_plan_sim_result_t result;
} bl_plan_point_t;

typedef struct bl_plan_sweep {
	bl_plan_point_t *points; /* owned; by instances, then I/O workers, then CPU workers */
	size_t count;
	int recommended;         /* index of the fewest cores meeting the target, or -1 */
	int best;                /* index of the lowest p99 simulated, or -1 */
	double target_p99_ms;
} bl_plan_sweep_t;

typedef struct bl_plan_limits {
	double target_p99_ms;    /* > 0 */
	unsigned max_cores;      /* >= 1 */
	unsigned max_instances;  /* >= 1 */
} bl_plan_limits_t;

/*
 * Simulate `jobs` (borrowed) at every size within *lim and pick the
 * recommendation: the fewest cores whose p99 meets the target without
 * rejecting a job, then the fewest instances, then the lower p99. Returns 0 with *out filled (free
 * with bl_plan_sweep_free); out->recommended is -1 when no size meets
 * the target. Else BL_EINVAL or BL_ENOMEM with *err.
 */
int bl_plan_sweep_run(bl_plan_sweep_t *out, const bl_plan_workload_t *w, const bl_plan_job_t *jobs, size_t count,
		      const bl_plan_limits_t *lim, bl_error_t *err);

void bl_plan_sweep_free(bl_plan_sweep_t *s);

/*
 * Pick up to two one-instance points to check against real runs on a host
 * with `cores_here` cores. The first choice is the recommendation when it
 * has one instance. Else it is the one-instance point with the fewest
 * cores that meets the target, else the one with the lowest p99. The
 * second is the size one CPU worker smaller, or else one larger. Points
 * that need more cores than the host has are left out. Returns how many indices went into
 * `out`; *primary gets the first choice's index even when it does not
 * fit (-1 when nothing was simulated at one instance).
 */
size_t bl_plan_validation_points(const bl_plan_sweep_t *s, unsigned cores_here, int out[2], int *primary);

/* One mix entry's service time during calibration and during a real run. */
typedef struct bl_plan_entry_drift {
	size_t jobs;               /* the real run's jobs of this entry that succeeded */
	double calibrated_mean_ms;
	double calibrated_p50_ms;
	double real_mean_ms;       /* NaN when jobs is 0 */
	double real_p50_ms;
	double change;             /* (real mean - calibrated mean) / calibrated mean; NaN when jobs is 0 */
} bl_plan_entry_drift_t;

/* A prediction next to a real run of one instance. */
typedef struct bl_plan_check {
	unsigned cpu_workers;
	double predicted_p50_ms;  /* the sweep's */
	double predicted_p99_ms;
	double same_jobs_p99_ms;  /* the simulation of exactly the jobs the real run had */
	double real_p50_ms;
	double real_p99_ms;
	/* A 95% confidence interval of the real p99: the wider of a block
	 * bootstrap over the latencies in arrival order (p99_interval.c),
	 * which keeps runs of slow jobs together, and the order statistics'
	 * interval, which holds for independent latencies. The p99 of 600
	 * jobs is the 6th largest, and which jobs land there varies from one
	 * sample of traffic to the next. */
	double real_p99_low_ms;
	double real_p99_high_ms;
	double error;             /* (predicted - real) / real, of the p99 */
	size_t jobs;
	size_t failed;
	double wall_s;
	double other_cores;       /* cores other processes kept busy meanwhile; -1: unknown */
	/* Relative change of the work per job from calibration to the real
	 * run, with each entry's p50 service time summed by share. NaN when
	 * unknown. A host whose cores change speed shows here, while
	 * other_cores stays near 0. service_drift_mean is the same over the
	 * means, which also count the real run's waits for a busy CPU worker. */
	double service_drift;
	double service_drift_mean;
	/* The simulation of the same jobs, each service time moved by the
	 * change of its entry's p50 from calibration to the real run. */
	double shifted_p99_ms;
	bl_plan_entry_drift_t *entries; /* one per mix entry; owned (bl_plan_check_free) */
	size_t entry_count;
} bl_plan_check_t;

/*
 * Replay validation_jobs jobs through the engine and compare their p99
 * latency with the prediction of the sweep's point `predicted` (borrowed).
 * The jobs are drawn with `seed`, with arrival times from `trace_s` as
 * bl_plan_arrivals_make takes them (NULL for Poisson). The engine runs one
 * instance with the point's workers, and each job is fed at its arrival
 * time. It also compares each entry's service times in the real run
 * with calibration's. Returns 0 with *out filled (free with
 * bl_plan_check_free), or a negative code with *err when the run could
 * not proceed or no job succeeded.
 */
int bl_plan_validate(bl_plan_check_t *out, const bl_plan_workload_t *w, const bl_plan_calibration_t *cal,
		     const bl_plan_point_t *predicted, const double *trace_s, size_t trace_count, uint64_t seed,
		     bl_error_t *err);

/* Free the per-entry figures that bl_plan_validate allocated in *c. A
 * zeroed check is fine too. */
void bl_plan_check_free(bl_plan_check_t *c);

#endif
