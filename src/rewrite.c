/* SPDX-License-Identifier: MIT */
/* Head rewriting for plain-HTTP forwarding. Hop-by-hop fields (RFC 9110
 * 7.6.1) describe one connection and must not cross the proxy: Connection
 * and every field it names, Keep-Alive, Proxy-Connection, Proxy-Authorization
 * (the client's credentials for us, never for the origin), TE, Trailer, and
 * Upgrade unless a protocol switch is being forwarded. Transfer-Encoding and
 * Content-Length stay: bodies are forwarded verbatim with their framing. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "http.h"
#include "rewrite.h"
#include "url.h"

#define REWRITE_MAX_NAMED 32

/* Field names listed in Connection headers, as spans of `buf`. */
struct rewrite_named {
	const char	*rn_name[REWRITE_MAX_NAMED];
	size_t		 rn_len[REWRITE_MAX_NAMED];
	size_t		 rn_count;
	bool		 rn_overflow;
};

static bool
rewrite_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

static void
rewrite_collect_connection(const struct http_head *h, const char *buf,
    struct rewrite_named *n)
{
	unsigned i;

	memset(n, 0, sizeof(*n));
	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];
		const char *v = buf + f->value.off, *end = v + f->value.len;

		if (!rewrite_is(buf + f->name.off, f->name.len, "Connection"))
			continue;
		while (v < end) {
			const char *t;

			while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
				v++;
			for (t = v; t < end && *t != ',' && *t != ' ' &&
			    *t != '\t'; t++)
				;
			if (t > v) {
				if (n->rn_count == REWRITE_MAX_NAMED)
					n->rn_overflow = true;
				else {
					n->rn_name[n->rn_count] = v;
					n->rn_len[n->rn_count++] = (size_t)(t - v);
				}
			}
			v = t;
		}
	}
}

/* Should the field named `name` be dropped when crossing the proxy? */
static bool
rewrite_hop(const char *name, size_t len, const struct rewrite_named *n,
    bool upgrade)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authorization", "TE", "Trailer",
	};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (rewrite_is(name, len, hop[i]))
			return true;
	if (rewrite_is(name, len, "Upgrade"))
		return !upgrade;
	for (i = 0; i < n->rn_count; i++) {
		/* A Connection header cannot strip end-to-end framing. */
		if (rewrite_is(n->rn_name[i], n->rn_len[i], "Upgrade") ||
		    rewrite_is(n->rn_name[i], n->rn_len[i], "Content-Length") ||
		    rewrite_is(n->rn_name[i], n->rn_len[i],
		    "Transfer-Encoding") ||
		    rewrite_is(n->rn_name[i], n->rn_len[i], "Host"))
			continue;
		if (n->rn_len[i] == len &&
		    strncasecmp(n->rn_name[i], name, len) == 0)
			return true;
	}
	return false;
}

/* Copy the end-to-end fields of `h`, skipping hop-by-hop ones and, when
 * `skip` is set, that field too. */
static int
rewrite_fields(const struct http_head *h, const char *buf,
    const struct rewrite_opts *o, const char *skip, struct buf *out)
{
	struct rewrite_named named;
	unsigned i;
	int r = 0;

	rewrite_collect_connection(h, buf, &named);
	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];
		const char *name = buf + f->name.off;

		if (rewrite_hop(name, f->name.len, &named, o->ro_upgrade))
			continue;
		if (skip != NULL && rewrite_is(name, f->name.len, skip))
			continue;
		r |= buf_add(out, name, f->name.len);
		r |= buf_add(out, ": ", 2);
		r |= buf_add(out, buf + f->value.off, f->value.len);
		r |= buf_add(out, "\r\n", 2);
	}
	return r;
}

static int
rewrite_trailer(const struct rewrite_opts *o, struct buf *out)
{
	int r = 0;

	if (o->ro_via)
		r |= buf_adds(out, "Via: 1.1 sluice\r\n");
	if (o->ro_upgrade)
		r |= buf_adds(out, "Connection: Upgrade\r\n");
	else if (o->ro_close)
		r |= buf_adds(out, "Connection: close\r\n");
	r |= buf_add(out, "\r\n", 2);
	return r;
}

int
rewrite_request(const struct http_head *h, const char *buf,
    const struct url *u, const struct rewrite_opts *o, struct buf *out)
{
	char host[HOST_NAME_MAX_LEN + 16];
	const char *method = http_head_method(h);
	bool default_port = u->u_host.h_port == 80;
	int r = 0;

	if (u->u_host.h_kind == HOST_IPV6)
		snprintf(host, sizeof(host), default_port ? "[%s]" : "[%s]:%u",
		    u->u_host.h_name, (unsigned)u->u_host.h_port);
	else
		snprintf(host, sizeof(host), default_port ? "%s" : "%s:%u",
		    u->u_host.h_name, (unsigned)u->u_host.h_port);
	r |= buf_adds(out, method);
	r |= buf_add(out, " ", 1);
	if (o->ro_proxy_auth != NULL) {
		r |= buf_adds(out, "http://");
		r |= buf_adds(out, host);
	}
	if (u->u_pathlen == 0 || u->u_path[0] != '/')
		r |= buf_add(out, "/", 1);
	r |= buf_add(out, u->u_path, u->u_pathlen);
	r |= buf_adds(out, " HTTP/1.1\r\nHost: ");
	r |= buf_adds(out, host);
	r |= buf_add(out, "\r\n", 2);
	if (o->ro_proxy_auth != NULL && o->ro_proxy_auth[0] != '\0') {
		r |= buf_adds(out, "Proxy-Authorization: Basic ");
		r |= buf_adds(out, o->ro_proxy_auth);
		r |= buf_add(out, "\r\n", 2);
	}
	r |= rewrite_fields(h, buf, o, "Host", out);
	if (o->ro_forwarded_for != NULL) {
		r |= buf_adds(out, "X-Forwarded-For: ");
		r |= buf_adds(out, o->ro_forwarded_for);
		r |= buf_add(out, "\r\n", 2);
	}
	r |= rewrite_trailer(o, out);
	return r;
}

int
rewrite_response(const struct http_head *h, const char *buf,
    const struct rewrite_opts *o, struct buf *out)
{
	char line[64];
	int r = 0;

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", h->hh_status);
	r |= buf_adds(out, line);
	r |= buf_add(out, buf + h->hh_reason.off, h->hh_reason.len);
	r |= buf_add(out, "\r\n", 2);
	r |= rewrite_fields(h, buf, o, NULL, out);
	r |= rewrite_trailer(o, out);
	return r;
}
