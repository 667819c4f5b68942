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
#include <time.h>

struct tls_client;
struct tls_server;
struct xport;

/* Which name of a client certificate is the client's identity. */
enum tls_identity {
	TLS_ID_CN = 0,		/* the subject's commonName */
	TLS_ID_DNS,		/* its subjectAltName of type DNS */
	TLS_ID_EMAIL,		/* ... of type email (rfc822Name) */
	TLS_ID_URI,		/* ... of type URI (a SPIFFE ID, say) */
};

/* What a server context is made of: the PEM chain and its key, and for
 * client certificates (optional) the PEM bundle of the CAs that sign them,
 * PEM CRLs of those CAs, and the name that identifies a client. */
struct tls_server_files {
	const char		*tf_cert;
	const char		*tf_key;
	const char		*tf_client_ca;	/* NULL: no client certificates */
	const char		*tf_crl;	/* NULL: no revocation list */
	enum tls_identity	 tf_identity;
};

/* A server context for `f`: TLS 1.2 and 1.3 only, the server's cipher
 * preference, ALPN http/1.1, session resumption (tickets and a cache).
 * With a client CA, clients are asked for a certificate but may go on
 * without one (tls_peer says what they showed). Returns NULL with
 * "FILE: why" in `err`. */
struct tls_server *tls_server_new(const struct tls_server_files *f,
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

enum tls_peer {
	TLS_PEER_NONE = 0,	/* no certificate, or none was asked for */
	TLS_PEER_NAMED,		/* a valid certificate: `name` is the identity */
	TLS_PEER_REFUSED,	/* a certificate that is not valid, or names no
				 * usable identity: `why` says which */
};

/* The client certificate of a finished server handshake on `x`, and the
 * identity `id` it carries (printable UTF-8, at most `namelen` - 1 bytes). A
 * resumed session keeps the certificate it was made with; a reload makes
 * new contexts whose tickets the old ones cannot open. */
enum tls_peer tls_peer(const struct xport *x, enum tls_identity id,
    char *name, size_t namelen, char *why, size_t whylen);

/* After a reload: would the client certificate of `x` still be taken by
 * `ts` (the new listeners' context, NULL: none), under the identity `name`
 * (of kind `id`)? The chain is verified again against its CAs and CRLs.
 * False with the reason in `why` otherwise. */
bool tls_peer_recheck(const struct xport *x, const struct tls_server *ts,
    enum tls_identity id, const char *name, char *why, size_t whylen);

/* Does the kernel encrypt what `x` sends (kTLS), so that tunnel bytes to
 * it move by splice(2)? False where the kernel has no TLS ("tls" module)
 * or the suite is not one it does; OpenSSL then encrypts, through the
 * relay's fixed buffers. */
bool tls_kernel(const struct xport *x);

/* "TLSv1.3" and the like, once the handshake is done; NULL for a
 * transport that is not TLS. */
const char *tls_version(const struct xport *x);

/* When the first certificate in the PEM file `file` stops being valid
 * (notAfter) or, with `crl`, when the first CRL in it is due to be
 * replaced (nextUpdate). Returns 0, or -1 when there is none to read. */
int tls_file_expiry(const char *file, bool crl, time_t *when);

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

/* Like tls_connect, for TLS inside a tunnel: the records of `x` travel
 * through the open transport `under` (a CONNECT tunnel, plain or itself
 * TLS), which keeps its socket; `x` takes under's x_fd to be waited on,
 * and closing `x` ends only its TLS. `under` must outlive `x`. Returns 0,
 * or -1 when out of memory (`x` unchanged). */
int tls_connect_over(struct xport *x, struct xport *under,
    struct tls_client *tc, const char *host);

/* What a failed client handshake on `x` held against the peer's
 * certificate, from the X509 verify result. */
enum tls_refusal {
	TLS_REFUSAL_NONE = 0,	/* nothing: the certificate was not why */
	TLS_REFUSAL_ISSUER,	/* unknown issuer, or self-signed */
	TLS_REFUSAL_EXPIRED,	/* expired, or not valid yet */
	TLS_REFUSAL_NAME,	/* not valid for the name (or address) */
	TLS_REFUSAL_OTHER,	/* another check (revoked, bad chain, ...) */
};

/* See enum tls_refusal; TLS_REFUSAL_NONE for a transport that is not
 * TLS. */
enum tls_refusal tls_refusal(const struct xport *x);

#endif
