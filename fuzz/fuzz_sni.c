/* SPDX-License-Identifier: MIT */
/* Fuzzes the ClientHello parser (sni_parse, sni_matches) the way a tunnel
 * drives it: the input is the client's first bytes, parsed whole and as
 * prefixes, each from an exactly-sized heap copy so ASan sees any read past
 * the bytes given. Any answer but SNI_MORE must stand for every longer
 * buffer (prefixes and appended bytes); a name must be a clean DNS name; the
 * record framing is checked against a second, simpler walker written here;
 * and the hello the records carry, rewrapped into records of another size,
 * must give the same answer; a reference reader of the reassembled hello
 * (a plain cursor over contiguous bytes) must agree on OK or BAD and, for
 * OK, on the name, ECH and version.
 *
 * The input is plain bytes: the seeds in fuzz/corpus/sni/ are real
 * ClientHellos (tests/unit/sni/capture.py). */
#include "fuzz.h"
#include "sni.h"

static enum sni_status
parse(const uint8_t *data, size_t len, struct sni_hello *h)
{
	unsigned char *b = malloc(len ? len : 1);
	enum sni_status st;

	if (b == NULL)
		abort();
	if (len > 0)
		memcpy(b, data, len);
	st = sni_parse(b, len, h);
	free(b);
	return st;
}

static bool
name_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_';
}

/* sh_name is a lower-case DNS name: labels of 1-63 bytes of [a-z0-9_-]. */
static void
check_name(const struct sni_hello *h)
{
	size_t n = strnlen(h->sh_name, sizeof(h->sh_name)), i, label = 0;
	char probe[SNI_NAME_MAX + 3];

	FUZZ_CHECK(
	    "sni-name", n > 0 && n <= SNI_NAME_MAX, "name of %zu bytes", n);
	for (i = 0; i < n; i++) {
		if (h->sh_name[i] == '.') {
			FUZZ_CHECK("sni-name", label > 0, "empty label in '%s'",
			    fuzz_show(h->sh_name, n));
			label = 0;
			continue;
		}
		FUZZ_CHECK("sni-name",
		    name_byte(h->sh_name[i]) && ++label <= 63, "bad name '%s'",
		    fuzz_show(h->sh_name, n));
	}
	FUZZ_CHECK("sni-name", label > 0, "name ends in a dot: '%s'",
	    fuzz_show(h->sh_name, n));
	/* sni_matches: itself, in upper case with a dot, not one longer. */
	FUZZ_CHECK("sni-match", sni_matches(h, h->sh_name), "no self match");
	for (i = 0; i < n; i++)
		probe[i] = (char)(h->sh_name[i] >= 'a' && h->sh_name[i] <= 'z'
		        ? h->sh_name[i] - 'a' + 'A'
		        : h->sh_name[i]);
	probe[n] = '.';
	probe[n + 1] = '\0';
	FUZZ_CHECK(
	    "sni-match", sni_matches(h, probe), "no match with '%s'", probe);
	probe[n] = 'x';
	FUZZ_CHECK("sni-match", !sni_matches(h, probe), "matches '%s'", probe);
}

/* What sni.h promises of any answer for a buffer of `len` bytes. */
static void
check_answer(enum sni_status st, const struct sni_hello *h, size_t len)
{
	struct sni_hello zero;

	FUZZ_CHECK(
	    "sni-status", st >= SNI_MORE && st <= SNI_BAD, "status %d", st);
	FUZZ_CHECK("sni-why",
	    (st == SNI_OK || st == SNI_MORE) == (h->sh_why == NULL),
	    "status %d with sh_why %s", st, h->sh_why ? h->sh_why : "NULL");
	if (st == SNI_MORE)
		FUZZ_CHECK("sni-bound", len < SNI_MAX_INPUT,
		    "MORE with %zu bytes", len);
	if (st != SNI_OK) {
		memset(&zero, 0, sizeof(zero));
		zero.sh_why = h->sh_why;
		FUZZ_CHECK("sni-zero", memcmp(&zero, h, sizeof(zero)) == 0,
		    "status %d but out not zeroed", st);
		return;
	}
	FUZZ_CHECK("sni-len",
	    h->sh_hello_len >= 4 + 41 && h->sh_hello_len <= SNI_MAX_HELLO &&
	        h->sh_consumed >= h->sh_hello_len + 5 &&
	        h->sh_consumed <= len && h->sh_consumed <= SNI_MAX_INPUT,
	    "hello_len %u, consumed %u of %zu", h->sh_hello_len, h->sh_consumed,
	    len);
	if (h->sh_has_sni)
		check_name(h);
	else
		FUZZ_CHECK("sni-name",
		    h->sh_name[0] == '\0' && !sni_matches(h, "") &&
		        !sni_matches(h, "a"),
		    "no SNI but a name");
}

/* A second framing walker, as simple as can be, byte by byte: the
 * handshake message the records carry, into `msg`. Returns where its last
 * byte ends in `data`, or 0 when the records hold no complete, acceptable
 * one (then sni_parse must not say OK). */
static size_t
walk(const uint8_t *data, size_t size, uint8_t *msg, size_t *msglen)
{
	size_t pos = 0, n = 0, need = 4, rlen;

	while (n < need) {
		if (size - pos < 5 || data[pos] != 22 || data[pos + 1] != 3 ||
		    data[pos + 2] < 1 || data[pos + 2] > 4)
			return 0;
		rlen = (size_t)data[pos + 3] << 8 | data[pos + 4];
		if (rlen == 0 || rlen > 16384)
			return 0;
		for (pos += 5; rlen > 0 && n < need; rlen--) {
			if (pos == size)
				return 0;
			msg[n++] = data[pos++];
			if (n != 4)
				continue;
			need = 4 +
			    ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 |
			        msg[3]);
			if (msg[0] != 1 || need > SNI_MAX_HELLO)
				return 0;
		}
	}
	*msglen = n;
	return pos;
}

/* `msg` in records of `frag` bytes (version 0x0303) into `out`. */
static size_t
wrap(const uint8_t *msg, size_t n, size_t frag, uint8_t *out)
{
	size_t pos = 0, o = 0, take;

	while (pos < n) {
		take = n - pos < frag ? n - pos : frag;
		out[o] = 22;
		out[o + 1] = 3;
		out[o + 2] = 3;
		out[o + 3] = (uint8_t)(take >> 8);
		out[o + 4] = (uint8_t)take;
		memcpy(out + o + 5, msg + pos, take);
		o += 5 + take;
		pos += take;
	}
	return o;
}

/* A reference ClientHello reader over the reassembled message, written
 * apart from sni.c: a cursor over contiguous bytes. */
struct ref {
	bool ok, sni, ech;
	uint16_t version;
	char name[SNI_NAME_MAX + 2];
};

/* A vector at *p with an `lb`-byte length, inside `end`: *vend is its end. */
static bool
ref_vec(const uint8_t *m, size_t *p, size_t end, size_t lb, size_t *vend)
{
	size_t v = 0;

	if (end - *p < lb)
		return false;
	while (lb-- > 0)
		v = v << 8 | m[(*p)++];
	if (end - *p < v)
		return false;
	*vend = *p + v;
	return true;
}

static bool
ref_name(const uint8_t *s, size_t len, struct ref *r)
{
	size_t i, label = 0;

	if (len == 0 || len > SNI_NAME_MAX + 1 || r->sni)
		return false;
	for (i = 0; i < len; i++) {
		char c = (char)s[i];

		r->name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	if (r->name[len - 1] == '.')
		len--;
	r->name[len] = '\0';
	for (i = 0; i < len; i++) {
		if (r->name[i] != '.' &&
		    (!name_byte(r->name[i]) || ++label > 63))
			return false;
		if (r->name[i] == '.' && label == 0)
			return false;
		if (r->name[i] == '.')
			label = 0;
	}
	return len > 0 && len <= SNI_NAME_MAX && label > 0;
}

/* The server_name extension's data in [p, end). */
static bool
ref_server_name(const uint8_t *m, size_t p, size_t end, struct ref *r)
{
	size_t lend, nend;

	if (!ref_vec(m, &p, end, 2, &lend) || lend != end || p == end)
		return false;
	while (p < end) {
		if (m[p++] != 0 || !ref_vec(m, &p, end, 2, &nend) ||
		    !ref_name(m + p, nend - p, r))
			return false;
		r->sni = true;
		p = nend;
	}
	return true;
}

static bool
ref_extensions(const uint8_t *m, size_t p, size_t n, struct ref *r)
{
	size_t eend, type;
	bool seen = false;

	while (p < n) {
		if (n - p < 2)
			return false;
		type = (size_t)m[p] << 8 | m[p + 1];
		p += 2;
		if (!ref_vec(m, &p, n, 2, &eend))
			return false;
		if (type == 0 && (seen || !ref_server_name(m, p, eend, r)))
			return false;
		if (type == 0xfe0d && r->ech)
			return false;
		seen = seen || type == 0;
		r->ech = r->ech || type == 0xfe0d;
		p = eend;
	}
	return true;
}

static void
ref_hello(const uint8_t *m, size_t n, struct ref *r)
{
	size_t p = 4 + 2 + 32, vend;

	memset(r, 0, sizeof(*r));
	if (n < p)
		return;
	r->version = (uint16_t)(m[4] << 8 | m[5]);
	if (!ref_vec(m, &p, n, 1, &vend) || vend - p > 32)
		return;
	p = vend;
	if (!ref_vec(m, &p, n, 2, &vend) || vend == p || (vend - p) % 2)
		return;
	p = vend;
	if (!ref_vec(m, &p, n, 1, &vend) || vend == p)
		return;
	p = vend;
	if (p == n) {
		r->ok = true;
		return;
	}
	if (!ref_vec(m, &p, n, 2, &vend) || vend != n)
		return;
	r->ok = ref_extensions(m, p, n, r);
}

static bool
same(enum sni_status a, const struct sni_hello *ha, enum sni_status b,
    const struct sni_hello *hb)
{
	return a == b && memcmp(ha, hb, sizeof(*ha)) == 0;
}

/* Answers for prefixes, then for appended bytes, stand as sni.h says. */
static void
check_growth(const uint8_t *data, size_t size, enum sni_status st,
    const struct sni_hello *h)
{
	struct sni_hello hp;
	uint8_t *more;
	enum sni_status sp;
	size_t cut[10], i, k = 0, seed = 0;

	for (i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	if (size > 0)
		cut[k++] = size - 1;
	if (st == SNI_OK) {
		cut[k++] = h->sh_consumed;
		cut[k++] = h->sh_consumed - 1;
	}
	while (k < 10 && size > 0) {
		cut[k++] = seed % size;
		seed = seed / size + seed * 7 + 1;
	}
	for (i = 0; i < k; i++) {
		sp = parse(data, cut[i], &hp);
		check_answer(sp, &hp, cut[i]);
		FUZZ_CHECK("sni-prefix", sp == SNI_MORE || same(sp, &hp, st, h),
		    "prefix of %zu/%zu bytes: %d (%s), whole: %d (%s)", cut[i],
		    size, sp, hp.sh_why ? hp.sh_why : "-", st,
		    h->sh_why ? h->sh_why : "-");
	}
	if (st == SNI_MORE || (more = malloc(size + 64)) == NULL)
		return;
	memcpy(more, data, size);
	for (i = 0; i < 64; i++)
		more[size + i] = (uint8_t)(data[i % size] ^ i);
	sp = parse(more, size + 64, &hp);
	FUZZ_CHECK("sni-append", same(sp, &hp, st, h),
	    "64 bytes appended: %d (%s), before: %d (%s)", sp,
	    hp.sh_why ? hp.sh_why : "-", st, h->sh_why ? h->sh_why : "-");
	free(more);
}

/* The records' framing against walk(), and the same hello in records of
 * another size gives the same answer. */
static void
check_framing(const uint8_t *data, size_t size, enum sni_status st,
    const struct sni_hello *h)
{
	static uint8_t msg[SNI_MAX_HELLO], re[SNI_MAX_INPUT];
	struct sni_hello hr, a, b;
	struct ref ref;
	enum sni_status sr;
	size_t n = 0, end = walk(data, size, msg, &n), frag, len;

	if (end == 0 || end > SNI_MAX_INPUT) {
		FUZZ_CHECK("sni-frame", st != SNI_OK,
		    "OK where the records hold no complete hello");
		return;
	}
	FUZZ_CHECK("sni-frame", st == SNI_OK || st == SNI_BAD,
	    "records hold a hello of %zu bytes, but status %d (%s)", n, st,
	    h->sh_why ? h->sh_why : "-");
	if (st == SNI_OK)
		FUZZ_CHECK("sni-frame",
		    h->sh_consumed == end && h->sh_hello_len == n,
		    "consumed %u, hello %u; walker: %zu, %zu", h->sh_consumed,
		    h->sh_hello_len, end, n);
	/* Small records for odd last bytes, large ones for even. */
	ref_hello(msg, n, &ref);
	FUZZ_CHECK("sni-ref", ref.ok == (st == SNI_OK),
	    "sni_parse: %d (%s), the reference: %s", st,
	    h->sh_why ? h->sh_why : "-", ref.ok ? "OK" : "BAD");
	if (st == SNI_OK)
		FUZZ_CHECK("sni-ref",
		    ref.sni == h->sh_has_sni && ref.ech == h->sh_has_ech &&
		        ref.version == h->sh_version &&
		        (!ref.sni || strcmp(ref.name, h->sh_name) == 0),
		    "sni_parse: sni %d '%s' ech %d version %04x, the "
		    "reference: "
		    "sni %d '%s' ech %d version %04x",
		    h->sh_has_sni, h->sh_name, h->sh_has_ech, h->sh_version,
		    ref.sni, ref.name, ref.ech, ref.version);
	frag = data[size - 1] & 1 ? 1 + data[size - 1] % 32
	                          : 64 * (1 + (size_t)data[size - 1] / 2);
	if (n + 5 * ((n + frag - 1) / frag) > sizeof(re))
		frag = 16384;
	len = wrap(msg, n, frag, re);
	sr = parse(re, len, &hr);
	a = *h;
	b = hr;
	a.sh_consumed = b.sh_consumed = 0;
	FUZZ_CHECK("sni-rewrap", same(st, &a, sr, &b),
	    "in records of %zu: %d (%s), as given: %d (%s)", frag, sr,
	    hr.sh_why ? hr.sh_why : "-", st, h->sh_why ? h->sh_why : "-");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sni_hello h;
	enum sni_status st;

	st = parse(data, size, &h);
	check_answer(st, &h, size);
	check_growth(data, size, st, &h);
	if (size > 0)
		check_framing(data, size, st, &h);
	return 0;
}
