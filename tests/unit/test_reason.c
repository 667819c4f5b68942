/* SPDX-License-Identifier: MIT */
/* reason_from_code: the code a client reads in X-Sluice-Error back to its
 * reason (sluice probe decodes a proxy's answer with it). A row is the bytes
 * of a header value and the reason they must give. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "reason.h"
#include "unit.h"

static const struct code_case {
	const char	*code;
	size_t		 len;		/* 0: strlen(code) */
	enum reason	 want;
} code_cases[] = {
	{ "domain-denied", 0, REASON_DOMAIN_DENIED },
	{ "AUTH-FAILED", 0, REASON_AUTH_FAILED },
	{ "auth-required", 0, REASON_AUTH_REQUIRED },
	{ "auth-throttled", 0, REASON_AUTH_THROTTLED },
	{ "connect-timeout", 0, REASON_CONNECT_TIMEOUT },
	/* A prefix of the value only: the caller's length decides. */
	{ "dns-failed, more", 10, REASON_DNS_FAILED },
	{ "dns-fail", 0, REASON_COUNT },
	{ "dns-failedx", 0, REASON_COUNT },
	{ "", 0, REASON_COUNT },
	/* REASON_NONE's "-" is no refusal to decode. */
	{ "-", 0, REASON_COUNT },
	{ "domain-denied\r\n", 0, REASON_COUNT },
};

static void
test_reason_from_code(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(code_cases) / sizeof(code_cases[0]); i++) {
		const struct code_case *c = &code_cases[i];
		size_t len = c->len ? c->len : strlen(c->code);

		print_message("row %zu: %s\n", i, show(c->code, len));
		assert_int_equal(reason_from_code(c->code, len), c->want);
	}
}

/* Every reason's own code leads back to it: the lookup and the table
 * cannot drift apart. */
static void
test_reason_round_trip(void **state)
{
	int r;

	(void)state;
	for (r = REASON_NONE + 1; r < REASON_COUNT; r++) {
		const char *code = reason_code((enum reason)r);

		print_message("%s\n", code);
		assert_int_equal(reason_from_code(code, strlen(code)), r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_from_code),
		cmocka_unit_test(test_reason_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
