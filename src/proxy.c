/* SPDX-License-Identifier: MIT */
/* The proxy engine: one event loop with its listeners and shared per-loop
 * resources; accepting connections. `sluice serve` adds its configured
 * listeners and stop signals (through a signalfd, so nothing runs in signal
 * context). */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "addr.h"
#include "auth.h"
#include "config.h"
#include "conn.h"
#include "dns.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "relay.h"
#include "stats.h"

#define PROXY_BACKLOG		4096
#define PROXY_ACCEPT_RETRY_MS	100
#define PROXY_AUTH_THREADS_MAX	4

static void proxy_accept(struct ev_loop *, int, unsigned, void *);
static void proxy_serve(struct proxy *, struct listener *, int,
    const struct sockaddr *);
static void proxy_inbox_drop(struct proxy *px);
static void proxy_inbox_ready(struct ev_loop *, int, unsigned, void *);
static void proxy_bound(const struct listener *li, char *a, size_t len);

/* Connections the descriptor limit leaves room for (0: no cap). Set once,
 * before the workers start. */
static unsigned proxy_nofile_cap;

/* Raise the descriptor limit so max_connections tunnels fit (two sockets
 * each, plus pipes in flight): up to the hard limit, and beyond it when we
 * are privileged. When it stays too low, a max_connections the operator
 * wrote is warned about; the default is fitted to the limit quietly (a
 * default that warns on every start teaches people to ignore warnings). */
static void
proxy_raise_nofile(const struct config *cfg)
{
	rlim_t need = (rlim_t)cfg->c_max_connections * 2 + 256;
	static bool done;	/* once per process, not per worker */
	struct rlimit rl;

	if (done || getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	done = true;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit more = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_NOFILE)");
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	proxy_nofile_cap = rl.rlim_cur > 512 ?
	    (unsigned)((rl.rlim_cur - 256) / 2) : 128;
	if (cfg->c_max_connections_set)
		log_warnx("the descriptor limit (%llu) is too low for "
		    "max_connections %u (each tunnel needs 2); raise it with "
		    "ulimit -n or LimitNOFILE=", (unsigned long long)rl.rlim_cur,
		    cfg->c_max_connections);
	else
		log_debug("max_connections %u by default, fitted to %u by the "
		    "descriptor limit (%llu)", cfg->c_max_connections,
		    proxy_nofile_cap, (unsigned long long)rl.rlim_cur);
}

unsigned
proxy_max_connections(const struct config *cfg)
{
	if (!cfg->c_max_connections_set && proxy_nofile_cap != 0 &&
	    proxy_nofile_cap < cfg->c_max_connections)
		return proxy_nofile_cap;
	return cfg->c_max_connections;
}

/* Watch `fd` (listening, non-blocking) for connections. */
static int
proxy_watch(struct proxy *px, int fd)
{
	struct listener *li = NULL;
	size_t i;

	for (i = 0; i < PROXY_MAX_LISTENERS && li == NULL; i++)
		if (px->px_listeners[i].li_fd == -1)
			li = &px->px_listeners[i];
	if (li == NULL) {
		errno = EMFILE;
		return -1;
	}
	memset(li, 0, sizeof(*li));
	li->li_px = px;
	if (ev_io_add(px->px_loop, &li->li_io, fd, EV_READ, proxy_accept,
	    li) == -1) {
		li->li_fd = -1;
		return -1;
	}
	li->li_fd = fd;
	return (int)(li - px->px_listeners);
}

int
proxy_adopt(struct proxy *px, int fd)
{
	int one = 1, fl;

	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (proxy_watch(px, fd) == -1) {
		close(fd);
		return -1;
	}
	return 0;
}

/* The address a listener is actually bound to ("127.0.0.1:41234"). */
static void
proxy_bound(const struct listener *li, char *a, size_t len)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	if (getsockname(li->li_fd, (struct sockaddr *)&bound, &blen) == 0)
		addr_format((struct sockaddr *)&bound, a, len);
	else
		addr_format((const struct sockaddr *)&li->li_addr, a, len);
}

/* Say why binding `sa` (formatted as `a`) failed, errno intact; a refused
 * privileged port names the capability that allows it. */
static void
proxy_bind_failed(const char *a, const struct sockaddr *sa)
{
	int e = errno;

	log_warn("listen %s: bind", a);
	if (e == EACCES && addr_port(sa) < 1024)
		log_warnx("ports below 1024 need root or CAP_NET_BIND_SERVICE "
		    "(AmbientCapabilities= in a systemd unit, or setcap "
		    "cap_net_bind_service=+ep on the binary)");
	errno = e;
}

int
proxy_bind(const struct config_listen *cl, bool reuseport, uint16_t port)
{
	struct sockaddr_storage ss = cl->l_addr;
	const struct sockaddr *sa = (const struct sockaddr *)&ss;
	char a[INET6_ADDRSTRLEN + 8];
	int fd, one = 1, defer;

	if (port != 0) {
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
	}
	addr_format(sa, a, sizeof(a));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd == -1) {
		log_warn("listen %s: socket", a);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One socket per worker on the same address: the kernel spreads
	 * new connections across them. */
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY: a relay forwards what it has
	 * at once, and Nagle would only add latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Wake up only when the request's first bytes have arrived, or after
	 * a second. The kernel holds a silent client for the deferral (in
	 * whole SYN-ACK retransmission rounds: 1, 3, 7, 15 s...) before
	 * header_timeout even starts, so longer would stretch a silent
	 * client's stay to twice header_timeout and more. */
	defer = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(fd, sa, cl->l_len) == -1) {
		proxy_bind_failed(a, sa);
		close(fd);
		return -1;
	}
	if (listen(fd, PROXY_BACKLOG) == -1) {
		log_warn("listen %s", a);
		close(fd);
		return -1;
	}
	return fd;
}

int
proxy_claim(const struct config_listen *cl, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char a[INET6_ADDRSTRLEN + 8];
	int fd, one = 1;

	addr_format((const struct sockaddr *)&cl->l_addr, a, sizeof(a));
	if ((fd = socket(cl->l_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    IPPROTO_TCP)) == -1) {
		log_warn("listen %s: socket", a);
		return -1;
	}
	/* SO_REUSEADDR only passes over TIME_WAIT leftovers; a listening
	 * socket there, SO_REUSEPORT or not, is another owner. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cl->l_addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cl->l_addr, cl->l_len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		proxy_bind_failed(a, (const struct sockaddr *)&cl->l_addr);
		close(fd);
		return -1;
	}
	*port = addr_port((struct sockaddr *)&ss);
	close(fd);
	return 0;
}

struct listener *
proxy_adopt_listener(struct proxy *px, int fd,
    const struct sockaddr_storage *cfgaddr)
{
	char a[INET6_ADDRSTRLEN + 8];
	int slot;

	if ((slot = proxy_watch(px, fd)) == -1) {
		addr_format((const struct sockaddr *)cfgaddr, a, sizeof(a));
		log_warn("listen %s", a);
		close(fd);
		return NULL;
	}
	px->px_listeners[slot].li_addr = *cfgaddr;
	return &px->px_listeners[slot];
}

struct listener *
proxy_listen(struct proxy *px, const struct config_listen *cl)
{
	struct listener *li;
	char a[INET6_ADDRSTRLEN + 8];
	int fd;

	if ((fd = proxy_bind(cl, false, 0)) == -1)
		return NULL;
	if ((li = proxy_adopt_listener(px, fd, &cl->l_addr)) == NULL)
		return NULL;
	if (!px->px_quiet) {
		proxy_bound(li, a, sizeof(a));
		log_info("listening on %s", a);
	}
	return li;
}

void
proxy_unlisten(struct proxy *px, struct listener *li)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (li->li_fd == -1)
		return;
	proxy_bound(li, a, sizeof(a));
	close(li->li_fd);
	li->li_fd = -1;
	if (!px->px_quiet)
		log_info("no longer listening on %s", a);
}

void
proxy_set_config(struct proxy *px, struct config *cfg)
{
	config_unref(px->px_cfg);
	px->px_cfg = cfg;
	px->px_env.e_cfg = cfg;
}

int
proxy_listen_all(struct proxy *px)
{
	size_t i;

	for (i = 0; i < px->px_cfg->c_nlisten; i++)
		if (proxy_listen(px, &px->px_cfg->c_listen[i]) == NULL)
			return -1;
	return 0;
}

static void
proxy_accept_retry(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct proxy *px = arg;
	size_t i;

	(void)t;
	px->px_accept_paused = false;
	for (i = 0; i < PROXY_MAX_LISTENERS && !px->px_accept_paused; i++)
		if (px->px_listeners[i].li_fd != -1)
			proxy_accept(loop, px->px_listeners[i].li_fd, EV_READ,
			    &px->px_listeners[i]);
}

static void
proxy_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct listener *li = arg;
	struct proxy *px = li->li_px;

	(void)events;
	if (px->px_accept_paused || li->li_fd != fd)
		return;	/* paused, or closed earlier in this batch */
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a
				 * moment instead of spinning on the backlog. */
				log_warn("accept (pausing %dms)",
				    PROXY_ACCEPT_RETRY_MS);
				px->px_accept_paused = true;
				ev_timer_set(loop, &px->px_accept_retry,
				    PROXY_ACCEPT_RETRY_MS, proxy_accept_retry,
				    px);
				return;
			}
			log_warn("accept");
			return;
		}
		proxy_serve(px, li, cfd, (struct sockaddr *)&ss);
	}
}

/* Connections open in every worker: max_connections is for the process. */
static atomic_uint proxy_total_conns;

void
proxy_link(struct proxy *px, struct conn *c)
{
	c->c_prev = NULL;
	c->c_next = px->px_conns;
	if (px->px_conns != NULL)
		px->px_conns->c_prev = c;
	px->px_conns = c;
	px->px_nconns++;
	atomic_fetch_add_explicit(&proxy_total_conns, 1, memory_order_relaxed);
}

void
proxy_unlink(struct proxy *px, struct conn *c)
{
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		px->px_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	c->c_next = c->c_prev = NULL;
	px->px_nconns--;
	atomic_fetch_sub_explicit(&proxy_total_conns, 1, memory_order_relaxed);
}

/* env.e_closed: a connection of this worker is gone. */
/*
 * Memory after a burst. Thousands of connections arriving at once each hold
 * handshake state (about 10 KiB: the request buffer and head, the
 * addresses) until their tunnel is up; freed, it stays with malloc, between
 * the small connection records that live on, and RSS stays at the burst's
 * peak. So once a worker has let go of enough such state and then been
 * quiet for PROXY_TRIM_MS (nothing more released: the burst is over),
 * malloc_trim hands the free pages back. A steady load never gets quiet
 * and never pays for it.
 */
#define PROXY_TRIM_AFTER	64	/* releases since the last trim */
#define PROXY_HS_PER_CHUNK	32	/* handshake states per mapping */
#define PROXY_TRIM_MS		250

static void
proxy_trim(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct proxy *px = arg;

	if (px->px_released != px->px_released_seen) {
		px->px_released_seen = px->px_released;
		ev_timer_set(loop, t, PROXY_TRIM_MS, proxy_trim, px);
		return;
	}
	pool_release(px->px_hs_pool, 1);
	malloc_trim(0);
	px->px_released = px->px_released_seen = 0;
}

static void
proxy_released(void *owner)
{
	struct proxy *px = owner;

	if (++px->px_released != PROXY_TRIM_AFTER)
		return;
	px->px_released_seen = px->px_released;
	ev_timer_set(px->px_loop, &px->px_trim, PROXY_TRIM_MS, proxy_trim, px);
}

static void
proxy_conn_gone(void *owner, struct conn *c)
{
	proxy_unlink(owner, c);
	proxy_released(owner);
}

/* The `listen` line of listener `li` under the configuration in force, or
 * NULL (a listener a reload is taking away). */
static const struct config_listen *
proxy_listener_conf(const struct proxy *px, const struct listener *li)
{
	const struct config *cfg = px->px_cfg;
	size_t i;

	for (i = 0; i < cfg->c_nlisten; i++) {
		const struct config_listen *cl = &cfg->c_listen[i];

		if (cl->l_len <= sizeof(li->li_addr) && memcmp(&cl->l_addr,
		    &li->li_addr, cl->l_len) == 0)
			return cl;
	}
	return NULL;
}

/* Serve the socket `fd` accepted on `li`; refuse it when max_connections
 * is reached, and drop it when it comes to a proxy_protocol listener from
 * a source that may not send PROXY headers. */
static void
proxy_serve(struct proxy *px, struct listener *li, int fd,
    const struct sockaddr *peer)
{
	bool busy = proxy_connections() >= proxy_max_connections(px->px_cfg);
	const struct config_listen *cl = proxy_listener_conf(px, li);
	struct tls_server *ts = cl && cl->l_tls ? px->px_cfg->c_tls : NULL;
	bool pp = cl && cl->l_pp;
	struct conn *c = conn_new(&px->px_env, fd, peer);
	char d[64];

	if (c == NULL) {
		close(fd);
		return;
	}
	proxy_link(px, c);
	if (pp && !config_pp_trusted(px->px_cfg, peer)) {
		conn_drop(c, REASON_PROXY_UNTRUSTED, "not in "
		    "proxy_protocol_from");
		return;
	}
	if (!busy) {
		conn_start(c, ts, pp);
		return;
	}
	snprintf(d, sizeof(d), "max_connections %u",
	    proxy_max_connections(c->c_cfg));
	conn_refuse(c, ts, pp, REASON_TOO_MANY_CONNECTIONS, d);
}

unsigned
proxy_connections(void)
{
	return atomic_load_explicit(&proxy_total_conns, memory_order_relaxed);
}

unsigned
proxy_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

struct auth_pool *
proxy_auth_pool(void)
{
	unsigned n = proxy_cpus();

	return auth_pool_new(n > PROXY_AUTH_THREADS_MAX ?
	    PROXY_AUTH_THREADS_MAX : n);
}

/* The worker's pools and counters. Returns 0, or -1 with why in `err`. */
static int
proxy_pools_new(struct proxy *px, char *err, size_t errlen)
{
	const char *what = NULL;

	if ((px->px_pipes = relay_pool_new()) == NULL)
		what = "pipe pool";
	else if ((px->px_hs_pool = pool_new(conn_handshake_size(),
	    PROXY_HS_PER_CHUNK)) == NULL)
		what = "handshake pool";
	else if ((px->px_stats = stats_new()) == NULL)
		what = "counters";
	if (what == NULL)
		return 0;
	snprintf(err, errlen, "%s: out of memory", what);
	return -1;
}

struct proxy *
proxy_new(struct config *cfg, struct auth_pool *ap, struct tally *tunnels,
    char *err, size_t errlen)
{
	struct proxy *px = xcalloc(1, sizeof(*px));
	size_t i;

	px->px_cfg = cfg;
	px->px_inbox_fd = px->px_ack_fd = -1;
	pthread_mutex_init(&px->px_inbox_lock, NULL);
	for (i = 0; i < PROXY_MAX_LISTENERS; i++)
		px->px_listeners[i].li_fd = -1;
	proxy_raise_nofile(cfg);
	if ((px->px_loop = ev_loop_new()) == NULL) {
		snprintf(err, errlen, "event loop: %s", strerror(errno));
		goto fail;
	}
	if ((px->px_mb = auth_mailbox_new(ap, px->px_loop)) == NULL) {
		snprintf(err, errlen, "auth mailbox: %s", strerror(errno));
		goto fail;
	}
	if ((px->px_dns = dns_new(px->px_loop, cfg->c_dns_servers,
	    cfg->c_dns_timeout_ms, err, errlen)) == NULL)
		goto fail;
	if (proxy_pools_new(px, err, errlen) == -1)
		goto fail;
	if ((px->px_log = accesslog_open(px->px_loop, cfg->c_access_log)) ==
	    NULL) {
		snprintf(err, errlen, "access_log %s: %s", cfg->c_access_log,
		    strerror(errno));
		goto fail;
	}
	accesslog_set_json(px->px_log, cfg->c_log_json);
	px->px_env = (struct env){ .e_loop = px->px_loop, .e_cfg = px->px_cfg,
	    .e_dns = px->px_dns, .e_mb = px->px_mb, .e_pipes = px->px_pipes,
	    .e_log = px->px_log, .e_tunnels = tunnels, .e_stats = px->px_stats,
	    .e_hs_pool = px->px_hs_pool,
	    .e_closed = proxy_conn_gone, .e_released = proxy_released,
	    .e_owner = px };
	if ((px->px_inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    ev_io_add(px->px_loop, &px->px_inbox_io, px->px_inbox_fd, EV_READ,
	    proxy_inbox_ready, px) == -1) {
		snprintf(err, errlen, "worker inbox: %s", strerror(errno));
		goto fail;
	}
	if ((px->px_ack_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "worker acknowledgements: %s",
		    strerror(errno));
		goto fail;
	}
	return px;
fail:
	proxy_free(px);
	return NULL;
}

int
proxy_run(struct proxy *px)
{
	return ev_run(px->px_loop);
}

void
proxy_close_all(struct proxy *px)
{
	size_t i;

	while (px->px_conns != NULL)
		conn_abort(px->px_conns);
	px->px_quiet = true;
	for (i = 0; i < PROXY_MAX_LISTENERS; i++)
		proxy_unlisten(px, &px->px_listeners[i]);
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	proxy_close_all(px);
	if (px->px_loop != NULL) {
		ev_timer_stop(px->px_loop, &px->px_accept_retry);
		ev_timer_stop(px->px_loop, &px->px_trim);
		/* Let deferred frees and the final log flush run. */
		ev_drain(px->px_loop);
	}
	proxy_inbox_drop(px);
	accesslog_close(px->px_log);
	dns_free(px->px_dns);
	relay_pool_free(px->px_pipes);
	pool_free(px->px_hs_pool);
	stats_free(px->px_stats);
	auth_mailbox_free(px->px_mb);
	if (px->px_inbox_fd != -1)
		close(px->px_inbox_fd);
	if (px->px_ack_fd != -1)
		close(px->px_ack_fd);
	pthread_mutex_destroy(&px->px_inbox_lock);
	ev_loop_free(px->px_loop);
	config_unref(px->px_cfg);
	free(px);
}

/* ---- messages from the control thread to a worker ----
 *
 * The control thread posts messages to a worker's inbox (a list under a
 * mutex, and an eventfd that wakes the worker's loop); the worker applies
 * them in order on its own thread. A SYNC message is answered on a second
 * eventfd, px_ack_fd, after the sequence number it carried is stored in
 * px_acked: whoever reads the eventfd and then px_acked sees every message
 * before that SYNC applied. Hand-overs that fail are counted in px_failed,
 * stored before px_acked, so an answer carries them. */

struct proxy_msg {
	struct proxy_msg	*pm_next;
	enum proxy_msg_kind	 pm_kind;
	struct config		*pm_cfg;	/* PROXY_MSG_CONFIG (a reference) */
	int			 pm_fd;		/* PROXY_MSG_ADOPT */
	struct sockaddr_storage	 pm_addr;	/* ADOPT, UNLISTEN */
};

void
proxy_apply_config(struct proxy *px, struct config *n)
{
	struct config *o = px->px_cfg;
	struct conn *c, *next;
	char err[300];

	if ((o->c_dns_servers == NULL) != (n->c_dns_servers == NULL) ||
	    (n->c_dns_servers != NULL &&
	    strcmp(o->c_dns_servers, n->c_dns_servers) != 0)) {
		if (dns_set_servers(px->px_dns, n->c_dns_servers, err,
		    sizeof(err)) == -1)
			log_warnx("reload: %s", err);
	}
	if (((o->c_access_log == NULL) != (n->c_access_log == NULL) ||
	    (n->c_access_log != NULL &&
	    strcmp(o->c_access_log, n->c_access_log) != 0)) &&
	    accesslog_reopen(px->px_log, n->c_access_log) == -1)
		log_warn("reload: access_log %s", n->c_access_log);
	accesslog_set_json(px->px_log, n->c_log_json);
	proxy_set_config(px, n);
	/* Revocation bites: what the new rules refuse does not stay open. */
	for (c = px->px_conns; c != NULL; c = next) {
		next = c->c_next;
		conn_review(c);
	}
}

static void
proxy_unlisten_addr(struct proxy *px, const struct sockaddr_storage *a)
{
	size_t i;

	for (i = 0; i < PROXY_MAX_LISTENERS; i++) {
		struct listener *li = &px->px_listeners[i];

		if (li->li_fd != -1 && li->li_addr.ss_family == a->ss_family &&
		    memcmp(&li->li_addr, a, sizeof(*a)) == 0)
			proxy_unlisten(px, li);
	}
}

/* Apply one message on the worker's thread. */
static void
proxy_inbox_apply(struct proxy *px, struct proxy_msg *m)
{
	uint64_t one = 1;
	size_t i;

	switch (m->pm_kind) {
	case PROXY_MSG_CONFIG:
		proxy_apply_config(px, m->pm_cfg);
		break;
	case PROXY_MSG_ADOPT:
		if (proxy_adopt_listener(px, m->pm_fd, &m->pm_addr) == NULL)
			atomic_fetch_add_explicit(&px->px_failed, 1,
			    memory_order_relaxed);
		break;
	case PROXY_MSG_UNLISTEN:
		proxy_unlisten_addr(px, &m->pm_addr);
		break;
	case PROXY_MSG_REOPEN:
		if (accesslog_reopen(px->px_log, px->px_cfg->c_access_log) ==
		    -1)
			log_warn("reopening access_log %s",
			    px->px_cfg->c_access_log);
		break;
	case PROXY_MSG_STOP_ACCEPTING:
		px->px_quiet = true;
		for (i = 0; i < PROXY_MAX_LISTENERS; i++)
			proxy_unlisten(px, &px->px_listeners[i]);
		break;
	case PROXY_MSG_STOP:
		ev_stop(px->px_loop);
		break;
	case PROXY_MSG_SYNC:
		/* Release: the control thread that reads this number sees
		 * everything applied before it, px_failed included. */
		atomic_store_explicit(&px->px_acked, (unsigned)m->pm_fd,
		    memory_order_release);
		if (write(px->px_ack_fd, &one, sizeof(one)) == -1)
			log_warn("acknowledging to the control thread");
		break;
	}
}

static void
proxy_inbox_ready(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct proxy *px = arg;
	struct proxy_msg *list, *m, *rev = NULL;
	uint64_t n;

	(void)loop;
	(void)events;
	while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	pthread_mutex_lock(&px->px_inbox_lock);
	list = px->px_inbox;
	px->px_inbox = NULL;
	pthread_mutex_unlock(&px->px_inbox_lock);
	/* Posted newest first: apply in the order they were sent. */
	while ((m = list) != NULL) {
		list = m->pm_next;
		m->pm_next = rev;
		rev = m;
	}
	while ((m = rev) != NULL) {
		rev = m->pm_next;
		proxy_inbox_apply(px, m);
		free(m);
	}
}

int
proxy_post(struct proxy *px, enum proxy_msg_kind kind, struct config *cfg,
    int fd, const struct sockaddr_storage *addr)
{
	struct proxy_msg *m = calloc(1, sizeof(*m));
	uint64_t one = 1;

	if (m == NULL)
		return -1;
	m->pm_kind = kind;
	m->pm_cfg = cfg;
	m->pm_fd = fd;
	if (addr != NULL)
		m->pm_addr = *addr;
	pthread_mutex_lock(&px->px_inbox_lock);
	m->pm_next = px->px_inbox;
	px->px_inbox = m;
	pthread_mutex_unlock(&px->px_inbox_lock);
	(void)!write(px->px_inbox_fd, &one, sizeof(one));
	return 0;
}

/* Milliseconds left until `until` on the monotonic clock (0 when past). */
static int
proxy_ms_left(const struct timespec *until)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (until->tv_sec - now.tv_sec) * 1000LL +
	    (until->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Drain px's answers; true once it has answered the last SYNC posted. */
static bool
proxy_acked(struct proxy *px)
{
	uint64_t n;

	while (read(px->px_ack_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	/* Acquire, pairing with the worker's release. (The eventfd orders
	 * the read after the write it consumed, but only for the kernel.) */
	return atomic_load_explicit(&px->px_acked, memory_order_acquire) ==
	    px->px_sync_sent;
}

/* Sleep in poll(2) on the ack eventfds in `pfd` until each has answered
 * (its fd is then set to -1, and acks[i] says so) or `until` passes. */
static void
proxy_sync_wait(struct proxy *const *workers, unsigned n, struct pollfd *pfd,
    const struct timespec *until, struct proxy_ack *acks)
{
	unsigned i, waiting = 0;
	int left;

	for (i = 0; i < n; i++)
		waiting += pfd[i].fd != -1;
	while (waiting > 0 && (left = proxy_ms_left(until)) > 0) {
		if (poll(pfd, n, left) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("waiting for the workers");
			return;
		}
		for (i = 0; i < n; i++)
			if (pfd[i].fd != -1 && (pfd[i].revents & POLLIN) &&
			    proxy_acked(workers[i])) {
				acks[i].pa_acked = true;
				pfd[i].fd = -1;
				waiting--;
			}
	}
}

int
proxy_sync(struct proxy *const *workers, unsigned n, unsigned ms,
    struct proxy_ack *acks)
{
	struct pollfd pfd[PROXY_MAX_WORKERS];
	struct timespec until;
	unsigned i, failed;
	int rc = 0;

	if (n > PROXY_MAX_WORKERS)
		n = PROXY_MAX_WORKERS;	/* serve never starts more */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	for (i = 0; i < n; i++) {
		acks[i].pa_acked = false;
		acks[i].pa_failed = 0;
		pfd[i].fd = -1;		/* poll(2) skips it */
		pfd[i].events = POLLIN;
		if (proxy_post(workers[i], PROXY_MSG_SYNC, NULL,
		    (int)++workers[i]->px_sync_sent, NULL) == 0)
			pfd[i].fd = workers[i]->px_ack_fd;
	}
	proxy_sync_wait(workers, n, pfd, &until, acks);
	for (i = 0; i < n; i++) {
		struct proxy *px = workers[i];

		/* An answer may have come just as the time was up. */
		if (!acks[i].pa_acked && pfd[i].fd != -1)
			acks[i].pa_acked = proxy_acked(px);
		if (!acks[i].pa_acked) {
			rc = -1;
			continue;
		}
		failed = atomic_load_explicit(&px->px_failed,
		    memory_order_relaxed);
		acks[i].pa_failed = failed - px->px_failed_seen;
		px->px_failed_seen = failed;
		if (acks[i].pa_failed > 0)
			rc = -1;
	}
	return rc;
}

/* Messages nobody will read any more: release what they carry. */
static void
proxy_inbox_drop(struct proxy *px)
{
	struct proxy_msg *m;

	while ((m = px->px_inbox) != NULL) {
		px->px_inbox = m->pm_next;
		if (m->pm_kind == PROXY_MSG_CONFIG)
			config_unref(m->pm_cfg);
		if (m->pm_kind == PROXY_MSG_ADOPT)
			close(m->pm_fd);
		free(m);
	}
}
