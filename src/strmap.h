/* SPDX-License-Identifier: MIT */
/* A string-keyed open-addressing hash map with a uintptr_t value: the lookup
 * structure under domain patterns, the hosts file and the user database.
 * Built at configuration time, read-only afterwards (safe to share between
 * threads once built). */
#ifndef SLUICE_STRMAP_H
#define SLUICE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	char		*s_key;		/* owned, NUL-terminated */
	size_t		 s_len;
	uint64_t	 s_hash;
	uintptr_t	 s_val;
};

struct strmap {
	struct strmap_slot	*m_slots;
	size_t			 m_cap;		/* power of two, or 0 */
	size_t			 m_count;
};

/* Initialise an empty map (no allocation). */
void strmap_init(struct strmap *m);

/* Free every key and the table; values are the caller's. */
void strmap_free(struct strmap *m);

/* Find `key` (len bytes) or insert it with value 0. Returns a pointer to its
 * value, valid until the next insertion; NULL only when memory is short.
 * `*created` says whether it was new. */
uintptr_t *strmap_put(struct strmap *m, const char *key, size_t len,
    bool *created);

/* Look `key` up. Returns a pointer to its value or NULL. */
const uintptr_t *strmap_get(const struct strmap *m, const char *key,
    size_t len);

#endif
