/* SPDX-License-Identifier: MIT */
/* Absolute-form URL parsing for forward proxying. Deliberately narrower than
 * RFC 3986: anything that different parsers might read differently (userinfo,
 * backslashes, fragments, control bytes) is refused rather than guessed. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"

static int
url_fail(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

/* The scheme of `s`, case-insensitive, into u_scheme and its default port
 * into *port. Returns where the authority starts, or NULL for anything
 * but http:// and https://. */
static const char *
url_scheme(const char *s, size_t len, struct url *u, unsigned long *port)
{
	if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
		u->u_scheme = URL_HTTP;
		*port = 80;
		return s + 7;
	}
	if (len >= 8 && strncasecmp(s, "https://", 8) == 0) {
		u->u_scheme = URL_HTTPS;
		*port = 443;
		return s + 8;
	}
	return NULL;
}

/* The port, digits after the last ':' outside IPv6 brackets of the
 * authority [auth, aend), into *port (left alone when there is none), and
 * where the host ends into *hend. Returns 0, or -1 with a message. */
static int
url_port(const char *auth, const char *aend, unsigned long *port,
    const char **hend, char *err, size_t errlen)
{
	const char *colon = NULL, *q, *d;

	*hend = aend;
	for (q = aend; q > auth; q--)
		if (q[-1] == ':' || q[-1] == ']')
			break;
	if (q > auth && q[-1] == ':')
		colon = q - 1;
	if (colon == NULL)
		return 0;
	if (colon + 1 == aend || aend - colon - 1 > 5)
		return url_fail(err, errlen, "invalid port in URL");
	*port = 0;
	for (d = colon + 1; d < aend; d++) {
		if (*d < '0' || *d > '9')
			return url_fail(err, errlen, "invalid port in URL");
		*port = *port * 10 + (unsigned long)(*d - '0');
	}
	if (*port == 0 || *port > 65535)
		return url_fail(err, errlen, "port out of range 1-65535");
	*hend = colon;
	return 0;
}

int
url_parse(const char *s, size_t len, struct url *u, char *err, size_t errlen)
{
	const char *p, *end = s + len, *auth, *aend, *hend;
	char herr[128];
	unsigned long port = 0;
	size_t i;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f ||
		    s[i] == '\\')
			return url_fail(err, errlen,
			    "invalid character in the request target");
	if ((p = url_scheme(s, len, u, &port)) == NULL)
		return url_fail(err, errlen, "the request target is not an "
		    "http:// URL");
	auth = p;
	for (aend = p; aend < end && *aend != '/' && *aend != '?' &&
	    *aend != '#'; aend++)
		;
	if (memchr(auth, '@', (size_t)(aend - auth)) != NULL)
		return url_fail(err, errlen,
		    "user names in URLs are not allowed");
	if (memchr(s, '#', len) != NULL)
		return url_fail(err, errlen,
		    "a fragment (#) does not belong in a request");
	if (url_port(auth, aend, &port, &hend, err, errlen) == -1)
		return -1;
	if (hend == auth)
		return url_fail(err, errlen, "URL without a host");
	if (host_canon(auth, (size_t)(hend - auth), &u->u_host, herr,
	    sizeof(herr)) == -1)
		return url_fail(err, errlen, herr);
	u->u_host.h_port = (unsigned short)port;
	u->u_path = aend;
	u->u_pathlen = (size_t)(end - aend);
	return 0;
}
