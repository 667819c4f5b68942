/* SPDX-License-Identifier: MIT */
/* Growable byte buffers; see buf.h. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

char *
buf_space(struct buf *b, size_t len)
{
	if (b->b_off > 0 && b->b_cap - b->b_len < len) {
		memmove(b->b_data, b->b_data + b->b_off, b->b_len - b->b_off);
		b->b_len -= b->b_off;
		b->b_off = 0;
	}
	if (b->b_cap - b->b_len < len) {
		size_t cap = b->b_cap ? b->b_cap : 256;
		char *d;

		while (cap - b->b_len < len)
			cap *= 2;
		if ((d = realloc(b->b_data, cap)) == NULL)
			return NULL;
		b->b_data = d;
		b->b_cap = cap;
	}
	return b->b_data + b->b_len;
}

int
buf_add(struct buf *b, const void *data, size_t len)
{
	char *p;

	if (len == 0)
		return 0;	/* an empty buffer has no space to point at */
	if ((p = buf_space(b, len)) == NULL)
		return -1;
	memcpy(p, data, len);
	b->b_len += len;
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

size_t
buf_used(const struct buf *b)
{
	return b->b_len - b->b_off;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->b_off += n;
	if (b->b_off >= b->b_len)
		b->b_off = b->b_len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->b_data);
	b->b_data = NULL;
	b->b_off = b->b_len = b->b_cap = 0;
}
