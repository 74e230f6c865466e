/*
 * The service mode's config file: the "nats" and "engine" sections, and
 * the other sections passed on to the block services.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "run_ctx.h"
#include "serve.h"

#define DAY_MS (86400000LL)

/* One section's keys, for the unknown-key check. */
static int check_keys(const json_t *obj, const char *where, const char *const *known, size_t count, bl_error_t *err)
{
	const char *key;
	json_t *value;
	json_t *object;

	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, where, "expected an object");
	/* jansson's iterators take a non-const object but only read it. */
	memcpy(&object, &obj, sizeof object);
	json_object_foreach(object, key, value) {
		size_t i = 0;
		while (i < count && strcmp(known[i], key) != 0)
			i++;
		if (i == count) {
			char field[BL_ERROR_FIELD_MAX];
			char listed[512] = "";
			for (size_t k = 0; k < count; k++)
				snprintf(listed + strlen(listed), sizeof listed - strlen(listed), "%s%s", k ? ", " : "",
					 known[k]);
			snprintf(field, sizeof field, "%s.%s", where, key);
			return bl_error_set(err, BL_EINVAL, field, "unknown key; expected one of: %s", listed);
		}
	}
	return 0;
}

/* Name `where`.`key` in `field` (BL_ERROR_FIELD_MAX bytes). */
static const char *field_name(char *field, const char *where, const char *key)
{
	snprintf(field, BL_ERROR_FIELD_MAX, "%s.%s", where, key);
	return field;
}

/* An optional integer from `min` to `max`; *out keeps its default when absent. */
static int take_int(const json_t *obj, const char *where, const char *key, int64_t min, int64_t max, int64_t *out,
		    bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return bl_error_set(err, BL_EINVAL, field_name(field, where, key),
				    "expected an integer from %" PRId64 " to %" PRId64, min, max);
	*out = json_integer_value(v);
	return 0;
}

static int take_unsigned(const json_t *obj, const char *where, const char *key, int64_t min, int64_t max,
			 unsigned *out, bl_error_t *err)
{
	int64_t v = *out;
	int rc = take_int(obj, where, key, min, max, &v, err);
	*out = (unsigned)v;
	return rc;
}

static int take_string(const json_t *obj, const char *where, const char *key, const char **out, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return bl_error_set(err, BL_EINVAL, field_name(field, where, key), "expected a non-empty string");
	*out = json_string_value(v);
	return 0;
}

static int take_bool(const json_t *obj, const char *where, const char *key, bool *out, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bl_error_set(err, BL_EINVAL, field_name(field, where, key), "expected true or false");
	*out = json_is_true(v);
	return 0;
}

static int take_urls(bl_serve_config_t *cfg, const json_t *nats, bl_error_t *err)
{
	const json_t *v = json_object_get(nats, "urls");
	size_t i;
	const json_t *url;

	if (json_is_string(v)) {
		cfg->urls[0] = json_string_value(v);
		cfg->nurls = 1;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > BL_SERVE_URLS_MAX)
		return bl_error_set(err, BL_EINVAL, "nats.urls",
				    "expected a server URL or an array of 1 to %d, such as "
				    "[\"nats://127.0.0.1:4222\"]",
				    BL_SERVE_URLS_MAX);
	json_array_foreach(v, i, url) {
		if (!json_is_string(url))
			return bl_error_set(err, BL_EINVAL, "nats.urls", "item %zu: expected a string", i);
		cfg->urls[cfg->nurls++] = json_string_value(url);
	}
	return 0;
}

static int take_tls(bl_serve_config_t *cfg, const json_t *nats, bl_error_t *err)
{
	static const char *const keys[] = {"ca_file", "cert_file", "key_file"};
	const json_t *tls = json_object_get(nats, "tls");
	if (!tls)
		return 0;

	int rc = check_keys(tls, "nats.tls", keys, 3, err);
	if (rc == 0)
		rc = take_string(tls, "nats.tls", "ca_file", &cfg->tls_ca_file, err);
	if (rc == 0)
		rc = take_string(tls, "nats.tls", "cert_file", &cfg->tls_cert_file, err);
	if (rc == 0)
		rc = take_string(tls, "nats.tls", "key_file", &cfg->tls_key_file, err);
	return rc;
}

static int take_stream(bl_serve_config_t *cfg, const json_t *nats, bl_error_t *err)
{
	static const char *const keys[] = {"storage",	     "replicas",       "duplicate_window_ms",
					   "results_max_age_ms", "dlq_max_age_ms", "attempts_ttl_ms"};
	const char *w = "nats.streams";
	const json_t *s = json_object_get(nats, "streams");
	const char *storage = NULL;
	int64_t replicas = cfg->replicas;
	if (!s)
		return 0;

	int rc = check_keys(s, w, keys, sizeof keys / sizeof *keys, err);
	if (rc == 0)
		rc = take_string(s, w, "storage", &storage, err);
	if (rc == 0 && storage && strcmp(storage, "file") != 0 && strcmp(storage, "memory") != 0)
		rc = bl_error_set(err, BL_EINVAL, "nats.streams.storage", "expected \"file\" or \"memory\", got \"%s\"",
				  storage);
	if (rc == 0 && storage)
		cfg->storage = strcmp(storage, "memory") == 0 ? BL_JS_STORAGE_MEMORY : BL_JS_STORAGE_FILE;
	if (rc == 0)
		rc = take_int(s, w, "replicas", 1, 5, &replicas, err);
	cfg->replicas = (int)replicas;
	if (rc == 0)
		rc = take_int(s, w, "duplicate_window_ms", 1000, 7 * DAY_MS, &cfg->duplicate_window_ms, err);
	if (rc == 0)
		rc = take_int(s, w, "results_max_age_ms", 0, 3650 * DAY_MS, &cfg->results_max_age_ms, err);
	if (rc == 0)
		rc = take_int(s, w, "dlq_max_age_ms", 0, 3650 * DAY_MS, &cfg->dlq_max_age_ms, err);
	if (rc == 0)
		rc = take_int(s, w, "attempts_ttl_ms", 1000, 3650 * DAY_MS, &cfg->attempts_ttl_ms, err);
	return rc;
}

static int take_consumer(bl_serve_config_t *cfg, const json_t *nats, bl_error_t *err)
{
	static const char *const keys[] = {"ack_wait_ms", "max_deliver", "max_ack_pending", "instances", "fetch_batch"};
	const char *w = "nats.consumer";
	const json_t *c = json_object_get(nats, "consumer");
	int64_t max_deliver = cfg->max_deliver, max_ack_pending = cfg->max_ack_pending;
	if (!c)
		return 0;

	int rc = check_keys(c, w, keys, sizeof keys / sizeof *keys, err);
	if (rc == 0)
		rc = take_int(c, w, "ack_wait_ms", 500, DAY_MS, &cfg->ack_wait_ms, err);
	if (rc == 0)
		rc = take_int(c, w, "max_deliver", 0, 1000000, &max_deliver, err);
	if (rc == 0)
		rc = take_int(c, w, "max_ack_pending", 0, 1000000, &max_ack_pending, err);
	if (rc == 0)
		rc = take_unsigned(c, w, "instances", 1, 10000, &cfg->instances, err);
	if (rc == 0)
		rc = take_unsigned(c, w, "fetch_batch", 1, 4096, &cfg->fetch_batch, err);
	cfg->max_deliver = (int)max_deliver;
	cfg->max_ack_pending = (int)max_ack_pending;
	return rc;
}

static int take_nats(bl_serve_config_t *cfg, const json_t *nats, bl_error_t *err)
{
	static const char *const keys[] = {"urls",	     "name",	       "creds_file",	     "nkey_seed_file",
					   "nkey_public",    "tls",	       "connect_timeout_ms", "request_timeout_ms",
					   "streams",	     "consumer",       "max_attempts",	     "drain_timeout_ms",
					   "publish_retry_ms"};
	const char *w = "nats";

	if (!nats)
		return bl_error_set(err, BL_EINVAL, "nats", "missing section; serve needs at least {\"nats\": {\"urls\": "
							    "[\"nats://127.0.0.1:4222\"]}}");
	int rc = check_keys(nats, w, keys, sizeof keys / sizeof *keys, err);
	if (rc == 0)
		rc = take_urls(cfg, nats, err);
	if (rc == 0)
		rc = take_string(nats, w, "name", &cfg->name, err);
	if (rc == 0)
		rc = take_string(nats, w, "creds_file", &cfg->creds_file, err);
	if (rc == 0)
		rc = take_string(nats, w, "nkey_seed_file", &cfg->nkey_seed_file, err);
	if (rc == 0)
		rc = take_string(nats, w, "nkey_public", &cfg->nkey_public, err);
	if (rc == 0)
		rc = take_tls(cfg, nats, err);
	if (rc == 0)
		rc = take_int(nats, w, "connect_timeout_ms", 1, 600000, &cfg->connect_timeout_ms, err);
	if (rc == 0)
		rc = take_int(nats, w, "request_timeout_ms", 1, 600000, &cfg->request_timeout_ms, err);
	if (rc == 0)
		rc = take_stream(cfg, nats, err);
	if (rc == 0)
		rc = take_consumer(cfg, nats, err);
	if (rc == 0)
		rc = take_unsigned(nats, w, "max_attempts", 1, 100, &cfg->max_attempts, err);
	if (rc == 0)
		rc = take_int(nats, w, "drain_timeout_ms", 0, DAY_MS, &cfg->drain_timeout_ms, err);
	if (rc == 0)
		rc = take_int(nats, w, "publish_retry_ms", 0, DAY_MS, &cfg->publish_retry_ms, err);
	return rc;
}

static int take_engine(bl_serve_config_t *cfg, const json_t *engine, bl_error_t *err)
{
	static const char *const keys[] = {"workers",	      "data_dir",	"state_dir",	   "quotas",
					   "timeout_ms",      "max_in_flight",	"result_publishers", "io_workers",
					   "blocking_workers", "no_gpu",	"max_job_bytes",   "placement"};
	const char *w = "engine";
	bl_run_config_t *run = &cfg->run;
	int64_t job_bytes = (int64_t)run->job_limits.max_bytes;
	int64_t timeout = (int64_t)run->default_timeout_ms;
	if (!engine)
		return 0;

	int rc = check_keys(engine, w, keys, sizeof keys / sizeof *keys, err);
	if (rc == 0)
		rc = take_unsigned(engine, w, "workers", 1, 1024, &run->cpu_workers, err);
	if (rc == 0)
		rc = take_string(engine, w, "data_dir", &run->data_dir, err);
	if (rc == 0)
		rc = take_string(engine, w, "state_dir", &run->state_dir, err);
	if (rc == 0)
		rc = take_string(engine, w, "quotas", &run->quotas_path, err);
	if (rc == 0)
		rc = take_string(engine, w, "placement", &run->placement_path, err);
	if (rc == 0)
		rc = take_int(engine, w, "timeout_ms", 1, DAY_MS, &timeout, err);
	if (rc == 0)
		rc = take_unsigned(engine, w, "max_in_flight", 1, 65536, &cfg->max_in_flight, err);
	if (rc == 0)
		rc = take_unsigned(engine, w, "result_publishers", 1, 64, &cfg->result_publishers, err);
	if (rc == 0)
		rc = take_unsigned(engine, w, "io_workers", 1, 64, &run->io_workers, err);
	if (rc == 0)
		rc = take_unsigned(engine, w, "blocking_workers", 1, 256, &run->blocking_workers, err);
	if (rc == 0)
		rc = take_bool(engine, w, "no_gpu", &run->no_gpu, err);
	if (rc == 0)
		rc = take_int(engine, w, "max_job_bytes", 64, 64 << 20, &job_bytes, err);
	run->job_limits.max_bytes = (size_t)job_bytes;
	run->default_timeout_ms = (uint64_t)timeout;
	return rc;
}

static void set_defaults(bl_serve_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	bl_run_config_init(&cfg->run);
	cfg->connect_timeout_ms = 2000;
	cfg->request_timeout_ms = 5000;
	cfg->storage = BL_JS_STORAGE_FILE;
	cfg->replicas = 1;
	cfg->duplicate_window_ms = 2 * 60 * 1000;
	cfg->results_max_age_ms = 7 * DAY_MS;
	cfg->dlq_max_age_ms = 30 * DAY_MS;
	cfg->attempts_ttl_ms = DAY_MS;
	cfg->ack_wait_ms = 30000;
	cfg->instances = 16;
	cfg->fetch_batch = 64;
	cfg->max_attempts = 3;
	cfg->drain_timeout_ms = 30000;
	cfg->publish_retry_ms = 30000;
	cfg->max_in_flight = 256;
	cfg->result_publishers = 4;
}

int bl_serve_config_load(bl_serve_config_t *cfg, const char *path, bl_error_t *err)
{
	set_defaults(cfg);
	int rc = bl__config_load(&cfg->root, path, err);
	if (rc == 0)
		rc = take_nats(cfg, json_object_get(cfg->root, "nats"), err);
	if (rc == 0)
		rc = take_engine(cfg, json_object_get(cfg->root, "engine"), err);
	if (rc == 0 && !(cfg->services = json_copy(cfg->root)))
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (rc < 0) {
		bl_serve_config_free(cfg);
		return rc;
	}

	json_object_del(cfg->services, "nats");
	json_object_del(cfg->services, "engine");
	cfg->run.config_path = path;
	if (cfg->max_ack_pending == 0) {
		uint64_t pending = (uint64_t)cfg->max_in_flight * cfg->instances;
		cfg->max_ack_pending = pending > 1000000 ? 1000000 : (int)pending;
	}
	return 0;
}

void bl_serve_config_free(bl_serve_config_t *cfg)
{
	json_decref(cfg->services);
	json_decref(cfg->root);
	cfg->services = NULL;
	cfg->root = NULL;
}
