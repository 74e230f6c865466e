/*
 * The origin of a URL (scheme, host and port) in one canonical spelling.
 * It keys the circuit breakers, and it decides whether a redirect leaves
 * the origin of the job's URL, in which case the job's own headers stay
 * behind.
 *
 * curl's URL parser (7.88) already rewrites numeric IPv4 forms ("127.1",
 * "0x7f.1", "2130706433") to dotted decimal and compresses IPv6 literals.
 * It keeps the case of a name and a trailing dot, which DNS ignores, so
 * both are folded here. It also keeps IPv4-mapped IPv6 literals
 * ("[::ffff:127.0.0.1]"), which reach the same IPv4 host, so they are
 * written as that IPv4 address.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"

/* Rewrite `host`, as curl spells it, in place to dotted IPv4 when it is
 * an IPv4-mapped IPv6 literal. The IPv4 form is always the shorter. A
 * literal with a zone id ("[fe80::1%25eth0]") is not an IPv4 address
 * and is left alone. */
static void unmap_ipv4(char *host)
{
	char inner[INET6_ADDRSTRLEN];
	struct in6_addr v6;
	size_t len = strlen(host);

	if (len < 3 || host[0] != '[' || host[len - 1] != ']' || len - 2 >= sizeof inner)
		return;
	memcpy(inner, host + 1, len - 2);
	inner[len - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &v6) != 1 || !IN6_IS_ADDR_V4MAPPED(&v6))
		return;
	inet_ntop(AF_INET, &v6.s6_addr[12], host, (socklen_t)(len + 1));
}

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
	unmap_ipv4(host);
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
