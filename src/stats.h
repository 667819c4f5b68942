/* SPDX-License-Identifier: MIT */
/* What a worker counts for the admin listener: requests by policy, method
 * and reason, bytes, password checks, DNS and connect times, open tunnels
 * by policy and user, and the recent past (destinations, denials, failed
 * logins) for the status page. One `struct stats` per worker, written by
 * its thread only; the control thread merges them under each one's lock,
 * which its own worker takes uncontended. */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

/* Methods counted by name; any other is "other", none parsed is "none", so
 * a client cannot make the label set grow. */
enum stats_method {
	STATS_M_CONNECT = 0,
	STATS_M_GET,
	STATS_M_HEAD,
	STATS_M_POST,
	STATS_M_PUT,
	STATS_M_DELETE,
	STATS_M_OPTIONS,
	STATS_M_PATCH,
	STATS_M_OTHER,
	STATS_M_NONE,
	STATS_M_COUNT
};

/* Password checks, as `sluice_auth_checks_total{result}` names them. */
enum stats_auth {
	STATS_AUTH_OK = 0,	/* a hashing thread verified it */
	STATS_AUTH_FAILED,	/* wrong, unknown or malformed (hashed or
				 * remembered as wrong) */
	STATS_AUTH_CACHED,	/* right, answered from the cache */
	STATS_AUTH_THROTTLED,	/* the address's auth_rate was spent */
	STATS_AUTH_BUSY,	/* too many checks were waiting */
	STATS_AUTH_COUNT
};

/* Histogram bounds in milliseconds; one more bucket is +Inf. */
#define STATS_HIST_BOUNDS	12
extern const unsigned stats_hist_ms[STATS_HIST_BOUNDS];

struct stats_hist {
	uint64_t	 h_bucket[STATS_HIST_BOUNDS + 1];	/* not cumulative */
	uint64_t	 h_count;
	uint64_t	 h_sum_ms;
};

#define STATS_MAX_POLICIES	64	/* names beyond it count as "(other)" */
#define STATS_NAME_MAX		64

/* One policy's counters: requests by method and reason (what the log
 * says), those let through that broke off, and those `mode report` let
 * through by the refusal it reported; and its tunnels open now. */
struct stats_policy {
	char		 sp_name[STATS_NAME_MAX];
	uint64_t	 sp_req[STATS_M_COUNT][REASON_COUNT];
	uint64_t	 sp_abort[STATS_M_COUNT][REASON_COUNT];
	uint64_t	 sp_report[STATS_M_COUNT][REASON_COUNT];
	int64_t		 sp_tunnels;
};

/* A denial for the status page's list, copied (cut to fit). */
#define STATS_RECENT	32
struct stats_denial {
	int64_t		 d_time;		/* wall clock, seconds */
	uint64_t	 d_seq;			/* order across workers */
	enum reason	 d_reason;
	char		 d_client[48];
	char		 d_user[64];
	char		 d_target[160];
};

/* One finished transaction, as conn.c logs it. Strings are borrowed. */
struct stats_txn {
	const char	*st_policy;	/* NULL: the default policy */
	const char	*st_method;	/* NULL: nothing parsed */
	enum reason	 st_reason;	/* the refusal or failure answered */
	enum reason	 st_abort;	/* what was let through broke off */
	enum reason	 st_report;	/* mode report: the refusal let go */
	const char	*st_client;	/* IP */
	const char	*st_user;	/* NULL: nobody */
	const char	*st_host;	/* canonical, NULL: none */
	unsigned	 st_port;
	const char	*st_target;	/* as logged (redacted), may be NULL */
	uint64_t	 st_bytes_down;	/* to the client */
	uint64_t	 st_bytes_up;	/* to the destination */
	int64_t		 st_dns_ms;	/* -1: no lookup */
	int64_t		 st_connect_ms;	/* -1: nothing dialled */
	int64_t		 st_wall;	/* when it started, seconds */
};

struct stats;
struct window;
struct window_sum;

/* A worker's counters, or NULL when out of memory. */
struct stats *stats_new(void);

/* Free it; NULL is a no-op. */
void stats_free(struct stats *s);

/* Count a transaction when it is logged (so the counters and the access log
 * agree line for line). `now_ms` is the loop's monotonic clock. NULL `s`
 * is a no-op, as everywhere below. */
void stats_txn(struct stats *s, const struct stats_txn *t, uint64_t now_ms);

/* A tunnel opened (`delta` 1) or closed (-1) under `policy` (NULL: the
 * default) for `user` (NULL: nobody). */
void stats_tunnel(struct stats *s, const char *policy, const char *user,
    int delta);

/* A password check came out as `r`; `client` (IP) is kept for the status
 * page when it failed. */
void stats_auth(struct stats *s, enum stats_auth r, const char *client,
    uint64_t now_ms);

/* The sum of several workers' counters, built by the control thread. */
struct stats_sum {
	struct stats_policy	*ss_pol[STATS_MAX_POLICIES + 1];
	size_t			 ss_npol;
	uint64_t		 ss_bytes_down, ss_bytes_up;
	uint64_t		 ss_auth[STATS_AUTH_COUNT];
	struct stats_hist	 ss_dns, ss_connect;
	/* Open tunnels by "policy\x1fuser" (count; only those above 0). */
	char			**ss_who;
	uint64_t		*ss_who_count;
	size_t			 ss_nwho;
	/* The recent past, when asked for (stats_merge's `recent`). */
	struct window_sum	*ss_dest[2];	/* [0] 5 minutes, [1] 60 */
	struct window_sum	*ss_denied[2];	/* "target reason" */
	struct window_sum	*ss_authfail;	/* client IP, 60 minutes */
	struct stats_denial	 ss_recent[STATS_RECENT];	/* newest first */
	size_t			 ss_nrecent;
};

/* Merge `n` workers' counters into `sum` (zeroed first by the caller, freed
 * with stats_sum_free), taking each one's lock in turn. With `recent`, the
 * windows and recent denials too (as of `now_ms`). Returns 0, or -1 when
 * out of memory (what was merged stays valid for stats_sum_free). */
int stats_merge(struct stats_sum *sum, struct stats *const *s, size_t n,
    bool recent, uint64_t now_ms);

/* Free what stats_merge allocated. */
void stats_sum_free(struct stats_sum *sum);

/* The label of a method (STATS_M_*) and of a check result (STATS_AUTH_*). */
const char *stats_method_name(enum stats_method m);
const char *stats_auth_name(enum stats_auth r);

#endif
