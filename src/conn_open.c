/* SPDX-License-Identifier: MIT */
/*
 * How a connection opens: everything before its first request head is
 * read. The PROXY header of a proxy_protocol listener, the TLS handshake
 * of a tls listener (and the client certificate it brings), and the entry
 * points that start, refuse or drop a connection just accepted (conn.h).
 * The state machine proper, from CONN_HEAD on, is conn.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "conn_int.h"
#include "ev.h"
#include "log.h"
#include "proxyproto.h"
#include "tls.h"
#include "txn.h"
#include "xport.h"

static void conn_open(struct conn *c, struct tls_server *ts);

/* Note the client certificate's identity, or why it is refused, for every
 * request of the connection (conn_identify). */
static void
conn_peer(struct conn *c)
{
	char name[256], why[160];

	switch (tls_peer(&c->c_cx, c->c_cfg->c_tls_identity, name,
	    sizeof(name), why, sizeof(why))) {
	case TLS_PEER_NONE:
		return;
	case TLS_PEER_NAMED:
		conn_debug(c, "TLS: client certificate of %s", name);
		c->c_peer_id = strdup(name);
		c->c_peer_gen = c->c_cfg->c_generation;
		break;
	case TLS_PEER_REFUSED:
		conn_debug(c, "TLS: client certificate refused: %s", why);
		c->c_peer_id = strdup(why);
		c->c_peer_refused = true;
		break;
	}
	if (c->c_peer_id == NULL)	/* out of memory: refuse, not ignore */
		c->c_peer_refused = true;
}

static void
conn_pp_debug(struct conn *c, const struct proxyproto *pp)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (!log_debugging())
		return;
	addr_format((struct sockaddr *)&c->c_peer, a, sizeof(a));
	conn_debug(c, "PROXY v%d header: %s %s", pp->pp_version,
	    pp->pp_local ? "LOCAL, the connection's own address" : "client",
	    a);
}

/* header_timeout before a whole PROXY header: a header begun is on
 * record; a load balancer's bare TCP check, which says nothing, is not. */
void
conn_pp_timeout(struct conn *c)
{
	char b;

	if (recv(c->c_cx.x_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
		txn_refuse(&c->c_txn, REASON_PROXY_HEADER, "no complete PROXY "
		    "header within header_timeout");
	conn_close(c);
}

/*
 * The PROXY header of a proxy_protocol listener (proxyproto.c parses it).
 * The bytes are peeked, and once a whole header is there exactly its length
 * is read, so what follows (a request head, or the ClientHello OpenSSL reads
 * for itself) stays in the socket untouched. The address it carries becomes
 * the client's, for the policy, auth_rate, the log and the metrics; a LOCAL
 * header (a load balancer's own health check) keeps the connection's.
 */
void
conn_pp_step(struct conn *c)
{
	uint8_t buf[PROXYPROTO_MAX];
	struct proxyproto pp;
	ssize_t n;

	n = recv(c->c_cx.x_fd, buf, sizeof(buf), MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);	/* left (or reset) before a header */
		return;
	}
	switch (proxyproto_parse(buf, (size_t)n, &pp)) {
	case PROXYPROTO_MORE:
		return;		/* the rest comes as new data */
	case PROXYPROTO_ERROR:
		conn_debug(c, "PROXY header: %s", pp.pp_error);
		conn_drop(c, REASON_PROXY_HEADER, pp.pp_error);
		return;
	case PROXYPROTO_DONE:
		break;
	}
	if (recv(c->c_cx.x_fd, buf, pp.pp_len, 0) != (ssize_t)pp.pp_len) {
		conn_close(c);
		return;
	}
	if (!pp.pp_local) {
		memset(&c->c_peer, 0, sizeof(c->c_peer));
		memcpy(&c->c_peer, &pp.pp_src, addr_len((struct sockaddr *)
		    &pp.pp_src));
		addr_unmap((struct sockaddr *)&c->c_peer);
	}
	conn_pp_debug(c, &pp);
	conn_open(c, c->c_pp_tls);
}

/* Make progress on the TLS handshake of a tls listener's connection. */
void
conn_tls_step(struct conn *c)
{
	char why[160];

	switch (tls_handshake(&c->c_cx, why, sizeof(why))) {
	case TLS_AGAIN:
		return;
	case TLS_DONE:
		conn_debug(c, "TLS: %s, %s", tls_version(&c->c_cx),
		    tls_kernel(&c->c_cx) ? "kernel TLS (splice)" :
		    "OpenSSL buffers");
		conn_peer(c);
		c->c_state = CONN_HEAD;
		c->c_cx.x_can_read = true;	/* OpenSSL may hold the head */
		if (c->c_refusal != REASON_NONE)
			conn_fail(c, c->c_refusal, c->c_refusal_detail);
		else
			conn_read_head(c);
		return;
	case TLS_PLAINTEXT:
		/* Said in plain text, to the client that speaks it. */
		c->c_state = CONN_HEAD;
		conn_fail(c, REASON_BAD_REQUEST, "this port speaks TLS: use "
		    "https://, not http://, in the proxy URL");
		return;
	case TLS_FAILED:
		break;
	}
	/* A client that left without a word leaves no record, as on a
	 * plain listener; one that spoke something else is on record. */
	if (why[0] != '\0') {
		conn_debug(c, "TLS handshake failed: %s", why);
		c->c_txn.t_reason = REASON_TLS_FAILED;
	}
	conn_close(c);
}

/* Watch the client's socket and start on it: the TLS handshake on a tls
 * listener (`ts`), else the request head. Returns false when `c` is
 * closed. */
static bool
conn_begin(struct conn *c)
{
	if (ev_io_add(conn_loop(c), &c->c_cio, c->c_cx.x_fd, EV_READ | EV_WRITE,
	    conn_client_io, c) == -1) {
		conn_close(c);
		return false;
	}
	conn_timer(c, c->c_cfg->c_header_timeout_ms);
	/* Speculative read: with TCP_DEFER_ACCEPT the first bytes are
	 * usually here. */
	c->c_cx.x_can_read = true;
	c->c_cx.x_can_write = true;
	return true;
}

/* What comes after the PROXY header, or first: the TLS handshake on a tls
 * listener (`ts`), else the request head (or the refusal waiting to be
 * said, conn_refuse). */
static void
conn_open(struct conn *c, struct tls_server *ts)
{
	if (ts != NULL) {
		if (tls_accept(&c->c_cx, ts) == -1) {
			conn_close(c);
			return;
		}
		c->c_state = CONN_TLS;
		conn_tls_step(c);
	} else if (c->c_refusal != REASON_NONE) {
		c->c_state = CONN_REPLY;
		conn_fail(c, c->c_refusal, c->c_refusal_detail);
	} else {
		c->c_state = CONN_HEAD;
		conn_read_head(c);
	}
}

void
conn_start(struct conn *c, struct tls_server *ts, bool pp)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (log_debugging()) {
		addr_format((struct sockaddr *)&c->c_peer, a, sizeof(a));
		conn_debug(c, "accepted from %s%s%s", a, ts ? " (TLS)" : "",
		    pp ? " (PROXY protocol)" : "");
	}
	if (!conn_begin(c))
		return;
	if (!pp) {
		conn_open(c, ts);
		return;
	}
	c->c_pp_tls = ts;
	c->c_state = CONN_PROXY;
	conn_pp_step(c);
}

void
conn_drop(struct conn *c, enum reason r, const char *detail)
{
	txn_refuse(&c->c_txn, r, detail);
	c->c_state = CONN_PROXY;	/* closed before any request */
	conn_close(c);
}

void
conn_refuse(struct conn *c, struct tls_server *ts, bool pp, enum reason r,
    const char *detail)
{
	if (ts != NULL || pp) {
		/* The refusal is said once the client can read it: after the
		 * PROXY header, after the handshake. */
		c->c_refusal = r;
		snprintf(c->c_refusal_detail, sizeof(c->c_refusal_detail),
		    "%s", detail);
		conn_start(c, ts, pp);
		return;
	}
	if (ev_io_add(conn_loop(c), &c->c_cio, c->c_cx.x_fd, EV_READ | EV_WRITE,
	    conn_client_io, c) == -1) {
		conn_close(c);
		return;
	}
	c->c_cx.x_can_write = true;
	c->c_state = CONN_REPLY;
	conn_fail(c, r, detail);
}
