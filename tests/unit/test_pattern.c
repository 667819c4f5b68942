/* SPDX-License-Identifier: MIT */
/* Unit tests for pattern.c: which allowlist patterns load, and which
 * canonical hosts each of the three forms (exact, ".domain", "*.domain")
 * lets through. One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pattern.h"
#include "unit.h"

struct add_case {
	const char	*in;
	size_t		 len;
	int		 ret;
};

#define OK(s)	{ s, sizeof(s) - 1, 0 }
#define BAD(s)	{ s, sizeof(s) - 1, -1 }

static const struct add_case add_cases[] = {
	OK("api.example.com"),
	OK(".example.com"),
	OK("*.example.com"),
	OK("API.Example.COM"),
	OK("api.example.com."),
	OK(".example.com."),
	OK("*.example.com."),
	OK("localhost"),
	OK("com"),
	OK("xn--bcher-kva.de"),
	OK("generativelanguage.googleapis.com"),

	/* Wildcards over everything or a whole TLD. */
	BAD(""),
	BAD("*"),
	BAD("*."),
	BAD("*.com"),
	BAD("*.com."),
	BAD(".com"),
	BAD(".COM."),
	BAD("."),
	BAD(".."),
	BAD("*.*"),
	/* '*' anywhere but a leading "*.". */
	BAD("*.*.x.com"),
	BAD("a.*.x.com"),
	BAD("*x.com"),
	BAD("x*.com"),
	BAD("x.com*"),
	BAD("**.x.com"),
	BAD(".*.x.com"),
	BAD("*..x.com"),
	/* URLs, paths, ports, user info. */
	BAD("http://x.com"),
	BAD("https://api.example.com/"),
	BAD("x.com/path"),
	BAD("x.com/"),
	BAD("x.com:443"),
	BAD("*.x.com:443"),
	BAD("user@x.com"),
	BAD("x.com#frag"),
	BAD("x.com?q"),
	/* Spaces, controls, non-ASCII. */
	BAD("a b"),
	BAD(" x.com"),
	BAD("x.com "),
	BAD("x.com\t"),
	BAD("x.com\r"),
	BAD("x.com\n"),
	BAD("x.com\0.evil.net"),
	BAD("b\xc3\xbc" "cher.de"),
	BAD(".b\xc3\xbc" "cher.de"),
	/* Malformed names and addresses. */
	BAD("x..com"),
	BAD("x.com.."),
	BAD("-x.com"),
	BAD("x.com-"),
	BAD("1.2.3.4"),
	BAD("127.1"),
	BAD("2130706433"),
	BAD(".1.2.3.4"),
	BAD("example.123"),
	BAD("[::1]"),
	BAD("::1"),
	BAD("x.com\\"),
};

static void
test_patterns_add(void **state)
{
	size_t i, n = sizeof(add_cases) / sizeof(add_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct add_case *t = &add_cases[i];
		struct patterns p;
		char err[400] = "";
		int r;

		patterns_init(&p);
		r = patterns_add(&p, t->in, t->len, err, sizeof(err));
		if (r != t->ret) {
			print_error("row %zu: patterns_add(\"%s\") returned %d, "
			    "expected %d (err: %s)\n", i, show(t->in, t->len), r,
			    t->ret, err);
			bad++;
		} else if (r == -1 && strstr(err, "invalid pattern") == NULL) {
			print_error("row %zu: patterns_add(\"%s\") refused with "
			    "an unhelpful message: %s\n", i,
			    show(t->in, t->len), err);
			bad++;
		} else if (r == -1 && p.p_count != 0) {
			print_error("row %zu: refused pattern \"%s\" was still "
			    "recorded\n", i, show(t->in, t->len));
			bad++;
		}
		patterns_free(&p);
	}
	if (bad > 0)
		fail_msg("%d of %zu patterns_add cases failed", bad, n);
}

struct match_case {
	const char	*pats[3];	/* NULL-terminated when shorter */
	const char	*host;		/* canonical */
	bool		 match;
};

static const struct match_case match_cases[] = {
	/* Exact: the name itself only. */
	{ { "api.example.com" }, "api.example.com", true },
	{ { "api.example.com" }, "sub.api.example.com", false },
	{ { "api.example.com" }, "example.com", false },
	{ { "api.example.com" }, "api.example.co", false },
	{ { "api.example.com" }, "api.example.com.evil.net", false },
	{ { "api.example.com" }, "xapi.example.com", false },
	{ { "api.example.com" }, "com", false },
	{ { "localhost" }, "localhost", true },
	{ { "localhost" }, "evil.localhost", false },

	/* ".example.com": the domain and every subdomain, any depth. */
	{ { ".example.com" }, "example.com", true },
	{ { ".example.com" }, "api.example.com", true },
	{ { ".example.com" }, "a.b.c.d.example.com", true },
	{ { ".example.com" }, "evil-example.com", false },
	{ { ".example.com" }, "notexample.com", false },
	{ { ".example.com" }, "example.com.evil.net", false },
	{ { ".example.com" }, "example.co", false },
	{ { ".example.com" }, "example.comx", false },
	{ { ".example.com" }, "xexample.com", false },
	{ { ".example.com" }, "com", false },
	{ { ".example.com" }, "evil.net", false },

	/* "*.example.com": subdomains only. */
	{ { "*.example.com" }, "api.example.com", true },
	{ { "*.example.com" }, "a.b.c.example.com", true },
	{ { "*.example.com" }, "example.com", false },
	{ { "*.example.com" }, "evil-example.com", false },
	{ { "*.example.com" }, "example.com.evil.net", false },
	{ { "*.example.com" }, "notexample.com", false },

	/* Case-insensitive, trailing dot ignored (hosts arrive canonical). */
	{ { "API.Example.COM" }, "api.example.com", true },
	{ { "api.example.com." }, "api.example.com", true },
	{ { ".Example.Com." }, "example.com", true },
	{ { ".Example.Com." }, "www.example.com", true },
	{ { "*.EXAMPLE.com." }, "www.example.com", true },
	{ { "*.EXAMPLE.com." }, "example.com", false },

	/* Several patterns: merged per domain. */
	{ { "*.example.com", "example.com" }, "example.com", true },
	{ { "*.example.com", "example.com" }, "a.example.com", true },
	{ { "api.example.com", "*.example.org" }, "example.org", false },
	{ { "api.example.com", "*.example.org" }, "x.example.org", true },
	{ { "api.example.com", "*.example.org" }, "www.example.com", false },
	{ { "*.api.example.com", "api.example.com" }, "api.example.com",
	    true },
	{ { "*.api.example.com" }, "api.example.com", false },
	{ { "*.api.example.com" }, "v1.api.example.com", true },
	{ { "*.api.example.com" }, "www.example.com", false },
	{ { ".example.com", "*.example.com" }, "example.com", true },
	{ { "example.com", "example.com" }, "example.com", true },
	{ { "api.anthropic.com", "generativelanguage.googleapis.com",
	    ".github.com" }, "www.google.com", false },
	{ { "api.anthropic.com", "generativelanguage.googleapis.com",
	    ".github.com" }, "codeload.github.com", true },
	{ { "api.anthropic.com", "generativelanguage.googleapis.com",
	    ".github.com" }, "googleapis.com", false },
	/* Nothing allowed: nothing matches. */
	{ { NULL }, "example.com", false },
};

static void
test_patterns_match(void **state)
{
	size_t i, j, n = sizeof(match_cases) / sizeof(match_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct match_case *t = &match_cases[i];
		struct patterns p;
		char err[400], list[300] = "";
		bool m, ok = true;

		patterns_init(&p);
		for (j = 0; j < 3 && t->pats[j] != NULL; j++) {
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%s", j ? " " : "", t->pats[j]);
			if (patterns_add(&p, t->pats[j], strlen(t->pats[j]), err,
			    sizeof(err)) == -1) {
				print_error("row %zu: pattern \"%s\" refused: "
				    "%s\n", i, t->pats[j], err);
				ok = false;
			}
		}
		m = ok && patterns_match(&p, t->host);
		if (!ok || m != t->match) {
			print_error("row %zu: allow %s: \"%s\" %s, expected %s\n",
			    i, list, t->host, m ? "matched" : "did not match",
			    t->match ? "a match" : "no match");
			bad++;
		}
		patterns_free(&p);
	}
	if (bad > 0)
		fail_msg("%d of %zu patterns_match cases failed", bad, n);
}

/* Which rule lets a host in, spelled as written (for `serve -d`). */
static const struct which_case {
	const char	*pats[3];
	const char	*host;
	const char	*rule;		/* NULL: none */
} which_cases[] = {
	{ { "api.example.com" }, "api.example.com", "api.example.com" },
	{ { ".example.com" }, "example.com", ".example.com" },
	{ { ".example.com" }, "a.b.example.com", ".example.com" },
	{ { "*.example.com" }, "a.example.com", "*.example.com" },
	{ { "*.example.com" }, "example.com", NULL },
	{ { "api.example.com", "*.example.com" }, "api.example.com",
	    "api.example.com" },
	{ { "api.example.com", "*.example.com" }, "web.example.com",
	    "*.example.com" },
	{ { "*.b.example.com", ".example.com" }, "a.b.example.com",
	    "*.b.example.com" },
	{ { "example.org" }, "example.com", NULL },
};

static void
test_patterns_which(void **state)
{
	size_t i, j, n = sizeof(which_cases) / sizeof(which_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct which_case *t = &which_cases[i];
		struct patterns p;
		char err[400], buf[300];
		const char *got;

		patterns_init(&p);
		for (j = 0; j < 3 && t->pats[j] != NULL; j++)
			assert_int_equal(patterns_add(&p, t->pats[j],
			    strlen(t->pats[j]), err, sizeof(err)), 0);
		got = patterns_which(&p, t->host, buf, sizeof(buf));
		if ((got == NULL) != (t->rule == NULL) ||
		    (got != NULL && strcmp(got, t->rule) != 0)) {
			print_error("row %zu: \"%s\": rule %s, expected %s\n",
			    i, t->host, got ? got : "(none)",
			    t->rule ? t->rule : "(none)");
			bad++;
		}
		patterns_free(&p);
	}
	if (bad > 0)
		fail_msg("%d of %zu patterns_which cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns_add),
		cmocka_unit_test(test_patterns_match),
		cmocka_unit_test(test_patterns_which),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
