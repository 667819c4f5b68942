/* SPDX-License-Identifier: MIT */
/* strmap: the hash map under patterns, the hosts file and the users. Keys
 * are byte strings (not C strings), lookups are exact, and growth keeps
 * every entry; checked against a brute-force model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static const struct {
	const char	*key;
	size_t		 len;
} keys[] = {
	{ "", 0 },			/* the empty key is a key */
	{ "a", 1 },
	{ "A", 1 },			/* case matters */
	{ "example.com", 11 },
	{ "example.co", 10 },		/* a prefix is another key */
	{ "example.com.", 12 },
	{ "nul\0inside", 10 },		/* bytes after a NUL count */
	{ "nul\0outside", 11 },
};

static void
test_strmap_keys(void **state)
{
	struct strmap m;
	size_t i, j, n = sizeof(keys) / sizeof(keys[0]);
	bool created;

	(void)state;
	strmap_init(&m);
	assert_null(strmap_get(&m, "a", 1));
	for (i = 0; i < n; i++) {
		uintptr_t *v = strmap_put(&m, keys[i].key, keys[i].len, &created);

		assert_non_null(v);
		assert_true(created);
		*v = i + 100;
	}
	for (i = 0; i < n; i++) {
		const uintptr_t *v = strmap_get(&m, keys[i].key, keys[i].len);

		assert_non_null(v);
		assert_int_equal(*v, i + 100);
		assert_non_null(strmap_put(&m, keys[i].key, keys[i].len,
		    &created));
		assert_false(created);
	}
	assert_int_equal(m.m_count, n);
	/* Lookups of near misses find nothing. */
	for (i = 0; i < n; i++)
		for (j = 0; j + 1 < keys[i].len; j++)
			if (strmap_get(&m, keys[i].key, j) != NULL) {
				size_t k;
				bool known = false;

				for (k = 0; k < n; k++)
					known |= keys[k].len == j &&
					    memcmp(keys[k].key, keys[i].key, j) == 0;
				assert_true(known);
			}
	strmap_free(&m);
}

/* Many keys: the table grows, and every key keeps its value. */
static void
test_strmap_growth(void **state)
{
	struct strmap m;
	char key[32];
	size_t i, len, n = 20000;
	bool created;

	(void)state;
	strmap_init(&m);
	for (i = 0; i < n; i++) {
		len = (size_t)snprintf(key, sizeof(key), "host-%zu.example", i * 7919);
		*strmap_put(&m, key, len, &created) = i;
		assert_true(created);
	}
	assert_int_equal(m.m_count, n);
	assert_true(m.m_cap >= n);
	for (i = 0; i < n; i++) {
		const uintptr_t *v;

		len = (size_t)snprintf(key, sizeof(key), "host-%zu.example", i * 7919);
		v = strmap_get(&m, key, len);
		assert_non_null(v);
		assert_int_equal(*v, i);
		len = (size_t)snprintf(key, sizeof(key), "host-%zu.example",
		    i * 7919 + 1);
		if (strmap_get(&m, key, len) != NULL)
			assert_int_equal((i * 7919 + 1) % 7919, 0);
	}
	strmap_free(&m);
	strmap_free(&m);	/* freeing twice is harmless: reset on free */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strmap_keys),
		cmocka_unit_test(test_strmap_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
