/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 messages, parsed incrementally with llhttp in strict mode: the
 * head into offsets of the caller's buffer (which may grow and move between
 * feeds), then the body only for its framing, so that a proxy can forward the
 * bytes verbatim and know exactly where the message ends. No I/O: unit tests
 * and fuzzers feed it bytes. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

#define HTTP_MAX_HEAD		(64 * 1024)
#define HTTP_MAX_HEADERS	128
#define HTTP_MAX_LINE		(16 * 1024)

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

enum http_body_status {
	HTTP_BODY_MORE = 0,	/* all bytes belong to the message; need more */
	HTTP_BODY_DONE = 1,	/* the message ended; *used bytes were its own */
	HTTP_BODY_ERROR = 2,	/* bad framing; hh_error says why */
};

struct http_head {
	llhttp_t		 hh_parser;
	uint8_t			 hh_method;	/* llhttp_method_t (requests) */
	uint8_t			 hh_major, hh_minor;
	bool			 hh_done;	/* head complete */
	bool			 hh_complete;	/* whole message complete */
	bool			 hh_in_value;	/* last callback was a value */
	bool			 hh_too_many;
	bool			 hh_fold;	/* obs-fold seen */
	bool			 hh_no_body;	/* response to HEAD: no body */
	bool			 hh_body_fed;	/* http_body_feed saw bytes */
	int			 hh_status;	/* responses */
	struct http_span	 hh_url;	/* requests */
	struct http_span	 hh_reason;	/* responses */
	struct http_field	 hh_fields[HTTP_MAX_HEADERS];
	unsigned		 hh_nfields;
	uint32_t		 hh_len;	/* head length when done */
	uint32_t		 hh_fed;	/* bytes fed so far */
	const char		*hh_base;	/* buffer of the current feed */
	const char		*hh_error;	/* static reason when ERROR */
};

/* Prepare `h` to parse one request. */
void http_head_init(struct http_head *h);

/* Prepare `h` to parse one response; `to_head` says the request was HEAD
 * (so the response has no body whatever its headers say). */
void http_head_init_response(struct http_head *h, bool to_head);

/* Feed the buffer holding the request so far: `buf` has `len` bytes, the
 * first h->hh_fed of which were fed before. Returns an http_head_status.
 * After DONE, bytes from hh_len on are not part of the head (a CONNECT
 * client may already have sent tunnel data). */
enum http_head_status http_head_feed(struct http_head *h, const char *buf,
    size_t len);

/* The checks llhttp leaves to us, run on a complete head in `buf`: control
 * bytes (bare CR, NUL, obs-fold remains) in values, lines over HTTP_MAX_LINE,
 * several or differing Content-Length fields, Content-Length together with
 * Transfer-Encoding, and any Transfer-Encoding but a single list ending in
 * "chunked". Returns 0, or -1 with a static reason in *why. */
int http_head_check(const struct http_head *h, const char *buf,
    const char **why);

/* After HTTP_HEAD_DONE: feed `len` body bytes (those after the head first).
 * Sets *used to how many belong to this message: all of them with
 * HTTP_BODY_MORE, a prefix with HTTP_BODY_DONE (the rest is the next
 * message). Returns an http_body_status. */
enum http_body_status http_body_feed(struct http_head *h, const char *data,
    size_t len, size_t *used);

/* The peer closed: returns HTTP_BODY_DONE when the message is delimited by
 * the close (or already complete), HTTP_BODY_ERROR when it was cut short. */
enum http_body_status http_body_eof(struct http_head *h);

/* True when the message has no body to read after its head (complete
 * already: a bodiless request, HEAD/204/304/1xx response). */
bool http_head_bodyless(const struct http_head *h);

/* True when the connection may carry another message after this one. */
bool http_head_keepalive(const struct http_head *h);

/* True when the message asks to switch protocols (Connection: upgrade +
 * Upgrade) — for a 101 response, the switch happened. */
bool http_head_upgrade(const struct http_head *h);

/* True when the message body ends only when the connection closes. */
bool http_head_needs_eof(const struct http_head *h);

/* How many header fields are named `name` (case-insensitive). */
unsigned http_head_count(const struct http_head *h, const char *buf,
    const char *name);

/* Value of the first header named `name` (case-insensitive), or NULL.
 * Returns a pointer into `buf` and sets *vlen. */
const char *http_head_get(const struct http_head *h, const char *buf,
    const char *name, size_t *vlen);

/* The method name ("CONNECT", "GET", ...). */
const char *http_head_method(const struct http_head *h);

#endif
