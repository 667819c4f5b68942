/* SPDX-License-Identifier: MIT */
/* Rewriting forwarded HTTP heads: origin-form request line and Host from the
 * URL, hop-by-hop fields removed (Proxy-Authorization above all), Via and
 * optionally X-Forwarded-For added; the same hygiene for responses. No I/O. */
#ifndef SLUICE_REWRITE_H
#define SLUICE_REWRITE_H

#include <stdbool.h>

struct buf;
struct http_head;
struct url;

struct rewrite_opts {
	bool		 ro_via;		/* add "Via: 1.1 sluice" */
	const char	*ro_forwarded_for;	/* client IP for X-F-F, or NULL */
	bool		 ro_close;		/* announce Connection: close */
	bool		 ro_upgrade;		/* keep Upgrade (websocket) */
	const char	*ro_proxy_auth;	/* to an upstream proxy: absolute-form
					 * target and these Basic credentials */
};

/* Append to `out` the head to send upstream for the request `h` (parsed from
 * `buf`) whose target is `u`. Returns 0 or -1 (out of memory). */
int rewrite_request(const struct http_head *h, const char *buf,
    const struct url *u, const struct rewrite_opts *o, struct buf *out);

/* Append to `out` the head to send the client for the response `h` (parsed
 * from `buf`). Returns 0 or -1 (out of memory). */
int rewrite_response(const struct http_head *h, const char *buf,
    const struct rewrite_opts *o, struct buf *out);

#endif
