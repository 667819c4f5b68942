/* SPDX-License-Identifier: MIT */
/* Request targets for the access log; see redact.h. Written by hand: what
 * counts as "may be userinfo" is our policy for a log, not a URL grammar
 * any library implements. */
#include <stdlib.h>

#include "redact.h"

char *
redact_target(const char *s, size_t len, bool strict)
{
	const char *auth = s, *end = s + len, *p, *at = NULL;
	size_t i, o = 0;
	char *r;

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
	for (i = 0; i < len; i++) {
		if (at != NULL && s + i >= auth && s + i <= at)
			continue;
		r[o++] = ((unsigned char)s[i] <= ' ' ||
		    (unsigned char)s[i] >= 0x7f) ? '?' : s[i];
	}
	r[o] = '\0';
	return r;
}
