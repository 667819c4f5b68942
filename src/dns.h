/* SPDX-License-Identifier: MIT */
/* Asynchronous name resolution with c-ares, driven by our event loop: its
 * sockets are watched by the loop and its timeouts are loop timers, so a
 * lookup never blocks the thread. */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct dns;
struct dns_query;

#define DNS_MAX_ADDRS 16

/* Result of a lookup: `n` addresses (port filled in) or, when n == 0, a
 * short reason in `err` ("no such domain", "timed out", ...). */
typedef void dns_cb(void *arg, const struct sockaddr_storage *addrs, size_t n,
    const char *err);

/* Create the resolver of one loop. `servers` is a c-ares CSV list
 * ("1.2.3.4:53,[::1]:53") or NULL for /etc/resolv.conf. Returns NULL with
 * a message in `err`. */
struct dns *dns_new(struct ev_loop *loop, const char *servers,
    unsigned timeout_ms, char *err, size_t errlen);

/* Use other servers from now on (a CSV list as for dns_new, or NULL for
 * the system's, read from /etc/resolv.conf now).
 * Returns 0, or -1 with a message in `err`. */
int dns_set_servers(struct dns *d, const char *servers, char *err,
    size_t errlen);

/* Destroy the resolver; pending callbacks are not called. */
void dns_free(struct dns *d);

/* Resolve `name` (A and AAAA). `cb(arg, ...)` runs on the loop thread exactly
 * once (possibly before dns_resolve returns), unless dns_cancel is called
 * first. While the query is pending, *qp points at it; it is reset to NULL
 * just before `cb` runs, so the owner can always tell whether to cancel.
 * Returns 0, or -1 when out of memory (no callback then). */
int dns_resolve(struct dns *d, const char *name, uint16_t port, dns_cb *cb,
    void *arg, struct dns_query **qp);

/* Forget the callback of a pending query and reset the owner's handle. */
void dns_cancel(struct dns_query *q);

#endif
