/* SPDX-License-Identifier: MIT */
/* Fixed-size blocks for short-lived state (a connection's handshake), kept
 * apart from malloc's heap in chunks of their own, so that once a burst is
 * over whole chunks go back to the system instead of leaving holes between
 * the long-lived records malloc placed around them. One pool per worker:
 * not thread-safe. */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <stddef.h>

struct pool;

/* A pool of blocks of `size` bytes, `per_chunk` to a chunk (mmap'd when
 * needed). Returns NULL when out of memory. */
struct pool *pool_new(size_t size, size_t per_chunk);

/* A block (contents undefined), or NULL when out of memory. */
void *pool_get(struct pool *p);

/* Give back a block pool_get returned; NULL is a no-op. */
void pool_put(struct pool *p, void *block);

/* Return every chunk no block is taken from to the system, but `keep`
 * of them. Returns how many were returned. */
size_t pool_release(struct pool *p, size_t keep);

/* Chunks mapped now (for tests and -d). */
size_t pool_chunks(const struct pool *p);

/* Unmap everything; every block must have been given back. NULL is a
 * no-op. */
void pool_free(struct pool *p);

#endif
