/* SPDX-License-Identifier: MIT */
/* One client connection and the tunnel it becomes: the connection state
 * machine of `sluice serve`. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <sys/socket.h>

struct proxy;
struct conn;

/* Take ownership of the accepted socket `fd` from `peer` and start serving
 * it under the proxy's current configuration. On failure (no memory) the
 * socket is closed. */
void conn_accept(struct proxy *px, int fd, const struct sockaddr *peer);

/* Refuse an accepted socket at once with 503 too-many-connections (best
 * effort, never blocks) and log it. Closes `fd`. */
void conn_refuse_busy(struct proxy *px, int fd, const struct sockaddr *peer);

/* Abort `c` (shutdown): logs it and frees it after the current batch. */
void conn_abort(struct conn *c);

#endif
