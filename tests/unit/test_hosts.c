/* SPDX-License-Identifier: MIT */
/* Unit tests for hosts.c: /etc/hosts-format lines (IPv4 and IPv6, aliases,
 * comments, several addresses per name across lines) and lookups that return
 * them in file order with the requested port. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "hosts.h"
#include "unit.h"

/* "ip:port" of a lookup result, IPv6 bracketed. */
static void
format_sa(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip,
		    (unsigned)ntohs(s6->sin6_port));
	} else
		snprintf(buf, len, "family %d", (int)ss->ss_family);
}

struct line_case {
	const char	*line;
	size_t		 len;
	int		 ret;
};

#define OK(s)	{ s, sizeof(s) - 1, 0 }
#define BAD(s)	{ s, sizeof(s) - 1, -1 }

/* Each row is parsed into one shared table, in order; the lookup table
 * below checks what that table holds. */
static const struct line_case line_cases[] = {
	OK("# test origins on loopback"),
	OK(""),
	OK("   \t  "),
	OK("\r"),
	OK("127.0.0.1 api.anthropic.com generativelanguage.googleapis.com"),
	OK("127.0.0.2\twww.google.com # the denied one"),
	OK("::1 ip6-localhost ip6-loopback"),
	OK("  127.0.0.3   api.anthropic.com\r"),
	OK("::ffff:127.0.0.4 api.anthropic.com"),
	OK("10.0.0.1 UPPER.Example.COM."),
	OK("169.254.169.254 metadata.example.com"),
	OK("fe80::1\tlinklocal.example.com\tLL.example.com"),
	OK("127.0.0.5 api.anthropic.com#no space before the comment"),

	BAD("127.0.0.1"),
	BAD("127.0.0.1   "),
	BAD("127.0.0.1 # a name in a comment does not count"),
	BAD("not-an-address example.com"),
	BAD("300.1.1.1 example.com"),
	BAD("127.1 example.com"),
	BAD("0x7f.0.0.1 example.com"),
	BAD("[::1] example.com"),
	BAD("fe80::1%eth0 example.com"),
	BAD("127.0.0.1/8 example.com"),
	BAD("example.com 127.0.0.1"),
	BAD("127.0.0.1 1.2.3.4"),
	BAD("127.0.0.1 bad!name.example"),
	BAD("127.0.0.1 b\xc3\xbc" "cher.de"),
	BAD("127.0.0.1 " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".com"),
	BAD("127.0.0.1 under..dot"),
	BAD("127.0.0.1 example.com\0evil"),
};

struct lookup_case {
	const char	*name;
	uint16_t	 port;
	const char	*want[5];	/* in file order, NULL-terminated */
};

static const struct lookup_case lookup_cases[] = {
	{ "api.anthropic.com", 443, { "127.0.0.1:443", "127.0.0.3:443",
	    "[::ffff:127.0.0.4]:443", "127.0.0.5:443" } },
	{ "generativelanguage.googleapis.com", 8443, { "127.0.0.1:8443" } },
	{ "www.google.com", 443, { "127.0.0.2:443" } },
	{ "ip6-localhost", 80, { "[::1]:80" } },
	{ "ip6-loopback", 80, { "[::1]:80" } },
	{ "upper.example.com", 443, { "10.0.0.1:443" } },
	{ "metadata.example.com", 80, { "169.254.169.254:80" } },
	{ "linklocal.example.com", 22, { "[fe80::1]:22" } },
	{ "ll.example.com", 22, { "[fe80::1]:22" } },
	/* Not in the table. */
	{ "google.com", 443, { NULL } },
	{ "anthropic.com", 443, { NULL } },
	{ "example.com", 443, { NULL } },
	{ "localhost", 443, { NULL } },
	{ "127.0.0.1", 443, { NULL } },
};

static void
test_hosts(void **state)
{
	size_t nl = sizeof(line_cases) / sizeof(line_cases[0]);
	size_t nk = sizeof(lookup_cases) / sizeof(lookup_cases[0]);
	struct sockaddr_storage out[8];
	struct hostsdb db;
	size_t i, j, got;
	int bad = 0;

	(void)state;
	hosts_init(&db);
	for (i = 0; i < nl; i++) {
		const struct line_case *t = &line_cases[i];
		char err[300] = "";
		int r = hosts_parse_line(&db, t->line, t->len, err, sizeof(err));

		if (r != t->ret) {
			print_error("line row %zu: \"%s\" returned %d, expected "
			    "%d (err: %s)\n", i, show(t->line, t->len), r,
			    t->ret, err);
			bad++;
		} else if (r == -1 && err[0] == '\0') {
			print_error("line row %zu: \"%s\" refused without a "
			    "reason\n", i, show(t->line, t->len));
			bad++;
		}
	}
	for (i = 0; i < nk; i++) {
		const struct lookup_case *t = &lookup_cases[i];
		char have[400] = "", want[400] = "", a[80];

		got = hosts_lookup(&db, t->name, t->port, out, 8);
		for (j = 0; j < got; j++) {
			format_sa(&out[j], a, sizeof(a));
			snprintf(have + strlen(have), sizeof(have) - strlen(have),
			    "%s%s", j ? " " : "", a);
		}
		for (j = 0; j < 5 && t->want[j] != NULL; j++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want),
			    "%s%s", j ? " " : "", t->want[j]);
		if (strcmp(have, want) != 0) {
			print_error("lookup row %zu: hosts_lookup(%s, %u) = "
			    "[%s], expected [%s]\n", i, t->name,
			    (unsigned)t->port, have, want);
			bad++;
		}
	}
	hosts_free(&db);
	if (bad > 0)
		fail_msg("%d hosts cases failed", bad);
}

/* `max` bounds what is written; an empty table finds nothing. */
static void
test_hosts_lookup_max(void **state)
{
	static const char *const lines[] = {
		"127.0.0.1 many.example", "127.0.0.2 many.example",
		"127.0.0.3 many.example",
	};
	struct sockaddr_storage out[3];
	struct hostsdb db;
	char err[300], a[80];
	size_t i;

	(void)state;
	hosts_init(&db);
	assert_int_equal(hosts_lookup(&db, "many.example", 443, out, 3), 0);
	for (i = 0; i < 3; i++)
		if (hosts_parse_line(&db, lines[i], strlen(lines[i]), err,
		    sizeof(err)) == -1)
			fail_msg("\"%s\" refused: %s", lines[i], err);
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(hosts_lookup(&db, "many.example", 443, out, 2), 2);
	format_sa(&out[1], a, sizeof(a));
	assert_string_equal(a, "127.0.0.2:443");
	assert_int_equal(((unsigned char *)&out[2])[0], 0xa5);
	assert_int_equal(hosts_lookup(&db, "many.example", 443, out, 0), 0);
	hosts_free(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_hosts_lookup_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
