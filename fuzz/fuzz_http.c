/* SPDX-License-Identifier: MIT */
/* Fuzzes http.c the way conn.c and forward.c drive it: the head arrives in
 * pieces into a buffer that grows (and moves) between feeds; each feed gets a
 * fresh, exactly-sized heap copy so ASan sees any read past the bytes fed or
 * through a stale base pointer. The bytes after the head then go through the
 * body framing (http_body_feed, http_body_eof) in pieces too. Piecewise
 * results must equal a one-shot parse of the same bytes; every span must lie
 * in the head and be the field's text; http_head_check must hold what it
 * promises.
 *
 * Input layout: byte 0 = control (bits 0-3: number of split bytes k; bit 5:
 * the response answers a HEAD request; bit 6: parse a response, not a
 * request; bit 7: expand), then k split bytes (piece sizes, cycled; 0 means
 * "feed again without new bytes"), then, if expanding, three bytes r, p, q,
 * then the payload. Expanding keeps the payload's first p bytes and last q
 * bytes and repeats what lies between them to fill r * 300 bytes, so that
 * small inputs reach HTTP_MAX_HEAD and HTTP_MAX_HEADERS. */
#include <ctype.h>

#include "fuzz.h"
#include "http.h"

struct mode {
	const uint8_t *split;
	size_t k;
	bool response;
	bool to_head;
};

struct result {
	enum http_head_status status;
	uint32_t len;
	unsigned nfields;
	struct http_span url, reason;
	struct http_field fields[HTTP_MAX_HEADERS];
	uint8_t method, major, minor;
	int code;
	int check; /* http_head_check */
	bool bodyless, keepalive, upgrade, needs_eof;
	enum http_body_status body; /* after all bytes (+ EOF) */
	size_t body_used;
};

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
check_span(const struct http_span *s, uint32_t hlen, const char *what)
{
	FUZZ_CHECK("http-span", (uint64_t)s->off + s->len <= hlen,
	    "%s span %u+%u outside head of %u bytes", what, s->off, s->len,
	    hlen);
}

/* A value span is the text of its field line: "name:" OWS value OWS EOL.
 * Folded (obs-fold) values arrive from llhttp in pieces, and a span that
 * only adds up their lengths is not their text. */
static void
check_value_text(
    const struct http_field *f, const char *buf, uint32_t hlen, unsigned i)
{
	uint32_t p = f->name.off + f->name.len, e;

	if (f->value.len == 0)
		return;
	FUZZ_CHECK("http-fold", p < hlen && buf[p] == ':',
	    "field %u: no ':' after the name", i);
	for (p++; p < f->value.off && (buf[p] == ' ' || buf[p] == '\t'); p++)
		;
	e = f->value.off + f->value.len;
	FUZZ_CHECK("http-fold", p == f->value.off,
	    "field %u: value span "
	    "does not follow 'name:' and blanks: '%s' for line '%s'",
	    i, fuzz_show(buf + f->value.off, f->value.len),
	    fuzz_show(buf + f->name.off, e - f->name.off));
	while (e < hlen && (buf[e] == ' ' || buf[e] == '\t'))
		e++;
	if (e < hlen && buf[e] == '\r')
		e++;
	FUZZ_CHECK("http-fold", e < hlen && buf[e] == '\n',
	    "field %u: value span '%s' does not end its line", i,
	    fuzz_show(buf + f->value.off, f->value.len));
}

/* Invariants of a finished head in `buf` (`len` bytes fed in total). */
static void
check_done(const struct http_head *h, const char *buf, size_t len,
    const struct mode *m)
{
	const char *v, *why = NULL;
	size_t vlen;
	unsigned i, j;
	int check;

	FUZZ_CHECK("http-len",
	    h->hh_len > 0 && h->hh_len <= len && h->hh_len <= HTTP_MAX_HEAD,
	    "hh_len %u with %zu bytes fed", h->hh_len, len);
	FUZZ_CHECK("http-len", buf[h->hh_len - 1] == '\n',
	    "head does not end with LF: %s", fuzz_show(buf, h->hh_len));
	FUZZ_CHECK("http-fields", h->hh_nfields <= HTTP_MAX_HEADERS,
	    "%u fields", h->hh_nfields);
	check_span(&h->hh_url, h->hh_len, "url");
	check_span(&h->hh_reason, h->hh_len, "reason");
	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];

		check_span(&f->name, h->hh_len, "name");
		check_span(&f->value, h->hh_len, "value");
		for (j = 0; j < f->name.len; j++)
			FUZZ_CHECK("http-name",
			    is_tchar((unsigned char)buf[f->name.off + j]),
			    "field %u name is not a token: '%s'", i,
			    fuzz_show(buf + f->name.off, f->name.len));
		check_value_text(f, buf, h->hh_len, i);
	}
	/* What http_head_check lets through has clean values: that is what
	 * rewrite.c copies upstream. */
	check = http_head_check(h, buf, &why);
	FUZZ_CHECK("http-check", check == 0 || (check == -1 && why != NULL),
	    "http_head_check returned %d", check);
	for (i = 0; check == 0 && i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];

		FUZZ_CHECK("http-name", f->name.len > 0,
		    "http_head_check passed field %u with an empty name", i);
		for (j = 0; j < f->value.len; j++) {
			unsigned char c = (unsigned char)buf[f->value.off + j];

			FUZZ_CHECK("http-check",
			    (c >= 0x20 && c != 0x7f) || c == '\t',
			    "passed a value with byte 0x%02x: '%s'", c,
			    fuzz_show(buf + f->value.off, f->value.len));
		}
	}
	/* Lookups find the first field of each name, inside the head. */
	for (i = 0; i < h->hh_nfields; i++) {
		const struct http_field *f = &h->hh_fields[i];
		char name[256];

		if (f->name.len >= sizeof(name))
			continue;
		memcpy(name, buf + f->name.off, f->name.len);
		name[f->name.len] = '\0';
		v = http_head_get(h, buf, name, &vlen);
		FUZZ_CHECK(
		    "http-get", v != NULL, "http_head_get('%s') missed", name);
		FUZZ_CHECK("http-get",
		    v >= buf && (size_t)(v - buf) + vlen <= h->hh_len,
		    "http_head_get('%s') outside the head", name);
		for (j = 0; j < i; j++)
			if (h->hh_fields[j].name.len == f->name.len &&
			    strncasecmp(buf + h->hh_fields[j].name.off, name,
			        f->name.len) == 0)
				break;
		FUZZ_CHECK("http-get",
		    v == buf + h->hh_fields[j].value.off &&
		        vlen == h->hh_fields[j].value.len,
		    "http_head_get('%s') is not the first such field", name);
	}
	v = http_head_get(h, buf, "Proxy-Authorization", &vlen);
	FUZZ_CHECK("http-get",
	    v == NULL || (size_t)(v - buf) + vlen <= h->hh_len,
	    "Proxy-Authorization");
	if (!m->response)
		FUZZ_CHECK(
		    "http-method", http_head_method(h) != NULL, "no method");
	else if (check == 0)
		FUZZ_CHECK("http-status",
		    h->hh_status >= 100 && h->hh_status <= 999,
		    "http_head_check passed status %d", h->hh_status);
}

static void
save_head(struct result *r, const struct http_head *h, enum http_head_status st,
    const char *buf)
{
	const char *why;

	memset(r, 0, sizeof(*r));
	r->status = st;
	if (st != HTTP_HEAD_DONE)
		return;
	r->len = h->hh_len;
	r->nfields = h->hh_nfields;
	r->url = h->hh_url;
	r->reason = h->hh_reason;
	memcpy(r->fields, h->hh_fields, sizeof(r->fields));
	r->method = h->hh_method;
	r->major = h->hh_major;
	r->minor = h->hh_minor;
	r->code = h->hh_status;
	r->check = http_head_check(h, buf, &why);
	r->bodyless = http_head_bodyless(h);
	r->keepalive = http_head_keepalive(h);
	r->upgrade = http_head_upgrade(h);
	r->needs_eof = http_head_needs_eof(h);
}

/* A fresh heap copy of exactly `len` bytes (malloc(0) is avoided). */
static char *
copy_of(const char *p, size_t len)
{
	char *b = malloc(len ? len : 1);

	if (b == NULL)
		abort();
	memcpy(b, p, len);
	return b;
}

static void
init(struct http_head *h, const struct mode *m)
{
	if (m->response)
		http_head_init_response(h, m->to_head);
	else
		http_head_init(h);
}

/* Feed the bytes after the head to the body framing, in pieces of the
 * sizes in `split` (all at once when k is 0), each piece in its own
 * exactly-sized copy, as forward.c hands over what it received. */
static void
body(struct http_head *h, const char *data, size_t len, const uint8_t *split,
    size_t k, struct result *r, const char *headbuf, const struct mode *m)
{
	enum http_body_status st = HTTP_BODY_MORE;
	size_t off = 0, i = 0, used;
	bool bodyless = http_head_bodyless(h), at_eof = false;
	const char *why;

	/* Only heads the product goes on with: http_head_check passed, and
	 * for requests HTTP/1.x (conn.c refuses the rest). */
	if (http_head_check(h, headbuf, &why) == 0 &&
	    (m->response || h->hh_major == 1) && bodyless && len > 0) {
		char *b = copy_of(data, len);

		st = http_body_feed(h, b, len, &used);
		FUZZ_CHECK("http-bodyless", st == HTTP_BODY_DONE && used == 0,
		    "bodyless message: http_body_feed gave %d, used %zu", st,
		    used);
		free(b);
	}
	while (st == HTTP_BODY_MORE && off < len) {
		size_t piece = k ? split[i++ % k] : len;
		char *b;

		if (piece == 0)
			piece = 1;
		if (piece > len - off)
			piece = len - off;
		b = copy_of(data + off, piece);
		used = (size_t)-1;
		st = http_body_feed(h, b, piece, &used);
		FUZZ_CHECK(
		    "http-body", used <= piece, "used %zu of %zu", used, piece);
		if (st == HTTP_BODY_MORE)
			FUZZ_CHECK("http-body", used == piece,
			    "MORE but used %zu of %zu", used, piece);
		if (st != HTTP_BODY_ERROR)
			off += used;
		free(b);
	}
	if (st == HTTP_BODY_MORE) {
		st = http_body_eof(h);
		at_eof = true;
	}
	if (st == HTTP_BODY_DONE && !at_eof) {
		/* DONE from the bytes is final (after EOF nothing follows). */
		char *b = copy_of("x", 1);

		FUZZ_CHECK("http-body",
		    http_body_feed(h, b, 1, &used) == HTTP_BODY_DONE &&
		        used == 0,
		    "DONE not sticky");
		FUZZ_CHECK("http-body", http_body_eof(h) == HTTP_BODY_DONE,
		    "DONE not sticky at EOF");
		free(b);
	}
	if (st == HTTP_BODY_ERROR)
		FUZZ_CHECK("http-body-reason", h->hh_error != NULL,
		    "HTTP_BODY_ERROR%s without hh_error",
		    at_eof ? " at EOF" : "");
	r->body = st;
	r->body_used = st == HTTP_BODY_ERROR ? 0 : off;
}

static void
one_shot(const char *data, size_t len, const struct mode *m, struct result *r)
{
	static struct http_head h;
	enum http_head_status st;
	char *b = copy_of(data, len);

	init(&h, m);
	st = http_head_feed(&h, b, len);
	if (st == HTTP_HEAD_DONE)
		check_done(&h, b, len, m);
	if (st == HTTP_HEAD_ERROR)
		FUZZ_CHECK("http-error", h.hh_error != NULL, "no reason");
	save_head(r, &h, st, b);
	if (st == HTTP_HEAD_DONE)
		body(&h, data + h.hh_len, len - h.hh_len, NULL, 0, r, b, m);
	free(b);
}

static void
piecewise(const char *data, size_t len, const struct mode *m, struct result *r)
{
	static struct http_head h;
	enum http_head_status st = HTTP_HEAD_MORE;
	size_t have = 0, i = 0, zeros = 0, k = m->k;
	uint32_t fed_before;
	char *b = NULL;

	init(&h, m);
	for (;;) {
		size_t piece = k ? m->split[i++ % k] : len;

		/* Every feed copies the whole buffer: at most ~64 feeds for
		 * large payloads keeps an execution in the milliseconds. */
		if (piece != 0 && piece < len / 64)
			piece = len / 64;

		/* A cycle of only zero pieces would never end. */
		zeros = piece == 0 ? zeros + 1 : 0;
		if (zeros > k)
			piece = len;
		have = have + piece > len ? len : have + piece;
		free(b);
		b = copy_of(data, have);
		fed_before = h.hh_fed;
		st = http_head_feed(&h, b, have);
		FUZZ_CHECK("http-fed",
		    h.hh_fed <= have && h.hh_fed <= HTTP_MAX_HEAD,
		    "hh_fed %u after %zu bytes", h.hh_fed, have);
		if (st == HTTP_HEAD_MORE)
			FUZZ_CHECK("http-more", have < HTTP_MAX_HEAD,
			    "MORE with %zu bytes buffered", have);
		if (st == HTTP_HEAD_DONE) {
			FUZZ_CHECK("http-len", h.hh_len >= fed_before,
			    "hh_len %u below bytes fed before %u", h.hh_len,
			    fed_before);
			check_done(&h, b, have, m);
			break;
		}
		if (st != HTTP_HEAD_MORE || have == len)
			break;
	}
	if (st == HTTP_HEAD_ERROR)
		FUZZ_CHECK("http-error", h.hh_error != NULL, "no reason");
	save_head(r, &h, st, b);
	if (st == HTTP_HEAD_DONE) {
		/* DONE is final: more bytes (tunnel data) change nothing. */
		uint32_t hlen = h.hh_len;

		free(b);
		b = copy_of(data, len);
		FUZZ_CHECK("http-done",
		    http_head_feed(&h, b, len) == HTTP_HEAD_DONE &&
		        h.hh_len == hlen,
		    "DONE not sticky");
		body(&h, data + hlen, len - hlen, m->split, k, r, b, m);
	}
	free(b);
}

/* The request bytes the input describes (see the top of the file). */
static char *
expand(const uint8_t *data, size_t size, struct mode *m, size_t *lenp)
{
	size_t r = 0, pre = 0, suf = 0, mid, len, i;
	bool grow;
	char *out;

	if (size < 1)
		return NULL;
	m->k = data[0] & 0x0f;
	m->to_head = (data[0] & 0x20) != 0;
	m->response = (data[0] & 0x40) != 0;
	grow = (data[0] & 0x80) != 0;
	if (size < 1 + m->k + (grow ? 3 : 0))
		return NULL;
	m->split = data + 1;
	data += 1 + m->k;
	size -= 1 + m->k;
	if (grow) {
		r = data[0];
		pre = data[1];
		suf = data[2];
		data += 3;
		size -= 3;
	}
	if (pre + suf > size)
		pre = suf = 0;
	mid = size - pre - suf;
	len = grow && mid > 0 ? pre + r * 300 + suf : size;
	if (len == 0 || (out = malloc(len)) == NULL)
		return NULL;
	memcpy(out, data, pre);
	for (i = pre; i < len - suf; i++)
		out[i] = (char)data[pre + (mid ? (i - pre) % mid : 0)];
	memcpy(out + len - suf, data + size - suf, suf);
	*lenp = len;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result whole, parts;
	struct mode m;
	size_t len = 0;
	char *payload;

	if ((payload = expand(data, size, &m, &len)) == NULL)
		return 0;
	one_shot(payload, len, &m, &whole);
	piecewise(payload, len, &m, &parts);
	/* llhttp reports a header name when it ends or when the buffer
	 * does, so a 129th name cut by a piece boundary is TOO_LARGE before
	 * a bad byte later in it is an ERROR. Either way the head is
	 * refused; anything else must not depend on the pieces. */
	if (whole.status != parts.status &&
	    (whole.status == HTTP_HEAD_ERROR ||
	        whole.status == HTTP_HEAD_TOO_LARGE) &&
	    (parts.status == HTTP_HEAD_ERROR ||
	        parts.status == HTTP_HEAD_TOO_LARGE))
		whole.status = parts.status;
	FUZZ_CHECK("http-chunking", whole.status == parts.status,
	    "one-shot status %d, piecewise %d", whole.status, parts.status);
	FUZZ_CHECK("http-body-chunking",
	    whole.body == parts.body && whole.body_used == parts.body_used,
	    "body: one-shot %d after %zu bytes, piecewise %d after %zu",
	    whole.body, whole.body_used, parts.body, parts.body_used);
	FUZZ_CHECK("http-chunking", memcmp(&whole, &parts, sizeof(whole)) == 0,
	    "piecewise head differs from one-shot (len %u/%u, fields %u/%u)",
	    whole.len, parts.len, whole.nfields, parts.nfields);
	free(payload);
	return 0;
}
