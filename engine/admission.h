/*
 * Admission: which queued job runs next, under per-tenant quotas.
 *
 * A plain data structure, not thread-safe: the dispatcher actor owns it and
 * passes the time in.
 *
 * Order. Each tenant has a FIFO queue per priority class. The next job
 * comes from the best class that has an eligible job, where a job's class
 * improves by one for every `ageing_ms` it has waited, so `low` work
 * reaches the front under any flood of `high`. Within that class, tenants
 * take turns by deficit round robin: a tenant's turn buys it `weight` jobs,
 * so under saturation tenants get throughput in proportion to their
 * weights.
 *
 * Eligibility. A tenant is skipped while it runs `max_concurrent` jobs,
 * while its CPU budget (`cpu_ms_per_s`, a token bucket refilled every
 * millisecond and charged with each job's measured CPU time) is spent, or
 * while the memory its running jobs reserved plus the next job's estimate
 * would exceed `mem_bytes`. A job is rejected at enqueue when its tenant
 * already queues `max_queued` jobs, or when its memory estimate alone
 * exceeds `mem_bytes`.
 *
 * Live quotas. bl_admission_set_quota replaces a tenant's quota while jobs
 * are queued and running; running jobs always keep running. Each field
 * takes effect at once, for the next admission decision:
 * - max_concurrent: lowered, no new job of the tenant starts until fewer
 *   than the new value run; raised, queued jobs may start at once.
 * - max_queued: lowered, the jobs already queued stay queued, and new jobs
 *   are rejected until the queue is below the new value.
 * - weight: the next turns of deficit round robin grant the new weight;
 *   credit above it is cut to it.
 * - cpu_ms_per_s: the budget keeps what the tenant has left, at most one
 *   second's worth of the new rate; from unlimited it starts full; 0
 *   lifts the limit.
 * - mem_bytes: running jobs keep their reservation; a queued job starts
 *   only when it fits beside them; a queued job whose estimate alone
 *   exceeds the new value is taken out and handed back, to be rejected.
 */
#ifndef BL_ENGINE_ADMISSION_H
#define BL_ENGINE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>
#include <beamline/job.h>

#include "quota.h"

typedef struct bl_admission bl_admission_t;

/* One queued or running job, as admission sees it. The caller owns the
 * entry; admission links it into its queues while it is queued. */
typedef struct bl_admission_entry {
	struct bl_admission_entry *next; /* queue link, admission's */
	void *job;                       /* the caller's, untouched */
	bl_priority_t priority;
	uint64_t enqueued_ms;
	uint64_t mem_estimate;           /* bytes the job will hold while running */
	struct bl_tenant_state *tenant;  /* admission's */
} bl_admission_entry_t;

typedef struct bl_admission_config {
	uint64_t ageing_ms;         /* wait that improves a job's class by one */
	bl_quota_t default_quota;   /* for tenants the quota table does not name */
	bool reject_unknown_tenants;
} bl_admission_config_t;

/* Fill *cfg with defaults: ageing 1000 ms, bl_quota_init's default quota,
 * unknown tenants accepted. */
void bl_admission_config_init(bl_admission_config_t *cfg);

int bl_admission_new(bl_admission_t **out, const bl_admission_config_t *cfg, const bl_quota_table_t *quotas);
void bl_admission_free(bl_admission_t **adm);

/*
 * Queue `entry` for `tenant`. Returns 0, or BL_ELIMIT with *err saying
 * which quota refused it (max_queued, mem_bytes, unknown tenant): the job
 * is then rejected and the entry not kept.
 */
int bl_admission_enqueue(bl_admission_t *adm, bl_admission_entry_t *entry, const char *tenant, uint64_t now_ms,
			 bl_error_t *err);

/* Take the next job to run, or NULL when none is eligible now. The entry
 * counts as running for its tenant until bl_admission_finish. */
bl_admission_entry_t *bl_admission_next(bl_admission_t *adm, uint64_t now_ms);

/* Record that a running job finished, charging `cpu_ms` of CPU time. */
void bl_admission_finish(bl_admission_t *adm, bl_admission_entry_t *entry, double cpu_ms, uint64_t now_ms);

/* Remove a queued (not running) entry, for cancellation. Returns whether it
 * was queued. */
bool bl_admission_remove(bl_admission_t *adm, bl_admission_entry_t *entry);

/*
 * Give `tenant` the quota *quota (copied) from now on, overriding the
 * table's, and count it as known (unknown tenants may be rejected). *unfit
 * (when not NULL) gets the list, linked by `next`, of queued entries that
 * the new mem_bytes can never start; they are no longer queued and the
 * caller rejects them. Returns how many there are, BL_EINVAL for a quota
 * with max_concurrent, max_queued or weight 0, or BL_ENOMEM. Owner thread
 * only, like every call here.
 */
int bl_admission_set_quota(bl_admission_t *adm, const char *tenant, const bl_quota_t *quota, uint64_t now_ms,
			   bl_admission_entry_t **unfit, bl_error_t *err);

/*
 * Drop the quota bl_admission_set_quota gave `tenant`: it goes back to the
 * table's quota for it, else to the default quota, and is unknown again
 * when the table does not name it (queued jobs stay; new ones are
 * rejected when unknown tenants are). *unfit and the return value as for
 * bl_admission_set_quota; a tenant without a live quota is left alone (0).
 */
int bl_admission_unset_quota(bl_admission_t *adm, const char *tenant, uint64_t now_ms, bl_admission_entry_t **unfit);

/* The current quota of a queued or running entry's tenant (borrowed until
 * the next change), or NULL for an entry never queued. */
const bl_quota_t *bl_admission_entry_quota(const bl_admission_entry_t *entry);

/* Return when a job held back only by a spent CPU budget becomes eligible
 * (ms), or UINT64_MAX when nothing waits for a budget. */
uint64_t bl_admission_next_refill(const bl_admission_t *adm, uint64_t now_ms);

/* Jobs queued and running, over all tenants. */
size_t bl_admission_queued(const bl_admission_t *adm);
size_t bl_admission_running(const bl_admission_t *adm);

#endif
