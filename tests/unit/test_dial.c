/* SPDX-License-Identifier: MIT */
/* Address selection (dial.c): of the addresses a name resolves to, which may
 * be dialled, in which order, and what is said when none may. A row is a
 * configuration, the resolved addresses and the expected kept ones. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "unitconf.h"
#include "dial.h"
#include "host.h"

static const struct select_case {
	const char	*conf;
	const char	*addrs[4];	/* resolved, in order (NULL ends) */
	const char	*kept[4];	/* expected, in order */
	const char	*why;		/* a substring, when none is kept */
} select_cases[] = {
	{ "allow example.com", { "93.184.215.14:443", NULL }, {
	    "93.184.215.14:443", NULL }, NULL },
	/* Refused classes drop out; order is kept. */
	{ "allow example.com", { "127.0.0.1:443", "93.184.215.14:443",
	    "10.1.2.3:443", "[2606:2800:21f:cb07::1]:443" }, {
	    "93.184.215.14:443", "[2606:2800:21f:cb07::1]:443", NULL }, NULL },
	/* Every address refused: the first one's class is named. */
	{ "allow example.com", { "169.254.169.254:80", "10.0.0.1:80", NULL },
	    { NULL }, "169.254.169.254" },
	{ "allow example.com", { "127.0.0.1:443", NULL }, { NULL },
	    "refused addresses (loopback 127.0.0.1)" },
	/* IPv4-mapped IPv6 is judged and dialled as the IPv4 it is. */
	{ "allow example.com", { "[::ffff:127.0.0.1]:443", NULL }, { NULL },
	    "127.0.0.1" },
	{ "allow example.com", { "[::ffff:93.184.215.14]:443", NULL }, {
	    "93.184.215.14:443", NULL }, NULL },
	/* allow_cidr opens a private range that is otherwise refused. */
	{ "allow example.com\nallow_cidr 10.0.0.0/8", { "10.1.2.3:443",
	    "192.168.1.1:443", NULL }, { "10.1.2.3:443", NULL }, NULL },
};

static void
test_dial_select(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(select_cases) / sizeof(select_cases[0]); i++) {
		const struct select_case *sc = &select_cases[i];
		struct config *c = load(sc->conf);
		struct sockaddr_storage in[4];
		struct dial d;
		char why[200] = "", a[INET6_ADDRSTRLEN + 8];
		size_t n = 0, kept, k;
		socklen_t sl;

		print_message("row %zu\n", i);
		for (; n < 4 && sc->addrs[n] != NULL; n++)
			assert_int_equal(addr_parse_hostport(sc->addrs[n],
			    &in[n], &sl, a, sizeof(a)), 0);
		kept = dial_select(&d, config_default_policy(c), in, n, why,
		    sizeof(why));
		for (k = 0; k < 4 && sc->kept[k] != NULL; k++) {
			assert_true(k < kept);
			addr_format((struct sockaddr *)&d.d_addrs[k], a,
			    sizeof(a));
			assert_string_equal(a, sc->kept[k]);
		}
		assert_int_equal(kept, k);
		if (sc->why != NULL) {
			assert_int_equal(kept, 0);
			assert_non_null(strstr(why, sc->why));
		}
		config_unref(c);
	}
}

static void
test_dial_literal(void **state)
{
	struct host h;
	struct sockaddr_storage ss;
	char err[100], a[INET6_ADDRSTRLEN + 8];

	(void)state;
	assert_int_equal(host_parse_authority("192.0.2.7:8443", 14, &h, err,
	    sizeof(err)), 0);
	dial_literal(&h, &ss);
	addr_format((struct sockaddr *)&ss, a, sizeof(a));
	assert_string_equal(a, "192.0.2.7:8443");
	assert_int_equal(host_parse_authority("[2001:db8::7]:443", 17, &h, err,
	    sizeof(err)), 0);
	dial_literal(&h, &ss);
	addr_format((struct sockaddr *)&ss, a, sizeof(a));
	assert_string_equal(a, "[2001:db8::7]:443");
}

/* Dialling goes through the addresses in order, and the failure names the
 * last one and why. Loopback only: a closed port refuses at once. */
static void
test_dial_next(void **state)
{
	struct sockaddr_storage in[2];
	const struct sockaddr *sa = NULL;
	struct dial d;
	char why[160];
	socklen_t sl;
	int fd;

	(void)state;
	assert_int_equal(addr_parse_hostport("127.0.0.1:9", &in[0], &sl, why,
	    sizeof(why)), 0);
	assert_int_equal(addr_parse_hostport("127.0.0.1:7", &in[1], &sl, why,
	    sizeof(why)), 0);
	dial_use(&d, in, 2);
	fd = dial_next(&d, &sa);
	assert_true(fd >= 0);
	assert_ptr_equal(sa, (struct sockaddr *)&d.d_addrs[0]);
	close(fd);
	dial_failed(&d, ECONNREFUSED);
	fd = dial_next(&d, &sa);
	assert_true(fd >= 0);
	assert_ptr_equal(sa, (struct sockaddr *)&d.d_addrs[1]);
	close(fd);
	dial_failed(&d, ETIMEDOUT);
	assert_int_equal(dial_next(&d, &sa), -1);
	dial_failure(&d, why, sizeof(why));
	assert_string_equal(why, "Connection timed out (127.0.0.1:7)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dial_select),
		cmocka_unit_test(test_dial_literal),
		cmocka_unit_test(test_dial_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
