/* SPDX-License-Identifier: MIT */
/* One request as the client sent it: its bytes (head, then body and whatever
 * follows), the parsed head, and what it asks for. request_classify decides
 * what kind of request a complete head is, without I/O, so the rules for
 * which targets a proxy serves are table-tested and fuzzed on their own. */
#ifndef SLUICE_REQUEST_H
#define SLUICE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "host.h"
#include "http.h"
#include "url.h"

struct request {
	char			*rq_buf;	/* client bytes: head, then body */
	size_t			 rq_len, rq_cap;
	char			*rq_inline;	/* the owner's buffer used first
						 * (NULL: none); a longer head
						 * moves to the heap */
	size_t			 rq_inline_cap;
	struct http_head	 rq_head;
	bool			 rq_http;	/* plain HTTP, not CONNECT */
	struct host		 rq_host;	/* the destination */
	struct url		 rq_url;	/* plain HTTP: the target URL */
	char			 rq_hostport[HOST_NAME_MAX_LEN + 16];
	char			 rq_bad[160];	/* why the target is invalid */
};

enum request_class {
	REQUEST_OK = 0,		/* rq_host and rq_hostport are set (and rq_url
				 * for plain HTTP) */
	REQUEST_BAD_TARGET,	/* a proxy request whose target is invalid:
				 * rq_bad says why. Answered only after
				 * authentication, like every policy answer. */
	REQUEST_REFUSE,		/* not a request this proxy serves: answer
				 * 400 at once with `why` */
};

/* Start a request on `rq`, keeping the bytes already buffered (a pipelined
 * next request). */
void request_reset(struct request *rq);

/* Wipe the buffer (it may hold credentials) and free it. */
void request_free(struct request *rq);

/* Make room to read at least `chunk` more bytes while the head is incomplete,
 * never beyond HTTP_MAX_HEAD + `chunk` in all. Returns 0, -1 when the head is
 * too large, or -2 when out of memory. */
int request_reserve(struct request *rq, size_t chunk);

/* The head in rq_buf is complete (http_head_feed said so): decide what the
 * request asks for. For REQUEST_REFUSE, *why is a static message. */
enum request_class request_classify(struct request *rq, const char **why);

/* The request's target in the form the access log shows: host:port for a
 * valid CONNECT, the redacted URL otherwise. Returns a new string, or NULL
 * when out of memory. */
char *request_log_target(const struct request *rq, enum request_class cls);

#endif
