/*
 * The connection: cnats options from a bl_nats_config_t, reconnection with
 * exponential back-off, and connection events handed to the caller.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int64_t reconnect_delay(natsConnection *conn, int attempts, void *closure)
{
	const bl_nats_t *nats = closure;
	int64_t wait = nats->reconnect_wait_ms;

	(void)conn;
	for (int i = 1; i < attempts && wait < nats->reconnect_wait_max_ms; i++)
		wait *= 2;
	if (wait > nats->reconnect_wait_max_ms)
		wait = nats->reconnect_wait_max_ms;

	/* Up to 10 % jitter, so that many engines do not reconnect in step. */
	int64_t jitter = wait / 10;
	if (jitter > 0)
		wait += (int64_t)((uint64_t)rand() % (uint64_t)jitter);
	return wait;
}

/* Store the current server's URL, when there is one, for events that happen without one. */
static void remember_url(natsConnection *conn, bl_nats_t *nats)
{
	char url[sizeof nats->url];
	if (natsConnection_GetConnectedUrl(conn, url, sizeof url) != NATS_OK || !url[0])
		return;
	pthread_mutex_lock(&nats->lock);
	memcpy(nats->url, url, sizeof url);
	pthread_mutex_unlock(&nats->lock);
}

/* Copy the current server's URL, or the last one when disconnected, into `url` (sizeof nats->url bytes). */
static void current_url(natsConnection *conn, bl_nats_t *nats, char *url)
{
	remember_url(conn, nats);
	pthread_mutex_lock(&nats->lock);
	memcpy(url, nats->url, sizeof nats->url);
	pthread_mutex_unlock(&nats->lock);
}

static void emit(natsConnection *conn, bl_nats_t *nats, bl_nats_event_kind_t kind)
{
	char url[sizeof nats->url];
	const char *reason = NULL;
	natsStatistics *stats = NULL;
	uint64_t reconnects = 0;

	if (!nats->on_event)
		return;
	current_url(conn, nats, url);
	/* Returns the last error's status, which does not matter here; only its text does. */
	(void)natsConnection_GetLastError(conn, &reason);
	if (!reason)
		reason = "";
	if (natsStatistics_Create(&stats) == NATS_OK) {
		if (natsConnection_GetStats(conn, stats) == NATS_OK)
			natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, &reconnects);
		natsStatistics_Destroy(stats);
	}

	bl_nats_event_t event = {.kind = kind, .url = url, .reason = reason, .reconnects = reconnects};
	nats->on_event(&event, nats->on_event_arg);
}

static void on_disconnected(natsConnection *conn, void *closure)
{
	emit(conn, closure, BL_NATS_EVENT_DISCONNECTED);
}

static void on_reconnected(natsConnection *conn, void *closure)
{
	emit(conn, closure, BL_NATS_EVENT_RECONNECTED);
}

static void on_closed(natsConnection *conn, void *closure)
{
	bl_nats_t *nats = closure;

	emit(conn, nats, BL_NATS_EVENT_CLOSED);

	/* The last callback cnats makes: after this, `nats` may be freed. */
	pthread_mutex_lock(&nats->lock);
	nats->closed = true;
	pthread_cond_broadcast(&nats->closed_cond);
	pthread_mutex_unlock(&nats->lock);
}

static void on_error(natsConnection *conn, natsSubscription *sub, natsStatus status, void *closure)
{
	bl_nats_t *nats = closure;

	(void)sub;
	if (!nats->on_event)
		return;
	char url[sizeof nats->url];
	current_url(conn, nats, url);

	bl_nats_event_t event = {.kind = BL_NATS_EVENT_ERROR, .url = url, .reason = natsStatus_GetText(status)};
	nats->on_event(&event, nats->on_event_arg);
}

static int check_config(const bl_nats_config_t *config, bl_nats_error_t *err)
{
	if (!config->urls || config->nurls == 0)
		return bl__nats_fail(err, BL_EINVAL, "urls", "at least one server URL is required");
	for (size_t i = 0; i < config->nurls; i++) {
		if (!config->urls[i] || !config->urls[i][0])
			return bl__nats_fail(err, BL_EINVAL, "urls", "server URL %zu is empty", i);
	}
	if (config->nkey_seed_file && !config->nkey_public)
		return bl__nats_fail(err, BL_EINVAL, "nkey_public",
				     "an nkey seed file needs the matching public key (\"U...\")");
	if (config->creds_file && config->nkey_seed_file)
		return bl__nats_fail(err, BL_EINVAL, "nkey_seed_file",
				     "give a credentials file or an nkey seed file, not both");
	if ((config->tls_cert_file == NULL) != (config->tls_key_file == NULL))
		return bl__nats_fail(err, BL_EINVAL, "tls_key_file",
				     "a TLS client certificate and its key must be given together");
	if (config->connect_timeout_ms < 0 || config->request_timeout_ms < 0 || config->reconnect_wait_ms < 0 ||
	    config->reconnect_wait_max_ms < 0)
		return bl__nats_fail(err, BL_EINVAL, "timeouts", "timeouts and waits must be 0 (default) or positive");

	if (config->max_reconnects < -1)
		return bl__nats_fail(err, BL_EINVAL, "max_reconnects",
				     "max_reconnects %d is invalid; use -1 (forever), 0 (default 60) or a count",
				     config->max_reconnects);
	if (config->ping_interval_ms < 0)
		return bl__nats_fail(err, BL_EINVAL, "ping_interval_ms", "ping interval %lld ms is negative",
				     (long long)config->ping_interval_ms);

	static const struct {
		size_t offset;
		const char *field;
	} files[] = {
		{offsetof(bl_nats_config_t, creds_file), "creds_file"},
		{offsetof(bl_nats_config_t, nkey_seed_file), "nkey_seed_file"},
		{offsetof(bl_nats_config_t, tls_ca_file), "tls_ca_file"},
		{offsetof(bl_nats_config_t, tls_cert_file), "tls_cert_file"},
		{offsetof(bl_nats_config_t, tls_key_file), "tls_key_file"},
	};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		const char *path = *(const char *const *)((const char *)config + files[i].offset);
		/* cnats reads these files only when it connects, so check them first and name the file in the error. */
		int rc = path ? bl__nats_check_file(path, files[i].field, err) : 0;
		if (rc < 0)
			return rc;
	}
	return bl__nats_check_auth(config, err);
}

static void apply_defaults(bl_nats_t *nats, const bl_nats_config_t *config)
{
	nats->on_event = config->on_event;
	nats->on_event_arg = config->on_event_arg;
	nats->request_timeout_ms = config->request_timeout_ms ? config->request_timeout_ms : 5000;
	nats->reconnect_wait_ms = config->reconnect_wait_ms ? config->reconnect_wait_ms : 100;
	nats->reconnect_wait_max_ms = config->reconnect_wait_max_ms ? config->reconnect_wait_max_ms : 2000;
	if (nats->reconnect_wait_max_ms < nats->reconnect_wait_ms)
		nats->reconnect_wait_max_ms = nats->reconnect_wait_ms;
}

/* Each step names the option it sets, so a failure names the rejected one. */
static int set_options(bl_nats_t *nats, const bl_nats_config_t *config, bl_nats_error_t *err)
{
	natsOptions *o = nats->opts;
	natsStatus s;

	/* cnats wants a mutable array of URLs; it copies them. */
	const char **urls = calloc(config->nurls, sizeof *urls);
	if (!urls)
		return bl__nats_fail(err, BL_ENOMEM, "urls", "out of memory for the URL list");
	for (size_t i = 0; i < config->nurls; i++)
		urls[i] = config->urls[i];
	s = natsOptions_SetServers(o, urls, (int)config->nurls);
	free(urls);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, "urls", "invalid server URL list");
	if (config->name && (s = natsOptions_SetName(o, config->name)) != NATS_OK)
		return bl__nats_status_fail(err, s, "name", "cannot set the connection name");
	if (config->creds_file && (s = natsOptions_SetUserCredentialsFromFiles(o, config->creds_file, NULL)) != NATS_OK)
		return bl__nats_status_fail(err, s, "creds_file", "cannot use the credentials file");
	if (config->nkey_seed_file &&
	    (s = natsOptions_SetNKeyFromSeed(o, config->nkey_public, config->nkey_seed_file)) != NATS_OK)
		return bl__nats_status_fail(err, s, "nkey_seed_file", "cannot use the nkey seed file");
	bool tls = config->tls || config->tls_ca_file || config->tls_cert_file;
	if (tls && (s = natsOptions_SetSecure(o, true)) != NATS_OK)
		return bl__nats_status_fail(err, s, "tls", "TLS is not available in this cnats build");
	if (config->tls_ca_file && (s = natsOptions_LoadCATrustedCertificates(o, config->tls_ca_file)) != NATS_OK)
		return bl__nats_status_fail(err, s, "tls_ca_file", "cannot load the CA file");
	if (config->tls_cert_file &&
	    (s = natsOptions_LoadCertificatesChain(o, config->tls_cert_file, config->tls_key_file)) != NATS_OK)
		return bl__nats_status_fail(err, s, "tls_cert_file", "cannot load the client certificate and key");
	if ((s = natsOptions_SetTimeout(o, config->connect_timeout_ms ? config->connect_timeout_ms : 2000)) != NATS_OK)
		return bl__nats_status_fail(err, s, "connect_timeout_ms", "invalid connect timeout");
	if ((s = natsOptions_SetMaxReconnect(o, config->max_reconnects ? config->max_reconnects : 60)) != NATS_OK)
		return bl__nats_status_fail(err, s, "max_reconnects", "invalid reconnect count");
	s = natsOptions_SetPingInterval(o, config->ping_interval_ms ? config->ping_interval_ms : 20000);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, "ping_interval_ms", "invalid ping interval");

	if (config->send_asap && (s = natsOptions_SetSendAsap(o, true)) != NATS_OK)
		return bl__nats_status_fail(err, s, "send_asap", "cannot set send_asap");

	s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, nats);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, nats);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, nats);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, nats);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, nats);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, NULL, "cannot set the connection callbacks");
	return 0;
}

/* Report a failed connect: against the credentials when the server rejected them, else against urls. */
static int connect_fail(const bl_nats_config_t *config, natsStatus s, bl_nats_error_t *err)
{
	const char *field = config->creds_file ? "creds_file" : "nkey_seed_file";
	const char *path = config->creds_file ? config->creds_file : config->nkey_seed_file;

	if (s != NATS_CONNECTION_AUTH_FAILED || !path)
		return bl__nats_status_fail(err, s, "urls", "cannot connect");
	/* The server does not say why. A key that passed check_config can still be one the server does not
	 * list, or a user of an account it does not trust. */
	return bl__nats_fail(err, -EACCES, field,
			     "the server rejected the credentials of %s %s (%s): check that it lists the user's "
			     "public key, or trusts the account that signed the user's JWT",
			     field, path, natsStatus_GetText(s));
}

int bl_nats_connect(bl_nats_t **out, const bl_nats_config_t *config, bl_nats_error_t *err)
{
	int rc = check_config(config, err);
	if (rc < 0)
		return rc;

	bl_nats_t *nats = calloc(1, sizeof *nats);
	if (!nats)
		return bl__nats_fail(err, BL_ENOMEM, NULL, "out of memory for the connection");
	apply_defaults(nats, config);
	pthread_mutex_init(&nats->lock, NULL);
	pthread_cond_init(&nats->closed_cond, NULL);
	natsStatus s = natsOptions_Create(&nats->opts);
	if (s != NATS_OK) {
		rc = bl__nats_status_fail(err, s, NULL, "cannot create connection options");
		goto err_free;
	}
	rc = set_options(nats, config, err);
	if (rc < 0)
		goto err_free_opts;

	s = natsConnection_Connect(&nats->conn, nats->opts);
	if (s != NATS_OK) {
		rc = connect_fail(config, s, err);
		goto err_free_opts;
	}

	remember_url(nats->conn, nats);
	*out = nats;
	return 0;

err_free_opts:
	natsOptions_Destroy(nats->opts);
err_free:
	pthread_cond_destroy(&nats->closed_cond);
	pthread_mutex_destroy(&nats->lock);
	free(nats);
	return rc;
}

void bl_nats_free(bl_nats_t *nats)
{
	if (!nats)
		return;
	natsConnection_Close(nats->conn);

	/* The callbacks run in order on one cnats thread and "closed" is the last, so once it
	 * has run nothing refers to `nats` any more. */
	pthread_mutex_lock(&nats->lock);
	while (!nats->closed)
		pthread_cond_wait(&nats->closed_cond, &nats->lock);
	pthread_mutex_unlock(&nats->lock);

	bl__nats_destroy_retired(nats);
	natsConnection_Destroy(nats->conn);
	natsOptions_Destroy(nats->opts);
	pthread_cond_destroy(&nats->closed_cond);
	pthread_mutex_destroy(&nats->lock);
	free(nats);
}

bool bl_nats_is_connected(const bl_nats_t *nats)
{
	return natsConnection_Status(nats->conn) == NATS_CONN_STATUS_CONNECTED;
}

int bl_nats_flush(bl_nats_t *nats, int64_t timeout_ms, bl_nats_error_t *err)
{
	natsStatus s = natsConnection_FlushTimeout(nats->conn, timeout_ms > 0 ? timeout_ms : 1);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, NULL, "flush failed");
	return 0;
}

void *bl_nats_raw(bl_nats_t *nats)
{
	return nats->conn;
}

const char *bl_nats_event_name(bl_nats_event_kind_t kind)
{
	switch (kind) {
	case BL_NATS_EVENT_DISCONNECTED:
		return "nats_disconnected";
	case BL_NATS_EVENT_RECONNECTED:
		return "nats_reconnected";
	case BL_NATS_EVENT_CLOSED:
		return "nats_closed";
	case BL_NATS_EVENT_ERROR:
		return "nats_async_error";
	}
	return "nats_unknown_event";
}
