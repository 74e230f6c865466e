/*
 * URLs as results and error messages show them. A URL may carry a user
 * name and password before its host (RFC 3986 userinfo:
 * "http://user:password@host/"). Results are stored (BEAMLINE_RESULTS in
 * service mode) and messages are logged, so neither shows that part.
 */
#define _GNU_SOURCE /* memrchr */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* Return where the authority of `url` starts: after "scheme://", or after
 * "//" for a network-path reference. Returns NULL for a relative URL,
 * which has no authority. */
static const char *authority_of(const char *url)
{
	if (url[0] == '/' && url[1] == '/')
		return url + 2;

	size_t scheme = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
	if (scheme == 0 || strncmp(url + scheme, "://", 3) != 0)
		return NULL;
	return url + scheme + 3;
}

/* Return the '@' that ends the userinfo of `url`, or NULL when it has
 * none. A host never contains '@', so the last one in the authority
 * ends the userinfo even when a password contains a raw '@'. */
static const char *userinfo_end(const char *url)
{
	const char *authority = authority_of(url);

	if (!authority)
		return NULL;
	return memrchr(authority, '@', strcspn(authority, "/?#"));
}

char *http_url_without_userinfo(const char *url)
{
	const char *at = userinfo_end(url);
	if (!at)
		return strdup(url);

	size_t prefix = (size_t)(authority_of(url) - url);
	size_t size = prefix + strlen(at + 1) + 1;
	char *out = malloc(size);
	if (out)
		snprintf(out, size, "%.*s%s", (int)prefix, url, at + 1);
	return out;
}

const char *http_url_for_message(char out[static HTTP_URL_SHOWN_MAX], const char *url)
{
	const char *at = userinfo_end(url);

	if (!at)
		snprintf(out, HTTP_URL_SHOWN_MAX, "%s", url);
	else
		snprintf(out, HTTP_URL_SHOWN_MAX, "%.*s***%s", (int)(authority_of(url) - url), url, at);
	return out;
}
