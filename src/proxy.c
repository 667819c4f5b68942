/* SPDX-License-Identifier: MIT */
/* `sluice serve`: sets up one event loop with its listeners and shared
 * per-loop resources, accepts connections, and handles signals through a
 * signalfd so that nothing runs in signal context. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "addr.h"
#include "auth.h"
#include "config.h"
#include "conn.h"
#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "relay.h"

#define PROXY_BACKLOG		4096
#define PROXY_ACCEPT_RETRY_MS	100
#define PROXY_AUTH_THREADS_MAX	4

static void proxy_accept(struct ev_loop *, int, unsigned, void *);

/* Raise the descriptor limit so max_connections tunnels fit (two sockets
 * each, plus pipes in flight): up to the hard limit, and beyond it when we
 * are privileged. Says so when it stays too low. */
static void
proxy_raise_nofile(const struct config *cfg)
{
	rlim_t need = (rlim_t)cfg->c_max_connections * 2 + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
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
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
		log_warnx("the descriptor limit (%llu) is too low for "
		    "max_connections %u (each tunnel needs 2); raise it with "
		    "ulimit -n or LimitNOFILE=", (unsigned long long)rl.rlim_cur,
		    cfg->c_max_connections);
}

static int
proxy_listen(struct proxy *px, const struct config_listen *cl)
{
	struct listener *li = &px->px_listeners[px->px_nlisteners];
	const struct sockaddr *sa = (const struct sockaddr *)&cl->l_addr;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char a[INET6_ADDRSTRLEN + 8];
	int fd, one = 1, defer;

	addr_format(sa, a, sizeof(a));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd == -1) {
		log_warn("listen %s: socket", a);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY: a relay forwards what it has
	 * at once, and Nagle would only add latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Wake up only when the request head has arrived. */
	defer = (int)(px->px_cfg->c_header_timeout_ms / 1000) + 1;
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(fd, sa, cl->l_len) == -1) {
		log_warn("listen %s: bind", a);
		close(fd);
		return -1;
	}
	if (listen(fd, PROXY_BACKLOG) == -1) {
		log_warn("listen %s", a);
		close(fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
		addr_format((struct sockaddr *)&bound, a, sizeof(a));
	li->li_fd = fd;
	li->li_px = px;
	if (ev_io_add(px->px_loop, &li->li_io, fd, EV_READ, proxy_accept,
	    li) == -1) {
		log_warn("listen %s: epoll", a);
		close(fd);
		return -1;
	}
	px->px_nlisteners++;
	log_info("listening on %s", a);
	return 0;
}

static void
proxy_accept_retry(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct proxy *px = arg;
	size_t i;

	(void)t;
	px->px_accept_paused = false;
	for (i = 0; i < px->px_nlisteners && !px->px_accept_paused; i++)
		proxy_accept(loop, px->px_listeners[i].li_fd, EV_READ,
		    &px->px_listeners[i]);
}

static void
proxy_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct listener *li = arg;
	struct proxy *px = li->li_px;

	(void)events;
	if (px->px_accept_paused)
		return;
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
		if (px->px_nconns >= px->px_cfg->c_max_connections)
			conn_refuse_busy(px, cfd, (struct sockaddr *)&ss);
		else
			conn_accept(px, cfd, (struct sockaddr *)&ss);
	}
}

void
proxy_conn_closed(struct proxy *px)
{
	px->px_nconns--;
}

static void
proxy_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			log_info("%s: shutting down",
			    si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			ev_stop(loop);
			break;
		default:
			break;
		}
	}
}

static int
proxy_signals(struct proxy *px)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	px->px_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (px->px_sigfd == -1)
		return -1;
	return ev_io_add(px->px_loop, &px->px_sigio, px->px_sigfd, EV_READ,
	    proxy_signal, px);
}

static unsigned
proxy_auth_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return n > PROXY_AUTH_THREADS_MAX ? PROXY_AUTH_THREADS_MAX : (unsigned)n;
}

int
proxy_serve(const char *path)
{
	struct proxy px;
	struct diag d = { NULL, 0 };
	char err[256];
	size_t i;
	int rc = 1;

	memset(&px, 0, sizeof(px));
	px.px_sigfd = -1;
	if ((px.px_cfg = config_load(path, &d)) == NULL) {
		diag_print(&d, stderr);
		diag_free(&d);
		return 1;
	}
	proxy_raise_nofile(px.px_cfg);
	if ((px.px_loop = ev_loop_new()) == NULL)
		fatal("event loop");
	if (proxy_signals(&px) == -1)
		fatal("signals");
	if (auth_init(proxy_auth_threads()) == -1)
		fatal("authentication workers");
	if ((px.px_mb = auth_mailbox_new(px.px_loop)) == NULL)
		fatal("auth mailbox");
	if ((px.px_dns = dns_new(px.px_loop, px.px_cfg->c_dns_servers,
	    px.px_cfg->c_dns_timeout_ms, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if ((px.px_pipes = relay_pool_new()) == NULL)
		fatal("pipe pool");
	if ((px.px_log = accesslog_open(px.px_loop,
	    px.px_cfg->c_access_log)) == NULL) {
		log_warn("access_log %s", px.px_cfg->c_access_log);
		goto out;
	}
	px.px_listeners = xcalloc(px.px_cfg->c_nlisten,
	    sizeof(*px.px_listeners));
	for (i = 0; i < px.px_cfg->c_nlisten; i++)
		if (proxy_listen(&px, &px.px_cfg->c_listen[i]) == -1)
			goto out;
	if (ev_run(px.px_loop) == -1)
		log_warn("event loop");
	else
		rc = 0;
out:
	while (px.px_conns != NULL)
		conn_abort(px.px_conns);
	ev_timer_stop(px.px_loop, &px.px_accept_retry);
	for (i = 0; i < px.px_nlisteners; i++)
		close(px.px_listeners[i].li_fd);
	free(px.px_listeners);
	/* Let deferred frees and the final log flush run. */
	ev_drain(px.px_loop);
	accesslog_close(px.px_log);
	dns_free(px.px_dns);
	relay_pool_free(px.px_pipes);
	auth_shutdown();
	auth_mailbox_free(px.px_mb);
	if (px.px_sigfd != -1)
		close(px.px_sigfd);
	ev_loop_free(px.px_loop);
	config_unref(px.px_cfg);
	diag_free(&d);
	return rc;
}
