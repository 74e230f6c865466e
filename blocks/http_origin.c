/*
 * The origin of a URL (scheme, host and port) in one canonical spelling.
 * It keys the circuit breakers, and it decides whether a redirect leaves
 * the origin of the job's URL, in which case the job's own headers stay
 * behind.
 *
 * curl's URL parser (7.88) already rewrites numeric IPv4 forms ("127.1",
 * "0x7f.1", "2130706433") to dotted decimal and compresses IPv6 literals.
 * It keeps the case of a name and a trailing dot, which DNS ignores, so
 * both are folded here.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"

int http_origin_key(char *out, size_t size, const char *url)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = BL_EINVAL;

	CURLU *u = curl_url();
	if (!u)
		return BL_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;

	size_t host_len = strlen(host);
	if (host_len > 1 && host[host_len - 1] == '.')
		host[--host_len] = '\0';
	int n = snprintf(out, size, "%s://%s:%s", scheme, host, port);
	if (n < 0 || (size_t)n >= size)
		goto out;
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}
