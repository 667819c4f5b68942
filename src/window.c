/* SPDX-License-Identifier: MIT */
/* Per-key counts in a ring of 60 one-minute buckets; see window.h. A bucket
 * is a string map from key to an index into its counts, reset when a later
 * minute needs its slot, so the memory is bounded by 60 full buckets.
 *
 * Memory, worst case, per window (64-bit, glibc malloc): sizeof(struct
 * window) (3.8 KiB) plus, for each of the 60 buckets holding K = max_keys
 * keys, a strmap table of 32 * max(16, 2^ceil(log2(2K))) bytes, K keys of
 * at most WINDOW_KEY_MAX + 1 bytes (320 with malloc's overhead) and at most
 * 8K bytes of counts: about 400 bytes per key (460 when K is just above a
 * power of two). Measured with 300-byte keys in every minute: K = 256 is
 * 5.8 MiB, K = 1000 is 22.5 MiB; with 20-byte keys, 1.5 and 6.1 MiB. A
 * bucket keeps its memory until its slot is reused or the window freed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "window.h"

struct window_bucket {
	uint64_t	 wb_minute;	/* now_ms / WINDOW_MINUTE_MS */
	struct strmap	 wb_map;	/* key -> index into wb_counts */
	uint64_t	*wb_counts;	/* kept when the bucket is reset */
	size_t		 wb_cap;	/* of wb_counts */
	size_t		 wb_nkeys;	/* in wb_map */
	uint64_t	 wb_other;	/* keys beyond max_keys, or refused
					 * for want of memory */
};

struct window {
	size_t			w_max_keys;
	struct window_bucket	w_buckets[WINDOW_MINUTES];
};

struct window_sum {
	struct strmap		 ws_map;	/* key -> index into ws_ent */
	struct window_entry	*ws_ent;	/* we_key is ws_map's copy */
	size_t			 ws_n;
	size_t			 ws_cap;
	uint64_t		 ws_total;
};

struct window *
window_new(size_t max_keys)
{
	struct window *w = calloc(1, sizeof(*w));
	size_t i;

	if (w == NULL)
		return NULL;
	w->w_max_keys = max_keys;
	/* Every bucket says minute 0 and is empty: a later minute resets it
	 * and minute 0 adds to nothing, so no "unused" marker is needed. */
	for (i = 0; i < WINDOW_MINUTES; i++)
		strmap_init(&w->w_buckets[i].wb_map);
	return w;
}

void
window_free(struct window *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < WINDOW_MINUTES; i++) {
		strmap_free(&w->w_buckets[i].wb_map);
		free(w->w_buckets[i].wb_counts);
		w->w_buckets[i].wb_counts = NULL;
	}
	free(w);
}

/* The bucket for `minute`, reset first when it holds an older minute. A
 * bucket holding a newer minute (the clock went back an hour or more) is
 * returned as it is. */
static struct window_bucket *
window_bucket(struct window *w, uint64_t minute)
{
	struct window_bucket *b = &w->w_buckets[minute % WINDOW_MINUTES];

	if (b->wb_minute < minute) {
		strmap_free(&b->wb_map);
		b->wb_nkeys = 0;
		b->wb_other = 0;
		b->wb_minute = minute;
	}
	return b;
}

/* Room for one more count in `b`, within `max`. Returns 0 or -1. */
static int
window_room(struct window_bucket *b, size_t max)
{
	size_t cap;
	uint64_t *c;

	if (b->wb_nkeys < b->wb_cap)
		return 0;
	cap = b->wb_cap != 0 ? b->wb_cap * 2 : 16;
	if (cap > max)
		cap = max;
	if ((c = realloc(b->wb_counts, cap * sizeof(*c))) == NULL)
		return -1;
	b->wb_counts = c;
	b->wb_cap = cap;
	return 0;
}

int
window_add(struct window *w, const char *key, size_t len, uint64_t now_ms,
    uint64_t n)
{
	struct window_bucket *b = window_bucket(w, now_ms / WINDOW_MINUTE_MS);
	const uintptr_t *known;
	uintptr_t *v;
	bool created;

	if (len > WINDOW_KEY_MAX)
		len = WINDOW_KEY_MAX;
	if ((known = strmap_get(&b->wb_map, key, len)) != NULL) {
		b->wb_counts[*known] += n;
		return 0;
	}
	if (b->wb_nkeys >= w->w_max_keys) {
		b->wb_other += n;
		return 0;
	}
	if (window_room(b, w->w_max_keys) == -1 ||
	    (v = strmap_put(&b->wb_map, key, len, &created)) == NULL) {
		b->wb_other += n;
		return -1;
	}
	*v = b->wb_nkeys;
	b->wb_counts[b->wb_nkeys++] = n;
	return 0;
}

struct window_sum *
window_sum_new(void)
{
	struct window_sum *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	strmap_init(&s->ws_map);
	return s;
}

void
window_sum_free(struct window_sum *s)
{
	if (s == NULL)
		return;
	strmap_free(&s->ws_map);
	free(s->ws_ent);
	s->ws_ent = NULL;
	free(s);
}

/* The map's copy of the key whose value `v` points at (strmap_put's
 * answer): the slot holding the value holds the key. Slots move when the
 * map grows; the key copies never do. */
static const char *
window_slot_key(uintptr_t *v)
{
	struct strmap_slot *sl = (struct strmap_slot *)(void *)((char *)v -
	    offsetof(struct strmap_slot, s_val));

	return sl->s_key;
}

/* Add `n` under `key` (len bytes). Returns 0 or -1. */
static int
window_sum_put(struct window_sum *s, const char *key, size_t len, uint64_t n)
{
	struct window_entry *e;
	uintptr_t *v;
	bool created;

	/* Room first: a key in the map must always have its entry. */
	if (s->ws_n == s->ws_cap) {
		size_t cap = s->ws_cap != 0 ? s->ws_cap * 2 : 64;

		if ((e = reallocarray(s->ws_ent, cap, sizeof(*e))) == NULL)
			return -1;
		s->ws_ent = e;
		s->ws_cap = cap;
	}
	if ((v = strmap_put(&s->ws_map, key, len, &created)) == NULL)
		return -1;
	if (created) {
		*v = s->ws_n++;
		e = &s->ws_ent[*v];
		e->we_key = window_slot_key(v);
		e->we_len = len;
		e->we_count = 0;
	}
	s->ws_ent[*v].we_count += n;
	s->ws_total += n;
	return 0;
}

int
window_sum_add(struct window_sum *s, const struct window *w, uint64_t now_ms,
    unsigned minutes)
{
	uint64_t now = now_ms / WINDOW_MINUTE_MS;
	size_t i, j;

	if (minutes < 1)
		minutes = 1;
	if (minutes > WINDOW_MINUTES)
		minutes = WINDOW_MINUTES;
	for (i = 0; i < WINDOW_MINUTES; i++) {
		const struct window_bucket *b = &w->w_buckets[i];
		const struct strmap *m = &b->wb_map;

		if (b->wb_minute > now || now - b->wb_minute >= minutes)
			continue;
		/* Every slot of the map, in table order: the map has no
		 * iterator, and its layout is public. */
		for (j = 0; j < m->m_cap; j++) {
			const struct strmap_slot *sl = &m->m_slots[j];

			if (sl->s_key == NULL)
				continue;
			if (window_sum_put(s, sl->s_key, sl->s_len,
			    b->wb_counts[sl->s_val]) == -1)
				return -1;
		}
		if (b->wb_other != 0 &&
		    window_sum_put(s, WINDOW_OTHER, strlen(WINDOW_OTHER),
		    b->wb_other) == -1)
			return -1;
	}
	return 0;
}

/* Whether `a` comes before `b` in the top: larger count, then smaller key
 * bytewise, a prefix before what it prefixes. */
static bool
window_before(const struct window_entry *a, const struct window_entry *b)
{
	size_t n = a->we_len < b->we_len ? a->we_len : b->we_len;
	int c;

	if (a->we_count != b->we_count)
		return a->we_count > b->we_count;
	if ((c = memcmp(a->we_key, b->we_key, n)) != 0)
		return c < 0;
	return a->we_len < b->we_len;
}

/* Restore the heap h[0..n) below `i`: a parent comes after its children
 * (the root is the last in the top order). */
static void
window_sift(struct window_entry *h, size_t n, size_t i)
{
	struct window_entry t;
	size_t c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && window_before(&h[c], &h[c + 1]))
			c++;
		if (!window_before(&h[i], &h[c]))
			return;
		t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
}

size_t
window_sum_top(const struct window_sum *s, struct window_entry *out, size_t n)
{
	struct window_entry t;
	size_t i, k = 0;

	/* A heap of the n best so far in out[], the worst at its root:
	 * O(keys * log n) and no allocation, whatever n is. */
	for (i = 0; i < s->ws_n; i++) {
		if (k < n) {
			size_t c = k++, p;

			/* Up from the end while worse than its parent. */
			out[c] = s->ws_ent[i];
			while (c > 0 &&
			    window_before(&out[p = (c - 1) / 2], &out[c])) {
				t = out[p];
				out[p] = out[c];
				out[c] = t;
				c = p;
			}
		} else if (n > 0 && window_before(&s->ws_ent[i], &out[0])) {
			out[0] = s->ws_ent[i];
			window_sift(out, k, 0);
		}
	}
	/* Heap sort: the root (the worst) goes to the end, repeatedly. */
	for (i = k; i > 1; i--) {
		t = out[0];
		out[0] = out[i - 1];
		out[i - 1] = t;
		window_sift(out, i - 1, 0);
	}
	return k;
}

uint64_t
window_sum_total(const struct window_sum *s)
{
	return s->ws_total;
}

size_t
window_sum_keys(const struct window_sum *s)
{
	return s->ws_n;
}
