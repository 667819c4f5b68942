/* SPDX-License-Identifier: MIT */
/* Absolute-form request targets ("http://host[:port]/path?query"), the form
 * clients use for plain HTTP through a proxy. No I/O. */
#ifndef SLUICE_URL_H
#define SLUICE_URL_H

#include <stddef.h>

#include "host.h"

enum url_scheme {
	URL_HTTP = 0,
	URL_HTTPS = 1,
};

struct url {
	enum url_scheme	 u_scheme;
	struct host	 u_host;	/* canonical; h_port defaulted */
	/* Path and query as written, pointing into the input. Empty, or
	 * starting with '?', when the URL has no path: the origin-form is then
	 * "/" followed by it. */
	const char	*u_path;
	size_t		 u_pathlen;
};

/* Parse an absolute-form target of `len` bytes. The scheme is
 * case-insensitive; userinfo ("user@host") and fragments are refused; an
 * empty path becomes "/". Returns 0, or -1 with a sentence in `err`.
 * u_path points into `s`. */
int url_parse(const char *s, size_t len, struct url *u, char *err,
    size_t errlen);

#endif
