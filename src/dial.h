/* SPDX-License-Identifier: MIT */
/* Address selection and dialling: which of a destination's addresses may be
 * dialled (policy_check_addr decides each), and opening non-blocking
 * connections to them in turn until one answers. Selection is pure and
 * table-tested; dial_next is the only part that makes sockets. */
#ifndef SLUICE_DIAL_H
#define SLUICE_DIAL_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns.h"

struct policy;
struct host;

struct dial {
	struct sockaddr_storage	 d_addrs[DNS_MAX_ADDRS];
	size_t			 d_naddrs, d_next;
	int			 d_last_errno;	/* why the last try failed */
};

/* Keep, in order, the addresses among `addrs` (`n`, at most DNS_MAX_ADDRS
 * used) that policy `p` permits, IPv4-mapped ones unmapped, and start over with
 * them. Returns how many were kept; with none, `why` says which class the
 * first refused address was in ("it resolves only to refused addresses
 * (loopback 127.0.0.1)"). */
size_t dial_select(struct dial *d, const struct policy *p,
    const struct sockaddr_storage *addrs, size_t n, char *why, size_t whylen);

/* Start over with `addrs` as they are (an upstream proxy's addresses: it
 * applies its own rules). */
void dial_use(struct dial *d, const struct sockaddr_storage *addrs, size_t n);

/* The address of an IP-literal host (`h` is HOST_IPV4 or HOST_IPV6). */
void dial_literal(const struct host *h, struct sockaddr_storage *ss);

/* Start connecting to the next address: returns a non-blocking socket whose
 * connect is under way (writability reports the outcome) and points *sa at
 * the address, or -1 when no address is left. */
int dial_next(struct dial *d, const struct sockaddr **sa);

/* The connection to the last address tried failed with `err`. */
void dial_failed(struct dial *d, int err);

/* Why dialling failed: "Connection refused (192.0.2.1:443)". */
void dial_failure(const struct dial *d, char *buf, size_t len);

#endif
