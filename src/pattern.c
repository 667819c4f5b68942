/* SPDX-License-Identifier: MIT */
/* Allowlist patterns. Each pattern becomes one hash entry keyed by its bare
 * domain with flags saying whether the name itself and/or its subdomains
 * match; a lookup probes the full name and then each parent domain. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "pattern.h"

#define PATTERN_SELF	0x1	/* the name itself matches */
#define PATTERN_SUBS	0x2	/* every proper subdomain matches */

void
patterns_init(struct patterns *p)
{
	strmap_init(&p->p_map);
	p->p_list = NULL;
	p->p_count = 0;
}

void
patterns_free(struct patterns *p)
{
	size_t i;

	strmap_free(&p->p_map);
	for (i = 0; i < p->p_count; i++)
		free(p->p_list[i]);
	free(p->p_list);
	p->p_list = NULL;
	p->p_count = 0;
}

static int
pattern_fail(char *err, size_t errlen, const char *msg, const char *s,
    size_t len)
{
	/* A line with '=', '$' or a blank is no domain: most likely a file
	 * named by mistake (KEY=VALUE, a crypt hash, "NAME secret"), so its
	 * text is not repeated. */
	const char *why = memchr(s, '=', len) != NULL ? "'='" :
	    memchr(s, '$', len) != NULL ? "'$'" :
	    memchr(s, ' ', len) != NULL || memchr(s, '\t', len) != NULL ?
	    "a blank" : NULL;

	if (errlen > 0 && why != NULL)
		snprintf(err, errlen, "invalid pattern (not shown: it holds %s, "
		    "so it is no domain name; is this the right file or "
		    "argument?)", why);
	else if (errlen > 0)
		snprintf(err, errlen, "invalid pattern '%.*s': %s",
		    (int)(len > 200 ? 200 : len), s, msg);
	return -1;
}

/* Refuse what people write by mistake for a domain: non-ASCII, blanks and
 * control characters, a URL, a path, a port, a lone '*'. Returns 0, or -1
 * with a message saying what to write instead. */
static int
pattern_check_text(const char *s, size_t len, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			return pattern_fail(err, errlen,
			    "non-ASCII: write the punycode (xn--) form", s, len);
		if (c <= ' ' || c == 0x7f)
			return pattern_fail(err, errlen,
			    "contains a space or control character", s, len);
	}
	if (len >= 3 && memmem(s, len, "://", 3) != NULL)
		return pattern_fail(err, errlen,
		    "a pattern is a domain, not a URL: drop the scheme", s, len);
	if (memchr(s, '/', len) != NULL)
		return pattern_fail(err, errlen,
		    "a pattern is a domain: drop the path", s, len);
	if (memchr(s, ':', len) != NULL)
		return pattern_fail(err, errlen,
		    "a pattern is a domain: ports go in connect_ports", s, len);
	if (len == 1 && s[0] == '*')
		return pattern_fail(err, errlen,
		    "'*' would allow every host", s, len);
	return 0;
}

/* The flags a pattern's leading "*." or "." stands for; *name and *nlen
 * are moved past it. */
static unsigned
pattern_flags(const char **name, size_t *nlen)
{
	const char *s = *name;
	size_t len = *nlen;

	if (len > 2 && s[0] == '*' && s[1] == '.') {
		*name += 2;
		*nlen -= 2;
		return PATTERN_SUBS;
	}
	if (len > 1 && s[0] == '.') {
		*name += 1;
		*nlen -= 1;
		return PATTERN_SELF | PATTERN_SUBS;
	}
	return PATTERN_SELF;
}

int
patterns_add(struct patterns *p, const char *s, size_t len, char *err,
    size_t errlen)
{
	const char *name = s;
	size_t nlen = len;
	unsigned flags;
	struct host h;
	char herr[128];
	uintptr_t *v;
	bool created;
	char **list;

	if (pattern_check_text(s, len, err, errlen) == -1)
		return -1;
	flags = pattern_flags(&name, &nlen);
	if (memchr(name, '*', nlen) != NULL)
		return pattern_fail(err, errlen,
		    "'*' is only allowed as a leading '*.'", s, len);
	if (host_canon(name, nlen, &h, herr, sizeof(herr)) == -1)
		return pattern_fail(err, errlen, herr, s, len);
	if (h.h_kind != HOST_NAME)
		return pattern_fail(err, errlen,
		    "IP addresses go in allow_cidr", s, len);
	if ((flags & PATTERN_SUBS) && strchr(h.h_name, '.') == NULL)
		return pattern_fail(err, errlen,
		    "a wildcard over a whole top-level domain", s, len);

	list = realloc(p->p_list, (p->p_count + 1) * sizeof(*list));
	if (list == NULL)
		return pattern_fail(err, errlen, "out of memory", s, len);
	p->p_list = list;
	if ((list[p->p_count] = strndup(s, len)) == NULL)
		return pattern_fail(err, errlen, "out of memory", s, len);
	v = strmap_put(&p->p_map, h.h_name, strlen(h.h_name), &created);
	if (v == NULL) {
		free(list[p->p_count]);
		return pattern_fail(err, errlen, "out of memory", s, len);
	}
	p->p_count++;
	*v |= flags;
	return 0;
}

const char *
patterns_which(const struct patterns *p, const char *host, char *buf,
    size_t buflen)
{
	const uintptr_t *v;
	size_t len = strlen(host);
	const char *dot;

	if ((v = strmap_get(&p->p_map, host, len)) != NULL &&
	    (*v & PATTERN_SELF)) {
		if (buf != NULL)
			snprintf(buf, buflen, "%s%s", (*v & PATTERN_SUBS) ? "." :
			    "", host);
		return buf != NULL ? buf : host;
	}
	/* Parent domains: "a.b.example.com" probes "b.example.com",
	 * "example.com" and "com" for a subdomain rule. */
	for (dot = memchr(host, '.', len); dot != NULL;
	    dot = memchr(dot + 1, '.', len - (size_t)(dot + 1 - host))) {
		const char *parent = dot + 1;

		v = strmap_get(&p->p_map, parent, len - (size_t)(parent - host));
		if (v != NULL && (*v & PATTERN_SUBS)) {
			/* ".x" also matches x itself; "*.x" does not. */
			if (buf != NULL)
				snprintf(buf, buflen, "%s%s", (*v & PATTERN_SELF) ?
				    "." : "*.", parent);
			return buf != NULL ? buf : parent;
		}
	}
	return NULL;
}

bool
patterns_match(const struct patterns *p, const char *host)
{
	return patterns_which(p, host, NULL, 0) != NULL;
}
