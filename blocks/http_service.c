/*
 * The HTTP service: settings, circuit breakers and client actors, made
 * once per engine from the config file's "http" section.
 */
#include <pthread.h>
#include <stdlib.h>

#include "http_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

/* curl_global_init() is not thread-safe and must run once per process
 * before any other curl call. */
static void init_curl(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int spawn_clients(bl_http_service_t *svc, bl_pool_t *io_pool, bl_error_t *err)
{
	unsigned n = bl_pool_worker_count(io_pool);

	svc->clients = calloc(n, sizeof *svc->clients);
	if (!svc->clients)
		return bl_error_set(err, BL_ENOMEM, "http", "out of memory starting the http clients");
	for (unsigned i = 0; i < n; i++) {
		int rc = http_client_spawn(&svc->clients[i], io_pool, svc);
		if (rc < 0)
			return bl_error_set(err, rc, "http", "cannot start an http client actor: %s", bl_strerror(rc));
		svc->n_clients++;
	}
	return 0;
}

int bl_http_service_new(bl_http_service_t **out, const json_t *section, bl_pool_t *io_pool, bl_error_t *err)
{
	*out = NULL;
	pthread_once(&curl_once, init_curl);
	if (curl_init_result != CURLE_OK)
		return bl_error_set(err, BL_ENOMEM, "http", "cannot initialise libcurl: %s",
				    curl_easy_strerror(curl_init_result));

	bl_http_service_t *svc = calloc(1, sizeof *svc);
	if (!svc)
		return bl_error_set(err, BL_ENOMEM, "http", "out of memory making the http service");
	int rc = http_config_parse(&svc->cfg, section, err);
	if (rc < 0)
		goto err_free;
	rc = http_breakers_new(&svc->breakers, &svc->cfg.breaker, svc->cfg.max_hosts);
	if (rc < 0) {
		bl_error_set(err, rc, "http.breaker", "cannot make the circuit breakers: %s", bl_strerror(rc));
		goto err_free;
	}
	if (io_pool && (rc = spawn_clients(svc, io_pool, err)) < 0)
		goto err_free;
	*out = svc;
	return 0;

err_free:
	bl_http_service_stop(svc);
	bl_http_service_free(&svc);
	return rc;
}

void bl_http_service_stop(bl_http_service_t *svc)
{
	if (!svc)
		return;
	for (unsigned i = 0; i < svc->n_clients; i++) {
		if (svc->clients[i])
			bl_actor_stop(svc->clients[i]);
		bl_actor_release(&svc->clients[i]);
	}
}

void bl_http_service_free(bl_http_service_t **svc)
{
	bl_http_service_t *s = *svc;
	if (!s)
		return;
	free(s->clients);
	http_breakers_free(&s->breakers);
	http_config_clear(&s->cfg);
	free(s);
	*svc = NULL;
}
