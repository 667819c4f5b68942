/* SPDX-License-Identifier: MIT */
/* The block pool: blocks are distinct, aligned and whole; chunks are mapped
 * as blocks are taken and given back to the system only when every block
 * of theirs is back, and only by pool_release. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"

#define SIZE	9000
#define PER	8

static void
test_pool_blocks_are_whole_and_distinct(void **state)
{
	struct pool *p = pool_new(SIZE, PER);
	unsigned char *b[3 * PER];
	size_t i, j;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < 3 * PER; i++) {
		b[i] = pool_get(p);
		assert_non_null(b[i]);
		assert_int_equal((uintptr_t)b[i] % _Alignof(max_align_t), 0);
		memset(b[i], (int)i, SIZE);
	}
	assert_int_equal(pool_chunks(p), 3);
	for (i = 0; i < 3 * PER; i++)
		for (j = 0; j < SIZE; j++)
			if (b[i][j] != (unsigned char)i)
				fail_msg("block %zu byte %zu overwritten", i, j);
	for (i = 0; i < 3 * PER; i++)
		pool_put(p, b[i]);
	pool_free(p);
}

static void
test_pool_release_gives_back_only_empty_chunks(void **state)
{
	struct pool *p = pool_new(SIZE, PER);
	void *b[4 * PER];
	size_t i;

	(void)state;
	for (i = 0; i < 4 * PER; i++)
		b[i] = pool_get(p);
	assert_int_equal(pool_chunks(p), 4);
	assert_int_equal(pool_release(p, 0), 0);	/* all in use */
	/* Back: every block but one of the first chunk taken. */
	for (i = 1; i < 4 * PER; i++)
		pool_put(p, b[i]);
	assert_int_equal(pool_chunks(p), 4);		/* nothing unmapped yet */
	assert_int_equal(pool_release(p, 1), 2);	/* one empty kept */
	assert_int_equal(pool_chunks(p), 2);
	/* Taking again reuses what is mapped before mapping more. */
	for (i = 1; i < 2 * PER; i++)
		b[i] = pool_get(p);
	assert_int_equal(pool_chunks(p), 2);
	b[2 * PER] = pool_get(p);
	assert_int_equal(pool_chunks(p), 3);
	for (i = 0; i <= 2 * PER; i++)
		pool_put(p, b[i]);
	assert_int_equal(pool_release(p, 0), 3);
	assert_int_equal(pool_chunks(p), 0);
	pool_put(p, NULL);
	pool_free(p);
	pool_free(NULL);
}

static void
test_pool_churn_stays_in_one_chunk(void **state)
{
	struct pool *p = pool_new(64, 16);
	void *a, *b;
	size_t i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		a = pool_get(p);
		b = pool_get(p);
		pool_put(p, a);
		pool_put(p, b);
	}
	assert_int_equal(pool_chunks(p), 1);
	pool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_blocks_are_whole_and_distinct),
		cmocka_unit_test(test_pool_release_gives_back_only_empty_chunks),
		cmocka_unit_test(test_pool_churn_stays_in_one_chunk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
