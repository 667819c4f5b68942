/* SPDX-License-Identifier: MIT */
/* The admin listener's /status page: one self-contained HTML document (an
 * inline style, no scripts, no external assets) rendered from a plain view
 * the caller fills. Every string of the view may come from a client, so
 * every one goes through one escaping function (status_escape). */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Strings longer than this (bytes) are cut on the page, with an ellipsis. */
#define STATUS_TEXT_MAX	512

/* A key and its count: a destination, a denial, a source address. */
struct status_count {
	const char	*sc_key;
	uint64_t	 sc_count;
};

/* Active tunnels of one policy and user. */
struct status_tunnels {
	const char	*st_policy;
	const char	*st_user;	/* "-" (or NULL) when none */
	uint64_t	 st_count;
};

/* One refused request. */
struct status_denial {
	int64_t		 sd_time;	/* unix seconds */
	const char	*sd_client;	/* the client's address */
	const char	*sd_user;	/* NULL or "-" when none */
	const char	*sd_target;	/* host:port or URL, as logged */
	const char	*sd_reason;	/* the code, e.g. "domain-denied" */
	const char	*sd_text;	/* the code in words */
};

/* Everything the page shows. Strings are NUL-terminated; NULL or "" shows
 * as "-". Arrays may be NULL when their count is 0. Times are unix seconds;
 * 0 or less shows as "-". Nothing is kept after status_render returns. */
struct status_view {
	const char	*sv_version;		/* sluice's version */
	int64_t		 sv_now;		/* when the page was made */
	uint64_t	 sv_uptime_s;		/* seconds since start */
	const char	*sv_config;		/* configuration file path */
	uint64_t	 sv_generation;		/* 1 at start, +1 per reload */
	int64_t		 sv_loaded;		/* of the last (re)load */
	const char *const *sv_listeners;	/* "127.0.0.1:3128",
						 * "[::1]:3129 tls" */
	size_t		 sv_nlisteners;
	uint64_t	 sv_connections;	/* open client connections */
	uint64_t	 sv_tunnels;		/* of those, tunnels */
	bool		 sv_draining;		/* stopped accepting */
	const struct status_tunnels *sv_by_user; /* active tunnels */
	size_t		 sv_nby_user;
	/* [0] the last 5 minutes, [1] the last 60, each largest first: */
	const struct status_count *sv_top_dest[2];	/* host:port */
	size_t		 sv_ntop_dest[2];
	const struct status_count *sv_top_denied[2];	/* "target reason" */
	size_t		 sv_ntop_denied[2];
	const struct status_count *sv_auth_fail;	/* by source address,
							 * last 60 minutes */
	size_t		 sv_nauth_fail;
	const struct status_denial *sv_recent;	/* newest first */
	size_t		 sv_nrecent;
	unsigned	 sv_refresh_s;		/* meta refresh; 0: none */
};

/* Append the whole page (UTF-8 HTML) to `out`. Reads `v` only. Returns 0,
 * or -1 when out of memory, with `out` as it was before the call. */
int status_render(struct buf *out, const struct status_view *v);

/* Append `len` bytes of `s` (any bytes) as HTML text, safe in an element
 * and in a quoted attribute: & < > " ' become entities; a backslash becomes
 * "\\"; control bytes (below 0x20, 0x7f), bytes not part of valid UTF-8,
 * and the invisible or reordering characters (C1 controls, bidi controls,
 * zero-width and line/paragraph separators, BOM) become \xNN per byte. The
 * result is valid UTF-8 and tells every input apart. No cut: callers
 * bound `len`. Returns 0, or -1 when out of memory (part may be added). */
int status_escape(struct buf *out, const char *s, size_t len);

#endif
