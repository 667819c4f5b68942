/* SPDX-License-Identifier: MIT */
/* The byte pump of an established tunnel: moves data from one transport to
 * another with splice(2) through a pipe borrowed from a per-loop pool only
 * while data is in flight, or through a small heap buffer when splice is not
 * possible (a transport that is not plain TCP, or sockets splice
 * refuses). An idle direction owns no buffer and no pipe. */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct relay_pipe;
struct relay_pool;
struct xport;

enum relay_status {
	RELAY_WAIT = 0,		/* blocked on readiness; call again later */
	RELAY_DONE = 1,		/* source at EOF, all written, peer shut */
	RELAY_ERROR = 2,	/* a socket failed: abort the tunnel */
};

/* One direction: bytes read from `from` are written to `to`. */
struct relay_dir {
	struct relay_pipe	*rd_pipe;	/* borrowed while data in flight */
	char			*rd_buf;	/* buffered fallback / prefill */
	uint32_t		 rd_off, rd_len, rd_cap;
	uint32_t		 rd_inpipe;	/* bytes inside rd_pipe */
	bool			 rd_eof;	/* `from` reached EOF */
	bool			 rd_shut;	/* shutdown(to, SHUT_WR) done */
	bool			 rd_nosplice;	/* use the buffer path */
	uint64_t		 rd_bytes;	/* bytes written to `to` */
};

/* Create a per-loop pool of spare pipes. Returns NULL when out of memory. */
struct relay_pool *relay_pool_new(void);

/* Close every spare pipe and free the pool. */
void relay_pool_free(struct relay_pool *p);

/* Queue `len` bytes to be written to `to` before anything relayed (e.g. bytes
 * a client sent right after its CONNECT head). Returns 0 or -1 (no memory). */
int relay_prefill(struct relay_dir *d, const char *data, size_t len);

/* Move as much as possible from `from` to `to`: by splice(2) when both
 * transports allow it, through the buffer otherwise. Returns a relay_status;
 * on RELAY_ERROR errno says why. */
enum relay_status relay_pump(struct relay_pool *p, struct relay_dir *d,
    struct xport *from, struct xport *to);

/* Release the pipe and buffer a direction holds. */
void relay_dir_free(struct relay_pool *p, struct relay_dir *d);

#endif
