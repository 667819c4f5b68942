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
#include "buf.h"
#include "http.h"
#include "proxyurl.h"
#include "tls.h"
#include "upstream.h"
#include "xport.h"

struct upstream_hs {
	const struct upstream	*uh_up;
	struct buf		 uh_out;	/* our CONNECT request */
	struct buf		 uh_in;		/* the upstream's answer */
	struct buf		 uh_first;	/* TUNNEL: bytes after the answer */
	struct http_head	 uh_resp;
};

struct upstream *
upstream_new(const struct proxyurl *u, const char *ca_file, char *err,
    size_t errlen)
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
	snprintf(up->up_host, sizeof(up->up_host), "%s", u->pu_host);
	if (u->pu_tls && (up->up_tls = tls_client_new(ca_file, err,
	    errlen)) == NULL) {
		free(up);
		return NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(u->pu_host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "upstream proxy %s: %s", up->up_name,
		    gai_strerror(r));
		upstream_free(up);
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
	tls_client_free(up->up_tls);
	free(up);
}

void
upstream_hs_free(struct upstream_hs *uh)
{
	if (uh == NULL)
		return;
	/* The request carried our credentials. */
	if (uh->uh_out.b_data != NULL)
		explicit_bzero(uh->uh_out.b_data, uh->uh_out.b_cap);
	buf_free(&uh->uh_out);
	buf_free(&uh->uh_in);
	buf_free(&uh->uh_first);
	free(uh);
}

struct upstream_hs *
upstream_hs_new(const struct upstream *up, const char *hostport)
{
	struct upstream_hs *uh;
	int r = 0;

	if ((uh = calloc(1, sizeof(*uh))) == NULL)
		return NULL;
	uh->uh_up = up;
	http_head_init_response(&uh->uh_resp, false);
	r |= buf_adds(&uh->uh_out, "CONNECT ");
	r |= buf_adds(&uh->uh_out, hostport);
	r |= buf_adds(&uh->uh_out, " HTTP/1.1\r\nHost: ");
	r |= buf_adds(&uh->uh_out, hostport);
	r |= buf_adds(&uh->uh_out, "\r\n");
	if (up->up_auth != NULL) {
		r |= buf_adds(&uh->uh_out, "Proxy-Authorization: Basic ");
		r |= buf_adds(&uh->uh_out, up->up_auth);
		r |= buf_adds(&uh->uh_out, "\r\n");
	}
	r |= buf_adds(&uh->uh_out, "\r\n");
	if (r != 0) {
		upstream_hs_free(uh);
		return NULL;
	}
	return uh;
}

static enum verdict_kind
upstream_fail(struct upstream_hs *uh, struct verdict *v, const char *what)
{
	v->v_kind = VERDICT_FAIL;
	v->v_reason = REASON_UPSTREAM_DENIED;
	if (what == NULL)
		snprintf(v->v_detail, sizeof(v->v_detail), "the connection to "
		    "the upstream proxy %s failed", uh->uh_up->up_name);
	else
		snprintf(v->v_detail, sizeof(v->v_detail), "the upstream proxy "
		    "%s%s", uh->uh_up->up_name, what);
	return v->v_kind;
}

/* A complete answer is in uh_in. */
static enum verdict_kind
upstream_answer(struct upstream_hs *uh, struct verdict *v)
{
	const struct http_head *h = &uh->uh_resp;
	char d[120];

	/* Only the status: the upstream's own words (its reason phrase, its
	 * body) could quote the request and its credentials. */
	if (h->hh_status / 100 != 2) {
		snprintf(d, sizeof(d), " answered %d", h->hh_status);
		return upstream_fail(uh, v, d);
	}
	/* Tunnel data may follow the upstream's answer already. */
	if (buf_add(&uh->uh_first, uh->uh_in.b_data + h->hh_len,
	    uh->uh_in.b_len - h->hh_len) == -1)
		return upstream_fail(uh, v, NULL);
	v->v_kind = VERDICT_TUNNEL;
	v->v_to_client = uh->uh_first.b_data;
	v->v_clen = uh->uh_first.b_len;
	v->v_to_upstream = NULL;
	v->v_ulen = 0;
	return v->v_kind;
}

enum verdict_kind
upstream_hs_pump(struct upstream_hs *uh, struct xport *x, struct verdict *v)
{
	v->v_kind = VERDICT_WAIT;
	if (buf_used(&uh->uh_out) > 0) {
		ssize_t n = xport_write(x, uh->uh_out.b_data + uh->uh_out.b_off,
		    buf_used(&uh->uh_out));

		if (n == -1)
			return upstream_fail(uh, v, NULL);
		buf_consume(&uh->uh_out, (size_t)n);
		if (buf_used(&uh->uh_out) > 0)
			return VERDICT_WAIT;
	}
	for (;;) {
		char *p;
		ssize_t n;

		if (!x->x_can_read)
			return VERDICT_WAIT;
		if ((p = buf_space(&uh->uh_in, 4096)) == NULL)
			return upstream_fail(uh, v, NULL);
		n = xport_read(x, p, 4096);
		if (n == -1 && errno == EAGAIN)
			return VERDICT_WAIT;
		if (n <= 0)
			return upstream_fail(uh, v, NULL);
		uh->uh_in.b_len += (size_t)n;
		switch (http_head_feed(&uh->uh_resp, uh->uh_in.b_data,
		    uh->uh_in.b_len)) {
		case HTTP_HEAD_MORE:
			continue;
		case HTTP_HEAD_DONE:
			return upstream_answer(uh, v);
		default:
			return upstream_fail(uh, v, " sent a malformed answer");
		}
	}
}
