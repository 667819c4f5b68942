/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a read offset: built by appending, drained by
 * consuming from the front. Used for rewritten HTTP heads and the bytes in
 * flight of a forwarded message. Allocation failures are reported, not
 * fatal: on the data path they end one connection, not the daemon. */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stddef.h>

struct buf {
	char	*b_data;
	size_t	 b_off;		/* first unconsumed byte */
	size_t	 b_len;		/* end of data */
	size_t	 b_cap;
};

/* Append `len` bytes. Returns 0 or -1 (out of memory). */
int buf_add(struct buf *b, const void *data, size_t len);

/* Append a NUL-terminated string. Returns 0 or -1. */
int buf_adds(struct buf *b, const char *s);

/* Make room for `len` more bytes at the end (moving unconsumed data to the
 * front first). Returns a pointer to the free space, or NULL. */
char *buf_space(struct buf *b, size_t len);

/* Bytes not yet consumed. */
size_t buf_used(const struct buf *b);

/* Mark `n` bytes at the front consumed; an emptied buffer resets. */
void buf_consume(struct buf *b, size_t n);

/* Release the memory. */
void buf_free(struct buf *b);

#endif
