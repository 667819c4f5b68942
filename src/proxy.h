/* SPDX-License-Identifier: MIT */
/* `sluice serve`: listeners, accepting, signals and the per-loop resources
 * (resolver, pipe pool, access log, auth mailbox) that connections share. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "ev.h"

struct accesslog;
struct auth_mailbox;
struct config;
struct conn;
struct dns;
struct relay_pool;

struct listener {
	struct ev_io	 li_io;
	int		 li_fd;
	struct proxy	*li_px;
};

struct proxy {
	struct ev_loop		*px_loop;
	struct config		*px_cfg;	/* current configuration */
	struct dns		*px_dns;
	struct auth_mailbox	*px_mb;
	struct relay_pool	*px_pipes;
	struct accesslog	*px_log;
	struct listener		*px_listeners;
	size_t			 px_nlisteners;
	struct ev_timer		 px_accept_retry;	/* after EMFILE */
	bool			 px_accept_paused;
	struct ev_io		 px_sigio;
	int			 px_sigfd;
	unsigned		 px_nconns;
	struct conn		*px_conns;	/* every open connection */
};

/* Run `sluice serve` with the configuration at `path` until SIGINT or
 * SIGTERM. Returns the process exit code (0, or 1 on a start-up error). */
int proxy_serve(const char *path);

/* Called by a connection when it is gone, so accepting can resume. */
void proxy_conn_closed(struct proxy *px);

#endif
