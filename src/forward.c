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
 *   client -> upstream: rewritten head, then request-body bytes from hs_buf
 *   upstream -> client: response heads (1xx interim ones too), then body
 *
 * Bytes after the end of the request stay in hs_buf: they are the client's
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
#include "config.h"
#include "conn.h"
#include "forward.h"
#include "proxy.h"
#include "rewrite.h"
#include "sockio.h"
#include "upstream.h"

#define FORWARD_CHUNK	(16 * 1024)

struct forward {
	struct http_head	f_resp;		/* the response being parsed */
	struct buf		f_uout;		/* rewritten request head */
	struct buf		f_uin;		/* bytes read from upstream */
	struct buf		f_cout;		/* rewritten response heads */
	size_t			f_bsent;	/* hs_buf: body bytes sent */
	size_t			f_bready;	/* hs_buf: body bytes to send */
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
	FORWARD_SWITCHED = 4,	/* became a tunnel: `c` is no longer ours */
	FORWARD_CLIENT_GONE = 5,	/* the client's socket failed */
};

void
forward_free(struct conn *c)
{
	struct forward *f = c->c_fwd;

	if (f == NULL)
		return;
	/* The rewritten head may carry upstream credentials. */
	if (f->f_uout.b_data != NULL)
		explicit_bzero(f->f_uout.b_data, f->f_uout.b_cap);
	buf_free(&f->f_uout);
	buf_free(&f->f_uin);
	buf_free(&f->f_cout);
	free(f);
	c->c_fwd = NULL;
}

/* Does the request ask for a websocket upgrade (the only one forwarded)? */
static bool
forward_wants_websocket(const struct conn_hs *hs)
{
	const char *v;
	size_t len;

	if (!http_head_upgrade(&hs->hs_head))
		return false;
	v = http_head_get(&hs->hs_head, hs->hs_buf, "Upgrade", &len);
	return v != NULL && len == 9 && strncasecmp(v, "websocket", 9) == 0;
}

/* Client -> upstream. */
static enum forward_result
forward_up(struct conn *c)
{
	struct forward *f = c->c_fwd;
	struct conn_hs *hs = c->c_hs;
	ssize_t n;

	while (buf_used(&f->f_uout) > 0) {
		n = sockio_send(c->c_ufd, &c->c_ust,
		    f->f_uout.b_data + f->f_uout.b_off, buf_used(&f->f_uout));
		if (n == -1)
			return FORWARD_IO;
		buf_consume(&f->f_uout, (size_t)n);
		c->c_sent_up += (uint64_t)n;
		if (!c->c_ust.can_write && buf_used(&f->f_uout) > 0)
			return FORWARD_OK;
	}
	while (!f->f_rq_done) {
		enum http_body_status st;
		size_t used;

		if (f->f_bsent < f->f_bready) {
			n = sockio_send(c->c_ufd, &c->c_ust,
			    hs->hs_buf + f->f_bsent, f->f_bready - f->f_bsent);
			if (n == -1)
				return FORWARD_IO;
			f->f_bsent += (size_t)n;
			c->c_sent_up += (uint64_t)n;
			if (f->f_bsent < f->f_bready)
				return FORWARD_OK;
			c->c_active = ev_now(conn_loop(c));
		}
		/* Everything fed so far is sent: drop it, keep what follows. */
		memmove(hs->hs_buf, hs->hs_buf + f->f_bready,
		    hs->hs_len - f->f_bready);
		hs->hs_len -= f->f_bready;
		f->f_bsent = f->f_bready = 0;
		if (f->f_rq_complete) {
			f->f_rq_done = true;
			break;
		}
		if (hs->hs_len == 0) {
			if (!c->c_cst.can_read)
				return FORWARD_OK;
			n = sockio_recv(c->c_cfd, &c->c_cst, hs->hs_buf,
			    hs->hs_cap);
			if (n == -1)
				return errno == EAGAIN ? FORWARD_OK :
				    FORWARD_CLIENT_GONE;
			if (n == 0) {
				/* The client's fault, not the origin's. */
				if (http_body_eof(&hs->hs_head) != HTTP_BODY_DONE)
					return FORWARD_BAD_REQUEST;
				f->f_rq_complete = true;
				continue;
			}
			hs->hs_len = (size_t)n;
		}
		st = http_body_feed(&hs->hs_head, hs->hs_buf, hs->hs_len, &used);
		if (st == HTTP_BODY_ERROR)
			return FORWARD_BAD_REQUEST;
		f->f_bready = used;
		f->f_rq_complete = st == HTTP_BODY_DONE;
	}
	return FORWARD_OK;
}

/* Remember the response's media type for the log. */
static void
forward_note_mime(struct conn *c, const struct http_head *h, const char *buf)
{
	const char *v;
	size_t len, i;

	free(c->c_mime);
	c->c_mime = NULL;
	if ((v = http_head_get(h, buf, "Content-Type", &len)) == NULL)
		return;
	for (i = 0; i < len && v[i] != ';' && v[i] != ' '; i++)
		;
	/* Long enough for the log to cut it visibly (accesslog.h). */
	c->c_mime = strndup(v, i > 512 ? 512 : i);
}

/* A complete response head is at the front of f_uin. */
static enum forward_result
forward_response_head(struct conn *c)
{
	struct forward *f = c->c_fwd;
	struct conn_hs *hs = c->c_hs;
	struct http_head *h = &f->f_resp;
	const char *base = f->f_uin.b_data + f->f_uin.b_off, *why;
	struct rewrite_opts o = { c->c_cfg->c_via, NULL, false, false, NULL };

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
		c->c_status = 101;
		buf_consume(&f->f_uin, h->hh_len);
		/* Whatever is buffered on either side goes first. */
		if (buf_add(&f->f_cout, f->f_uin.b_data + f->f_uin.b_off,
		    buf_used(&f->f_uin)) == -1)
			return FORWARD_IO;
		conn_tunnel_start(c, f->f_cout.b_data + f->f_cout.b_off,
		    buf_used(&f->f_cout), hs->hs_buf, hs->hs_len);
		return FORWARD_SWITCHED;
	}
	if (h->hh_status / 100 == 1) {
		/* Interim (100 Continue, 103 Early Hints): pass it on and
		 * parse the next head. */
		if (rewrite_response(h, base, &o, &f->f_cout) == -1)
			return FORWARD_IO;
		/* What the client got so far, should nothing follow. */
		c->c_status = h->hh_status;
		buf_consume(&f->f_uin, h->hh_len);
		http_head_init_response(h, hs->hs_head.hh_method == HTTP_HEAD);
		return FORWARD_OK;
	}
	/* The final answer. The client may send another request only if this
	 * one was read to its end and the response has a length of its own. */
	f->f_rs_final = true;
	c->c_status = h->hh_status;
	forward_note_mime(c, h, base);
	f->f_keepalive = f->f_keepalive && f->f_rq_complete &&
	    !http_head_needs_eof(h);
	o.ro_close = !f->f_keepalive;
	if (rewrite_response(h, base, &o, &f->f_cout) == -1)
		return FORWARD_IO;
	f->f_rs_complete = http_head_bodyless(h);
	buf_consume(&f->f_uin, h->hh_len);
	return FORWARD_OK;
}

/* Upstream -> client. Bytes are parsed as soon as they arrive and before
 * anything is sent, so a response whose head or first body bytes are bad
 * still gets a clean 502 instead of a truncated 200. */
static enum forward_result
forward_down(struct conn *c)
{
	struct forward *f = c->c_fwd;
	enum forward_result r;
	ssize_t n;

	for (;;) {
		size_t unfed = buf_used(&f->f_uin) - f->f_rready;
		const char *base = f->f_uin.b_data + f->f_uin.b_off;

		if (unfed > 0 && !f->f_rs_complete) {
			size_t used;

			if (!f->f_rs_final) {
				/* Heads are parsed from the front: f_rready
				 * is 0 until the final head is through. */
				switch (http_head_feed(&f->f_resp, base,
				    buf_used(&f->f_uin))) {
				case HTTP_HEAD_DONE:
					r = forward_response_head(c);
					if (r != FORWARD_OK)
						return r;
					continue;
				case HTTP_HEAD_MORE:
					break;
				default:
					return FORWARD_BAD_RESPONSE;
				}
			} else {
				switch (http_body_feed(&f->f_resp,
				    base + f->f_rready, unfed, &used)) {
				case HTTP_BODY_ERROR:
					return FORWARD_BAD_RESPONSE;
				case HTTP_BODY_DONE:
					f->f_rs_complete = true;
					break;
				case HTTP_BODY_MORE:
					break;
				}
				f->f_rready += used;
				continue;
			}
		}
		while (buf_used(&f->f_cout) > 0) {
			n = sockio_send(c->c_cfd, &c->c_cst,
			    f->f_cout.b_data + f->f_cout.b_off,
			    buf_used(&f->f_cout));
			if (n == -1)
				return FORWARD_CLIENT_GONE;
			buf_consume(&f->f_cout, (size_t)n);
			c->c_sent += (uint64_t)n;
			if (buf_used(&f->f_cout) > 0)
				return FORWARD_OK;
		}
		if (f->f_rready > 0) {
			n = sockio_send(c->c_cfd, &c->c_cst, base, f->f_rready);
			if (n == -1)
				return FORWARD_CLIENT_GONE;
			buf_consume(&f->f_uin, (size_t)n);
			f->f_rready -= (size_t)n;
			c->c_sent += (uint64_t)n;
			c->c_active = ev_now(conn_loop(c));
			if (f->f_rready > 0)
				return FORWARD_OK;
			continue;
		}
		if (f->f_rs_complete || f->f_upstream_eof || !c->c_ust.can_read)
			return FORWARD_OK;
		{
			char *p = buf_space(&f->f_uin, FORWARD_CHUNK);

			if (p == NULL)
				return FORWARD_IO;
			n = sockio_recv(c->c_ufd, &c->c_ust, p, FORWARD_CHUNK);
		}
		if (n == -1 && errno == EAGAIN)
			return FORWARD_OK;
		if (n == -1)
			return f->f_rs_final ? FORWARD_IO : FORWARD_BAD_RESPONSE;
		if (n == 0) {
			f->f_upstream_eof = true;
			if (!f->f_rs_final) {
				f->f_resp.hh_error = "the origin closed the "
				    "connection without a complete answer";
				return FORWARD_BAD_RESPONSE;
			}
			if (http_body_eof(&f->f_resp) != HTTP_BODY_DONE) {
				f->f_resp.hh_error = "the origin's answer was "
				    "cut short";
				return FORWARD_BAD_RESPONSE;
			}
			f->f_rs_complete = true;
			continue;
		}
		f->f_uin.b_len += (size_t)n;
	}
}

void
forward_pump(struct conn *c)
{
	struct forward *f = c->c_fwd;
	enum forward_result r;
	bool reusable;

	r = forward_up(c);
	if (r == FORWARD_OK)
		r = forward_down(c);
	switch (r) {
	case FORWARD_OK:
		break;
	case FORWARD_SWITCHED:
		return;
	/* Once part of the answer has gone out nothing more can be said to
	 * the client; the log still says why the exchange broke off. */
	case FORWARD_CLIENT_GONE:
		c->c_abort = REASON_CLIENT_ABORTED;
		conn_close(c);
		return;
	case FORWARD_BAD_REQUEST:
		if (c->c_sent == 0) {
			char d[160];

			snprintf(d, sizeof(d), "malformed request body (%s)",
			    c->c_hs->hs_head.hh_error);
			conn_fail(c, REASON_BAD_REQUEST, d);
		} else {
			c->c_abort = REASON_BAD_REQUEST;
			conn_close(c);
		}
		return;
	case FORWARD_BAD_RESPONSE:
		if (c->c_sent == 0) {
			conn_fail(c, REASON_BAD_RESPONSE, f->f_resp.hh_error ?
			    f->f_resp.hh_error : "malformed response");
		} else {
			c->c_abort = REASON_BAD_RESPONSE;
			conn_close(c);
		}
		return;
	case FORWARD_IO:
		if (c->c_sent == 0 && !f->f_rs_final)
			conn_fail(c, REASON_BAD_RESPONSE, "the connection to "
			    "the origin failed");
		else {
			c->c_abort = REASON_BAD_RESPONSE;
			conn_close(c);
		}
		return;
	}
	if (!f->f_rs_complete || f->f_rready > 0 || buf_used(&f->f_cout) > 0)
		return;
	if (!f->f_rq_done) {
		/* Answered before the request ended: nothing can follow. */
		conn_finish(c);
		return;
	}
	/* The exchange is over. The upstream may serve the next request for
	 * the same host if it said so and sent nothing extra. */
	reusable = http_head_keepalive(&f->f_resp) && !f->f_upstream_eof &&
	    buf_used(&f->f_uin) == 0;
	if (!f->f_keepalive) {
		conn_finish(c);
		return;
	}
	forward_free(c);
	if (!reusable) {
		close(c->c_ufd);
		c->c_ufd = -1;
	}
	conn_next_request(c);
}

void
forward_start(struct conn *c)
{
	struct conn_hs *hs = c->c_hs;
	struct forward *f;
	struct rewrite_opts o;
	char client[INET6_ADDRSTRLEN];
	size_t used;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		conn_close(c);
		return;
	}
	c->c_fwd = f;
	f->f_keepalive = http_head_keepalive(&hs->hs_head);
	f->f_upgrade = forward_wants_websocket(hs);
	addr_format_ip((struct sockaddr *)&c->c_peer, client, sizeof(client));
	o.ro_via = c->c_cfg->c_via;
	o.ro_forwarded_for = c->c_cfg->c_forwarded_for ? client : NULL;
	o.ro_close = !f->f_keepalive && !f->f_upgrade;
	o.ro_upgrade = f->f_upgrade;
	/* Through an upstream proxy: absolute-form, with its credentials
	 * ("" when it needs none). */
	o.ro_proxy_auth = c->c_px->px_upstream == NULL ? NULL :
	    c->c_px->px_upstream->up_auth ? c->c_px->px_upstream->up_auth : "";
	if (rewrite_request(&hs->hs_head, hs->hs_buf, &hs->hs_url, &o,
	    &f->f_uout) == -1) {
		conn_close(c);
		return;
	}
	http_head_init_response(&f->f_resp, hs->hs_head.hh_method == HTTP_HEAD);
	/* The head is rewritten: keep only what followed it. */
	memmove(hs->hs_buf, hs->hs_buf + hs->hs_head.hh_len,
	    hs->hs_len - hs->hs_head.hh_len);
	hs->hs_len -= hs->hs_head.hh_len;
	if (http_head_bodyless(&hs->hs_head) || http_head_upgrade(&hs->hs_head))
		f->f_rq_complete = true;
	else if (hs->hs_len > 0) {
		switch (http_body_feed(&hs->hs_head, hs->hs_buf, hs->hs_len,
		    &used)) {
		case HTTP_BODY_ERROR: {
			char d[160];

			snprintf(d, sizeof(d), "malformed request body (%s)",
			    hs->hs_head.hh_error);
			conn_fail(c, REASON_BAD_REQUEST, d);
			return;
		}
		case HTTP_BODY_DONE:
			f->f_rq_complete = true;
			break;
		case HTTP_BODY_MORE:
			break;
		}
		f->f_bready = used;
	}
	forward_pump(c);
}
