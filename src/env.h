/* SPDX-License-Identifier: MIT */
/* What the connection engine (conn.c, forward.c, upstream.c) may use of the
 * worker it runs on. The proxy (proxy.c) fills one per worker and hands it
 * out; the engine reaches the loop, the configuration, DNS, the upstream,
 * the access log and the pipe pool through it and needs nothing else of the
 * proxy, so the dependencies run one way: proxy -> conn -> forward/upstream.
 * Only the worker's own thread reads or changes it. */
#ifndef SLUICE_ENV_H
#define SLUICE_ENV_H

#include <stdbool.h>

struct accesslog;
struct auth_mailbox;
struct config;
struct conn;
struct dns;
struct ev_loop;
struct pool;
struct relay_pool;
struct stats;
struct tally;
struct upstream;

struct env {
	struct ev_loop		*e_loop;
	struct config		*e_cfg;		/* in force now (borrowed: a
						 * connection takes a reference) */
	struct dns		*e_dns;
	struct auth_mailbox	*e_mb;		/* password checks come back here */
	struct relay_pool	*e_pipes;
	struct pool		*e_hs_pool;	/* handshake states, or NULL:
						 * malloc */
	struct accesslog	*e_log;
	const struct upstream	*e_upstream;	/* chain through it, or NULL */
	struct tally		*e_tunnels;	/* open tunnels per identity
						 * (shared by the workers), or
						 * NULL: no max_tunnels */
	struct stats		*e_stats;	/* this worker's counters */
	bool			 e_report_denials;	/* one line each on stderr */
	/* Called once when a connection is closed (its last record written,
	 * its sockets closed); the connection is freed after the batch. */
	void			(*e_closed)(void *owner, struct conn *c);
	/* Called when a connection let go of its handshake state (the
	 * request buffer and head, the addresses, the answer): memory the
	 * owner may hand back to the system once things are quiet. */
	void			(*e_released)(void *owner);
	void			*e_owner;
};

#endif
