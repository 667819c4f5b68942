/* SPDX-License-Identifier: MIT */
/* One client connection: the connection state machine of `sluice serve`
 * (conn.c) and, for plain HTTP, the request/response exchange it drives
 * (forward.c). The structures are shared by those two files only. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "buf.h"
#include "dns.h"
#include "ev.h"
#include "host.h"
#include "http.h"
#include "reason.h"
#include "relay.h"
#include "url.h"

struct auth_job;
struct config;
struct forward;
struct proxy;
struct upstream_hs;

enum conn_state {
	CONN_HEAD = 0,		/* reading a request head */
	CONN_AUTH,		/* a worker verifies the password */
	CONN_RESOLVE,		/* waiting for DNS */
	CONN_CONNECT,		/* dialling the permitted addresses */
	CONN_UPSTREAM,		/* asking the upstream proxy to CONNECT */
	CONN_TUNNEL,		/* relaying bytes both ways */
	CONN_EXCHANGE,		/* forwarding one plain-HTTP exchange */
	CONN_REPLY,		/* writing our error answer */
	CONN_LINGER,		/* half-closed, draining the client */
	CONN_CLOSED,
};

/* What one request needs until its tunnel is up or its exchange is done. */
struct conn_hs {
	char			*hs_buf;	/* client bytes: head, then body */
	size_t			 hs_len, hs_cap;
	struct http_head	 hs_head;
	bool			 hs_http;	/* plain HTTP, not CONNECT */
	struct host		 hs_host;	/* the destination */
	struct url		 hs_url;	/* plain HTTP: the target URL */
	char			 hs_hostport[HOST_NAME_MAX_LEN + 16];
	char			 hs_bad[160];	/* why the target is invalid */
	struct auth_job		*hs_job;
	struct dns_query	*hs_dnsq;
	struct sockaddr_storage	 hs_addrs[DNS_MAX_ADDRS];
	size_t			 hs_naddrs, hs_next;
	int			 hs_last_errno;
	struct buf		 hs_reply;	/* our error answer */
};

struct conn {
	struct proxy		*c_px;
	struct config		*c_cfg;		/* reference held */
	struct conn		*c_next, *c_prev;
	enum conn_state		 c_state;
	int			 c_cfd, c_ufd;
	struct ev_io		 c_cio, c_uio;
	struct relay_fdstate	 c_cst, c_ust;
	struct ev_timer		 c_timer;
	struct ev_defer		 c_defer;
	struct conn_hs		*c_hs;
	struct forward		*c_fwd;		/* plain HTTP exchange state */
	struct upstream_hs	*c_uhs;		/* upstream CONNECT handshake */
	char			*c_ukey;	/* "host:port" of a kept upstream */
	uint64_t		 c_start;	/* monotonic ms */
	uint64_t		 c_active;	/* last relay activity */
	int64_t			 c_wsec;	/* wall clock at start */
	unsigned		 c_wmsec;
	const char		*c_user;	/* borrowed from c_cfg */
	const char		*c_method;	/* static; NULL = CONNECT */
	char			*c_target;	/* URL or host:port for the log */
	char			*c_mime;	/* response type for the log */
	enum reason		 c_reason;
	int			 c_status;	/* forwarded status, 0 = ours */
	bool			 c_logged;
	uint64_t		 c_sent;	/* bytes to the client */
	uint64_t		 c_sent_up;	/* forwarded HTTP bytes upstream */
	char			*c_host;	/* canonical destination */
	uint16_t		 c_port;
	int32_t			 c_dns_ms;	/* -1: no lookup */
	int32_t			 c_connect_ms;	/* -1: nothing dialled */
	uint64_t		 c_phase;	/* when DNS/connect began */
	struct relay_dir	 c_up;		/* client -> upstream */
	struct relay_dir	 c_down;	/* upstream -> client */
	struct sockaddr_in6	 c_peer;	/* client (v4 or v6) */
	enum reason		 c_unfinished;	/* logged if closed unanswered */
	enum reason		 c_abort;	/* why a forwarded answer broke
						 * off (logged with its status) */
	uint64_t		 c_id;		/* for -d traces */
	struct sockaddr_in6	 c_upaddr;	/* upstream, once connected */
};

/* Take ownership of the accepted socket `fd` from `peer` and start serving
 * it under the proxy's current configuration. On failure (no memory) the
 * socket is closed. */
void conn_accept(struct proxy *px, int fd, const struct sockaddr *peer);

/* Refuse an accepted socket at once with 503 too-many-connections (best
 * effort, never blocks) and log it. Closes `fd`. */
void conn_refuse_busy(struct proxy *px, int fd, const struct sockaddr *peer);

/* Abort `c` (shutdown): logs it and frees it after the current batch. */
void conn_abort(struct conn *c);

/* For forward.c: */

/* Log the current transaction once (no-op if already logged). */
void conn_log(struct conn *c);

/* Close everything; `c` is freed after the batch. */
void conn_close(struct conn *c);

/* Answer with an error (closing any upstream) and end the connection. */
void conn_fail(struct conn *c, enum reason r, const char *detail);

/* Half-close the client and drain it briefly before closing, so that
 * unread bytes do not turn what we sent into a reset. */
void conn_finish(struct conn *c);

/* The exchange is over and the client may send another request: reset the
 * per-request state and parse whatever is already buffered. */
void conn_next_request(struct conn *c);

/* Switch to a two-way tunnel (after 101 Switching Protocols); `to_client`
 * and `to_upstream` are bytes already read that must go first. */
void conn_tunnel_start(struct conn *c, const char *to_client, size_t clen,
    const char *to_upstream, size_t ulen);

/* The loop `c` runs on. */
struct ev_loop *conn_loop(const struct conn *c);

#endif
