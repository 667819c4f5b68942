/* SPDX-License-Identifier: MIT */
/* Counts per key over the last hour, minute by minute: the status page's top
 * destinations, top denials and authentication failures. One window per
 * worker thread, with no lock inside (its owner serialises the calls); the
 * page sums the workers' windows into a window_sum and takes its top N. */
#ifndef SLUICE_WINDOW_H
#define SLUICE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WINDOW_MINUTES	 60		/* the longest span remembered */
#define WINDOW_MINUTE_MS 60000		/* a bucket's span: now_ms / this */
#define WINDOW_KEY_MAX	 300		/* longer keys are cut to this */
#define WINDOW_OTHER	 "(other)"	/* keys beyond a minute's max_keys;
					 * in a sum, a key spelled the same
					 * adds to it */

struct window;
struct window_sum;

/* One key of a sum and its count, as window_sum_top returns them. */
struct window_entry {
	const char	*we_key;	/* borrowed from the sum; we_len bytes
					 * and a NUL (a key may hold a NUL) */
	size_t		 we_len;
	uint64_t	 we_count;
};

/* An empty window that keeps at most `max_keys` distinct keys per minute
 * (0 is allowed: everything is then counted under WINDOW_OTHER). Returns
 * NULL when out of memory. Memory at most: 60 minutes of max_keys keys of
 * WINDOW_KEY_MAX bytes each, plus their hash table (window.c). */
struct window *window_new(size_t max_keys);

/* Free `w` and every key it holds; NULL is a no-op. */
void window_free(struct window *w);

/* Count `n` for `key` (len bytes, any bytes; only the first WINDOW_KEY_MAX
 * count, so longer keys sharing those are one key) at `now_ms`, a monotonic
 * millisecond clock. A key new to the minute once the minute has max_keys
 * keys is counted under WINDOW_OTHER, so totals stay exact. A time earlier
 * than what its minute's bucket already holds (only an hour or more back)
 * is counted in that newer minute. Allocates only for a key new to the
 * minute. Returns 0, or -1 when out of memory: `n` is then counted under
 * WINDOW_OTHER, so totals stay exact even then. */
int window_add(struct window *w, const char *key, size_t len, uint64_t now_ms,
    uint64_t n);

/* An empty sum (key -> count over any number of windows), or NULL when out
 * of memory. */
struct window_sum *window_sum_new(void);

/* Free `s` and its keys (what window_sum_top returned goes too); NULL is a
 * no-op. */
void window_sum_free(struct window_sum *s);

/* Add `w`'s counts of the last `minutes` minutes as of `now_ms` (the
 * current, partial minute is one of them): minutes now_ms / 60000 - minutes
 * + 1 to now_ms / 60000. `minutes` is clamped to 1..WINDOW_MINUTES. A
 * minute after now_ms's (another thread's clock ran ahead) is left out.
 * WINDOW_OTHER of each window adds up under that key. Reads `w` only (the
 * caller holds w's owner's lock). Returns 0, or -1 when out of memory: `s`
 * then holds part of w's counts and is for freeing only. */
int window_sum_add(struct window_sum *s, const struct window *w,
    uint64_t now_ms, unsigned minutes);

/* The `n` largest of `s` into out[] (at least n entries): count
 * descending, then key ascending bytewise (a prefix first), so the order
 * is deterministic. Returns how many were written, at most n. The keys are
 * borrowed from `s`: valid until s is freed. No allocation. */
size_t window_sum_top(const struct window_sum *s, struct window_entry *out,
    size_t n);

/* The sum of every count in `s` (WINDOW_OTHER included). */
uint64_t window_sum_total(const struct window_sum *s);

/* How many distinct keys `s` holds (WINDOW_OTHER included when counted). */
size_t window_sum_keys(const struct window_sum *s);

#endif
