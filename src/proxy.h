/* SPDX-License-Identifier: MIT */
/* The proxy engine as a whole: listeners, accepting, and the per-loop
 * resources (resolver, pipe pool, access log, auth mailbox) connections
 * share. `sluice serve` runs it on its configured addresses; `sluice run`
 * embeds it on sockets made inside a sandbox. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "env.h"
#include "ev.h"

struct accesslog;
struct auth_mailbox;
struct auth_pool;
struct config;
struct config_listen;
struct conn;
struct dns;
struct relay_pool;
struct tally;
struct proxy_msg;
struct upstream;

struct listener {
	struct ev_io		 li_io;
	int			 li_fd;		/* -1: free slot */
	struct proxy		*li_px;
	struct sockaddr_storage	 li_addr;	/* as configured */
};

#define PROXY_MAX_LISTENERS 64
#define PROXY_MAX_WORKERS 64	/* as the `workers` setting allows */

struct proxy {
	struct ev_loop		*px_loop;
	struct config		*px_cfg;	/* current configuration */
	struct env		 px_env;	/* what connections may use */
	struct dns		*px_dns;
	struct auth_mailbox	*px_mb;
	struct relay_pool	*px_pipes;
	struct pool		*px_hs_pool;	/* handshake states */
	struct stats		*px_stats;	/* for the admin listener */
	struct accesslog	*px_log;
	struct listener		 px_listeners[PROXY_MAX_LISTENERS];
	struct ev_io		 px_inbox_io;
	int			 px_inbox_fd;	/* eventfd: messages waiting */
	pthread_mutex_t		 px_inbox_lock;
	struct proxy_msg	*px_inbox;	/* newest first */
	int			 px_ack_fd;	/* eventfd: SYNC applied */
	atomic_uint		 px_acked;	/* last SYNC applied (worker) */
	atomic_uint		 px_failed;	/* failed hand-overs, ever */
	unsigned		 px_sync_sent;	/* last SYNC posted (control) */
	unsigned		 px_failed_seen; /* px_failed, last looked */
	bool			 px_quiet;	/* no "listening on" notices */
	struct ev_timer		 px_accept_retry;	/* after EMFILE */
	struct ev_timer		 px_trim;	/* malloc_trim once quiet */
	unsigned		 px_released;	/* since the last trim */
	unsigned		 px_released_seen;	/* at the timer's arming */
	bool			 px_accept_paused;
	unsigned		 px_nconns;
	struct conn		*px_conns;	/* every open connection */
};

/* Messages a worker's loop applies on its own thread (proxy_post). */
enum proxy_msg_kind {
	PROXY_MSG_CONFIG = 0,		/* swap in a configuration */
	PROXY_MSG_ADOPT,		/* serve a listening socket */
	PROXY_MSG_UNLISTEN,		/* stop listening on an address */
	PROXY_MSG_REOPEN,		/* reopen the access log */
	PROXY_MSG_STOP_ACCEPTING,	/* close every listener */
	PROXY_MSG_STOP,			/* leave the loop */
	PROXY_MSG_SYNC,			/* acknowledge (proxy_sync) */
};

/* One worker's answer to proxy_sync. */
struct proxy_ack {
	bool		 pa_acked;	/* applied all posted before */
	unsigned	 pa_failed;	/* PROXY_MSG_ADOPTs that failed since
					 * the previous answer */
};

/* A pool of authentication threads sized for this machine, to be shared by
 * every worker of one `serve` or `run` (see auth.h): its owner frees it
 * with auth_pool_free after proxy_close_all on every worker and before
 * proxy_free. Returns NULL with errno set. */
struct auth_pool *proxy_auth_pool(void);

/* Online CPUs (1..64): the default number of workers. */
unsigned proxy_cpus(void);

/* Set up one worker for `cfg` (takes over the caller's reference): event
 * loop, resolver, a mailbox for the checks of `ap` (borrowed; it must
 * outlive the worker's connections), pipe pool, access log, inbox. The
 * workers of one process share `tunnels` (borrowed, or NULL: max_tunnels
 * is not enforced). Raises the descriptor limit. Returns NULL with a
 * message in `err`. */
struct proxy *proxy_new(struct config *cfg, struct auth_pool *ap,
    struct tally *tunnels, char *err, size_t errlen);

/* Create a listening socket for `cl` without serving it: with `reuseport`
 * for one socket per worker on one address, `port` non-zero overriding the
 * configured one (so that workers share what port 0 picked). Returns the
 * descriptor or -1 (reported). Safe from any thread. */
int proxy_bind(const struct config_listen *cl, bool reuseport, uint16_t port);

/* Claim the address of `cl` for this process: a bind without SO_REUSEPORT,
 * which fails with EADDRINUSE when anyone listens there already (another
 * sluice's SO_REUSEPORT group included, which this process's workers would
 * otherwise silently join). Says why on failure. Stores the port (the one
 * picked, for port 0) in *port. Returns 0 or -1 with errno. */
int proxy_claim(const struct config_listen *cl, uint16_t *port);

/* Serve listening socket `fd` (takes ownership), remembered under the
 * configured address `cfgaddr`. Returns the listener or NULL (said on
 * stderr). On the worker's thread, or before its loop runs. */
struct listener *proxy_adopt_listener(struct proxy *px, int fd,
    const struct sockaddr_storage *cfgaddr);

/* Queue a message for a worker's loop (any thread). `cfg` (a reference,
 * passed on) for PROXY_MSG_CONFIG, `fd` (ownership passed on) and `addr`
 * for PROXY_MSG_ADOPT, `addr` for PROXY_MSG_UNLISTEN. Returns 0 or -1. */
int proxy_post(struct proxy *px, enum proxy_msg_kind kind, struct config *cfg,
    int fd, const struct sockaddr_storage *addr);

/* Post a SYNC to each of the `n` workers (n <= PROXY_MAX_WORKERS) and
 * wait, `ms` milliseconds at most in all, until every one has applied
 * everything posted to it before, so that e.g. a closed listener is closed
 * in every worker when the caller says so. Each worker answers on its own
 * eventfd, which the caller sleeps on in poll(2): no polling, no sleep.
 * Fills acks[i] for workers[i]; a late answer to an earlier call is not
 * taken for this one. Control thread only, never a worker's. Returns 0
 * when every worker acknowledged and none reported a failed hand-over, -1
 * otherwise: the caller names them from `acks`. */
int proxy_sync(struct proxy *const *workers, unsigned n, unsigned ms,
    struct proxy_ack *acks);

/* Swap in `n` (takes over the reference), adjusting what depends on it
 * (resolver servers, access log path and format). Worker thread only. */
void proxy_apply_config(struct proxy *px, struct config *n);

/* Connections open across all workers. */
unsigned proxy_connections(void);

/* The connections `cfg` allows: max_connections, or, when it is the
 * default, what the descriptor limit leaves room for. */
unsigned proxy_max_connections(const struct config *cfg);

/* Add `c` (new, not started) to the worker's open connections: counted
 * against max_connections and aborted by proxy_close_all. */
void proxy_link(struct proxy *px, struct conn *c);

/* Take `c` off the list (it has closed), so accepting can resume. */
void proxy_unlink(struct proxy *px, struct conn *c);

/* Abort every connection (logging it) and close the listeners. */
void proxy_close_all(struct proxy *px);

/* Bind and listen on every `listen` address of the configuration, printing
 * "listening on ADDR:PORT" for each. Returns 0 or -1 (reported). */
int proxy_listen_all(struct proxy *px);

/* Bind and listen on one configured address. Returns the listener or NULL
 * (reported). */
struct listener *proxy_listen(struct proxy *px, const struct config_listen *cl);

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

/* Close what is left (proxy_close_all) and free `px`. */
void proxy_free(struct proxy *px);

#endif
