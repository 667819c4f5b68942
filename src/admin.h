/* SPDX-License-Identifier: MIT */
/* The admin listener (`admin_listen`): GET /metrics (Prometheus), /healthz
 * (for load balancers) and /status (one HTML page), served by the control
 * thread's event loop, never on a proxy port. */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_pool;
struct config;
struct ev_loop;
struct stats;

/* What the control thread knows, which the pages show. `serve` owns it
 * and keeps it current; the admin listener reads it on the same thread. */
struct admin_facts {
	struct config		*af_cfg;	/* in force (borrowed) */
	struct stats *const	*af_stats;	/* the workers' counters */
	size_t			 af_nstats;
	uint64_t		 af_reloads_ok, af_reloads_failed;
	uint64_t		 af_generation;	/* configurations applied */
	int64_t			 af_started;	/* wall clock, seconds */
	int64_t			 af_loaded;	/* the last one applied */
	uint64_t		 af_started_ms;	/* the loop's clock */
	bool			 af_draining;	/* SIGTERM: /healthz says 503 */
	const char *const	*af_listeners;	/* "127.0.0.1:3128", "... tls",
						 * as bound */
	size_t			 af_nlisteners;
	const char		*af_version;
};

struct admin;

/* Serve the listening socket `fd` (bound, listening; taken over: closed by
 * admin_free) on `loop`, reading `facts` at every request; passwords are
 * checked by `pool`'s threads against af_cfg->c_admin. `public`: it is
 * bound to an address other machines reach, so /metrics and /status are
 * refused (403) whenever af_cfg has no admin_users. Returns NULL with errno
 * set. */
struct admin *admin_new(struct ev_loop *loop, int fd, bool public,
    const struct admin_facts *facts, struct auth_pool *pool);

/* Close the listener and every admin connection, cancelling their password
 * checks; NULL is a no-op. Call before the auth pool is freed. */
void admin_close_all(struct admin *a);

/* Free it (closing everything first); after the auth pool is freed, as its
 * mailbox may be named by checks until then. NULL is a no-op. */
void admin_free(struct admin *a);

#endif
