/* SPDX-License-Identifier: MIT */
/* The CONNECT handshake with an upstream proxy; see upstream.h. The local
 * policy has already decided; the upstream applies its own on top (its
 * address rules included, since it resolves the name). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "b64.h"
#include "conn.h"
#include "proxy.h"
#include "proxyurl.h"
#include "sockio.h"
#include "upstream.h"

struct upstream_hs {
	struct buf		uh_out;
	struct buf		uh_in;
	struct http_head	uh_resp;
};

struct upstream *
upstream_new(const struct proxyurl *u, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct upstream *up;
	char port[8];
	int r;

	if ((up = calloc(1, sizeof(*up))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)u->pu_port);
	snprintf(up->up_name, sizeof(up->up_name), strchr(u->pu_host, ':') ?
	    "[%s]:%s" : "%s:%s", u->pu_host, port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(u->pu_host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "upstream proxy %s: %s", up->up_name,
		    gai_strerror(r));
		free(up);
		return NULL;
	}
	for (ai = res; ai != NULL && up->up_naddrs < DNS_MAX_ADDRS;
	    ai = ai->ai_next)
		if (ai->ai_addrlen <= sizeof(up->up_addrs[0]))
			memcpy(&up->up_addrs[up->up_naddrs++], ai->ai_addr,
			    ai->ai_addrlen);
	freeaddrinfo(res);
	if (u->pu_user != NULL) {
		size_t ul = strlen(u->pu_user), pl = strlen(u->pu_pass);
		char *plain = malloc(ul + pl + 2);

		up->up_auth = malloc(B64_ENCODED_LEN(ul + pl + 1));
		if (plain == NULL || up->up_auth == NULL) {
			free(plain);
			upstream_free(up);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		memcpy(plain, u->pu_user, ul);
		plain[ul] = ':';
		memcpy(plain + ul + 1, u->pu_pass, pl + 1);
		b64_encode(plain, ul + pl + 1, up->up_auth);
		explicit_bzero(plain, ul + pl + 1);
		free(plain);
	}
	return up;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	if (up->up_auth != NULL)
		explicit_bzero(up->up_auth, strlen(up->up_auth));
	free(up->up_auth);
	free(up);
}

void
upstream_free_hs(struct conn *c)
{
	struct upstream_hs *uh = c->c_uhs;

	if (uh == NULL)
		return;
	/* The request carried our credentials. */
	if (uh->uh_out.b_data != NULL)
		explicit_bzero(uh->uh_out.b_data, uh->uh_out.b_cap);
	buf_free(&uh->uh_out);
	buf_free(&uh->uh_in);
	free(uh);
	c->c_uhs = NULL;
}

void
upstream_start(struct conn *c)
{
	struct upstream *up = c->c_px->px_upstream;
	struct upstream_hs *uh;
	int r = 0;

	if ((uh = calloc(1, sizeof(*uh))) == NULL) {
		conn_close(c);
		return;
	}
	c->c_uhs = uh;
	http_head_init_response(&uh->uh_resp, false);
	r |= buf_adds(&uh->uh_out, "CONNECT ");
	r |= buf_adds(&uh->uh_out, c->c_hs->hs_hostport);
	r |= buf_adds(&uh->uh_out, " HTTP/1.1\r\nHost: ");
	r |= buf_adds(&uh->uh_out, c->c_hs->hs_hostport);
	r |= buf_adds(&uh->uh_out, "\r\n");
	if (up->up_auth != NULL) {
		r |= buf_adds(&uh->uh_out, "Proxy-Authorization: Basic ");
		r |= buf_adds(&uh->uh_out, up->up_auth);
		r |= buf_adds(&uh->uh_out, "\r\n");
	}
	r |= buf_adds(&uh->uh_out, "\r\n");
	if (r != 0) {
		conn_close(c);
		return;
	}
	c->c_state = CONN_UPSTREAM;
	upstream_pump(c);
}

void
upstream_pump(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct upstream_hs *uh = c->c_uhs;
	struct conn_hs *hs = c->c_hs;
	char d[500];

	if (buf_used(&uh->uh_out) > 0) {
		ssize_t n = sockio_send(c->c_ufd, &c->c_ust, uh->uh_out.b_data +
		    uh->uh_out.b_off, buf_used(&uh->uh_out));

		if (n == -1)
			goto broken;
		buf_consume(&uh->uh_out, (size_t)n);
		if (buf_used(&uh->uh_out) > 0)
			return;
	}
	for (;;) {
		char *p;
		ssize_t n;

		if (!c->c_ust.can_read)
			return;
		if ((p = buf_space(&uh->uh_in, 4096)) == NULL)
			goto broken;
		n = sockio_recv(c->c_ufd, &c->c_ust, p, 4096);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			goto broken;
		uh->uh_in.b_len += (size_t)n;
		switch (http_head_feed(&uh->uh_resp, uh->uh_in.b_data,
		    uh->uh_in.b_len)) {
		case HTTP_HEAD_MORE:
			continue;
		case HTTP_HEAD_DONE:
			break;
		default:
			snprintf(d, sizeof(d), "the upstream proxy %s sent a "
			    "malformed answer", c->c_px->px_upstream->up_name);
			conn_fail(c, REASON_UPSTREAM_DENIED, d);
			return;
		}
		if (uh->uh_resp.hh_status / 100 != 2) {
			struct http_head *h = &uh->uh_resp;

			snprintf(d, sizeof(d), "the upstream proxy %s answered "
			    "%d %.*s", c->c_px->px_upstream->up_name,
			    h->hh_status, (int)(h->hh_reason.len > 80 ? 80 :
			    h->hh_reason.len), uh->uh_in.b_data +
			    h->hh_reason.off);
			conn_fail(c, REASON_UPSTREAM_DENIED, d);
			return;
		}
		/* Tunnel data may follow the upstream's answer already. */
		{
			struct buf first = { NULL, 0, 0, 0 };
			size_t extra = uh->uh_in.b_len - uh->uh_resp.hh_len;

			if (buf_add(&first, ok, sizeof(ok) - 1) == -1 ||
			    buf_add(&first, uh->uh_in.b_data +
			    uh->uh_resp.hh_len, extra) == -1) {
				buf_free(&first);
				goto broken;
			}
			upstream_free_hs(c);
			conn_tunnel_start(c, first.b_data, first.b_len,
			    hs->hs_buf + hs->hs_head.hh_len,
			    hs->hs_len - hs->hs_head.hh_len);
			buf_free(&first);
		}
		return;
	}
broken:
	snprintf(d, sizeof(d), "the connection to the upstream proxy %s "
	    "failed", c->c_px->px_upstream->up_name);
	conn_fail(c, REASON_UPSTREAM_DENIED, d);
}
