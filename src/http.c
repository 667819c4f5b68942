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

/* Extend a span. llhttp reports a value in several pieces only when it
 * crosses feeds (then the pieces are adjacent in our buffer) or when it is
 * folded (obs-fold, which llhttp 8 accepts even when strict): a piece that
 * does not continue the span is a fold, refused here. */
static int
http_span_add(struct http_span *s, struct http_head *h, const char *at,
    size_t len)
{
	uint32_t off = (uint32_t)(at - h->hh_base);

	if (s->len == 0)
		s->off = off;
	else if (off != s->off + s->len) {
		h->hh_fold = true;
		return -1;
	}
	s->len += (uint32_t)len;
	return 0;
}

static int
http_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	return http_span_add(&h->hh_url, h, at, len);
}

static int
http_on_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	if (h->hh_done)
		return 0;	/* trailer fields: framing only, not recorded */
	if (h->hh_in_value || h->hh_nfields == 0) {
		if (h->hh_nfields == HTTP_MAX_HEADERS) {
			h->hh_too_many = true;
			return -1;
		}
		h->hh_nfields++;
		h->hh_in_value = false;
	}
	return http_span_add(&h->hh_fields[h->hh_nfields - 1].name, h, at, len);
}

static int
http_on_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);
	struct http_field *f;

	if (h->hh_done)
		return 0;
	h->hh_in_value = true;
	f = &h->hh_fields[h->hh_nfields - 1];
	/* A value starts right after "name:" and blanks; anything else is a
	 * fold whose first line was empty (http_span_add sees the others). */
	if (f->value.len == 0 && len > 0) {
		const char *k = h->hh_base + f->name.off + f->name.len;

		if (*k++ != ':') {
			h->hh_fold = true;
			return -1;
		}
		for (; k < at; k++)
			if (*k != ' ' && *k != '\t') {
				h->hh_fold = true;
				return -1;
			}
	}
	return http_span_add(&h->hh_fields[h->hh_nfields - 1].value, h, at,
	    len);
}

static int
http_on_status(llhttp_t *p, const char *at, size_t len)
{
	struct http_head *h = http_self(p);

	return http_span_add(&h->hh_reason, h, at, len);
}

static int
http_on_headers_complete(llhttp_t *p)
{
	struct http_head *h = http_self(p);

	h->hh_done = true;
	h->hh_method = (uint8_t)p->method;
	h->hh_major = p->http_major;
	h->hh_minor = p->http_minor;
	h->hh_status = p->status_code;
	/* What returning 1 would do; we return "pause" instead. Responses
	 * to HEAD, 1xx, 204 and 304 have no body whatever they announce. */
	if (h->hh_no_body || (p->type == HTTP_RESPONSE &&
	    (p->status_code / 100 == 1 || p->status_code == 204 ||
	    p->status_code == 304)))
		p->flags |= F_SKIPBODY;
	/* Stop here: the body (or tunnel data) is the caller's business. */
	return HPE_PAUSED;
}

static int
http_on_message_complete(llhttp_t *p)
{
	struct http_head *h = http_self(p);

	h->hh_complete = true;
	/* Stop at the end of this message: what follows is the next one. */
	return HPE_PAUSED;
}

static const llhttp_settings_t http_settings = {
	.on_url = http_on_url,
	.on_status = http_on_status,
	.on_header_field = http_on_field,
	.on_header_value = http_on_value,
	.on_headers_complete = http_on_headers_complete,
	.on_message_complete = http_on_message_complete,
};

void
http_head_init(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	llhttp_init(&h->hh_parser, HTTP_REQUEST, &http_settings);
	h->hh_parser.data = h;
}

void
http_head_init_response(struct http_head *h, bool to_head)
{
	memset(h, 0, sizeof(*h));
	llhttp_init(&h->hh_parser, HTTP_RESPONSE, &http_settings);
	h->hh_parser.data = h;
	h->hh_no_body = to_head;
}

enum http_body_status
http_body_feed(struct http_head *h, const char *data, size_t len, size_t *used)
{
	llhttp_errno_t e;

	*used = 0;
	if (h->hh_complete)
		return HTTP_BODY_DONE;
	if (len == 0)
		return HTTP_BODY_MORE;
	h->hh_body_fed = true;
	if (llhttp_get_errno(&h->hh_parser) == HPE_PAUSED)
		llhttp_resume(&h->hh_parser);
	e = llhttp_execute(&h->hh_parser, data, len);
	if (h->hh_complete) {
		*used = (e == HPE_OK) ? len :
		    (size_t)(llhttp_get_error_pos(&h->hh_parser) - data);
		return HTTP_BODY_DONE;
	}
	if (e != HPE_OK) {
		h->hh_error = llhttp_get_error_reason(&h->hh_parser);
		if (h->hh_error == NULL)
			h->hh_error = llhttp_errno_name(e);
		return HTTP_BODY_ERROR;
	}
	*used = len;
	return HTTP_BODY_MORE;
}

enum http_body_status
http_body_eof(struct http_head *h)
{
	if (h->hh_complete || http_head_bodyless(h))
		return HTTP_BODY_DONE;
	/* Still paused after the head: llhttp has not yet set up how the
	 * message ends, but its flags already say whether a close does. */
	if (!h->hh_body_fed) {
		if (http_head_needs_eof(h))
			return HTTP_BODY_DONE;
		h->hh_error = "the message was cut short";
		return HTTP_BODY_ERROR;
	}
	if (llhttp_get_errno(&h->hh_parser) == HPE_PAUSED)
		llhttp_resume(&h->hh_parser);
	/* on_message_complete pauses, so success may read as HPE_PAUSED. */
	(void)llhttp_finish(&h->hh_parser);
	if (h->hh_complete)
		return HTTP_BODY_DONE;
	h->hh_error = "the message was cut short";
	return HTTP_BODY_ERROR;
}

bool
http_head_bodyless(const struct http_head *h)
{
	const llhttp_t *p = &h->hh_parser;

	if (h->hh_no_body)
		return true;
	if (p->type == HTTP_RESPONSE && (h->hh_status / 100 == 1 ||
	    h->hh_status == 204 || h->hh_status == 304))
		return true;
	if (p->flags & F_CHUNKED)
		return false;
	if (p->flags & F_CONTENT_LENGTH)
		return p->content_length == 0;
	/* Without framing a request has no body, a response runs to EOF. */
	return p->type == HTTP_REQUEST;
}

bool
http_head_keepalive(const struct http_head *h)
{
	return llhttp_should_keep_alive(&h->hh_parser) != 0;
}

bool
http_head_upgrade(const struct http_head *h)
{
	return h->hh_parser.upgrade != 0;
}

bool
http_head_needs_eof(const struct http_head *h)
{
	return llhttp_message_needs_eof(&h->hh_parser) != 0;
}

/* Case-insensitive comparison of a span with a NUL-terminated name. */
static bool
http_span_is(const char *buf, const struct http_span *s, const char *name)
{
	size_t n = strlen(name);

	return s->len == n && strncasecmp(buf + s->off, name, n) == 0;
}

/* Is the comma-separated list `v` (`len` bytes) one whose last element is
 * "chunked", with "chunked" nowhere else and no empty elements? */
static bool
http_te_ok(const char *v, size_t len)
{
	size_t i = 0;
	bool last_chunked = false;

	while (i <= len) {
		size_t start, end;

		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end == start || last_chunked)
			return false;
		last_chunked = end - start == 7 &&
		    strncasecmp(v + start, "chunked", 7) == 0;
		i++;
	}
	return last_chunked;
}

int
http_head_check(const struct http_head *h, const char *buf, const char **why)
{
	const struct http_span *cl = NULL, *te = NULL;
	unsigned i;

	if (h->hh_url.len > HTTP_MAX_LINE) {
		*why = "request target too long";
		return -1;
	}
	if (h->hh_parser.type == HTTP_RESPONSE &&
	    (h->hh_status < 100 || h->hh_status > 999)) {
		*why = "a status line without a three-digit code";
		return -1;
	}
	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];
		uint32_t j;

		if (f->name.len == 0) {
			*why = "empty header field name";
			return -1;
		}

		if (f->name.len + f->value.len > HTTP_MAX_LINE) {
			*why = "header line too long";
			return -1;
		}
		for (j = 0; j < f->value.len; j++) {
			unsigned char c = (unsigned char)buf[f->value.off + j];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "control character in a header value";
				return -1;
			}
		}
		if (http_span_is(buf, &f->name, "Content-Length")) {
			if (cl != NULL && (cl->len != f->value.len ||
			    memcmp(buf + cl->off, buf + f->value.off,
			    cl->len) != 0)) {
				*why = "differing Content-Length headers";
				return -1;
			}
			cl = &f->value;
		} else if (http_span_is(buf, &f->name, "Transfer-Encoding")) {
			if (te != NULL) {
				*why = "several Transfer-Encoding headers";
				return -1;
			}
			te = &f->value;
		}
	}
	if (cl != NULL && te != NULL) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (te != NULL && !http_te_ok(buf + te->off, te->len)) {
		*why = "Transfer-Encoding other than a final chunked";
		return -1;
	}
	return 0;
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
		if (h->hh_fold) {
			h->hh_error = "obs-fold (a folded header line)";
			return HTTP_HEAD_ERROR;
		}
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

unsigned
http_head_count(const struct http_head *h, const char *buf, const char *name)
{
	size_t nlen = strlen(name);
	unsigned i, n = 0;

	for (i = 0; i < h->hh_nfields; i++)
		if (h->hh_fields[i].name.len == nlen &&
		    strncasecmp(buf + h->hh_fields[i].name.off, name, nlen) == 0)
			n++;
	return n;
}

const char *
http_head_method(const struct http_head *h)
{
	return llhttp_method_name((llhttp_method_t)h->hh_method);
}
