/* SPDX-License-Identifier: MIT */
/* Counts per identity; see tally.h. An identity keeps its (zero) entry
 * once seen: there are as many as there are users, and a map without
 * removal stays simple. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "tally.h"

struct tally {
	pthread_mutex_t	 t_lock;
	struct strmap	 t_map;		/* identity -> count */
};

struct tally *
tally_new(void)
{
	struct tally *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->t_lock, NULL);
	strmap_init(&t->t_map);
	return t;
}

void
tally_free(struct tally *t)
{
	if (t == NULL)
		return;
	strmap_free(&t->t_map);
	pthread_mutex_destroy(&t->t_lock);
	free(t);
}

bool
tally_take(struct tally *t, const char *key, unsigned max)
{
	uintptr_t *v;
	bool created, ok;

	pthread_mutex_lock(&t->t_lock);
	v = strmap_put(&t->t_map, key, strlen(key), &created);
	/* Out of memory: no count to keep, so no tunnel beyond the limit
	 * can be told apart; refuse rather than let it go uncounted. */
	if ((ok = v != NULL && *v < max))
		(*v)++;
	pthread_mutex_unlock(&t->t_lock);
	return ok;
}

void
tally_give(struct tally *t, const char *key)
{
	uintptr_t *v;
	bool created;

	pthread_mutex_lock(&t->t_lock);
	if ((v = strmap_put(&t->t_map, key, strlen(key), &created)) != NULL &&
	    *v > 0)
		(*v)--;
	pthread_mutex_unlock(&t->t_lock);
}

unsigned
tally_count(struct tally *t, const char *key)
{
	const uintptr_t *v;
	unsigned n;

	pthread_mutex_lock(&t->t_lock);
	v = strmap_get(&t->t_map, key, strlen(key));
	n = v != NULL ? (unsigned)*v : 0;
	pthread_mutex_unlock(&t->t_lock);
	return n;
}
