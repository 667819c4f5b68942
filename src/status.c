/* SPDX-License-Identifier: MIT */
/* The /status page; see status.h. Pure: it formats a view into a buffer and
 * keeps nothing. Every string of the view goes through status_text, the
 * one way in for a string, and so through status_escape; numbers and times
 * are formatted here. The markup itself is constant, and a Content
 * Security Policy in the page forbids scripts should that ever change. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "status.h"
#include "utf8.h"

/* The page being written: the first failure sticks, and everything after
 * it is skipped, so the sections need not check each append. */
struct status_out {
	struct buf	*o_buf;
	int		 o_err;
};

static const char status_style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:1em 2em;color:#222;"
    "background:#fff}\n"
    "h1{font-size:1.4em;margin:0 0 .2em}\n"
    "h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:0 0 .8em}\n"
    "caption{text-align:left;font-weight:bold;color:#555;padding:.2em 0}\n"
    "th,td{text-align:left;vertical-align:top;padding:.15em .8em .15em 0;"
    "border-bottom:1px solid #eee}\n"
    "td{max-width:40em;overflow-wrap:anywhere}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".pair{display:flex;flex-wrap:wrap;column-gap:3em}\n"
    ".none{color:#888;font-style:italic}\n"
    ".badge{background:#b35900;color:#fff;border-radius:3px;"
    "padding:0 .4em}\n"
    "p.when{color:#666;margin:0}\n"
    "code{font-family:ui-monospace,monospace}\n";

/* Append constant markup. */
static void
status_put(struct status_out *o, const char *s)
{
	if (o->o_err == 0 && buf_adds(o->o_buf, s) == -1)
		o->o_err = -1;
}

/* Append formatted numbers; never for a string of the view. */
static void __attribute__((format(printf, 2, 3)))
status_putf(struct status_out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		n = 0;	/* cannot happen with our formats; show nothing */
	if (o->o_err == 0 && buf_add(o->o_buf, tmp, (size_t)n) == -1)
		o->o_err = -1;
}

/* Whether code point `cp` is invisible or changes how the text around it
 * reads (so a name could pass for another): C1 controls, soft hyphen, bidi
 * marks, embeddings and isolates, zero-width characters, line and
 * paragraph separators, invisible operators, BOM, annotation marks, tags. */
static bool
status_hidden(long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c ||
	    cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
	    cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	    (cp >= 0xe0000 && cp <= 0xe007f);
}

/* "\xNN" for each of the `n` bytes at `s`. Returns 0 or -1. */
static int
status_hex(struct buf *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[4] = { '\\', 'x', 0, 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		e[2] = hex[s[i] >> 4];
		e[3] = hex[s[i] & 15];
		if (buf_add(out, e, sizeof(e)) == -1)
			return -1;
	}
	return 0;
}

/* The entity or escape for ASCII byte `c`, or NULL when it stands as is. */
static const char *
status_ascii(unsigned char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	case '\\':
		return "\\\\";
	default:
		return NULL;
	}
}

int
status_escape(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *ent;
	size_t i = 0, j, used;
	long cp;
	int rc;

	while (i < len) {
		/* A run of bytes that stand as they are, added at once. */
		for (j = i; j < len && p[j] >= 0x20 && p[j] < 0x7f &&
		    status_ascii(p[j]) == NULL; j++)
			;
		if (j > i && buf_add(out, p + i, j - i) == -1)
			return -1;
		if ((i = j) == len)
			break;
		if (p[i] < 0x80) {
			ent = status_ascii(p[i]);
			rc = ent != NULL ? buf_adds(out, ent) :
			    status_hex(out, p + i, 1);
			used = 1;
		} else if ((cp = utf8_decode(p + i, len - i, &used)) < 0 ||
		    status_hidden(cp))
			rc = status_hex(out, p + i, used);
		else
			rc = buf_add(out, p + i, used);
		if (rc == -1)
			return -1;
		i += used;
	}
	return 0;
}

/* A string of the view: "-" for NULL or "", cut at STATUS_TEXT_MAX bytes
 * (before a whole character) with an ellipsis, escaped. */
static void
status_text(struct status_out *o, const char *s)
{
	size_t all, n;

	if (s == NULL || *s == '\0') {
		status_put(o, "-");
		return;
	}
	n = all = strnlen(s, STATUS_TEXT_MAX + 1);
	if (all > STATUS_TEXT_MAX) {
		/* Back to the start of a UTF-8 sequence cut in two. */
		for (n = STATUS_TEXT_MAX; n > STATUS_TEXT_MAX - 3 &&
		    ((unsigned char)s[n] & 0xc0) == 0x80; n--)
			;
	}
	if (o->o_err == 0 && status_escape(o->o_buf, s, n) == -1)
		o->o_err = -1;
	if (n < all)
		status_put(o, "&hellip;");
}

/* A time as ISO 8601 in UTC, or "-" when unknown (0 or less, or beyond
 * what gmtime handles). */
static void
status_time(struct status_out *o, int64_t t)
{
	char s[64];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || (int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		status_put(o, "-");
		return;
	}
	status_put(o, s);
}

/* A duration the way people say it: "42s", "5m 3s", "3h 12m", "4d 3h 12m". */
static void
status_uptime(struct status_out *o, uint64_t s)
{
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (s < 60)
		status_putf(o, "%" PRIu64 "s", s);
	else if (s < 3600)
		status_putf(o, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
	else if (s < 86400)
		status_putf(o, "%" PRIu64 "h %" PRIu64 "m", h, m);
	else
		status_putf(o, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h,
		    m);
}

/* The document's head, and the page's title and time. */
static void
status_head(struct status_out *o, const struct status_view *v)
{
	status_put(o, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n");
	/* Defence in depth: should markup ever get through, it runs no
	 * script and loads nothing. */
	status_put(o, "<meta http-equiv=\"Content-Security-Policy\" "
	    "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n");
	if (v->sv_refresh_s > 0)
		status_putf(o, "<meta http-equiv=\"refresh\" content=\"%u\">\n",
		    v->sv_refresh_s);
	status_put(o, "<title>sluice status</title>\n<style>\n");
	status_put(o, status_style);
	status_put(o, "</style>\n</head>\n<body>\n<h1>sluice status</h1>\n"
	    "<p class=\"when\">As of ");
	status_time(o, v->sv_now);
	if (v->sv_refresh_s > 0)
		status_putf(o, ", refreshed every %u s", v->sv_refresh_s);
	status_put(o, ".</p>\n");
}

/* Close the overview's previous row, if any, and open one: a heading
 * cell, then the value's cell. */
static void
status_row(struct status_out *o, const char *name)
{
	status_put(o, "</td></tr>\n<tr><th>");
	status_put(o, name);
	status_put(o, "</th><td>");
}

/* Version, uptime, configuration, listeners and the counts of now. */
static void
status_overview(struct status_out *o, const struct status_view *v)
{
	size_t i;

	status_put(o, "<h2>Overview</h2>\n<table>\n<tr><th>State</th><td>");
	status_put(o, v->sv_draining ? "<span class=\"badge\">draining</span>"
	    " not accepting new connections" : "accepting");
	status_row(o, "Version");
	status_text(o, v->sv_version);
	status_row(o, "Uptime");
	status_uptime(o, v->sv_uptime_s);
	status_row(o, "Configuration");
	status_text(o, v->sv_config);
	status_putf(o, ", generation %" PRIu64 ", loaded ", v->sv_generation);
	status_time(o, v->sv_loaded);
	status_row(o, "Listeners");
	for (i = 0; i < v->sv_nlisteners; i++) {
		status_put(o, i > 0 ? "<br>" : "");
		status_text(o, v->sv_listeners[i]);
	}
	if (v->sv_nlisteners == 0)
		status_put(o, "<span class=\"none\">none</span>");
	status_row(o, "Connections");
	status_putf(o, "%" PRIu64, v->sv_connections);
	status_row(o, "Tunnels");
	status_putf(o, "%" PRIu64, v->sv_tunnels);
	status_put(o, "</td></tr>\n</table>\n");
}

/* The row that says a table is empty, across its `cols` columns. */
static void
status_none(struct status_out *o, int cols)
{
	status_putf(o, "<tr><td colspan=\"%d\" class=\"none\">none</td></tr>\n",
	    cols);
}

/* Active tunnels by policy and user. */
static void
status_by_user(struct status_out *o, const struct status_view *v)
{
	size_t i;

	status_put(o, "<h2>Active tunnels by policy and user</h2>\n<table>\n"
	    "<tr><th>Policy</th><th>User</th><th class=\"n\">Tunnels</th>"
	    "</tr>\n");
	for (i = 0; i < v->sv_nby_user; i++) {
		const struct status_tunnels *t = &v->sv_by_user[i];

		status_put(o, "<tr><td>");
		status_text(o, t->st_policy);
		status_put(o, "</td><td>");
		status_text(o, t->st_user);
		status_putf(o, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
		    t->st_count);
	}
	if (v->sv_nby_user == 0)
		status_none(o, 3);
	status_put(o, "</table>\n");
}

/* A table of keys and counts, with a caption when `caption` is not NULL;
 * `key` and `count` head the columns (constant markup). */
static void
status_counts(struct status_out *o, const char *caption, const char *key,
    const char *count, const struct status_count *c, size_t n)
{
	size_t i;

	status_put(o, "<table>\n");
	if (caption != NULL) {
		status_put(o, "<caption>");
		status_put(o, caption);
		status_put(o, "</caption>\n");
	}
	status_put(o, "<tr><th>");
	status_put(o, key);
	status_put(o, "</th><th class=\"n\">");
	status_put(o, count);
	status_put(o, "</th></tr>\n");
	for (i = 0; i < n; i++) {
		status_put(o, "<tr><td>");
		status_text(o, c[i].sc_key);
		status_putf(o, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
		    c[i].sc_count);
	}
	if (n == 0)
		status_none(o, 2);
	status_put(o, "</table>\n");
}

/* A section of two count tables side by side: the last 5 and 60 minutes. */
static void
status_pair(struct status_out *o, const char *title, const char *key,
    const struct status_count *const c[2], const size_t n[2])
{
	status_put(o, "<h2>");
	status_put(o, title);
	status_put(o, "</h2>\n<div class=\"pair\">\n");
	status_counts(o, "Last 5 minutes", key, "Count", c[0], n[0]);
	status_counts(o, "Last 60 minutes", key, "Count", c[1], n[1]);
	status_put(o, "</div>\n");
}

/* Recent denials, newest first. */
static void
status_recent(struct status_out *o, const struct status_view *v)
{
	size_t i;

	status_put(o, "<h2>Recent denials</h2>\n<table>\n<tr><th>Time (UTC)"
	    "</th><th>Client</th><th>User</th><th>Target</th><th>Reason</th>"
	    "</tr>\n");
	for (i = 0; i < v->sv_nrecent; i++) {
		const struct status_denial *d = &v->sv_recent[i];

		status_put(o, "<tr><td>");
		status_time(o, d->sd_time);
		status_put(o, "</td><td>");
		status_text(o, d->sd_client);
		status_put(o, "</td><td>");
		status_text(o, d->sd_user);
		status_put(o, "</td><td>");
		status_text(o, d->sd_target);
		status_put(o, "</td><td><code>");
		status_text(o, d->sd_reason);
		status_put(o, "</code> ");
		status_text(o, d->sd_text);
		status_put(o, "</td></tr>\n");
	}
	if (v->sv_nrecent == 0)
		status_none(o, 5);
	status_put(o, "</table>\n");
}

int
status_render(struct buf *out, const struct status_view *v)
{
	struct status_out o = { out, 0 };
	size_t used = buf_used(out);

	status_head(&o, v);
	status_overview(&o, v);
	status_by_user(&o, v);
	status_pair(&o, "Top destinations", "Destination", v->sv_top_dest,
	    v->sv_ntop_dest);
	status_pair(&o, "Top denials", "Target and reason", v->sv_top_denied,
	    v->sv_ntop_denied);
	status_recent(&o, v);
	status_put(&o, "<h2>Authentication failures by source</h2>\n");
	status_counts(&o, "Last 60 minutes", "Source address", "Failures",
	    v->sv_auth_fail, v->sv_nauth_fail);
	status_put(&o, "</body>\n</html>\n");
	/* Appending may have moved the unconsumed bytes to the front, but
	 * they are still the first `used` from b_off. */
	if (o.o_err == -1)
		out->b_len = out->b_off + used;
	return o.o_err;
}
