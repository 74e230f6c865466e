/*
 * The address guard's classifier over every special range, IPv4 and IPv6,
 * at both edges of each range and just outside it, plus the embedded IPv4
 * forms and the allow-list. Pure functions: nothing is sent anywhere.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "http_addr.h"

typedef struct ip_case {
	const char *address;
	const char *range; /* NULL: an ordinary public address */
	const char *form;  /* the embedding, or NULL */
} ip_case_t;

static void check_case(const ip_case_t *c)
{
	http_ip_t ip;
	http_ip_class_t why = {0};

	cr_assert_eq(http_ip_parse(&ip, c->address), 0, "cannot parse %s", c->address);
	bool special = http_ip_classify(&ip, &why);
	if (!c->range) {
		cr_assert_not(special, "%s: expected public, got %s", c->address, why.range);
		return;
	}
	cr_assert(special, "%s: expected %s, got public", c->address, c->range);
	cr_assert_str_eq(why.range, c->range, "%s: expected %s, got %s", c->address, c->range, why.range);
	if (c->form)
		cr_assert_str_eq(why.form ? why.form : "(none)", c->form, "%s: expected form %s", c->address, c->form);
	else
		cr_assert_null(why.form, "%s: expected no form, got %s", c->address, why.form);
}

#define PRIVATE "private (RFC 1918)"
#define CGNAT "shared address space (CGNAT, 100.64.0.0/10)"

/* Each IPv4 range at its first and last address, and the neighbours just
 * outside, which must be public. */
Test(blocks_http_addr, ipv4_ranges_and_their_edges)
{
	static const ip_case_t cases[] = {
		{"0.0.0.0", "unspecified", NULL},
		{"0.0.0.1", "this network (0.0.0.0/8)", NULL},
		{"0.255.255.255", "this network (0.0.0.0/8)", NULL},
		{"1.0.0.0", NULL, NULL},
		{"9.255.255.255", NULL, NULL},
		{"10.0.0.0", PRIVATE, NULL},
		{"10.255.255.255", PRIVATE, NULL},
		{"11.0.0.0", NULL, NULL},
		{"100.63.255.255", NULL, NULL},
		{"100.64.0.0", CGNAT, NULL},
		{"100.127.255.255", CGNAT, NULL},
		{"100.128.0.0", NULL, NULL},
		{"126.255.255.255", NULL, NULL},
		{"127.0.0.0", "loopback", NULL},
		{"127.0.0.1", "loopback", NULL},
		{"127.255.255.255", "loopback", NULL},
		{"128.0.0.0", NULL, NULL},
		{"169.253.255.255", NULL, NULL},
		{"169.254.0.0", "link-local", NULL},
		{"169.254.169.254", "link-local", NULL},
		{"169.254.255.255", "link-local", NULL},
		{"169.255.0.0", NULL, NULL},
		{"172.15.255.255", NULL, NULL},
		{"172.16.0.0", PRIVATE, NULL},
		{"172.31.255.255", PRIVATE, NULL},
		{"172.32.0.0", NULL, NULL},
		{"192.167.255.255", NULL, NULL},
		{"192.168.0.0", PRIVATE, NULL},
		{"192.168.255.255", PRIVATE, NULL},
		{"192.169.0.0", NULL, NULL},
		{"223.255.255.255", NULL, NULL},
		{"224.0.0.0", "multicast", NULL},
		{"239.255.255.255", "multicast", NULL},
		{"240.0.0.0", "reserved (240.0.0.0/4)", NULL},
		{"255.255.255.254", "reserved (240.0.0.0/4)", NULL},
		{"255.255.255.255", "broadcast", NULL},
		{"8.8.8.8", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(&cases[i]);
}

/* The IPv6 ranges, at their edges. */
Test(blocks_http_addr, ipv6_ranges_and_their_edges)
{
	static const ip_case_t cases[] = {
		{"::", "unspecified", NULL},
		{"::1", "loopback", NULL},
		{"::2", "this network (0.0.0.0/8)", "IPv4-compatible"},
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, NULL},
		{"fe80::", "link-local", NULL},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local", NULL},
		{"fec0::", "site-local (deprecated, fec0::/10)", NULL},
		{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local (deprecated, fec0::/10)", NULL},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, NULL},
		{"fc00::", "unique local (fc00::/7)", NULL},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique local (fc00::/7)", NULL},
		{"fe00::", NULL, NULL},
		{"ff00::", "multicast", NULL},
		{"ff02::1", "multicast", NULL},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast", NULL},
		{"64:ff9b:1::", "local-use NAT64 (64:ff9b:1::/48)", NULL},
		{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64 (64:ff9b:1::/48)", NULL},
		{"64:ff9b:2::", NULL, NULL},
		{"2001:4860:4860::8888", NULL, NULL},
		{"2606:4700::1111", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(&cases[i]);
}

/* IPv6 addresses that embed an IPv4 address are judged by it: IPv4-mapped,
 * NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form. */
Test(blocks_http_addr, embedded_ipv4_forms)
{
	static const ip_case_t cases[] = {
		{"::ffff:127.0.0.1", "loopback", "IPv4-mapped"},
		{"::ffff:10.1.2.3", PRIVATE, "IPv4-mapped"},
		{"::ffff:169.254.169.254", "link-local", "IPv4-mapped"},
		{"::ffff:100.64.0.1", CGNAT, "IPv4-mapped"},
		{"::ffff:0.0.0.0", "unspecified", "IPv4-mapped"},
		{"::ffff:255.255.255.255", "broadcast", "IPv4-mapped"},
		{"::ffff:224.0.0.1", "multicast", "IPv4-mapped"},
		{"::ffff:8.8.8.8", NULL, NULL},
		{"64:ff9b::127.0.0.1", "loopback", "NAT64"},
		{"64:ff9b::192.168.1.1", PRIVATE, "NAT64"},
		{"64:ff9b::8.8.8.8", NULL, NULL},
		{"::127.0.0.1", "loopback", "IPv4-compatible"},
		{"::10.0.0.1", PRIVATE, "IPv4-compatible"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(&cases[i]);
}

/* Socket addresses convert to the same form as text. */
Test(blocks_http_addr, sockaddr_conversion)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	http_ip_t a, b;
	char text[64];

	inet_pton(AF_INET, "192.168.7.9", &in.sin_addr);
	inet_pton(AF_INET6, "fd12::34", &in6.sin6_addr);

	cr_assert_eq(http_ip_from_sockaddr(&a, (struct sockaddr *)&in, sizeof in), 0);
	cr_assert_eq(http_ip_from_sockaddr(&b, (struct sockaddr *)&in6, sizeof in6), 0);
	cr_assert(a.is_v4);
	http_ip_format(&a, text, sizeof text);
	cr_assert_str_eq(text, "192.168.7.9");
	http_ip_format(&b, text, sizeof text);
	cr_assert_str_eq(text, "fd12::34");
	cr_assert_eq(http_ip_from_sockaddr(&a, (struct sockaddr *)&in, sizeof in - 1), -1, "a short length is refused");
	struct sockaddr unix_addr = {.sa_family = AF_UNIX};
	cr_assert_eq(http_ip_from_sockaddr(&a, &unix_addr, sizeof unix_addr), -1);
}

static http_cidr_t cidr(const char *text)
{
	http_cidr_t c;
	const char *why = NULL;
	cr_assert_eq(http_cidr_parse(&c, text, &why), 0, "%s: %s", text, why);
	return c;
}

static bool refused(const char *address, const http_cidr_t *allow, size_t n)
{
	http_ip_t ip;
	http_ip_class_t why;
	cr_assert_eq(http_ip_parse(&ip, address), 0);
	return http_ip_is_refused(&ip, allow, n, &why);
}

/* The allow-list lets special addresses through by exact range, in their
 * own form and in embedded forms, and nothing else. */
Test(blocks_http_addr, allow_list_admits_listed_ranges_only)
{
	http_cidr_t allow[] = {cidr("127.0.0.1/32"), cidr("10.1.0.0/16"), cidr("fd00::/8")};

	cr_assert(refused("127.0.0.1", NULL, 0), "loopback refused without a list");
	cr_assert_not(refused("127.0.0.1", allow, 3));
	cr_assert(refused("127.0.0.2", allow, 3), "127.0.0.2 is outside 127.0.0.1/32");
	cr_assert_not(refused("::ffff:127.0.0.1", allow, 3), "the mapped form of a listed address");
	cr_assert_not(refused("64:ff9b::127.0.0.1", allow, 3), "the NAT64 form of a listed address");
	cr_assert(refused("::1", allow, 3), "IPv6 loopback is not 127.0.0.1");
	cr_assert_not(refused("10.1.255.255", allow, 3));
	cr_assert(refused("10.2.0.0", allow, 3));
	cr_assert_not(refused("fd00::1", allow, 3));
	cr_assert(refused("fc00::1", allow, 3), "fc00::/8 is outside fd00::/8");
	cr_assert_not(refused("8.8.8.8", NULL, 0), "public addresses need no listing");
}

/* CIDR text: plain addresses are single hosts, prefixes are bounded, and
 * host bits beyond the prefix are an error. */
Test(blocks_http_addr, cidr_parsing)
{
	static const char *const bad[] = {"", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8x",
					  "10.0.0.1/8", "fd00::/129", "fd00::1/8", "example.com", "10.0.0.0/0008",
					  "1.2.3.4.5"};
	http_cidr_t c;
	const char *why = NULL;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		why = NULL;
		cr_assert_eq(http_cidr_parse(&c, bad[i], &why), -1, "'%s' should be refused", bad[i]);
		cr_assert_not_null(why, "'%s' refused without a reason", bad[i]);
	}
	c = cidr("192.168.1.1");
	cr_assert_eq(c.prefix, 128, "an IPv4 host is /32, stored as /128");
	c = cidr("0.0.0.0/0");
	cr_assert_eq(c.prefix, 96);
	c = cidr("::/0");
	cr_assert_eq(c.prefix, 0);
}
