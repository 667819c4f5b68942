/* SPDX-License-Identifier: MIT */
/* The record of one transaction (a CONNECT, or one plain-HTTP exchange): what
 * was asked, by whom, what was decided, and how many bytes moved. conn.c
 * owns it and forward.c adds its byte counts and the origin's answer; this
 * module turns it into the access-log record, without I/O, so that the rules
 * for what a line says (which tag, which status, which reason) are in one
 * place and table-tested. */
#ifndef SLUICE_TXN_H
#define SLUICE_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

struct logrec;

struct txn {
	uint64_t	 t_start;	/* monotonic ms: first byte of the head */
	uint64_t	 t_active;	/* last bytes moved (the idle timer) */
	int64_t		 t_wsec;	/* wall clock at t_start */
	unsigned	 t_wmsec;
	const char	*t_user;	/* borrowed from the configuration */
	const char	*t_method;	/* static; NULL: nothing parsed */
	char		*t_target;	/* URL or host:port, redacted */
	char		*t_mime;	/* the origin's media type */
	char		*t_host;	/* canonical destination */
	char		*t_detail;	/* what our refusal said, beyond the
					 * reason (for sluice run's line) */
	char		*t_sni;		/* the ClientHello's server name, when
					 * the SNI check read one */
	uint16_t	 t_port;
	enum reason	 t_reason;	/* our answer, REASON_NONE: none */
	enum reason	 t_unfinished;	/* recorded if closed unanswered */
	enum reason	 t_abort;	/* why a forwarded answer broke off */
	int		 t_status;	/* the origin's status, 0: ours */
	bool		 t_logged;
	uint64_t	 t_sent;	/* bytes we wrote to the client */
	uint64_t	 t_sent_up;	/* forwarded HTTP bytes upstream */
	int32_t		 t_dns_ms;	/* -1: no lookup */
	int32_t		 t_connect_ms;	/* -1: nothing dialled */
	const char	*t_tls;		/* the client's TLS version (static) */
	const char	*t_auth;	/* how t_user was proven (static) */
	enum reason	 t_report;	/* mode report: the refusal let go */
	const char	*t_policy;	/* its name (the config's); NULL: the
					 * configuration has no policy blocks */
};

/* Start the record of a new request at `now` (monotonic ms; wall clock
 * `wsec`.`wmsec`): nothing decided yet, and a close before the answer counts
 * as the client's. Frees what the previous record owned. */
void txn_begin(struct txn *t, uint64_t now, int64_t wsec, unsigned wmsec);

/* Free what the record owns (target, media type, host, detail, SNI). */
void txn_forget(struct txn *t);

/* The request is refused for `r`; `detail` (copied; NULL: none) is what
 * the refusal said beyond the reason. */
void txn_refuse(struct txn *t, enum reason r, const char *detail);

/* The connection ends before the request was answered (it was still being
 * read, authenticated, resolved or dialled): the record says why. */
void txn_unanswered(struct txn *t);

/* The connection ends in the middle of a forwarded exchange: without an
 * answer from the origin this is like txn_unanswered; with one, its status
 * stays and the record says the answer broke off. */
void txn_cut(struct txn *t);

/* Fill `r` for the access log. `client` and `peer` are the formatted
 * addresses of the client and of what was dialled; `parent` says the peer is
 * an upstream proxy; `relayed_down` and `relayed_up` are the tunnel's bytes
 * on top of t_sent and t_sent_up; `now` ends the elapsed time. Pointers in
 * `r` are borrowed from `t` and the arguments. */
void txn_record(const struct txn *t, uint64_t now, const char *client,
    const char *peer, bool parent, uint64_t relayed_down,
    uint64_t relayed_up, struct logrec *r);

/* The one-line report `sluice run` prints for a refusal it answered:
 * "denied CONNECT host:443 (why)". Returns false (and leaves `buf` alone)
 * when the record is not such a refusal. */
bool txn_denial_line(const struct txn *t, char *buf, size_t len);

#endif
