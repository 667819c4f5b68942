/* SPDX-License-Identifier: MIT */
/* window: per-key counts over the last hour, minute by minute. A row is a
 * series of counts at given times and what sums over given spans must say
 * (top keys in order, total); then the merge of windows, the (other)
 * overflow, and the allocation promises (none for a key the minute has
 * seen; out of memory reported and still counted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "window.h"

#define K(s)		s, sizeof(s) - 1	/* a key and its length */
#define MIN(m)		((uint64_t)(m) * WINDOW_MINUTE_MS)
#define HOUR(h)		MIN((uint64_t)(h) * 60)

struct add {
	const char	*key;		/* NULL ends the list */
	size_t		 len;
	uint64_t	 ms;
	uint64_t	 n;
};

struct want {
	const char	*key;		/* NULL ends the list */
	size_t		 len;
	uint64_t	 count;
};

struct check {
	const char	*label;		/* NULL ends the list */
	uint64_t	 now_ms;
	unsigned	 minutes;
	uint64_t	 total;
	struct want	 top[6];	/* the whole top, in order */
};

static const struct window_case {
	const char	*what;
	size_t		 max_keys;
	struct add	 adds[12];
	struct check	 checks[5];
} cases[] = {
	{ "counts across minutes", 10, {
		{ K("a"), MIN(0) + 1, 1 },
		{ K("a"), MIN(1) + 1000, 1 },
		{ K("b"), MIN(2) + 5000, 1 },
		{ K("a"), MIN(2) + 59999, 3 },
	}, {
		{ "5 min", MIN(2) + 30000, 5, 6,
		    { { K("a"), 5 }, { K("b"), 1 } } },
		{ "current minute only", MIN(2), 1, 4,
		    { { K("a"), 3 }, { K("b"), 1 } } },
		{ "2 min", MIN(2), 2, 5, { { K("a"), 4 }, { K("b"), 1 } } },
		{ "at the first minute", MIN(0) + 59999, 1, 1,
		    { { K("a"), 1 } } },
	} },
	{ "exactly 5 and 60 minutes", 10, {
		{ K("old"), MIN(100), 1 },	/* 60 minutes back: out */
		{ K("hour"), MIN(101), 1 },	/* 59 back: in 60 */
		{ K("five"), MIN(155), 1 },	/* 5 back: out of 5 */
		{ K("four"), MIN(156), 1 },	/* 4 back: in 5 */
		{ K("now"), MIN(160) + 59999, 1 },
	}, {
		{ "5 min", MIN(160), 5, 2,
		    { { K("four"), 1 }, { K("now"), 1 } } },
		{ "60 min", MIN(160) + 30000, 60, 4, { { K("five"), 1 },
		    { K("four"), 1 }, { K("hour"), 1 }, { K("now"), 1 } } },
	} },
	{ "expiry after an hour", 10, {
		{ K("a"), MIN(7) + 5, 2 },
	}, {
		{ "59 minutes later", MIN(66) + 59999, 60, 2,
		    { { K("a"), 2 } } },
		{ "60 minutes later", MIN(67), 60, 0, { { NULL } } },
		{ "a day later", HOUR(24), 60, 0, { { NULL } } },
	} },
	{ "clock jumps forward by hours", 10, {
		{ K("a"), MIN(3), 1 },
		{ K("b"), MIN(4), 1 },
		/* Minute 303 has minute 3's slot: reset, not added to. */
		{ K("c"), HOUR(5) + MIN(3), 1 },
		{ K("a"), HOUR(5) + MIN(3), 1 },
	}, {
		{ "after the jump", HOUR(5) + MIN(3), 60, 2,
		    { { K("a"), 1 }, { K("c"), 1 } } },
		{ "before it, asked late", MIN(4), 60, 1, { { K("b"), 1 } } },
	} },
	{ "clock back by an hour: counted in the newer minute", 10, {
		{ K("a"), MIN(65), 1 },
		{ K("b"), MIN(5), 1 },		/* minute 65's slot */
		{ K("c"), MIN(64), 1 },		/* its own, older slot */
	}, {
		{ "minute 65", MIN(65), 1, 2,
		    { { K("a"), 1 }, { K("b"), 1 } } },
		{ "minute 64", MIN(64), 1, 1, { { K("c"), 1 } } },
		{ "minute 5 is gone", MIN(5), 1, 0, { { NULL } } },
	} },
	{ "(other) keeps totals exact", 2, {
		{ K("a"), MIN(0), 1 },
		{ K("b"), MIN(0), 2 },
		{ K("c"), MIN(0), 3 },		/* third key: (other) */
		{ K("d"), MIN(0), 4 },
		{ K("a"), MIN(0), 10 },		/* known keys still count */
		{ K("c"), MIN(1), 5 },		/* a new minute has room */
	}, {
		{ "minute 0", MIN(0), 1, 20, { { K("a"), 11 },
		    { K(WINDOW_OTHER), 7 }, { K("b"), 2 } } },
		{ "both", MIN(1), 2, 25, { { K("a"), 11 },
		    { K(WINDOW_OTHER), 7 }, { K("c"), 5 }, { K("b"), 2 } } },
	} },
	{ "max_keys 0: everything is (other)", 0, {
		{ K("a"), MIN(0), 1 },
		{ K("b"), MIN(0), 2 },
	}, {
		{ "sum", MIN(0), 5, 3, { { K(WINDOW_OTHER), 3 } } },
	} },
	{ "top: count, then key bytewise, a prefix first", 10, {
		{ K("b"), MIN(0), 2 },
		{ K("ab"), MIN(0), 2 },
		{ K("a"), MIN(0), 2 },
		{ K("\xc3\xa9"), MIN(0), 2 },	/* above ASCII: last */
		{ K("z"), MIN(0), 3 },
		{ K(""), MIN(0), 1 },		/* the empty key is a key */
	}, {
		{ "sum", MIN(0), 1, 12, { { K("z"), 3 }, { K("a"), 2 },
		    { K("ab"), 2 }, { K("b"), 2 }, { K("\xc3\xa9"), 2 },
		    { K(""), 1 } } },
	} },
	{ "keys are bytes: NUL, control, invalid UTF-8", 10, {
		{ K("a\0b"), MIN(0), 1 },
		{ K("a\0c"), MIN(0), 2 },
		{ K("a"), MIN(0), 3 },
		{ K("\r\n\xff"), MIN(0), 4 },
	}, {
		{ "sum", MIN(0), 1, 10, { { K("\r\n\xff"), 4 }, { K("a"), 3 },
		    { K("a\0c"), 2 }, { K("a\0b"), 1 } } },
	} },
	{ "minutes out of range are clamped", 10, {
		{ K("old"), MIN(0), 1 },
		{ K("now"), MIN(59), 1 },
	}, {
		{ "0 is 1", MIN(59), 0, 1, { { K("now"), 1 } } },
		{ "61 is 60", MIN(59), 61, 2,
		    { { K("now"), 1 }, { K("old"), 1 } } },
		{ "UINT_MAX is 60", MIN(60), (unsigned)-1, 1,
		    { { K("now"), 1 } } },
	} },
	{ "large counts", 10, {
		{ K("a"), MIN(0), UINT64_C(1) << 40 },
		{ K("a"), MIN(1), UINT64_C(1) << 40 },
	}, {
		{ "sum", MIN(1), 2, UINT64_C(1) << 41,
		    { { K("a"), UINT64_C(1) << 41 } } },
	} },
};

/* "key=count key=count", keys shown with unit.h's show(). */
static void
top_text(char *out, size_t cap, const struct window_entry *e, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s=%" PRIu64,
		    i ? " " : "", show(e[i].we_key, e[i].we_len),
		    e[i].we_count);
}

/* One check of a row: 0 when the sum says what it must. */
static int
run_check(const struct window_case *t, const struct check *c,
    const struct window *w)
{
	struct window_entry got[8], want[8];
	struct window_sum *s = window_sum_new();
	char gtext[512], wtext[512];
	size_t i, ngot, nwant = 0;
	int bad = 0;

	assert_non_null(s);
	assert_int_equal(window_sum_add(s, w, c->now_ms, c->minutes), 0);
	ngot = window_sum_top(s, got, 8);
	for (; nwant < 6 && c->top[nwant].key != NULL; nwant++) {
		want[nwant].we_key = c->top[nwant].key;
		want[nwant].we_len = c->top[nwant].len;
		want[nwant].we_count = c->top[nwant].count;
	}
	top_text(gtext, sizeof(gtext), got, ngot);
	top_text(wtext, sizeof(wtext), want, nwant);
	if (strcmp(gtext, wtext) != 0 || window_sum_total(s) != c->total ||
	    window_sum_keys(s) != ngot) {
		print_message("%s, %s: got [%s] total %" PRIu64 ", want [%s] "
		    "total %" PRIu64 "\n", t->what, c->label, gtext,
		    window_sum_total(s), wtext, c->total);
		bad = 1;
	}
	/* Keys are the bytes that were counted, NUL-terminated too. */
	for (i = 0; i < ngot; i++)
		assert_int_equal(got[i].we_key[got[i].we_len], '\0');
	window_sum_free(s);
	return bad;
}

static void
test_window_rows(void **state)
{
	size_t i, j, n = sizeof(cases) / sizeof(cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct window_case *t = &cases[i];
		struct window *w = window_new(t->max_keys);

		assert_non_null(w);
		for (j = 0; j < 12 && t->adds[j].key != NULL; j++)
			assert_int_equal(window_add(w, t->adds[j].key,
			    t->adds[j].len, t->adds[j].ms, t->adds[j].n), 0);
		for (j = 0; j < 5 && t->checks[j].label != NULL; j++)
			bad += run_check(t, &t->checks[j], w);
		window_free(w);
	}
	if (bad > 0)
		fail_msg("%d problems in %zu window rows", bad, n);
}

/* Keys longer than WINDOW_KEY_MAX are cut: two that differ only beyond
 * it are one key, of WINDOW_KEY_MAX bytes. */
static void
test_window_long_keys(void **state)
{
	char a[WINDOW_KEY_MAX + 100], b[WINDOW_KEY_MAX + 100];
	struct window *w = window_new(10);
	struct window_sum *s = window_sum_new();
	struct window_entry e[4];

	(void)state;
	memset(a, 'x', sizeof(a));
	memcpy(b, a, sizeof(b));
	b[WINDOW_KEY_MAX] = 'y';
	assert_int_equal(window_add(w, a, sizeof(a), 0, 1), 0);
	assert_int_equal(window_add(w, b, sizeof(b), 0, 1), 0);
	assert_int_equal(window_add(w, a, WINDOW_KEY_MAX - 1, 0, 1), 0);
	assert_int_equal(window_sum_add(s, w, 0, 1), 0);
	assert_int_equal(window_sum_top(s, e, 4), 2);
	assert_int_equal(e[0].we_len, WINDOW_KEY_MAX);
	assert_int_equal(e[0].we_count, 2);
	assert_memory_equal(e[0].we_key, a, WINDOW_KEY_MAX);
	assert_int_equal(e[1].we_len, WINDOW_KEY_MAX - 1);
	window_sum_free(s);
	window_free(w);
}

/* The page sums every worker's window: counts of a key add up, and so do
 * their (other)s and totals. Summing one window twice counts it twice. */
static void
test_window_merge(void **state)
{
	struct window *w1 = window_new(2), *w2 = window_new(2);
	struct window_sum *s = window_sum_new();
	struct window_entry e[8];

	(void)state;
	assert_non_null(w1);
	assert_non_null(w2);
	assert_non_null(s);
	window_add(w1, K("a"), MIN(10), 1);
	window_add(w1, K("b"), MIN(10), 5);
	window_add(w1, K("c"), MIN(10), 7);	/* (other) in w1 */
	window_add(w2, K("c"), MIN(11), 2);	/* a key in w2 */
	window_add(w2, K("a"), MIN(11), 4);
	window_add(w2, K("d"), MIN(11), 1);	/* (other) in w2 */
	assert_int_equal(window_sum_add(s, w1, MIN(11), 5), 0);
	assert_int_equal(window_sum_add(s, w2, MIN(11), 5), 0);
	assert_int_equal(window_sum_total(s), 20);
	assert_int_equal(window_sum_top(s, e, 8), 4);
	assert_string_equal(e[0].we_key, WINDOW_OTHER);
	assert_int_equal(e[0].we_count, 8);
	assert_string_equal(e[1].we_key, "a");
	assert_int_equal(e[1].we_count, 5);
	assert_string_equal(e[2].we_key, "b");
	assert_string_equal(e[3].we_key, "c");
	assert_int_equal(e[3].we_count, 2);
	assert_int_equal(window_sum_add(s, w2, MIN(11), 5), 0);
	assert_int_equal(window_sum_total(s), 27);
	/* Top 1 and top 0. */
	assert_int_equal(window_sum_top(s, e, 1), 1);
	assert_string_equal(e[0].we_key, WINDOW_OTHER);
	assert_int_equal(window_sum_top(s, e, 0), 0);
	window_sum_free(s);
	window_free(w1);
	window_free(w2);
	window_free(NULL);
	window_sum_free(NULL);
}

/* window_sum_top against a full sort, over many keys and many n: the heap
 * must give exactly the first n of the total order. */
static void
test_window_top_model(void **state)
{
	enum { NKEYS = 500 };
	struct window *w = window_new(NKEYS);
	struct window_sum *s = window_sum_new();
	static struct window_entry all[NKEYS], top[NKEYS];
	char key[16];
	size_t i, n, len, k;

	(void)state;
	for (i = 0; i < NKEYS; i++) {
		len = (size_t)snprintf(key, sizeof(key), "k%zu", i * 7 % NKEYS);
		window_add(w, key, len, 0, 1 + (i * 37) % 13);	/* many ties */
	}
	assert_int_equal(window_sum_add(s, w, 0, 1), 0);
	assert_int_equal(window_sum_top(s, all, NKEYS), NKEYS);
	for (i = 1; i < NKEYS; i++) {
		/* Sorted: counts descending, then keys ascending. */
		int c = strcmp(all[i - 1].we_key, all[i].we_key);

		assert_true(all[i - 1].we_count > all[i].we_count ||
		    (all[i - 1].we_count == all[i].we_count && c < 0));
	}
	for (n = 0; n <= NKEYS + 1; n += n < 20 ? 1 : 37) {
		k = window_sum_top(s, top, n);
		assert_int_equal(k, n < NKEYS ? n : NKEYS);
		for (i = 0; i < k; i++)
			assert_ptr_equal(top[i].we_key, all[i].we_key);
	}
	window_sum_free(s);
	window_free(w);
}

/* ---- allocation: counted, and made to fail, by interposing malloc ----
 * glibc's own allocator stays underneath (__libc_*). Under a sanitizer or
 * valgrind, which bring their own allocator, these tests are skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

#ifndef NO_INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static int allocs;		/* calls since reset */
static int fail_allocs;		/* while set, every call fails */

void *
malloc(size_t n)
{
	allocs++;
	return fail_allocs ? NULL : __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	allocs++;
	return fail_allocs ? NULL : __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	allocs++;
	return fail_allocs ? NULL : __libc_realloc(p, n);
}

void *
reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size);
}

/* Whether the functions above are the ones called: not under valgrind,
 * which replaces the allocator everywhere. */
static int
interposed(void)
{
	void *(*volatile m)(size_t) = malloc;
	void *p;

	allocs = 0;
	p = m(1);
	free(p);
	return allocs == 1;
}

/* No allocation for a key the minute has seen, or once the minute is full
 * (its (other)); one minute later the key is new again. */
static void
test_window_no_alloc(void **state)
{
	struct window *w = window_new(4);
	int i;

	(void)state;
	if (!interposed()) {
		window_free(w);
		skip();
	}
	assert_non_null(w);
	assert_int_equal(window_add(w, K("a"), MIN(1), 1), 0);
	for (i = 0; i < 3; i++)
		window_add(w, "bcd" + i, 1, MIN(1), 1);
	allocs = 0;
	for (i = 0; i < 1000; i++) {
		window_add(w, K("a"), MIN(1) + (uint64_t)i, 1);
		window_add(w, K("new"), MIN(1) + (uint64_t)i, 1);
	}
	assert_int_equal(allocs, 0);
	window_add(w, K("a"), MIN(2), 1);
	assert_true(allocs > 0);
	window_free(w);
}

/* Out of memory: -1, and the count goes to (other), so totals stay exact;
 * a sum that cannot grow says -1. */
static void
test_window_oom(void **state)
{
	struct window *w = window_new(10);
	struct window_sum *s = window_sum_new();
	struct window_entry e[4];

	(void)state;
	if (!interposed()) {
		window_sum_free(s);
		window_free(w);
		skip();
	}
	assert_non_null(w);
	assert_non_null(s);
	assert_int_equal(window_add(w, K("a"), MIN(0), 1), 0);
	fail_allocs = 1;
	assert_null(window_new(10));
	assert_null(window_sum_new());
	assert_int_equal(window_add(w, K("b"), MIN(0), 2), -1);
	assert_int_equal(window_add(w, K("a"), MIN(0), 4), 0);	/* known */
	assert_int_equal(window_sum_add(s, w, MIN(0), 1), -1);
	fail_allocs = 0;
	window_sum_free(s);
	s = window_sum_new();
	assert_int_equal(window_sum_add(s, w, MIN(0), 1), 0);
	assert_int_equal(window_sum_total(s), 7);
	assert_int_equal(window_sum_top(s, e, 4), 2);
	assert_string_equal(e[0].we_key, "a");
	assert_int_equal(e[0].we_count, 5);
	assert_string_equal(e[1].we_key, WINDOW_OTHER);
	assert_int_equal(e[1].we_count, 2);
	window_sum_free(s);
	window_free(w);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_rows),
		cmocka_unit_test(test_window_long_keys),
		cmocka_unit_test(test_window_merge),
		cmocka_unit_test(test_window_top_model),
#ifndef NO_INTERPOSE
		cmocka_unit_test(test_window_no_alloc),
		cmocka_unit_test(test_window_oom),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
