/* SPDX-License-Identifier: MIT */
/* Fuzzes url_parse (absolute-form request targets). An accepted URL must
 * hold none of the bytes url.c refuses, its path must be the tail of the
 * input, its host canonical and its port 1-65535 (80/443 by default), and
 * writing it back out as "scheme://host[:port]path" must parse to the same
 * URL. */
#include <strings.h>

#include "fuzz.h"
#include "url.h"

static bool
same_host(const struct host *a, const struct host *b)
{
	return a->h_kind == b->h_kind && a->h_port == b->h_port &&
	    strcmp(a->h_name, b->h_name) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, err[160], again[1200];
	const char *aend;
	struct url u, v;
	struct host h;
	size_t i;
	int r, n;

	if (size > 1000)
		return 0;
	/* An exactly-sized copy: reading past `size` is an ASan report. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	err[0] = '\0';
	r = url_parse(s, size, &u, err, sizeof(err));
	FUZZ_CHECK("url-ret", r == 0 || r == -1, "returned %d", r);
	if (r == -1) {
		FUZZ_CHECK("url-err", err[0] != '\0', "no reason for '%s'",
		    fuzz_show(s, size));
		goto out;
	}
	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)s[i];

		FUZZ_CHECK("url-bytes",
		    c > ' ' && c != 0x7f && c != '\\' && c != '#',
		    "accepted byte 0x%02x in '%s'", c, fuzz_show(s, size));
	}
	FUZZ_CHECK("url-scheme",
	    (u.u_scheme == URL_HTTP && strncasecmp(s, "http://", 7) == 0) ||
	        (u.u_scheme == URL_HTTPS && strncasecmp(s, "https://", 8) == 0),
	    "scheme %d for '%s'", (int)u.u_scheme, fuzz_show(s, size));
	FUZZ_CHECK("url-path",
	    u.u_path >= s && u.u_path + u.u_pathlen == s + size,
	    "path is not the tail of '%s'", fuzz_show(s, size));
	FUZZ_CHECK("url-path",
	    u.u_pathlen == 0 || u.u_path[0] == '/' || u.u_path[0] == '?',
	    "path '%s' of '%s'", fuzz_show(u.u_path, u.u_pathlen),
	    fuzz_show(s, size));
	aend = u.u_path;
	FUZZ_CHECK("url-userinfo", memchr(s, '@', (size_t)(aend - s)) == NULL,
	    "userinfo accepted in '%s'", fuzz_show(s, size));
	FUZZ_CHECK("url-port", u.u_host.h_port >= 1, "port 0 in '%s'",
	    fuzz_show(s, size));
	FUZZ_CHECK("url-host",
	    memchr(u.u_host.h_name, '\0', sizeof(u.u_host.h_name)) != NULL &&
	        u.u_host.h_name[0] != '\0',
	    "host name not a string");
	/* The host is canonical: canonicalising it again changes nothing. */
	n = snprintf(again, sizeof(again),
	    u.u_host.h_kind == HOST_IPV6 ? "[%s]" : "%s", u.u_host.h_name);
	FUZZ_CHECK("url-host",
	    host_canon(again, (size_t)n, &h, err, sizeof(err)) == 0 &&
	        h.h_kind == u.u_host.h_kind &&
	        strcmp(h.h_name, u.u_host.h_name) == 0,
	    "host '%s' of '%s' is not canonical", u.u_host.h_name,
	    fuzz_show(s, size));
	/* Written back out, it parses to the same URL. */
	n = snprintf(again, sizeof(again), "%s://%s%s%s:%u%.*s",
	    u.u_scheme == URL_HTTPS ? "https" : "http",
	    u.u_host.h_kind == HOST_IPV6 ? "[" : "", u.u_host.h_name,
	    u.u_host.h_kind == HOST_IPV6 ? "]" : "", (unsigned)u.u_host.h_port,
	    (int)u.u_pathlen, u.u_path);
	FUZZ_CHECK("url-roundtrip",
	    n > 0 && (size_t)n < sizeof(again) &&
	        url_parse(again, (size_t)n, &v, err, sizeof(err)) == 0,
	    "'%s' (from '%s') refused: %s", again, fuzz_show(s, size), err);
	FUZZ_CHECK("url-roundtrip",
	    v.u_scheme == u.u_scheme && same_host(&v.u_host, &u.u_host) &&
	        v.u_pathlen == u.u_pathlen &&
	        memcmp(v.u_path, u.u_path, u.u_pathlen) == 0,
	    "'%s' parses differently from '%s'", again, fuzz_show(s, size));
out:
	free(s);
	return 0;
}
