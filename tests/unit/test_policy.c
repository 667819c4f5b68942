/* SPDX-License-Identifier: MIT */
/* The policy engine (policy.c): the one decision every front end asks. A
 * row is a configuration, a request, and the verdict; the address rows say
 * which resolved addresses may be dialled. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "unitconf.h"
#include "host.h"
#include "policy.h"

#define C	POLICY_CONNECT
#define H	POLICY_HTTP

static const struct target_case {
	const char		*conf;
	const char		*target;	/* host:port */
	enum policy_kind	 kind;
	enum reason		 want;
	const char		*rule;	/* the deciding pattern; NULL: "" */
	const char		*user;	/* whose policy; NULL: nobody's */
} target_cases[] = {
	/* deny wins over allow, in all three pattern forms. */
	{ "allow .googleapis.com\ndeny storage.googleapis.com",
	    "storage.googleapis.com:443", C, REASON_DOMAIN_DENIED,
	    "storage.googleapis.com", NULL },
	{ "allow .googleapis.com\ndeny storage.googleapis.com",
	    "generativelanguage.googleapis.com:443", C, REASON_NONE,
	    ".googleapis.com", NULL },
	{ "allow .example.com\ndeny *.x.example.com", "a.x.example.com:443",
	    C, REASON_DOMAIN_DENIED, "*.x.example.com", NULL },
	{ "allow .example.com\ndeny *.x.example.com", "x.example.com:443", C,
	    REASON_NONE, ".example.com", NULL },
	{ "allow .example.com\ndeny .x.example.com", "x.example.com:443", C,
	    REASON_DOMAIN_DENIED, ".x.example.com", NULL },
	{ "deny api.example.com", "api.example.com:443", C,
	    REASON_DOMAIN_DENIED, "api.example.com", NULL },
	{ "allow api.example.com\ndeny other.example.com",
	    "www.example.com:443", C, REASON_DOMAIN_DENIED, NULL, NULL },
	/* Patterns never match an IP literal, deny included. */
	{ "allow_cidr 203.0.113.0/24\ndeny .example.com", "203.0.113.7:443", C,
	    REASON_NONE, NULL, NULL },
	/* A member is judged by its block alone; everyone else by the top. */
	{ "allow a.com\npolicy p\nmembers u\nallow b.com", "b.com:443", C,
	    REASON_NONE, "b.com", "u" },
	{ "allow a.com\npolicy p\nmembers u\nallow b.com", "a.com:443", C,
	    REASON_DOMAIN_DENIED, NULL, "u" },
	{ "allow a.com\npolicy p\nmembers u\nallow b.com", "b.com:443", C,
	    REASON_DOMAIN_DENIED, NULL, NULL },
	{ "allow a.com\npolicy p\nmembers u\nallow b.com", "a.com:443", C,
	    REASON_NONE, "a.com", "v" },
	{ "allow a.com\npolicy p\nmembers u\nallow b.com\nconnect_ports 8443",
	    "b.com:443", C, REASON_PORT_DENIED, "b.com", "u" },
	{ "connect_ports 8443\nallow a.com\npolicy p\nmembers u\nallow a.com",
	    "a.com:8443", C, REASON_PORT_DENIED, "a.com", "u" },
	{ "allow api.example.com", "api.example.com:443", C, REASON_NONE,
	    "api.example.com", NULL },
	{ "allow api.example.com", "API.Example.COM.:443", C, REASON_NONE,
	    "api.example.com", NULL },
	{ "allow api.example.com", "www.example.com:443", C,
	    REASON_DOMAIN_DENIED, NULL, NULL },
	{ "allow .example.com", "a.b.example.com:443", C, REASON_NONE,
	    ".example.com", NULL },
	{ "allow *.example.com", "example.com:443", C, REASON_DOMAIN_DENIED,
	    NULL, NULL },
	/* Ports: 443 for CONNECT and 80 for plain HTTP by default. */
	{ "allow api.example.com", "api.example.com:80", C,
	    REASON_PORT_DENIED, "api.example.com", NULL },
	{ "allow api.example.com", "api.example.com:80", H, REASON_NONE,
	    "api.example.com", NULL },
	{ "allow api.example.com", "api.example.com:443", H,
	    REASON_PORT_DENIED, "api.example.com", NULL },
	{ "allow api.example.com\nconnect_ports 22 8000-8100",
	    "api.example.com:8042", C, REASON_NONE, "api.example.com", NULL },
	{ "allow api.example.com\nconnect_ports 22 8000-8100",
	    "api.example.com:443", C, REASON_PORT_DENIED, "api.example.com",
	    NULL },
	/* The domain is decided before the port: a refused name learns
	 * nothing about the ports. */
	{ "allow api.example.com", "other.example.com:22", C,
	    REASON_DOMAIN_DENIED, NULL, NULL },
	/* IP literals: never matched against patterns, only allow_cidr. */
	{ "allow 203.0.113.7.nip.io", "203.0.113.7:443", C,
	    REASON_ADDRESS_DENIED, NULL, NULL },
	{ "allow_cidr 203.0.113.0/24", "203.0.113.7:443", C, REASON_NONE, NULL,
	    NULL },
	{ "allow_cidr 203.0.113.0/24", "203.0.114.7:443", C,
	    REASON_ADDRESS_DENIED, NULL, NULL },
	{ "allow_cidr 2001:db8::/32", "[2001:db8::7]:443", C, REASON_NONE, NULL,
	    NULL },
	{ "allow_cidr 2001:db8::/32", "[2001:db9::7]:443", C,
	    REASON_ADDRESS_DENIED, NULL, NULL },
	/* An empty policy allows nothing. */
	{ "", "api.example.com:443", C, REASON_DOMAIN_DENIED, NULL, NULL },
	{ "", "1.2.3.4:443", C, REASON_ADDRESS_DENIED, NULL, NULL },
};

static void
test_policy_target(void **state)
{
	size_t i, n = sizeof(target_cases) / sizeof(target_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct target_case *t = &target_cases[i];
		struct config *c = load(t->conf);
		struct host h;
		char err[200], rule[300];
		enum reason got;

		assert_int_equal(host_parse_authority(t->target,
		    strlen(t->target), &h, err, sizeof(err)), 0);
		got = policy_check_target(config_policy_of(c, t->user), &h,
		    t->kind, rule, sizeof(rule));
		if (got != t->want || strcmp(rule, t->rule ? t->rule : "") !=
		    0) {
			print_error("row %zu: \"%s\" %s under \"%s\": %s (%s), "
			    "expected %s\n", i, t->target, t->kind == C ?
			    "CONNECT" : "GET", t->conf, reason_code(got), rule,
			    reason_code(t->want));
			bad++;
		}
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu policy_check_target cases failed", bad, n);
}

static const struct addr_case {
	const char	*conf;
	const char	*addr;
	bool		 ok;
	const char	*cls;		/* the refused class, or NULL */
} addr_cases[] = {
	{ "", "93.184.216.34", true, NULL },
	{ "", "2606:2800:220:1:248:1893:25c8:1946", true, NULL },
	{ "", "127.0.0.1", false, "loopback" },
	{ "", "10.1.2.3", false, "private" },
	{ "", "169.254.169.254", false, "link-local/metadata" },
	{ "", "::ffff:169.254.169.254", false, "link-local/metadata" },
	{ "", "::ffff:0:a9fe:a9fe", false, "link-local/metadata" },
	{ "", "fd00:ec2::254", false, "unique-local" },
	/* allow_cidr opens a refused class for exactly its block. */
	{ "allow_cidr 10.1.0.0/16", "10.1.2.3", true, "private" },
	{ "allow_cidr 10.1.0.0/16", "10.2.2.3", false, "private" },
	{ "allow_cidr 127.0.0.1/32", "127.0.0.2", false, "loopback" },
};

static void
test_policy_addr(void **state)
{
	size_t i, n = sizeof(addr_cases) / sizeof(addr_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct addr_case *t = &addr_cases[i];
		struct config *c = load(t->conf);
		struct sockaddr_storage ss;
		const char *cls = NULL;
		bool ok;

		memset(&ss, 0, sizeof(ss));
		if (strchr(t->addr, ':') != NULL) {
			ss.ss_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, t->addr,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		} else {
			ss.ss_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, t->addr,
			    &((struct sockaddr_in *)&ss)->sin_addr), 1);
		}
		ok = policy_check_addr(config_default_policy(c),
		    (struct sockaddr *)&ss, &cls);
		if (ok != t->ok || (cls == NULL) != (t->cls == NULL) ||
		    (cls != NULL && strcmp(cls, t->cls) != 0)) {
			print_error("row %zu: %s under \"%s\": %s (%s), "
			    "expected %s (%s)\n", i, t->addr, t->conf,
			    ok ? "dial" : "refuse", cls ? cls : "public",
			    t->ok ? "dial" : "refuse", t->cls ? t->cls :
			    "public");
			bad++;
		}
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu policy_check_addr cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_target),
		cmocka_unit_test(test_policy_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
