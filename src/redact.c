/* SPDX-License-Identifier: MIT */
/* Request targets for the access log; see redact.h. Written by hand: what
 * counts as "may be userinfo" is our policy for a log, not a URL grammar
 * any library implements. */
#include <stdlib.h>

#include "redact.h"

/* The byte for the log: printable ASCII as it is, anything else '?'. */
static char
redact_byte(char c)
{
	return ((unsigned char)c <= ' ' || (unsigned char)c >= 0x7f) ? '?' : c;
}

char *
redact_target(const char *s, size_t len, bool strict)
{
	const char *auth = s, *end, *p, *at = NULL, *query = NULL;
	bool value = false, masked = false;
	size_t i, o = 0;
	char *r;

	end = s + len;		/* userinfo is searched for beyond the cut */
	if (len > REDACT_MAX)
		len = REDACT_MAX;
	if ((r = malloc(len + 1)) == NULL)
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
	for (p = at != NULL ? at + 1 : auth; p < end && query == NULL; p++)
		if (*p == '?')
			query = p;
	for (i = 0; i < len; i++) {
		const char *c = s + i;

		if (at != NULL && c >= auth && c <= at)
			continue;
		/* Query values are often keys (?key=, ?token=, signed URLs'
		 * signatures): each becomes one '*', its name stays. */
		if (query != NULL && c > query) {
			if (*c == '#')
				query = NULL;
			if (*c == '&' || *c == ';' || *c == '#')
				value = false;
			else if (value) {
				if (!masked)
					r[o++] = '*';
				masked = true;
				continue;
			} else if (*c == '=') {
				value = true;
				masked = false;
			}
		}
		r[o++] = redact_byte(*c);
	}
	r[o] = '\0';
	return r;
}
