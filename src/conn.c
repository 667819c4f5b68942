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
 * This file, conn_open.c (the steps before the first head: the PROXY
 * header, the TLS handshake, starting or refusing a connection) and
 * conn_review.c (what a reload does to connections open or being set up)
 * are the only ones that change a connection's state. The parts that need no I/O
 * live in modules of their own: what a request asks for (request.c), which
 * addresses may be dialled (dial.c), what the log line says (txn.c), what
 * may be reached at all (policy.c). The plain-HTTP
 * exchange (forward.c) and the upstream handshake (upstream.c) own their
 * state and return verdicts (verdict.h) that conn_act carries out. All of
 * them reach the worker only through `struct env`.
 *
 * Everything a request needs only until its tunnel is up lives in `struct
 * conn_hs`, freed when it is, so an idle tunnel costs little more than its
 * two sockets. Each side is a transport (xport.h), registered once,
 * edge-triggered, for reading and writing; its readiness flags stay set
 * until an operation would block. Closing is deferred to the end of the
 * event batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "addr.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "conn_int.h"
#include "dial.h"
#include "dns.h"
#include "env.h"
#include "forward.h"
#include "log.h"
#include "policy.h"
#include "pool.h"
#include "redact.h"
#include "request.h"
#include "sni.h"
#include "stats.h"
#include "tally.h"
#include "tls.h"
#include "upstream.h"

#define CONN_READ_CHUNK		4096
#define CONN_LINGER_MS		2000
#define CONN_REPLY_MAX		2048
#define CONN_ESTABLISHED	"HTTP/1.1 200 Connection established\r\n\r\n"

/* What one request needs until its tunnel is up or its exchange is done. */
struct conn_hs {
	struct request		 hs_rq;		/* its bytes and its target */
	struct auth_job		*hs_job;
	struct dns_query	*hs_dnsq;
	struct dial		 hs_dial;	/* the addresses to try */
	struct buf		 hs_reply;	/* our answer */
	bool			 hs_answered;	/* 200 said before dialling (the
						 * SNI check): no answer now */
	char			 hs_inline[CONN_READ_CHUNK];	/* the head's
						 * first buffer (hs_rq.rq_inline) */
};

static void conn_upstream_io(struct ev_loop *, int, unsigned, void *);
static void conn_timeout(struct ev_loop *, struct ev_timer *, void *);
static void conn_note_partial(struct conn *);
static void conn_dial(struct conn *c);
static void conn_tunnel_pump(struct conn *c);
static void conn_next_request(struct conn *c);
static void conn_sni_start(struct conn *c);
static void conn_sni_refuse(struct conn *c, enum reason r, const char *why);
static void conn_route(struct conn *c);
static void conn_dial_all(struct conn *c);

void
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

struct ev_loop *
conn_loop(const struct conn *c)
{
	return c->c_env->e_loop;
}

/* Arm the connection's one timer `ms` from now. */
void
conn_timer(struct conn *c, uint64_t ms)
{
	ev_timer_set(conn_loop(c), &c->c_timer, ms, conn_timeout, c);
}

static void
conn_close_upstream(struct conn *c)
{
	xport_close(&c->c_ux);
	free(c->c_ukey);
	c->c_ukey = NULL;
	c->c_utunnel = false;
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
	request_free(&hs->hs_rq);
	buf_free(&hs->hs_reply);
	if (c->c_env->e_hs_pool != NULL)
		pool_put(c->c_env->e_hs_pool, hs);
	else
		free(hs);
	c->c_hs = NULL;
	if (c->c_env->e_released != NULL)
		c->c_env->e_released(c->c_env->e_owner);
}

static void
conn_forward_free(struct conn *c)
{
	forward_free(c->c_fwd);
	c->c_fwd = NULL;
}

static void
conn_upstream_free(struct conn *c)
{
	upstream_hs_free(c->c_uhs);
	c->c_uhs = NULL;
}

/* Count the record `r` of the current request, as it is logged. */
static void
conn_count(struct conn *c, const struct logrec *r)
{
	struct stats_txn st = {
		.st_policy = c->c_txn.t_policy, .st_method = c->c_txn.t_method,
		.st_reason = c->c_txn.t_reason, .st_abort = c->c_txn.t_abort,
		.st_report = c->c_txn.t_report,
		.st_client = r->lr_client, .st_user = r->lr_user,
		.st_host = r->lr_host, .st_port = r->lr_port,
		.st_target = r->lr_url, .st_bytes_down = r->lr_bytes,
		.st_bytes_up = r->lr_bytes_up, .st_dns_ms = r->lr_dns_ms,
		.st_connect_ms = r->lr_connect_ms, .st_wall = r->lr_sec,
	};

	stats_txn(c->c_env->e_stats, &st, ev_now(conn_loop(c)));
}

/* Log the current request once (no-op if already logged). */
static void
conn_log(struct conn *c)
{
	char client[INET6_ADDRSTRLEN], peer[INET6_ADDRSTRLEN], line[600];
	struct logrec r;

	if (c->c_txn.t_logged)
		return;
	c->c_txn.t_logged = true;
	addr_format_ip((struct sockaddr *)&c->c_peer, client, sizeof(client));
	addr_format_ip((struct sockaddr *)&c->c_upaddr, peer, sizeof(peer));
	txn_record(&c->c_txn, ev_now(conn_loop(c)), client, peer,
	    c->c_env->e_upstream != NULL, c->c_down.rd_bytes,
	    c->c_up.rd_bytes, &r);
	/* sluice run's live report. */
	if (c->c_env->e_report_denials &&
	    txn_denial_line(&c->c_txn, line, sizeof(line)))
		log_warnx("%s", line);
	accesslog_write(c->c_env->e_log, &r);
	conn_count(c, &r);
}

static void
conn_free(struct ev_loop *loop, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	relay_dir_free(c->c_env->e_pipes, &c->c_up);
	relay_dir_free(c->c_env->e_pipes, &c->c_down);
	txn_forget(&c->c_txn);
	free(c->c_peer_id);
	config_unref(c->c_cfg);
	c->c_cfg = NULL;
	free(c);
}

/* The connection is closing in state `c_state`: make the record say what
 * the request came to. A request that had not been answered is logged as
 * what it was (the client left, or we are shutting down), never as a
 * success; an idle keep-alive connection (no byte of a new head) leaves no
 * record. */
static void
conn_settle(struct conn *c)
{
	switch (c->c_state) {
	case CONN_PROXY:
	case CONN_TLS:
		if (c->c_txn.t_reason == REASON_NONE)
			return;		/* left without a word */
		break;
	case CONN_HEAD:
		if (c->c_hs == NULL || c->c_hs->hs_rq.rq_len == 0)
			return;
		conn_note_partial(c);
		/* FALLTHROUGH */
	case CONN_AUTH:
	case CONN_SNI:
	case CONN_RESOLVE:
	case CONN_CONNECT:
	case CONN_UPSTREAM:
		txn_unanswered(&c->c_txn);
		break;
	case CONN_EXCHANGE:
		txn_cut(&c->c_txn);
		break;
	default:
		break;
	}
	conn_log(c);
}

/* Close everything; `c` is freed after the batch. */
void
conn_close(struct conn *c)
{
	struct txn *t = &c->c_txn;

	if (c->c_state == CONN_CLOSED)
		return;
	conn_debug(c, "closed: %llu bytes to the client, %llu to the "
	    "destination%s%s", (unsigned long long)(t->t_sent +
	    c->c_down.rd_bytes), (unsigned long long)(t->t_sent_up +
	    c->c_up.rd_bytes), t->t_reason != REASON_NONE ? ", " : "",
	    t->t_reason != REASON_NONE ? reason_code(t->t_reason) : "");
	conn_settle(c);
	if (c->c_counted) {
		stats_tunnel(c->c_env->e_stats, c->c_count_policy,
		    c->c_count_user, -1);
		c->c_counted = false;
	}
	if (c->c_slot != NULL) {
		tally_give(c->c_env->e_tunnels, c->c_slot);
		c->c_slot = NULL;
	}
	c->c_state = CONN_CLOSED;
	ev_timer_stop(conn_loop(c), &c->c_timer);
	conn_hs_free(c);
	conn_forward_free(c);
	conn_upstream_free(c);
	xport_close(&c->c_cx);
	conn_close_upstream(c);
	ev_defer(conn_loop(c), &c->c_defer, conn_free, c);
	c->c_env->e_closed(c->c_env->e_owner, c);
}

void
conn_abort(struct conn *c)
{
	c->c_txn.t_unfinished = REASON_SHUTDOWN;
	conn_close(c);
}

/* Decide the request under policy `p`, and say so in its record. */
static void
conn_judge_under(struct conn *c, const struct policy *p)
{
	c->c_policy = p;
	/* Without policy blocks there is one policy: lines need not say. */
	c->c_txn.t_policy = c->c_cfg->c_npolicies > 1 ?
	    config_policy_name(p) : NULL;
}

/* Start the record of a new request: time, and nothing decided yet. */
static void
conn_begin_request(struct conn *c)
{
	int64_t wsec;
	unsigned wmsec;

	ev_wallclock(conn_loop(c), &wsec, &wmsec);
	txn_begin(&c->c_txn, ev_now(conn_loop(c)), wsec, wmsec);
	c->c_txn.t_tls = tls_version(&c->c_cx);
	/* Until an identity says otherwise (conn_authorized). */
	conn_judge_under(c, config_default_policy(c->c_cfg));
}

size_t
conn_handshake_size(void)
{
	return sizeof(struct conn_hs);
}

struct conn *
conn_new(const struct env *env, int fd, const struct sockaddr *peer)
{
	static atomic_uint_fast64_t next_id;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->c_hs = env->e_hs_pool != NULL ? pool_get(env->e_hs_pool) :
	    malloc(sizeof(*c->c_hs));
	if (c->c_hs == NULL) {
		free(c);
		return NULL;
	}
	memset(c->c_hs, 0, offsetof(struct conn_hs, hs_inline));
	c->c_hs->hs_rq.rq_inline = c->c_hs->hs_inline;
	c->c_hs->hs_rq.rq_inline_cap = sizeof(c->c_hs->hs_inline);
	c->c_id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) +
	    1;
	c->c_env = env;
	c->c_cfg = config_ref(env->e_cfg);
	xport_tcp(&c->c_cx, fd);
	xport_none(&c->c_ux);
	c->c_state = CONN_HEAD;
	conn_begin_request(c);
	request_reset(&c->c_hs->hs_rq);
	memcpy(&c->c_peer, peer, addr_len(peer) <= sizeof(c->c_peer) ?
	    addr_len(peer) : sizeof(c->c_peer));
	return c;
}

/* Write as much of the pending reply as the socket takes. Returns 1 when all
 * is written, 0 when blocked, -1 on error. */
static int
conn_write_reply(struct conn *c)
{
	struct buf *b = &c->c_hs->hs_reply;
	ssize_t n = xport_write(&c->c_cx, b->b_data + b->b_off, buf_used(b));

	if (n == -1)
		return -1;
	buf_consume(b, (size_t)n);
	c->c_txn.t_sent += (uint64_t)n;
	return buf_used(b) == 0 ? 1 : 0;
}

/* Read and discard until EOF; close on EOF, error, or the linger timer. */
static void
conn_linger(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = xport_read(&c->c_cx, sink, sizeof(sink));

		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		conn_close(c);
		return;
	}
}

/* Half-close the client and drain it briefly before closing, so that
 * unread bytes do not turn what we sent into a reset. */
static void
conn_finish(struct conn *c)
{
	conn_log(c);
	conn_close_upstream(c);
	(void)xport_shutdown(&c->c_cx);
	c->c_state = CONN_LINGER;
	conn_timer(c, CONN_LINGER_MS);
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

/* Answer with an error (closing any upstream) and end the connection. */
void
conn_fail(struct conn *c, enum reason r, const char *detail)
{
	struct conn_hs *hs = c->c_hs;
	char reply[CONN_REPLY_MAX];
	int n;

	txn_refuse(&c->c_txn, r, detail);
	conn_debug(c, "answer %d %s%s%s", reason_status(r), reason_code(r),
	    detail ? ": " : "", detail ? detail : "");
	if (hs->hs_answered) {
		/* The client had our 200 and speaks TLS to the destination
		 * now: an HTTP answer would be noise to it. */
		conn_close(c);
		return;
	}
	conn_hs_cancel(hs);
	conn_close_upstream(c);
	conn_forward_free(c);
	conn_upstream_free(c);
	n = reason_response(r, hs->hs_rq.rq_hostport[0] ?
	    hs->hs_rq.rq_hostport : NULL, detail, c->c_cfg->c_path, reply,
	    sizeof(reply));
	buf_free(&hs->hs_reply);
	if (n < 0 || buf_add(&hs->hs_reply, reply, (size_t)n) == -1) {
		conn_close(c);
		return;
	}
	c->c_state = CONN_REPLY;
	conn_timer(c, c->c_cfg->c_header_timeout_ms);
	conn_reply_progress(c);
}

/* Switch to a two-way tunnel; `to_client` and `to_upstream` are bytes
 * already read that must go first (copied before anything is freed). */
static void
conn_tunnel_start(struct conn *c, const char *to_client, size_t clen,
    const char *to_upstream, size_t ulen)
{
	if (relay_prefill(&c->c_down, to_client, clen) == -1 ||
	    relay_prefill(&c->c_up, to_upstream, ulen) == -1) {
		conn_close(c);
		return;
	}
	conn_forward_free(c);
	conn_upstream_free(c);
	conn_hs_free(c);
	c->c_state = CONN_TUNNEL;
	c->c_txn.t_active = ev_now(conn_loop(c));
	c->c_count_policy = c->c_txn.t_policy;
	c->c_count_user = c->c_txn.t_user;
	c->c_counted = true;
	stats_tunnel(c->c_env->e_stats, c->c_count_policy, c->c_count_user, 1);
	conn_timer(c, c->c_cfg->c_idle_timeout_ms);
	/* A reload that came while it was being set up (a password check,
	 * DNS, a slow connect) judges it now, as it judged the open ones. */
	conn_review(c);
	if (c->c_state == CONN_TUNNEL)
		conn_tunnel_pump(c);
}

static void conn_exchange(struct conn *c);

/* The upstream proxy opened a tunnel to the destination. A CONNECT gets
 * our 200, then whatever followed the upstream's answer, and the client's
 * bytes after its head go the other way; a plain-HTTP exchange now runs
 * inside it, so the tunnel must be silent until asked. */
static void
conn_upstream_open(struct conn *c, const struct verdict *v)
{
	struct request *rq = &c->c_hs->hs_rq;

	if (rq->rq_http) {
		if (v->v_clen > 0) {
			conn_fail(c, REASON_UPSTREAM_DENIED, "the tunnel "
			    "through the upstream proxy spoke before the "
			    "request");
			return;
		}
		conn_upstream_free(c);
		c->c_utunnel = true;
		conn_exchange(c);
		return;
	}
	if (!c->c_hs->hs_answered && relay_prefill(&c->c_down,
	    CONN_ESTABLISHED, sizeof(CONN_ESTABLISHED) - 1) == -1) {
		conn_close(c);
		return;
	}
	conn_tunnel_start(c, v->v_to_client, v->v_clen, rq->rq_buf +
	    rq->rq_head.hh_len, rq->rq_len - rq->rq_head.hh_len);
}

/* Carry out what forward.c or upstream.c decided. */
static void
conn_act(struct conn *c, const struct verdict *v)
{
	switch (v->v_kind) {
	case VERDICT_WAIT:
		break;
	case VERDICT_KEEP_ALIVE:
		conn_forward_free(c);
		if (!v->v_reuse)
			xport_close(&c->c_ux);
		conn_next_request(c);
		break;
	case VERDICT_CLOSE:
		conn_finish(c);
		break;
	case VERDICT_FAIL:
		conn_fail(c, v->v_reason, v->v_detail);
		break;
	case VERDICT_ABORT:
		if (v->v_reason != REASON_NONE)
			c->c_txn.t_abort = v->v_reason;
		conn_close(c);
		break;
	case VERDICT_TUNNEL:
		if (c->c_state == CONN_UPSTREAM)
			conn_upstream_open(c, v);
		else
			conn_tunnel_start(c, v->v_to_client, v->v_clen,
			    v->v_to_upstream, v->v_ulen);
		break;
	}
}

/* A plain-HTTP request's upstream is connected (or kept): forward it. */
static void
conn_exchange(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	struct verdict v;

	free(c->c_ukey);
	c->c_ukey = strdup(hs->hs_rq.rq_hostport);
	c->c_state = CONN_EXCHANGE;
	c->c_txn.t_active = ev_now(conn_loop(c));
	conn_timer(c, c->c_cfg->c_idle_timeout_ms);
	c->c_fwd = forward_new(c->c_env, c->c_cfg, &hs->hs_rq, &c->c_cx,
	    &c->c_ux, &c->c_txn, (const struct sockaddr *)&c->c_peer);
	if (c->c_fwd == NULL) {
		conn_close(c);
		return;
	}
	conn_review(c);		/* a reload came meanwhile: see above */
	if (c->c_state != CONN_EXCHANGE)
		return;
	forward_start(c->c_fwd, &v);
	conn_act(c, &v);
}

/* Ask the upstream proxy for a tunnel to the destination. */
static void
conn_upstream_ask(struct conn *c)
{
	struct verdict v;

	c->c_uhs = upstream_hs_new(c->c_env->e_upstream,
	    c->c_hs->hs_rq.rq_hostport);
	if (c->c_uhs == NULL) {
		conn_close(c);
		return;
	}
	upstream_hs_pump(c->c_uhs, &c->c_ux, &v);
	conn_act(c, &v);
}

/* Make progress on the TLS handshake with an https:// upstream, whose
 * certificate must be valid for the name the URL gave. */
static void
conn_upstream_tls_step(struct conn *c)
{
	const struct upstream *up = c->c_env->e_upstream;
	char why[160], d[512];

	switch (tls_handshake(&c->c_ux, why, sizeof(why))) {
	case TLS_AGAIN:
		return;
	case TLS_DONE:
		conn_debug(c, "TLS to the upstream: %s", tls_version(&c->c_ux));
		conn_upstream_ask(c);
		return;
	default:
		snprintf(d, sizeof(d), "TLS to the upstream proxy %s failed: %s",
		    up->up_name, why[0] ? why : "the connection was closed");
		conn_fail(c, REASON_UPSTREAM_DENIED, d);
		return;
	}
}

/* Every request goes through the upstream proxy as a tunnel it opens:
 * speak TLS to it first when its URL is https://. */
static void
conn_upstream_connect(struct conn *c)
{
	const struct upstream *up = c->c_env->e_upstream;

	c->c_state = CONN_UPSTREAM;
	if (up->up_tls == NULL) {
		conn_upstream_ask(c);
		return;
	}
	if (tls_connect(&c->c_ux, up->up_tls, up->up_host) == -1) {
		conn_close(c);
		return;
	}
	c->c_ux.x_can_read = c->c_ux.x_can_write = true;
	conn_upstream_tls_step(c);
}

/* The upstream is connected (or kept from the previous request). */
static void
conn_established(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;

	conn_debug(c, "connected after %lld ms", (long long)(ev_now(conn_loop(c))
	    - c->c_txn.t_start));
	if (c->c_env->e_upstream != NULL && !c->c_utunnel)
		conn_upstream_connect(c);	/* plain HTTP too */
	else if (rq->rq_http)
		conn_exchange(c);
	else	/* Bytes the client sent after its head go first, in order. */
		conn_tunnel_start(c, CONN_ESTABLISHED, c->c_hs->hs_answered ?
		    0 : sizeof(CONN_ESTABLISHED) - 1, rq->rq_buf +
		    rq->rq_head.hh_len, rq->rq_len - rq->rq_head.hh_len);
}

static void
conn_tunnel_pump(struct conn *c)
{
	struct relay_pool *pool = c->c_env->e_pipes;
	uint64_t before = c->c_up.rd_bytes + c->c_down.rd_bytes;
	enum relay_status up, down;

	up = relay_pump(pool, &c->c_up, &c->c_cx, &c->c_ux);
	down = relay_pump(pool, &c->c_down, &c->c_ux, &c->c_cx);
	if (c->c_up.rd_bytes + c->c_down.rd_bytes != before)
		c->c_txn.t_active = ev_now(conn_loop(c));
	if (up == RELAY_ERROR || down == RELAY_ERROR)
		conn_debug(c, "tunnel failed (%s): %s", up == RELAY_ERROR ?
		    "client to destination" : "destination to client",
		    strerror(errno));
	if (up == RELAY_ERROR || down == RELAY_ERROR ||
	    (up == RELAY_DONE && down == RELAY_DONE))
		conn_close(c);
}

/* A plain-HTTP origin stayed silent for idle_timeout while the client
 * waited: a 504 if nothing was sent yet, else the answer breaks off. */
static void
conn_origin_timeout(struct conn *c)
{
	unsigned ms = c->c_cfg->c_idle_timeout_ms;
	char d[64];

	if (ms % 1000 == 0)
		snprintf(d, sizeof(d), "nothing within idle_timeout %us",
		    ms / 1000);
	else
		snprintf(d, sizeof(d), "nothing within idle_timeout %ums", ms);
	if (c->c_txn.t_sent == 0) {
		conn_fail(c, REASON_ORIGIN_TIMEOUT, d);
		return;
	}
	c->c_txn.t_abort = REASON_ORIGIN_TIMEOUT;
	conn_close(c);
}

/* The timer of a tunnel or an exchange at `now`. Activity only stamps
 * t_active; the timer re-arms lazily. */
static void
conn_idle_timeout(struct conn *c, uint64_t now)
{
	uint64_t idle = now - c->c_txn.t_active;

	if (idle < c->c_cfg->c_idle_timeout_ms)
		conn_timer(c, c->c_cfg->c_idle_timeout_ms - idle);
	else if (c->c_fwd != NULL && forward_awaits_origin(c->c_fwd))
		conn_origin_timeout(c);
	else {
		/* A tunnel ends as it does; a stalled exchange is the
		 * client's (not reading, or not sending). */
		c->c_txn.t_unfinished = REASON_IDLE_TIMEOUT;
		conn_close(c);
	}
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
		if (c->c_hs->hs_rq.rq_len == 0) {
			conn_close(c);
			break;
		}
		conn_note_partial(c);
		conn_fail(c, REASON_HEADER_TIMEOUT, NULL);
		break;
	case CONN_PROXY:
		conn_pp_timeout(c);
		break;
	case CONN_TLS:
		/* A handshake begun and not finished is on record. */
		conn_debug(c, "TLS handshake timed out");
		c->c_txn.t_reason = REASON_TLS_FAILED;
		conn_close(c);
		break;
	case CONN_AUTH:
		conn_fail(c, REASON_AUTH_TIMEOUT, NULL);
		break;
	case CONN_SNI:
		conn_sni_refuse(c, REASON_NOT_TLS, "no complete ClientHello "
		    "within header_timeout");
		break;
	case CONN_RESOLVE:
		conn_fail(c, REASON_DNS_FAILED, "DNS lookup timed out");
		break;
	case CONN_CONNECT:
	case CONN_UPSTREAM:
		snprintf(d, sizeof(d), ms % 1000 ? "after %ums" : "after %us",
		    ms % 1000 ? ms : ms / 1000);
		conn_fail(c, REASON_CONNECT_TIMEOUT, d);
		break;
	case CONN_TUNNEL:
	case CONN_EXCHANGE:
		conn_idle_timeout(c, ev_now(loop));
		break;
	default:
		conn_close(c);
		break;
	}
}

/* Try the next permitted address; fail when none is left. */
static void
conn_dial(struct conn *c)
{
	struct dial *d = &c->c_hs->hs_dial;
	const struct sockaddr *sa;
	char why[160], a[INET6_ADDRSTRLEN + 8];
	int fd;

	while ((fd = dial_next(d, &sa)) != -1) {
		memcpy(&c->c_upaddr, sa, addr_len(sa));
		xport_tcp(&c->c_ux, fd);
		if (log_debugging()) {
			addr_format(sa, a, sizeof(a));
			conn_debug(c, "dialling %s", a);
		}
		if (ev_io_add(conn_loop(c), &c->c_uio, fd, EV_READ | EV_WRITE,
		    conn_upstream_io, c) == -1) {
			dial_failed(d, errno);
			xport_close(&c->c_ux);
			continue;
		}
		c->c_state = CONN_CONNECT;
		return;	/* writability reports the outcome */
	}
	dial_failure(d, why, sizeof(why));
	conn_fail(c, REASON_CONNECT_FAILED, why);
}

/* Start dialling what hs_dial holds, under connect_timeout. A tunnel
 * behind the SNI check (sni require, a port in sni_ports) first says 200
 * and reads the ClientHello: nothing is dialled for a fronted name. */
static void
conn_dial_all(struct conn *c)
{
	const struct conn_hs *hs = c->c_hs;

	if (!conn_setup_holds(c, hs->hs_rq.rq_http))
		return;
	if (!hs->hs_rq.rq_http && !hs->hs_answered && !c->c_policy->p_sni_off &&
	    config_sni_port(c->c_cfg, hs->hs_rq.rq_host.h_port)) {
		conn_sni_start(c);
		return;
	}
	conn_timer(c, c->c_cfg->c_connect_timeout_ms);
	c->c_phase = ev_now(conn_loop(c));
	conn_dial(c);
}

/* Addresses known: keep those the policy permits and dial them. */
static void
conn_addresses(struct conn *c, const struct sockaddr_storage *addrs, size_t n)
{
	char why[200], ip[INET6_ADDRSTRLEN];
	const char *cls;
	size_t i;

	for (i = 0; log_debugging() && i < n && i < DNS_MAX_ADDRS; i++) {
		bool ok = policy_check_addr(c->c_policy,
		    (const struct sockaddr *)&addrs[i], &cls);

		addr_format_ip((const struct sockaddr *)&addrs[i], ip,
		    sizeof(ip));
		conn_debug(c, "address %s: %s%s", ip, ok ? "kept" :
		    "refused, ", ok ? "" : cls);
	}
	if (dial_select(&c->c_hs->hs_dial, c->c_policy, addrs, n, why,
	    sizeof(why)) == 0) {
		conn_fail(c, REASON_ADDRESS_DENIED, why);
		return;
	}
	conn_dial_all(c);
}

static void
conn_resolved(void *arg, const struct sockaddr_storage *addrs, size_t n,
    const char *err)
{
	struct conn *c = arg;

	c->c_txn.t_dns_ms = (int32_t)(ev_now(conn_loop(c)) - c->c_phase);
	if (n == 0) {
		conn_fail(c, REASON_DNS_FAILED, err);
		return;
	}
	conn_addresses(c, addrs, n);
}

/* max_tunnels: count this tunnel for its identity, or answer 429 when the
 * identity has as many open as its policy allows. Returns false when
 * answered. */
static bool
conn_count_tunnel(struct conn *c)
{
	unsigned max = c->c_policy->p_max_tunnels;
	const char *who = c->c_txn.t_user;
	char d[300];

	if (max == 0 || who == NULL || c->c_env->e_tunnels == NULL ||
	    c->c_slot != NULL)
		return true;
	if (tally_take(c->c_env->e_tunnels, who, max)) {
		c->c_slot = who;
		return true;
	}
	snprintf(d, sizeof(d), "%s has %u tunnels open, the most policy %s "
	    "allows", who, max, config_policy_name(c->c_policy));
	conn_fail(c, REASON_TOO_MANY_TUNNELS, d);
	return false;
}

/* Is the request allowed by the policy? Answers it if not. */
static bool
conn_allowed(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	const struct host *h = &rq->rq_host;
	char d[HOST_NAME_MAX_LEN + 64], rule[HOST_NAME_MAX_LEN + 8];
	enum reason r;

	r = policy_check_target(c->c_policy, h, rq->rq_http ?
	    POLICY_HTTP : POLICY_CONNECT, rule, sizeof(rule));
	if (r != REASON_NONE)
		policy_detail(r, h, rq->rq_http ? POLICY_HTTP : POLICY_CONNECT,
		    rule, d, sizeof(d));
	if (r != REASON_NONE && c->c_policy->p_report) {
		/* Rolling a new allowlist out: say what it would refuse. */
		conn_debug(c, "policy: report only, would refuse %s: %s",
		    reason_code(r), d);
		c->c_txn.t_report = r;
		return true;
	}
	if (r != REASON_NONE) {
		conn_fail(c, r, d);
		return false;
	}

	if (log_debugging())
		conn_debug(c, "policy: allowed by %s %s, port %u in %s",
		    h->h_kind == HOST_NAME ? "allow" : "allow_cidr",
		    h->h_kind == HOST_NAME ? rule : h->h_name,
		    (unsigned)h->h_port,
		    rq->rq_http ? "http_ports" : "connect_ports");
	return true;
}

/* Can the upstream kept from the previous request serve this one? It
 * served the same host and port, checked again above; its address is
 * checked again too, since a reload may have taken it out of allow_cidr. */
static bool
conn_keep_upstream(struct conn *c)
{
	const struct request *rq = &c->c_hs->hs_rq;
	const char *cls;

	return rq->rq_http && c->c_ukey != NULL &&
	    strcmp(c->c_ukey, rq->rq_hostport) == 0 &&
	    (c->c_env->e_upstream != NULL || policy_check_addr(
	    c->c_policy, (const struct sockaddr *)&c->c_upaddr, &cls));
}

/* The SNI check failed on `r`: a TLS client is told with a fatal
 * access_denied alert (its own error then says so), anything else is cut
 * off; the record says why. */
static void
conn_sni_refuse(struct conn *c, enum reason r, const char *why)
{
	static const char alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49 };
	ssize_t n;

	conn_debug(c, "SNI: %s: %s", reason_code(r), why);
	txn_refuse(&c->c_txn, r, why);
	if (r != REASON_NOT_TLS && (n = xport_write(&c->c_cx, alert,
	    sizeof(alert))) > 0)
		c->c_txn.t_sent += (uint64_t)n;
	conn_close(c);
}

/* What the ClientHello came to (`st`, `hello`): dial, or refuse. In report
 * mode a refusal is noted and the tunnel goes on. */
static void
conn_sni_checked(struct conn *c, enum sni_status st,
    const struct sni_hello *hello)
{
	char why[SNI_NAME_MAX + HOST_NAME_MAX_LEN + 64];
	enum reason r;

	if (st == SNI_OK && hello->sh_has_sni && c->c_txn.t_sni == NULL)
		c->c_txn.t_sni = strdup(hello->sh_name);	/* NULL: not logged */
	r = policy_check_sni(c->c_policy, &c->c_hs->hs_rq.rq_host, st, hello,
	    c->c_cfg->c_allow_ech, why, sizeof(why));
	if (r != REASON_NONE && c->c_policy->p_report) {
		conn_debug(c, "SNI: report only, would refuse %s: %s",
		    reason_code(r), why);
		if (c->c_txn.t_report == REASON_NONE)
			c->c_txn.t_report = r;
		r = REASON_NONE;
	}
	if (r != REASON_NONE) {
		conn_sni_refuse(c, r, why);
		return;
	}
	conn_debug(c, "SNI: %s", hello->sh_has_sni ? hello->sh_name :
	    "none, to an address");
	conn_dial_all(c);
}

/* Read what the client sent into the request buffer (room reserved).
 * Returns the bytes read, 0 when none are waiting, or -1 when `c` was
 * closed (end of stream, or an error). */
static ssize_t
conn_read_more(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	ssize_t n = xport_read(&c->c_cx, rq->rq_buf + rq->rq_len,
	    rq->rq_cap - rq->rq_len);

	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		conn_close(c);
		return -1;
	}
	rq->rq_len += (size_t)n;
	return n;
}

/* Say 200 (the client sends its ClientHello only then), then read until
 * the ClientHello is complete or cannot be one. Called again on every
 * readiness change. */
static void
conn_sni_step(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	struct sni_hello hello;
	enum sni_status st;

	if (buf_used(&c->c_hs->hs_reply) > 0 && conn_write_reply(c) == -1) {
		conn_close(c);
		return;
	}
	while ((st = sni_parse((const unsigned char *)rq->rq_buf +
	    rq->rq_head.hh_len, rq->rq_len - rq->rq_head.hh_len, &hello)) ==
	    SNI_MORE) {
		if (!c->c_cx.x_can_read)
			return;
		if (request_reserve(rq, CONN_READ_CHUNK) != 0) {
			conn_close(c);	/* out of memory */
			return;
		}
		if (conn_read_more(c) <= 0)
			return;
	}
	conn_sni_checked(c, st, &hello);
}

static void
conn_sni_start(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	if (buf_add(&hs->hs_reply, CONN_ESTABLISHED,
	    sizeof(CONN_ESTABLISHED) - 1) == -1) {
		conn_close(c);
		return;
	}
	hs->hs_answered = true;
	c->c_state = CONN_SNI;
	conn_timer(c, c->c_cfg->c_header_timeout_ms);
	conn_sni_step(c);
}

/* Authenticated (or no users configured): decide, then find the way. */
static void
conn_authorized(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	if (hs->hs_rq.rq_bad[0] != '\0') {
		conn_fail(c, REASON_BAD_REQUEST, hs->hs_rq.rq_bad);
		return;
	}
	conn_judge_under(c, config_policy_of(c->c_cfg, c->c_txn.t_user));
	if (!conn_allowed(c) || (!hs->hs_rq.rq_http && !conn_count_tunnel(c)))
		return;
	conn_route(c);
}

/* Allowed: find the way to the destination. */
static void
conn_route(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	const struct host *h = &hs->hs_rq.rq_host;
	const struct upstream *up = c->c_env->e_upstream;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	size_t n;

	if (xport_open(&c->c_ux)) {
		if (conn_keep_upstream(c)) {
			conn_established(c);
			return;
		}
		conn_close_upstream(c);
	}
	if (up != NULL) {
		/* The upstream resolves and applies its own address rules. */
		dial_use(&hs->hs_dial, up->up_addrs, up->up_naddrs);
		conn_dial_all(c);
		return;
	}
	if (h->h_kind != HOST_NAME) {
		dial_literal(h, &addrs[0]);
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
	conn_timer(c, c->c_cfg->c_dns_timeout_ms + 500);
	if (dns_resolve(c->c_env->e_dns, h->h_name, h->h_port, conn_resolved, c,
	    &hs->hs_dnsq) == -1)
		conn_fail(c, REASON_DNS_FAILED, "out of memory");
}

/* A password check's outcome, for the metrics and the status page. */
static void
conn_count_auth(struct conn *c, enum stats_auth r)
{
	char client[INET6_ADDRSTRLEN];

	/* Only a failure is kept by address: format it only then. */
	if (r == STATS_AUTH_FAILED)
		addr_format_ip((struct sockaddr *)&c->c_peer, client,
		    sizeof(client));
	stats_auth(c->c_env->e_stats, r, r == STATS_AUTH_FAILED ? client :
	    NULL, ev_now(conn_loop(c)));
}

static void
conn_auth_done(void *arg, enum auth_result r, const char *user)
{
	struct conn *c = arg;

	c->c_hs->hs_job = NULL;
	if (r == AUTH_OK && !conn_user_holds(c, c->c_env->e_cfg, user)) {
		/* A reload while the hash ran changed the password or removed
		 * the user: the answer is the one the client gets now. */
		conn_count_auth(c, STATS_AUTH_FAILED);
		conn_debug(c, "auth: user %s: password changed or user removed "
		    "by a reload during the check", user);
		conn_fail(c, REASON_AUTH_FAILED, NULL);
		return;
	}
	conn_count_auth(c, r == AUTH_OK ? STATS_AUTH_OK : STATS_AUTH_FAILED);
	if (r != AUTH_OK) {
		conn_debug(c, "auth: wrong user name or password");
		conn_fail(c, REASON_AUTH_FAILED, NULL);
		return;
	}
	conn_debug(c, "auth: user %s", user);
	c->c_txn.t_user = user;
	c->c_txn.t_auth = "password";
	conn_authorized(c);
}

/* Work out what the request asks for and put it on its record. Problems
 * with the target wait for authentication (rq_bad); requests that are not
 * proxy requests at all are answered at once. Returns 0, or -1 when
 * answered. */
static int
conn_target(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	struct txn *t = &c->c_txn;
	enum request_class cls;
	const char *why = NULL;

	cls = request_classify(rq, &why);
	t->t_method = http_head_method(&rq->rq_head);
	t->t_target = request_log_target(rq, cls);
	if (cls == REQUEST_REFUSE) {
		conn_fail(c, REASON_BAD_REQUEST, why);
		return -1;
	}
	if (cls == REQUEST_OK) {
		t->t_host = strdup(rq->rq_host.h_name);
		t->t_port = rq->rq_host.h_port;
	}
	return 0;
}

/* Check the credentials: 0 when the request may go on now, 1 when a
 * hashing thread checks them (conn_auth_done follows), -1 when answered. */
static int
conn_authenticate(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	struct auth_job *job;
	const char *auth;
	size_t alen;

	/* Two credentials: which one counts depends on who reads. */
	if (http_head_count(&rq->rq_head, rq->rq_buf,
	    "Proxy-Authorization") > 1) {
		conn_fail(c, REASON_BAD_REQUEST, "more than one "
		    "Proxy-Authorization header");
		return -1;
	}
	auth = http_head_get(&rq->rq_head, rq->rq_buf, "Proxy-Authorization",
	    &alen);
	switch (auth_check(c->c_cfg, auth, alen, (struct sockaddr *)&c->c_peer,
	    c->c_env->e_mb, conn_auth_done, c, &c->c_txn.t_user, &job)) {
	case AUTH_OK:
		conn_count_auth(c, STATS_AUTH_CACHED);
		conn_debug(c, "auth: user %s (cached)", c->c_txn.t_user);
		c->c_txn.t_auth = "password";
		return 0;
	case AUTH_PENDING:
		conn_debug(c, "auth: checking the password");
		c->c_hs->hs_job = job;
		c->c_state = CONN_AUTH;
		return 1;
	case AUTH_MISSING:
		conn_fail(c, REASON_AUTH_REQUIRED, NULL);
		return -1;
	case AUTH_FAILED:
		conn_count_auth(c, STATS_AUTH_FAILED);
		conn_fail(c, REASON_AUTH_FAILED, NULL);
		return -1;
	case AUTH_AMBIGUOUS:
		conn_fail(c, REASON_BAD_REQUEST, "control characters in the "
		    "proxy credentials");
		return -1;
	case AUTH_THROTTLED:
		conn_count_auth(c, STATS_AUTH_THROTTLED);
		conn_fail(c, REASON_AUTH_THROTTLED, NULL);
		return -1;
	case AUTH_BUSY:
		conn_count_auth(c, STATS_AUTH_BUSY);
		conn_fail(c, REASON_AUTH_BUSY, NULL);
		return -1;
	}
	return -1;
}

/* Who is asking: the client certificate's identity, else the password's
 * user (conn_authenticate), else nobody when nobody needs to be. Returns
 * 0 when the request may go on now, 1 when a hashing thread checks the
 * password, -1 when answered. */
static int
conn_identify(struct conn *c)
{
	char why[200];

	/* A keep-alive connection outlives reloads: a certificate checked
	 * under an earlier configuration is checked again (a new CRL). */
	if (c->c_peer_id != NULL && !c->c_peer_refused &&
	    c->c_peer_gen != c->c_cfg->c_generation) {
		if (!tls_peer_recheck(&c->c_cx, c->c_cfg->c_tls,
		    c->c_cfg->c_tls_identity, c->c_peer_id, why, sizeof(why))) {
			free(c->c_peer_id);
			c->c_peer_id = strdup(why);
			c->c_peer_refused = true;
		}
		c->c_peer_gen = c->c_cfg->c_generation;
	}
	if (c->c_peer_id != NULL && !c->c_peer_refused) {
		c->c_txn.t_user = c->c_peer_id;
		c->c_txn.t_auth = "certificate";
		return 0;
	}
	if (c->c_peer_refused) {
		conn_fail(c, REASON_CERT_REFUSED, c->c_peer_id);
		return -1;
	}
	if (c->c_cfg->c_have_users)
		return conn_authenticate(c);
	if (config_needs_auth(c->c_cfg)) {
		conn_fail(c, REASON_AUTH_REQUIRED, "this proxy takes client "
		    "certificates, over TLS (curl: --proxy-cert and "
		    "--proxy-key with an https:// proxy URL)");
		return -1;
	}
	return 0;
}

/* A complete head is in rq_buf: decide what to do with it. */
static void
conn_request(struct conn *c)
{
	/* Each request is decided under the configuration in force when its
	 * head is complete (a keep-alive connection may span reloads). */
	if (c->c_cfg != c->c_env->e_cfg) {
		config_unref(c->c_cfg);
		c->c_cfg = config_ref(c->c_env->e_cfg);
		conn_judge_under(c, config_default_policy(c->c_cfg));
	}
	if (conn_target(c) == -1)
		return;
	conn_debug(c, "request %s %s", c->c_txn.t_method ? c->c_txn.t_method :
	    "?", c->c_txn.t_target ? c->c_txn.t_target : "-");
	/* Authenticate before revealing anything about the policy. */
	if (conn_identify(c) != 0)
		return;
	conn_authorized(c);
}

/* A head that failed to parse: log what was understood of it. */
static void
conn_note_partial(struct conn *c)
{
	const struct request *rq = &c->c_hs->hs_rq;

	if (rq->rq_head.hh_url.len == 0 || c->c_txn.t_target != NULL)
		return;
	c->c_txn.t_target = redact_target(rq->rq_buf + rq->rq_head.hh_url.off,
	    rq->rq_head.hh_url.len, true);
	c->c_txn.t_method = llhttp_method_name(
	    (llhttp_method_t)rq->rq_head.hh_parser.method);
}

/* Parse what is buffered. Returns true when the head is complete or has
 * been answered (the caller stops reading), false when more is needed. */
static bool
conn_parse_head(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;
	char d[160];

	if (rq->rq_len <= rq->rq_head.hh_fed)
		return false;
	switch (http_head_feed(&rq->rq_head, rq->rq_buf, rq->rq_len)) {
	case HTTP_HEAD_MORE:
		return false;
	case HTTP_HEAD_DONE:
		conn_request(c);
		return true;
	case HTTP_HEAD_TOO_LARGE:
		conn_note_partial(c);
		conn_fail(c, REASON_HEADER_TOO_LARGE, NULL);
		return true;
	case HTTP_HEAD_ERROR:
		break;
	}
	conn_note_partial(c);
	snprintf(d, sizeof(d), "malformed request head (%s)",
	    rq->rq_head.hh_error);
	conn_fail(c, REASON_BAD_REQUEST, d);
	return true;
}

/* Parse buffered bytes, reading more while the head is incomplete. */
void
conn_read_head(struct conn *c)
{
	struct request *rq = &c->c_hs->hs_rq;

	while (!conn_parse_head(c)) {
		ssize_t n;

		if (!c->c_cx.x_can_read)
			return;
		switch (request_reserve(rq, CONN_READ_CHUNK)) {
		case -1:
			conn_fail(c, REASON_HEADER_TOO_LARGE, NULL);
			return;
		case -2:
			conn_close(c);
			return;
		}
		if ((n = conn_read_more(c)) <= 0)
			return;
		if (rq->rq_len == (size_t)n) {
			/* The first byte: the request starts now, and its
			 * head has a deadline. */
			conn_begin_request(c);
			conn_timer(c, c->c_cfg->c_header_timeout_ms);
		}
	}
}

/* The exchange is over and the client may send another request: reset the
 * per-request state and parse whatever is already buffered. */
static void
conn_next_request(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;

	conn_log(c);
	conn_begin_request(c);
	request_reset(&hs->hs_rq);
	hs->hs_dial.d_naddrs = hs->hs_dial.d_next = 0;
	hs->hs_dial.d_last_errno = 0;
	c->c_state = CONN_HEAD;
	conn_timer(c, hs->hs_rq.rq_len > 0 ? c->c_cfg->c_header_timeout_ms :
	    c->c_cfg->c_idle_timeout_ms);
	conn_read_head(c);
}

void
conn_client_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	struct verdict v;

	(void)loop;
	(void)fd;
	if (c->c_state == CONN_CLOSED)
		return;
	if (events & EV_READ)
		c->c_cx.x_can_read = true;
	if (events & EV_WRITE)
		c->c_cx.x_can_write = true;
	switch (c->c_state) {
	case CONN_HEAD:
		conn_read_head(c);
		break;
	case CONN_PROXY:
		conn_pp_step(c);
		break;
	case CONN_TLS:
		conn_tls_step(c);
		break;
	case CONN_SNI:
		conn_sni_step(c);
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
			c->c_txn.t_abort = REASON_CLIENT_ABORTED;
			conn_close(c);
			break;
		}
		forward_pump(c->c_fwd, &v);
		conn_act(c, &v);
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

/* The connect under way finished (writable) or failed (error): go on, or
 * try the next address. */
static void
conn_connected(struct conn *c, unsigned events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!(events & (EV_WRITE | EV_ERROR)))
		return;
	/* A failed connect reports EPOLLERR/EPOLLHUP; only then is the
	 * reason worth a syscall. */
	if ((events & EV_ERROR) && getsockopt(c->c_ux.x_fd, SOL_SOCKET,
	    SO_ERROR, &err, &len) == -1)
		err = errno;
	if ((events & EV_ERROR) && err == 0)
		err = ECONNREFUSED;
	if (err != 0) {
		dial_failed(&c->c_hs->hs_dial, err);
		xport_close(&c->c_ux);
		conn_dial(c);
		return;
	}
	c->c_txn.t_connect_ms = (int32_t)(ev_now(conn_loop(c)) - c->c_phase);
	conn_established(c);
}

static void
conn_upstream_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	struct verdict v;

	(void)loop;
	if (c->c_state == CONN_CLOSED || c->c_ux.x_fd != fd)
		return;
	if (events & EV_READ)
		c->c_ux.x_can_read = true;
	if (events & EV_WRITE)
		c->c_ux.x_can_write = true;
	switch (c->c_state) {
	case CONN_TUNNEL:
		conn_tunnel_pump(c);
		break;
	case CONN_EXCHANGE:
		forward_pump(c->c_fwd, &v);
		conn_act(c, &v);
		break;
	case CONN_UPSTREAM:
		if (c->c_uhs == NULL) {		/* still the TLS handshake */
			conn_upstream_tls_step(c);
			break;
		}
		upstream_hs_pump(c->c_uhs, &c->c_ux, &v);
		conn_act(c, &v);
		break;
	case CONN_CONNECT:
		conn_connected(c, events);
		break;
	default:
		/* A kept upstream that speaks or hangs up between requests
		 * is no longer usable. */
		if (events & (EV_READ | EV_ERROR))
			conn_close_upstream(c);
		break;
	}
}
