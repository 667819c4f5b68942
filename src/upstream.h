/* SPDX-License-Identifier: MIT */
/* Chaining to an upstream proxy (`sluice run --upstream`): requests that
 * pass the local policy leave through the team's proxy, every one through a
 * CONNECT tunnel with Proxy-Authorization added here, plain HTTP included,
 * so that the credentials are only ever in our CONNECT request: nothing the
 * upstream or an origin sends back can quote them. They live only in this
 * process. */
#ifndef SLUICE_UPSTREAM_H
#define SLUICE_UPSTREAM_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns.h"
#include "verdict.h"

struct proxyurl;
struct tls_client;
struct upstream_hs;
struct xport;

struct upstream {
	struct sockaddr_storage	 up_addrs[DNS_MAX_ADDRS];
	size_t			 up_naddrs;
	char			*up_auth;	/* base64 user:pass, or NULL */
	char			 up_name[300];	/* host:port, for messages */
	char			 up_host[256];	/* as the URL named it */
	struct tls_client	*up_tls;	/* https://: TLS to it, or NULL */
};

/* Resolve the upstream named by `u` (blocking: call at start-up) and keep
 * its credentials; for an https:// upstream, a TLS client that verifies it
 * against `ca_file` (NULL: the system's store). Returns NULL with a message
 * in `err`. */
struct upstream *upstream_new(const struct proxyurl *u, const char *ca_file,
    char *err, size_t errlen);

/* Wipe the credentials and free. */
void upstream_free(struct upstream *up);

/* The CONNECT handshake with the upstream, for one tunnel to `hostport`
 * (borrowed until upstream_hs_free). Returns NULL when out of memory. */
struct upstream_hs *upstream_hs_new(const struct upstream *up,
    const char *hostport);

/* Make progress on the transport `x` connected to the upstream: send the
 * request, read the answer. Returns the verdict's kind (also in v): WAIT;
 * TUNNEL on the upstream's 2xx, with v_to_client the bytes that followed
 * its answer (borrowed until upstream_hs_free; what to tell the client is
 * the caller's); FAIL with 502 upstream-denied otherwise, naming only the
 * upstream's status. */
enum verdict_kind upstream_hs_pump(struct upstream_hs *uh, struct xport *x,
    struct verdict *v);

/* Wipe (the request carried credentials) and free; NULL is a no-op. */
void upstream_hs_free(struct upstream_hs *uh);

#endif
