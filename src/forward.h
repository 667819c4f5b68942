/* SPDX-License-Identifier: MIT */
/* Plain-HTTP forwarding: one request/response exchange between a client and
 * an upstream origin, both bodies streamed with their framing checked by
 * llhttp and forwarded verbatim. */
#ifndef SLUICE_FORWARD_H
#define SLUICE_FORWARD_H

struct conn;

/* Begin forwarding the request parsed in c->c_hs to the connected upstream
 * c->c_ufd (the caller has entered CONN_EXCHANGE and armed the idle timer).
 * May end the connection (then `c` is closed, not yet freed). */
void forward_start(struct conn *c);

/* Make progress after a readiness change on either socket. */
void forward_pump(struct conn *c);

/* Release the exchange state of `c`. */
void forward_free(struct conn *c);

#endif
