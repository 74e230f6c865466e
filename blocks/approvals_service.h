/*
 * The approvals service's internals, shared by the human block
 * (human_run.c) and the folder watch (approvals_watch.c).
 *
 * Jobs waiting on an approval register their actor under the approval's
 * id. Whatever may have decided an approval (the folder watch seeing a new
 * decision file, the admin endpoint, the rescan timer) sends each such
 * actor a message; the actor then reads the decision file itself. A
 * message never carries the decision, so a spurious one costs one read.
 */
#ifndef BL_BLOCKS_APPROVALS_SERVICE_H
#define BL_BLOCKS_APPROVALS_SERVICE_H

#include <stdbool.h>

#include <beamline/approvals.h>
#include <beamline/services.h>

/* The "approvals" section's open, stop and close (services.c). */
int bl__approvals_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
		       bl_error_t *err);
void bl__approvals_stop(bl_block_services_t *s);
void bl__approvals_close(bl_block_services_t *s);

/*
 * Register `actor` as waiting on approval `id`: it receives a message of
 * `type` (no payload) whenever the approval may have been decided. Takes a
 * reference to the actor until bl__approvals_unwait. Returns 0 or
 * BL_ENOMEM. Any thread.
 */
int bl__approvals_wait(bl_approvals_t *a, const char *id, bl_actor_t *actor, uint32_t type);

/* Remove every registration of `actor`. Any thread; from the actor's stop
 * callback too. */
void bl__approvals_unwait(bl_approvals_t *a, bl_actor_t *actor);

/* Tell every waiting actor to check its approval (the watch lost events). */
void bl__approvals_notify_all(bl_approvals_t *a);

/* Record that the folder watch stopped working, and wake every waiting
 * run so that it starts polling. */
void bl__approvals_watch_failed(bl_approvals_t *a);

/* Return whether the folder watch runs; when it does not, waiting runs
 * reread their decision every rescan_ms. */
bool bl__approvals_watched(bl_approvals_t *a);

/* The pools the service's actors and file work use; borrowed. */
bl_pool_t *bl__approvals_control_pool(bl_approvals_t *a);
bl_pool_t *bl__approvals_blocking_pool(bl_approvals_t *a);

/* Log through the engine's logger, when it gave one. Borrows `fields`. */
void bl__approvals_log(bl_approvals_t *a, int level, const char *event, const char *corr_id, const char *msg,
		       const json_t *fields);

/*
 * Spawn the watch actor on `io_pool`: it polls inotify descriptor `fd`
 * (borrowed; the service closes it after the runtime is freed) and calls
 * bl_approvals_notify for each decision file that appears. Returns as
 * bl_actor_spawn.
 */
int bl__approvals_watch_spawn(bl_actor_t **out, bl_pool_t *io_pool, bl_approvals_t *a, int fd);

/* Ask the watch actor to cancel its poll and stop. */
void bl__approvals_watch_stop(bl_actor_t *watch);

#endif
