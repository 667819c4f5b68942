/* SPDX-License-Identifier: MIT */
/* Open-addressing hash map, linear probing, FNV-1a. Keys are short DNS names
 * and user names; the tables stay small, so simplicity wins over cleverness. */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static uint64_t
strmap_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void
strmap_init(struct strmap *m)
{
	m->m_slots = NULL;
	m->m_cap = 0;
	m->m_count = 0;
}

void
strmap_free(struct strmap *m)
{
	size_t i;

	for (i = 0; i < m->m_cap; i++)
		free(m->m_slots[i].s_key);
	free(m->m_slots);
	m->m_slots = NULL;
	m->m_cap = m->m_count = 0;
}

static struct strmap_slot *
strmap_find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
	size_t i, mask = m->m_cap - 1;

	for (i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *sl = &m->m_slots[i];

		if (sl->s_key == NULL)
			return sl;
		if (sl->s_hash == h && sl->s_len == len &&
		    memcmp(sl->s_key, key, len) == 0)
			return sl;
	}
}

static int
strmap_grow(struct strmap *m)
{
	struct strmap old = *m;
	size_t i, cap = m->m_cap ? m->m_cap * 2 : 16;

	m->m_slots = calloc(cap, sizeof(*m->m_slots));
	if (m->m_slots == NULL) {
		*m = old;
		return -1;
	}
	m->m_cap = cap;
	for (i = 0; i < old.m_cap; i++) {
		struct strmap_slot *sl = &old.m_slots[i];

		if (sl->s_key != NULL)
			*strmap_find(m, sl->s_key, sl->s_len, sl->s_hash) = *sl;
	}
	free(old.m_slots);
	return 0;
}

uintptr_t *
strmap_put(struct strmap *m, const char *key, size_t len, bool *created)
{
	uint64_t h = strmap_hash(key, len);
	struct strmap_slot *sl;

	/* Keep the load factor at or below one half. */
	if ((m->m_count + 1) * 2 > m->m_cap && strmap_grow(m) == -1)
		return NULL;
	sl = strmap_find(m, key, len, h);
	if (sl->s_key != NULL) {
		*created = false;
		return &sl->s_val;
	}
	if ((sl->s_key = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(sl->s_key, key, len);
	sl->s_key[len] = '\0';
	sl->s_len = len;
	sl->s_hash = h;
	sl->s_val = 0;
	m->m_count++;
	*created = true;
	return &sl->s_val;
}

const uintptr_t *
strmap_get(const struct strmap *m, const char *key, size_t len)
{
	struct strmap_slot *sl;

	if (m->m_cap == 0)
		return NULL;
	sl = strmap_find(m, key, len, strmap_hash(key, len));
	return sl->s_key != NULL ? &sl->s_val : NULL;
}
