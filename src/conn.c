/* SPDX-License-Identifier: MIT */
/*
 * The connection state machine.
 *
 *   HEAD -> AUTH -> RESOLVE -> CONNECT -> TUNNEL (CONNECT) ----------> closed
 *    ^  \     \         \          \ -> EXCHANGE (plain HTTP) -+----> closed
 *    |   \     \         \          \                         |
 *    |    +-----+---------+----------+--> REPLY -> LINGER ----+----> closed
 *    +---------------- keep-alive: next request <-------------+
 *
 * HEAD reads and parses a request head. AUTH waits for a worker thread to
 * verify the password (skipped on a cache hit). RESOLVE waits for DNS
 * (skipped for hosts_file names, IP literals and a kept upstream). CONNECT
 * dials the permitted addresses in turn. A CONNECT request then becomes a
 * TUNNEL that relays bytes both ways until both directions have ended; a
 * plain-HTTP request becomes an EXCHANGE (forward.c), after which a
 * keep-alive client starts over at HEAD and every request is authenticated
 * and checked on its own. REPLY writes an error answer; LINGER then
 * half-closes and drains the client briefly so that unread request bytes do
 * not turn our answer into a reset.
 *
 * Everything a request needs only until its tunnel is up lives in `struct
 * conn_hs`, freed when it is, so an idle tunnel costs little more than its
 * two sockets. Sockets are registered once, edge-triggered, for reading and
 * writing; the relay_fdstate flags remember readiness until an EAGAIN clears
 * them. Closing is deferred to the end of the event batch.
 */
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "addr.h"
#include "auth.h"
#include "config.h"
#include "conn.h"
#include "forward.h"
#include "log.h"
#include "policy.h"
#include "proxy.h"
#include "redact.h"
#include "sockio.h"
#include "upstream.h"

#define CONN_READ_CHUNK		4096
#define CONN_LINGER_MS		2000
#define CONN_REPLY_MAX		2048

static void conn_client_io(struct ev_loop *, int, unsigned, void *);
static void conn_upstream_io(struct ev_loop *, int, unsigned, void *);
static void conn_timeout(struct ev_loop *, struct ev_timer *, void *);
static void conn_note_partial(struct conn *);

/* -d: one line per decision a connection goes through, numbered so that
 * lines of one connection can be told apart across workers. */
static void conn_debug(const struct conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_debug(const struct conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log_debugging())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("conn %llu: %s", (unsigned long long)c->c_id, msg);
}
static void conn_dial(struct conn *c);
static void conn_tunnel_pump(struct conn *c);
static void conn_read_head(struct conn *c);

struct ev_loop *
conn_loop(const struct conn *c)
{
	return c->c_px->px_loop;
}

static void
conn_close_upstream(struct conn *c)
{
	if (c->c_ufd != -1) {
		close(c->c_ufd);
		c->c_ufd = -1;
	}
	free(c->c_ukey);
	c->c_ukey = NULL;
}

/* Stop what a request is waiting for (auth, DNS). */
static void
conn_hs_cancel(struct conn_hs *hs)
{
	if (hs->hs_job != NULL) {
		auth_cancel(hs->hs_job);
		hs->hs_job = NULL;
	}
	if (hs->hs_dnsq != NULL)
		dns_cancel(hs->hs_dnsq);
}

static void
conn_hs_free(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	if (hs == NULL)
		return;
	conn_hs_cancel(hs);
	if (hs->hs_buf != NULL)
		explicit_bzero(hs->hs_buf, hs->hs_len);	/* may hold credentials */
	free(hs->hs_buf);
	buf_free(&hs->hs_reply);
	free(hs);
	c->c_hs = NULL;
}

void
conn_log(struct conn *c)
{
	char client[INET6_ADDRSTRLEN], peer[INET6_ADDRSTRLEN];
	struct logrec r;
	bool ours = c->c_reason != REASON_NONE;

	if (c->c_logged)
		return;
	c->c_logged = true;
	addr_format_ip((struct sockaddr *)&c->c_peer, client, sizeof(client));
	memset(&r, 0, sizeof(r));
	r.lr_sec = c->c_wsec;
	r.lr_msec = c->c_wmsec;
	r.lr_elapsed_ms = ev_now(conn_loop(c)) - c->c_start;
	r.lr_client = client;
	r.lr_tag = reason_squid_tag(c->c_reason);
	r.lr_status = reason_status(c->c_reason);
	r.lr_bytes = c->c_sent + c->c_down.rd_bytes;
	/* Squid logs NONE for a request it could not even read. */
	r.lr_method = c->c_method ? c->c_method : "NONE";
	r.lr_url = c->c_target;
	r.lr_user = c->c_user;
	r.lr_host = c->c_host;
	r.lr_port = c->c_port;
	r.lr_bytes_up = c->c_sent_up + c->c_up.rd_bytes;
	r.lr_dns_ms = c->c_dns_ms;
	r.lr_connect_ms = c->c_connect_ms;
	if (ours) {
		/* Our own answer, if one was sent at all. */
		r.lr_mime = r.lr_status != 0 ? "text/plain" : NULL;
		r.lr_reason = reason_code(c->c_reason);
		/* sluice run's live report; a port refusal names the flag
		 * that allows it. */
		if (c->c_px->px_report_denials && r.lr_status != 0)
			log_warnx("%s %s %s (%s)", reason_status(c->c_reason) <
			    500 ? "denied" : "failed", r.lr_method,
			    c->c_target ? c->c_target : "-",
			    c->c_reason != REASON_PORT_DENIED ?
			    reason_text(c->c_reason) :
			    strcmp(r.lr_method, "CONNECT") == 0 ? "port not "
			    "allowed; --connect-ports adds it" : "port not "
			    "allowed; --http-ports adds it");
	} else {
		addr_format_ip((struct sockaddr *)&c->c_upaddr, peer,
		    sizeof(peer));
		r.lr_peer = peer;
		r.lr_parent = c->c_px->px_upstream != NULL;
		if (c->c_status != 0) {
			/* Forwarded HTTP: the origin's answer. */
			r.lr_tag = "TCP_MISS";
			r.lr_status = c->c_status;
			r.lr_mime = c->c_mime;
		}
		if (c->c_abort != REASON_NONE) {
			/* Squid's tag for an answer that broke off. */
			r.lr_tag = "TCP_MISS_ABORTED";
			r.lr_reason = reason_code(c->c_abort);
			r.lr_aborted = true;
		}
	}
	accesslog_write(c->c_px->px_log, &r);
}

/* Free what the log record of the last request owned. */
static void
conn_forget_request(struct conn *c)
{
	free(c->c_target);
	c->c_target = NULL;
	free(c->c_mime);
	c->c_mime = NULL;
	free(c->c_host);
	c->c_host = NULL;
}

static void
conn_free(struct ev_loop *loop, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	relay_dir_free(c->c_px->px_pipes, &c->c_up);
	relay_dir_free(c->c_px->px_pipes, &c->c_down);
	conn_forget_request(c);
	config_unref(c->c_cfg);
	c->c_cfg = NULL;
	free(c);
}

void
conn_close(struct conn *c)
{
	struct proxy *px = c->c_px;

	if (c->c_state == CONN_CLOSED)
		return;
	conn_debug(c, "closed: %llu bytes to the client, %llu to the "
	    "destination%s%s", (unsigned long long)(c->c_sent +
	    c->c_down.rd_bytes), (unsigned long long)(c->c_sent_up +
	    c->c_up.rd_bytes), c->c_reason != REASON_NONE ? ", " : "",
	    c->c_reason != REASON_NONE ? reason_code(c->c_reason) : "");
	/* A request that had not been answered is logged as what it was
	 * (the client left, or we are shutting down), never as a success.
	 * An idle keep-alive connection (no byte of a new head) leaves no
	 * record. */
	switch (c->c_state) {
	case CONN_HEAD:
		if (c->c_hs == NULL || c->c_hs->hs_len == 0)
			break;
		conn_note_partial(c);
		/* FALLTHROUGH */
	case CONN_AUTH:
	case CONN_RESOLVE:
	case CONN_CONNECT:
	case CONN_UPSTREAM:
		if (c->c_reason == REASON_NONE)
			c->c_reason = c->c_unfinished;
		conn_log(c);
		break;
	case CONN_EXCHANGE:
		/* Closed in the middle of a forwarded exchange: with no
		 * answer from the origin yet, like the states above; with
		 * one, its status stays and the log says it broke off. */
		if (!c->c_logged && c->c_reason == REASON_NONE) {
			if (c->c_abort == REASON_NONE)
				c->c_abort = c->c_unfinished;
			if (c->c_status == 0) {
				c->c_reason = c->c_abort;
				c->c_abort = REASON_NONE;
			}
		}
		conn_log(c);
		break;
	default:
		conn_log(c);
		break;
	}
	c->c_state = CONN_CLOSED;
	ev_timer_stop(conn_loop(c), &c->c_timer);
	conn_hs_free(c);
	forward_free(c);
	upstream_free_hs(c);
	if (c->c_cfd != -1) {
		close(c->c_cfd);
		c->c_cfd = -1;
	}
	conn_close_upstream(c);
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		px->px_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	c->c_next = c->c_prev = NULL;
	ev_defer(conn_loop(c), &c->c_defer, conn_free, c);
	proxy_conn_closed(px);
}

void
conn_abort(struct conn *c)
{
	c->c_unfinished = REASON_SHUTDOWN;
	conn_close(c);
}

/* Start the record of a new request: time, and nothing decided yet. */
static void
conn_begin_request(struct conn *c)
{
	c->c_start = c->c_active = ev_now(conn_loop(c));
	ev_wallclock(conn_loop(c), &c->c_wsec, &c->c_wmsec);
	c->c_user = NULL;
	c->c_method = NULL;
	conn_forget_request(c);
	c->c_port = 0;
	c->c_reason = REASON_NONE;
	c->c_unfinished = REASON_CLIENT_ABORTED;
	c->c_abort = REASON_NONE;
	c->c_status = 0;
	c->c_logged = false;
	c->c_sent = c->c_sent_up = 0;
	c->c_dns_ms = c->c_connect_ms = -1;
}

static struct conn *
conn_new(struct proxy *px, int fd, const struct sockaddr *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->c_hs = calloc(1, sizeof(*c->c_hs))) == NULL) {
		free(c);
		return NULL;
	}
	static atomic_uint_fast64_t next_id;

	c->c_id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) +
	    1;
	c->c_px = px;
	c->c_cfg = config_ref(px->px_cfg);
	c->c_cfd = fd;
	c->c_ufd = -1;
	c->c_state = CONN_HEAD;
	conn_begin_request(c);
	http_head_init(&c->c_hs->hs_head);
	memcpy(&c->c_peer, peer, addr_len(peer) <= sizeof(c->c_peer) ?
	    addr_len(peer) : sizeof(c->c_peer));
	c->c_next = px->px_conns;
	if (px->px_conns != NULL)
		px->px_conns->c_prev = c;
	px->px_conns = c;
	proxy_conn_opened(px);
	return c;
}

/* Write as much of the pending reply as the socket takes. Returns 1 when all
 * is written, 0 when blocked, -1 on error. */
static int
conn_write_reply(struct conn *c)
{
	struct buf *b = &c->c_hs->hs_reply;

	ssize_t n = sockio_send(c->c_cfd, &c->c_cst, b->b_data + b->b_off,
	    buf_used(b));

	if (n == -1)
		return -1;
	buf_consume(b, (size_t)n);
	c->c_sent += (uint64_t)n;
	return buf_used(b) == 0 ? 1 : 0;
}

/* Read and discard until EOF; close on EOF, error, or the linger timer. */
static void
conn_linger(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = sockio_recv(c->c_cfd, &c->c_cst, sink, sizeof(sink));

		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		conn_close(c);
		return;
	}
}

void
conn_finish(struct conn *c)
{
	conn_log(c);
	conn_close_upstream(c);
	shutdown(c->c_cfd, SHUT_WR);
	c->c_state = CONN_LINGER;
	ev_timer_set(conn_loop(c), &c->c_timer, CONN_LINGER_MS, conn_timeout, c);
	conn_linger(c);
}

static void
conn_reply_progress(struct conn *c)
{
	int r = conn_write_reply(c);

	if (r == 0)
		return;
	if (r == -1) {
		conn_close(c);
		return;
	}
	conn_finish(c);
}

void
conn_fail(struct conn *c, enum reason r, const char *detail)
{
	struct conn_hs *hs = c->c_hs;
	char reply[CONN_REPLY_MAX];
	int n;

	c->c_reason = r;
	conn_debug(c, "answer %d %s%s%s", reason_status(r), reason_code(r),
	    detail ? ": " : "", detail ? detail : "");
	conn_hs_cancel(hs);
	conn_close_upstream(c);
	forward_free(c);
	upstream_free_hs(c);
	n = reason_response(r, hs->hs_hostport[0] ? hs->hs_hostport : NULL,
	    detail, c->c_cfg->c_path, reply, sizeof(reply));
	buf_free(&hs->hs_reply);
	if (n < 0 || buf_add(&hs->hs_reply, reply, (size_t)n) == -1) {
		conn_close(c);
		return;
	}
	c->c_state = CONN_REPLY;
	ev_timer_set(conn_loop(c), &c->c_timer, c->c_cfg->c_header_timeout_ms,
	    conn_timeout, c);
	conn_reply_progress(c);
}

void
conn_tunnel_start(struct conn *c, const char *to_client, size_t clen,
    const char *to_upstream, size_t ulen)
{
	if (relay_prefill(&c->c_down, to_client, clen) == -1 ||
	    relay_prefill(&c->c_up, to_upstream, ulen) == -1) {
		conn_close(c);
		return;
	}
	forward_free(c);
	conn_hs_free(c);
	c->c_state = CONN_TUNNEL;
	c->c_active = ev_now(conn_loop(c));
	ev_timer_set(conn_loop(c), &c->c_timer, c->c_cfg->c_idle_timeout_ms,
	    conn_timeout, c);
	conn_tunnel_pump(c);
}

/* The upstream is connected (or kept from the previous request). */
static void
conn_established(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct conn_hs *hs = c->c_hs;

	conn_debug(c, "connected after %lld ms", (long long)(ev_now(conn_loop(c))
	    - c->c_start));
	if (hs->hs_http) {
		free(c->c_ukey);
		c->c_ukey = strdup(hs->hs_hostport);
		c->c_state = CONN_EXCHANGE;
		c->c_active = ev_now(conn_loop(c));
		ev_timer_set(conn_loop(c), &c->c_timer,
		    c->c_cfg->c_idle_timeout_ms, conn_timeout, c);
		forward_start(c);
		return;
	}
	if (c->c_px->px_upstream != NULL) {
		upstream_start(c);
		return;
	}
	/* Bytes the client sent after its head go first, in order. */
	conn_tunnel_start(c, ok, sizeof(ok) - 1, hs->hs_buf + hs->hs_head.hh_len,
	    hs->hs_len - hs->hs_head.hh_len);
}

static void
conn_tunnel_pump(struct conn *c)
{
	struct relay_pool *pool = c->c_px->px_pipes;
	uint64_t before = c->c_up.rd_bytes + c->c_down.rd_bytes;
	enum relay_status up, down;

	up = relay_pump(pool, &c->c_up, c->c_cfd, &c->c_cst, c->c_ufd,
	    &c->c_ust);
	down = relay_pump(pool, &c->c_down, c->c_ufd, &c->c_ust, c->c_cfd,
	    &c->c_cst);
	if (c->c_up.rd_bytes + c->c_down.rd_bytes != before)
		c->c_active = ev_now(conn_loop(c));
	if (up == RELAY_ERROR || down == RELAY_ERROR ||
	    (up == RELAY_DONE && down == RELAY_DONE))
		conn_close(c);
}

static void
conn_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;
	unsigned ms = c->c_cfg->c_connect_timeout_ms;
	char d[32];

	(void)t;
	switch (c->c_state) {
	case CONN_HEAD:
		/* An idle keep-alive client is just dropped; a head that
		 * started and did not finish gets an answer and a record. */
		if (c->c_hs->hs_len > 0) {
			conn_note_partial(c);
			conn_fail(c, REASON_HEADER_TIMEOUT, NULL);
		}
		else
			conn_close(c);
		break;
	case CONN_AUTH:
		conn_fail(c, REASON_AUTH_TIMEOUT, NULL);
		break;
	case CONN_RESOLVE:
		conn_fail(c, REASON_DNS_FAILED, "DNS lookup timed out");
		break;
	case CONN_CONNECT:
	case CONN_UPSTREAM:
		if (ms % 1000 == 0)
			snprintf(d, sizeof(d), "after %us", ms / 1000);
		else
			snprintf(d, sizeof(d), "after %ums", ms);
		conn_fail(c, REASON_CONNECT_TIMEOUT, d);
		break;
	case CONN_TUNNEL:
	case CONN_EXCHANGE: {
		/* Activity only stamps c_active; the timer re-arms lazily. */
		uint64_t idle = ev_now(loop) - c->c_active;

		if (idle >= c->c_cfg->c_idle_timeout_ms)
			conn_close(c);
		else
			ev_timer_set(loop, &c->c_timer,
			    c->c_cfg->c_idle_timeout_ms - idle, conn_timeout, c);
		break;
	}
	default:
		conn_close(c);
		break;
	}
}

/* Try the next permitted address; fail when none is left. */
static void
conn_dial(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	char d[160], a[INET6_ADDRSTRLEN + 8];

	while (hs->hs_next < hs->hs_naddrs) {
		struct sockaddr *sa =
		    (struct sockaddr *)&hs->hs_addrs[hs->hs_next++];
		int fd, one = 1;

		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd == -1) {
			hs->hs_last_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(&c->c_ust, 0, sizeof(c->c_ust));
		if (connect(fd, sa, addr_len(sa)) == -1 &&
		    errno != EINPROGRESS) {
			hs->hs_last_errno = errno;
			close(fd);
			continue;
		}
		memcpy(&c->c_upaddr, sa, addr_len(sa));
		c->c_ufd = fd;
		if (log_debugging()) {
			addr_format(sa, a, sizeof(a));
			conn_debug(c, "dialling %s", a);
		}
		if (ev_io_add(conn_loop(c), &c->c_uio, fd, EV_READ | EV_WRITE,
		    conn_upstream_io, c) == -1) {
			hs->hs_last_errno = errno;
			close(fd);
			c->c_ufd = -1;
			continue;
		}
		c->c_state = CONN_CONNECT;
		return;	/* writability reports the outcome */
	}
	addr_format((struct sockaddr *)&hs->hs_addrs[hs->hs_naddrs - 1], a,
	    sizeof(a));
	snprintf(d, sizeof(d), "%s (%s)",
	    strerror(hs->hs_last_errno ? hs->hs_last_errno : ECONNREFUSED), a);
	conn_fail(c, REASON_CONNECT_FAILED, d);
}

/* Addresses known: keep those the policy permits and dial them. */
static void
conn_addresses(struct conn *c, const struct sockaddr_storage *addrs, size_t n)
{
	struct conn_hs *hs = c->c_hs;
	const char *cls = NULL, *first_cls = NULL;
	char first[INET6_ADDRSTRLEN] = "", d[200];
	size_t i;

	hs->hs_naddrs = hs->hs_next = 0;
	for (i = 0; i < n && i < DNS_MAX_ADDRS; i++) {
		if (log_debugging()) {
			char ip[INET6_ADDRSTRLEN];
			bool ok = policy_check_addr(c->c_cfg,
			    (const struct sockaddr *)&addrs[i], &cls);

			addr_format_ip((const struct sockaddr *)&addrs[i], ip,
			    sizeof(ip));
			conn_debug(c, "address %s: %s%s", ip, ok ? "kept" :
			    "refused, ", ok ? "" : cls);
		}
		if (policy_check_addr(c->c_cfg, (const struct sockaddr *)&addrs[i],
		    &cls)) {
			hs->hs_addrs[hs->hs_naddrs] = addrs[i];
			addr_unmap((struct sockaddr *)&hs->hs_addrs[hs->hs_naddrs]);
			hs->hs_naddrs++;
		} else if (first_cls == NULL) {
			first_cls = cls;
			addr_format_ip((const struct sockaddr *)&addrs[i], first,
			    sizeof(first));
		}
	}
	if (hs->hs_naddrs == 0) {
		snprintf(d, sizeof(d), "it resolves only to refused addresses "
		    "(%s %s)", first_cls ? first_cls : "?", first);
		conn_fail(c, REASON_ADDRESS_DENIED, d);
		return;
	}
	ev_timer_set(conn_loop(c), &c->c_timer, c->c_cfg->c_connect_timeout_ms,
	    conn_timeout, c);
	c->c_phase = ev_now(conn_loop(c));
	conn_dial(c);
}

static void
conn_resolved(void *arg, const struct sockaddr_storage *addrs, size_t n,
    const char *err)
{
	struct conn *c = arg;

	c->c_dns_ms = (int32_t)(ev_now(conn_loop(c)) - c->c_phase);
	if (n == 0) {
		conn_fail(c, REASON_DNS_FAILED, err);
		return;
	}
	conn_addresses(c, addrs, n);
}

/* Fill `ss` with the address of an IP-literal host. */
static void
conn_literal(const struct host *h, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (h->h_kind == HOST_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = h->h_ip.v4;
		sin->sin_port = htons(h->h_port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = h->h_ip.v6;
		s6->sin6_port = htons(h->h_port);
	}
}

/* Authenticated (or no users configured): decide, then resolve. */
static void
conn_authorized(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	struct host *h = &hs->hs_host;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	enum reason r;
	char d[HOST_NAME_MAX_LEN + 64];
	size_t n;

	if (hs->hs_bad[0] != '\0') {
		conn_fail(c, REASON_BAD_REQUEST, hs->hs_bad);
		return;
	}
	r = policy_check_target(c->c_cfg, h, hs->hs_http ? POLICY_HTTP :
	    POLICY_CONNECT);
	if (r != REASON_NONE) {
		if (r == REASON_PORT_DENIED)
			snprintf(d, sizeof(d), "%s", hs->hs_http ? "http_ports" :
			    "connect_ports");
		else if (r == REASON_ADDRESS_DENIED)
			snprintf(d, sizeof(d), "%s is an IP address outside "
			    "allow_cidr", h->h_name);
		else
			snprintf(d, sizeof(d), "no allow pattern matches %s",
			    h->h_name);
		conn_fail(c, r, d);
		return;
	}
	if (log_debugging()) {
		char rule[HOST_NAME_MAX_LEN + 8];

		conn_debug(c, "policy: allowed by %s %s, port %u in %s",
		    h->h_kind == HOST_NAME ? "allow" : "allow_cidr",
		    h->h_kind == HOST_NAME ? (patterns_which(
		    &c->c_cfg->c_patterns, h->h_name, rule, sizeof(rule)) ?
		    rule : "?") : h->h_name, (unsigned)h->h_port,
		    hs->hs_http ? "http_ports" : "connect_ports");
	}
	/* A kept upstream serves the same host and port, checked above;
	 * its address is checked again too, since a reload may have taken
	 * it out of allow_cidr. Otherwise the request starts afresh. */
	if (c->c_ufd != -1) {
		const char *cls;

		if (hs->hs_http && c->c_ukey != NULL &&
		    strcmp(c->c_ukey, hs->hs_hostport) == 0 &&
		    (c->c_px->px_upstream != NULL || policy_check_addr(c->c_cfg,
		    (const struct sockaddr *)&c->c_upaddr, &cls))) {
			conn_established(c);
			return;
		}
		conn_close_upstream(c);
	}
	if (c->c_px->px_upstream != NULL) {
		/* The upstream resolves and applies its own address rules. */
		struct upstream *up = c->c_px->px_upstream;

		memcpy(hs->hs_addrs, up->up_addrs,
		    up->up_naddrs * sizeof(up->up_addrs[0]));
		hs->hs_naddrs = up->up_naddrs;
		hs->hs_next = 0;
		ev_timer_set(conn_loop(c), &c->c_timer,
		    c->c_cfg->c_connect_timeout_ms, conn_timeout, c);
		c->c_phase = ev_now(conn_loop(c));
		conn_dial(c);
		return;
	}
	if (h->h_kind != HOST_NAME) {
		conn_literal(h, &addrs[0]);
		conn_addresses(c, addrs, 1);
		return;
	}
	n = hosts_lookup(&c->c_cfg->c_hosts, h->h_name, h->h_port, addrs,
	    DNS_MAX_ADDRS);
	if (n > 0) {
		conn_addresses(c, addrs, n);
		return;
	}
	c->c_state = CONN_RESOLVE;
	c->c_phase = ev_now(conn_loop(c));
	ev_timer_set(conn_loop(c), &c->c_timer, c->c_cfg->c_dns_timeout_ms + 500,
	    conn_timeout, c);
	if (dns_resolve(c->c_px->px_dns, h->h_name, h->h_port, conn_resolved, c,
	    &hs->hs_dnsq) == -1)
		conn_fail(c, REASON_DNS_FAILED, "out of memory");
}

static void
conn_auth_done(void *arg, enum auth_result r, const char *user)
{
	struct conn *c = arg;

	c->c_hs->hs_job = NULL;
	if (r != AUTH_OK) {
		conn_debug(c, "auth: wrong user name or password");
		conn_fail(c, REASON_AUTH_FAILED, NULL);
		return;
	}
	conn_debug(c, "auth: user %s", user);
	c->c_user = user;
	conn_authorized(c);
}

/* Work out the destination of the request; problems go to hs_bad (reported
 * after authentication) or, for requests that are not proxy requests at all,
 * are answered at once. Returns 0, or -1 when answered. */
static int
conn_target(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	struct http_head *hh = &hs->hs_head;
	const char *url = hs->hs_buf + hh->hh_url.off, *why;

	c->c_target = redact_target(url, hh->hh_url.len, true);
	c->c_method = http_head_method(hh);
	if (hh->hh_major != 1) {
		conn_fail(c, REASON_BAD_REQUEST, "only HTTP/1.0 and HTTP/1.1 "
		    "requests are supported");
		return -1;
	}
	if (http_head_check(hh, hs->hs_buf, &why) == -1) {
		conn_fail(c, REASON_BAD_REQUEST, why);
		return -1;
	}
	if (hh->hh_method == HTTP_CONNECT) {
		if (host_parse_authority(url, hh->hh_url.len, &hs->hs_host,
		    hs->hs_bad, sizeof(hs->hs_bad)) == 0) {
			host_format(&hs->hs_host, hs->hs_hostport,
			    sizeof(hs->hs_hostport));
			free(c->c_target);
			c->c_target = strdup(hs->hs_hostport);
			c->c_host = strdup(hs->hs_host.h_name);
			c->c_port = hs->hs_host.h_port;
		}
		return 0;
	}
	hs->hs_http = true;
	/* After an upgrade the bytes are the new protocol's; a body would
	 * leave us and the origin disagreeing on where anything ends. */
	if (http_head_upgrade(hh) && !http_head_bodyless(hh)) {
		conn_fail(c, REASON_BAD_REQUEST, "an upgrade request cannot "
		    "carry a body");
		return -1;
	}
	if (hh->hh_url.len > 0 && (url[0] == '/' || url[0] == '*')) {
		conn_fail(c, REASON_BAD_REQUEST, "this is a proxy: send "
		    "absolute-form requests (GET http://host/path) or CONNECT, "
		    "not requests for the proxy itself");
		return -1;
	}
	if (url_parse(url, hh->hh_url.len, &hs->hs_url, hs->hs_bad,
	    sizeof(hs->hs_bad)) == -1)
		return 0;
	if (hs->hs_url.u_scheme == URL_HTTPS) {
		conn_fail(c, REASON_BAD_REQUEST, "https:// URLs go through the "
		    "proxy with CONNECT (set HTTPS_PROXY, or use the client's "
		    "proxy support for HTTPS), not as plain requests");
		return -1;
	}
	hs->hs_host = hs->hs_url.u_host;
	host_format(&hs->hs_host, hs->hs_hostport, sizeof(hs->hs_hostport));
	free(c->c_target);
	c->c_target = redact_target(url, hh->hh_url.len, false);
	c->c_host = strdup(hs->hs_host.h_name);
	c->c_port = hs->hs_host.h_port;
	return 0;
}

/* A complete head is in hs_buf: decide what to do with it. */
static void
conn_request(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	const char *auth;
	struct auth_job *job;
	size_t alen;

	/* Each request is decided under the configuration in force when its
	 * head is complete (a keep-alive connection may span reloads). */
	if (c->c_cfg != c->c_px->px_cfg) {
		config_unref(c->c_cfg);
		c->c_cfg = config_ref(c->c_px->px_cfg);
	}
	if (conn_target(c) == -1)
		return;
	conn_debug(c, "request %s %s", c->c_method ? c->c_method : "?",
	    c->c_target ? c->c_target : "-");
	/* Authenticate before revealing anything about the policy. */
	if (c->c_cfg->c_have_users) {
		/* Two credentials: which one counts depends on who reads. */
		if (http_head_count(&hs->hs_head, hs->hs_buf,
		    "Proxy-Authorization") > 1) {
			conn_fail(c, REASON_BAD_REQUEST, "more than one "
			    "Proxy-Authorization header");
			return;
		}
		auth = http_head_get(&hs->hs_head, hs->hs_buf,
		    "Proxy-Authorization", &alen);
		switch (auth_check(c->c_cfg, auth, alen,
		    (struct sockaddr *)&c->c_peer, c->c_px->px_mb,
		    conn_auth_done, c, &c->c_user, &job)) {
		case AUTH_OK:
			conn_debug(c, "auth: user %s (cached)", c->c_user);
			break;
		case AUTH_MISSING:
			conn_fail(c, REASON_AUTH_REQUIRED, NULL);
			return;
		case AUTH_FAILED:
			conn_fail(c, REASON_AUTH_FAILED, NULL);
			return;
		case AUTH_AMBIGUOUS:
			conn_fail(c, REASON_BAD_REQUEST, "control characters in "
			    "the proxy credentials");
			return;
		case AUTH_THROTTLED:
			conn_fail(c, REASON_AUTH_THROTTLED, NULL);
			return;
		case AUTH_BUSY:
			conn_fail(c, REASON_AUTH_BUSY, NULL);
			return;
		case AUTH_PENDING:
			conn_debug(c, "auth: checking the password");
			hs->hs_job = job;
			c->c_state = CONN_AUTH;
			return;
		}
	}
	conn_authorized(c);
}

/* A head that failed to parse: log what was understood of it. */
static void
conn_note_partial(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	if (hs->hs_head.hh_url.len == 0 || c->c_target != NULL)
		return;
	c->c_target = redact_target(hs->hs_buf + hs->hs_head.hh_url.off,
	    hs->hs_head.hh_url.len, true);
	c->c_method = llhttp_method_name(
	    (llhttp_method_t)hs->hs_head.hh_parser.method);
}

/* Parse buffered bytes, reading more while the head is incomplete. */
static void
conn_read_head(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	for (;;) {
		ssize_t n;

		if (hs->hs_len > hs->hs_head.hh_fed) {
			switch (http_head_feed(&hs->hs_head, hs->hs_buf,
			    hs->hs_len)) {
			case HTTP_HEAD_MORE:
				break;
			case HTTP_HEAD_DONE:
				conn_request(c);
				return;
			case HTTP_HEAD_TOO_LARGE:
				conn_note_partial(c);
				conn_fail(c, REASON_HEADER_TOO_LARGE, NULL);
				return;
			case HTTP_HEAD_ERROR: {
				char d[160];

				conn_note_partial(c);
				snprintf(d, sizeof(d), "malformed request head "
				    "(%s)", hs->hs_head.hh_error);
				conn_fail(c, REASON_BAD_REQUEST, d);
				return;
			}
			}
		}
		if (!c->c_cst.can_read)
			return;
		if (hs->hs_cap - hs->hs_len < CONN_READ_CHUNK) {
			size_t cap = hs->hs_cap ? hs->hs_cap * 2 : CONN_READ_CHUNK;
			char *b;

			if (cap > HTTP_MAX_HEAD + CONN_READ_CHUNK)
				cap = HTTP_MAX_HEAD + CONN_READ_CHUNK;
			if (cap <= hs->hs_len) {
				conn_fail(c, REASON_HEADER_TOO_LARGE, NULL);
				return;
			}
			if ((b = realloc(hs->hs_buf, cap)) == NULL) {
				conn_close(c);
				return;
			}
			hs->hs_buf = b;
			hs->hs_cap = cap;
		}
		n = sockio_recv(c->c_cfd, &c->c_cst, hs->hs_buf + hs->hs_len,
		    hs->hs_cap - hs->hs_len);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		if (hs->hs_len == 0) {
			/* The first byte: the request starts now, and its
			 * head has a deadline. */
			c->c_start = c->c_active = ev_now(conn_loop(c));
			ev_wallclock(conn_loop(c), &c->c_wsec, &c->c_wmsec);
			ev_timer_set(conn_loop(c), &c->c_timer,
			    c->c_cfg->c_header_timeout_ms, conn_timeout, c);
		}
		hs->hs_len += (size_t)n;
	}
}

void
conn_next_request(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	conn_log(c);
	conn_begin_request(c);
	http_head_init(&hs->hs_head);
	hs->hs_http = false;
	hs->hs_bad[0] = hs->hs_hostport[0] = '\0';
	hs->hs_naddrs = hs->hs_next = 0;
	hs->hs_last_errno = 0;
	c->c_state = CONN_HEAD;
	ev_timer_set(conn_loop(c), &c->c_timer, hs->hs_len > 0 ?
	    c->c_cfg->c_header_timeout_ms : c->c_cfg->c_idle_timeout_ms,
	    conn_timeout, c);
	conn_read_head(c);
}

static void
conn_client_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if (c->c_state == CONN_CLOSED)
		return;
	if (events & EV_READ)
		c->c_cst.can_read = true;
	if (events & EV_WRITE)
		c->c_cst.can_write = true;
	switch (c->c_state) {
	case CONN_HEAD:
		conn_read_head(c);
		break;
	case CONN_AUTH:
	case CONN_RESOLVE:
	case CONN_CONNECT:
	case CONN_UPSTREAM:
		/* Leave request bytes in the socket until the tunnel is up;
		 * a hang-up or error ends the attempt now. */
		if (events & EV_ERROR)
			conn_close(c);
		break;
	case CONN_TUNNEL:
		conn_tunnel_pump(c);
		break;
	case CONN_EXCHANGE:
		/* A reset or hang-up (not a half-close) of the client: the
		 * answer has nobody to go to. */
		if (events & EV_ERROR) {
			c->c_abort = REASON_CLIENT_ABORTED;
			conn_close(c);
			break;
		}
		forward_pump(c);
		break;
	case CONN_REPLY:
		conn_reply_progress(c);
		break;
	case CONN_LINGER:
		conn_linger(c);
		break;
	case CONN_CLOSED:
		break;
	}
}

static void
conn_upstream_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)loop;
	if (c->c_state == CONN_CLOSED || c->c_ufd != fd)
		return;
	if (events & EV_READ)
		c->c_ust.can_read = true;
	if (events & EV_WRITE)
		c->c_ust.can_write = true;
	switch (c->c_state) {
	case CONN_TUNNEL:
		conn_tunnel_pump(c);
		return;
	case CONN_EXCHANGE:
		forward_pump(c);
		return;
	case CONN_UPSTREAM:
		upstream_pump(c);
		return;
	case CONN_CONNECT:
		break;
	default:
		/* A kept upstream that speaks or hangs up between requests
		 * is no longer usable. */
		if (events & (EV_READ | EV_ERROR))
			conn_close_upstream(c);
		return;
	}
	if (!(events & (EV_WRITE | EV_ERROR)))
		return;
	/* A failed connect reports EPOLLERR/EPOLLHUP; only then is the
	 * reason worth a syscall. */
	if ((events & EV_ERROR) &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if ((events & EV_ERROR) && err == 0)
		err = ECONNREFUSED;
	if (err != 0) {
		c->c_hs->hs_last_errno = err;
		close(c->c_ufd);
		c->c_ufd = -1;
		conn_dial(c);
		return;
	}
	c->c_connect_ms = (int32_t)(ev_now(conn_loop(c)) - c->c_phase);
	conn_established(c);
}

void
conn_accept(struct proxy *px, int fd, const struct sockaddr *peer)
{
	struct conn *c = conn_new(px, fd, peer);
	char a[INET6_ADDRSTRLEN + 8];

	if (c == NULL) {
		close(fd);
		return;
	}
	if (log_debugging()) {
		addr_format(peer, a, sizeof(a));
		conn_debug(c, "accepted from %s", a);
	}
	if (ev_io_add(px->px_loop, &c->c_cio, fd, EV_READ | EV_WRITE,
	    conn_client_io, c) == -1) {
		conn_close(c);
		return;
	}
	ev_timer_set(px->px_loop, &c->c_timer, c->c_cfg->c_header_timeout_ms,
	    conn_timeout, c);
	/* Speculative read: with TCP_DEFER_ACCEPT the head is usually here. */
	c->c_cst.can_read = true;
	c->c_cst.can_write = true;
	conn_read_head(c);
}

void
conn_refuse_busy(struct proxy *px, int fd, const struct sockaddr *peer)
{
	struct conn *c = conn_new(px, fd, peer);
	char d[64];

	if (c == NULL) {
		close(fd);
		return;
	}
	if (ev_io_add(px->px_loop, &c->c_cio, fd, EV_READ | EV_WRITE,
	    conn_client_io, c) == -1) {
		conn_close(c);
		return;
	}
	c->c_cst.can_write = true;
	snprintf(d, sizeof(d), "max_connections %u",
	    proxy_max_connections(c->c_cfg));
	c->c_state = CONN_REPLY;
	conn_fail(c, REASON_TOO_MANY_CONNECTIONS, d);
}
