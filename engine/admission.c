#include "admission.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/keyed_hash.h>

typedef struct queue {
	bl_admission_entry_t *head;
	bl_admission_entry_t *tail;
} queue_t;

typedef struct bl_tenant_state {
	char *name;
	bl_quota_t quota;
	bool live;                /* `quota` came from bl_admission_set_quota, not the table */
	bool known;               /* the table or a live change names the tenant */
	queue_t queues[BL_PRIORITY_COUNT];
	size_t queued;
	size_t running;
	uint64_t mem_reserved;
	double cpu_tokens;        /* ms of CPU the tenant may still use */
	uint64_t cpu_refilled_ms; /* when cpu_tokens was last brought up to date */
	int64_t deficit;          /* deficit round robin credit, in jobs */
} tenant_t;

struct bl_admission {
	bl_admission_config_t cfg;
	const bl_quota_table_t *quotas;
	tenant_t **tenants;  /* in order of first appearance: the round-robin order */
	size_t tenant_count;
	size_t tenant_capacity;
	tenant_t **index;    /* open-addressing hash of name -> tenant */
	size_t index_size;   /* a power of two, at least twice tenant_count */
	size_t cursor;       /* deficit round robin position in `tenants` */
	bool granted;        /* the tenant at `cursor` already got this visit's quantum */
	size_t queued;
	size_t running;
};

void bl_admission_config_init(bl_admission_config_t *cfg)
{
	cfg->ageing_ms = 1000;
	bl_quota_init(&cfg->default_quota);
	cfg->reject_unknown_tenants = false;
}

int bl_admission_new(bl_admission_t **out, const bl_admission_config_t *cfg, const bl_quota_table_t *quotas)
{
	bl_admission_t *adm = calloc(1, sizeof *adm);
	if (!adm)
		return BL_ENOMEM;

	adm->cfg = *cfg;
	if (adm->cfg.ageing_ms == 0)
		adm->cfg.ageing_ms = 1;
	adm->quotas = quotas;
	adm->index_size = 64;
	adm->index = calloc(adm->index_size, sizeof *adm->index);
	if (!adm->index) {
		free(adm);
		return BL_ENOMEM;
	}
	*out = adm;
	return 0;
}

void bl_admission_free(bl_admission_t **adm)
{
	if (!*adm)
		return;
	for (size_t i = 0; i < (*adm)->tenant_count; i++) {
		free((*adm)->tenants[i]->name);
		free((*adm)->tenants[i]);
	}
	free((*adm)->tenants);
	free((*adm)->index);
	free(*adm);
	*adm = NULL;
}

/* ------------------------------------------------------------------------ */
/* Tenants                                                                   */
/* ------------------------------------------------------------------------ */

/* Keyed: in service mode a tenant's name comes from the subject its jobs
 * were published on. */
static uint64_t hash_name(const char *name)
{
	return bl_keyed_hash(name, strlen(name));
}

static tenant_t **index_slot(bl_admission_t *adm, const char *name)
{
	size_t mask = adm->index_size - 1;
	for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
		tenant_t **slot = &adm->index[i];
		if (!*slot || strcmp((*slot)->name, name) == 0)
			return slot;
	}
}

static int grow_index(bl_admission_t *adm)
{
	tenant_t **old = adm->index;
	size_t old_size = adm->index_size;

	adm->index = calloc(old_size * 2, sizeof *adm->index);
	if (!adm->index) {
		adm->index = old;
		return BL_ENOMEM;
	}
	adm->index_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		if (old[i])
			*index_slot(adm, old[i]->name) = old[i];
	}
	free(old);
	return 0;
}

static bool rejects_unknown(const bl_admission_t *adm)
{
	return adm->quotas ? adm->quotas->reject_unknown : adm->cfg.reject_unknown_tenants;
}

/* The table's quota of `name`, or NULL when the table does not name it. */
static const bl_quota_t *table_quota(const bl_admission_t *adm, const char *name)
{
	return adm->quotas ? bl_quota_table_find(adm->quotas, name) : NULL;
}

static const bl_quota_t *default_quota(const bl_admission_t *adm)
{
	return adm->quotas ? &adm->quotas->default_quota : &adm->cfg.default_quota;
}

/* Find or create the state of `name`, with the table's quota when it is
 * new. Returns NULL with *err set on BL_ENOMEM. */
static tenant_t *tenant_of(bl_admission_t *adm, const char *name, uint64_t now_ms, bl_error_t *err)
{
	tenant_t **slot = index_slot(adm, name);
	if (*slot)
		return *slot;

	const bl_quota_t *quota = table_quota(adm, name);

	if ((adm->tenant_count + 1) * 2 > adm->index_size && grow_index(adm) != 0)
		goto nomem;
	if (adm->tenant_count == adm->tenant_capacity) {
		size_t capacity = adm->tenant_capacity ? adm->tenant_capacity * 2 : 16;
		tenant_t **tenants = realloc(adm->tenants, capacity * sizeof *tenants);
		if (!tenants)
			goto nomem;
		adm->tenants = tenants;
		adm->tenant_capacity = capacity;
	}

	tenant_t *t = calloc(1, sizeof *t);
	if (!t || !(t->name = strdup(name))) {
		free(t);
		goto nomem;
	}
	t->quota = quota ? *quota : *default_quota(adm);
	t->known = quota != NULL;
	t->cpu_tokens = t->quota.cpu_ms_per_s;
	t->cpu_refilled_ms = now_ms;
	adm->tenants[adm->tenant_count++] = t;
	*index_slot(adm, name) = t;
	return t;

nomem:
	bl_error_set(err, BL_ENOMEM, NULL, "out of memory admitting a job");
	return NULL;
}

/* Bring a tenant's CPU budget up to `now_ms`: it refills at cpu_ms_per_s
 * per second, up to one second's worth. */
static void refill(tenant_t *t, uint64_t now_ms)
{
	if (t->quota.cpu_ms_per_s == 0 || now_ms <= t->cpu_refilled_ms)
		return;
	double gained = (double)(now_ms - t->cpu_refilled_ms) * t->quota.cpu_ms_per_s / 1000.0;
	t->cpu_tokens = fmin(t->cpu_tokens + gained, (double)t->quota.cpu_ms_per_s);
	t->cpu_refilled_ms = now_ms;
}

/* Move the tenant's CPU budget to a new rate: a budget that was unlimited
 * starts full, and no budget exceeds one second's worth of the new rate. */
static void change_cpu_rate(tenant_t *t, uint32_t rate, uint64_t now_ms)
{
	refill(t, now_ms);
	if (t->quota.cpu_ms_per_s == 0)
		t->cpu_tokens = rate;
	else
		t->cpu_tokens = fmin(t->cpu_tokens, (double)rate);
	t->cpu_refilled_ms = now_ms;
}

static void drop_from_queue(bl_admission_t *adm, tenant_t *t, queue_t *q, bl_admission_entry_t **link);

/* Take out of the tenant's queues every entry whose memory estimate alone
 * exceeds mem_bytes: it could never start. Returns them as a list. */
static bl_admission_entry_t *take_unfit(bl_admission_t *adm, tenant_t *t)
{
	bl_admission_entry_t *unfit = NULL;

	if (t->quota.mem_bytes == 0)
		return NULL;
	for (unsigned c = 0; c < BL_PRIORITY_COUNT; c++) {
		bl_admission_entry_t **link = &t->queues[c].head;
		while (*link) {
			bl_admission_entry_t *e = *link;
			if (e->mem_estimate <= t->quota.mem_bytes) {
				link = &e->next;
				continue;
			}
			drop_from_queue(adm, t, &t->queues[c], link);
			e->next = unfit;
			unfit = e;
		}
	}
	return unfit;
}

/* Give the tenant `quota` from now on; *unfit gets the queued entries
 * that the new quota can never start. */
static int apply_quota(bl_admission_t *adm, tenant_t *t, const bl_quota_t *quota, uint64_t now_ms,
		       bl_admission_entry_t **unfit)
{
	change_cpu_rate(t, quota->cpu_ms_per_s, now_ms);
	t->quota = *quota;
	if (t->deficit > (int64_t)quota->weight)
		t->deficit = quota->weight;

	bl_admission_entry_t *list = take_unfit(adm, t);
	if (unfit)
		*unfit = list;
	int count = 0;
	for (bl_admission_entry_t *e = list; e; e = e->next)
		count++;
	return count;
}

int bl_admission_set_quota(bl_admission_t *adm, const char *tenant, const bl_quota_t *quota, uint64_t now_ms,
			   bl_admission_entry_t **unfit, bl_error_t *err)
{
	if (unfit)
		*unfit = NULL;
	if (quota->max_concurrent == 0 || quota->max_queued == 0 || quota->weight == 0)
		return bl_error_set(err, BL_EINVAL, "quota",
				    "max_concurrent, max_queued and weight must be at least 1 (tenant '%s')", tenant);

	tenant_t *t = tenant_of(adm, tenant, now_ms, err);
	if (!t)
		return err ? err->code : BL_ENOMEM;
	t->live = true;
	t->known = true;
	return apply_quota(adm, t, quota, now_ms, unfit);
}

int bl_admission_unset_quota(bl_admission_t *adm, const char *tenant, uint64_t now_ms, bl_admission_entry_t **unfit)
{
	if (unfit)
		*unfit = NULL;
	tenant_t *t = *index_slot(adm, tenant);
	if (!t || !t->live)
		return 0;

	const bl_quota_t *quota = table_quota(adm, tenant);
	t->live = false;
	t->known = quota != NULL;
	return apply_quota(adm, t, quota ? quota : default_quota(adm), now_ms, unfit);
}

const bl_quota_t *bl_admission_entry_quota(const bl_admission_entry_t *entry)
{
	return entry->tenant ? &entry->tenant->quota : NULL;
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                    */
/* ------------------------------------------------------------------------ */

static void push(queue_t *q, bl_admission_entry_t *e)
{
	e->next = NULL;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
}

static bl_admission_entry_t *pop(queue_t *q)
{
	bl_admission_entry_t *e = q->head;
	q->head = e->next;
	if (!q->head)
		q->tail = NULL;
	e->next = NULL;
	return e;
}

int bl_admission_enqueue(bl_admission_t *adm, bl_admission_entry_t *entry, const char *tenant, uint64_t now_ms,
			 bl_error_t *err)
{
	/* Checked before a state is made, so that jobs of unknown tenants
	 * cannot grow the tenant index. */
	tenant_t *known_state = *index_slot(adm, tenant);
	bool known = known_state ? known_state->known : table_quota(adm, tenant) != NULL;
	if (!known && rejects_unknown(adm))
		return bl_error_set(err, BL_ELIMIT, "tenant",
				    "tenant '%s' has no quota and unknown tenants are rejected; give it a quota",
				    tenant);

	tenant_t *t = tenant_of(adm, tenant, now_ms, err);
	if (!t)
		return err ? err->code : BL_ENOMEM;

	if (t->queued >= t->quota.max_queued)
		return bl_error_set(err, BL_ELIMIT, "tenant",
				    "tenant '%s' already has %zu jobs queued, its quota max_queued is %u", tenant,
				    t->queued, t->quota.max_queued);
	if (t->quota.mem_bytes && entry->mem_estimate > t->quota.mem_bytes)
		return bl_error_set(err, BL_ELIMIT, "params",
				    "the job needs about %llu bytes of memory, tenant '%s' has a quota mem_bytes of %llu",
				    (unsigned long long)entry->mem_estimate, tenant,
				    (unsigned long long)t->quota.mem_bytes);

	entry->tenant = t;
	entry->enqueued_ms = now_ms;
	push(&t->queues[entry->priority], entry);
	t->queued++;
	adm->queued++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Choosing the next job                                                     */
/* ------------------------------------------------------------------------ */

/* The class a queued entry competes in now: its own, improved by one for
 * every ageing period it has waited. Lower is better. */
static unsigned effective_class(const bl_admission_t *adm, const bl_admission_entry_t *e, uint64_t now_ms)
{
	uint64_t waited = now_ms > e->enqueued_ms ? now_ms - e->enqueued_ms : 0;
	uint64_t gain = waited / adm->cfg.ageing_ms;
	return gain >= (uint64_t)e->priority ? 0 : (unsigned)(e->priority - gain);
}

static bool fits_memory(const tenant_t *t, const bl_admission_entry_t *e)
{
	return t->quota.mem_bytes == 0 || t->mem_reserved + e->mem_estimate <= t->quota.mem_bytes;
}

/*
 * The tenant's best queued entry that it may start now: the best effective
 * class, and within it the entry waiting longest. Returns NULL when the
 * tenant may start nothing. *queue receives the entry's queue.
 */
static bl_admission_entry_t *best_entry(const bl_admission_t *adm, tenant_t *t, uint64_t now_ms, queue_t **queue)
{
	if (t->queued == 0 || t->running >= t->quota.max_concurrent)
		return NULL;
	if (t->quota.cpu_ms_per_s && t->cpu_tokens <= 0)
		return NULL;

	bl_admission_entry_t *best = NULL;
	unsigned best_class = BL_PRIORITY_COUNT;
	for (unsigned c = 0; c < BL_PRIORITY_COUNT; c++) {
		bl_admission_entry_t *e = t->queues[c].head;
		if (!e || !fits_memory(t, e))
			continue;
		unsigned eff = effective_class(adm, e, now_ms);
		if (!best || eff < best_class || (eff == best_class && e->enqueued_ms < best->enqueued_ms)) {
			best = e;
			best_class = eff;
			*queue = &t->queues[c];
		}
	}
	return best;
}

bl_admission_entry_t *bl_admission_next(bl_admission_t *adm, uint64_t now_ms)
{
	if (adm->queued == 0)
		return NULL;

	/* The best effective class any tenant can start now. */
	unsigned best_class = BL_PRIORITY_COUNT;
	for (size_t i = 0; i < adm->tenant_count; i++) {
		tenant_t *t = adm->tenants[i];
		queue_t *q;
		refill(t, now_ms);
		bl_admission_entry_t *e = best_entry(adm, t, now_ms, &q);
		if (e && effective_class(adm, e, now_ms) < best_class)
			best_class = effective_class(adm, e, now_ms);
	}
	if (best_class == BL_PRIORITY_COUNT)
		return NULL;

	/*
	 * Deficit round robin among the tenants that compete in that class.
	 * A visit grants a tenant `weight` jobs of credit; it is served while
	 * it has credit, then the turn passes on. At least one tenant
	 * competes, so within two passes someone has credit.
	 */
	for (size_t steps = 0; steps <= 2 * adm->tenant_count; steps++) {
		tenant_t *t = adm->tenants[adm->cursor];
		queue_t *q = NULL;
		bl_admission_entry_t *e = best_entry(adm, t, now_ms, &q);

		if (e && effective_class(adm, e, now_ms) == best_class) {
			if (!adm->granted) {
				t->deficit += t->quota.weight;
				adm->granted = true;
			}
			if (t->deficit >= 1) {
				t->deficit--;
				pop(q);
				t->queued--;
				t->running++;
				t->mem_reserved += e->mem_estimate;
				adm->queued--;
				adm->running++;
				return e;
			}
		}
		adm->cursor = (adm->cursor + 1) % adm->tenant_count;
		adm->granted = false;
	}
	return NULL;
}

void bl_admission_finish(bl_admission_t *adm, bl_admission_entry_t *entry, double cpu_ms, uint64_t now_ms)
{
	tenant_t *t = entry->tenant;

	refill(t, now_ms);
	if (t->quota.cpu_ms_per_s)
		t->cpu_tokens -= cpu_ms;
	t->running--;
	t->mem_reserved -= entry->mem_estimate;
	adm->running--;

	/* A tenant with nothing queued keeps no credit, as in plain deficit
	 * round robin: idle time must not buy a later burst. */
	if (t->queued == 0)
		t->deficit = 0;
}

/* Unlink the entry at *link (in queue `q` of tenant `t`). */
static void drop_from_queue(bl_admission_t *adm, tenant_t *t, queue_t *q, bl_admission_entry_t **link)
{
	bl_admission_entry_t *e = *link;

	*link = e->next;
	if (q->tail == e) {
		/* The new tail is the entry whose `next` field `link` is, or none. */
		q->tail = q->head ? (bl_admission_entry_t *)((char *)link - offsetof(bl_admission_entry_t, next)) : NULL;
	}
	e->next = NULL;
	t->queued--;
	adm->queued--;
}

bool bl_admission_remove(bl_admission_t *adm, bl_admission_entry_t *entry)
{
	tenant_t *t = entry->tenant;
	if (!t)
		return false;

	queue_t *q = &t->queues[entry->priority];
	bl_admission_entry_t **link = &q->head;
	while (*link && *link != entry)
		link = &(*link)->next;
	if (!*link)
		return false;

	drop_from_queue(adm, t, q, link);
	return true;
}

uint64_t bl_admission_next_refill(const bl_admission_t *adm, uint64_t now_ms)
{
	uint64_t earliest = UINT64_MAX;

	for (size_t i = 0; i < adm->tenant_count; i++) {
		const tenant_t *t = adm->tenants[i];
		if (t->queued == 0 || t->quota.cpu_ms_per_s == 0 || t->cpu_tokens > 0)
			continue;
		/* Tokens were current at cpu_refilled_ms; they turn positive
		 * after -tokens / rate seconds more. */
		double wait_ms = -t->cpu_tokens * 1000.0 / t->quota.cpu_ms_per_s;
		uint64_t at = t->cpu_refilled_ms + (uint64_t)ceil(wait_ms) + 1;
		earliest = at < earliest ? at : earliest;
	}
	return earliest < now_ms ? now_ms : earliest;
}

size_t bl_admission_queued(const bl_admission_t *adm)
{
	return adm->queued;
}

size_t bl_admission_running(const bl_admission_t *adm)
{
	return adm->running;
}
