/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request heads, parsed incrementally with llhttp in strict mode.
 * The parser records offsets into the caller's buffer, so the buffer may grow
 * (and move) between feeds. No I/O: unit tests and fuzzers feed it bytes. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

#define HTTP_MAX_HEAD		(64 * 1024)
#define HTTP_MAX_HEADERS	128

enum http_head_status {
	HTTP_HEAD_MORE = 0,	/* need more bytes */
	HTTP_HEAD_DONE = 1,	/* head complete; hh_len bytes belong to it */
	HTTP_HEAD_TOO_LARGE = 2,	/* over HTTP_MAX_HEAD or too many headers */
	HTTP_HEAD_ERROR = 3,	/* malformed; hh_error says why */
};

struct http_span {
	uint32_t	off;
	uint32_t	len;
};

struct http_field {
	struct http_span	name;
	struct http_span	value;
};

struct http_head {
	llhttp_t		 hh_parser;
	uint8_t			 hh_method;	/* llhttp_method_t */
	uint8_t			 hh_major, hh_minor;
	bool			 hh_done;
	bool			 hh_in_value;	/* last callback was a value */
	bool			 hh_too_many;
	struct http_span	 hh_url;
	struct http_field	 hh_fields[HTTP_MAX_HEADERS];
	unsigned		 hh_nfields;
	uint32_t		 hh_len;	/* head length when done */
	uint32_t		 hh_fed;	/* bytes fed so far */
	const char		*hh_base;	/* buffer of the current feed */
	const char		*hh_error;	/* static reason when ERROR */
};

/* Prepare `h` to parse one request head. */
void http_head_init(struct http_head *h);

/* Feed the buffer holding the request so far: `buf` has `len` bytes, the
 * first h->hh_fed of which were fed before. Returns an http_head_status.
 * After DONE, bytes from hh_len on are not part of the head (a CONNECT
 * client may already have sent tunnel data). */
enum http_head_status http_head_feed(struct http_head *h, const char *buf,
    size_t len);

/* Value of the first header named `name` (case-insensitive), or NULL.
 * Returns a pointer into `buf` and sets *vlen. */
const char *http_head_get(const struct http_head *h, const char *buf,
    const char *name, size_t *vlen);

/* The method name ("CONNECT", "GET", ...). */
const char *http_head_method(const struct http_head *h);

#endif
