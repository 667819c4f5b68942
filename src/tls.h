/* SPDX-License-Identifier: MIT */
/* TLS (OpenSSL) wherever sluice speaks it: the server context a `listen ...
 * tls` address serves with, the client context and peer verification for an
 * https:// proxy (`sluice run --upstream`, `sluice tunnel`), and the TLS
 * transport (xport.h) of either kind of connection. Proxy credentials then
 * never cross a network in clear text; after the handshake a connection is
 * served exactly as a plain one. */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls_client;
struct tls_server;
struct xport;

/* A server context for the PEM chain `cert` and key `key`: TLS 1.2 and 1.3
 * only, the server's cipher preference, ALPN http/1.1, session resumption
 * (tickets and a cache). Returns NULL with "FILE: why" in `err`. */
struct tls_server *tls_server_new(const char *cert, const char *key,
    char *err, size_t errlen);

/* Free a context; connections that use it keep it alive (OpenSSL counts
 * references). NULL is a no-op. */
void tls_server_free(struct tls_server *ts);

/* Turn `x`, a TCP transport just accepted on a TLS listener, into a TLS
 * server transport of `ts` (the handshake has yet to run: tls_handshake).
 * Returns 0, or -1 when out of memory (`x` is then still plain TCP). */
int tls_accept(struct xport *x, struct tls_server *ts);

enum tls_step {
	TLS_DONE = 0,		/* the handshake is complete */
	TLS_AGAIN,		/* wait for readiness, then call again */
	TLS_FAILED,		/* no TLS session: `why` says why */
	TLS_PLAINTEXT,		/* the client spoke plain HTTP to a TLS port; `x`
				 * is plain TCP again, to answer it in kind */
};

/* Drive the handshake of `x` (see tls_accept, tls_connect), on a blocking
 * or non-blocking socket. On TLS_FAILED, `why` holds one line: for a peer
 * certificate refused, the check that failed ("unable to get local issuer
 * certificate", "the certificate is not valid for NAME"). */
enum tls_step tls_handshake(struct xport *x, char *why, size_t whylen);

/* "TLSv1.3" and the like, once the handshake is done; NULL for a
 * transport that is not TLS. */
const char *tls_version(const struct xport *x);

/* A client context for TLS to a proxy: TLS 1.2 or 1.3, the peer verified
 * against the PEM bundle `ca_file`, or the system's store when it is NULL.
 * Returns NULL with "FILE: why" (or why) in `err`. */
struct tls_client *tls_client_new(const char *ca_file, char *err,
    size_t errlen);

/* Free a client context; NULL is a no-op. */
void tls_client_free(struct tls_client *tc);

/* Turn `x`, a TCP transport connected (or connecting) to `host` (a name
 * or an IP address, as the proxy URL gave it), into a TLS client transport
 * of `tc` whose certificate must be valid for `host`; tls_handshake then
 * runs it. Returns 0, or -1 when out of memory (`x` unchanged). */
int tls_connect(struct xport *x, struct tls_client *tc, const char *host);

#endif
