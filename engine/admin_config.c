/*
 * The admin endpoint's config section: the listen address (loopback
 * unless allowed otherwise), the token file and the body limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define DEFAULT_MAX_BODY_BYTES (64u << 10)

/* Split "HOST:PORT" or "[V6HOST]:PORT" into cfg->host, port and ipv6. */
static int parse_listen(bl_admin_config_t *cfg, const char *text, bl_error_t *err)
{
	const char *colon = strrchr(text, ':');
	const char *host = text;
	size_t host_len = colon ? (size_t)(colon - text) : 0;
	char *end;

	if (!colon || host_len == 0)
		return bl_error_set(err, BL_EINVAL, "admin.listen",
				    "expected \"HOST:PORT\" such as \"127.0.0.1:8481\", got \"%.64s\"", text);
	if (host[0] == '[') {
		if (host_len < 3 || host[host_len - 1] != ']')
			return bl_error_set(err, BL_EINVAL, "admin.listen", "expected \"[IPV6]:PORT\", got \"%.64s\"",
					    text);
		host++;
		host_len -= 2;
		cfg->ipv6 = true;
	}
	if (host_len >= sizeof cfg->host)
		return bl_error_set(err, BL_EINVAL, "admin.listen", "the host is too long");
	memcpy(cfg->host, host, host_len);
	cfg->host[host_len] = '\0';

	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return bl_error_set(err, BL_EINVAL, "admin.listen",
				    "expected a port from 0 to 65535 after ':', got \"%s\"", colon + 1);
	cfg->port = (uint16_t)port;
	return 0;
}

/* Check that the host is an address literal; refuse one off loopback
 * unless allowed. */
static int check_host(const bl_admin_config_t *cfg, bl_error_t *err)
{
	unsigned char addr[16];
	bool loopback;

	if (inet_pton(cfg->ipv6 ? AF_INET6 : AF_INET, cfg->host, addr) != 1)
		return bl_error_set(err, BL_EINVAL, "admin.listen",
				    "expected an IP address such as 127.0.0.1 or [::1], got \"%s\" (names are not "
				    "resolved)",
				    cfg->host);
	if (cfg->ipv6) {
		static const unsigned char v6_loopback[16] = {[15] = 1};
		loopback = memcmp(addr, v6_loopback, sizeof v6_loopback) == 0;
	} else {
		loopback = addr[0] == 127;
	}
	if (!loopback && !cfg->allow_non_loopback)
		return bl_error_set(err, BL_EINVAL, "admin.listen",
				    "%s is not a loopback address; the admin endpoint decides approvals, so it listens "
				    "on loopback unless \"allow_non_loopback\": true",
				    cfg->host);
	return 0;
}

static int take_bool(const json_t *section, const char *key, const char *field, bool *out, bl_error_t *err)
{
	const json_t *v = json_object_get(section, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bl_error_set(err, BL_EFORMAT, field, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

static int check_keys(const json_t *section, bl_error_t *err)
{
	static const char *const known[] = {"listen",	      "token_file",	       "allow_non_loopback",
					    "max_body_bytes", "metrics_require_token", NULL};
	const char *key;
	json_t *v;
	json_t *object;
	char field[BL_ERROR_FIELD_MAX];

	/* jansson's iterators take a non-const object but only read it. */
	memcpy(&object, &section, sizeof object);
	json_object_foreach(object, key, v) {
		bool ok = false;
		for (int i = 0; known[i] && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		snprintf(field, sizeof field, "admin.%s", key);
		return bl_error_set(err, BL_EINVAL, field,
				    "unknown key; known: listen, token_file, allow_non_loopback, max_body_bytes, "
				    "metrics_require_token");
	}
	return 0;
}

int bl_admin_config_parse(bl_admin_config_t *cfg, const json_t *section, bl_error_t *err)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
	if (!json_is_object(section))
		return bl_error_set(err, BL_EFORMAT, "admin", "expected an object");

	int rc = check_keys(section, err);
	if (rc == 0)
		rc = take_bool(section, "allow_non_loopback", "admin.allow_non_loopback", &cfg->allow_non_loopback,
			       err);
	if (rc == 0)
		rc = take_bool(section, "metrics_require_token", "admin.metrics_require_token",
			       &cfg->metrics_require_token, err);
	if (rc < 0)
		return rc;

	const json_t *listen = json_object_get(section, "listen");
	if (listen && !json_is_string(listen))
		return bl_error_set(err, BL_EFORMAT, "admin.listen", "expected a string \"HOST:PORT\"");
	rc = parse_listen(cfg, listen ? json_string_value(listen) : "127.0.0.1:0", err);
	if (rc == 0)
		rc = check_host(cfg, err);
	if (rc < 0)
		return rc;

	const json_t *token = json_object_get(section, "token_file");
	if (!json_is_string(token) || json_string_length(token) == 0 ||
	    json_string_length(token) >= sizeof cfg->token_file)
		return bl_error_set(err, BL_EFORMAT, "admin.token_file",
				    token ? "expected the path of the file holding the bearer token"
					  : "missing; the admin endpoint needs a file holding its bearer token");
	snprintf(cfg->token_file, sizeof cfg->token_file, "%s", json_string_value(token));

	const json_t *max = json_object_get(section, "max_body_bytes");
	if (max && (!json_is_integer(max) || json_integer_value(max) < 64 || json_integer_value(max) > (1 << 24)))
		return bl_error_set(err, BL_EINVAL, "admin.max_body_bytes", "expected an integer from 64 to 16777216");
	if (max)
		cfg->max_body_bytes = (size_t)json_integer_value(max);
	return 0;
}
