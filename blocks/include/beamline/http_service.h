/*
 * The HTTP block's shared service: its settings (the config file's "http"
 * section), the per-host circuit breakers, and the client actors on the
 * I/O pool that drive libcurl. Made once per engine; every http job uses
 * it. docs/blocks/http.md describes the section.
 */
#ifndef BEAMLINE_HTTP_SERVICE_H
#define BEAMLINE_HTTP_SERVICE_H

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/sched.h>
#include <beamline/services.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Make the service from `section` (borrowed; NULL means every default).
 * Spawns one client actor per worker of `io_pool`; with `io_pool` NULL the
 * service exists but every job fails with error_code "io_unavailable".
 * Returns 0 and an owned service in *out, or BL_EFORMAT / BL_EINVAL with
 * *err naming the key at fault ("http.allow[2]"), BL_ENOMEM, or the code
 * of a failed spawn. Call before any job runs, from a thread that is not
 * a worker.
 */
int bl_http_service_new(bl_http_service_t **out, const json_t *section, bl_pool_t *io_pool, bl_error_t *err);

/*
 * Stop the client actors: requests still in flight end with error_code
 * "shutdown" (retryable). Call with the runtime running, after every job
 * has its result. NULL is fine.
 */
void bl_http_service_stop(bl_http_service_t *svc);

/* Free the service, after bl_http_service_stop() and after the runtime is
 * freed. Takes *svc; NULL is fine. */
void bl_http_service_free(bl_http_service_t **svc);

#ifdef __cplusplus
}
#endif

#endif
