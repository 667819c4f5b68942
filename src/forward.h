/* SPDX-License-Identifier: MIT */
/* Plain-HTTP forwarding: one request/response exchange between a client and
 * an upstream origin, both bodies streamed with their framing checked by
 * llhttp and forwarded verbatim. The exchange owns its own state and never
 * changes the connection's: each step returns a verdict (verdict.h). */
#ifndef SLUICE_FORWARD_H
#define SLUICE_FORWARD_H

#include <stdbool.h>
#include <sys/socket.h>

#include "verdict.h"

struct config;
struct env;
struct forward;
struct request;
struct txn;
struct xport;

/* Prepare to forward `rq` (a complete, checked plain-HTTP head in rq_buf)
 * from the client `cx` to the origin `ux` (connected), rewriting its head;
 * `peer` is the client's address (for X-Forwarded-For). Everything is
 * borrowed until forward_free: the exchange adds its byte counts, the
 * origin's status and media type to `t`, and consumes rq_buf. Returns NULL
 * when out of memory. */
struct forward *forward_new(const struct env *env, const struct config *cfg,
    struct request *rq, struct xport *cx, struct xport *ux, struct txn *t,
    const struct sockaddr *peer);

/* Send what can be sent and return the first verdict (see forward_pump). */
enum verdict_kind forward_start(struct forward *f, struct verdict *v);

/* Make progress after a readiness change on either transport. Returns the
 * verdict's kind (also in v): WAIT; KEEP_ALIVE when the exchange is over and
 * the client may send another request (rq_buf then holds its first bytes,
 * v_reuse says whether the origin connection may serve it); CLOSE when it is
 * over and the connection must end; FAIL with the answer to give when nothing
 * has gone to the client; ABORT when the answer broke off (v_reason says
 * why); TUNNEL after 101 Switching Protocols. */
enum verdict_kind forward_pump(struct forward *f, struct verdict *v);

/* Is the exchange waiting for the origin: the request sent, everything the
 * origin sent passed on, and the answer not complete? (Then a stall is the
 * origin's; otherwise it is the client's.) */
bool forward_awaits_origin(const struct forward *f);

/* Wipe (the rewritten head may carry upstream credentials) and free; NULL is
 * a no-op. */
void forward_free(struct forward *f);

#endif
