/* SPDX-License-Identifier: MIT */
/* Fixed-size block pool; see pool.h. Written by hand: a slab of this kind
 * is twenty lines of list handling, and no Debian library offers one that
 * gives whole chunks back to the system when they empty.
 *
 * Every chunk is one mapping: a header, then `per_chunk` slots, each a
 * pointer to its chunk followed by the block. A chunk keeps its own free
 * list; chunks with a free slot are on the `partial` list, so pool_get is
 * O(1), and a chunk whose blocks all came back can be unmapped without
 * touching any other chunk's list. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pool.h"

struct pool_slot {
	struct pool_chunk	*ps_chunk;
	union {
		struct pool_slot *ps_next;	/* while free */
		max_align_t	 ps_align;
	} ps_u;
};

struct pool_chunk {
	struct pool_chunk	*pc_next, *pc_prev;	/* all chunks */
	struct pool_chunk	*pc_pnext, *pc_pprev;	/* partial list */
	struct pool_slot	*pc_free;
	size_t			 pc_used;
	size_t			 pc_bytes;		/* the mapping */
	int			 pc_partial;
};

struct pool {
	size_t			 p_size;	/* a slot: header + block */
	size_t			 p_per_chunk;
	struct pool_chunk	*p_all;
	struct pool_chunk	*p_partial;
	size_t			 p_nchunks;
};

/* The block of a slot starts where its union does. */
#define POOL_BLOCK(s)	((void *)&(s)->ps_u)
#define POOL_SLOT(b)	((struct pool_slot *)((char *)(b) - \
			    offsetof(struct pool_slot, ps_u)))

struct pool *
pool_new(size_t size, size_t per_chunk)
{
	struct pool *p = calloc(1, sizeof(*p));
	size_t a = _Alignof(max_align_t);

	if (p == NULL)
		return NULL;
	if (size < sizeof(struct pool_slot *))
		size = sizeof(struct pool_slot *);
	p->p_size = (offsetof(struct pool_slot, ps_u) + size + a - 1) / a * a;
	p->p_per_chunk = per_chunk ? per_chunk : 1;
	return p;
}

static void
pool_partial_add(struct pool *p, struct pool_chunk *c)
{
	c->pc_pprev = NULL;
	c->pc_pnext = p->p_partial;
	if (p->p_partial != NULL)
		p->p_partial->pc_pprev = c;
	p->p_partial = c;
	c->pc_partial = 1;
}

static void
pool_partial_del(struct pool *p, struct pool_chunk *c)
{
	if (c->pc_pprev != NULL)
		c->pc_pprev->pc_pnext = c->pc_pnext;
	else
		p->p_partial = c->pc_pnext;
	if (c->pc_pnext != NULL)
		c->pc_pnext->pc_pprev = c->pc_pprev;
	c->pc_partial = 0;
}

/* Map a new chunk, every slot free, on both lists. */
static struct pool_chunk *
pool_chunk_new(struct pool *p)
{
	size_t hdr = (sizeof(struct pool_chunk) + _Alignof(max_align_t) - 1) /
	    _Alignof(max_align_t) * _Alignof(max_align_t);
	size_t bytes = hdr + p->p_size * p->p_per_chunk, i;
	struct pool_chunk *c;
	char *base;

	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	c = (struct pool_chunk *)base;
	c->pc_bytes = bytes;
	c->pc_used = 0;
	c->pc_free = NULL;
	for (i = p->p_per_chunk; i > 0; i--) {
		struct pool_slot *s = (struct pool_slot *)(base + hdr +
		    (i - 1) * p->p_size);

		s->ps_chunk = c;
		s->ps_u.ps_next = c->pc_free;
		c->pc_free = s;
	}
	c->pc_prev = NULL;
	c->pc_next = p->p_all;
	if (p->p_all != NULL)
		p->p_all->pc_prev = c;
	p->p_all = c;
	p->p_nchunks++;
	pool_partial_add(p, c);
	return c;
}

void *
pool_get(struct pool *p)
{
	struct pool_chunk *c = p->p_partial;
	struct pool_slot *s;

	if (c == NULL && (c = pool_chunk_new(p)) == NULL)
		return NULL;
	s = c->pc_free;
	c->pc_free = s->ps_u.ps_next;
	c->pc_used++;
	if (c->pc_free == NULL)
		pool_partial_del(p, c);
	return POOL_BLOCK(s);
}

void
pool_put(struct pool *p, void *block)
{
	struct pool_slot *s;
	struct pool_chunk *c;

	if (block == NULL)
		return;
	s = POOL_SLOT(block);
	c = s->ps_chunk;
	s->ps_u.ps_next = c->pc_free;
	c->pc_free = s;
	c->pc_used--;
	if (!c->pc_partial)
		pool_partial_add(p, c);
}

static void
pool_chunk_unmap(struct pool *p, struct pool_chunk *c)
{
	if (c->pc_partial)
		pool_partial_del(p, c);
	if (c->pc_prev != NULL)
		c->pc_prev->pc_next = c->pc_next;
	else
		p->p_all = c->pc_next;
	if (c->pc_next != NULL)
		c->pc_next->pc_prev = c->pc_prev;
	p->p_nchunks--;
	munmap(c, c->pc_bytes);
}

size_t
pool_release(struct pool *p, size_t keep)
{
	struct pool_chunk *c = p->p_all, *next;
	size_t n = 0, kept = 0;

	for (; c != NULL; c = next) {
		next = c->pc_next;
		if (c->pc_used != 0)
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		pool_chunk_unmap(p, c);
		n++;
	}
	return n;
}

size_t
pool_chunks(const struct pool *p)
{
	return p->p_nchunks;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	while (p->p_all != NULL)
		pool_chunk_unmap(p, p->p_all);
	free(p);
}
