/* SPDX-License-Identifier: MIT */
/* Unit tests for head rewriting (rewrite.c): each row is a head as a client
 * or origin sent it, the options, and the exact head that must leave the
 * proxy. What must never cross (Proxy-Authorization, the fields Connection
 * names) and what must never be dropped (the framing) are rows here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "rewrite.h"
#include "url.h"
#include "unit.h"

struct rewrite_case {
	const char		*in;
	struct rewrite_opts	 o;
	const char		*out;
};

#define NONE	{ false, NULL, false, false, NULL }
#define VIA	{ .ro_via = true }
#define XFF	{ .ro_forwarded_for = "192.0.2.7" }
#define CLOSE	{ .ro_close = true }
#define UPGR	{ .ro_upgrade = true }
#define ALL	{ true, "2001:db8::7", true, false, NULL }
#define AUTH(s)	{ .ro_proxy_auth = s }
#define GET	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
#define OUT	"GET / HTTP/1.1\r\nHost: example.com\r\n"
#define HOP	"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n" \
		"Proxy-Connection: keep-alive\r\n" \
		"Proxy-Authorization: Basic Y2xpZW50OnNlY3JldA==\r\n" \
		"TE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\n"

static const struct rewrite_case request_cases[] = {
	/* Origin-form request line and Host from the URL. */
	{ GET "User-Agent: t\r\n\r\n", NONE, OUT "User-Agent: t\r\n\r\n" },
	{ "GET http://example.com HTTP/1.1\r\n\r\n", NONE, OUT "\r\n" },
	{ "GET http://example.com?q=1 HTTP/1.1\r\n\r\n", NONE,
	    "GET /?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n" },
	{ "GET http://example.com/a/../b?x=%20&y HTTP/1.1\r\n\r\n", NONE,
	    "GET /a/../b?x=%20&y HTTP/1.1\r\nHost: example.com\r\n\r\n" },
	{ "GET http://example.com:8080/x HTTP/1.1\r\n\r\n", NONE,
	    "GET /x HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" },
	{ "GET http://example.com:80/ HTTP/1.1\r\n\r\n", NONE, OUT "\r\n" },
	{ "GET http://EXAMPLE.Com./ HTTP/1.1\r\n\r\n", NONE, OUT "\r\n" },
	{ "GET http://127.1:81/ HTTP/1.1\r\n\r\n", NONE,
	    "GET / HTTP/1.1\r\nHost: 127.0.0.1:81\r\n\r\n" },
	{ "GET http://[::1]/ HTTP/1.1\r\n\r\n", NONE,
	    "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n" },
	{ "GET http://[0::1]:8080/ HTTP/1.1\r\n\r\n", NONE,
	    "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n" },
	/* The client's Host never wins over the URL, however many. */
	{ "GET http://example.com/ HTTP/1.1\r\nHost: evil.net\r\n"
	    "host: evil.org\r\n\r\n", NONE, OUT "\r\n" },
	/* Other methods and versions; the body's framing stays. */
	{ "POST http://example.com/f HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Type: text/plain\r\n\r\n", NONE,
	    "POST /f HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
	    "Content-Type: text/plain\r\n\r\n" },
	{ "PUT http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", NONE, "PUT / HTTP/1.1\r\nHost: example.com\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n" },
	{ "DELETE http://example.com/x HTTP/1.0\r\n\r\n", NONE,
	    "DELETE /x HTTP/1.1\r\nHost: example.com\r\n\r\n" },
	/* Hop-by-hop fields removed, in any case; look-alikes kept. */
	{ GET HOP "Accept: */*\r\n\r\n", NONE, OUT "Accept: */*\r\n\r\n" },
	{ GET "connection: close\r\nKEEP-ALIVE: 1\r\nproxy-authorization: x\r\n"
	    "te: trailers\r\nUPGRADE: h2c\r\n\r\n", NONE, OUT "\r\n" },
	{ GET "Upgrade-Insecure-Requests: 1\r\nConnection-Id: 5\r\nTEX: 1\r\n"
	    "Proxy-Authorization-Info: x\r\nX-Connection: y\r\n\r\n", NONE,
	    OUT "Upgrade-Insecure-Requests: 1\r\nConnection-Id: 5\r\nTEX: 1\r\n"
	    "Proxy-Authorization-Info: x\r\nX-Connection: y\r\n\r\n" },
	/* Fields named by Connection go too, from every Connection line. */
	{ GET "Connection: X-Secret, x-other\r\nX-Secret: 1\r\nX-Other: 2\r\n"
	    "X-Keep: 3\r\n\r\n", NONE, OUT "X-Keep: 3\r\n\r\n" },
	{ GET "Connection: a\r\nConnection: b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
	    NONE, OUT "C: 3\r\n\r\n" },
	{ GET "Connection: , X-A ,,\tX-B,\r\nX-A: 1\r\nX-B: 2\r\n"
	    "X-C: 3\r\n\r\n", NONE, OUT "X-C: 3\r\n\r\n" },
	{ GET "X-Before: 1\r\nConnection: x-before\r\n\r\n", NONE,
	    OUT "\r\n" },
	/* ... but never the framing, nor Host. */
	{ "POST http://example.com/ HTTP/1.1\r\nConnection: Content-Length, "
	    "Host\r\nContent-Length: 5\r\n\r\n", NONE,
	    "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
	    "\r\n" },
	{ "POST http://example.com/ HTTP/1.1\r\nConnection: close, "
	    "transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n", NONE,
	    "POST / HTTP/1.1\r\nHost: example.com\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n" },
	/* Options: Via, X-Forwarded-For, Connection: close. */
	{ GET "\r\n", VIA, OUT "Via: 1.1 sluice\r\n\r\n" },
	{ GET "\r\n", XFF, OUT "X-Forwarded-For: 192.0.2.7\r\n\r\n" },
	{ GET "\r\n", CLOSE, OUT "Connection: close\r\n\r\n" },
	{ GET "Connection: X-Forwarded-For, Via\r\n"
	    "X-Forwarded-For: 6.6.6.6\r\nVia: 1.0 other\r\n\r\n", ALL,
	    OUT "X-Forwarded-For: 2001:db8::7\r\nVia: 1.1 sluice\r\n"
	    "Connection: close\r\n\r\n" },
	{ GET "Connection: keep-alive\r\nX-A: 1\r\n\r\n", ALL,
	    OUT "X-A: 1\r\nX-Forwarded-For: 2001:db8::7\r\nVia: 1.1 sluice\r\n"
	    "Connection: close\r\n\r\n" },
	/* Upgrade is kept only when a switch is forwarded. */
	{ GET "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: k==\r\n\r\n", NONE,
	    OUT "Sec-WebSocket-Key: k==\r\n\r\n" },
	{ GET "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: k==\r\n\r\n", UPGR, OUT "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Key: k==\r\nConnection: Upgrade\r\n\r\n" },
	{ GET "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
	    "Keep-Alive: 5\r\n\r\n", UPGR,
	    OUT "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n" },
	/* To an upstream proxy: absolute-form and our credentials only. */
	{ "GET http://example.com:8080/x?y HTTP/1.1\r\nProxy-Authorization: "
	    "Basic Y2xpZW50\r\nX-A: 1\r\n\r\n", AUTH("dXNlcjpwYXNz"),
	    "GET http://example.com:8080/x?y HTTP/1.1\r\n"
	    "Host: example.com:8080\r\n"
	    "Proxy-Authorization: Basic dXNlcjpwYXNz\r\nX-A: 1\r\n\r\n" },
	{ "GET http://example.com HTTP/1.1\r\nProxy-Authorization: Basic "
	    "Y2xpZW50\r\n\r\n", AUTH(""),
	    "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n" },
	{ "GET http://[::1]:81?q HTTP/1.1\r\n\r\n", AUTH(""),
	    "GET http://[::1]:81/?q HTTP/1.1\r\nHost: [::1]:81\r\n\r\n" },
};

#define S200	"HTTP/1.1 200 OK\r\n"

static const struct rewrite_case response_cases[] = {
	{ S200 "Content-Length: 5\r\n\r\n", NONE,
	    S200 "Content-Length: 5\r\n\r\n" },
	{ "HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n", NONE,
	    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n" },
	{ "HTTP/1.1 418 I'm a teapot\r\n\r\n", NONE,
	    "HTTP/1.1 418 I'm a teapot\r\n\r\n" },
	{ "HTTP/1.1 503 Service  Unavailable, Try Later\r\n\r\n", NONE,
	    "HTTP/1.1 503 Service  Unavailable, Try Later\r\n\r\n" },
	{ "HTTP/1.1 204\r\n\r\n", NONE, "HTTP/1.1 204 \r\n\r\n" },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5"
	    "\r\nProxy-Connection: keep-alive\r\nTrailer: X-Sum\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", NONE,
	    S200 "Transfer-Encoding: chunked\r\n\r\n" },
	{ S200 "Connection: X-Hop, Transfer-Encoding\r\nX-Hop: 1\r\n"
	    "Transfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
	    "Set-Cookie: b=2\r\n\r\n", NONE,
	    S200 "Transfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
	    "Set-Cookie: b=2\r\n\r\n" },
	{ S200 "Connection: content-length\r\nContent-Length: 0\r\n\r\n", NONE,
	    S200 "Content-Length: 0\r\n\r\n" },
	{ S200 "Content-Length: 0\r\n\r\n", VIA,
	    S200 "Content-Length: 0\r\nVia: 1.1 sluice\r\n\r\n" },
	{ S200 "Connection: keep-alive\r\n\r\n", CLOSE,
	    S200 "Connection: close\r\n\r\n" },
	{ "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Accept: a=\r\n\r\n", UPGR,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Accept: a=\r\nConnection: Upgrade\r\n\r\n" },
	{ S200 "Upgrade: h2c\r\nContent-Length: 0\r\n\r\n", NONE,
	    S200 "Content-Length: 0\r\n\r\n" },
};

/* Parse `in`, rewrite it, compare with `out`; prints and returns -1 on a
 * mismatch. */
static int
check_row(const char *what, size_t i, const struct rewrite_case *t,
    bool request)
{
	struct http_head *h = malloc(sizeof(*h));
	struct buf out = { 0 };
	struct url u;
	char err[256] = "";
	size_t len = strlen(t->in), olen = strlen(t->out);
	int r = -1;

	assert_non_null(h);
	if (request)
		http_head_init(h);
	else
		http_head_init_response(h, false);
	if (http_head_feed(h, t->in, len) != HTTP_HEAD_DONE ||
	    h->hh_len != len) {
		print_error("%s row %zu: the head does not parse: %s\n", what,
		    i, h->hh_error ? h->hh_error : "incomplete");
		goto done;
	}
	if (request && url_parse(t->in + h->hh_url.off, h->hh_url.len, &u,
	    err, sizeof(err)) == -1) {
		print_error("%s row %zu: url_parse refused: %s\n", what, i,
		    err);
		goto done;
	}
	if ((request ? rewrite_request(h, t->in, &u, &t->o, &out) :
	    rewrite_response(h, t->in, &t->o, &out)) == -1) {
		print_error("%s row %zu: rewrite failed\n", what, i);
		goto done;
	}
	if (buf_used(&out) != olen ||
	    memcmp(out.b_data + out.b_off, t->out, olen) != 0) {
		print_error("%s row %zu: \"%s\"\n", what, i, show(t->in, len));
		print_error("  gave     \"%s\"\n",
		    show(out.b_data + out.b_off, buf_used(&out)));
		print_error("  expected \"%s\"\n", show(t->out, olen));
		goto done;
	}
	r = 0;
done:
	buf_free(&out);
	free(h);
	return r;
}

static void
test_rewrite_request(void **state)
{
	size_t i, n = sizeof(request_cases) / sizeof(request_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++)
		if (check_row("request", i, &request_cases[i], true) == -1)
			bad++;
	if (bad > 0)
		fail_msg("%d of %zu rewrite_request cases failed", bad, n);
}

static void
test_rewrite_response(void **state)
{
	size_t i, n = sizeof(response_cases) / sizeof(response_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++)
		if (check_row("response", i, &response_cases[i], false) == -1)
			bad++;
	if (bad > 0)
		fail_msg("%d of %zu rewrite_response cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrite_request),
		cmocka_unit_test(test_rewrite_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
