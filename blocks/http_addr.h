/*
 * The HTTP block's address guard: which IP addresses a request may connect
 * to. Special-purpose ranges (loopback, link-local, private, shared CGNAT
 * space, unique local, unspecified, multicast, broadcast and reserved) are
 * refused, also when an IPv6 address embeds such an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64), unless the operator's allow-list
 * names them. Pure functions: nothing here opens a socket.
 */
#ifndef BL_HTTP_ADDR_H
#define BL_HTTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* An address in IPv6 form: IPv4 addresses are stored IPv4-mapped
 * (::ffff:a.b.c.d), so one prefix comparison serves both families. */
typedef struct http_ip {
	uint8_t bytes[16];
	bool is_v4; /* an AF_INET address, not an IPv6 one of IPv4-mapped form */
} http_ip_t;

/* One allow-list entry: an address and a prefix length over the 128-bit
 * form (an IPv4 /n is stored as /96+n). */
typedef struct http_cidr {
	http_ip_t net;
	unsigned prefix;
} http_cidr_t;

/*
 * Parse "a.b.c.d", "a.b.c.d/n", "v6addr" or "v6addr/n" into *out. Host bits
 * set below the prefix are an error, so "10.0.0.1/8" is refused rather
 * than silently widened. Returns 0, or -1 with a reason in `why` (a static
 * string).
 */
int http_cidr_parse(http_cidr_t *out, const char *text, const char **why);

/* Return whether `ip` lies inside `cidr`. */
bool http_cidr_contains(const http_cidr_t *cidr, const http_ip_t *ip);

/*
 * Convert a socket address (AF_INET or AF_INET6) into *out. Returns 0, or
 * -1 for another family or a length too short for it.
 */
int http_ip_from_sockaddr(http_ip_t *out, const struct sockaddr *sa, size_t len);

/* Parse a textual IPv4 or IPv6 address. Returns 0 or -1. */
int http_ip_parse(http_ip_t *out, const char *text);

/* Write `ip` as text: dotted quad for IPv4 (including IPv4-mapped), the
 * usual IPv6 form otherwise. `size` of 46 bytes always suffices. */
void http_ip_format(const http_ip_t *ip, char *buf, size_t size);

/* The special range an address falls in. Both strings are static. */
typedef struct http_ip_class {
	const char *range; /* "loopback", "private (RFC 1918)", ... */
	const char *form;  /* "IPv4-mapped", "NAT64", "IPv4-compatible", or NULL
	                    * when the address is classified as itself */
} http_ip_class_t;

/*
 * Classify `ip`. Returns true and fills *out when it is special; returns
 * false for an ordinary public address. An IPv6 address that embeds an
 * IPv4 address is classified by the embedded address, and out->form names
 * the embedding.
 */
bool http_ip_classify(const http_ip_t *ip, http_ip_class_t *out);

/*
 * Decide whether a connection to `ip` is refused: it is when the address
 * is special and none of the `n` entries of `allow` contains it, in its own
 * form or, for an embedded IPv4 address, in the IPv4 form. Returns true
 * and fills *why when refused.
 */
bool http_ip_is_refused(const http_ip_t *ip, const http_cidr_t *allow, size_t n, http_ip_class_t *why);

#endif
