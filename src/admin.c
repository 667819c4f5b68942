/* SPDX-License-Identifier: MIT */
/*
 * The admin listener. It runs on the control thread, which serves no proxy
 * connection, so a scrape never slows a tunnel and stays answerable while
 * the workers are busy; what it shows comes from the workers' counters
 * (stats.c, merged under their locks) and from what the control thread
 * knows itself (struct admin_facts).
 *
 * Deliberately small HTTP: one request per connection (every answer says
 * Connection: close), GET and HEAD only, a head of at most 8 KiB parsed by
 * http.c like every other head, ADMIN_TIMEOUT_MS to send it, and at most
 * ADMIN_MAX_CONNS at once (more are closed at accept). With admin_users,
 * every page but /healthz needs Basic authentication, checked by the auth
 * pool's threads like a proxy password (hashing never runs on this loop);
 * /healthz stays open because load balancers probe without credentials and
 * it says only "ok" or "draining".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "addr.h"
#include "admin.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "ev.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "stats.h"
#include "status.h"
#include "window.h"

#define ADMIN_MAX_CONNS		64
#define ADMIN_HEAD_MAX		8192
#define ADMIN_TIMEOUT_MS	5000
#define ADMIN_TOP		10	/* rows of each top list */
#define ADMIN_REFRESH_S		10

enum admin_page {
	ADMIN_METRICS = 0,
	ADMIN_HEALTHZ,
	ADMIN_STATUS,
	ADMIN_NOT_FOUND,
};

struct admin_conn {
	struct admin		*ac_admin;
	int			 ac_fd;
	size_t			 ac_slot;	/* in a_conns */
	struct ev_io		 ac_io;
	struct ev_timer		 ac_timer;
	struct ev_defer		 ac_defer;
	struct sockaddr_storage	 ac_peer;
	struct http_head	 ac_head;
	char			 ac_in[ADMIN_HEAD_MAX];
	size_t			 ac_inlen;
	enum admin_page		 ac_page;
	bool			 ac_head_only;	/* HEAD: no body */
	struct auth_job		*ac_job;	/* a password check in flight */
	struct buf		 ac_out;
	bool			 ac_closed;
	uint64_t		 ac_born;	/* order of arrival */
};

struct admin {
	struct ev_loop		*a_loop;
	int			 a_fd;
	bool			 a_public;	/* bound to a non-loopback
						 * address: never without
						 * admin_users */
	struct ev_io		 a_io;
	struct auth_mailbox	*a_mb;
	const struct admin_facts *a_facts;
	struct admin_conn	*a_conns[ADMIN_MAX_CONNS];
	uint64_t		 a_born;
	uint64_t		 a_said;	/* last refused login logged */
	uint64_t		 a_unsaid;	/* refused since, not logged */
};

static void admin_conn_io(struct ev_loop *, int, unsigned, void *);

static void
admin_conn_free(struct ev_loop *loop, void *arg)
{
	struct admin_conn *ac = arg;

	(void)loop;
	buf_free(&ac->ac_out);
	free(ac);
}

static void
admin_close(struct admin_conn *ac)
{
	struct admin *a = ac->ac_admin;

	if (ac->ac_closed)
		return;
	ac->ac_closed = true;
	if (ac->ac_job != NULL) {
		auth_cancel(ac->ac_job);
		ac->ac_job = NULL;
	}
	ev_timer_stop(a->a_loop, &ac->ac_timer);
	(void)ev_io_del(a->a_loop, &ac->ac_io);
	close(ac->ac_fd);
	ac->ac_fd = -1;
	a->a_conns[ac->ac_slot] = NULL;
	ev_defer(a->a_loop, &ac->ac_defer, admin_conn_free, ac);
}

/* Write what is left of the answer; close once it is all out. */
static void
admin_flush(struct admin_conn *ac)
{
	ssize_t n;

	while (buf_used(&ac->ac_out) > 0) {
		n = send(ac->ac_fd, ac->ac_out.b_data + ac->ac_out.b_off,
		    buf_used(&ac->ac_out), MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			(void)ev_io_mod(ac->ac_admin->a_loop, &ac->ac_io,
			    EV_WRITE);
			return;
		}
		if (n <= 0)
			break;
		buf_consume(&ac->ac_out, (size_t)n);
	}
	(void)shutdown(ac->ac_fd, SHUT_WR);
	admin_close(ac);
}

/* Answer with `status` and `body` (`blen` bytes), then close. */
static void
admin_answer(struct admin_conn *ac, int status, const char *reason,
    const char *ctype, const char *extra, const char *body, size_t blen)
{
	char head[768];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "Connection: close\r\n%s\r\n", status, reason, ctype, blen,
	    extra ? extra : "");
	buf_free(&ac->ac_out);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    buf_add(&ac->ac_out, head, (size_t)n) == -1 ||
	    (!ac->ac_head_only && buf_add(&ac->ac_out, body, blen) == -1)) {
		admin_close(ac);
		return;
	}
	admin_flush(ac);
}

static void
admin_text(struct admin_conn *ac, int status, const char *reason,
    const char *extra, const char *body)
{
	admin_answer(ac, status, reason, "text/plain; charset=utf-8", extra,
	    body, strlen(body));
}

/* The policy names of the configuration, for the metrics. */
static size_t
admin_policies(const struct config *c, const char **names, size_t max)
{
	size_t i;

	for (i = 0; i < c->c_npolicies && i < max; i++)
		names[i] = config_policy_name(c->c_policies[i]);
	return i;
}

static void
admin_metrics(struct admin_conn *ac)
{
	const struct admin_facts *f = ac->ac_admin->a_facts;
	const char *names[STATS_MAX_POLICIES];
	struct stats_sum sum;
	struct metrics_input in;
	struct buf body = { 0 };
	int rc;

	memset(&sum, 0, sizeof(sum));
	rc = stats_merge(&sum, f->af_stats, f->af_nstats, false, 0);
	in = (struct metrics_input){ .mi_sum = &sum,
	    .mi_version = f->af_version, .mi_policies = names,
	    .mi_npolicies = admin_policies(f->af_cfg, names, STATS_MAX_POLICIES),
	    .mi_connections = proxy_connections(),
	    .mi_reloads_ok = f->af_reloads_ok,
	    .mi_reloads_failed = f->af_reloads_failed,
	    .mi_generation = f->af_generation,
	    .mi_log_lost = accesslog_lost_total(),
	    .mi_started = f->af_started, .mi_draining = f->af_draining };
	if (rc == 0)
		rc = metrics_render(&body, &in);
	stats_sum_free(&sum);
	if (rc == -1)
		admin_text(ac, 503, "Service Unavailable", NULL,
		    "out of memory\n");
	else
		admin_answer(ac, 200, "OK", METRICS_CONTENT_TYPE, NULL,
		    body.b_data ? body.b_data : "", buf_used(&body));
	buf_free(&body);
}

/* The status page's tables from the merged counters; strings borrowed from
 * `sum` (its "policy\x1fuser" keys are split in place). */
struct admin_view {
	struct status_view	 v;
	struct status_tunnels	*who;
	struct status_count	 top[5][ADMIN_TOP];
	struct status_denial	 recent[STATS_RECENT];
};

static size_t
admin_top(struct window_sum *ws, struct status_count *out)
{
	struct window_entry e[ADMIN_TOP];
	size_t i, n = window_sum_top(ws, e, ADMIN_TOP);

	for (i = 0; i < n; i++) {
		out[i].sc_key = e[i].we_key;
		out[i].sc_count = e[i].we_count;
	}
	return n;
}

static void
admin_view_lists(struct admin_view *av, struct stats_sum *sum)
{
	struct status_view *v = &av->v;
	size_t i;

	for (i = 0; i < 2; i++) {
		v->sv_top_dest[i] = av->top[i];
		v->sv_ntop_dest[i] = admin_top(sum->ss_dest[i], av->top[i]);
		v->sv_top_denied[i] = av->top[2 + i];
		v->sv_ntop_denied[i] = admin_top(sum->ss_denied[i],
		    av->top[2 + i]);
	}
	v->sv_auth_fail = av->top[4];
	v->sv_nauth_fail = admin_top(sum->ss_authfail, av->top[4]);
	for (i = 0; i < sum->ss_nrecent; i++) {
		const struct stats_denial *d = &sum->ss_recent[i];

		av->recent[i] = (struct status_denial){ .sd_time = d->d_time,
		    .sd_client = d->d_client, .sd_user = d->d_user,
		    .sd_target = d->d_target,
		    .sd_reason = reason_code(d->d_reason),
		    .sd_text = reason_text(d->d_reason) };
	}
	v->sv_recent = av->recent;
	v->sv_nrecent = sum->ss_nrecent;
	for (i = 0; i < sum->ss_nwho; i++) {
		char *sep = strchr(sum->ss_who[i], '\x1f');

		if (sep != NULL)
			*sep++ = '\0';
		av->who[i] = (struct status_tunnels){ .st_policy =
		    sum->ss_who[i], .st_user = sep ? sep : "-",
		    .st_count = sum->ss_who_count[i] };
	}
	v->sv_by_user = av->who;
	v->sv_nby_user = sum->ss_nwho;
}

static void
admin_view_facts(struct admin_view *av, const struct admin_facts *f,
    const struct stats_sum *sum, uint64_t now_ms)
{
	const struct config *c = f->af_cfg;
	struct status_view *v = &av->v;
	size_t i;

	v->sv_version = f->af_version;
	v->sv_now = f->af_started + (int64_t)((now_ms - f->af_started_ms) /
	    1000);
	v->sv_uptime_s = (now_ms - f->af_started_ms) / 1000;
	v->sv_config = c->c_path;
	v->sv_generation = f->af_generation;
	v->sv_loaded = f->af_loaded;
	v->sv_listeners = f->af_listeners;
	v->sv_nlisteners = f->af_nlisteners;
	v->sv_connections = proxy_connections();
	for (i = 0; i < sum->ss_npol; i++)
		v->sv_tunnels += (uint64_t)sum->ss_pol[i]->sp_tunnels;
	v->sv_draining = f->af_draining;
	v->sv_refresh_s = ADMIN_REFRESH_S;
}

static void
admin_status(struct admin_conn *ac)
{
	const struct admin_facts *f = ac->ac_admin->a_facts;
	uint64_t now = ev_now(ac->ac_admin->a_loop);
	struct admin_view *av = calloc(1, sizeof(*av));
	struct stats_sum sum;
	struct buf body = { 0 };
	int rc = -1;

	memset(&sum, 0, sizeof(sum));
	if (av != NULL && stats_merge(&sum, f->af_stats, f->af_nstats, true,
	    now) == 0 && (av->who = calloc(sum.ss_nwho + 1,
	    sizeof(*av->who))) != NULL) {
		admin_view_lists(av, &sum);
		admin_view_facts(av, f, &sum, now);
		rc = status_render(&body, &av->v);
	}
	if (rc == -1)
		admin_text(ac, 503, "Service Unavailable", NULL,
		    "out of memory\n");
	else
		admin_answer(ac, 200, "OK", "text/html; charset=utf-8",
		    "Content-Security-Policy: default-src 'none'; style-src "
		    "'unsafe-inline'; frame-ancestors 'none'\r\n"
		    "Referrer-Policy: no-referrer\r\n", body.b_data,
		    buf_used(&body));
	buf_free(&body);
	stats_sum_free(&sum);
	if (av != NULL)
		free(av->who);
	free(av);
}

/* The request head is complete and, when needed, its password checked. */
static void
admin_serve(struct admin_conn *ac)
{
	const struct admin_facts *f = ac->ac_admin->a_facts;

	switch (ac->ac_page) {
	case ADMIN_HEALTHZ:
		if (f->af_draining)
			admin_text(ac, 503, "Service Unavailable", NULL,
			    "draining\n");
		else
			admin_text(ac, 200, "OK", NULL, "ok\n");
		break;
	case ADMIN_METRICS:
		admin_metrics(ac);
		break;
	case ADMIN_STATUS:
		admin_status(ac);
		break;
	case ADMIN_NOT_FOUND:
		admin_text(ac, 404, "Not Found", NULL, "not found; this "
		    "listener serves /metrics, /healthz and /status\n");
		break;
	}
}

/* A refused admin login is on record (stderr: the admin listener has no
 * access log), by address, never with what was sent. */
static void
admin_login_failed(struct admin_conn *ac, const char *why)
{
	struct admin *adm = ac->ac_admin;
	uint64_t now = ev_now(adm->a_loop);
	char a[INET6_ADDRSTRLEN];

	/* At most one line a second, so that guessing cannot flood stderr;
	 * the next line counts what was left out. */
	if (adm->a_said != 0 && now - adm->a_said < 1000) {
		adm->a_unsaid++;
		return;
	}
	adm->a_said = now;
	addr_format_ip((struct sockaddr *)&ac->ac_peer, a, sizeof(a));
	log_warnx("admin_listen: %s from %s refused: %s (and %llu more since "
	    "the last such line)", ac->ac_page == ADMIN_METRICS ? "/metrics" :
	    "/status", a, why, (unsigned long long)adm->a_unsaid);
	adm->a_unsaid = 0;
}

static void
admin_unauthorized(struct admin_conn *ac, bool had_credentials)
{
	admin_login_failed(ac, had_credentials ? "wrong user name or password" :
	    "no credentials");
	admin_text(ac, 401, "Unauthorized", "WWW-Authenticate: Basic "
	    "realm=\"sluice admin\"\r\n", had_credentials ? "wrong user name "
	    "or password\n" : "this page needs a user name and password "
	    "(admin_users)\n");
}

static void
admin_auth_done(void *arg, enum auth_result r, const char *user)
{
	struct admin_conn *ac = arg;

	(void)user;
	ac->ac_job = NULL;
	if (r == AUTH_OK)
		admin_serve(ac);
	else
		admin_unauthorized(ac, true);
}

/* admin_users: the password, checked like a proxy password. Returns true
 * when the page may be served now. */
static bool
admin_authorized(struct admin_conn *ac)
{
	struct config *users = ac->ac_admin->a_facts->af_cfg->c_admin;
	const char *hdr, *who;
	size_t len;

	if (ac->ac_page == ADMIN_HEALTHZ || ac->ac_page == ADMIN_NOT_FOUND)
		return true;
	if (users == NULL && ac->ac_admin->a_public) {
		/* A reload took admin_users away from a listener bound for
		 * other machines (serve refuses that reload; belt and
		 * braces). */
		admin_text(ac, 403, "Forbidden", NULL, "this admin listener is "
		    "reachable from other machines and admin_users is not "
		    "set\n");
		return false;
	}
	if (users == NULL)
		return true;
	if (http_head_count(&ac->ac_head, ac->ac_in, "Authorization") > 1) {
		admin_text(ac, 400, "Bad Request", NULL, "more than one "
		    "Authorization header\n");
		return false;
	}
	hdr = http_head_get(&ac->ac_head, ac->ac_in, "Authorization", &len);
	switch (auth_check(users, hdr, len, (struct sockaddr *)&ac->ac_peer,
	    ac->ac_admin->a_mb, admin_auth_done, ac, &who, &ac->ac_job)) {
	case AUTH_OK:
		return true;
	case AUTH_PENDING:
		(void)ev_io_mod(ac->ac_admin->a_loop, &ac->ac_io, 0);
		return false;
	case AUTH_THROTTLED:
		admin_login_failed(ac, "auth_rate spent");
		admin_text(ac, 429, "Too Many Requests", NULL, "too many "
		    "password checks from this address\n");
		return false;
	case AUTH_BUSY:
		admin_text(ac, 503, "Service Unavailable", NULL, "too many "
		    "password checks waiting\n");
		return false;
	default:
		admin_unauthorized(ac, hdr != NULL);
		return false;
	}
}

/* Which page the complete head asks for; answers what it cannot serve.
 * Returns true when the page is to be served (after admin_authorized). */
static bool
admin_route(struct admin_conn *ac)
{
	static const char *const pages[] = { [ADMIN_METRICS] = "/metrics",
	    [ADMIN_HEALTHZ] = "/healthz", [ADMIN_STATUS] = "/status" };
	const char *m = http_head_method(&ac->ac_head), *path, *q;
	size_t len, i;

	path = ac->ac_in + ac->ac_head.hh_url.off;
	len = ac->ac_head.hh_url.len;
	if ((q = memchr(path, '?', len)) != NULL)
		len = (size_t)(q - path);
	ac->ac_head_only = strcmp(m, "HEAD") == 0;
	if (!ac->ac_head_only && strcmp(m, "GET") != 0) {
		admin_text(ac, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
		    "only GET and HEAD\n");
		return false;
	}
	ac->ac_page = ADMIN_NOT_FOUND;
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		if (strlen(pages[i]) == len && memcmp(path, pages[i], len) == 0)
			ac->ac_page = (enum admin_page)i;
	return admin_authorized(ac);
}

static void
admin_read(struct admin_conn *ac)
{
	enum http_head_status st = HTTP_HEAD_MORE;
	ssize_t n;

	while (st == HTTP_HEAD_MORE) {
		if (ac->ac_inlen == sizeof(ac->ac_in)) {
			admin_text(ac, 431, "Request Header Fields Too Large",
			    NULL, "request head too large\n");
			return;
		}
		n = recv(ac->ac_fd, ac->ac_in + ac->ac_inlen,
		    sizeof(ac->ac_in) - ac->ac_inlen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			admin_close(ac);
			return;
		}
		ac->ac_inlen += (size_t)n;
		st = http_head_feed(&ac->ac_head, ac->ac_in, ac->ac_inlen);
	}
	if (st != HTTP_HEAD_DONE) {
		admin_text(ac, 400, "Bad Request", NULL, "malformed request\n");
		return;
	}
	if (admin_route(ac))
		admin_serve(ac);
}

static void
admin_conn_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct admin_conn *ac = arg;

	(void)loop;
	(void)fd;
	if (buf_used(&ac->ac_out) > 0)
		admin_flush(ac);
	else if (events & (EV_READ | EV_ERROR))
		admin_read(ac);
}

static void
admin_conn_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	admin_close(arg);
}

/* A free slot for a new connection. When all ADMIN_MAX_CONNS are taken,
 * the oldest one still sending its head makes room: a client holding
 * slots with half a request (slowloris) must not keep a load balancer's
 * /healthz out. Returns the slot, or ADMIN_MAX_CONNS when every one is
 * busy answering. */
static size_t
admin_slot(struct admin *a)
{
	size_t i, old = ADMIN_MAX_CONNS;

	for (i = 0; i < ADMIN_MAX_CONNS; i++) {
		struct admin_conn *ac = a->a_conns[i];

		if (ac == NULL)
			return i;
		if (ac->ac_job == NULL && buf_used(&ac->ac_out) == 0 &&
		    (old == ADMIN_MAX_CONNS || ac->ac_born <
		    a->a_conns[old]->ac_born))
			old = i;
	}
	if (old != ADMIN_MAX_CONNS)
		admin_close(a->a_conns[old]);
	return old;
}

/* A new admin connection, or close it when every slot is busy. */
static void
admin_conn_new(struct admin *a, int fd, const struct sockaddr_storage *peer)
{
	struct admin_conn *ac;
	size_t i = admin_slot(a);

	if (i == ADMIN_MAX_CONNS || (ac = calloc(1, sizeof(*ac))) == NULL) {
		close(fd);
		return;
	}
	ac->ac_admin = a;
	ac->ac_fd = fd;
	ac->ac_slot = i;
	ac->ac_born = ++a->a_born;
	ac->ac_peer = *peer;
	addr_unmap((struct sockaddr *)&ac->ac_peer);
	http_head_init(&ac->ac_head);
	if (ev_io_add(a->a_loop, &ac->ac_io, fd, EV_READ, admin_conn_io,
	    ac) == -1) {
		close(fd);
		free(ac);
		return;
	}
	a->a_conns[i] = ac;
	ev_timer_set(a->a_loop, &ac->ac_timer, ADMIN_TIMEOUT_MS,
	    admin_conn_timeout, ac);
	admin_read(ac);
}

static void
admin_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct admin *a = arg;
	struct sockaddr_storage peer;
	socklen_t plen;
	int cfd;

	(void)loop;
	(void)events;
	for (;;) {
		plen = sizeof(peer);
		cfd = accept4(fd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("admin_listen: accept");
			return;
		}
		admin_conn_new(a, cfd, &peer);
	}
}

struct admin *
admin_new(struct ev_loop *loop, int fd, bool public,
    const struct admin_facts *facts, struct auth_pool *pool)
{
	struct admin *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->a_loop = loop;
	a->a_fd = fd;
	a->a_public = public;
	a->a_facts = facts;
	if ((a->a_mb = auth_mailbox_new(pool, loop)) == NULL ||
	    ev_io_add(loop, &a->a_io, fd, EV_READ, admin_accept, a) == -1) {
		auth_mailbox_free(a->a_mb);
		free(a);
		return NULL;
	}
	return a;
}

void
admin_close_all(struct admin *a)
{
	size_t i;

	if (a == NULL || a->a_fd == -1)
		return;
	for (i = 0; i < ADMIN_MAX_CONNS; i++)
		if (a->a_conns[i] != NULL)
			admin_close(a->a_conns[i]);
	(void)ev_io_del(a->a_loop, &a->a_io);
	close(a->a_fd);
	a->a_fd = -1;
	ev_drain(a->a_loop);
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	admin_close_all(a);
	auth_mailbox_free(a->a_mb);
	free(a);
}
