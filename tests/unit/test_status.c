/* SPDX-License-Identifier: MIT */
/* status: the /status page. The escaping function against a table of
 * hostile strings and a decoder (every input comes back, nothing breaks
 * out); a hostile view rendered into a page whose every tag is one the
 * renderer writes, properly nested, with no script and no remote asset; an
 * empty view; counts, times and uptime; out of memory leaves the buffer as
 * it was. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "status.h"
#include "unit.h"

#define S(s)	s, sizeof(s) - 1	/* a string and its length */

static const struct esc_case {
	const char	*in;
	size_t		 len;
	const char	*want;
} esc_cases[] = {
	{ S(""), "" },
	{ S("github.com:443"), "github.com:443" },
	{ S("<script>alert(1)</script>"),
	    "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ S("\"><img src=x onerror=1>"),
	    "&quot;&gt;&lt;img src=x onerror=1&gt;" },
	{ S("' onmouseover='x"), "&#39; onmouseover=&#39;x" },
	{ S("a&amp;b"), "a&amp;amp;b" },
	{ S("a\\x41"), "a\\\\x41" },		/* not a byte: a backslash */
	{ S("line\r\nbreak\x1b[31m\x7f\t"),
	    "line\\x0d\\x0abreak\\x1b[31m\\x7f\\x09" },
	{ S("nul\0inside"), "nul\\x00inside" },
	/* Valid UTF-8 stands; an emoji too; U+FFFD is a character. */
	{ S("b\xc3\xbc" "cher.example"), "b\xc3\xbc" "cher.example" },
	{ S("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80" },
	{ S("\xef\xbf\xbd"), "\xef\xbf\xbd" },
	/* Invalid: each byte that starts no valid sequence, alone. */
	{ S("\xff\xfe"), "\\xff\\xfe" },
	{ S("\xc0\xbc"), "\\xc0\\xbc" },		/* overlong '<' */
	{ S("\xe0\x80\xbc"), "\\xe0\\x80\\xbc" },	/* overlong '<' */
	{ S("\xed\xa0\x80"), "\\xed\\xa0\\x80" },	/* surrogate */
	{ S("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80" }, /* > U+10FFFF */
	{ S("a\xe2\x82"), "a\\xe2\\x82" },		/* cut short */
	{ S("\xe2\x82<"), "\\xe2\\x82&lt;" },
	{ S("\x80"), "\\x80" },
	/* Invisible or reordering characters: every byte shown. */
	{ S("evil\xe2\x80\xaegnp.exe"), "evil\\xe2\\x80\\xaegnp.exe" },
	{ S("a\xe2\x80\x8b" "b"), "a\\xe2\\x80\\x8bb" },	/* ZWSP */
	{ S("\xc2\x85"), "\\xc2\\x85" },		/* NEL, C1 */
	{ S("\xe2\x80\xa8"), "\\xe2\\x80\\xa8" },	/* LS */
	{ S("\xe2\x81\xa6"), "\\xe2\\x81\\xa6" },	/* LRI */
	{ S("\xef\xbb\xbf"), "\\xef\\xbb\\xbf" },	/* BOM */
	{ S("\xf3\xa0\x80\x81"), "\\xf3\\xa0\\x80\\x81" }, /* tag */
	{ S("\xc2\xa0"), "\xc2\xa0" },		/* NBSP is visible space */
};

static void
test_status_escape(void **state)
{
	size_t i, n = sizeof(esc_cases) / sizeof(esc_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct esc_case *t = &esc_cases[i];
		struct buf b = { 0 };
		char got[1100];

		assert_int_equal(status_escape(&b, t->in, t->len), 0);
		if (buf_used(&b) != strlen(t->want) || (buf_used(&b) > 0 &&
		    memcmp(b.b_data, t->want, buf_used(&b)) != 0)) {
			snprintf(got, sizeof(got), "%s",
			    show(b.b_data, buf_used(&b)));
			print_message("\"%s\": got \"%s\", want \"%s\"\n",
			    show(t->in, t->len), got, t->want);
			bad++;
		}
		buf_free(&b);
	}
	if (bad > 0)
		fail_msg("%d problems in %zu escaping rows", bad, n);
}

/* A lower-case hex digit's value, or 256. */
static unsigned
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	return 256;
}

/* Decode what status_escape wrote: entities, \\ and \xNN. Returns the
 * length, or (size_t)-1 when `s` holds something status_escape never
 * writes (a raw < > " ' or control byte, an unknown entity). */
static size_t
unescape(const char *s, size_t len, char *out)
{
	static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;",
	    "&#39;" };
	static const char ch[] = "&<>\"'";
	size_t i = 0, o = 0, k;
	unsigned v;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || strchr("<>\"'", c) != NULL)
			return (size_t)-1;
		if (c == '&') {
			for (k = 0; k < 5; k++)
				if (strncmp(s + i, ent[k], strlen(ent[k])) == 0)
					break;
			if (k == 5)
				return (size_t)-1;
			out[o++] = ch[k];
			i += strlen(ent[k]);
		} else if (c == '\\' && i + 1 < len && s[i + 1] == '\\') {
			out[o++] = '\\';
			i += 2;
		} else if (c == '\\' && i + 3 < len && s[i + 1] == 'x' &&
		    (v = hexval(s[i + 2]) << 4 | hexval(s[i + 3])) < 256) {
			out[o++] = (char)v;
			i += 4;
		} else if (c == '\\')
			return (size_t)-1;
		else
			out[o++] = s[i++];
	}
	return o;
}

/* Random bytes, biased towards the interesting ones: every escaping is
 * decoded back to the input, so no two inputs look alike on the page. */
static void
test_status_escape_roundtrip(void **state)
{
	static const char pick[] = "<>&\"'\\x0aAz\x7f\xc3\xa9\xe2\x80\xae\xf0"
	    "\x9f\x98\x80\xff\x80";
	char in[64], dec[64];
	size_t i, k, len, n;
	unsigned seed = 1;

	(void)state;
	for (i = 0; i < 20000; i++) {
		struct buf b = { 0 };

		len = (size_t)rand_r(&seed) % sizeof(in);
		for (k = 0; k < len; k++)
			in[k] = rand_r(&seed) % 2 ? pick[rand_r(&seed) %
			    (sizeof(pick) - 1)] : (char)rand_r(&seed);
		assert_int_equal(status_escape(&b, in, len), 0);
		n = unescape(b.b_data, buf_used(&b), dec);
		if (n != len || memcmp(in, dec, len) != 0)
			fail_msg("\"%s\" does not come back", show(in, len));
		buf_free(&b);
	}
}

/* ---- the page's shape ---- */

static const char *const tags[] = { "!doctype", "html", "head", "meta",
	"title", "style", "body", "h1", "h2", "p", "table", "caption", "tr",
	"th", "td", "span", "code", "div", "br", NULL };
static const char *const attrs[] = { "lang", "charset", "http-equiv",
	"content", "name", "class", "colspan", NULL };

/* The tag of `list` named by s[0..len), or NULL. */
static const char *
known(const char *const *list, const char *s, size_t len)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == len && strncmp(*list, s, len) == 0)
			return *list;
	return NULL;
}

/* Check one tag, "<...>" at p[0..len): a known name, then only known
 * attributes with double-quoted values without < > or "//". An opening
 * tag is pushed on `stack` (but for the void ones), a closing one must
 * match the top. Returns NULL or what is wrong. */
static const char *
check_tag(const char *p, size_t len, const char **stack, size_t *depth)
{
	int closing = p[1] == '/';
	size_t i = 1 + (size_t)closing, k;
	const char *name;

	for (k = i; k < len - 1 && p[k] != ' '; k++)
		;
	if ((name = known(tags, p + i, k - i)) == NULL)
		return "unknown tag";
	if (closing) {
		if (*depth == 0 || stack[*depth - 1] != name)
			return "closes what is not open";
		(*depth)--;
		return k == len - 1 ? NULL : "attributes on a closing tag";
	}
	if (strcmp(name, "meta") != 0 && strcmp(name, "br") != 0 &&
	    strcmp(name, "!doctype") != 0) {
		if (*depth == 64)
			return "too deep";
		stack[(*depth)++] = name;
	}
	if (strcmp(name, "!doctype") == 0)
		return strncmp(p, "<!doctype html>", len) == 0 ? NULL :
		    "odd doctype";
	for (i = k; i < len - 1;) {
		if (p[i++] != ' ')
			return "no space before an attribute";
		for (k = i; k < len - 1 && p[k] != '='; k++)
			;
		if (known(attrs, p + i, k - i) == NULL || p[k + 1] != '"')
			return "unknown attribute";
		for (i = k + 2; i < len - 1 && p[i] != '"'; i++)
			if (p[i] == '<' || (p[i] == '/' && p[i + 1] == '/'))
				return "< or // in an attribute";
		if (p[i++] != '"')
			return "unterminated attribute";
	}
	return NULL;
}

/* Whether p[0..len) is valid UTF-8 (status_escape's job to keep it so). */
static int
valid_utf8(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

/* The page is valid UTF-8 without control bytes but newlines; every tag is
 * one the renderer writes, nested properly, with no script and no remote
 * reference; text holds no raw quote or >, and & starts a known entity.
 * Returns NULL or what is wrong, with *at where. */
static const char *
check_page(const char *p, size_t len, size_t *at)
{
	const char *stack[64], *why, *end;
	size_t i, depth = 0, n;
	char dec[16];

	*at = 0;
	if (!valid_utf8(p, len))
		return "not UTF-8";
	for (i = 0; i < len; i++) {
		*at = i;
		if (((unsigned char)p[i] < 0x20 && p[i] != '\n') ||
		    p[i] == 0x7f)
			return "control byte";
		if (p[i] == '<') {
			if ((end = memchr(p + i, '>', len - i)) == NULL)
				return "unterminated tag";
			n = (size_t)(end - (p + i)) + 1;
			if ((why = check_tag(p + i, n, stack, &depth)) != NULL)
				return why;
			if (strncmp(p + i, "<style>", 7) == 0) {
				end = strstr(p + i, "</style>");
				if (end == NULL || memchr(p + i, '<',
				    (size_t)(end - p) - i) != p + i)
					return "markup in the style";
				n = (size_t)(end - (p + i));
			}
			i += n - 1;
		} else if (p[i] == '&') {
			if ((end = memchr(p + i, ';', len - i)) == NULL ||
			    end - (p + i) > 8)
				return "bare &";
			n = (size_t)(end - (p + i)) + 1;
			if (strncmp(p + i, "&hellip;", n) != 0 &&
			    unescape(p + i, n, dec) != 1)
				return "unknown entity";
		} else if (p[i] == '"' || p[i] == '\'' || p[i] == '>')
			return "raw quote or > in text";
	}
	*at = len;
	return depth != 0 ? "unclosed element" : NULL;
}

/* Render `v`; fail with the page around the first problem. */
static char *
render_checked(const struct status_view *v, size_t *len)
{
	struct buf b = { 0 };
	const char *why;
	size_t at, from;
	char *page;

	assert_int_equal(status_render(&b, v), 0);
	*len = buf_used(&b);
	if ((why = check_page(b.b_data, *len, &at)) != NULL) {
		from = at > 60 ? at - 60 : 0;
		fail_msg("%s at %zu: %s", why, at, show(b.b_data + from,
		    *len - from > 120 ? 120 : *len - from));
	}
	assert_non_null(page = malloc(*len + 1));
	memcpy(page, b.b_data, *len);
	page[*len] = '\0';
	buf_free(&b);
	return page;
}

/* ---- a hostile view ---- */

static const struct esc_case hostile[] = {
	{ S("<script>alert(1)</script>"),
	    "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ S("\"><img src=x onerror=1>"),
	    "&quot;&gt;&lt;img src=x onerror=1&gt;" },
	{ S("' onmouseover='alert(1)"), "&#39; onmouseover=&#39;alert(1)" },
	{ S("</td></tr></table><style>*{}</style>"),
	    "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;"
	    "&lt;style&gt;*{}&lt;/style&gt;" },
	{ S("<!-- x -->&lt;"), "&lt;!-- x --&gt;&amp;lt;" },
	{ S("a\r\nb\x1b[2J\x7f"), "a\\x0d\\x0ab\\x1b[2J\\x7f" },
	{ S("\xff\xc0\xbc\xed\xa0\x80"), "\\xff\\xc0\\xbc\\xed\\xa0\\x80" },
	{ S("evil\xe2\x80\xaegnp.com:443"), "evil\\xe2\\x80\\xaegnp.com:443" },
	{ S("http://evil.example/x.js"), "http://evil.example/x.js" },
	{ S("b\xc3\xbc" "cher.example:443"), "b\xc3\xbc" "cher.example:443" },
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

/* A view whose every string is hostile[i] for some i, each in turn. */
static void
hostile_view(struct status_view *v, struct status_count *c,
    struct status_tunnels *t, struct status_denial *d, const char **l)
{
	size_t i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < NHOSTILE; i++) {
		const char *h = hostile[i].in, *h2 = hostile[(i + 1) %
		    NHOSTILE].in, *h3 = hostile[(i + 2) % NHOSTILE].in;

		c[i] = (struct status_count){ h, 100 - i };
		t[i] = (struct status_tunnels){ h, h2, i + 1 };
		d[i] = (struct status_denial){ 1700000000 + (int64_t)i, h, h2,
		    h3, h, h2 };
		l[i] = h3;
	}
	v->sv_version = hostile[0].in;
	v->sv_config = hostile[1].in;
	v->sv_listeners = l;
	v->sv_nlisteners = NHOSTILE;
	v->sv_by_user = t;
	v->sv_nby_user = NHOSTILE;
	for (i = 0; i < 2; i++) {
		v->sv_top_dest[i] = v->sv_top_denied[i] = c;
		v->sv_ntop_dest[i] = v->sv_ntop_denied[i] = NHOSTILE;
	}
	v->sv_auth_fail = c;
	v->sv_nauth_fail = NHOSTILE;
	v->sv_recent = d;
	v->sv_nrecent = NHOSTILE;
	v->sv_refresh_s = 5;
}

static void
test_status_hostile(void **state)
{
	struct status_count c[NHOSTILE];
	struct status_tunnels t[NHOSTILE];
	struct status_denial d[NHOSTILE];
	const char *l[NHOSTILE];
	struct status_view v;
	char *page, *p;
	size_t i, len, times;

	(void)state;
	hostile_view(&v, c, t, d, l);
	page = render_checked(&v, &len);
	assert_null(strcasestr(page, "<script"));
	assert_null(strcasestr(page, "<img"));
	/* Each string is there, escaped, wherever it was put: 5 count
	 * tables, 2 tunnel and 5 denial cells, 1 listener. */
	for (i = 0; i < NHOSTILE; i++) {
		times = 0;
		for (p = page; (p = strstr(p, hostile[i].want)) != NULL; p++)
			times++;
		if (times < 5 + 2 + 5 + 1)
			fail_msg("\"%s\" is on the page %zu times",
			    hostile[i].want, times);
	}
	free(page);
}

/* A key longer than STATUS_TEXT_MAX is cut, before a whole character,
 * with an ellipsis; one of exactly STATUS_TEXT_MAX bytes is not. */
static void
test_status_long(void **state)
{
	char key[STATUS_TEXT_MAX + 100], want[STATUS_TEXT_MAX + 100];
	struct status_count c = { key, 7 };
	struct status_view v = { .sv_auth_fail = &c, .sv_nauth_fail = 1 };
	char *page;
	size_t len;

	(void)state;
	memset(key, 'a', sizeof(key));
	key[sizeof(key) - 1] = '\0';
	memcpy(key + STATUS_TEXT_MAX - 1, "\xc3\xa9", 2);  /* é across */
	memcpy(want, key, STATUS_TEXT_MAX - 1);
	strcpy(want + STATUS_TEXT_MAX - 1, "&hellip;</td>");
	page = render_checked(&v, &len);
	assert_non_null(strstr(page, want));
	free(page);
	key[STATUS_TEXT_MAX] = '\0';
	key[STATUS_TEXT_MAX - 1] = 'b';
	page = render_checked(&v, &len);
	memcpy(want, key, STATUS_TEXT_MAX);
	strcpy(want + STATUS_TEXT_MAX, "</td>");
	assert_non_null(strstr(page, want));
	assert_null(strstr(page, "&hellip;"));
	free(page);
	/* 300 bytes that each need escaping. */
	memset(key, '<', 300);
	key[300] = '\0';
	page = render_checked(&v, &len);
	assert_null(strstr(page, "<<"));
	free(page);
}

/* No tunnels, no counts, no denials, no listeners: every table says
 * "none"; unknown times are "-"; nothing refers outside the page. */
static void
test_status_empty(void **state)
{
	struct status_view v = { 0 };
	char *page, *p;
	size_t len, n = 0;

	(void)state;
	page = render_checked(&v, &len);
	for (p = page; (p = strstr(p, "class=\"none\">none</td>")) != NULL;
	    p++)
		n++;
	assert_int_equal(n, 7);	/* tunnels, 2 x 2 tops, recent, auth */
	assert_non_null(strstr(page, "<th>Listeners</th><td><span "
	    "class=\"none\">none</span></td>"));
	assert_non_null(strstr(page, "<th>Version</th><td>-</td>"));
	assert_non_null(strstr(page, "<th>Uptime</th><td>0s</td>"));
	assert_non_null(strstr(page, "As of -."));
	assert_non_null(strstr(page, "<th>Configuration</th><td>-, "
	    "generation 0, loaded -</td>"));
	assert_non_null(strstr(page, "<th>State</th><td>accepting</td>"));
	assert_null(strstr(page, "draining"));
	assert_null(strstr(page, "http-equiv=\"refresh\""));
	assert_non_null(strstr(page, "<!doctype html>\n"));
	assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
	assert_non_null(strstr(page, "<title>sluice status</title>"));
	assert_null(strcasestr(page, "<script"));
	assert_null(strcasestr(page, "http:"));
	assert_null(strcasestr(page, "https:"));
	assert_null(strcasestr(page, "src="));
	assert_null(strcasestr(page, "url("));
	assert_null(strcasestr(page, "@import"));
	free(page);
}

static const struct uptime_case {
	uint64_t	 s;
	const char	*want;
} uptime_cases[] = {
	{ 0, "0s" },
	{ 59, "59s" },
	{ 60, "1m 0s" },
	{ 3599, "59m 59s" },
	{ 3600, "1h 0m" },
	{ 3 * 3600 + 12 * 60 + 59, "3h 12m" },
	{ 86399, "23h 59m" },
	{ 86400, "1d 0h 0m" },
	{ 400 * 86400 + 5 * 3600 + 7 * 60, "400d 5h 7m" },
	{ UINT64_MAX, "213503982334601d 7h 0m" },
};

/* Uptime as people say it, times in UTC, counts whole, the badge, the
 * refresh, rows in the order given. */
static void
test_status_values(void **state)
{
	static const char *const l[] = { "127.0.0.1:3128", "[::1]:3129 tls" };
	struct status_count top[] = { { "a.example:443", UINT64_MAX },
	    { "b.example:443", 0 } };
	struct status_tunnels t = { "default", NULL, 3 };
	struct status_denial d = { 1717243200, "10.0.0.5", "-",
	    "x.example:443", "domain-denied", "the domain is not allowed" };
	struct status_view v = { .sv_version = "1.2.3", .sv_now = 86400 * 366,
	    .sv_config = "/etc/sluice/sluice.conf", .sv_generation = 4,
	    .sv_loaded = 1717243199, .sv_listeners = l, .sv_nlisteners = 2,
	    .sv_connections = 12, .sv_tunnels = 5, .sv_draining = true,
	    .sv_by_user = &t, .sv_nby_user = 1, .sv_top_dest = { top, top },
	    .sv_ntop_dest = { 2, 1 }, .sv_recent = &d, .sv_nrecent = 1,
	    .sv_refresh_s = 10 };
	char *page, want[128];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(uptime_cases) / sizeof(uptime_cases[0]); i++) {
		v.sv_uptime_s = uptime_cases[i].s;
		page = render_checked(&v, &len);
		snprintf(want, sizeof(want), "<th>Uptime</th><td>%s</td>",
		    uptime_cases[i].want);
		if (strstr(page, want) == NULL)
			fail_msg("no \"%s\"", want);
		free(page);
	}
	page = render_checked(&v, &len);
	assert_non_null(strstr(page, "As of 1971-01-02T00:00:00Z, refreshed "
	    "every 10 s."));
	assert_non_null(strstr(page, "<meta http-equiv=\"refresh\" "
	    "content=\"10\">"));
	assert_non_null(strstr(page, "<span class=\"badge\">draining</span>"));
	assert_non_null(strstr(page, "<td>/etc/sluice/sluice.conf, generation "
	    "4, loaded 2024-06-01T11:59:59Z</td>"));
	assert_non_null(strstr(page, "<td>127.0.0.1:3128<br>[::1]:3129 tls"
	    "</td>"));
	assert_non_null(strstr(page, "<th>Connections</th><td>12</td>"));
	assert_non_null(strstr(page, "<th>Tunnels</th><td>5</td>"));
	assert_non_null(strstr(page, "<tr><td>default</td><td>-</td>"
	    "<td class=\"n\">3</td></tr>"));
	assert_non_null(strstr(page, "<tr><td>a.example:443</td><td class="
	    "\"n\">18446744073709551615</td></tr>\n<tr><td>b.example:443</td>"
	    "<td class=\"n\">0</td></tr>"));
	assert_non_null(strstr(page, "<tr><td>2024-06-01T12:00:00Z</td><td>"
	    "10.0.0.5</td><td>-</td><td>x.example:443</td><td><code>"
	    "domain-denied</code> the domain is not allowed</td></tr>"));
	/* Sections in order. */
	assert_true(strstr(page, "<h2>Overview") < strstr(page,
	    "<h2>Active tunnels"));
	assert_true(strstr(page, "<h2>Active tunnels") < strstr(page,
	    "<h2>Top destinations"));
	assert_true(strstr(page, "<h2>Top destinations") < strstr(page,
	    "<h2>Top denials"));
	assert_true(strstr(page, "<h2>Top denials") < strstr(page,
	    "<h2>Recent denials"));
	assert_true(strstr(page, "<h2>Recent denials") < strstr(page,
	    "<h2>Authentication failures"));
	free(page);
}

/* ---- out of memory: realloc made to fail, by interposing it ----
 * glibc's own allocator stays underneath. Skipped under a sanitizer or
 * valgrind, which bring their own allocator. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

#ifndef NO_INTERPOSE
extern void *__libc_realloc(void *, size_t);

static int reallocs;		/* calls so far */
static int fail_at = -1;	/* the call that fails, or -1 */

void *
realloc(void *p, size_t n)
{
	return reallocs++ == fail_at ? NULL : __libc_realloc(p, n);
}

/* Every failing step of a growing page leaves the buffer as it was: its
 * unconsumed bytes, and only those (some consumed in front, so appending
 * moves them); then a render that may allocate succeeds. */
static void
test_status_oom(void **state)
{
	struct status_count c[NHOSTILE];
	struct status_tunnels t[NHOSTILE];
	struct status_denial d[NHOSTILE];
	const char *l[NHOSTILE];
	struct status_view v;
	void *(*volatile r)(void *, size_t) = realloc;
	void *probe;
	int k, rc;

	(void)state;
	reallocs = 0;
	probe = r(NULL, 1);
	free(probe);
	if (reallocs != 1)
		skip();
	hostile_view(&v, c, t, d, l);
	for (k = 0;; k++) {
		struct buf b = { 0 };

		assert_int_equal(buf_adds(&b, "consumedkept"), 0);
		buf_consume(&b, 8);
		reallocs = 0;
		fail_at = k;
		rc = status_render(&b, &v);
		fail_at = -1;
		if (rc == 0) {
			assert_true(k > 1);	/* some failures were seen */
			assert_memory_equal(b.b_data + b.b_off,
			    "kept<!doctype", 13);
			buf_free(&b);
			break;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(buf_used(&b), 4);
		assert_memory_equal(b.b_data + b.b_off, "kept", 4);
		buf_free(&b);
	}
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_escape),
		cmocka_unit_test(test_status_escape_roundtrip),
		cmocka_unit_test(test_status_hostile),
		cmocka_unit_test(test_status_long),
		cmocka_unit_test(test_status_empty),
		cmocka_unit_test(test_status_values),
#ifndef NO_INTERPOSE
		cmocka_unit_test(test_status_oom),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
