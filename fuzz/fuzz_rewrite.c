/* SPDX-License-Identifier: MIT */
/* Fuzzes head rewriting for plain-HTTP forwarding (rewrite.c) the way
 * forward.c uses it: a head that http_head_check and url_parse accept is
 * rewritten, and the result, parsed again with the same llhttp settings as a
 * stand-in for the next hop, must be exactly one clean head that carries the
 * input's end-to-end fields unchanged, no hop-by-hop ones, and, above all,
 * the same message framing as the bytes forward.c will send after it.
 * forward.c sends a request body only when the head is neither bodyless nor
 * an upgrade; the next hop reads one whenever the rewritten head announces
 * one. If those differ, the two sides disagree on where the next request
 * starts (request smuggling).
 *
 * Input: byte 0 = options (bit 0: Via, bit 1: X-Forwarded-For, bit 2:
 * response, bit 3: the response answers a HEAD request, bit 4: the client
 * connection is closing), then the head (and anything after it). */
#include <strings.h>

#include "buf.h"
#include "fuzz.h"
#include "http.h"
#include "rewrite.h"
#include "url.h"

static bool
span_is(const char *buf, const struct http_span *s, const char *name)
{
	return s->len == strlen(name) &&
	    strncasecmp(buf + s->off, name, s->len) == 0;
}

/* Does a Connection field of `h` list `name`? */
static bool
connection_lists(const struct http_head *h, const char *buf, const char *name)
{
	size_t n = strlen(name);
	unsigned i;

	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];
		const char *v = buf + f->value.off, *end = v + f->value.len;

		if (!span_is(buf, &f->name, "Connection"))
			continue;
		while (v < end) {
			const char *t;

			while (
			    v < end && (*v == ' ' || *v == '\t' || *v == ','))
				v++;
			for (t = v;
			     t < end && *t != ',' && *t != ' ' && *t != '\t';
			     t++)
				;
			if ((size_t)(t - v) == n &&
			    strncasecmp(v, name, n) == 0)
				return true;
			v = t;
		}
	}
	return false;
}

/* What forward.c would do with the body after this head: true when it
 * streams one (neither bodyless nor an upgrade). */
static bool
sluice_sends_body(const struct http_head *h)
{
	return !http_head_bodyless(h) && !http_head_upgrade(h);
}

/* What an llhttp-like next hop expects after this head: a body whenever
 * the framing announces one (llhttp reads a body even before an upgrade). */
static bool
next_hop_reads_body(const struct http_head *h)
{
	return !http_head_bodyless(h);
}

static void
check_framing(const struct http_head *in, const struct http_head *out,
    const char *inbuf, size_t inlen, const char *what)
{
	const llhttp_t *a = &in->hh_parser, *b = &out->hh_parser;

	FUZZ_CHECK("rewrite-framing",
	    sluice_sends_body(in) == next_hop_reads_body(out),
	    "%s: forward.c sends %s body but the "
	    "rewritten head makes the next hop expect %s: '%s'",
	    what, sluice_sends_body(in) ? "a" : "no",
	    next_hop_reads_body(out) ? "one" : "none", fuzz_show(inbuf, inlen));
	if (!sluice_sends_body(in))
		return;
	FUZZ_CHECK("rewrite-framing",
	    (a->flags & F_CHUNKED) == (b->flags & F_CHUNKED) &&
	        (a->flags & F_CONTENT_LENGTH) ==
	            (b->flags & F_CONTENT_LENGTH) &&
	        a->content_length == b->content_length &&
	        http_head_needs_eof(in) == http_head_needs_eof(out),
	    "%s: framing changed: '%s'", what, fuzz_show(inbuf, inlen));
}

/* Every end-to-end field of `in` appears in `out`, in order, unchanged;
 * nothing hop-by-hop does. `skip` names a field rewrite.c replaces. */
static void
check_fields(const struct http_head *in, const char *inbuf,
    const struct http_head *out, const char *outbuf, bool upgrade,
    const char *skip)
{
	static const char *const hop[] = {
	    "Connection",
	    "Keep-Alive",
	    "Proxy-Connection",
	    "Proxy-Authorization",
	    "TE",
	    "Trailer",
	};
	static const char *const keep[] = {
	    "Content-Length",
	    "Transfer-Encoding",
	    "Host",
	    "Upgrade",
	};
	unsigned i, j = 0, k;

	for (i = 0; i < in->hh_nfields; i++) {
		const struct http_field *f = &in->hh_fields[i];
		bool drop = false, kept = false;
		char name[256];

		for (k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
			drop |= span_is(inbuf, &f->name, hop[k]);
		if (span_is(inbuf, &f->name, "Upgrade"))
			drop |= !upgrade;
		if (skip != NULL && span_is(inbuf, &f->name, skip))
			drop = true;
		for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			kept |= span_is(inbuf, &f->name, keep[k]);
		if (!kept && f->name.len < sizeof(name)) {
			memcpy(name, inbuf + f->name.off, f->name.len);
			name[f->name.len] = '\0';
			drop |= connection_lists(in, inbuf, name);
		}
		if (drop)
			continue;
		/* Find it among the output fields, in order. */
		for (; j < out->hh_nfields; j++) {
			const struct http_field *g = &out->hh_fields[j];

			if (g->name.len == f->name.len &&
			    g->value.len == f->value.len &&
			    memcmp(outbuf + g->name.off, inbuf + f->name.off,
			        f->name.len) == 0 &&
			    memcmp(outbuf + g->value.off, inbuf + f->value.off,
			        f->value.len) == 0)
				break;
		}
		FUZZ_CHECK("rewrite-fields", j < out->hh_nfields,
		    "field '%s' lost or changed",
		    fuzz_show(inbuf + f->name.off, f->name.len));
		j++;
	}
	for (j = 0; j < out->hh_nfields; j++) {
		const struct http_field *g = &out->hh_fields[j];

		for (k = 1; k < sizeof(hop) / sizeof(hop[0]); k++)
			FUZZ_CHECK("rewrite-hop",
			    !span_is(outbuf, &g->name, hop[k]),
			    "hop-by-hop '%s' forwarded", hop[k]);
		if (!upgrade)
			FUZZ_CHECK("rewrite-hop",
			    !span_is(outbuf, &g->name, "Upgrade"),
			    "Upgrade forwarded");
	}
}

/* Parse the rewritten head: exactly one complete, clean head. (rewrite.c
 * adds up to four fields, so inputs near HTTP_MAX_HEADERS are skipped: the
 * limit is sluice's own, not the next hop's.) */
static void
reparse(struct http_head *h, const struct buf *out, bool response, bool to_head)
{
	const char *why = NULL;
	int st;

	if (response)
		http_head_init_response(h, to_head);
	else
		http_head_init(h);
	st = http_head_feed(h, out->b_data, out->b_len);
	FUZZ_CHECK("rewrite-reparse",
	    st == HTTP_HEAD_DONE && h->hh_len == out->b_len,
	    "rewritten head does not parse as one "
	    "head (status %d, %u of %zu bytes, %s): '%s'",
	    st, h->hh_len, out->b_len, h->hh_error ? h->hh_error : "-",
	    fuzz_show(out->b_data, out->b_len));
	FUZZ_CHECK("rewrite-reparse",
	    http_head_check(h, out->b_data, &why) == 0,
	    "rewritten head fails http_head_check (%s): '%s'", why,
	    fuzz_show(out->b_data, out->b_len));
}

static void
fuzz_request(const char *buf, size_t len, uint8_t opt)
{
	static struct http_head in, out;
	struct rewrite_opts o;
	struct buf ob = {NULL, 0, 0, 0};
	const char *why, *v;
	char err[160], want[300];
	struct url u;
	size_t vlen;
	unsigned i, hosts = 0;

	http_head_init(&in);
	if (http_head_feed(&in, buf, len) != HTTP_HEAD_DONE ||
	    in.hh_nfields > HTTP_MAX_HEADERS - 4 ||
	    http_head_check(&in, buf, &why) == -1 ||
	    in.hh_method == HTTP_CONNECT ||
	    /* conn_target refuses these with 400 before forward.c runs. */
	    in.hh_major != 1 ||
	    (http_head_upgrade(&in) && !http_head_bodyless(&in)) ||
	    url_parse(buf + in.hh_url.off, in.hh_url.len, &u, err,
	        sizeof(err)) == -1 ||
	    u.u_scheme != URL_HTTP)
		return;
	/* As forward.c sets them. */
	memset(&o, 0, sizeof(o));
	o.ro_via = opt & 1;
	o.ro_forwarded_for = (opt & 2) ? "192.0.2.1" : NULL;
	v = http_head_get(&in, buf, "Upgrade", &vlen);
	o.ro_upgrade = http_head_upgrade(&in) && v != NULL && vlen == 9 &&
	    strncasecmp(v, "websocket", 9) == 0;
	o.ro_close = !http_head_keepalive(&in) && !o.ro_upgrade;
	FUZZ_CHECK("rewrite-ret", rewrite_request(&in, buf, &u, &o, &ob) == 0,
	    "rewrite_request failed");
	reparse(&out, &ob, false, false);
	FUZZ_CHECK("rewrite-method", out.hh_method == in.hh_method,
	    "method %d became %d", in.hh_method, out.hh_method);
	/* Origin-form target: the URL's path, "/" when it has none. */
	snprintf(want, sizeof(want), "%s%.*s",
	    u.u_pathlen == 0 || u.u_path[0] != '/' ? "/" : "",
	    (int)(u.u_pathlen > 250 ? 250 : u.u_pathlen), u.u_path);
	if (u.u_pathlen <= 250)
		FUZZ_CHECK("rewrite-target",
		    out.hh_url.len == strlen(want) &&
		        memcmp(ob.b_data + out.hh_url.off, want,
		            strlen(want)) == 0,
		    "target '%s' for URL '%s'",
		    fuzz_show(ob.b_data + out.hh_url.off, out.hh_url.len),
		    fuzz_show(buf + in.hh_url.off, in.hh_url.len));
	/* One Host, the URL's. */
	for (i = 0; i < out.hh_nfields; i++)
		hosts += span_is(ob.b_data, &out.hh_fields[i].name, "Host");
	FUZZ_CHECK("rewrite-host", hosts == 1, "%u Host fields", hosts);
	v = http_head_get(&out, ob.b_data, "Host", &vlen);
	if (u.u_host.h_kind == HOST_IPV6)
		snprintf(want, sizeof(want),
		    u.u_host.h_port == 80 ? "[%s]" : "[%s]:%u", u.u_host.h_name,
		    (unsigned)u.u_host.h_port);
	else
		snprintf(want, sizeof(want),
		    u.u_host.h_port == 80 ? "%s" : "%s:%u", u.u_host.h_name,
		    (unsigned)u.u_host.h_port);
	FUZZ_CHECK("rewrite-host",
	    v != NULL && vlen == strlen(want) && memcmp(v, want, vlen) == 0,
	    "Host '%s', want '%s'", v ? fuzz_show(v, vlen) : "(none)", want);
	check_fields(&in, buf, &out, ob.b_data, o.ro_upgrade, "Host");
	check_framing(&in, &out, buf, in.hh_len, "request");
	buf_free(&ob);
}

static void
fuzz_response(const char *buf, size_t len, uint8_t opt)
{
	static struct http_head in, out;
	struct rewrite_opts o;
	struct buf ob = {NULL, 0, 0, 0};
	const char *why;
	bool to_head = (opt & 8) != 0;

	http_head_init_response(&in, to_head);
	if (http_head_feed(&in, buf, len) != HTTP_HEAD_DONE ||
	    in.hh_nfields > HTTP_MAX_HEADERS - 4 ||
	    http_head_check(&in, buf, &why) == -1)
		return;
	/* As forward_response_head sets them. */
	memset(&o, 0, sizeof(o));
	o.ro_via = opt & 1;
	o.ro_upgrade = in.hh_status == 101;
	o.ro_close = !o.ro_upgrade && in.hh_status / 100 != 1 &&
	    ((opt & 16) || http_head_needs_eof(&in));
	FUZZ_CHECK("rewrite-ret", rewrite_response(&in, buf, &o, &ob) == 0,
	    "rewrite_response failed");
	reparse(&out, &ob, true, to_head);
	FUZZ_CHECK("rewrite-status",
	    out.hh_status == in.hh_status &&
	        out.hh_reason.len == in.hh_reason.len &&
	        memcmp(ob.b_data + out.hh_reason.off, buf + in.hh_reason.off,
	            in.hh_reason.len) == 0,
	    "status line changed: '%s'", fuzz_show(ob.b_data, out.hh_len));
	check_fields(&in, buf, &out, ob.b_data, o.ro_upgrade, NULL);
	/* A response body ends where the client will look for it. */
	FUZZ_CHECK("rewrite-framing",
	    http_head_bodyless(&in) == http_head_bodyless(&out) &&
	        (in.hh_parser.flags & F_CHUNKED) ==
	            (out.hh_parser.flags & F_CHUNKED) &&
	        in.hh_parser.content_length == out.hh_parser.content_length &&
	        http_head_needs_eof(&in) == http_head_needs_eof(&out),
	    "response framing changed: '%s' -> '%s'", fuzz_show(buf, in.hh_len),
	    fuzz_show(ob.b_data, ob.b_len));
	buf_free(&ob);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	if (size < 2 || size > 16384)
		return 0;
	/* An exactly-sized copy: over-reads are ASan reports. */
	if ((buf = malloc(size - 1)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 4)
		fuzz_response(buf, size - 1, data[0]);
	else
		fuzz_request(buf, size - 1, data[0]);
	free(buf);
	return 0;
}
