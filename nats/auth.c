/*
 * Checks of the credentials in a bl_nats_config_t before connecting. cnats
 * 3.4.1 reads the seed and credentials files only while it connects. It
 * reports a seed that does not match nkey_public, or a credentials file
 * without a JWT, as the server's "Authentication Violation", and a seed file
 * without a valid seed as "No server available for connection". Neither
 * names the file, so these checks run first and name the config field.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "nkey.h"

/* Credentials and seed files are a few hundred bytes, so a much larger file is not one. */
enum { MAX_FILE_BYTES = 64 * 1024 };

static const char BASE64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int bl__nats_check_file(const char *path, const char *field, bl_nats_error_t *err)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		int code = -errno;
		return bl__nats_fail(err, code, field, "%s %s cannot be read: %s", field, path, strerror(-code));
	}
	if (!S_ISREG(st.st_mode))
		return bl__nats_fail(err, BL_EINVAL, field, "%s %s is not a regular file", field, path);
	if (access(path, R_OK) != 0) {
		int code = -errno;
		return bl__nats_fail(err, code, field, "%s %s cannot be read: %s", field, path, strerror(-code));
	}
	return 0;
}

/* Read the small file `path` into *out (owned, NUL-terminated, free with free()). */
static int read_small_file(char **out, const char *path, const char *field, bl_nats_error_t *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int code = -errno;
		return bl__nats_fail(err, code, field, "%s %s cannot be read: %s", field, path, strerror(-code));
	}
	char *text = malloc(MAX_FILE_BYTES + 1);
	if (!text) {
		fclose(f);
		return bl__nats_fail(err, BL_ENOMEM, field, "out of memory reading %s", path);
	}
	size_t n = fread(text, 1, MAX_FILE_BYTES + 1, f);
	bool failed = ferror(f) != 0;
	fclose(f);

	if (failed || n > MAX_FILE_BYTES) {
		free(text);
		return bl__nats_fail(err, BL_EINVAL, field, "%s %s %s", field, path,
				     failed ? "cannot be read" : "is larger than 64 KiB, so it is not a key file");
	}
	text[n] = '\0';
	*out = text;
	return 0;
}

/* Free file content that contains a seed, wiping it first. */
static void free_secret(char *content)
{
	if (!content)
		return;
	explicit_bzero(content, strlen(content));
	free(content);
}

/* Find the seed in `content` and write its public key. A failure names `field` and `path`. */
static int seed_public(char *public_key, const char *content, const char *path, const char *field,
		       bl_nats_error_t *err)
{
	const char *seed;
	size_t len;
	char reason[128];

	if (bl__nkey_find_seed(&seed, &len, content) < 0)
		return bl__nats_fail(err, BL_EINVAL, field, "%s %s holds no user seed (a line starting with \"SU\")",
				     field, path);
	int rc = bl__nkey_seed_public(public_key, seed, len, reason, sizeof reason);
	if (rc < 0)
		return bl__nats_fail(err, rc, field, "the seed in %s %s is invalid: %s", field, path, reason);
	return 0;
}

static int check_nkey(const bl_nats_config_t *config, bl_nats_error_t *err)
{
	char reason[128];
	char seed_key[BL__NKEY_TEXT_MAX];
	char *content = NULL;

	int rc = bl__nkey_check_user_public(config->nkey_public, strlen(config->nkey_public), reason, sizeof reason);
	if (rc < 0)
		return bl__nats_fail(err, rc, "nkey_public", "nkey_public \"%s\" is invalid: %s", config->nkey_public,
				     reason);
	rc = read_small_file(&content, config->nkey_seed_file, "nkey_seed_file", err);
	if (rc < 0)
		return rc;
	rc = seed_public(seed_key, content, config->nkey_seed_file, "nkey_seed_file", err);
	free_secret(content);
	if (rc < 0)
		return rc;

	if (strcmp(seed_key, config->nkey_public) != 0)
		return bl__nats_fail(err, BL_EINVAL, "nkey_public",
				     "nkey_public %s does not match the seed in nkey_seed_file %s, "
				     "whose public key is %s",
				     config->nkey_public, config->nkey_seed_file, seed_key);
	return 0;
}

/* Find the first line of `content` made of three non-empty base64url parts joined by dots. */
static bool find_jwt(const char **start, size_t *len, const char *content)
{
	for (const char *line = content; *line;) {
		size_t n = strcspn(line, "\r\n");
		size_t parts = 1, part_len = 0;
		bool ok = n > 0;
		for (size_t i = 0; i < n && ok; i++) {
			if (line[i] == '.') {
				ok = part_len > 0;
				parts++;
				part_len = 0;
			} else {
				ok = strchr(BASE64URL, line[i]) != NULL;
				part_len++;
			}
		}
		if (ok && parts == 3 && part_len > 0) {
			*start = line;
			*len = n;
			return true;
		}
		line += n;
		line += strspn(line, "\r\n");
	}
	return false;
}

/* Decode the base64url `text` (no padding) into an owned buffer of *out_len bytes, or return NULL. */
static char *base64url_decode(const char *text, size_t len, size_t *out_len)
{
	char *out = malloc(len * 3 / 4 + 1);
	uint32_t bits = 0;
	int nbits = 0;
	size_t n = 0;

	if (!out || len % 4 == 1) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		bits = (bits << 6) | (uint32_t)(strchr(BASE64URL, text[i]) - BASE64URL);
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			out[n++] = (char)(bits >> nbits);
		}
	}
	*out_len = n;
	return out;
}

/* Copy the "sub" claim of the JWT `jwt` (`len` characters) into `subject`. Returns false when there is none. */
static bool jwt_subject(char *subject, size_t size, const char *jwt, size_t len)
{
	/* find_jwt checked that the line has exactly two dots. */
	const char *first_dot = memchr(jwt, '.', len);
	const char *payload = first_dot + 1;
	const char *second_dot = memchr(payload, '.', len - (size_t)(payload - jwt));
	size_t json_len = 0;
	char *json = base64url_decode(payload, (size_t)(second_dot - payload), &json_len);
	if (!json)
		return false;

	json_t *claims = json_loadb(json, json_len, 0, NULL);
	free(json);
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	bool found = sub && strlen(sub) < size;
	if (found)
		strcpy(subject, sub);
	json_decref(claims);
	return found;
}

static int check_creds(const char *path, bl_nats_error_t *err)
{
	char *content = NULL;
	const char *jwt;
	size_t jwt_len;
	char subject[BL__NKEY_TEXT_MAX];
	char seed_key[BL__NKEY_TEXT_MAX];

	int rc = read_small_file(&content, path, "creds_file", err);
	if (rc < 0)
		return rc;
	if (!find_jwt(&jwt, &jwt_len, content)) {
		rc = bl__nats_fail(err, BL_EINVAL, "creds_file",
				   "creds_file %s holds no user JWT (a line header.payload.signature, in base64url)",
				   path);
		goto out;
	}
	if (!jwt_subject(subject, sizeof subject, jwt, jwt_len)) {
		rc = bl__nats_fail(err, BL_EINVAL, "creds_file",
				   "the user JWT in creds_file %s is invalid: its payload is not JSON "
				   "with a \"sub\" claim",
				   path);
		goto out;
	}
	rc = seed_public(seed_key, content, path, "creds_file", err);
	if (rc < 0)
		goto out;

	if (strcmp(seed_key, subject) != 0)
		rc = bl__nats_fail(err, BL_EINVAL, "creds_file",
				   "the seed in creds_file %s is not the key of the JWT's user %s, "
				   "because its public key is %s",
				   path, subject, seed_key);
out:
	free_secret(content);
	return rc;
}

int bl__nats_check_auth(const bl_nats_config_t *config, bl_nats_error_t *err)
{
	if (config->nkey_seed_file)
		return check_nkey(config, err);
	if (config->creds_file)
		return check_creds(config->creds_file, err);
	return 0;
}
