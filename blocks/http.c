/*
 * The http block: one HTTP or HTTPS request through libcurl, run by the
 * http service's client actors on the I/O pool. Parameters, result and
 * errors are described in docs/blocks/http.md.
 */
#include <errno.h>
#include <stdlib.h>

#include "http_internal.h"

/* Return the service, or fail with the reason it cannot run jobs. Without
 * `need_io` a service with no I/O pool will do: prepare only checks the
 * parameters, and start reports the missing pool as "io_unavailable". */
static int usable_service(bl_http_service_t **out, const bl_block_env_t *env, bool need_io, bl_error_t *err)
{
	bl_http_service_t *svc = env->services ? env->services->http : NULL;

	if (!svc)
		return bl_error_set(err, BL_EINVAL, NULL, "the http service is not set up");
	if (need_io && (!env->io_pool || svc->n_clients == 0))
		return bl_error_set(err, -ENOSYS, NULL,
				    "the http block needs the I/O pool, and the kernel refuses io_uring to this process");
	*out = svc;
	return 0;
}

static int http_prepare(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err)
{
	bl_http_service_t *svc = NULL;
	http_params_t p;

	int rc = usable_service(&svc, env, false, err);
	if (rc < 0)
		return rc;
	rc = http_params_parse(&p, params, &svc->cfg, err);
	if (rc < 0)
		return rc;
	/* The response body, its parsed form, and the request body. */
	*mem_estimate = 2 * p.max_response_bytes + p.body_len + HTTP_HEADER_BYTES_MAX;
	http_params_clear(&p);
	return 0;
}

/* Report a failure found before the request reached a client. */
static int report_now(bl_block_done_fn done, void *ctx, int code, const char *error_code, const bl_error_t *err)
{
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (!o)
		return BL_ENOMEM;
	o->code = code;
	o->error = *err;
	o->error_code = error_code;
	o->pool = "io";
	done(ctx, o);
	return 0;
}

static int http_start(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	bl_http_service_t *svc = NULL;
	http_params_t p;
	bl_error_t err;

	int rc = usable_service(&svc, env, true, &err);
	if (rc < 0)
		return report_now(done, ctx, rc, rc == -ENOSYS ? "io_unavailable" : "not_configured", &err);
	rc = http_params_parse(&p, params, &svc->cfg, &err);
	if (rc < 0)
		return report_now(done, ctx, rc, rc == BL_ENOMEM ? "out_of_memory" : "invalid_params", &err);
	if (http_params_add_trace(&p, env->traceparent) < 0) {
		http_params_clear(&p);
		bl_error_set(&err, BL_ENOMEM, NULL, "out of memory");
		return report_now(done, ctx, BL_ENOMEM, "out_of_memory", &err);
	}

	http_request_t *req = http_request_new(svc, &p, env, done, ctx);
	http_params_clear(&p);
	if (!req)
		return BL_ENOMEM;
	unsigned i = atomic_fetch_add_explicit(&svc->next_client, 1, memory_order_relaxed) % svc->n_clients;
	http_client_submit(svc->clients[i], &req);
	return 0;
}

const bl_block_t bl__http_block = {
	.name = "http",
	.prepare = http_prepare,
	.start = http_start,
	.load = BL_LOAD_IO,
};
