/* SPDX-License-Identifier: MIT */
/* Fuzzes proxyurl.c: proxy URLs (`http://user:pass@host:port`) and env
 * files. A refused URL's message never quotes its password, raw or decoded;
 * an accepted one formats (credentials percent-encoded) to a URL that parses
 * back to the same host, port, user and password, and without credentials
 * to one that holds no password. An env file's messages never quote a
 * value, and each key looks up to its last value.
 *
 * Input: byte 0 bit 0 picks the env-file parser, else the URL parser; the
 * rest is the text (a URL stops at its first NUL, like any C string). */
#include "fuzz.h"
#include "proxyurl.h"

/* The messages' fixed text: a secret that happens to spell part of it is
 * not quoted. */
static const char *const fixed_text[] = {
    "the proxy URL must start with http://",
    "the proxy URL must not have a path",
    "malformed percent-encoding in the proxy credentials",
    "malformed IPv6 address in the proxy URL",
    "malformed proxy URL after the IPv6 address",
    "the proxy URL has no host",
    "the proxy URL has an invalid port",
    "expected KEY=VALUE",
    "out of memory",
};

/* No 8-byte window of `secret` in `msg` that the fixed text does not
 * explain. */
static void
check_quiet(const char *msg, const char *secret, size_t slen, const char *what,
    const char *in, size_t inlen)
{
	size_t i, k, mlen = strlen(msg);

	for (i = 0; i + 8 <= slen; i++) {
		bool fixed = false;

		if (memmem(msg, mlen, secret + i, 8) == NULL)
			continue;
		for (k = 0; k < sizeof(fixed_text) / sizeof(fixed_text[0]); k++)
			fixed |= memmem(fixed_text[k], strlen(fixed_text[k]),
			             secret + i, 8) != NULL;
		FUZZ_CHECK("proxyurl-leak", fixed,
		    "message '%s' quotes the %s of '%s'", msg, what,
		    fuzz_show(in, inlen));
	}
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
fuzz_url(const char *s, size_t len)
{
	struct proxyurl u, v;
	char err[256], out[3 * 8192];
	const char *p = s, *end, *at = NULL, *c, *q;
	int n;

	err[0] = '\0';
	if (proxyurl_parse(s, &u, err, sizeof(err)) == -1) {
		FUZZ_CHECK("proxyurl-err", err[0] != '\0', "no reason");
		/* The password: after the first ':' of the userinfo, which
		 * ends at the last '@' before any '/', '?' or '#'. */
		if (strncmp(p, "http://", 7) == 0)
			p += 7;
		end = p + strcspn(p, "/?#");
		for (q = p; q < end; q++)
			if (*q == '@')
				at = q;
		if (at != NULL &&
		    (c = memchr(p, ':', (size_t)(at - p))) != NULL)
			check_quiet(err, c + 1, (size_t)(at - c - 1),
			    "password", s, len);
		return;
	}
	FUZZ_CHECK("proxyurl-host",
	    u.pu_host != NULL && u.pu_host[0] != '\0' && u.pu_port >= 1,
	    "accepted '%s' without host or port", fuzz_show(s, len));
	FUZZ_CHECK("proxyurl-creds", u.pu_pass == NULL || u.pu_user != NULL,
	    "password without user");
	/* With credentials: parses back to the same. */
	n = proxyurl_format(&u, true, out, sizeof(out));
	FUZZ_CHECK("proxyurl-format", n > 0 && (size_t)n == strlen(out),
	    "format gave %d for '%s'", n, fuzz_show(s, len));
	err[0] = '\0';
	if (proxyurl_parse(out, &v, err, sizeof(err)) == -1) {
		FUZZ_CHECK("proxyurl-roundtrip", false,
		    "'%s' (from '%s') refused: %s", fuzz_show(out, strlen(out)),
		    fuzz_show(s, len), err);
		proxyurl_free(&u);
		return;
	}
	FUZZ_CHECK("proxyurl-roundtrip",
	    strcmp(u.pu_host, v.pu_host) == 0 && u.pu_port == v.pu_port &&
	        same_str(u.pu_user, v.pu_user) &&
	        same_str(u.pu_pass, v.pu_pass),
	    "'%s' (from '%s') parses to host '%s' port %u",
	    fuzz_show(out, strlen(out)), fuzz_show(s, len),
	    fuzz_show(v.pu_host, strlen(v.pu_host)), (unsigned)v.pu_port);
	proxyurl_free(&v);
	/* Without: no credentials at all. */
	n = proxyurl_format(&u, false, out, sizeof(out));
	FUZZ_CHECK("proxyurl-format", n > 0, "format without creds gave %d", n);
	FUZZ_CHECK("proxyurl-format",
	    proxyurl_parse(out, &v, err, sizeof(err)) == 0 &&
	        v.pu_user == NULL && v.pu_pass == NULL,
	    "'%s' without credentials still has some", out);
	proxyurl_free(&v);
	proxyurl_free(&u);
}

static void
fuzz_envfile(const char *s, size_t len)
{
	struct proxyurl_envfile ef;
	const char *p, *end = s + len, *nl;
	char err[256];
	size_t i;

	err[0] = '\0';
	if (proxyurl_envfile_parse(&ef, s, len, err, sizeof(err)) == -1) {
		FUZZ_CHECK("envfile-err",
		    strncmp(err, "line ", 5) == 0 ||
		        strcmp(err, "out of memory") == 0,
		    "message '%s'", err);
		/* Never a value: the bytes after each line's first '='. */
		for (p = s; p < end; p = nl + 1) {
			const char *eq;

			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if ((eq = memchr(p, '=', (size_t)(nl - p))) != NULL)
				check_quiet(err, eq + 1, (size_t)(nl - eq - 1),
				    "value", s, len);
		}
		FUZZ_CHECK("envfile-free",
		    ef.pe_count == 0 && ef.pe_keys == NULL,
		    "refused file left entries");
		return;
	}
	/* NUL bytes cut keys and values short (strndup): only the lookups
	 * of files without them are checked. */
	for (i = 0; memchr(s, '\0', len) == NULL && i < ef.pe_count; i++) {
		size_t j;

		FUZZ_CHECK("envfile-key",
		    ef.pe_keys[i][0] != '\0' &&
		        strchr(ef.pe_keys[i], '=') == NULL,
		    "key '%s'", ef.pe_keys[i]);
		/* The last assignment of a key wins. */
		for (j = ef.pe_count; j > 0; j--)
			if (strcmp(ef.pe_keys[j - 1], ef.pe_keys[i]) == 0)
				break;
		FUZZ_CHECK("envfile-get",
		    proxyurl_envfile_get(&ef, ef.pe_keys[i]) ==
		        ef.pe_values[j - 1],
		    "lookup of '%s'", ef.pe_keys[i]);
	}
	proxyurl_envfile_free(&ef);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 8192)
		return 0;
	/* Exactly sized (plus the NUL the URL parser needs). */
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1)
		fuzz_envfile(s, size - 1);
	else
		fuzz_url(s, strlen(s));
	free(s);
	return 0;
}
