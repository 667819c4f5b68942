/* SPDX-License-Identifier: MIT */
/* The proxy engine as a whole: listeners, accepting, and the per-loop
 * resources (resolver, pipe pool, access log, auth mailbox) connections
 * share. `sluice serve` runs it on its configured addresses; `sluice run`
 * embeds it on sockets made inside a sandbox. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include "ev.h"

struct accesslog;
struct auth_mailbox;
struct config;
struct config_listen;
struct conn;
struct dns;
struct relay_pool;
struct upstream;

struct listener {
	struct ev_io		 li_io;
	int			 li_fd;		/* -1: free slot */
	struct proxy		*li_px;
	struct sockaddr_storage	 li_addr;	/* as configured */
};

#define PROXY_MAX_LISTENERS 64

struct proxy {
	struct ev_loop		*px_loop;
	struct config		*px_cfg;	/* current configuration */
	struct dns		*px_dns;
	struct auth_mailbox	*px_mb;
	struct relay_pool	*px_pipes;
	struct accesslog	*px_log;
	struct listener		 px_listeners[PROXY_MAX_LISTENERS];
	bool			 px_report_denials;	/* one line each on stderr */
	bool			 px_auth;	/* auth workers started */
	bool			 px_quiet;	/* no "listening on" notices */
	struct upstream		*px_upstream;	/* chain through it (borrowed) */
	struct ev_timer		 px_accept_retry;	/* after EMFILE */
	bool			 px_accept_paused;
	unsigned		 px_nconns;
	struct conn		*px_conns;	/* every open connection */
};

/* Set up the engine for `cfg` (takes over the caller's reference): event
 * loop, resolver, authentication workers, pipe pool, access log. Raises the
 * descriptor limit. Returns NULL with a message in `err`. */
struct proxy *proxy_new(struct config *cfg, char *err, size_t errlen);

/* Bind and listen on every `listen` address of the configuration, printing
 * "listening on ADDR:PORT" for each. Returns 0 or -1 (reported). */
int proxy_listen_all(struct proxy *px);

/* Bind and listen on one configured address. Returns the listener or NULL
 * (reported). */
struct listener *proxy_listen(struct proxy *px, const struct config_listen *cl);

/* Print "listening on ADDR:PORT" for every listener. */
void proxy_announce(struct proxy *px);

/* Stop listening on `li`; connections it accepted carry on. */
void proxy_unlisten(struct proxy *px, struct listener *li);

/* Swap in a new configuration (takes over the caller's reference): new
 * connections and new requests use it, open ones keep theirs. */
void proxy_set_config(struct proxy *px, struct config *cfg);

/* Serve `fd`, a socket already bound and listening (takes ownership).
 * Returns 0 or -1 with errno. */
int proxy_adopt(struct proxy *px, int fd);

/* Run the loop until ev_stop (from a signal handler the caller installed on
 * px_loop). Returns 0, or -1 if the loop failed. */
int proxy_run(struct proxy *px);

/* Close every connection (logging them), the listeners, and free `px`. */
void proxy_free(struct proxy *px);


/* Called by a connection when it is gone, so accepting can resume. */
void proxy_conn_closed(struct proxy *px);

#endif
