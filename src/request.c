/* SPDX-License-Identifier: MIT */
/* One request's bytes and what it asks for; see request.h. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "request.h"

void
request_reset(struct request *rq)
{
	http_head_init(&rq->rq_head);
	rq->rq_http = false;
	rq->rq_bad[0] = rq->rq_hostport[0] = '\0';
}

void
request_free(struct request *rq)
{
	if (rq->rq_buf != NULL)
		explicit_bzero(rq->rq_buf, rq->rq_len);	/* credentials */
	if (rq->rq_buf != rq->rq_inline)
		free(rq->rq_buf);
	rq->rq_buf = NULL;
	rq->rq_len = rq->rq_cap = 0;
}

int
request_reserve(struct request *rq, size_t chunk)
{
	size_t cap;
	char *b;

	if (rq->rq_cap - rq->rq_len >= chunk)
		return 0;
	cap = rq->rq_cap ? rq->rq_cap * 2 : chunk;
	if (cap > HTTP_MAX_HEAD + chunk)
		cap = HTTP_MAX_HEAD + chunk;
	if (cap <= rq->rq_len)
		return -1;
	if (rq->rq_buf == NULL && rq->rq_inline != NULL &&
	    cap <= rq->rq_inline_cap) {
		rq->rq_buf = rq->rq_inline;
		rq->rq_cap = rq->rq_inline_cap;
		return 0;
	}
	if (rq->rq_buf != NULL && rq->rq_buf == rq->rq_inline) {
		/* Outgrew the owner's buffer: to the heap, wiped behind. */
		if ((b = malloc(cap)) == NULL)
			return -2;
		memcpy(b, rq->rq_buf, rq->rq_len);
		explicit_bzero(rq->rq_inline, rq->rq_len);
	} else if ((b = realloc(rq->rq_buf, cap)) == NULL)
		return -2;
	rq->rq_buf = b;
	rq->rq_cap = cap;
	return 0;
}

/* CONNECT host:port. An invalid authority is the request's problem, told
 * after authentication. */
static enum request_class
request_connect(struct request *rq, const char *url, size_t len)
{
	if (host_parse_authority(url, len, &rq->rq_host, rq->rq_bad,
	    sizeof(rq->rq_bad)) == -1)
		return REQUEST_BAD_TARGET;
	host_format(&rq->rq_host, rq->rq_hostport, sizeof(rq->rq_hostport));
	return REQUEST_OK;
}

/* GET http://host/path and the like. */
static enum request_class
request_absolute(struct request *rq, const char *url, size_t len,
    const char **why)
{
	const struct http_head *hh = &rq->rq_head;

	rq->rq_http = true;
	/* After an upgrade the bytes are the new protocol's; a body would
	 * leave us and the origin disagreeing on where anything ends. */
	if (http_head_upgrade(hh) && !http_head_bodyless(hh)) {
		*why = "an upgrade request cannot carry a body";
		return REQUEST_REFUSE;
	}
	if (len > 0 && (url[0] == '/' || url[0] == '*')) {
		*why = "this is a proxy: send absolute-form requests (GET "
		    "http://host/path) or CONNECT, not requests for the proxy "
		    "itself";
		return REQUEST_REFUSE;
	}
	if (url_parse(url, len, &rq->rq_url, rq->rq_bad,
	    sizeof(rq->rq_bad)) == -1)
		return REQUEST_BAD_TARGET;
	if (rq->rq_url.u_scheme == URL_HTTPS) {
		*why = "https:// URLs go through the proxy with CONNECT (set "
		    "HTTPS_PROXY, or use the client's proxy support for "
		    "HTTPS), not as plain requests";
		return REQUEST_REFUSE;
	}
	rq->rq_host = rq->rq_url.u_host;
	host_format(&rq->rq_host, rq->rq_hostport, sizeof(rq->rq_hostport));
	return REQUEST_OK;
}

enum request_class
request_classify(struct request *rq, const char **why)
{
	const struct http_head *hh = &rq->rq_head;
	const char *url = rq->rq_buf + hh->hh_url.off;

	if (hh->hh_major != 1) {
		*why = "only HTTP/1.0 and HTTP/1.1 requests are supported";
		return REQUEST_REFUSE;
	}
	if (http_head_check(hh, rq->rq_buf, why) == -1)
		return REQUEST_REFUSE;
	if (hh->hh_method == HTTP_CONNECT)
		return request_connect(rq, url, hh->hh_url.len);
	return request_absolute(rq, url, hh->hh_url.len, why);
}

char *
request_log_target(const struct request *rq, enum request_class cls)
{
	const char *url = rq->rq_buf + rq->rq_head.hh_url.off;
	size_t len = rq->rq_head.hh_url.len;

	if (cls != REQUEST_OK)
		return redact_target(url, len, true);
	if (!rq->rq_http)
		return strdup(rq->rq_hostport);
	return redact_target(url, len, false);
}
