/* SPDX-License-Identifier: MIT */
/* Unit tests for addr.c: the refused-destination classifier over every range
 * (first, middle and last address, and a neighbour outside), IPv6 forms that
 * embed IPv4, CIDR parsing and matching, and ADDR:PORT parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Build a sockaddr from a numeric address (IPv6 when it holds a ':'). */
static int
make_sa(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return inet_pton(AF_INET, ip, &s4->sin_addr) == 1 ? 0 : -1;
	}
}

struct class_case {
	const char	*ip;
	const char	*cls;	/* NULL: a public address that may be dialled */
};

#define THIS_NET	"this-network"
#define PRIV		"private"
#define CGNAT		"shared (CGNAT)"
#define LOOP		"loopback"
#define LINK4		"link-local/metadata"
#define IETF		"IETF protocol assignments"
#define DOC		"documentation"
#define BENCH		"benchmarking"
#define MCAST		"multicast"
#define RSVD		"reserved"
#define UNSPEC		"unspecified"
#define ULA		"unique-local"
#define LINK6		"link-local"

static const struct class_case class_cases[] = {
	/* 0/8 */
	{ "0.0.0.0", THIS_NET }, { "0.1.2.3", THIS_NET },
	{ "0.255.255.255", THIS_NET }, { "1.0.0.0", NULL },
	/* 10/8 */
	{ "10.0.0.0", PRIV }, { "10.20.30.40", PRIV },
	{ "10.255.255.255", PRIV }, { "9.255.255.255", NULL },
	{ "11.0.0.0", NULL },
	/* 100.64/10 */
	{ "100.64.0.0", CGNAT }, { "100.100.100.100", CGNAT },
	{ "100.127.255.255", CGNAT }, { "100.63.255.255", NULL },
	{ "100.128.0.0", NULL },
	/* 127/8 */
	{ "127.0.0.0", LOOP }, { "127.0.0.1", LOOP },
	{ "127.255.255.255", LOOP }, { "126.255.255.255", NULL },
	{ "128.0.0.0", NULL },
	/* 169.254/16 */
	{ "169.254.0.0", LINK4 }, { "169.254.169.254", LINK4 },
	{ "169.254.255.255", LINK4 }, { "169.253.255.255", NULL },
	{ "169.255.0.0", NULL },
	/* 172.16/12 */
	{ "172.16.0.0", PRIV }, { "172.20.1.1", PRIV },
	{ "172.31.255.255", PRIV }, { "172.15.255.255", NULL },
	{ "172.32.0.0", NULL },
	/* 192.0.0/24 */
	{ "192.0.0.0", IETF }, { "192.0.0.8", IETF }, { "192.0.0.255", IETF },
	{ "191.255.255.255", NULL }, { "192.0.1.0", NULL },
	/* 192.0.2/24 */
	{ "192.0.2.0", DOC }, { "192.0.2.123", DOC }, { "192.0.2.255", DOC },
	{ "192.0.3.0", NULL },
	/* 192.168/16 */
	{ "192.168.0.0", PRIV }, { "192.168.1.1", PRIV },
	{ "192.168.255.255", PRIV }, { "192.167.255.255", NULL },
	{ "192.169.0.0", NULL },
	/* 198.18/15 */
	{ "198.18.0.0", BENCH }, { "198.18.200.1", BENCH },
	{ "198.19.255.255", BENCH }, { "198.17.255.255", NULL },
	{ "198.20.0.0", NULL },
	/* 198.51.100/24 */
	{ "198.51.100.0", DOC }, { "198.51.100.50", DOC },
	{ "198.51.100.255", DOC }, { "198.51.99.255", NULL },
	{ "198.51.101.0", NULL },
	/* 203.0.113/24 */
	{ "203.0.113.0", DOC }, { "203.0.113.7", DOC },
	{ "203.0.113.255", DOC }, { "203.0.112.255", NULL },
	{ "203.0.114.0", NULL },
	/* 224/4 */
	{ "224.0.0.0", MCAST }, { "230.1.2.3", MCAST },
	{ "239.255.255.255", MCAST }, { "223.255.255.255", NULL },
	/* 240/4, the limited broadcast address included */
	{ "240.0.0.0", RSVD }, { "250.1.2.3", RSVD },
	{ "255.255.255.254", RSVD }, { "255.255.255.255", RSVD },

	/* ::/128 and ::1/128 */
	{ "::", UNSPEC }, { "::1", LOOP },
	/* fc00::/7 */
	{ "fc00::", ULA }, { "fd12:3456:789a::1", ULA },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ULA },
	/* fe80::/10 */
	{ "fe80::", LINK6 }, { "fe80::1", LINK6 },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LINK6 },
	/* fec0::/10 (deprecated site-local), 100::/64 (discard),
	 * 2001:db8::/32 (documentation) */
	{ "fec0::1", "site-local" }, { "feff:ffff::1", "site-local" },
	{ "100::1", "discard" }, { "100::ffff:ffff:ffff:ffff", "discard" },
	{ "100:0:0:1::", NULL },
	{ "2001:db8::1", DOC }, { "2001:db8:ffff::1", DOC },
	{ "2001:db9::1", NULL },
	/* ff00::/8 */
	{ "ff00::", MCAST }, { "ff02::1", MCAST },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCAST },

	/* IPv4-mapped ::ffff:0:0/96 */
	{ "::ffff:127.0.0.1", LOOP }, { "::ffff:10.0.0.1", PRIV },
	{ "::ffff:169.254.169.254", LINK4 }, { "::ffff:0.0.0.0", THIS_NET },
	{ "::ffff:255.255.255.255", RSVD }, { "::ffff:7f00:1", LOOP },
	/* IPv4-translated ::ffff:0:0:0/96 (SIIT, RFC 2765) */
	{ "::ffff:0:7f00:1", LOOP }, { "::ffff:0:127.0.0.1", LOOP },
	{ "::ffff:0:a9fe:a9fe", LINK4 }, { "::ffff:0:10.1.2.3", PRIV },
	{ "::ffff:0:8.8.8.8", NULL },
	/* NAT64 64:ff9b::/96 */
	{ "64:ff9b::127.0.0.1", LOOP }, { "64:ff9b::a9fe:a9fe", LINK4 },
	{ "64:ff9b::192.168.0.1", PRIV }, { "64:ff9b::8.8.8.8", NULL },
	/* Local-use NAT64 64:ff9b:1::/48 (RFC 8215) */
	{ "64:ff9b:1::a9fe:a9fe", LINK4 }, { "64:ff9b:1::10.0.0.1", PRIV },
	{ "64:ff9b:1::8.8.8.8", NULL },
	/* 6to4 2002::/16: IPv4 in bits 16-47 */
	{ "2002:7f00:1::", LOOP }, { "2002:a9fe:a9fe::1", LINK4 },
	{ "2002:0a00:0001:ffff::1", PRIV }, { "2002:c0a8:0101::", PRIV },
	{ "2002:0808:0808::1", NULL },
	/* Teredo 2001:0::/32: server in bits 32-63, client inverted at the end */
	{ "2001:0:7f00:1::", LOOP },
	{ "2001:0:a9fe:a9fe:0:0:0808:0808", LINK4 },
	{ "2001:0:808:808:0:0:f5ff:fffe", PRIV },	/* client 10.0.0.1 */
	{ "2001:0:808:808:8000:ffff:80ff:fffe", LOOP },	/* client 127.0.0.1 */
	{ "2001:0:808:808:0:0:5601:5601", LINK4 },	/* client 169.254.169.254 */
	{ "2001:0:808:808::fefe:fefe", NULL },		/* client 1.1.1.1 */
	/* IPv4-compatible ::a.b.c.d */
	{ "::127.0.0.1", LOOP }, { "::10.1.2.3", PRIV },
	{ "::169.254.169.254", LINK4 }, { "::2", THIS_NET },

	/* Public addresses. */
	{ "8.8.8.8", NULL }, { "1.1.1.1", NULL }, { "160.79.104.10", NULL },
	{ "2606:4700::1111", NULL }, { "2a00:1450:4001:80b::200e", NULL },
	{ "::ffff:8.8.8.8", NULL }, { "::ffff:1.1.1.1", NULL },
};

static void
test_addr_refused_class(void **state)
{
	size_t i, n = sizeof(class_cases) / sizeof(class_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct class_case *t = &class_cases[i];
		struct sockaddr_storage ss;
		const char *cls;

		if (make_sa(t->ip, 443, &ss) == -1) {
			print_error("row %zu: test data '%s' is not an address\n",
			    i, t->ip);
			bad++;
			continue;
		}
		cls = addr_refused_class((struct sockaddr *)&ss);
		if ((cls == NULL) != (t->cls == NULL) ||
		    (cls != NULL && strcmp(cls, t->cls) != 0)) {
			print_error("row %zu: addr_refused_class(%s) = %s, "
			    "expected %s\n", i, t->ip, cls ? cls : "NULL (public)",
			    t->cls ? t->cls : "NULL (public)");
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu addr_refused_class cases failed", bad, n);
}

struct cidr_case {
	const char	*in;
	int		 ret;
	int		 family;
	unsigned	 prefix;
	const char	*text;	/* cidr_format of the result */
};

static const struct cidr_case cidr_cases[] = {
	{ "10.0.0.0/8", 0, AF_INET, 8, "10.0.0.0/8" },
	{ "127.0.0.0/8", 0, AF_INET, 8, "127.0.0.0/8" },
	{ "100.64.0.0/10", 0, AF_INET, 10, "100.64.0.0/10" },
	{ "0.0.0.0/0", 0, AF_INET, 0, "0.0.0.0/0" },
	{ "192.0.2.1", 0, AF_INET, 32, "192.0.2.1/32" },
	{ "192.0.2.1/32", 0, AF_INET, 32, "192.0.2.1/32" },
	{ "2001:db8::/32", 0, AF_INET6, 32, "2001:db8::/32" },
	{ "fc00::/7", 0, AF_INET6, 7, "fc00::/7" },
	{ "::1", 0, AF_INET6, 128, "::1/128" },
	{ "::/0", 0, AF_INET6, 0, "::/0" },
	{ "::ffff:0:0/96", 0, AF_INET6, 96, "::ffff:0.0.0.0/96" },
	/* Host bits below the prefix. */
	{ "10.0.0.1/8", -1, 0, 0, NULL },
	{ "127.0.0.1/8", -1, 0, 0, NULL },
	{ "100.64.0.0/9", -1, 0, 0, NULL },
	{ "fd00::1/8", -1, 0, 0, NULL },
	/* Bad prefixes. */
	{ "10.0.0.0/33", -1, 0, 0, NULL },
	{ "::/129", -1, 0, 0, NULL },
	{ "10.0.0.0/", -1, 0, 0, NULL },
	{ "10.0.0.0/-1", -1, 0, 0, NULL },
	{ "10.0.0.0/+8", -1, 0, 0, NULL },
	{ "10.0.0.0/8x", -1, 0, 0, NULL },
	{ "10.0.0.0/ 8", -1, 0, 0, NULL },
	{ "10.0.0.0/8/8", -1, 0, 0, NULL },
	{ "10.0.0.0/99999999999999999999", -1, 0, 0, NULL },
	/* Garbage and non-canonical spellings. */
	{ "", -1, 0, 0, NULL },
	{ "/8", -1, 0, 0, NULL },
	{ "garbage", -1, 0, 0, NULL },
	{ "example.com/24", -1, 0, 0, NULL },
	{ "127.1/8", -1, 0, 0, NULL },
	{ "10.0.0.0.0/8", -1, 0, 0, NULL },
	{ "[::1]/128", -1, 0, 0, NULL },
	{ "fe80::1%eth0/64", -1, 0, 0, NULL },
	{ " 10.0.0.0/8", -1, 0, 0, NULL },
};

static void
test_cidr_parse(void **state)
{
	size_t i, n = sizeof(cidr_cases) / sizeof(cidr_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct cidr_case *t = &cidr_cases[i];
		struct cidr c;
		char err[256] = "", text[80] = "";
		int r = cidr_parse(t->in, &c, err, sizeof(err));

		if (r == 0)
			cidr_format(&c, text, sizeof(text));
		if (r != t->ret) {
			print_error("row %zu: cidr_parse(\"%s\") returned %d, "
			    "expected %d (err: %s, got: %s)\n", i, t->in, r,
			    t->ret, err, text);
			bad++;
		} else if (r == -1 && err[0] == '\0') {
			print_error("row %zu: cidr_parse(\"%s\") refused without "
			    "a reason\n", i, t->in);
			bad++;
		} else if (r == 0 && (c.c_family != t->family ||
		    c.c_prefix != t->prefix || strcmp(text, t->text) != 0)) {
			print_error("row %zu: cidr_parse(\"%s\") gave %s, "
			    "expected %s\n", i, t->in, text, t->text);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu cidr_parse cases failed", bad, n);
}

struct match_case {
	const char	*cidr;
	const char	*ip;
	bool		 match;
};

static const struct match_case match_cases[] = {
	{ "10.0.0.0/8", "10.0.0.0", true },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	{ "100.64.0.0/10", "100.127.255.255", true },
	{ "100.64.0.0/10", "100.128.0.0", false },
	{ "127.0.0.0/8", "127.0.0.1", true },
	{ "127.0.0.1", "127.0.0.1", true },
	{ "127.0.0.1", "127.0.0.2", false },
	{ "0.0.0.0/0", "203.0.113.9", true },
	{ "0.0.0.0/0", "::1", false },
	/* IPv4-mapped IPv6 addresses match IPv4 blocks. */
	{ "127.0.0.0/8", "::ffff:127.0.0.1", true },
	{ "169.254.169.254", "::ffff:169.254.169.254", true },
	{ "10.0.0.0/8", "::ffff:11.0.0.1", false },
	/* IPv6 blocks. */
	{ "fc00::/7", "fd00::1", true },
	{ "fc00::/7", "fe00::1", false },
	{ "::1", "::1", true },
	{ "::1", "::2", false },
	{ "::/0", "2606:4700::1111", true },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::1", false },
	{ "::ffff:0:0/96", "::ffff:10.0.0.1", true },
	/* Families do not cross otherwise. */
	{ "::/0", "127.0.0.1", false },
	{ "fc00::/7", "10.0.0.1", false },
};

static void
test_cidr_match(void **state)
{
	size_t i, n = sizeof(match_cases) / sizeof(match_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct match_case *t = &match_cases[i];
		struct sockaddr_storage ss;
		struct cidr c;
		char err[256];
		bool m;

		if (cidr_parse(t->cidr, &c, err, sizeof(err)) == -1 ||
		    make_sa(t->ip, 443, &ss) == -1) {
			print_error("row %zu: bad test data %s / %s (%s)\n", i,
			    t->cidr, t->ip, err);
			bad++;
			continue;
		}
		m = cidr_match(&c, (struct sockaddr *)&ss);
		if (m != t->match) {
			print_error("row %zu: cidr_match(%s, %s) = %s, expected "
			    "%s\n", i, t->cidr, t->ip, m ? "true" : "false",
			    t->match ? "true" : "false");
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu cidr_match cases failed", bad, n);
}

struct hostport_case {
	const char	*in;
	int		 ret;
	int		 family;
	const char	*text;	/* addr_format of the result */
};

static const struct hostport_case hostport_cases[] = {
	{ "127.0.0.1:3128", 0, AF_INET, "127.0.0.1:3128" },
	{ "0.0.0.0:3128", 0, AF_INET, "0.0.0.0:3128" },
	{ "0.0.0.0:0", 0, AF_INET, "0.0.0.0:0" },
	{ "8.8.8.8:65535", 0, AF_INET, "8.8.8.8:65535" },
	{ "[::1]:3128", 0, AF_INET6, "[::1]:3128" },
	{ "[::]:0", 0, AF_INET6, "[::]:0" },
	{ "[2001:DB8::1]:53", 0, AF_INET6, "[2001:db8::1]:53" },
	{ "[::ffff:127.0.0.1]:80", 0, AF_INET6, "[::ffff:127.0.0.1]:80" },
	{ "127.0.0.1", -1, 0, NULL },
	{ "127.0.0.1:", -1, 0, NULL },
	{ ":3128", -1, 0, NULL },
	{ "127.0.0.1:65536", -1, 0, NULL },
	{ "127.0.0.1:99999", -1, 0, NULL },
	{ "127.0.0.1:abc", -1, 0, NULL },
	{ "127.0.0.1:+80", -1, 0, NULL },
	{ "127.0.0.1:-1", -1, 0, NULL },
	{ "127.0.0.1:80 ", -1, 0, NULL },
	{ "127.0.0.1:0x50", -1, 0, NULL },
	{ "::1:3128", -1, 0, NULL },
	{ "2001:db8::1:53", -1, 0, NULL },
	{ "[::1]", -1, 0, NULL },
	{ "[::1]3128", -1, 0, NULL },
	{ "[::1:3128", -1, 0, NULL },
	{ "[127.0.0.1]:80", -1, 0, NULL },
	{ "[fe80::1%eth0]:80", -1, 0, NULL },
	{ "127.1:80", -1, 0, NULL },
	{ "localhost:3128", -1, 0, NULL },
	{ "256.0.0.1:80", -1, 0, NULL },
};

static void
test_addr_parse_hostport(void **state)
{
	size_t i, n = sizeof(hostport_cases) / sizeof(hostport_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct hostport_case *t = &hostport_cases[i];
		struct sockaddr_storage ss;
		socklen_t sl = 0;
		char err[256] = "", text[80] = "";
		int r = addr_parse_hostport(t->in, &ss, &sl, err, sizeof(err));

		if (r == 0)
			addr_format((struct sockaddr *)&ss, text, sizeof(text));
		if (r != t->ret) {
			print_error("row %zu: addr_parse_hostport(\"%s\") returned "
			    "%d, expected %d (err: %s, got: %s)\n", i, t->in, r,
			    t->ret, err, text);
			bad++;
		} else if (r == -1 && err[0] == '\0') {
			print_error("row %zu: addr_parse_hostport(\"%s\") refused "
			    "without a reason\n", i, t->in);
			bad++;
		} else if (r == 0 && (ss.ss_family != t->family ||
		    strcmp(text, t->text) != 0 ||
		    sl != (t->family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6)))) {
			print_error("row %zu: addr_parse_hostport(\"%s\") gave %s "
			    "(len %u), expected %s\n", i, t->in, text,
			    (unsigned)sl, t->text);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu addr_parse_hostport cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_refused_class),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_addr_parse_hostport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
