/* SPDX-License-Identifier: MIT */
/* Request-head parsing on top of llhttp (strict mode), plus the checks that
 * llhttp leaves to its user: limits on size and number of fields. */
#include <string.h>
#include <strings.h>

#include "http.h"

static struct http_head *
http_self(llhttp_t *p)
{
	return p->data;
}

static void
http_span_add(struct http_span *s, const struct http_head *h, const char *at,
    size_t len)
{
	if (s->len == 0)
		s->off = (uint32_t)(at - h->hh_base);
	s->len += (uint32_t)len;
}

static int
http_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	http_span_add(&h->hh_url, h, at, len);
	return 0;
}

static int
http_on_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	if (h->hh_in_value || h->hh_nfields == 0) {
		if (h->hh_nfields == HTTP_MAX_HEADERS) {
			h->hh_too_many = true;
			return -1;
		}
		h->hh_nfields++;
		h->hh_in_value = false;
	}
	http_span_add(&h->hh_fields[h->hh_nfields - 1].name, h, at, len);
	return 0;
}

static int
http_on_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	h->hh_in_value = true;
	http_span_add(&h->hh_fields[h->hh_nfields - 1].value, h, at, len);
	return 0;
}

static int
http_on_headers_complete(llhttp_t *p)
{
	struct http_head *h = http_self(p);

	h->hh_done = true;
	h->hh_method = (uint8_t)p->method;
	h->hh_major = p->http_major;
	h->hh_minor = p->http_minor;
	/* Stop here: the body (or tunnel data) is the caller's business. */
	return HPE_PAUSED;
}

static const llhttp_settings_t http_settings = {
	.on_url = http_on_url,
	.on_header_field = http_on_field,
	.on_header_value = http_on_value,
	.on_headers_complete = http_on_headers_complete,
};

void
http_head_init(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	llhttp_init(&h->hh_parser, HTTP_REQUEST, &http_settings);
	h->hh_parser.data = h;
}

enum http_head_status
http_head_feed(struct http_head *h, const char *buf, size_t len)
{
	size_t n = len > HTTP_MAX_HEAD ? HTTP_MAX_HEAD : len;
	llhttp_errno_t e;

	if (h->hh_done)
		return HTTP_HEAD_DONE;
	if (n <= h->hh_fed)
		return len > HTTP_MAX_HEAD ? HTTP_HEAD_TOO_LARGE : HTTP_HEAD_MORE;
	h->hh_base = buf;
	e = llhttp_execute(&h->hh_parser, buf + h->hh_fed, n - h->hh_fed);
	if (e == HPE_PAUSED && h->hh_done) {
		h->hh_len = (uint32_t)(llhttp_get_error_pos(&h->hh_parser) - buf);
		h->hh_fed = h->hh_len;
		return HTTP_HEAD_DONE;
	}
	if (e != HPE_OK) {
		if (h->hh_too_many)
			return HTTP_HEAD_TOO_LARGE;
		h->hh_error = llhttp_get_error_reason(&h->hh_parser);
		if (h->hh_error == NULL)
			h->hh_error = llhttp_errno_name(e);
		return HTTP_HEAD_ERROR;
	}
	h->hh_fed = (uint32_t)n;
	return len >= HTTP_MAX_HEAD ? HTTP_HEAD_TOO_LARGE : HTTP_HEAD_MORE;
}

const char *
http_head_get(const struct http_head *h, const char *buf, const char *name,
    size_t *vlen)
{
	size_t nlen = strlen(name);
	unsigned i;

	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];

		if (f->name.len == nlen &&
		    strncasecmp(buf + f->name.off, name, nlen) == 0) {
			*vlen = f->value.len;
			return buf + f->value.off;
		}
	}
	return NULL;
}

const char *
http_head_method(const struct http_head *h)
{
	return llhttp_method_name((llhttp_method_t)h->hh_method);
}
