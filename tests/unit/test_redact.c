/* SPDX-License-Identifier: MIT */
/* redact_target: what of a request target reaches the access log. Every row
 * holding a credential spells it "SECRET" or "pw", which must never be in
 * the output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

static const struct redact_case {
	const char	*in;
	bool		 strict;
	const char	*out;
} cases[] = {
	/* Nothing to take out. */
	{ "api.example.com:443", true, "api.example.com:443" },
	{ "http://example.com/a/b", true, "http://example.com/a/b" },
	{ "", true, "" },
	/* Userinfo in the usual place. */
	{ "http://bob:SECRET@example.com/", true, "http://example.com/" },
	{ "http://bob:SECRET@example.com/", false, "http://example.com/" },
	{ "bob:SECRET@example.com:443", true, "example.com:443" },
	{ "http://bob@example.com/", true, "http://example.com/" },
	/* A password with '/', '?', '#' or '@' in it: strict takes it all. */
	{ "http://bob:pa/SECRET@example.com/", true, "http://example.com/" },
	{ "http://bob:pa?SECRET@example.com/", true, "http://example.com/" },
	{ "http://bob:pa#SECRET@example.com/", true, "http://example.com/" },
	{ "http://bob:p@SECRET@example.com/", true, "http://example.com/" },
	{ "bob:pa/SECRET@example.com:443", true, "example.com:443" },
	{ "HTTPS://bob:SECRET@example.com/", true, "HTTPS://example.com/" },
	/* Once parsed, an '@' in the path is path. */
	{ "http://example.com/users/@alice", false,
	    "http://example.com/users/@alice" },
	{ "http://example.com/?to=a@b", false, "http://example.com/?to=*" },
	/* ... but not before the target has parsed. */
	{ "http://example.com/users/@alice", true, "http://alice" },
	/* Query values: each one '*', names and separators kept; a bare
	 * parameter (a key on its own, "key%3Dvalue") '*' whole; what
	 * follows '=' in the path too; the fragment never. */
	{ "http://example.com/a/b?c=d#e", true, "http://example.com/a/b?c=*#*" },
	{ "http://x.test/v1?key=AIzaSECRET&alt=json", false,
	    "http://x.test/v1?key=*&alt=*" },
	{ "http://x.test/?flag&empty=&k=v", false, "http://x.test/?*&empty=&k=*" },
	{ "http://x.test/p;q=1?a=b;c=d", false, "http://x.test/p;q=*?a=*;c=*" },
	{ "http://x.test/?a=b=c&d=e", false, "http://x.test/?a=*&d=*" },
	{ "http://x.test/?a=b#f=g", false, "http://x.test/?a=*#*" },
	{ "http://bob:pa?SECRET@x.test/?k=v", true, "http://x.test/?k=*" },
	{ "http://x.test/?sig=a%20b c", true, "http://x.test/?sig=*" },
	{ "http://x.test/p?SECRET", false, "http://x.test/p?*" },
	{ "http://x.test/p?a=1&SECRET", false, "http://x.test/p?a=*&*" },
	{ "http://x.test/p?key%3DSECRET", false, "http://x.test/p?*" },
	{ "http://x.test/p;jsessionid=SECRET/q", false,
	    "http://x.test/p;jsessionid=*/q" },
	{ "http://x.test/p%3Fkey=SECRET", false, "http://x.test/p%3Fkey=*" },
	{ "http://x.test/p#frag=SECRET", false, "http://x.test/p#*" },
	{ "http://x.test/p?", false, "http://x.test/p?" },
	{ "http://x.test/p#", false, "http://x.test/p#" },
	{ "http://x.test/?&&", false, "http://x.test/?&&" },
	{ "x.test:443", true, "x.test:443" },
	/* Bytes a log line must not carry. */
	{ "http://example.com/a b", true, "http://example.com/a?b" },
	{ "http://example.com/\t\r\n", true, "http://example.com/???" },
	{ "http://example.com/\x7f\x80\xff", true, "http://example.com/???" },
	{ "http://bob:\x01SECRET@example.com/", true, "http://example.com/" },
	/* "://" inside userinfo or path does not move the authority. */
	{ "http://bob:a://SECRET@example.com/", true, "http://example.com/" },
};

static void
test_redact_target(void **state)
{
	size_t i, n = sizeof(cases) / sizeof(cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct redact_case *t = &cases[i];
		char *got = redact_target(t->in, strlen(t->in), t->strict);

		assert_non_null(got);
		if (strcmp(got, t->out) != 0 || strstr(got, "SECRET") != NULL) {
			print_error("row %zu: \"%s\" (%s): \"%s\", expected "
			    "\"%s\"\n", i, t->in, t->strict ? "strict" : "parsed",
			    got, t->out);
			bad++;
		}
		free(got);
	}
	if (bad > 0)
		fail_msg("%d of %zu redact_target cases failed", bad, n);
}

/* Long targets: cut at REDACT_MAX, and a credential past the cut still
 * takes everything before it with it. */
static void
test_redact_long(void **state)
{
	char in[6000], *got;

	(void)state;
	memset(in, 'a', sizeof(in));
	memcpy(in, "http://", 7);
	got = redact_target(in, sizeof(in), true);
	assert_int_equal(strlen(got), REDACT_MAX);
	free(got);
	memcpy(in + 5000, "@example.com", 12);
	got = redact_target(in, sizeof(in), true);
	assert_string_equal(got, "http://");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact_target),
		cmocka_unit_test(test_redact_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
