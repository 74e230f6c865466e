/*
 * The state that the admin endpoint of a serving engine reads: liveness, readiness
 * and counters. All of it is atomics, safe to read from any thread while
 * the service runs.
 */
#ifndef BL_ENGINE_SERVE_STATE_H
#define BL_ENGINE_SERVE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl_serve_state {
	atomic_bool connected;        /* the NATS connection is up (not reconnecting) */
	atomic_bool streams_verified; /* streams, consumer and buckets created or matched */
	atomic_bool pools_running;    /* the runtime and the result publishers run */
	atomic_bool draining;         /* SIGTERM or SIGINT came: no new jobs are taken */
	atomic_bool lookups_failing;  /* results lookups failed in several fetches in a row */
	uint64_t _Atomic jobs_received;  /* deliveries and requests taken */
	uint64_t _Atomic results_stored; /* results published to BEAMLINE_RESULTS */
	uint64_t _Atomic replies_sent;   /* replies to execute requests */
	uint64_t _Atomic duplicates;     /* jobs acked or replied to from a stored result */
	uint64_t _Atomic result_lookups; /* execute requests that asked BEAMLINE_RESULTS for a stored result */
	uint64_t _Atomic dead_letters;   /* entries published to BEAMLINE_DLQ */
	uint64_t _Atomic naks;           /* deliveries handed back for a later attempt */
} bl_serve_state_t;

/* The state of the service running in this process, or NULL when none runs. */
bl_serve_state_t *bl_serve_state(void);

/* Whether the service may take jobs: connected, streams verified, results
 * lookups working, pools running, not draining. A NULL state (no service) is not ready. */
bool bl_serve_ready(const bl_serve_state_t *state);

/* Whether the process is alive and serving or draining (for /health). */
bool bl_serve_alive(const bl_serve_state_t *state);

#endif
