/* SPDX-License-Identifier: MIT */
/* One client connection: the connection state machine (conn.c, with
 * conn_open.c for its opening steps and conn_review.c for what a reload
 * does to it), the only code that changes a connection's state; the
 * plain-HTTP exchange (forward.c) and the upstream handshake (upstream.c)
 * return verdicts it acts on. Its owner (proxy.c) keeps the list of open
 * connections. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ev.h"
#include "reason.h"
#include "relay.h"
#include "txn.h"
#include "xport.h"

struct config;
struct conn_hs;
struct tls_server;
struct env;
struct forward;
struct upstream_hs;

enum conn_state {
	CONN_HEAD = 0,		/* reading a request head */
	CONN_PROXY,		/* reading the PROXY header of a
				 * proxy_protocol listener */
	CONN_TLS,		/* the TLS handshake of a tls listener */
	CONN_AUTH,		/* a worker verifies the password */
	CONN_SNI,		/* 200 said; reading the client's ClientHello */
	CONN_RESOLVE,		/* waiting for DNS */
	CONN_CONNECT,		/* dialling the permitted addresses */
	CONN_UPSTREAM,		/* asking the upstream proxy to CONNECT */
	CONN_TUNNEL,		/* relaying bytes both ways */
	CONN_EXCHANGE,		/* forwarding one plain-HTTP exchange */
	CONN_REPLY,		/* writing our error answer */
	CONN_LINGER,		/* half-closed, draining the client */
	CONN_CLOSED,
};

struct conn {
	const struct env	*c_env;		/* the worker's (borrowed) */
	struct config		*c_cfg;		/* reference held */
	struct conn		*c_next, *c_prev;	/* the owner's list */
	enum conn_state		 c_state;
	struct xport		 c_cx, c_ux;	/* client, upstream */
	struct ev_io		 c_cio, c_uio;
	struct ev_timer		 c_timer;
	struct ev_defer		 c_defer;
	struct conn_hs		*c_hs;		/* until the tunnel is up */
	struct forward		*c_fwd;		/* plain HTTP exchange */
	struct upstream_hs	*c_uhs;		/* upstream CONNECT handshake */
	char			*c_ukey;	/* "host:port" of a kept upstream */
	bool			 c_utunnel;	/* c_ux is a tunnel the upstream
						 * proxy opened to c_ukey */
	struct txn		 c_txn;		/* the current request's record */
	const struct policy	*c_policy;	/* it is judged under (c_cfg's) */
	const char		*c_slot;	/* the identity a max_tunnels count
						 * was taken for (c_cfg's, or
						 * c_peer_id), NULL: none */
	uint64_t		 c_phase;	/* when DNS/connect began */
	bool			 c_counted;	/* an open tunnel in e_stats,
						 * under the two below */
	const char		*c_count_policy, *c_count_user;
	struct relay_dir	 c_up;		/* client -> upstream */
	struct relay_dir	 c_down;	/* upstream -> client */
	struct sockaddr_in6	 c_peer;	/* client (v4 or v6) */
	struct sockaddr_in6	 c_upaddr;	/* upstream, once connected */
	uint64_t		 c_id;		/* for -d traces */
	enum reason		 c_refusal;	/* answer once TLS is up */
	char			*c_peer_id;	/* client certificate's identity,
						 * or why it was refused */
	bool			 c_peer_refused;
	uint64_t		 c_peer_gen;	/* configuration it was checked by */
	struct tls_server	*c_pp_tls;	/* CONN_PROXY: the listener's TLS,
						 * to start after the header */
	char			 c_refusal_detail[64];
};

/* The size of a connection's handshake state, for a pool of them
 * (env.h e_hs_pool). */
size_t conn_handshake_size(void);

/* A connection for the accepted socket `fd` from `peer`, under the
 * configuration in force in `env` (borrowed for the connection's life). No
 * I/O yet: the owner links it, then calls conn_start or conn_refuse. Takes
 * ownership of `fd` on success; returns NULL (fd untouched) when out of
 * memory. */
struct conn *conn_new(const struct env *env, int fd,
    const struct sockaddr *peer);

/* Start serving `c`: first its PROXY header when `pp` (a proxy_protocol
 * listener, whose source the caller found in proxy_protocol_from), then
 * TLS with the context `ts` when it is not NULL (a tls listener). May close
 * it before returning (env->e_closed says so); it is freed after the
 * current batch. */
void conn_start(struct conn *c, struct tls_server *ts, bool pp);

/* Answer `c` with `r` and `detail` (e.g. 503 too-many-connections) instead
 * of serving it, best effort and never blocking, and log it; after the
 * PROXY header (`pp`) and the handshake (`ts`) when there are. */
void conn_refuse(struct conn *c, struct tls_server *ts, bool pp,
    enum reason r, const char *detail);

/* Close `c` at once without a word, logged with `r` and `detail` (a source
 * that may not send a PROXY header). */
void conn_drop(struct conn *c, enum reason r, const char *detail);

/* Abort `c` (shutdown): logs it and frees it after the current batch. */
void conn_abort(struct conn *c);

/* A reload made c->c_env->e_cfg new: close `c`, logged "revoked", when it
 * relays a tunnel or an exchange that the new configuration would not
 * allow (its identity gone, its password or certificate no longer good,
 * or its destination, port or address refused by its policy). */
void conn_review(struct conn *c);

#endif
