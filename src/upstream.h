/* SPDX-License-Identifier: MIT */
/* Chaining to an upstream proxy (`sluice run --upstream`): requests that
 * pass the local policy leave through the team's proxy, CONNECT for tunnels
 * and absolute-form for plain HTTP, with Proxy-Authorization added here. The
 * credentials live only in this process. */
#ifndef SLUICE_UPSTREAM_H
#define SLUICE_UPSTREAM_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns.h"

struct conn;
struct proxyurl;

struct upstream {
	struct sockaddr_storage	 up_addrs[DNS_MAX_ADDRS];
	size_t			 up_naddrs;
	char			*up_auth;	/* base64 user:pass, or NULL */
	char			 up_name[300];	/* host:port, for messages */
};

/* Resolve the upstream named by `u` (blocking: call at start-up) and keep
 * its credentials. Returns NULL with a message in `err`. */
struct upstream *upstream_new(const struct proxyurl *u, char *err,
    size_t errlen);

/* Wipe the credentials and free. */
void upstream_free(struct upstream *up);

/* c->c_ufd is connected to the upstream proxy: ask it to CONNECT to the
 * request's destination. On its 200 the connection becomes a tunnel; any
 * other answer fails the request with 502 upstream-denied. */
void upstream_start(struct conn *c);

/* Progress after a readiness change while waiting for the upstream. */
void upstream_pump(struct conn *c);

/* Release the handshake state of `c`. */
void upstream_free_hs(struct conn *c);

#endif
