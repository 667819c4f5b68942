/* SPDX-License-Identifier: MIT */
/* The client side of an HTTP proxy, for the commands that talk to one from
 * this machine (`sluice tunnel`, `sluice probe`): resolve its name, connect
 * within a time limit naming the address that failed, TLS to an https://
 * proxy, a request that carries the URL's credentials as Basic
 * authentication, and the answer's head. One connection, waited for with
 * poll(2): no event loop. Nothing here prints; errors come back as words. */
#ifndef SLUICE_PROXYCLIENT_H
#define SLUICE_PROXYCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xport.h"

struct addrinfo;
struct proxyurl;
struct tls_client;

struct proxyclient {
	struct xport	 pc_x;		/* to the proxy: TCP, or TLS over it */
	char		 pc_name[300];	/* the proxy as its URL names it,
					 * "host:port" */
	char		 pc_addr[64];	/* the address dialled last, "ip:port" */
	int		 pc_timeout;	/* ms each connect or wait may take;
					 * -1: no limit */
};

/* Prepare `pc` for the proxy of `u` (its name into pc_name) with the time
 * limit `timeout_ms` (-1: none). Nothing is opened yet. */
void proxyclient_init(struct proxyclient *pc, const struct proxyurl *u,
    int timeout_ms);

/* Resolve `host` (a name or an address literal) for TCP to `port`.
 * Returns 0 with the addresses in *res (the caller frees them with
 * freeaddrinfo), or -1 with getaddrinfo's error code (EAI_*) in *gai. */
int proxyclient_resolve(const char *host, uint16_t port,
    struct addrinfo **res, int *gai);

/* Connect to the addresses of `res` in turn, each within pc_timeout, until
 * one takes the connection; pc_x is then a TCP transport on the
 * non-blocking socket, ready both ways. Returns 0, or -1 with errno of the
 * last attempt (ETIMEDOUT when it timed out) and that address in pc_addr. */
int proxyclient_connect(struct proxyclient *pc, const struct addrinfo *res);

/* TLS over the connected pc_x with the context `tc`, the certificate
 * verified for `host`; nothing is sent before that. Returns 0, or -1 with
 * errno ENOMEM (out of memory: `why` empty) or EPROTO with one line in
 * `why` (the check that failed, "the connection was closed", or the error
 * of the wait). pc_x stays a TLS transport either way, for tls_refusal. */
int proxyclient_tls(struct proxyclient *pc, struct tls_client *tc,
    const char *host, char *why, size_t whylen);

/* Drive the TLS handshake of `x` (tls_connect or tls_connect_over done),
 * waiting at most `timeout_ms` each time. Returns 0, or -1 with one line
 * in `why`: the check that failed, "the connection was closed", or the
 * error of the wait. */
int proxyclient_handshake(struct xport *x, int timeout_ms, char *why,
    size_t whylen);

/* "ip:port" (IPv6 in brackets) of the socket address `sa` into `buf`. */
void proxyclient_addr_text(const void *sa, unsigned salen, char *buf,
    size_t len);

/* Wait within `timeout_ms` (-1: no limit) for the readiness that `x`'s
 * last operation cleared. Returns 0, or -1 with errno (ETIMEDOUT). */
int proxyclient_wait(struct xport *x, int timeout_ms);

/* Write all `len` bytes of `p` to `x`, waiting at most `timeout_ms` each
 * time. Returns 0, or -1 with errno. */
int proxyclient_send(struct xport *x, const void *p, size_t len,
    int timeout_ms);

/* Build "METHOD TARGET HTTP/1.1", "Host: HOST", the lines of `extra`
 * (each ending in CRLF; "" for none), Basic credentials when `u` has a
 * user, and the empty line, into `req`. The request holds the password:
 * the caller wipes it with explicit_bzero. Returns its length, or -1 if it
 * does not fit (or out of memory). */
int proxyclient_request(const struct proxyurl *u, const char *method,
    const char *target, const char *host, const char *extra, char *req,
    size_t len);

/* Read from `x` into `buf` (`len` bytes, *got of them filled already)
 * until a response head ends (CRLF CRLF), waiting at most `timeout_ms`
 * each time. Returns 0 with the head's length (up to and including the
 * empty line) in *headlen, or 0 with *headlen 0 when the peer closed or
 * the buffer filled first, or -1 with errno; *got counts what was read. */
int proxyclient_head(struct xport *x, char *buf, size_t len, size_t *got,
    size_t *headlen, int timeout_ms);

/* Is `head` a 2xx answer (RFC 9110: to CONNECT, the tunnel is open)? */
bool proxyclient_opened(const char *head);

/* The status line of the `len` bytes at `head` into `line` (`linelen`
 * bytes, NUL-terminated), with every control byte made '?' so that a
 * hostile peer cannot drive a terminal; "" when there is none. */
void proxyclient_status_line(const char *head, size_t len, char *line,
    size_t linelen);

#endif
