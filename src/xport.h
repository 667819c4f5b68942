/* SPDX-License-Identifier: MIT */
/* A transport: one side of a connection as the state machine sees it. It
 * reads, writes, shuts down its sending side and closes, and says whether
 * the bytes on its socket are the payload itself, in each direction (so that
 * splice(2) may move them). Plain TCP is the first implementation; a TLS one plugs in behind
 * the same operations without touching conn.c, forward.c or relay.c.
 *
 * Readiness is remembered per transport for edge-triggered epoll (see ev.c):
 * the owner sets x_can_read / x_can_write on events, and only an operation
 * that would block clears them. The retries of EINTR and the mapping of
 * EAGAIN live here and nowhere else. */
#ifndef SLUICE_XPORT_H
#define SLUICE_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xport;

struct xport_ops {
	const char	*xo_name;
	/* Receive once into `p` (at most `len` bytes). Returns the bytes
	 * read, 0 at end of stream, or -1 with errno: EAGAIN (x_can_read now
	 * clear, or already clear: wait for the next edge) or a real error. */
	ssize_t		(*xo_read)(struct xport *, void *p, size_t len);
	/* Send as much of `p` as the transport takes now. Clears x_can_write
	 * when it is full, and sends nothing while that is clear. Returns the
	 * bytes taken (0..len), or -1 with errno on an error. */
	ssize_t		(*xo_write)(struct xport *, const void *p, size_t len);
	/* Nothing more will be written. Returns 0 or -1 with errno (ENOTCONN,
	 * the peer is gone already, counts as done). */
	int		(*xo_shutdown)(struct xport *);
	/* Release the socket and any state of the transport's own. */
	void		(*xo_close)(struct xport *);
};

struct xport {
	const struct xport_ops	*x_ops;
	int			 x_fd;		/* -1: not open */
	bool			 x_can_read;
	bool			 x_can_write;
	/* splice(2) may read the payload from x_fd (x_splice_in) or write
	 * it there (x_splice_out): plain TCP, or TLS done by the kernel. */
	bool			 x_splice_in;
	bool			 x_splice_out;
	void			*x_state;	/* the transport's own (TLS) */
};

/* Make `x` a plain TCP transport over the connected (or connecting)
 * non-blocking socket `fd`, taking ownership of it. Readiness starts clear. */
void xport_tcp(struct xport *x, int fd);

/* A transport that is not open (x_fd -1); xport_close on it is a no-op. */
void xport_none(struct xport *x);

/* Is `x` open? */
static inline bool
xport_open(const struct xport *x)
{
	return x->x_fd != -1;
}

static inline ssize_t
xport_read(struct xport *x, void *p, size_t len)
{
	return x->x_ops->xo_read(x, p, len);
}

static inline ssize_t
xport_write(struct xport *x, const void *p, size_t len)
{
	return x->x_ops->xo_write(x, p, len);
}

static inline int
xport_shutdown(struct xport *x)
{
	return x->x_ops->xo_shutdown(x);
}

/* Close `x` if open; it is then "not open" (x_fd -1) again. */
void xport_close(struct xport *x);

/* May bytes move from `a` to `b` by splice(2)? Only when both allow it. */
static inline bool
xport_can_splice(const struct xport *a, const struct xport *b)
{
	return a->x_splice_in && b->x_splice_out;
}

#endif
