/* SPDX-License-Identifier: MIT */
/* Unit tests for the ClientHello parser (sni.c). Real hellos captured from
 * curl, Python, Node, openssl s_client and Go (sni_hellos.h) must parse to
 * their name however they are cut into records and segments; variants built
 * from them (an ECH extension, odd names, lengths that do not add up) and
 * bytes that are not TLS at all must get the answer sni.h promises. A
 * synthetic case is a row: a base hello, an edit, a record size, the result. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sni.h"
#include "sni_hellos.h"
#include "unit.h"

#define NCAPTURED	(sizeof(captured_hellos) / sizeof(captured_hellos[0]))
#define MAX_EXT		64
#define ARENA		(3 * SNI_MAX_HELLO)
/* Room for the largest hello built here wrapped in 1-byte records. */
#define WIRE_MAX	(7 * (SNI_MAX_HELLO + 64))

static const char *
status_name(enum sni_status st)
{
	switch (st) {
	case SNI_MORE: return "SNI_MORE";
	case SNI_OK: return "SNI_OK";
	case SNI_NOT_TLS: return "SNI_NOT_TLS";
	case SNI_TOO_LARGE: return "SNI_TOO_LARGE";
	case SNI_BAD: return "SNI_BAD";
	}
	return "?";
}

/* Parse an exactly-sized heap copy, so that an ASan build sees any read
 * past `len`. */
static enum sni_status
parse(const unsigned char *buf, size_t len, struct sni_hello *out)
{
	unsigned char *copy = malloc(len ? len : 1);
	enum sni_status st;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	st = sni_parse(copy, len, out);
	free(copy);
	return st;
}

/*
 * A ClientHello taken apart, to be edited and put together again: the
 * fields before the extensions as they were, the extensions as a list.
 */
struct ext {
	unsigned	 type;
	size_t		 off, len;	/* in the model's arena */
	long		 delta;		/* added to the length written */
};

struct model {
	unsigned char	 m_head[256 + 65536];	/* version .. compression */
	size_t		 m_head_len;
	size_t		 m_sid_at;		/* offset of the sid length */
	bool		 m_no_ext;		/* leave out the block */
	struct ext	 m_ext[MAX_EXT];
	size_t		 m_next;
	unsigned char	 m_arena[ARENA];
	size_t		 m_used;
	long		 m_ext_delta;		/* added to the block length */
	long		 m_hs_delta;		/* added to the message length */
	size_t		 m_trailer;		/* zero bytes after the block */
};

static size_t
be(const unsigned char *p, size_t n)
{
	size_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

static void
put(unsigned char *p, size_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* The handshake bytes of the records in `rec` (trusted: our captures). */
static size_t
handshake_of(const unsigned char *rec, size_t len, unsigned char *hs)
{
	size_t pos = 0, n = 0, rlen;

	while (pos + 5 <= len) {
		rlen = be(rec + pos + 3, 2);
		assert_true(pos + 5 + rlen <= len);
		memcpy(hs + n, rec + pos + 5, rlen);
		n += rlen;
		pos += 5 + rlen;
	}
	return n;
}

static size_t
add_data(struct model *m, const void *data, size_t len)
{
	size_t off = m->m_used;

	assert_true(len <= ARENA - m->m_used);
	memcpy(m->m_arena + off, data, len);
	m->m_used += len;
	return off;
}

static void
add_ext(struct model *m, unsigned type, const void *data, size_t len)
{
	assert_true(m->m_next < MAX_EXT);
	m->m_ext[m->m_next].type = type;
	m->m_ext[m->m_next].off = add_data(m, data, len);
	m->m_ext[m->m_next].len = len;
	m->m_next++;
}

static void
model_load(struct model *m, const unsigned char *rec, size_t len)
{
	static unsigned char hs[SNI_MAX_HELLO];
	size_t n = handshake_of(rec, len, hs), p = 4 + 2 + 32, end, t, l;

	memset(m, 0, sizeof(*m));
	assert_true(n >= p + 1 && hs[0] == 1 && be(hs + 1, 3) + 4 == n);
	m->m_sid_at = p - 4;
	p += 1 + hs[p];
	assert_true(p + 2 <= n);
	p += 2 + be(hs + p, 2);
	assert_true(p + 1 <= n);
	p += 1 + hs[p];
	assert_true(p <= n && p - 4 <= sizeof(m->m_head));
	memcpy(m->m_head, hs + 4, p - 4);
	m->m_head_len = p - 4;
	if (p == n) {
		m->m_no_ext = true;
		return;
	}
	end = p + 2 + be(hs + p, 2);
	assert_true(end == n);
	for (p += 2; p < end; p += 4 + l) {
		t = be(hs + p, 2);
		l = be(hs + p + 2, 2);
		assert_true(p + 4 <= end && p + 4 + l <= end);
		add_ext(m, (unsigned)t, hs + p + 4, l);
	}
}

/* The handshake message the model describes, into `hs`; returns its length. */
static size_t
model_build(const struct model *m, unsigned char *hs, size_t cap)
{
	size_t n = 4, i, block = 0;

	assert_true(4 + m->m_head_len + 2 + m->m_trailer <= cap);
	memcpy(hs + n, m->m_head, m->m_head_len);
	n += m->m_head_len;
	if (!m->m_no_ext) {
		for (i = 0; i < m->m_next; i++)
			block += 4 + m->m_ext[i].len;
		assert_true(n + 2 + block + m->m_trailer <= cap);
		put(hs + n, (size_t)((long)block + m->m_ext_delta), 2);
		n += 2;
		for (i = 0; i < m->m_next; i++) {
			put(hs + n, m->m_ext[i].type, 2);
			put(hs + n + 2,
			    (size_t)((long)m->m_ext[i].len + m->m_ext[i].delta),
			    2);
			memcpy(hs + n + 4, m->m_arena + m->m_ext[i].off,
			    m->m_ext[i].len);
			n += 4 + m->m_ext[i].len;
		}
	}
	memset(hs + n, 0, m->m_trailer);
	n += m->m_trailer;
	hs[0] = 1;
	put(hs + 1, (size_t)((long)n - 4 + m->m_hs_delta), 3);
	return n;
}

/* Wrap `hs` into TLS records whose sizes cycle through `frag` (0-ended; an
 * empty list means records of 16384). Returns the wire length. */
static size_t
wrap(const unsigned char *hs, size_t n, const size_t *frag, unsigned char *out,
    size_t cap)
{
	size_t pos = 0, o = 0, i = 0, take;

	while (pos < n) {
		take = frag != NULL && frag[0] != 0 ? frag[i++] : 16384;
		if (frag != NULL && frag[0] != 0 && frag[i] == 0)
			i = 0;
		if (take > n - pos)
			take = n - pos;
		assert_true(o + 5 + take <= cap);
		out[o] = 22;
		out[o + 1] = 3;
		out[o + 2] = 1;
		put(out + o + 3, take, 2);
		memcpy(out + o + 5, hs + pos, take);
		o += 5 + take;
		pos += take;
	}
	return o;
}

/* Replace the server_name extension (or add one) with raw `data`. */
static void
set_sni_raw(struct model *m, const void *data, size_t len)
{
	size_t i;

	for (i = 0; i < m->m_next; i++)
		if (m->m_ext[i].type == 0) {
			m->m_ext[i].off = add_data(m, data, len);
			m->m_ext[i].len = len;
			return;
		}
	add_ext(m, 0, data, len);
}

/* server_name data holding the one host_name `name`. */
static size_t
sni_data(unsigned char *d, const char *name, size_t nlen)
{
	put(d, nlen + 3, 2);
	d[2] = 0;
	put(d + 3, nlen, 2);
	memcpy(d + 5, name, nlen);
	return nlen + 5;
}

static void
set_name(struct model *m, const char *name, size_t nlen)
{
	unsigned char d[5 + 1100];

	assert_true(nlen <= 1100);
	set_sni_raw(m, d, sni_data(d, name, nlen));
}

static void
drop_ext(struct model *m, unsigned type)
{
	size_t i, o = 0;

	for (i = 0; i < m->m_next; i++)
		if (m->m_ext[i].type != type)
			m->m_ext[o++] = m->m_ext[i];
	m->m_next = o;
}

/* Padding (RFC 7685) to make the message exactly `total` bytes long. */
static void
pad_to(struct model *m, size_t total)
{
	static unsigned char zeros[3 * SNI_MAX_HELLO];
	static unsigned char hs[3 * SNI_MAX_HELLO];
	size_t now = model_build(m, hs, sizeof(hs));

	assert_true(total >= now + 4);
	add_ext(m, 21, zeros, total - now - 4);
}

/*
 * The edits that are not a server_name of their own (those are data in the
 * rows below).
 */
static void
e_no_sni(struct model *m)
{
	drop_ext(m, 0);
}

static void
e_no_ext(struct model *m)
{
	m->m_next = 0;
	m->m_no_ext = true;
}

static void
e_empty_block(struct model *m)
{
	m->m_next = 0;
}

static const unsigned char ech_data[] = {
	0x00,			/* outer */
	0x00, 0x01, 0x00, 0x01,	/* HKDF-SHA256, AES-128-GCM */
	0x2a,			/* config_id */
	0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,	/* enc */
	0x00, 0x03, 0x01, 0x02, 0x03,		/* payload */
};

static void
e_ech(struct model *m)
{
	add_ext(m, 0xfe0d, ech_data, sizeof(ech_data));
}

static void
e_ech_first(struct model *m)
{
	struct ext last;

	e_ech(m);
	last = m->m_ext[m->m_next - 1];
	memmove(m->m_ext + 1, m->m_ext, (m->m_next - 1) * sizeof(m->m_ext[0]));
	m->m_ext[0] = last;
}

static void
e_ech_twice(struct model *m)
{
	e_ech(m);
	e_ech(m);
}

static void
e_ech_no_sni(struct model *m)
{
	e_ech(m);
	drop_ext(m, 0);
}

/* Older ECH drafts' code point: not 0xfe0d, so not flagged. */
static void
e_ech_draft(struct model *m)
{
	add_ext(m, 0xfe0a, ech_data, sizeof(ech_data));
}

static void
e_two_sni(struct model *m)
{
	unsigned char d[64];

	add_ext(m, 0, d, sni_data(d, "other.example", 13));
}

static void
e_two_sni_same(struct model *m)
{
	unsigned char d[64];

	add_ext(m, 0, d, sni_data(d, "api.example.test", 16));
}

static void
e_ext_block_long(struct model *m)
{
	m->m_ext_delta = 1;
}

static void
e_ext_block_short(struct model *m)
{
	m->m_ext_delta = -1;
}

static void
e_trailer(struct model *m)
{
	m->m_trailer = 1;
}

static void
e_hs_short(struct model *m)
{
	m->m_hs_delta = -1;
}

/* The last extension says it is one byte longer than the block leaves it. */
static void
e_ext_overrun(struct model *m)
{
	m->m_ext[m->m_next - 1].delta = 1;
}

/* ... or one shorter, and a byte is left over. */
static void
e_ext_underrun(struct model *m)
{
	m->m_ext[m->m_next - 1].delta = -1;
}

/* An extension header cut short: 3 bytes after the last extension. */
static void
e_ext_cut(struct model *m)
{
	m->m_trailer = 3;
	m->m_ext_delta = 3;
}

/* The legacy fields rebuilt: a session id of `sid` bytes, then cipher
 * suites and compression methods as given. */
static void
set_head(struct model *m, size_t sid, const void *cs, size_t cslen,
    const void *comp, size_t complen)
{
	size_t p = m->m_sid_at;

	m->m_head[p++] = (unsigned char)sid;
	memset(m->m_head + p, 0x11, sid);
	p += sid;
	put(m->m_head + p, cslen, 2);
	memcpy(m->m_head + p + 2, cs, cslen);
	p += 2 + cslen;
	m->m_head[p++] = (unsigned char)complen;
	memcpy(m->m_head + p, comp, complen);
	m->m_head_len = p + complen;
}

static void
e_sid0(struct model *m)
{
	set_head(m, 0, "\x13\x01", 2, "", 1);
}

static void
e_sid32(struct model *m)
{
	set_head(m, 32, "\x13\x01", 2, "", 1);
}

static void
e_sid33(struct model *m)
{
	set_head(m, 33, "\x13\x01", 2, "", 1);
}

static void
e_cs_odd(struct model *m)
{
	set_head(m, 32, "\x13\x01\x13", 3, "", 1);
}

static void
e_cs_empty(struct model *m)
{
	set_head(m, 32, "", 0, "", 1);
}

static void
e_comp_empty(struct model *m)
{
	set_head(m, 32, "\x13\x01", 2, "", 0);
}

static void
e_comp_two(struct model *m)
{
	set_head(m, 32, "\x13\x01", 2, "\x01", 2);
}

static void
e_tls10(struct model *m)
{
	put(m->m_head, 0x0301, 2);
}

static void
e_pq(struct model *m)
{
	pad_to(m, 1800);
}

static void
e_8k(struct model *m)
{
	pad_to(m, 8192);
}

static void
e_max(struct model *m)
{
	pad_to(m, SNI_MAX_HELLO);
}

static void
e_max_plus(struct model *m)
{
	pad_to(m, SNI_MAX_HELLO + 1);
}

typedef void edit_fn(struct model *);

/* Record sizes, cycled; F_ONE is one record (16384 at most). */
static const size_t F_ONE[] = { 0 };
static const size_t F_1[] = { 1, 0 };
static const size_t F_2[] = { 2, 0 };
static const size_t F_3[] = { 3, 0 };
static const size_t F_6[] = { 6, 0 };
static const size_t F_7[] = { 7, 0 };
static const size_t F_100[] = { 100, 0 };
static const size_t F_512[] = { 512, 0 };
static const size_t F_HALF[] = { 260, 0 };	/* two records for curl */
static const size_t F_THIRD[] = { 173, 0 };	/* three for curl */
static const size_t F_HDR2[] = { 2, 16384, 0 };	/* header split 2+2 */
static const size_t F_HDR3[] = { 3, 16384, 0 };
static const size_t F_HDR4[] = { 4, 16384, 0 };	/* header alone */
static const size_t F_ODD[] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 0 };

enum sni_set {
	SET_KEEP = 0,	/* the server_name extension as captured */
	SET_NAME = 1,	/* one host_name of these bytes */
	SET_RAW = 2,	/* the extension's data is these bytes */
};

struct synth_case {
	const char	*what;
	const char	*base;		/* ch_id in captured_hellos */
	edit_fn		*edit;		/* NULL: none */
	enum sni_set	 set;
	const char	*sni;		/* for SET_NAME, SET_RAW */
	size_t		 sni_len;
	const size_t	*frag;
	enum sni_status	 status;
	const char	*name;		/* expected name on SNI_OK; NULL: none */
	bool		 ech;
};

/* Most rows edit curl's hello for api.example.test. */
#define CURL			"api.example.test"
#define OK(w, e, f, n)		{ w, "curl", e, 0, NULL, 0, f, SNI_OK, n, 0 }
#define OK_ECH(w, e, f, n)	{ w, "curl", e, 0, NULL, 0, f, SNI_OK, n, 1 }
#define BAD(w, e, f)		{ w, "curl", e, 0, NULL, 0, f, SNI_BAD, NULL, 0 }
#define TOO_LARGE(w, e, f)						\
	{ w, "curl", e, 0, NULL, 0, f, SNI_TOO_LARGE, NULL, 0 }
/* A host_name `s` in place of curl's, and the name expected. */
#define NAME_OK(s, f, n)						\
	{ s, "curl", NULL, SET_NAME, s, sizeof(s) - 1, f, SNI_OK, n, 0 }
#define NAME_BAD(s)							\
	{ s, "curl", NULL, SET_NAME, s, sizeof(s) - 1, F_ONE, SNI_BAD, NULL, 0 }
/* Raw server_name extension data `s` in place of curl's. */
#define RAW_BAD(w, s)							\
	{ w, "curl", NULL, SET_RAW, s, sizeof(s) - 1, F_ONE, SNI_BAD, NULL, 0 }
/* Another captured hello, with an edit. */
#define OTHER(w, b, e, f, st, n, ech)					\
	{ w, b, e, 0, NULL, 0, f, st, n, ech }

#define A10	"aaaaaaaaaa"
#define A60	A10 A10 A10 A10 A10 A10
#define L61	A60 "a"
#define L63	A60 "aaa"
#define L64	A60 "aaaa"
#define N255	L63 "." L63 "." L63 "." L63
#define N256	L63 "." L63 "." L63 "." L61 ".ab"
#define N1024	N255 "." N255 "." N255 "." N255 "." "abc"

static const struct synth_case synth_cases[] = {
	/* Reassembly: the same hello in 1, 2, 3 and many records. */
	OK("one record", NULL, F_ONE, CURL),
	OK("two records", NULL, F_HALF, CURL),
	OK("three records", NULL, F_THIRD, CURL),
	OK("1-byte records", NULL, F_1, CURL),
	OK("2-byte records", NULL, F_2, CURL),
	OK("3-byte records", NULL, F_3, CURL),
	OK("7-byte records", NULL, F_7, CURL),
	OK("100-byte records", NULL, F_100, CURL),
	OK("512-byte records", NULL, F_512, CURL),
	OK("header split 2+2 over records", NULL, F_HDR2, CURL),
	OK("header split 3+1 over records", NULL, F_HDR3, CURL),
	OK("header in a record of its own", NULL, F_HDR4, CURL),
	OK("records of growing sizes", NULL, F_ODD, CURL),
	OK("post-quantum size (1800), 512-byte records", e_pq, F_512, CURL),
	OK("post-quantum size (1800), 1-byte records", e_pq, F_1, CURL),
	OK("8 KiB hello, 7-byte records", e_8k, F_7, CURL),
	OK("SNI_MAX_HELLO exactly, one full record", e_max, F_ONE, CURL),
	OK("SNI_MAX_HELLO exactly, 100-byte records", e_max, F_100, CURL),
	OK("SNI_MAX_HELLO in 6-byte records fits SNI_MAX_INPUT", e_max, F_6,
	    CURL),
	TOO_LARGE("SNI_MAX_HELLO + 1", e_max_plus, F_ONE),
	TOO_LARGE("SNI_MAX_HELLO + 1, header split", e_max_plus, F_HDR2),
	TOO_LARGE("SNI_MAX_HELLO in 1-byte records: past SNI_MAX_INPUT",
	    e_max, F_1),

	/* ECH. */
	OK_ECH("ECH extension appended", e_ech, F_ONE, CURL),
	OK_ECH("ECH extension first", e_ech_first, F_ONE, CURL),
	OK_ECH("ECH extension, 7-byte records", e_ech, F_7, CURL),
	OK_ECH("ECH without SNI", e_ech_no_sni, F_ONE, NULL),
	OK("ECH draft code point 0xfe0a is not flagged", e_ech_draft, F_ONE,
	    CURL),
	BAD("two ECH extensions", e_ech_twice, F_ONE),

	/* Names: lower-cased, one trailing dot dropped. */
	NAME_OK("API.Example.TEST", F_ONE, "api.example.test"),
	NAME_OK("api.example.test.", F_ONE, "api.example.test"),
	NAME_OK("WWW.EXAMPLE.COM.", F_7, "www.example.com"),
	NAME_OK("_a-b_.c-d.e9", F_ONE, "_a-b_.c-d.e9"),
	NAME_OK("a", F_ONE, "a"),
	NAME_OK("127.0.0.1", F_ONE, "127.0.0.1"),	/* a name here */
	NAME_OK("xn--bcher-kva.de", F_ONE, "xn--bcher-kva.de"),
	NAME_OK(L63 ".com", F_ONE, L63 ".com"),
	NAME_OK(N255, F_ONE, N255),
	NAME_OK(N255 ".", F_ONE, N255),
	NAME_OK(N255 ".", F_1, N255),
	NAME_BAD(L64 ".com"),
	NAME_BAD(N256),
	NAME_BAD(N256 "."),
	NAME_BAD(N1024),
	NAME_BAD(""),
	NAME_BAD("."),
	NAME_BAD("a..b"),
	NAME_BAD(".a.b"),
	NAME_BAD("a.b.."),
	NAME_BAD("a b.com"),
	NAME_BAD("good.com\0.evil.net"),
	NAME_BAD("example.com:443"),
	NAME_BAD("example.com/x"),
	NAME_BAD("evil@example.com"),
	NAME_BAD("*.example.com"),
	NAME_BAD("b\xc3\xbc" "cher.de"),
	NAME_BAD("exa\xffmple.com"),
	NAME_BAD("example.com\r\n"),
	NAME_BAD("[::1]"),
	NAME_BAD("%65xample.com"),

	/* No name. */
	OK("no server_name extension", e_no_sni, F_ONE, NULL),
	OK("no server_name extension, 3-byte records", e_no_sni, F_3, NULL),
	OK("no extensions block (TLS 1.2)", e_no_ext, F_ONE, NULL),
	OK("empty extensions block", e_empty_block, F_ONE, NULL),

	/* The server_name extension. */
	BAD("two server_name extensions", e_two_sni, F_ONE),
	BAD("two server_name extensions, same name", e_two_sni_same, F_ONE),
	BAD("two server_name extensions, 1-byte records", e_two_sni, F_1),
	RAW_BAD("two host_names in one extension",
	    "\x00\x0e" "\x00\x00\x04" "a.bc" "\x00\x00\x04" "d.ef"),
	RAW_BAD("a name type other than host_name",
	    "\x00\x07" "\x01\x00\x04" "a.bc"),
	RAW_BAD("another name type, then a host_name",
	    "\x00\x0e" "\x01\x00\x04" "x.yz" "\x00\x00\x04" "a.bc"),
	RAW_BAD("empty server_name extension", ""),
	RAW_BAD("server_name list of 0", "\x00\x00"),
	RAW_BAD("list length one too long", "\x00\x08" "\x00\x00\x04" "a.bc"),
	RAW_BAD("list length one too short", "\x00\x06" "\x00\x00\x04" "a.bc"),
	RAW_BAD("host_name length one too long",
	    "\x00\x07" "\x00\x00\x05" "a.bc"),
	RAW_BAD("host_name length one too short",
	    "\x00\x07" "\x00\x00\x03" "a.bc"),
	RAW_BAD("host_name length cut off", "\x00\x03" "\x00\x00"),
	RAW_BAD("list length cut off", "\x00"),
	RAW_BAD("host_name of 0", "\x00\x03" "\x00\x00\x00"),

	/* The hello's own lengths. */
	BAD("extensions block one too long", e_ext_block_long, F_ONE),
	BAD("extensions block one too short", e_ext_block_short, F_ONE),
	BAD("a byte after the extensions", e_trailer, F_ONE),
	BAD("an extension running past the block", e_ext_overrun, F_ONE),
	BAD("an extension one byte short of the block", e_ext_underrun, F_ONE),
	BAD("an extension header cut short", e_ext_cut, F_ONE),
	BAD("handshake length one too short", e_hs_short, F_ONE),
	BAD("session id of 33", e_sid33, F_ONE),
	BAD("odd cipher_suites length", e_cs_odd, F_ONE),
	BAD("empty cipher_suites", e_cs_empty, F_ONE),
	BAD("no compression method", e_comp_empty, F_ONE),
	OK("session id of 0", e_sid0, F_ONE, CURL),
	OK("session id of 32", e_sid32, F_7, CURL),
	OK("two compression methods", e_comp_two, F_ONE, CURL),
	OK("legacy_version 0x0301", e_tls10, F_ONE, CURL),

	/* The other captured hellos, edited: Node's and Go's order their
	 * extensions differently from OpenSSL's. */
	OTHER("node, 1-byte records", "node", NULL, F_1, SNI_OK,
	    "node.example.test", false),
	OTHER("node, ECH, header split", "node", e_ech, F_HDR2, SNI_OK,
	    "node.example.test", true),
	OTHER("go, 7-byte records", "go", NULL, F_7, SNI_OK,
	    "go.example.test", false),
	OTHER("go, two server_name extensions", "go", e_two_sni, F_ONE,
	    SNI_BAD, NULL, false),
	OTHER("go, no server_name extension", "go", e_no_sni, F_100, SNI_OK,
	    NULL, false),
	OTHER("ffdhe8192 hello, 100-byte records", "openssl_big", NULL, F_100,
	    SNI_OK, "big.example.test", false),
	OTHER("no-SNI hello, ECH added", "openssl_nosni", e_ech, F_ONE, SNI_OK,
	    NULL, true),
	OTHER("no-SNI hello, a server_name added", "openssl_nosni",
	    e_two_sni, F_512, SNI_OK, "other.example", false),
};

static unsigned char wire[WIRE_MAX];

/* Build a case's bytes into `wire`; returns their length. */
static size_t
synth_build(const struct synth_case *t)
{
	static struct model m;
	static unsigned char hs[3 * SNI_MAX_HELLO];
	const struct captured_hello *c = NULL;
	size_t n;

	for (n = 0; n < NCAPTURED && c == NULL; n++)
		if (strcmp(captured_hellos[n].ch_id, t->base) == 0)
			c = &captured_hellos[n];
	assert_non_null(c);

	model_load(&m, c->ch_bytes, c->ch_len);
	if (t->edit != NULL)
		t->edit(&m);
	if (t->set == SET_NAME)
		set_name(&m, t->sni, t->sni_len);
	else if (t->set == SET_RAW)
		set_sni_raw(&m, t->sni, t->sni_len);
	n = model_build(&m, hs, sizeof(hs));
	return wrap(hs, n, t->frag, wire, sizeof(wire));
}

/* Check `out` against the expected result; prints and returns 1 if wrong. */
static int
check_result(const char *what, enum sni_status st, const struct sni_hello *h,
    enum sni_status want, const char *name, bool ech)
{
	if (st != want) {
		print_error("%s: %s (%s), expected %s\n", what,
		    status_name(st), h->sh_why ? h->sh_why : "-",
		    status_name(want));
		return 1;
	}
	if (st != SNI_OK) {
		if ((st == SNI_MORE) != (h->sh_why == NULL)) {
			print_error("%s: %s with sh_why %s\n", what,
			    status_name(st), h->sh_why ? h->sh_why : "NULL");
			return 1;
		}
		return 0;
	}
	if (h->sh_has_sni != (name != NULL) || h->sh_has_ech != ech ||
	    strcmp(h->sh_name, name ? name : "") != 0) {
		print_error("%s: has_sni %d name \"%s\" ech %d, expected "
		    "has_sni %d \"%s\" ech %d\n", what, h->sh_has_sni,
		    h->sh_name, h->sh_has_ech, name != NULL, name ? name : "",
		    ech);
		return 1;
	}
	return 0;
}

/* Every prefix short of the hello's end is SNI_MORE, and the end gives
 * `full` again. Prints and returns 1 if not. */
static int
check_prefixes(const char *what, const unsigned char *buf, size_t len,
    const struct sni_hello *full)
{
	struct sni_hello h;
	enum sni_status st;
	size_t i;

	for (i = 0; i < full->sh_consumed; i++) {
		st = parse(buf, i, &h);
		if (st != SNI_MORE) {
			print_error("%s: prefix of %zu/%zu bytes: %s (%s)\n",
			    what, i, len, status_name(st),
			    h.sh_why ? h.sh_why : "-");
			return 1;
		}
	}
	st = parse(buf, full->sh_consumed, &h);
	if (st != SNI_OK || memcmp(&h, full, sizeof(h)) != 0) {
		print_error("%s: the first %u bytes alone differ\n", what,
		    full->sh_consumed);
		return 1;
	}
	return 0;
}

static void
test_sni_synthetic(void **state)
{
	size_t i, n = sizeof(synth_cases) / sizeof(synth_cases[0]), len;
	struct sni_hello h;
	enum sni_status st;
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct synth_case *t = &synth_cases[i];
		char what[1200];

		snprintf(what, sizeof(what), "row %zu \"%s\"", i,
		    show(t->what, t->set == SET_NAME ? t->sni_len :
		    strlen(t->what)));
		len = synth_build(t);
		st = parse(wire, len, &h);
		if (check_result(what, st, &h, t->status, t->name,
		    t->ech) != 0) {
			print_error("  (%zu bytes)\n", len);
			bad++;
			continue;
		}
		if (st == SNI_OK && (h.sh_consumed != len ||
		    h.sh_hello_len > SNI_MAX_HELLO)) {
			print_error("%s: consumed %u of %zu\n", what,
			    h.sh_consumed, len);
			bad++;
		}
		/* Byte by byte, for the cases about reassembly. */
		if (st == SNI_OK && len < 4000 &&
		    check_prefixes(what, wire, len, &h) != 0)
			bad++;
	}
	if (bad > 0)
		fail_msg("%d of %zu synthetic cases failed", bad, n);
}

/* Each captured hello: its name, byte by byte, rewrapped into records of
 * many sizes, and with bytes after it. */
static void
test_sni_captured(void **state)
{
	static const size_t *frags[] = { F_1, F_2, F_3, F_7, F_100, F_512,
		F_HDR2, F_HDR3, F_ODD, F_ONE };
	static struct model m;
	static unsigned char hs[3 * SNI_MAX_HELLO], more[WIRE_MAX];
	size_t i, j, n, len;
	struct sni_hello h, h2;
	enum sni_status st;
	int bad = 0;

	(void)state;
	for (i = 0; i < NCAPTURED; i++) {
		const struct captured_hello *c = &captured_hellos[i];

		st = parse(c->ch_bytes, c->ch_len, &h);
		if (check_result(c->ch_client, st, &h, SNI_OK, c->ch_name,
		    false) != 0) {
			bad++;
			continue;
		}
		if (h.sh_consumed != c->ch_len || h.sh_version != 0x0303) {
			print_error("%s: consumed %u of %zu, version %04x\n",
			    c->ch_client, h.sh_consumed, c->ch_len,
			    h.sh_version);
			bad++;
		}
		bad += check_prefixes(c->ch_client, c->ch_bytes, c->ch_len,
		    &h);
		/* What follows the hello does not change the answer, be it
		 * more records, early data or garbage. */
		memcpy(more, c->ch_bytes, c->ch_len);
		memcpy(more + c->ch_len, "\x17\x03\x03\x00\x05hello\x15GET /",
		    16);
		st = parse(more, c->ch_len + 16, &h2);
		if (st != SNI_OK || memcmp(&h, &h2, sizeof(h)) != 0) {
			print_error("%s: bytes after the hello changed the "
			    "answer\n", c->ch_client);
			bad++;
		}
		model_load(&m, c->ch_bytes, c->ch_len);
		n = model_build(&m, hs, sizeof(hs));
		for (j = 0; j < sizeof(frags) / sizeof(frags[0]); j++) {
			len = wrap(hs, n, frags[j], wire, sizeof(wire));
			st = parse(wire, len, &h2);
			if (check_result(c->ch_client, st, &h2, SNI_OK,
			    c->ch_name, false) != 0 ||
			    h2.sh_hello_len != h.sh_hello_len ||
			    h2.sh_version != h.sh_version) {
				print_error("  (rewrapped, pattern %zu)\n", j);
				bad++;
			}
		}
	}
	if (bad > 0)
		fail_msg("%d failures over %zu captured hellos", bad,
		    NCAPTURED);
}

struct raw_case {
	const char	*in;
	size_t		 len;
	enum sni_status	 status;
};

#define RAW(s, st)	{ s, sizeof(s) - 1, st }
/* A record header for a handshake fragment of `n` bytes. */
#define HS(n)		"\x16\x03\x01\x00" n

static const struct raw_case raw_cases[] = {
	/* Not TLS at all: told after the first byte. */
	RAW("CONNECT example.com:443 HTTP/1.1\r\n\r\n", SNI_NOT_TLS),
	RAW("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", SNI_NOT_TLS),
	RAW("G", SNI_NOT_TLS),
	RAW("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", SNI_NOT_TLS),
	RAW("\x80\x2e\x01\x03\x01\x00\x15", SNI_NOT_TLS),	/* SSLv2 */
	RAW("\x00", SNI_NOT_TLS),
	/* Another record type first (alert, change_cipher_spec,
	 * application data, heartbeat): not a TLS client's first bytes. */
	RAW("\x15\x03\x03\x00\x02\x02\x28", SNI_NOT_TLS),
	RAW("\x15", SNI_NOT_TLS),
	RAW("\x14\x03\x03\x00\x01\x01", SNI_NOT_TLS),
	RAW("\x17\x03\x03\x00\x05hello", SNI_NOT_TLS),
	RAW("\x18\x03\x03\x00\x01\x01", SNI_NOT_TLS),
	/* Record versions. */
	RAW("\x16\x02", SNI_NOT_TLS),
	RAW("\x16\x03\x00", SNI_NOT_TLS),	/* SSL 3.0 */
	RAW("\x16\x03\x05", SNI_NOT_TLS),
	RAW("\x16\x04\x01", SNI_NOT_TLS),
	RAW("\x16\x03\x04\x00\x01", SNI_MORE),
	/* Another handshake message first. */
	RAW(HS("\x04") "\x02\x00\x00\x00", SNI_NOT_TLS),	/* ServerHello */
	RAW(HS("\x01") "\x00", SNI_NOT_TLS),
	RAW(HS("\x01") "\x14", SNI_NOT_TLS),
	/* Prefixes. */
	RAW("", SNI_MORE),
	RAW("\x16", SNI_MORE),
	RAW("\x16\x03", SNI_MORE),
	RAW("\x16\x03\x01", SNI_MORE),
	RAW("\x16\x03\x01\x02", SNI_MORE),
	RAW("\x16\x03\x01\x02\x00", SNI_MORE),
	RAW("\x16\x03\x01\x02\x00\x01", SNI_MORE),
	RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", SNI_MORE),
	/* Records. */
	RAW("\x16\x03\x01\x00\x00", SNI_BAD),
	RAW("\x16\x03\x01\x40\x01", SNI_BAD),
	RAW("\x16\x03\x01\xff\xff", SNI_BAD),
	RAW("\x16\x03\x01\x40\x00", SNI_MORE),
	/* Sizes: TOO_LARGE as soon as the header says so. */
	RAW(HS("\x04") "\x01\x00\x3f\xfd", SNI_TOO_LARGE),
	RAW(HS("\x04") "\x01\x00\x3f\xfc", SNI_MORE),
	RAW(HS("\x04") "\x01\xff\xff\xff", SNI_TOO_LARGE),
	RAW(HS("\x02") "\x01\x01" HS("\x02") "\x00\x00", SNI_TOO_LARGE),
	/* Tiny hellos. */
	RAW(HS("\x04") "\x01\x00\x00\x00", SNI_BAD),
	RAW(HS("\x05") "\x01\x00\x00\x01\x03", SNI_BAD),
	RAW(HS("\x0e") "\x01\x00\x00\x0a\x03\x03" "randomby", SNI_BAD),
	RAW(HS("\x04") "\x01\x00\x00\x01" HS("\x01") "\x03", SNI_BAD),
	/* Header split over records, then a record that does not belong. */
	RAW(HS("\x01") "\x01" HS("\x03") "\x00\x00\x00", SNI_BAD),
	RAW(HS("\x01") "\x01" HS("\x03") "\x00\x00", SNI_MORE),
	RAW(HS("\x01") "\x01" "\x15\x03\x03\x00\x02\x02\x28", SNI_BAD),
	RAW(HS("\x01") "\x01" "\x14\x03\x03\x00\x01\x01", SNI_BAD),
	RAW(HS("\x01") "\x01" "\x17", SNI_BAD),
	RAW(HS("\x01") "\x01" "\x16\x03\x00", SNI_BAD),
	RAW(HS("\x01") "\x01" "\x16\x02", SNI_BAD),
	RAW(HS("\x01") "\x01" HS("\x00"), SNI_BAD),
	RAW(HS("\x01") "\x01" "\x16\x03\x03\x40\x01", SNI_BAD),
	RAW(HS("\x01") "\x01" "\x16\x03\x03\x00", SNI_MORE),
	/* Body split, then an alert before the end. */
	RAW(HS("\x06") "\x01\x00\x00\x30\x03\x03" "\x15\x03\x03\x00\x02",
	    SNI_BAD),
};

static void
test_sni_raw(void **state)
{
	size_t i, n = sizeof(raw_cases) / sizeof(raw_cases[0]);
	struct sni_hello h;
	enum sni_status st;
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct raw_case *t = &raw_cases[i];
		char what[1200];

		snprintf(what, sizeof(what), "row %zu \"%s\"", i,
		    show(t->in, t->len));
		st = parse((const unsigned char *)t->in, t->len, &h);
		bad += check_result(what, st, &h, t->status, NULL, false);
	}
	if (bad > 0)
		fail_msg("%d of %zu raw cases failed", bad, n);
}

/* The input bound: MORE never comes with SNI_MAX_INPUT bytes or more. */
static void
test_sni_input_bound(void **state)
{
	static unsigned char hs[SNI_MAX_HELLO];
	static const size_t f1[] = { 1, 0 };
	struct sni_hello h;
	size_t len;

	(void)state;
	memset(hs, 0, sizeof(hs));
	hs[0] = 1;
	put(hs + 1, SNI_MAX_HELLO - 4, 3);
	len = wrap(hs, sizeof(hs), f1, wire, sizeof(wire));
	assert_true(len > SNI_MAX_INPUT);
	assert_int_equal(sni_parse(wire, SNI_MAX_INPUT - 1, &h), SNI_MORE);
	assert_int_equal(sni_parse(wire, SNI_MAX_INPUT, &h), SNI_TOO_LARGE);
	assert_non_null(h.sh_why);
	assert_int_equal(sni_parse(wire, len, &h), SNI_TOO_LARGE);
	/* A NULL buffer of no bytes is a prefix like any other. */
	assert_int_equal(sni_parse(NULL, 0, &h), SNI_MORE);
}

/* The hello's last record may go on past it (another handshake message
 * after the hello, in the same record): the hello is complete without
 * those bytes, and they change nothing when they come. */
static void
test_sni_record_tail(void **state)
{
	static struct model m;
	static unsigned char hs[3 * SNI_MAX_HELLO];
	static const size_t f7[] = { 7, 0 };
	struct sni_hello h, h2;
	size_t n, len, last;

	(void)state;
	model_load(&m, captured_hellos[0].ch_bytes, captured_hellos[0].ch_len);
	n = model_build(&m, hs, sizeof(hs));
	memset(hs + n, 0xee, 100);
	len = wrap(hs, n, f7, wire, sizeof(wire));
	last = len - 5 - (n % 7 ? n % 7 : 7);
	put(wire + last + 3, be(wire + last + 3, 2) + 100, 2);
	assert_int_equal(parse(wire, len, &h), SNI_OK);
	assert_string_equal(h.sh_name, captured_hellos[0].ch_name);
	assert_int_equal(h.sh_consumed, len);
	memset(wire + len, 0xee, 100);
	assert_int_equal(parse(wire, len + 100, &h2), SNI_OK);
	assert_memory_equal(&h, &h2, sizeof(h));
	assert_int_equal(parse(wire, len - 1, &h2), SNI_MORE);
}

struct match_case {
	const char	*sni;		/* NULL: the hello has none */
	const char	*host;
	bool		 match;
};

static const struct match_case match_cases[] = {
	{ "api.example.test", "api.example.test", true },
	{ "api.example.test", "API.Example.Test", true },
	{ "api.example.test", "api.example.test.", true },
	{ "api.example.test", "API.EXAMPLE.TEST.", true },
	{ "api.example.test", "api.example.test..", false },
	{ "api.example.test", "example.test", false },
	{ "api.example.test", "xapi.example.test", false },
	{ "api.example.test", "api.example.tes", false },
	{ "api.example.test", "api.example.test:443", false },
	{ "api.example.test", "", false },
	{ "api.example.test", ".", false },
	{ "api.example.test", NULL, false },
	{ NULL, "api.example.test", false },
	{ NULL, "", false },
	{ "127.0.0.1", "127.0.0.1", true },
};

static void
test_sni_matches(void **state)
{
	size_t i, n = sizeof(match_cases) / sizeof(match_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct match_case *t = &match_cases[i];
		struct sni_hello h;

		memset(&h, 0, sizeof(h));
		if (t->sni != NULL) {
			h.sh_has_sni = true;
			snprintf(h.sh_name, sizeof(h.sh_name), "%s", t->sni);
		}
		if (sni_matches(&h, t->host) != t->match) {
			print_error("row %zu: sni_matches(\"%s\", \"%s\") is "
			    "not %d\n", i, t->sni ? t->sni : "(none)",
			    t->host ? t->host : "(NULL)", t->match);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu sni_matches cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_captured),
		cmocka_unit_test(test_sni_synthetic),
		cmocka_unit_test(test_sni_raw),
		cmocka_unit_test(test_sni_input_bound),
		cmocka_unit_test(test_sni_record_tail),
		cmocka_unit_test(test_sni_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
