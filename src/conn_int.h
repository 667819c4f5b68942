/* SPDX-License-Identifier: MIT */
/* For conn*.c only: what the connection state machine (conn.c), its
 * opening steps (conn_open.c) and its reload review (conn_review.c) call
 * across the files. Everyone else sees a connection through conn.h. */
#ifndef SLUICE_CONN_INT_H
#define SLUICE_CONN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "reason.h"

struct config;
struct conn;
struct ev_loop;

/* conn.c */

/* -d: one line per decision a connection goes through, numbered so that
 * lines of one connection can be told apart across workers. */
void conn_debug(const struct conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* The event loop `c` lives on (its worker's; borrowed). */
struct ev_loop *conn_loop(const struct conn *c);

/* Arm the connection's one timer `ms` from now (its callback dispatches on
 * c_state). */
void conn_timer(struct conn *c, uint64_t ms);

/* Close everything and log what the request came to; does nothing when `c`
 * is closed already. `c` stays readable (CONN_CLOSED) until it is freed
 * after the current event batch: callers return without going on. */
void conn_close(struct conn *c);

/* Answer `c` with the error `r` and `detail` (may be NULL), closing any
 * upstream, and end the connection (may close it at once). */
void conn_fail(struct conn *c, enum reason r, const char *detail);

/* CONN_HEAD: parse buffered bytes, reading more while the head is
 * incomplete, and go on with the request once it is. May close `c`. */
void conn_read_head(struct conn *c);

/* The client socket's callback, in every state (registered once). */
void conn_client_io(struct ev_loop *, int, unsigned, void *);

/* conn_review.c */

/* Does a password check's answer for `user`, given under the
 * connection's configuration, hold under `n` (the same user, with the same
 * password hash)? */
bool conn_user_holds(const struct conn *c, const struct config *n,
    const char *user);

/* A reload that came while the request (plain HTTP when `http`) was set up
 * judges it before anything is dialled or answered: false when it was
 * refused (and answered, as it would be now). */
bool conn_setup_holds(struct conn *c, bool http);

/* conn_open.c */

/* CONN_PROXY: read the PROXY header, then go on to the TLS handshake or
 * the request head. Called again on every readiness change; may close
 * `c`. */
void conn_pp_step(struct conn *c);

/* header_timeout in CONN_PROXY: closes `c`. */
void conn_pp_timeout(struct conn *c);

/* CONN_TLS: make progress on the handshake; once done, read the request
 * head (or say the refusal waiting, conn_refuse). Called again on every
 * readiness change; may close `c`. */
void conn_tls_step(struct conn *c);

#endif
