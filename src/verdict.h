/* SPDX-License-Identifier: MIT */
/* What a protocol step tells the connection state machine. forward.c (a
 * plain-HTTP exchange) and upstream.c (the parent-proxy handshake) own their
 * state and take events; they never change a connection's state themselves.
 * Each step ends in a verdict, and conn.c alone acts on it. */
#ifndef SLUICE_VERDICT_H
#define SLUICE_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "reason.h"

enum verdict_kind {
	VERDICT_WAIT = 0,	/* blocked: call again on the next event */
	VERDICT_KEEP_ALIVE,	/* done; the client may send another request
				 * (v_reuse: and the upstream may serve it) */
	VERDICT_CLOSE,		/* done; end the connection gracefully */
	VERDICT_FAIL,		/* answer v_reason with v_detail; nothing has
				 * been sent to the client yet */
	VERDICT_ABORT,		/* break off at once; v_reason (or
				 * REASON_NONE) is why the answer was cut */
	VERDICT_TUNNEL,		/* become a two-way tunnel; v_to_client and
				 * v_to_upstream go first */
};

struct verdict {
	enum verdict_kind	 v_kind;
	enum reason		 v_reason;
	bool			 v_reuse;
	/* TUNNEL: bytes already read, borrowed from the module until it is
	 * freed (the state machine copies them before freeing it). */
	const char		*v_to_client;
	size_t			 v_clen;
	const char		*v_to_upstream;
	size_t			 v_ulen;
	char			 v_detail[512];	/* FAIL: what went wrong */
};

#endif
