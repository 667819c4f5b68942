/* SPDX-License-Identifier: MIT */
/* Request targets for the access log; see redact.h. Written by hand: what
 * counts as "may be userinfo" is our policy for a log, not a URL grammar
 * any library implements. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"

/* The byte for the log: printable ASCII as it is, anything else '?'. */
static char
redact_byte(char c)
{
	return ((unsigned char)c <= ' ' || (unsigned char)c >= 0x7f) ? '?' : c;
}

static void
redact_copy(char *r, size_t *o, const char *p, const char *q)
{
	while (p < q)
		r[(*o)++] = redact_byte(*p++);
}

/* The path [p, q): what follows an '=' (";jsessionid=...", an encoded
 * "%3Fkey=...") up to the next '/' or ';' becomes one '*'. */
static void
redact_path(char *r, size_t *o, const char *p, const char *q)
{
	while (p < q) {
		if (*p != '=') {
			r[(*o)++] = redact_byte(*p++);
			continue;
		}
		r[(*o)++] = *p++;
		if (p < q && *p != '/' && *p != ';')
			r[(*o)++] = '*';
		while (p < q && *p != '/' && *p != ';')
			p++;
	}
}

/* The query [p, q): each parameter's value becomes one '*' (its name
 * stays), and a parameter without '=' (a bare key, "key%3Dvalue") becomes
 * '*' whole. */
static void
redact_query(char *r, size_t *o, const char *p, const char *q)
{
	while (p < q) {
		const char *e = p, *eq;

		while (e < q && *e != '&' && *e != ';')
			e++;
		if ((eq = memchr(p, '=', (size_t)(e - p))) != NULL) {
			redact_copy(r, o, p, eq + 1);
			if (eq + 1 < e)
				r[(*o)++] = '*';
		} else if (e > p)
			r[(*o)++] = '*';
		if (e < q)
			r[(*o)++] = *e++;
		p = e;
	}
}

char *
redact_target(const char *s, size_t len, bool strict)
{
	const char *auth = s, *end = s + len, *lim, *p, *at = NULL;
	const char *path, *query, *frag;
	size_t o = 0;
	char *r;

	lim = s + (len > REDACT_MAX ? REDACT_MAX : len);
	if ((r = malloc((size_t)(lim - s) + 1)) == NULL)
		return NULL;
	for (p = s; p + 2 < end; p++)
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			auth = p + 3;
			break;
		}
	/* The '@' is searched in the whole target, kept part or not. */
	for (p = auth; p < end && (strict ||
	    (*p != '/' && *p != '?' && *p != '#')); p++)
		if (*p == '@')
			at = p;
	/* After the authority: the path, the query, the fragment, each cut
	 * at REDACT_MAX. */
	for (path = at != NULL ? at + 1 : auth; path < lim && *path != '/' &&
	    *path != '?' && *path != '#'; path++)
		continue;
	for (query = path; query < lim && *query != '?' && *query != '#';
	    query++)
		continue;
	for (frag = query; frag < lim && *frag != '#'; frag++)
		continue;
	if (at != NULL && at < path) {
		redact_copy(r, &o, s, auth < lim ? auth : lim);
		redact_copy(r, &o, at + 1, path);
	} else
		redact_copy(r, &o, s, path);
	redact_path(r, &o, path, query);
	if (query < frag) {
		r[o++] = '?';
		redact_query(r, &o, query + 1, frag);
	}
	if (frag < lim) {
		/* Clients never send one; whatever it holds stays out. */
		r[o++] = '#';
		if (frag + 1 < lim)
			r[o++] = '*';
	}
	r[o] = '\0';
	return r;
}
