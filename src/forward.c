/* SPDX-License-Identifier: MIT */
/*
 * Plain-HTTP forwarding: one exchange at a time per client connection.
 *
 * The request head has been parsed, authenticated and checked by conn.c; here
 * it is rewritten (origin-form, Host from the URL, hop-by-hop fields removed,
 * Via added) and sent upstream. Both bodies then stream through llhttp, which
 * checks their framing and says where each message ends; the bytes themselves
 * are forwarded verbatim, chunked encoding and trailers included, so nothing
 * is ever held whole in memory. Two half-flows run side by side:
 *
 *   client -> upstream: rewritten head, then request-body bytes from rq_buf
 *   upstream -> client: response heads (1xx interim ones too), then body
 *
 * The connection (conn.c) lends the request, both transports and the
 * transaction record; each step returns a verdict and conn.c acts on it.
 * Bytes after the end of the request stay in rq_buf: they are the client's
 * next request, parsed once this exchange is over. A response that arrives
 * before its request was fully sent ends the connection afterwards, since the
 * two sides could no longer agree on where the next request starts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "config.h"
#include "env.h"
#include "ev.h"
#include "forward.h"
#include "request.h"
#include "rewrite.h"
#include "txn.h"
#include "xport.h"

#define FORWARD_CHUNK	(16 * 1024)

struct forward {
	const struct env	*f_env;
	const struct config	*f_cfg;
	struct request		*f_rq;		/* borrowed: the client's bytes */
	struct xport		*f_cx;		/* borrowed: the client */
	struct xport		*f_ux;		/* borrowed: the origin */
	struct txn		*f_t;		/* borrowed: the record */
	struct http_head	f_resp;		/* the response being parsed */
	struct buf		f_uout;		/* rewritten request head */
	struct buf		f_uin;		/* bytes read from upstream */
	struct buf		f_cout;		/* rewritten response heads */
	size_t			f_bsent;	/* rq_buf: body bytes sent */
	size_t			f_bready;	/* rq_buf: body bytes to send */
	size_t			f_rready;	/* f_uin: body bytes to send */
	bool			f_rq_complete;	/* request fully parsed */
	bool			f_rq_done;	/* ...and fully sent */
	bool			f_rs_complete;	/* response fully parsed */
	bool			f_rs_final;	/* final response head seen */
	bool			f_keepalive;	/* client may send another */
	bool			f_upgrade;	/* websocket upgrade asked */
	bool			f_upstream_eof;
};

enum forward_result {
	FORWARD_OK = 0,		/* blocked or done; state says which */
	FORWARD_IO = 1,		/* a socket failed: just close */
	FORWARD_BAD_REQUEST = 2,	/* the client's framing is bad */
	FORWARD_BAD_RESPONSE = 3,	/* the origin's answer is bad */
	FORWARD_SWITCHED = 4,	/* becomes a tunnel (f_cout, then rq_buf) */
	FORWARD_CLIENT_GONE = 5,	/* the client's socket failed */
};

void
forward_free(struct forward *f)
{
	if (f == NULL)
		return;
	/* The rewritten head may carry upstream credentials. */
	if (f->f_uout.b_data != NULL)
		explicit_bzero(f->f_uout.b_data, f->f_uout.b_cap);
	buf_free(&f->f_uout);
	buf_free(&f->f_uin);
	buf_free(&f->f_cout);
	free(f);
}

/* Does the request ask for a websocket upgrade (the only one forwarded)? */
static bool
forward_wants_websocket(const struct request *rq)
{
	const char *v;
	size_t len;

	if (!http_head_upgrade(&rq->rq_head))
		return false;
	v = http_head_get(&rq->rq_head, rq->rq_buf, "Upgrade", &len);
	return v != NULL && len == 9 && strncasecmp(v, "websocket", 9) == 0;
}

/* More of the request body, into the empty rq_buf. Sets *stop when there
 * is nothing to read now. */
static enum forward_result
forward_read_up(struct forward *f, bool *stop)
{
	struct request *rq = f->f_rq;
	ssize_t n;

	*stop = false;
	if (!f->f_cx->x_can_read) {
		*stop = true;
		return FORWARD_OK;
	}
	n = xport_read(f->f_cx, rq->rq_buf, rq->rq_cap);
	if (n == -1 && errno == EAGAIN) {
		*stop = true;
		return FORWARD_OK;
	}
	if (n == -1)
		return FORWARD_CLIENT_GONE;
	if (n > 0) {
		rq->rq_len = (size_t)n;
		return FORWARD_OK;
	}
	/* The end of the body before its framing said so: the client's
	 * fault, not the origin's. */
	if (http_body_eof(&rq->rq_head) != HTTP_BODY_DONE)
		return FORWARD_BAD_REQUEST;
	f->f_rq_complete = true;
	return FORWARD_OK;
}

/* Client -> upstream. */
static enum forward_result
forward_up(struct forward *f)
{
	struct request *rq = f->f_rq;
	enum forward_result r;
	bool stop;
	ssize_t n;

	if (buf_used(&f->f_uout) > 0) {
		n = xport_write(f->f_ux, f->f_uout.b_data + f->f_uout.b_off,
		    buf_used(&f->f_uout));
		if (n == -1)
			return FORWARD_IO;
		buf_consume(&f->f_uout, (size_t)n);
		f->f_t->t_sent_up += (uint64_t)n;
		if (buf_used(&f->f_uout) > 0)
			return FORWARD_OK;
	}
	while (!f->f_rq_done) {
		enum http_body_status st;
		size_t used;

		if (f->f_bsent < f->f_bready) {
			n = xport_write(f->f_ux, rq->rq_buf + f->f_bsent,
			    f->f_bready - f->f_bsent);
			if (n == -1)
				return FORWARD_IO;
			f->f_bsent += (size_t)n;
			f->f_t->t_sent_up += (uint64_t)n;
			if (f->f_bsent < f->f_bready)
				return FORWARD_OK;
			f->f_t->t_active = ev_now(f->f_env->e_loop);
		}
		/* Everything fed so far is sent: drop it, keep what follows. */
		memmove(rq->rq_buf, rq->rq_buf + f->f_bready,
		    rq->rq_len - f->f_bready);
		rq->rq_len -= f->f_bready;
		f->f_bsent = f->f_bready = 0;
		if (f->f_rq_complete) {
			f->f_rq_done = true;
			break;
		}
		if (rq->rq_len == 0) {
			if ((r = forward_read_up(f, &stop)) != FORWARD_OK ||
			    stop)
				return r;
			if (f->f_rq_complete)
				continue;
		}
		st = http_body_feed(&rq->rq_head, rq->rq_buf, rq->rq_len, &used);
		if (st == HTTP_BODY_ERROR)
			return FORWARD_BAD_REQUEST;
		f->f_bready = used;
		f->f_rq_complete = st == HTTP_BODY_DONE;
	}
	return FORWARD_OK;
}

/* Remember the response's media type for the log. */
static void
forward_note_mime(struct txn *t, const struct http_head *h, const char *buf)
{
	const char *v;
	size_t len, i;

	free(t->t_mime);
	t->t_mime = NULL;
	if ((v = http_head_get(h, buf, "Content-Type", &len)) == NULL)
		return;
	for (i = 0; i < len && v[i] != ';' && v[i] != ' '; i++)
		;
	/* Long enough for the log to cut it visibly (accesslog.h). */
	t->t_mime = strndup(v, i > 512 ? 512 : i);
}

/* A complete response head is at the front of f_uin. */
static enum forward_result
forward_response_head(struct forward *f)
{
	struct request *rq = f->f_rq;
	struct http_head *h = &f->f_resp;
	const char *base = f->f_uin.b_data + f->f_uin.b_off, *why;
	struct rewrite_opts o = { f->f_cfg->c_via, NULL, false, false, NULL };

	if (http_head_check(h, base, &why) == -1) {
		h->hh_error = why;
		return FORWARD_BAD_RESPONSE;
	}
	if (h->hh_status == 101) {
		if (!f->f_upgrade || !f->f_rq_done) {
			h->hh_error = "an upgrade nobody asked for";
			return FORWARD_BAD_RESPONSE;
		}
		o.ro_upgrade = true;
		if (rewrite_response(h, base, &o, &f->f_cout) == -1)
			return FORWARD_IO;
		f->f_t->t_status = 101;
		buf_consume(&f->f_uin, h->hh_len);
		/* Whatever is buffered on either side goes first. */
		if (buf_add(&f->f_cout, f->f_uin.b_data + f->f_uin.b_off,
		    buf_used(&f->f_uin)) == -1)
			return FORWARD_IO;
		return FORWARD_SWITCHED;
	}
	if (h->hh_status / 100 == 1) {
		/* Interim (100 Continue, 103 Early Hints): pass it on and
		 * parse the next head. */
		if (rewrite_response(h, base, &o, &f->f_cout) == -1)
			return FORWARD_IO;
		/* What the client got so far, should nothing follow. */
		f->f_t->t_status = h->hh_status;
		buf_consume(&f->f_uin, h->hh_len);
		http_head_init_response(h, rq->rq_head.hh_method == HTTP_HEAD);
		return FORWARD_OK;
	}
	/* The final answer. The client may send another request only if this
	 * one was read to its end and the response has a length of its own. */
	f->f_rs_final = true;
	f->f_t->t_status = h->hh_status;
	forward_note_mime(f->f_t, h, base);
	f->f_keepalive = f->f_keepalive && f->f_rq_complete &&
	    !http_head_needs_eof(h);
	o.ro_close = !f->f_keepalive;
	if (rewrite_response(h, base, &o, &f->f_cout) == -1)
		return FORWARD_IO;
	f->f_rs_complete = http_head_bodyless(h);
	buf_consume(&f->f_uin, h->hh_len);
	return FORWARD_OK;
}

/* Parse what came from the origin and is not parsed yet: heads from the
 * front of f_uin, then body bytes after f_rready. Sets *progress when
 * something was parsed. */
static enum forward_result
forward_parse_down(struct forward *f, bool *progress)
{
	size_t unfed = buf_used(&f->f_uin) - f->f_rready, used;
	const char *base = f->f_uin.b_data + f->f_uin.b_off;

	*progress = false;
	if (unfed == 0 || f->f_rs_complete)
		return FORWARD_OK;
	if (!f->f_rs_final) {
		/* Heads are parsed from the front: f_rready is 0 until the
		 * final head is through. */
		switch (http_head_feed(&f->f_resp, base, buf_used(&f->f_uin))) {
		case HTTP_HEAD_DONE:
			*progress = true;
			return forward_response_head(f);
		case HTTP_HEAD_MORE:
			return FORWARD_OK;
		default:
			return FORWARD_BAD_RESPONSE;
		}
	}
	switch (http_body_feed(&f->f_resp, base + f->f_rready, unfed, &used)) {
	case HTTP_BODY_ERROR:
		return FORWARD_BAD_RESPONSE;
	case HTTP_BODY_DONE:
		f->f_rs_complete = true;
		break;
	case HTTP_BODY_MORE:
		break;
	}
	f->f_rready += used;
	*progress = true;
	return FORWARD_OK;
}

/* Read more of the answer. Sets *stop when there is nothing to read now. */
static enum forward_result
forward_read_down(struct forward *f, bool *stop)
{
	char *p = buf_space(&f->f_uin, FORWARD_CHUNK);
	ssize_t n;

	*stop = false;
	if (p == NULL)
		return FORWARD_IO;
	n = xport_read(f->f_ux, p, FORWARD_CHUNK);
	if (n == -1 && errno == EAGAIN) {
		*stop = true;
		return FORWARD_OK;
	}
	if (n == -1)
		return f->f_rs_final ? FORWARD_IO : FORWARD_BAD_RESPONSE;
	if (n > 0) {
		f->f_uin.b_len += (size_t)n;
		return FORWARD_OK;
	}
	f->f_upstream_eof = true;
	if (!f->f_rs_final) {
		f->f_resp.hh_error = "the origin closed the connection without "
		    "a complete answer";
		return FORWARD_BAD_RESPONSE;
	}
	if (http_body_eof(&f->f_resp) != HTTP_BODY_DONE) {
		f->f_resp.hh_error = "the origin's answer was cut short";
		return FORWARD_BAD_RESPONSE;
	}
	f->f_rs_complete = true;
	return FORWARD_OK;
}

/* Upstream -> client. Bytes are parsed as soon as they arrive and before
 * anything is sent, so a response whose head or first body bytes are bad
 * still gets a clean 502 instead of a truncated 200. */
static enum forward_result
forward_down(struct forward *f)
{
	enum forward_result r;
	bool progress, stop;
	ssize_t n;

	for (;;) {
		if ((r = forward_parse_down(f, &progress)) != FORWARD_OK)
			return r;
		if (progress)
			continue;
		while (buf_used(&f->f_cout) > 0) {
			n = xport_write(f->f_cx, f->f_cout.b_data +
			    f->f_cout.b_off, buf_used(&f->f_cout));
			if (n == -1)
				return FORWARD_CLIENT_GONE;
			buf_consume(&f->f_cout, (size_t)n);
			f->f_t->t_sent += (uint64_t)n;
			if (buf_used(&f->f_cout) > 0)
				return FORWARD_OK;
		}
		if (f->f_rready > 0) {
			n = xport_write(f->f_cx, f->f_uin.b_data +
			    f->f_uin.b_off, f->f_rready);
			if (n == -1)
				return FORWARD_CLIENT_GONE;
			buf_consume(&f->f_uin, (size_t)n);
			f->f_rready -= (size_t)n;
			f->f_t->t_sent += (uint64_t)n;
			f->f_t->t_active = ev_now(f->f_env->e_loop);
			if (f->f_rready > 0)
				return FORWARD_OK;
			continue;
		}
		if (f->f_rs_complete || f->f_upstream_eof || !f->f_ux->x_can_read)
			return FORWARD_OK;
		if ((r = forward_read_down(f, &stop)) != FORWARD_OK || stop)
			return r;
	}
}

bool
forward_awaits_origin(const struct forward *f)
{
	return f->f_rq_done && !f->f_rs_complete && f->f_rready == 0 &&
	    buf_used(&f->f_cout) == 0;
}

/* Fill `v` and return its kind. */
static enum verdict_kind
forward_verdict(struct verdict *v, enum verdict_kind k, enum reason r,
    const char *detail)
{
	v->v_kind = k;
	v->v_reason = r;
	if (detail != NULL)
		snprintf(v->v_detail, sizeof(v->v_detail), "%s", detail);
	return k;
}

/* Something broke: answer if nothing has gone to the client yet (and, for
 * a failed socket, no final answer was parsed); otherwise nothing more can
 * be said to the client, and the record still says why it broke off. */
static enum verdict_kind
forward_broken(struct forward *f, enum forward_result r, struct verdict *v)
{
	bool untouched = f->f_t->t_sent == 0;
	char d[160];

	switch (r) {
	case FORWARD_CLIENT_GONE:
		return forward_verdict(v, VERDICT_ABORT,
		    REASON_CLIENT_ABORTED, NULL);
	case FORWARD_BAD_REQUEST:
		if (!untouched)
			break;
		snprintf(d, sizeof(d), "malformed request body (%s)",
		    f->f_rq->rq_head.hh_error);
		return forward_verdict(v, VERDICT_FAIL, REASON_BAD_REQUEST, d);
	case FORWARD_BAD_RESPONSE:
		if (!untouched)
			break;
		return forward_verdict(v, VERDICT_FAIL, REASON_BAD_RESPONSE,
		    f->f_resp.hh_error ? f->f_resp.hh_error :
		    "malformed response");
	default:
		if (!untouched || f->f_rs_final)
			break;
		return forward_verdict(v, VERDICT_FAIL, REASON_BAD_RESPONSE,
		    "the connection to the origin failed");
	}
	return forward_verdict(v, VERDICT_ABORT, r == FORWARD_BAD_REQUEST ?
	    REASON_BAD_REQUEST : REASON_BAD_RESPONSE, NULL);
}

enum verdict_kind
forward_pump(struct forward *f, struct verdict *v)
{
	struct request *rq = f->f_rq;
	enum forward_result r;

	r = forward_up(f);
	if (r == FORWARD_OK)
		r = forward_down(f);
	if (r == FORWARD_SWITCHED) {
		v->v_kind = VERDICT_TUNNEL;
		v->v_to_client = f->f_cout.b_data + f->f_cout.b_off;
		v->v_clen = buf_used(&f->f_cout);
		v->v_to_upstream = rq->rq_buf;
		v->v_ulen = rq->rq_len;
		return VERDICT_TUNNEL;
	}
	if (r != FORWARD_OK)
		return forward_broken(f, r, v);
	if (!f->f_rs_complete || f->f_rready > 0 || buf_used(&f->f_cout) > 0)
		return forward_verdict(v, VERDICT_WAIT, REASON_NONE, NULL);
	/* Answered before the request ended: nothing can follow. */
	if (!f->f_rq_done || !f->f_keepalive)
		return forward_verdict(v, VERDICT_CLOSE, REASON_NONE, NULL);
	/* The exchange is over. The upstream may serve the next request for
	 * the same host if it said so and sent nothing extra. */
	v->v_reuse = http_head_keepalive(&f->f_resp) && !f->f_upstream_eof &&
	    buf_used(&f->f_uin) == 0;
	return forward_verdict(v, VERDICT_KEEP_ALIVE, REASON_NONE, NULL);
}

struct forward *
forward_new(const struct env *env, const struct config *cfg,
    struct request *rq, struct xport *cx, struct xport *ux, struct txn *t,
    const struct sockaddr *peer)
{
	struct forward *f;
	struct rewrite_opts o;
	char client[INET6_ADDRSTRLEN];

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->f_env = env;
	f->f_cfg = cfg;
	f->f_rq = rq;
	f->f_cx = cx;
	f->f_ux = ux;
	f->f_t = t;
	f->f_keepalive = http_head_keepalive(&rq->rq_head);
	f->f_upgrade = forward_wants_websocket(rq);
	addr_format_ip(peer, client, sizeof(client));
	o.ro_via = cfg->c_via;
	o.ro_forwarded_for = cfg->c_forwarded_for ? client : NULL;
	o.ro_close = !f->f_keepalive && !f->f_upgrade;
	o.ro_upgrade = f->f_upgrade;
	/* Origin-form, always: through an upstream proxy too, the exchange
	 * runs inside a tunnel the upstream opened with CONNECT (conn.c), so
	 * neither the origin nor anything the upstream sends back can quote
	 * the upstream's credentials to the client. */
	o.ro_proxy_auth = NULL;
	if (rewrite_request(&rq->rq_head, rq->rq_buf, &rq->rq_url, &o,
	    &f->f_uout) == -1) {
		forward_free(f);
		return NULL;
	}
	http_head_init_response(&f->f_resp, rq->rq_head.hh_method == HTTP_HEAD);
	return f;
}

enum verdict_kind
forward_start(struct forward *f, struct verdict *v)
{
	struct request *rq = f->f_rq;
	size_t used;

	/* The head is rewritten: keep only what followed it. */
	memmove(rq->rq_buf, rq->rq_buf + rq->rq_head.hh_len,
	    rq->rq_len - rq->rq_head.hh_len);
	rq->rq_len -= rq->rq_head.hh_len;
	if (http_head_bodyless(&rq->rq_head) || http_head_upgrade(&rq->rq_head))
		f->f_rq_complete = true;
	else if (rq->rq_len > 0) {
		switch (http_body_feed(&rq->rq_head, rq->rq_buf, rq->rq_len,
		    &used)) {
		case HTTP_BODY_ERROR:
			return forward_broken(f, FORWARD_BAD_REQUEST, v);
		case HTTP_BODY_DONE:
			f->f_rq_complete = true;
			break;
		case HTTP_BODY_MORE:
			break;
		}
		f->f_bready = used;
	}
	return forward_pump(f, v);
}
