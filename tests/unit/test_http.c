/* SPDX-License-Identifier: MIT */
/* Unit tests for HTTP/1.1 framing (http.c over llhttp): where a head ends,
 * which heads are refused (the request-smuggling shapes above all), where a
 * body ends, and whether a connection may be reused. A proxy that gets any of
 * these wrong forwards one message as two. One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "unit.h"

/* A message as data: `plen` bytes of `pre`, then `rep` `nrep` times, then
 * `post`. */
static char *
build(const char *pre, size_t lp, const char *rep, unsigned nrep,
    const char *post, size_t *len)
{
	size_t lr = rep ? strlen(rep) : 0, lq = strlen(post);
	char *s = malloc(lp + lr * nrep + lq + 1), *p;
	unsigned i;

	assert_non_null(s);
	p = s;
	memcpy(p, pre, lp);
	p += lp;
	for (i = 0; i < nrep; i++, p += lr)
		memcpy(p, rep, lr);
	memcpy(p, post, lq + 1);
	*len = lp + lr * nrep + lq;
	return s;
}

static const char *const st_names[] = { "MORE", "DONE", "TOO_LARGE", "ERROR" };

/* One line describing a parsed head, for comparing two parses. */
static void
summary(const struct http_head *h, int st, const char *buf, char *out,
    size_t outlen)
{
	size_t o;
	unsigned i;

	o = (size_t)snprintf(out, outlen, "%s", st_names[st]);
	if (st != HTTP_HEAD_DONE)
		return;
	o += (size_t)snprintf(out + o, outlen - o, " len=%u %s %.*s %u.%u",
	    h->hh_len, http_head_method(h), (int)h->hh_url.len,
	    buf + h->hh_url.off, h->hh_major, h->hh_minor);
	for (i = 0; i < h->hh_nfields && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, " [%.*s=%.*s]",
		    (int)h->hh_fields[i].name.len,
		    buf + h->hh_fields[i].name.off,
		    (int)h->hh_fields[i].value.len,
		    buf + h->hh_fields[i].value.off);
}

/* What a head should come to: the first four are http_head_feed's answer
 * (DONE also passing http_head_check), then the check's refusals. */
enum head_want {
	W_MORE = HTTP_HEAD_MORE,
	W_OK = HTTP_HEAD_DONE,
	W_TOO_LARGE = HTTP_HEAD_TOO_LARGE,
	W_ERROR = HTTP_HEAD_ERROR,
	W_BAD = 4,		/* fed fine, refused by http_head_check */
	W_REFUSED = 5,		/* refused by the feed or by the check */
};

static const char *const want_names[] = { "MORE", "DONE and checked",
    "TOO_LARGE", "ERROR", "DONE, refused by the check",
    "refused by the feed or the check" };

struct head_case {
	const char	*pre;		/* plen bytes, then nrep times */
	size_t		 plen;		/* rep, then post */
	const char	*rep;
	unsigned	 nrep;
	const char	*post;
	enum head_want	 want;
	size_t		 extra;		/* bytes after the head */
	const char	*method, *url;	/* NULL: not the row's point */
	unsigned	 nfields;
};

#define R	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
#define POST	"POST / HTTP/1.1\r\nHost: a\r\n"
#define TE	"Transfer-Encoding: "
#define CL	"Content-Length: "
#define H(s, w)	{ s, sizeof(s) - 1, NULL, 0, "", w, 0, NULL, NULL, 0 }
#define DONE(s, ex, m, u, nf)	\
	{ s, sizeof(s) - 1, NULL, 0, "", W_OK, ex, m, u, nf }
#define F(s, w)		H(R s "\r\n", w)	/* in a GET */
#define P(s, w)		H(POST s "\r\n", w)	/* in a POST */
#define REP(p, r, n, q, w)	\
	{ p, sizeof(p) - 1, r, n, q, w, 0, NULL, NULL, 0 }
/* 23 + n + 4 bytes: n = 65509 makes a head of exactly HTTP_MAX_HEAD. */
#define BIGV	"GET / HTTP/1.1\r\nX-Big: "
/* R "X-Big: " + n a's: a line of n + 7 bytes; HTTP_MAX_LINE is 16384. */
#define LONGV(n, w)	REP(R "X-Big: ", "a", n, "\r\n\r\n", w)

static const struct head_case head_cases[] = {
	DONE(R "\r\n", 0, "GET", "http://example.com/", 1),
	DONE("GET / HTTP/1.1\r\n\r\n", 0, "GET", "/", 0),
	DONE("HEAD http://a/ HTTP/1.0\r\n\r\n", 0, "HEAD", "http://a/", 0),
	DONE("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, "OPTIONS", "*", 1),
	/* CONNECT: the tunnel bytes already sent are not head. */
	DONE("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
	    "\x16\x03\x01\x02\x00\x01GET", 9, "CONNECT", "example.com:443", 1),
	DONE("CONNECT [::1]:22 HTTP/1.1\r\n\r\nSSH-2.0-OpenSSH\r\n", 17,
	    "CONNECT", "[::1]:22", 0),
	/* A body or the next request is not head either. */
	DONE(POST CL "5\r\n\r\nhello", 5, "POST", "/", 2),
	DONE("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 19, "GET",
	    "/a", 0),
	DONE(R "X-Empty:\r\nX-Tab: \ta b\t\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", 0,
	    "GET", "http://example.com/", 4),
	DONE(R "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n", 0, "GET",
	    "http://example.com/", 3),
	DONE("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n"
	    "Proxy-Authorization: Basic dTpw\r\n\r\n\x16\x03\x01", 3,
	    "CONNECT", "a.example:443", 2),
	DONE("POST /up?x=1 HTTP/1.1\r\nHost: a\r\n" TE "chunked\r\nX-E:\r\n"
	    "X-Long-Header-Name: some value, more\r\n\r\n5\r\nhello\r\n0\r\n"
	    "\r\n", 15, "POST", "/up?x=1", 4),
	/* Not there yet. */
	H("", W_MORE),
	H("GET", W_MORE),
	H(R, W_MORE),
	H(R "\r", W_MORE),
	H("GET / HTTP/1.1\r\nHost: exa", W_MORE),
	/* Malformed. */
	H("GET / HTTP/1.1\nHost: a\n\n", W_ERROR),
	H("GET / HTTP/1.1\r\nHost : a\r\n\r\n", W_ERROR),
	H("GET / HTTP/1.1\r\n Host: a\r\n\r\n", W_ERROR),
	H("GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n", W_ERROR),
	H("GET / HTTP/1.1\r\nHost a\r\n\r\n", W_ERROR),
	H("GET / HTTP/9.1\r\n\r\n", W_ERROR),
	H("GET / HTTP/1.1 \r\n\r\n", W_ERROR),
	H("GET / FTP/1.1\r\n\r\n", W_ERROR),
	H("GET /\x01 HTTP/1.1\r\n\r\n", W_ERROR),
	H("G@T / HTTP/1.1\r\n\r\n", W_ERROR),
	H("SMUGGLE / HTTP/1.1\r\n\r\n", W_ERROR),
	H("HTTP/1.1 200 OK\r\n\r\n", W_ERROR),
	H("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", W_ERROR),
	/* An empty field name is not a token. */
	F(": a\r\n", W_REFUSED),
	/* Control bytes in values: smuggled line ends and terminal escapes. */
	F("X-Ctl: a\x01" "b\r\n", W_REFUSED),
	F("X-Nul: a\0b\r\n", W_REFUSED),
	F("X-Del: a\x7f" "b\r\n", W_REFUSED),
	F("X-Esc: \x1b[31m\r\n", W_REFUSED),
	F("X-Cr: a\rb\r\n", W_REFUSED),
	F("X-Cr: a\r\r\n", W_REFUSED),
	F("X-Lf: a\nb\r\n", W_REFUSED),
	F("X-Fold: a\r\n b\r\n", W_REFUSED),
	F("X-Fold: a\r\n\tb\r\n", W_REFUSED),
	/* Content-Length: one, numeric; http.h refuses several even if
	 * equal. */
	P(CL "5\r\n", W_OK),
	P(CL "5\r\n" CL "5\r\n", W_REFUSED),
	P(CL "5\r\n" CL "6\r\n", W_REFUSED),
	P(CL "5\r\n" CL "05\r\n", W_REFUSED),
	P(CL "5, 5\r\n", W_REFUSED),
	P(CL "abc\r\n", W_ERROR),
	P(CL "-1\r\n", W_ERROR),
	P(CL "99999999999999999999\r\n", W_ERROR),
	P(CL "5\r\n" TE "chunked\r\n", W_REFUSED),
	P(TE "chunked\r\n" CL "5\r\n", W_REFUSED),
	/* Transfer-Encoding: one list ending in chunked. */
	P(TE "chunked\r\n", W_OK),
	P(TE "Chunked\r\n", W_OK),
	P(TE "CHUNKED\r\n", W_OK),
	P(TE "gzip, chunked\r\n", W_OK),
	P(TE "gzip,chunked\r\n", W_OK),
	P(TE "chunked, gzip\r\n", W_REFUSED),
	P(TE "gzip\r\n", W_REFUSED),
	P(TE "identity\r\n", W_REFUSED),
	P(TE "chunked, chunked\r\n", W_REFUSED),
	P(TE "gzip,,chunked\r\n", W_REFUSED),
	P(TE ", chunked\r\n", W_REFUSED),
	P(TE "chunked,\r\n", W_REFUSED),
	P(TE "\r\n", W_REFUSED),
	P(TE "xchunked\r\n", W_REFUSED),
	P(TE "chunked\r\n" TE "chunked\r\n", W_REFUSED),
	P(TE "gzip\r\n" TE "chunked\r\n", W_REFUSED),
	/* Lines: HTTP_MAX_LINE for a field and for the target. */
	LONGV(16377, W_OK),
	LONGV(16380, W_BAD),
	LONGV(40000, W_BAD),
	REP("GET /", "a", 16300, " HTTP/1.1\r\n\r\n", W_OK),
	REP("GET /", "a", 16384, " HTTP/1.1\r\n\r\n", W_BAD),
	/* Heads: HTTP_MAX_HEADERS fields, HTTP_MAX_HEAD bytes. */
	REP("GET / HTTP/1.1\r\n", "X-F: v\r\n", 128, "\r\n", W_OK),
	REP("GET / HTTP/1.1\r\n", "X-F: v\r\n", 129, "\r\n", W_TOO_LARGE),
	REP("GET / HTTP/1.1\r\n", "X-F: v\r\n", 1000, "\r\n", W_TOO_LARGE),
	REP("GET / HTTP/1.1\r\n", "X-Filler: 012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "\r\n", 120, "\r\n", W_OK),
	REP(BIGV, "a", 65509, "\r\n\r\n", W_BAD),
	REP(BIGV, "a", 65510, "\r\n\r\n", W_TOO_LARGE),
	REP(BIGV, "a", 200000, "\r\n\r\n", W_TOO_LARGE),
};

static int
feed_copy(struct http_head *h, const char *s, size_t k, char **keep)
{
	char *copy = malloc(k + 1);
	int st;

	assert_non_null(copy);
	memcpy(copy, s, k);
	st = (int)http_head_feed(h, copy, k);
	free(*keep);
	*keep = copy;
	return st;
}

/* A head that arrives in pieces, from a buffer that moves on every feed,
 * must parse exactly as when it arrives whole (`want`, a summary). Cut 0
 * feeds one byte more each time; cut k feeds k bytes, then all. Returns the
 * first cut that differs (its summary in `got`), or -1. */
static long
split_differs(const char *s, size_t len, const char *want, char *got,
    size_t gotlen)
{
	struct http_head *h = malloc(sizeof(*h));
	char *keep = NULL;
	size_t cut, k;
	long r = -1;
	int st;

	assert_non_null(h);
	for (cut = 0; cut < len && r == -1; cut++) {
		http_head_init(h);
		st = HTTP_HEAD_MORE;
		for (k = cut == 0 ? 1 : cut; k <= len && st == HTTP_HEAD_MORE;
		    k = cut == 0 ? k + 1 : len + 1)
			st = feed_copy(h, s, k, &keep);
		if (cut > 0 && st == HTTP_HEAD_MORE)
			st = feed_copy(h, s, len, &keep);
		summary(h, st, keep, got, gotlen);
		if (strcmp(want, got) != 0)
			r = (long)cut;
	}
	free(keep);
	free(h);
	return r;
}

static void
test_http_head(void **state)
{
	size_t i, n = sizeof(head_cases) / sizeof(head_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct head_case *t = &head_cases[i];
		struct http_head *h = malloc(sizeof(*h));
		size_t len;
		char *buf = build(t->pre, t->plen, t->rep, t->nrep, t->post,
		    &len);
		const char *why = NULL;
		char want[2048], got_s[2048];
		int st, got, ok;
		long cut;

		assert_non_null(h);
		http_head_init(h);
		got = st = (int)http_head_feed(h, buf, len);
		if (st == HTTP_HEAD_DONE && http_head_check(h, buf, &why) == -1)
			got = why != NULL ? W_BAD : -1;
		if (t->want == W_REFUSED)
			ok = got == W_ERROR || got == W_BAD;
		else
			ok = got == (int)t->want;
		if (got == W_ERROR && h->hh_error == NULL)
			ok = 0;
		if (!ok) {
			print_error("row %zu: \"%s\" (%zu bytes): %s (%s), "
			    "expected %s\n", i, show(buf, len > 80 ? 80 : len),
			    len, got == -1 ? "refused without a reason" :
			    want_names[got], got == W_BAD ? why : got == W_ERROR
			    ? h->hh_error : "", want_names[t->want]);
			bad++;
		} else if (st == HTTP_HEAD_DONE && t->method != NULL &&
		    (h->hh_len != len - t->extra ||
		    strcmp(http_head_method(h), t->method) != 0 ||
		    h->hh_url.len != strlen(t->url) ||
		    memcmp(buf + h->hh_url.off, t->url, h->hh_url.len) != 0 ||
		    h->hh_nfields != t->nfields)) {
			print_error("row %zu: \"%s\": hh_len %u %s \"%.*s\" %u "
			    "fields, expected %zu %s \"%s\" %u\n", i,
			    show(buf, len), h->hh_len, http_head_method(h),
			    (int)h->hh_url.len, buf + h->hh_url.off,
			    h->hh_nfields, len - t->extra, t->method, t->url,
			    t->nfields);
			bad++;
		}
		summary(h, st, buf, want, sizeof(want));
		if (len <= 1024 && (cut = split_differs(buf, len, want, got_s,
		    sizeof(got_s))) != -1) {
			print_error("row %zu cut at %ld (0: every byte):\n"
			    "  got  %s\n  want %s\n", i, cut, got_s, want);
			bad++;
		}
		free(buf);
		free(h);
	}
	if (bad > 0)
		fail_msg("%d of %zu http head cases failed", bad, n);
}

enum msg_kind {
	MSG_REQUEST = 0,
	MSG_RESPONSE = 1,
	MSG_RESPONSE_TO_HEAD = 2,
};

static void
init_kind(struct http_head *h, enum msg_kind kind)
{
	if (kind == MSG_REQUEST)
		http_head_init(h);
	else
		http_head_init_response(h, kind == MSG_RESPONSE_TO_HEAD);
}

struct body_case {
	enum msg_kind	 kind;
	const char	*text;		/* head, body, what follows */
	bool		 eof;		/* then the peer closes */
	int		 st;		/* last http_body_feed or _eof */
	size_t		 used;		/* bytes of this message */
	bool		 bodyless, needs_eof;
};

#define NEXTQ	"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK200	"HTTP/1.1 200 OK\r\n"
#define NEXTS	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define CHX	"5;ext=1\r\nhello\r\n6;a;b=c\r\n world\r\n0;last\r\n\r\n"
#define CHT	"5\r\nhello\r\n0\r\nX-Trailer: v\r\nX-Other: w\r\n\r\n"
#define CHA	"A\r\n0123456789\r\na\r\nabcdefghij\r\n0005\r\nhello\r\n" \
		"0\r\n\r\n"
#define TEC	"Transfer-Encoding: chunked\r\n\r\n"
#define B_DONE(k, s, u, bl)	{ k, s, false, HTTP_BODY_DONE, u, bl, false }
#define B_BAD(k, s)	\
	{ k, s, false, HTTP_BODY_ERROR, (size_t)-1, false, false }
#define B_EOF(k, s, st, u, ne)	{ k, s, true, st, u, false, ne }
#define Q	MSG_REQUEST
#define S	MSG_RESPONSE
#define SH	MSG_RESPONSE_TO_HEAD

static const struct body_case body_cases[] = {
	/* Requests with Content-Length: used stops at the length. */
	B_DONE(Q, POST CL "5\r\n\r\nhello", 5, false),
	B_DONE(Q, POST CL "5\r\n\r\nhello" NEXTQ, 5, false),
	B_DONE(Q, POST CL "11\r\n\r\nhello world" "hello world", 11, false),
	B_EOF(Q, POST CL "5\r\n\r\nhel", HTTP_BODY_ERROR, 3, false),
	B_DONE(Q, POST CL "0\r\n\r\n" NEXTQ, 0, true),
	B_DONE(Q, "GET / HTTP/1.1\r\n\r\n" NEXTQ, 0, true),
	{ Q, "GET / HTTP/1.1\r\n\r\n", true, HTTP_BODY_DONE, 0, true, false },
	/* Chunked requests: extensions, trailers, then the next request. */
	B_DONE(Q, POST TEC "5\r\nhello\r\n0\r\n\r\n", 15, false),
	B_DONE(Q, POST TEC CHX NEXTQ, sizeof(CHX) - 1, false),
	B_DONE(Q, POST TEC CHT NEXTQ, sizeof(CHT) - 1, false),
	B_DONE(Q, POST TEC CHA NEXTQ, sizeof(CHA) - 1, false),
	B_DONE(Q, POST TEC "0\r\n\r\n" NEXTQ, 5, false),
	B_EOF(Q, POST TEC "5\r\nhel", HTTP_BODY_ERROR, 6, false),
	B_EOF(Q, POST TEC "5\r\nhello\r\n0\r\n", HTTP_BODY_ERROR, 13, false),
	B_BAD(Q, POST TEC "x\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "-5\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "0x5\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC " 5\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "5 \r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "10000000000000000\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "fffffffffffffffff0\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "3\r\nhello\r\n0\r\n\r\n"),
	B_BAD(Q, POST TEC "5\r\nhelloXX0\r\n\r\n"),
	B_BAD(Q, POST TEC "5\nhello\n0\n\n"),
	B_BAD(Q, POST TEC "5\r\nhello\r\n0\r\nBad Trailer: v\r\n\r\n"),
	/* Responses: framed, or read until the origin closes. */
	B_DONE(S, OK200 CL "5\r\n\r\nhello" NEXTS, 5, false),
	B_DONE(S, OK200 TEC CHT NEXTS, sizeof(CHT) - 1, false),
	B_EOF(S, OK200 "\r\nsome body bytes", HTTP_BODY_DONE, 15, true),
	B_EOF(S, OK200 "\r\n", HTTP_BODY_DONE, 0, true),
	B_EOF(S, OK200 "Connection: close\r\n\r\nbytes", HTTP_BODY_DONE, 5,
	    true),
	B_EOF(S, "HTTP/1.0 200 OK\r\n\r\nbody", HTTP_BODY_DONE, 4, true),
	B_EOF(S, OK200 CL "10\r\n\r\nhello", HTTP_BODY_ERROR, 5, false),
	B_EOF(S, OK200 TEC "5\r\nhello\r\n", HTTP_BODY_ERROR, 10, false),
	B_DONE(S, OK200 CL "0\r\n\r\n" NEXTS, 0, true),
	/* No body whatever the framing says: 1xx, 204, 304, and HEAD. */
	B_DONE(S, "HTTP/1.1 204 No Content\r\n\r\n" NEXTS, 0, true),
	B_DONE(S, "HTTP/1.1 204 No Content\r\n" CL "5\r\n\r\n" NEXTS, 0,
	    true),
	B_DONE(S, "HTTP/1.1 304 Not Modified\r\n" CL "100\r\n\r\n" NEXTS, 0,
	    true),
	B_DONE(S, "HTTP/1.1 100 Continue\r\n\r\n" NEXTS, 0, true),
	B_DONE(S, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" NEXTS,
	    0, true),
	B_DONE(SH, OK200 CL "1000\r\n\r\n" NEXTS, 0, true),
	B_DONE(SH, OK200 TEC NEXTS, 0, true),
	B_DONE(SH, OK200 "\r\n" NEXTS, 0, true),
};

/* Each row's body is fed in pieces of every size (0: all at once); the
 * outcome must not depend on where the reads happened to split it. */
static void
test_http_body(void **state)
{
	static const char *const names[] = { "MORE", "DONE", "ERROR" };
	size_t i, n = sizeof(body_cases) / sizeof(body_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct body_case *t = &body_cases[i];
		struct http_head *h = malloc(sizeof(*h));
		size_t len = strlen(t->text), step;

		assert_non_null(h);
		for (step = 0; step <= len; step++) {
			size_t off, blen, total = 0, used, k;
			int st = HTTP_BODY_MORE;
			bool bl, ne;
			unsigned nf;

			init_kind(h, t->kind);
			if (http_head_feed(h, t->text, len) != HTTP_HEAD_DONE)
				fail_msg("row %zu: head not DONE", i);
			off = h->hh_len;
			blen = len - off;
			if (step > blen)
				break;
			nf = h->hh_nfields;
			bl = http_head_bodyless(h);
			ne = http_head_needs_eof(h);
			for (; off < len && st == HTTP_BODY_MORE; off += k) {
				k = step == 0 || step > len - off ? len - off :
				    step;
				st = (int)http_body_feed(h, t->text + off, k,
				    &used);
				total += used;
				if (st == HTTP_BODY_MORE && used != k)
					fail_msg("row %zu: MORE used %zu of "
					    "%zu", i, used, k);
			}
			if (st == HTTP_BODY_MORE && t->eof)
				st = (int)http_body_eof(h);
			if (st != t->st || (t->used != (size_t)-1 &&
			    total != t->used) || h->hh_nfields != nf ||
			    (st == HTTP_BODY_ERROR && h->hh_error == NULL) ||
			    bl != t->bodyless || ne != t->needs_eof) {
				print_error("row %zu, pieces of %zu: \"%s\"%s: "
				    "%s, used %zu, bodyless %d, needs_eof %d; "
				    "expected %s, %zu, %d, %d (%s)\n", i, step,
				    show(t->text, len), t->eof ? " then EOF" :
				    "", names[st], total, bl, ne, names[t->st],
				    t->used, t->bodyless, t->needs_eof,
				    h->hh_error ? h->hh_error : "");
				bad++;
				break;
			}
		}
		free(h);
	}
	if (bad > 0)
		fail_msg("%d of %zu http body cases failed", bad, n);
}

struct flag_case {
	enum msg_kind	 kind;
	const char	*text;
	int		 keepalive;	/* -1: not this row's point */
	bool		 upgrade;
};

#define WS	"Connection: Upgrade\r\nUpgrade: websocket\r\n"

static const struct flag_case flag_cases[] = {
	{ Q, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, false },
	{ Q, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0, false },
	{ Q, "GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 0, false },
	{ Q, "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", 0,
	    false },
	{ Q, "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1, false },
	{ Q, "GET / HTTP/1.0\r\n\r\n", 0, false },
	{ Q, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, false },
	{ Q, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, false },
	{ Q, "GET /chat HTTP/1.1\r\nHost: a\r\n" WS "\r\n", -1, true },
	{ Q, "GET /chat HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n", -1, true },
	{ Q, "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1, false },
	{ Q, "GET /chat HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", -1, false },
	{ S, OK200 CL "0\r\n\r\n", 1, false },
	{ S, OK200 "\r\n", 0, false },
	{ S, OK200 "Connection: close\r\n" CL "0\r\n\r\n", 0, false },
	{ S, "HTTP/1.0 200 OK\r\n" CL "0\r\n\r\n", 0, false },
	{ S, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" CL "0\r\n\r\n",
	    1, false },
	{ S, "HTTP/1.1 204 No Content\r\n\r\n", 1, false },
	{ S, "HTTP/1.1 101 Switching Protocols\r\n" WS "\r\n", -1, true },
	{ S, OK200 WS CL "0\r\n\r\n", -1, false },
};

static void
test_http_flags(void **state)
{
	size_t i, n = sizeof(flag_cases) / sizeof(flag_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct flag_case *t = &flag_cases[i];
		struct http_head *h = malloc(sizeof(*h));
		size_t len = strlen(t->text);
		int st;

		assert_non_null(h);
		init_kind(h, t->kind);
		st = (int)http_head_feed(h, t->text, len);
		if (st != HTTP_HEAD_DONE || (t->keepalive != -1 &&
		    http_head_keepalive(h) != (t->keepalive == 1)) ||
		    http_head_upgrade(h) != t->upgrade) {
			print_error("row %zu: \"%s\": %s keepalive %d upgrade "
			    "%d, expected %d %d\n", i, show(t->text, len),
			    st_names[st], http_head_keepalive(h),
			    http_head_upgrade(h), t->keepalive, t->upgrade);
			bad++;
		}
		free(h);
	}
	if (bad > 0)
		fail_msg("%d of %zu keepalive/upgrade cases failed", bad, n);
}

/* How many Proxy-Authorization fields a head has: two of them are refused
 * (which one counts would depend on who reads), so every spelling counts. */
static const struct count_case {
	const char	*text;
	unsigned	 count;
} count_cases[] = {
	{ "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0 },
	{ "CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n",
	    1 },
	{ "CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n"
	    "Proxy-Authorization: Basic eDp6\r\n\r\n", 2 },
	{ "CONNECT a:443 HTTP/1.1\r\nproxy-authorization: Basic eDp5\r\n"
	    "PROXY-AUTHORIZATION: Basic eDp5\r\n\r\n", 2 },
	{ "CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n"
	    "Host: a\r\nProxy-Authorization:\r\n\r\n", 2 },
	{ "CONNECT a:443 HTTP/1.1\r\nProxy-Authorization-X: Basic eDp5\r\n"
	    "X-Proxy-Authorization: Basic eDp5\r\n\r\n", 0 },
};

static void
test_http_count(void **state)
{
	size_t i, n = sizeof(count_cases) / sizeof(count_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct count_case *t = &count_cases[i];
		struct http_head *h = malloc(sizeof(*h));
		size_t len = strlen(t->text);
		unsigned got;

		assert_non_null(h);
		init_kind(h, Q);
		if (http_head_feed(h, t->text, len) != HTTP_HEAD_DONE) {
			print_error("row %zu: did not parse\n", i);
			bad++;
		} else if ((got = http_head_count(h, t->text,
		    "Proxy-Authorization")) != t->count) {
			print_error("row %zu: \"%s\": %u fields, expected %u\n",
			    i, show(t->text, len), got, t->count);
			bad++;
		}
		free(h);
	}
	if (bad > 0)
		fail_msg("%d of %zu count cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_head),
		cmocka_unit_test(test_http_body),
		cmocka_unit_test(test_http_flags),
		cmocka_unit_test(test_http_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
