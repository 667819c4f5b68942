/* SPDX-License-Identifier: MIT */
/* Unit tests for the host canonicaliser (host.c): every spelling a client may
 * put in a CONNECT target, hostile ones included, with the canonical form or
 * the refusal the policy engine relies on. One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "unit.h"

static const char *
kind_name(enum host_kind k)
{
	switch (k) {
	case HOST_NAME: return "HOST_NAME";
	case HOST_IPV4: return "HOST_IPV4";
	case HOST_IPV6: return "HOST_IPV6";
	}
	return "?";
}

/* Long labels and names, built from literals so each case stays one row. */
#define A10	"aaaaaaaaaa"
#define A60	A10 A10 A10 A10 A10 A10
#define L61	A60 "a"
#define L62	A60 "aa"
#define L63	A60 "aaa"
#define L64	A60 "aaaa"
#define N253	L63 "." L63 "." L63 "." L61
#define N254	L63 "." L63 "." L63 "." L62

struct canon_case {
	const char	*in;
	size_t		 len;
	int		 ret;
	enum host_kind	 kind;
	const char	*name;	/* canonical h_name when accepted */
};

#define OK_NAME(s, n)	{ s, sizeof(s) - 1, 0, HOST_NAME, n }
#define OK_V4(s, n)	{ s, sizeof(s) - 1, 0, HOST_IPV4, n }
#define OK_V6(s, n)	{ s, sizeof(s) - 1, 0, HOST_IPV6, n }
#define BAD(s)		{ s, sizeof(s) - 1, -1, HOST_NAME, NULL }

static const struct canon_case canon_cases[] = {
	/* Names: lower-cased, one trailing dot dropped. */
	OK_NAME("example.com", "example.com"),
	OK_NAME("EXAMPLE.COM", "example.com"),
	OK_NAME("Api.Anthropic.Com", "api.anthropic.com"),
	OK_NAME("example.com.", "example.com"),
	OK_NAME("WWW.Example.COM.", "www.example.com"),
	OK_NAME("localhost", "localhost"),
	OK_NAME("a", "a"),
	OK_NAME("xn--bcher-kva.de", "xn--bcher-kva.de"),
	OK_NAME("my-host.example", "my-host.example"),
	OK_NAME("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),
	OK_NAME("_dmarc.example.com", "_dmarc.example.com"),
	OK_NAME("123.example.com", "123.example.com"),
	OK_NAME("0x7f.example", "0x7f.example"),
	OK_NAME("1.2.3.4.example", "1.2.3.4.example"),
	OK_NAME(L63 ".com", L63 ".com"),
	OK_NAME(N253, N253),
	OK_NAME(N253 ".", N253),

	/* IPv4 literals in every spelling inet_aton accepts. */
	OK_V4("127.0.0.1", "127.0.0.1"),
	OK_V4("127.0.0.1.", "127.0.0.1"),
	OK_V4("127.1", "127.0.0.1"),
	OK_V4("0x7f.0.0.1", "127.0.0.1"),
	OK_V4("0X7F.0.0.1", "127.0.0.1"),
	OK_V4("2130706433", "127.0.0.1"),
	OK_V4("017700000001", "127.0.0.1"),
	OK_V4("0x7f000001", "127.0.0.1"),
	OK_V4("0177.0.0.01", "127.0.0.1"),
	OK_V4("0xA9FEA9FE", "169.254.169.254"),
	OK_V4("169.254.169.254.", "169.254.169.254"),
	OK_V4("10.1", "10.0.0.1"),
	OK_V4("192.168.257", "192.168.1.1"),
	OK_V4("0", "0.0.0.0"),
	OK_V4("4294967295", "255.255.255.255"),

	/* Bracketed IPv6, in inet_ntop form. */
	OK_V6("[::1]", "::1"),
	OK_V6("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
	OK_V6("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
	OK_V6("[2001:DB8::1]", "2001:db8::1"),
	OK_V6("[2001:0db8:0000:0000:0000:0000:0000:0001]", "2001:db8::1"),
	OK_V6("[fe80::1]", "fe80::1"),
	OK_V6("[::]", "::"),

	/* Dots and empty labels. */
	BAD(""),
	BAD("."),
	BAD(".."),
	BAD("example.com.."),
	BAD(".example.com"),
	BAD("a..b"),
	BAD("127.0.0.1.."),

	/* Characters that split or smuggle a name. */
	BAD("exa mple.com"),
	BAD("example.com "),
	BAD(" example.com"),
	BAD("a\tb.com"),
	BAD("example.com\r\n"),
	BAD("example.com\rx"),
	BAD("exa\nmple.com"),
	BAD("example.com\0.evil.net"),
	BAD("example.com.\0"),
	BAD("user@example.com"),
	BAD("evil.net@example.com"),
	BAD("example.com%2f"),
	BAD("%65xample.com"),
	BAD("example.com#frag"),
	BAD("example.com/path"),
	BAD("example.com\\evil"),
	BAD("*.example.com"),
	BAD("example.com:443"),
	BAD("exa\"mple.com"),
	BAD("example.com\x7f"),

	/* Non-ASCII: punycode only. */
	BAD("b\xc3\xbc" "cher.de"),
	BAD("exa\xffmple.com"),
	BAD("\xd0\xb0pple.com"),

	/* Hyphens at the ends of the name. */
	BAD("-example.com"),
	BAD("example.com-"),
	BAD("-"),

	/* Lengths: label 63 and name 253 are the limits. */
	BAD(L64 ".com"),
	BAD("www." L64),
	BAD(N254),
	BAD(N254 "."),

	/* Numbers that are not valid IPv4 literals: refused, never names. */
	BAD("1.2.3.256"),
	BAD("08.1.1.1"),
	BAD("1.2.3.08"),
	BAD("example.123"),
	BAD("1.2.3.4.5"),
	BAD("999.1.1.1"),
	BAD("4294967296"),
	BAD("0x100000000"),
	BAD("1.16777216"),

	/* IPv6 must be bracketed; zone ids are refused. */
	BAD("::1"),
	BAD("2001:db8::1"),
	BAD("::ffff:127.0.0.1"),
	BAD("[fe80::1%25eth0]"),
	BAD("[fe80::1%eth0]"),
	BAD("[::1"),
	BAD("::1]"),
	BAD("[]"),
	BAD("[1.2.3.4]"),
	BAD("[example.com]"),
	BAD("[::1]x"),
	BAD("[[::1]]"),
	BAD("[::1\n]"),
	BAD("[:::1]"),
};

static void
test_host_canon(void **state)
{
	size_t i, n = sizeof(canon_cases) / sizeof(canon_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct canon_case *t = &canon_cases[i];
		struct host h;
		char err[256] = "";
		int r = host_canon(t->in, t->len, &h, err, sizeof(err));

		if (r != t->ret) {
			print_error("row %zu: host_canon(\"%s\") returned %d, "
			    "expected %d (err: %s, name: %s)\n", i,
			    show(t->in, t->len), r, t->ret, err,
			    r == 0 ? h.h_name : "-");
			bad++;
			continue;
		}
		if (r == -1) {
			if (err[0] == '\0') {
				print_error("row %zu: host_canon(\"%s\") refused "
				    "without a reason\n", i,
				    show(t->in, t->len));
				bad++;
			}
			continue;
		}
		if (h.h_kind != t->kind || strcmp(h.h_name, t->name) != 0 ||
		    h.h_port != 0) {
			print_error("row %zu: host_canon(\"%s\") gave %s \"%s\" "
			    "port %u, expected %s \"%s\" port 0\n", i,
			    show(t->in, t->len), kind_name(h.h_kind), h.h_name,
			    (unsigned)h.h_port, kind_name(t->kind), t->name);
			bad++;
			continue;
		}
		if (t->kind != HOST_NAME) {
			unsigned char want[16];
			int af = t->kind == HOST_IPV4 ? AF_INET : AF_INET6;

			inet_pton(af, t->name, want);
			if (memcmp(&h.h_ip, want, af == AF_INET ? 4 : 16)
			    != 0) {
				print_error("row %zu: host_canon(\"%s\"): h_ip "
				    "does not hold %s\n", i,
				    show(t->in, t->len), t->name);
				bad++;
			}
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu host_canon cases failed", bad, n);
}

struct auth_case {
	const char	*in;
	size_t		 len;
	int		 ret;
	enum host_kind	 kind;
	const char	*name;
	uint16_t	 port;
};

#define A_NAME(s, n, p)	{ s, sizeof(s) - 1, 0, HOST_NAME, n, p }
#define A_V4(s, n, p)	{ s, sizeof(s) - 1, 0, HOST_IPV4, n, p }
#define A_V6(s, n, p)	{ s, sizeof(s) - 1, 0, HOST_IPV6, n, p }
#define A_BAD(s)	{ s, sizeof(s) - 1, -1, HOST_NAME, NULL, 0 }

static const struct auth_case auth_cases[] = {
	A_NAME("example.com:443", "example.com", 443),
	A_NAME("EXAMPLE.com.:443", "example.com", 443),
	A_NAME("api.anthropic.com:1", "api.anthropic.com", 1),
	A_NAME("api.anthropic.com:65535", "api.anthropic.com", 65535),
	A_NAME("localhost:22", "localhost", 22),
	A_V4("127.1:443", "127.0.0.1", 443),
	A_V4("2130706433:8443", "127.0.0.1", 8443),
	A_V4("0x7f.0.0.1:443", "127.0.0.1", 443),
	A_V4("169.254.169.254:80", "169.254.169.254", 80),
	A_V6("[::1]:443", "::1", 443),
	A_V6("[::ffff:127.0.0.1]:443", "::ffff:127.0.0.1", 443),
	A_V6("[2001:DB8::1]:8443", "2001:db8::1", 8443),

	/* Ports. */
	A_BAD("example.com"),
	A_BAD("example.com:"),
	A_BAD("example.com:0"),
	A_BAD("example.com:00000"),
	A_BAD("example.com:65536"),
	A_BAD("example.com:99999"),
	A_BAD("example.com:1234567"),
	A_BAD("example.com:+443"),
	A_BAD("example.com:-1"),
	A_BAD("example.com:443 "),
	A_BAD("example.com: 443"),
	A_BAD("example.com:44a"),
	A_BAD("example.com:0x1bb"),
	A_BAD("example.com:443\r\n"),
	A_BAD("example.com:443\0"),
	A_BAD("example.com:https"),

	/* Hosts. */
	A_BAD(":443"),
	A_BAD("::1:443"),
	A_BAD("2001:db8::1:443"),
	A_BAD("[::1]"),
	A_BAD("[::1]443"),
	A_BAD("[fe80::1%25eth0]:443"),
	A_BAD("user:pw@example.com:443"),
	A_BAD("evil.net#@example.com:443"),
	A_BAD("example.com:443:443"),
	A_BAD("example.com\0:443"),
	A_BAD("example.com..:443"),
	A_BAD("1.2.3.256:443"),
	A_BAD("example.123:443"),
	A_BAD(N254 ":443"),
};

static void
test_host_parse_authority(void **state)
{
	size_t i, n = sizeof(auth_cases) / sizeof(auth_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct auth_case *t = &auth_cases[i];
		struct host h;
		char err[256] = "";
		int r = host_parse_authority(t->in, t->len, &h, err,
		    sizeof(err));

		if (r != t->ret) {
			print_error("row %zu: host_parse_authority(\"%s\") "
			    "returned %d, expected %d (err: %s)\n", i,
			    show(t->in, t->len), r, t->ret, err);
			bad++;
		} else if (r == -1 && err[0] == '\0') {
			print_error("row %zu: host_parse_authority(\"%s\") "
			    "refused without a reason\n", i,
			    show(t->in, t->len));
			bad++;
		} else if (r == 0 && (h.h_kind != t->kind ||
		    strcmp(h.h_name, t->name) != 0 || h.h_port != t->port)) {
			print_error("row %zu: host_parse_authority(\"%s\") gave "
			    "%s \"%s\" port %u, expected %s \"%s\" port %u\n",
			    i, show(t->in, t->len), kind_name(h.h_kind),
			    h.h_name, (unsigned)h.h_port, kind_name(t->kind),
			    t->name, (unsigned)t->port);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu host_parse_authority cases failed", bad, n);
}

struct format_case {
	const char	*in;
	const char	*out;	/* host_format of the parsed authority */
};

static const struct format_case format_cases[] = {
	{ "EXAMPLE.com.:443", "example.com:443" },
	{ "api.anthropic.com:8443", "api.anthropic.com:8443" },
	{ "0x7f.1:80", "127.0.0.1:80" },
	{ "[::1]:443", "[::1]:443" },
	{ "[2001:DB8:0::0:1]:8443", "[2001:db8::1]:8443" },
	{ "[::ffff:7f00:1]:443", "[::ffff:127.0.0.1]:443" },
};

/* host_format's output parses back to the same host (brackets kept). */
static void
test_host_format_round_trip(void **state)
{
	size_t i, n = sizeof(format_cases) / sizeof(format_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct format_case *t = &format_cases[i];
		struct host h, h2;
		char buf[300], err[256] = "";
		int len;

		if (host_parse_authority(t->in, strlen(t->in), &h, err,
		    sizeof(err)) == -1) {
			print_error("row %zu: \"%s\" refused: %s\n", i, t->in,
			    err);
			bad++;
			continue;
		}
		len = host_format(&h, buf, sizeof(buf));
		if (len != (int)strlen(t->out) || strcmp(buf, t->out) != 0) {
			print_error("row %zu: host_format(\"%s\") = \"%s\" (%d), "
			    "expected \"%s\"\n", i, t->in, buf, len, t->out);
			bad++;
			continue;
		}
		if (host_parse_authority(buf, strlen(buf), &h2, err,
		    sizeof(err)) == -1 || h2.h_kind != h.h_kind ||
		    h2.h_port != h.h_port || strcmp(h2.h_name, h.h_name) != 0) {
			print_error("row %zu: \"%s\" does not parse back to the "
			    "same host (%s)\n", i, buf, err);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu host_format cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_canon),
		cmocka_unit_test(test_host_parse_authority),
		cmocka_unit_test(test_host_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
