/* SPDX-License-Identifier: MIT */
/* Basic credentials (basic.c): which Proxy-Authorization values decode, to
 * what, and which decoded credentials are refused as ambiguous. One row per
 * spelling a client or an attacker might send. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "basic.h"

static const struct decode_case {
	const char	*hdr;
	int		 len;		/* -1: refused */
	const char	*cred;
} decode_cases[] = {
	{ "Basic dXNlcjpwYXNz", 9, "user:pass" },
	{ "basic dXNlcjpwYXNz", 9, "user:pass" },	/* scheme: any case */
	{ "BASIC\tdXNlcjpwYXNz", 9, "user:pass" },
	{ "Basic   dXNlcjpwYXNz  ", 9, "user:pass" },
	{ "Basic dXNlcjo=", 5, "user:" },
	{ "Basic ", 0, "" },
	{ "Basic", -1, NULL },
	{ "Basicx dXNlcjpwYXNz", -1, NULL },
	{ "Bearer dXNlcjpwYXNz", -1, NULL },
	{ "Basic dXNlcjpwYXNz!", -1, NULL },		/* not base64 */
	{ "Basic dXNlcjpwYXN", -1, NULL },		/* unpadded */
	{ "Basic dXNl cjpwYXNz", -1, NULL },		/* space inside */
	{ "Basic dXNlcjpwYXNz dXNlcjpwYXNz", -1, NULL },
};

static void
test_basic_decode(void **state)
{
	size_t i, n = sizeof(decode_cases) / sizeof(decode_cases[0]);
	char out[64];
	int bad = 0, got;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct decode_case *t = &decode_cases[i];

		got = basic_decode(t->hdr, strlen(t->hdr), out, sizeof(out));
		if (got != t->len || (got >= 0 && (size_t)got == strlen(t->cred) &&
		    memcmp(out, t->cred, (size_t)got) != 0)) {
			print_error("row %zu: \"%s\": %d, expected %d\n", i, t->hdr,
			    got, t->len);
			bad++;
		}
	}
	/* No room for the decoded bytes and their NUL: refused, not cut. */
	if (basic_decode("Basic dXNlcjpwYXNz", 18, out, 9) != -1) {
		print_error("a 9-byte credential fitted a 9-byte buffer\n");
		bad++;
	}
	if (bad > 0)
		fail_msg("%d basic_decode cases failed", bad);
}

static const struct ambiguous_case {
	const char	*cred;
	size_t		 len;
	bool		 ambiguous;
} ambiguous_cases[] = {
	{ "user:pass", 9, false },
	{ "user:p@ss w0rd!\"'%", 18, false },		/* space and punctuation */
	{ "j\xc3\xbcrgen:stra\xc3\x9f" "e", 15, false },	/* UTF-8 */
	{ "user:pass\0anything", 18, true },		/* NUL: "pass" to C */
	{ "user:pa\tss", 10, true },
	{ "user:pass\r\n", 11, true },
	{ "us\x01er:pass", 10, true },
	{ "user:pass\x7f", 10, true },
	{ "user:\x1b[2Jpass", 13, true },
};

static void
test_basic_ambiguous(void **state)
{
	size_t i, n = sizeof(ambiguous_cases) / sizeof(ambiguous_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct ambiguous_case *t = &ambiguous_cases[i];

		if (basic_ambiguous(t->cred, t->len) != t->ambiguous) {
			print_error("row %zu: %s, expected %s\n", i,
			    t->ambiguous ? "accepted" : "refused",
			    t->ambiguous ? "refused" : "accepted");
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d basic_ambiguous cases failed", bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_decode),
		cmocka_unit_test(test_basic_ambiguous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
