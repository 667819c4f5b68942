/* SPDX-License-Identifier: MIT */
/* Unit tests for absolute-form request targets (url.c): the scheme, host,
 * port and path the forwarder acts on, and the refusals of anything two
 * parsers might read differently (userinfo, fragments, backslashes, control
 * bytes). One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "url.h"
#include "unit.h"

struct url_case {
	const char	*in;
	size_t		 len;
	int		 ret;
	enum url_scheme	 scheme;
	enum host_kind	 kind;
	const char	*host;	/* canonical h_name */
	uint16_t	 port;
	const char	*path;	/* u_path, exactly u_pathlen bytes */
};

#define OK(s, sc, k, h, p, path)	\
	{ s, sizeof(s) - 1, 0, sc, k, h, p, path }
#define HTTP(s, h, p, path)	OK(s, URL_HTTP, HOST_NAME, h, p, path)
#define HTTPS(s, h, p, path)	OK(s, URL_HTTPS, HOST_NAME, h, p, path)
#define V4(s, h, p, path)	OK(s, URL_HTTP, HOST_IPV4, h, p, path)
#define V6(s, h, p, path)	OK(s, URL_HTTP, HOST_IPV6, h, p, path)
#define BAD(s)	\
	{ s, sizeof(s) - 1, -1, URL_HTTP, HOST_NAME, NULL, 0, NULL }

static const struct url_case url_cases[] = {
	/* Schemes and default ports. */
	HTTP("http://example.com/", "example.com", 80, "/"),
	HTTPS("https://example.com/", "example.com", 443, "/"),
	HTTP("HTTP://example.com/", "example.com", 80, "/"),
	HTTP("hTtP://example.com/", "example.com", 80, "/"),
	HTTPS("HTTPS://example.com/", "example.com", 443, "/"),

	/* Explicit ports. */
	HTTP("http://example.com:8080/", "example.com", 8080, "/"),
	HTTP("http://example.com:1/", "example.com", 1, "/"),
	HTTP("http://example.com:65535/", "example.com", 65535, "/"),
	HTTP("http://example.com:443/", "example.com", 443, "/"),
	HTTPS("https://example.com:80/", "example.com", 80, "/"),
	HTTPS("https://example.com:8443", "example.com", 8443, ""),
	HTTP("http://example.com:8080?q=1", "example.com", 8080, "?q=1"),

	/* Path and query kept exactly as written. */
	HTTP("http://example.com", "example.com", 80, ""),
	HTTP("http://example.com?q", "example.com", 80, "?q"),
	HTTP("http://example.com?", "example.com", 80, "?"),
	HTTP("http://example.com/a/b?x=1&y=2", "example.com", 80,
	    "/a/b?x=1&y=2"),
	HTTP("http://example.com/a/../b/./c", "example.com", 80,
	    "/a/../b/./c"),
	HTTP("http://example.com/%2e%2e/%2F?q=%20", "example.com", 80,
	    "/%2e%2e/%2F?q=%20"),
	HTTP("http://example.com//double//slash", "example.com", 80,
	    "//double//slash"),
	HTTP("http://example.com/p:1@x", "example.com", 80, "/p:1@x"),
	/* An '@' after '?' is query, not userinfo: the host stays a.com. */
	HTTP("http://a.com?@b.com/", "a.com", 80, "?@b.com/"),
	HTTP("http://a.com/@b.com", "a.com", 80, "/@b.com"),

	/* Hosts go through host_canon. */
	HTTP("http://EXAMPLE.COM/", "example.com", 80, "/"),
	HTTP("http://Api.Example.Com:8080/x", "api.example.com", 8080, "/x"),
	HTTP("http://example.com./", "example.com", 80, "/"),
	HTTP("http://example.com.:81/", "example.com", 81, "/"),
	HTTP("http://localhost/", "localhost", 80, "/"),
	V4("http://127.0.0.1/", "127.0.0.1", 80, "/"),
	V4("http://127.1/", "127.0.0.1", 80, "/"),
	V4("http://2130706433/", "127.0.0.1", 80, "/"),
	V4("http://0x7f.0.0.1:8080/", "127.0.0.1", 8080, "/"),
	V4("http://0177.0.0.1/", "127.0.0.1", 80, "/"),
	V4("http://169.254.169.254/latest/meta-data/", "169.254.169.254", 80,
	    "/latest/meta-data/"),
	V4("http://127.0.0.1.:8080", "127.0.0.1", 8080, ""),
	V6("http://[::1]/", "::1", 80, "/"),
	V6("http://[::1]:8080/", "::1", 8080, "/"),
	V6("http://[::1]", "::1", 80, ""),
	V6("http://[::1]?q", "::1", 80, "?q"),
	V6("http://[2001:DB8::1]:443/x", "2001:db8::1", 443, "/x"),
	V6("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1", 80, "/"),
	OK("https://[::1]/", URL_HTTPS, HOST_IPV6, "::1", 443, "/"),

	/* Not absolute-form http(s). */
	BAD(""),
	BAD("/"),
	BAD("/index.html"),
	BAD("*"),
	BAD("example.com:80"),
	BAD("//example.com/"),
	BAD("ftp://example.com/"),
	BAD("ws://example.com/"),
	BAD("http:/example.com/"),
	BAD("http:example.com"),
	BAD("http:"),
	BAD("httpx://example.com/"),
	BAD(" http://example.com/"),

	/* Ports. */
	BAD("http://example.com:/"),
	BAD("http://example.com:"),
	BAD("http://example.com:0/"),
	BAD("http://example.com:00000/"),
	BAD("http://example.com:65536/"),
	BAD("http://example.com:99999/"),
	BAD("http://example.com:123456/"),
	BAD("http://example.com:8o/"),
	BAD("http://example.com:+80/"),
	BAD("http://example.com:-1/"),
	BAD("http://example.com:0x50/"),
	BAD("http://example.com:80:80/"),
	BAD("http://[::1]:/"),
	BAD("http://[::1]:0/"),
	BAD("http://[::1]:65536/"),

	/* Userinfo, in every disguise. */
	BAD("http://user@example.com/"),
	BAD("http://user:pass@example.com/"),
	BAD("http://@example.com/"),
	BAD("http://example.com@evil.net/"),
	BAD("http://evil.net:80@example.com/"),
	BAD("http://a@b@example.com/"),
	BAD("http://user@[::1]/"),

	/* Fragments. */
	BAD("http://example.com/#frag"),
	BAD("http://example.com/a?b#c"),
	BAD("http://example.com#"),
	BAD("http://evil.net#@example.com/"),

	/* Backslash, space and control bytes, anywhere. */
	BAD("http://example.com\\@evil.net/"),
	BAD("http://example.com/a\\b"),
	BAD("http:\\\\example.com/"),
	BAD("http://example.com/a b"),
	BAD("http://exa mple.com/"),
	BAD("http://example.com/\t"),
	BAD("http://example.com/\r\nX-Injected: 1"),
	BAD("http://example.com/\n"),
	BAD("http://example.com\0.evil.net/"),
	BAD("http://example.com/\0"),
	BAD("http://example.com/\x01"),
	BAD("http://example.com/\x7f"),
	BAD("http://example.com/\x1b[0m"),

	/* Missing or bad hosts. */
	BAD("http://"),
	BAD("https://"),
	BAD("http:///"),
	BAD("http:///path"),
	BAD("http://:80/"),
	BAD("http://?q"),
	BAD("http://./"),
	BAD("http://example..com/"),
	BAD("http://-example.com/"),
	BAD("http://%65xample.com/"),
	BAD("http://exa_mple.com%2f/"),
	BAD("http://1.2.3.256/"),
	BAD("http://example.123/"),
	BAD("http://b\xc3\xbc" "cher.de/"),
	BAD("http://::1/"),
	BAD("http://[::1/"),
	BAD("http://[::1]x/"),
	BAD("http://[fe80::1%25eth0]/"),
	BAD("http://[example.com]/"),
};

static const char *
scheme_name(enum url_scheme s)
{
	return s == URL_HTTPS ? "https" : s == URL_HTTP ? "http" : "?";
}

static void
test_url_parse(void **state)
{
	size_t i, n = sizeof(url_cases) / sizeof(url_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct url_case *t = &url_cases[i];
		struct url u;
		char err[256] = "";
		int r = url_parse(t->in, t->len, &u, err, sizeof(err));

		if (r != t->ret) {
			print_error("row %zu: url_parse(\"%s\") returned %d, "
			    "expected %d (err: %s)\n", i, show(t->in, t->len),
			    r, t->ret, err);
			bad++;
			continue;
		}
		if (r == -1) {
			if (err[0] == '\0') {
				print_error("row %zu: url_parse(\"%s\") "
				    "refused without a reason\n", i,
				    show(t->in, t->len));
				bad++;
			}
			continue;
		}
		if (u.u_scheme != t->scheme || u.u_host.h_kind != t->kind ||
		    strcmp(u.u_host.h_name, t->host) != 0 ||
		    u.u_host.h_port != t->port) {
			print_error("row %zu: url_parse(\"%s\") gave %s host "
			    "\"%s\" (kind %d) port %u, expected %s \"%s\" "
			    "(kind %d) port %u\n", i, show(t->in, t->len),
			    scheme_name(u.u_scheme), u.u_host.h_name,
			    (int)u.u_host.h_kind, (unsigned)u.u_host.h_port,
			    scheme_name(t->scheme), t->host, (int)t->kind,
			    (unsigned)t->port);
			bad++;
			continue;
		}
		/* The path is a view of the input, not a copy. */
		if (u.u_pathlen != strlen(t->path) ||
		    u.u_path < t->in ||
		    u.u_path + u.u_pathlen > t->in + t->len ||
		    memcmp(u.u_path, t->path, u.u_pathlen) != 0) {
			print_error("row %zu: url_parse(\"%s\"): path \"%s\" "
			    "(%zu bytes), expected \"%s\"\n", i, t->in,
			    u.u_path != NULL ? show(u.u_path, u.u_pathlen) :
			    "-",
			    u.u_pathlen, t->path);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu url_parse cases failed", bad, n);
}

/* A target is parsed by its length, not up to a NUL: bytes after `len`
 * belong to the rest of the request line and must not leak into the URL. */
struct len_case {
	const char	*buf;
	size_t		 len;
	const char	*host;
	uint16_t	 port;
	const char	*path;
};

static const struct len_case len_cases[] = {
	{ "http://example.com/a HTTP/1.1", 20, "example.com", 80, "/a" },
	{ "http://example.com:8080 x", 23, "example.com", 8080, "" },
	{ "http://example.com:80801", 23, "example.com", 8080, "" },
	{ "http://[::1]:80/ bad\\", 16, "::1", 80, "/" },
	{ "http://example.com#frag", 18, "example.com", 80, "" },
	{ "http://user@example.com", 11, "user", 80, "" },
};

static void
test_url_parse_len(void **state)
{
	size_t i, n = sizeof(len_cases) / sizeof(len_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct len_case *t = &len_cases[i];
		struct url u;
		char err[256] = "";

		if (url_parse(t->buf, t->len, &u, err, sizeof(err)) == -1) {
			print_error("row %zu: url_parse(\"%.*s\") refused: "
			    "%s\n", i, (int)t->len, t->buf, err);
			bad++;
		} else if (strcmp(u.u_host.h_name, t->host) != 0 ||
		    u.u_host.h_port != t->port ||
		    u.u_pathlen != strlen(t->path) ||
		    memcmp(u.u_path, t->path, u.u_pathlen) != 0) {
			print_error("row %zu: url_parse(\"%.*s\") gave \"%s\" "
			    "port %u path \"%.*s\"\n", i, (int)t->len, t->buf,
			    u.u_host.h_name, (unsigned)u.u_host.h_port,
			    (int)u.u_pathlen, u.u_path);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu url_parse length cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_url_parse_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
