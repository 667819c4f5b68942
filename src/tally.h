/* SPDX-License-Identifier: MIT */
/* Counts per identity, shared by every worker: how many tunnels each user
 * has open, for max_tunnels. A mutex around a string map: taken twice per
 * tunnel, and only when a policy sets a limit. */
#ifndef SLUICE_TALLY_H
#define SLUICE_TALLY_H

#include <stdbool.h>

struct tally;

/* An empty tally, or NULL when out of memory. */
struct tally *tally_new(void);

/* Free it; NULL is a no-op. */
void tally_free(struct tally *t);

/* Count one more for `key` if it has fewer than `max`: true when counted
 * (give it back with tally_give), false when `key` is at its limit. */
bool tally_take(struct tally *t, const char *key, unsigned max);

/* One fewer for `key`, which tally_take counted. */
void tally_give(struct tally *t, const char *key);

/* How many `key` holds now. */
unsigned tally_count(struct tally *t, const char *key);

#endif
