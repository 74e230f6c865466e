/*
 * The address guard's classifier. Every address is handled in its 128-bit
 * form, IPv4 as ::ffff:a.b.c.d, so each range is one prefix.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "http_addr.h"

/* A special range over the 128-bit form. */
typedef struct range {
	uint8_t net[16];
	unsigned prefix;
	const char *name;
} range_t;

#define V4(a, b, c, d) {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}

/* IPv4 ranges, most specific first: broadcast lies inside the reserved
 * 240.0.0.0/4 and must be named before it. */
static const range_t v4_ranges[] = {
	{V4(0, 0, 0, 0), 96 + 32, "unspecified"},
	{V4(0, 0, 0, 0), 96 + 8, "this network (0.0.0.0/8)"},
	{V4(10, 0, 0, 0), 96 + 8, "private (RFC 1918)"},
	{V4(100, 64, 0, 0), 96 + 10, "shared address space (CGNAT, 100.64.0.0/10)"},
	{V4(127, 0, 0, 0), 96 + 8, "loopback"},
	{V4(169, 254, 0, 0), 96 + 16, "link-local"},
	{V4(172, 16, 0, 0), 96 + 12, "private (RFC 1918)"},
	{V4(192, 168, 0, 0), 96 + 16, "private (RFC 1918)"},
	{V4(224, 0, 0, 0), 96 + 4, "multicast"},
	{V4(255, 255, 255, 255), 96 + 32, "broadcast"},
	{V4(240, 0, 0, 0), 96 + 4, "reserved (240.0.0.0/4)"},
};

/* IPv6 ranges that do not embed an IPv4 address. */
static const range_t v6_ranges[] = {
	{{0}, 128, "unspecified"},
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
	{{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "local-use NAT64 (64:ff9b:1::/48)"},
	{{0xfe, 0x80}, 10, "link-local"},
	{{0xfe, 0xc0}, 10, "site-local (deprecated, fec0::/10)"},
	{{0xfc, 0x00}, 7, "unique local (fc00::/7)"},
	{{0xff, 0x00}, 8, "multicast"},
};

/* IPv6 prefixes whose last 32 bits are an IPv4 address, checked after the
 * exact :: and ::1 entries above. */
static const range_t embeddings[] = {
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "IPv4-mapped"},
	{{0x00, 0x64, 0xff, 0x9b}, 96, "NAT64"},
	{{0}, 96, "IPv4-compatible"},
};

#define COUNT(a) (sizeof(a) / sizeof *(a))

static bool prefix_matches(const uint8_t *net, unsigned prefix, const uint8_t *ip)
{
	unsigned whole = prefix / 8;
	unsigned rest = prefix % 8;

	if (memcmp(net, ip, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (net[whole] & mask) == (ip[whole] & mask);
}

bool http_cidr_contains(const http_cidr_t *cidr, const http_ip_t *ip)
{
	return prefix_matches(cidr->net.bytes, cidr->prefix, ip->bytes);
}

static void map_v4(http_ip_t *out, const uint8_t v4[4])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memcpy(out->bytes, mapped, sizeof mapped);
	memcpy(out->bytes + 12, v4, 4);
	out->is_v4 = true;
}

int http_ip_from_sockaddr(http_ip_t *out, const struct sockaddr *sa, size_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof in);
		map_v4(out, (const uint8_t *)&in.sin_addr.s_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof in6);
		memcpy(out->bytes, in6.sin6_addr.s6_addr, 16);
		out->is_v4 = false;
		return 0;
	}
	return -1;
}

int http_ip_parse(http_ip_t *out, const char *text)
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		map_v4(out, v4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->bytes) == 1) {
		out->is_v4 = false;
		return 0;
	}
	return -1;
}

void http_ip_format(const http_ip_t *ip, char *buf, size_t size)
{
	if (ip->is_v4)
		inet_ntop(AF_INET, ip->bytes + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, ip->bytes, buf, (socklen_t)size);
}

/* Read a decimal prefix length of at most `max`. */
static int parse_prefix(const char *text, unsigned max, unsigned *out)
{
	char *end;

	if (*text < '0' || *text > '9' || strlen(text) > 3)
		return -1;
	unsigned long n = strtoul(text, &end, 10);
	if (*end || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* Return whether any bit of `ip` below `prefix` is set. */
static bool has_host_bits(const http_ip_t *ip, unsigned prefix)
{
	for (unsigned bit = prefix; bit < 128; bit++) {
		if (ip->bytes[bit / 8] & (0x80u >> (bit % 8)))
			return true;
	}
	return false;
}

int http_cidr_parse(http_cidr_t *out, const char *text, const char **why)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);

	if (len == 0 || len >= sizeof addr) {
		*why = "expected an IP address or CIDR block such as \"10.0.0.0/8\" or \"fd00::/8\"";
		return -1;
	}
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (http_ip_parse(&out->net, addr) < 0) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}

	unsigned max = out->net.is_v4 ? 32 : 128;
	unsigned prefix = max;
	if (slash && parse_prefix(slash + 1, max, &prefix) < 0) {
		*why = out->net.is_v4 ? "the prefix length must be 0 to 32" : "the prefix length must be 0 to 128";
		return -1;
	}
	out->prefix = out->net.is_v4 ? 96 + prefix : prefix;
	if (has_host_bits(&out->net, out->prefix)) {
		*why = "the address has bits set beyond the prefix length";
		return -1;
	}
	return 0;
}

static const range_t *find_range(const range_t *table, size_t n, const uint8_t *bytes)
{
	for (size_t i = 0; i < n; i++) {
		if (prefix_matches(table[i].net, table[i].prefix, bytes))
			return &table[i];
	}
	return NULL;
}

/* If `ip` is an IPv6 form that embeds an IPv4 address, store that address
 * in *v4 and return the form's name; else NULL. */
static const char *embedded_v4(const http_ip_t *ip, http_ip_t *v4)
{
	if (ip->is_v4)
		return NULL;
	/* :: and ::1 are IPv6 addresses of their own, not IPv4-compatible. */
	if (find_range(v6_ranges, 2, ip->bytes))
		return NULL;

	const range_t *e = find_range(embeddings, COUNT(embeddings), ip->bytes);
	if (!e)
		return NULL;
	map_v4(v4, ip->bytes + 12);
	return e->name;
}

bool http_ip_classify(const http_ip_t *ip, http_ip_class_t *out)
{
	http_ip_t v4;
	const char *form = embedded_v4(ip, &v4);
	const range_t *r;

	if (ip->is_v4 || form)
		r = find_range(v4_ranges, COUNT(v4_ranges), form ? v4.bytes : ip->bytes);
	else
		r = find_range(v6_ranges, COUNT(v6_ranges), ip->bytes);
	if (!r)
		return false;
	out->range = r->name;
	out->form = form;
	return true;
}

bool http_ip_is_refused(const http_ip_t *ip, const http_cidr_t *allow, size_t n, http_ip_class_t *why)
{
	http_ip_t v4;
	bool embeds = embedded_v4(ip, &v4) != NULL;

	if (!http_ip_classify(ip, why))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (http_cidr_contains(&allow[i], ip) || (embeds && http_cidr_contains(&allow[i], &v4)))
			return false;
	}
	return true;
}
