/*
 * Supervisor: an ordinary actor, built on the public API, that links to its
 * children, traps their exits and restarts them under a restart-intensity
 * limit.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/sched.h>

/* Message a new supervisor sends itself so that it starts its children
 * from its own handler, where linking is allowed. */
#define SUPERVISOR_MSG_START 0xFFFE0001u

typedef struct supervisor {
	bl_strategy_t strategy;
	unsigned max_restarts;
	uint32_t period_ms;
	size_t n_children;
	bl_child_spec_t *children; /* owned copy of the spec's array */
	bl_actor_t **running;      /* per child: one reference, or NULL */
	bool *stopping;            /* per child: killed, its exit not in yet */
	size_t stops_pending;      /* children killed for a one-for-all restart */
	uint64_t *restart_times;   /* ring of the last max_restarts restarts, ms */
	unsigned restart_count;
	unsigned restart_next;
	void (*on_child_start)(void *ctx, size_t index, bl_actor_t *child);
	void *ctx;
} supervisor_t;

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int start_child(bl_actor_t *self, supervisor_t *sup, size_t index)
{
	const bl_child_spec_t *spec = &sup->children[index];
	bl_pool_t *pool = spec->pool ? spec->pool : bl_actor_pool(self);
	bl_actor_t *child;

	int rc = bl_actor_spawn(&child, pool, spec->behaviour, spec->state, spec->state_size);
	if (rc < 0)
		return rc;

	rc = bl_actor_link(self, child);
	if (rc < 0) {
		bl_actor_kill(child, BL_ESHUTDOWN);
		bl_actor_release(&child);
		return rc;
	}

	sup->running[index] = child;
	if (sup->on_child_start)
		sup->on_child_start(sup->ctx, index, child);
	return 0;
}

/* Stop a child for good: unlink it and kill it, without waiting. */
static void stop_child(bl_actor_t *self, supervisor_t *sup, size_t index)
{
	bl_actor_t *child = sup->running[index];
	if (!child)
		return;

	/* Unlink first, so the child's exit does not come back as a failure. */
	bl_actor_unlink(self, child);
	bl_actor_kill(child, BL_ESHUTDOWN);
	bl_actor_release(&sup->running[index]);
}

/*
 * Record a restart now. Returns false when it would be restart number
 * max_restarts + 1 within period_ms: the intensity is exceeded.
 */
static bool admit_restart(supervisor_t *sup)
{
	uint64_t now = monotonic_ms();

	if (sup->max_restarts == 0)
		return false;
	if (sup->restart_count == sup->max_restarts) {
		uint64_t oldest = sup->restart_times[sup->restart_next];
		if (now - oldest < sup->period_ms)
			return false;
	} else {
		sup->restart_count++;
	}

	sup->restart_times[sup->restart_next] = now;
	sup->restart_next = (sup->restart_next + 1) % sup->max_restarts;
	return true;
}

static bool should_restart(const bl_child_spec_t *spec, int reason)
{
	switch (spec->restart) {
	case BL_RESTART_PERMANENT:
		return true;
	case BL_RESTART_TRANSIENT:
		return reason != 0;
	case BL_RESTART_TEMPORARY:
		return false;
	}
	return false;
}

/* Start every child that is not temporary, in order. */
static int start_all(bl_actor_t *self, supervisor_t *sup)
{
	for (size_t i = 0; i < sup->n_children; i++) {
		if (sup->children[i].restart == BL_RESTART_TEMPORARY)
			continue;
		int rc = start_child(self, sup, i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * One-for-all: kill every other running child and restart them all once
 * each has exited, so no new child ever runs beside an old one. The links
 * stay, so each exit comes back as a BL_MSG_EXIT.
 */
static int restart_all(bl_actor_t *self, supervisor_t *sup)
{
	for (size_t i = 0; i < sup->n_children; i++) {
		if (!sup->running[i] || sup->stopping[i])
			continue;
		bl_actor_kill(sup->running[i], BL_ESHUTDOWN);
		sup->stopping[i] = true;
		sup->stops_pending++;
	}
	return sup->stops_pending == 0 ? start_all(self, sup) : 0;
}

static int handle_child_exit(bl_actor_t *self, supervisor_t *sup, const bl_exit_info_t *info)
{
	size_t index = 0;
	while (index < sup->n_children && sup->running[index] != info->actor)
		index++;
	if (index == sup->n_children)
		return 0; /* a child this supervisor already replaced or stopped */

	bl_actor_release(&sup->running[index]);
	if (sup->stopping[index]) {
		/* One of the children a one-for-all restart is waiting for. */
		sup->stopping[index] = false;
		sup->stops_pending--;
		return sup->stops_pending == 0 ? start_all(self, sup) : 0;
	}
	if (sup->stops_pending > 0)
		return 0; /* a restart of every child is under way and covers this one */
	if (!should_restart(&sup->children[index], info->reason))
		return 0;
	if (!admit_restart(sup))
		return BL_EINTENSITY;

	if (sup->strategy == BL_ONE_FOR_ALL)
		return restart_all(self, sup);
	return start_child(self, sup, index);
}

static int supervisor_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	supervisor_t *sup = state;

	if (msg->type == SUPERVISOR_MSG_START) {
		for (size_t i = 0; i < sup->n_children; i++) {
			int rc = start_child(self, sup, i);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (msg->type == BL_MSG_EXIT)
		return handle_child_exit(self, sup, bl_msg_payload(msg));

	/* Other messages mean nothing to a supervisor. */
	return 0;
}

static void free_supervisor(supervisor_t *sup)
{
	free(sup->children);
	free(sup->running);
	free(sup->stopping);
	free(sup->restart_times);
}

static void supervisor_stop(bl_actor_t *self, void *state, int reason)
{
	supervisor_t *sup = state;
	(void)reason;

	for (size_t i = 0; i < sup->n_children; i++)
		stop_child(self, sup, i);
	free_supervisor(sup);
}

static const bl_behaviour_t supervisor_behaviour = {
	.name = "supervisor",
	.receive = supervisor_receive,
	.stop = supervisor_stop,
	.flags = BL_BEHAVIOUR_TRAP_EXIT,
};

static int check_spec(const bl_supervisor_spec_t *spec)
{
	if (!spec || !spec->children || spec->n_children == 0)
		return BL_EINVAL;
	if (spec->n_children > BL_SUPERVISOR_CHILDREN_MAX || spec->max_restarts > BL_SUPERVISOR_RESTARTS_MAX)
		return BL_EINVAL;
	if (spec->strategy != BL_ONE_FOR_ONE && spec->strategy != BL_ONE_FOR_ALL)
		return BL_EINVAL;
	if (spec->max_restarts > 0 && spec->period_ms == 0)
		return BL_EINVAL;

	for (size_t i = 0; i < spec->n_children; i++) {
		const bl_child_spec_t *c = &spec->children[i];
		if (!c->behaviour || !c->behaviour->receive || c->state_size > BL_ACTOR_STATE_MAX)
			return BL_EINVAL;
		if (c->restart != BL_RESTART_PERMANENT && c->restart != BL_RESTART_TRANSIENT &&
		    c->restart != BL_RESTART_TEMPORARY)
			return BL_EINVAL;
	}
	return 0;
}

int bl_supervisor_spawn(bl_actor_t **out, bl_pool_t *pool, const bl_supervisor_spec_t *spec)
{
	int rc = check_spec(spec);
	if (rc < 0)
		return rc;

	supervisor_t sup = {
		.strategy = spec->strategy,
		.max_restarts = spec->max_restarts,
		.period_ms = spec->period_ms,
		.n_children = spec->n_children,
		.children = malloc(spec->n_children * sizeof *spec->children),
		.running = calloc(spec->n_children, sizeof(bl_actor_t *)),
		.stopping = calloc(spec->n_children, sizeof(bool)),
		.restart_times = calloc(spec->max_restarts ? spec->max_restarts : 1, sizeof(uint64_t)),
		.on_child_start = spec->on_child_start,
		.ctx = spec->ctx,
	};
	if (!sup.children || !sup.running || !sup.stopping || !sup.restart_times) {
		free_supervisor(&sup);
		return BL_ENOMEM;
	}
	memcpy(sup.children, spec->children, spec->n_children * sizeof *spec->children);

	bl_actor_t *actor;
	rc = bl_actor_spawn(&actor, pool, &supervisor_behaviour, &sup, sizeof sup);
	if (rc < 0) {
		free_supervisor(&sup);
		return rc;
	}

	rc = bl_send_u64(actor, SUPERVISOR_MSG_START, 0);
	if (rc < 0) {
		/* The actor owns the arrays now; stopping it frees them. */
		bl_actor_stop(actor);
		bl_actor_release(&actor);
		return rc;
	}

	*out = actor;
	return 0;
}
