/* SPDX-License-Identifier: MIT */
/* Non-blocking send and receive on a socket whose readiness the caller
 * tracks (struct relay_fdstate, see ev.c's design note): the one place that
 * retries EINTR and turns EAGAIN into "wait for the next edge". */
#ifndef SLUICE_SOCKIO_H
#define SLUICE_SOCKIO_H

#include <stddef.h>
#include <sys/types.h>

#include "relay.h"

/* Send as much of `p` (`len` bytes) as the socket takes now. Clears
 * st->can_write when the socket is full, and sends nothing while it is
 * clear. Returns the bytes sent (0..len), or -1 with errno on an error. */
ssize_t sockio_send(int fd, struct relay_fdstate *st, const void *p,
    size_t len);

/* Receive once into `p` (at most `len` bytes). Returns the bytes read, 0 at
 * end of stream, or -1 with errno: EAGAIN (st->can_read now clear, or
 * already clear: wait for the next edge) or a real error. */
ssize_t sockio_recv(int fd, struct relay_fdstate *st, void *p, size_t len);

#endif
