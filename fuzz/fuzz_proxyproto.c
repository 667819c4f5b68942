/* SPDX-License-Identifier: MIT */
/* Fuzzes the PROXY protocol parser (proxyproto_parse) the way a listener
 * drives it: the input is a connection's first bytes, parsed whole and as
 * prefixes, each from an exactly-sized heap copy so ASan sees any read past
 * the bytes given. Any answer but MORE must stand for every longer buffer;
 * bytes that cannot start a header must be refused at once; a reference
 * reader written here, simpler and slower (the v1 line split at its spaces
 * once its CRLF is in, the v2 header read whole), must agree on the answer
 * and the addresses (and on a CRC32C TLV: its own table-driven CRC-32C);
 * an input carrying a CRC32C is tried again with the right value written in
 * (the fuzzer would seldom find one), so the accepting path is fuzzed too;
 * and a header written back from what was parsed must parse to the same
 * addresses in both versions.
 *
 * The input is plain bytes: the seeds in fuzz/corpus/proxyproto/ are v1
 * lines and v2 headers such as HAProxy and AWS NLB send, some followed by
 * the connection's own bytes. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "proxyproto.h"

static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static enum proxyproto_status
parse(const uint8_t *data, size_t len, struct proxyproto *pp)
{
	uint8_t *b = malloc(len ? len : 1);
	enum proxyproto_status st;

	if (b == NULL)
		abort();
	if (len > 0)
		memcpy(b, data, len);
	st = proxyproto_parse(len > 0 ? b : NULL, len, pp);
	free(b);
	return st;
}

static bool
same(enum proxyproto_status a, const struct proxyproto *pa,
    enum proxyproto_status b, const struct proxyproto *pb)
{
	return a == b && memcmp(pa, pb, sizeof(*pa)) == 0;
}

/* What proxyproto.h promises of any answer for a buffer of `len` bytes. */
static void
check_answer(const uint8_t *data, size_t len, enum proxyproto_status st,
    const struct proxyproto *pp)
{
	struct proxyproto zero;
	int af = pp->pp_src.ss_family;

	FUZZ_CHECK("pp-status", st >= PROXYPROTO_MORE && st <= PROXYPROTO_ERROR,
	    "status %d", st);
	FUZZ_CHECK("pp-error", (st == PROXYPROTO_ERROR) == (pp->pp_error != NULL),
	    "status %d with pp_error %s", st, pp->pp_error ? pp->pp_error : "-");
	if (st == PROXYPROTO_MORE)
		FUZZ_CHECK("pp-bound", len < PROXYPROTO_MAX, "MORE with %zu bytes",
		    len);
	if (st != PROXYPROTO_DONE) {
		memset(&zero, 0, sizeof(zero));
		zero.pp_error = pp->pp_error;
		FUZZ_CHECK("pp-zero", memcmp(&zero, pp, sizeof(zero)) == 0,
		    "status %d but out not zeroed", st);
		return;
	}
	FUZZ_CHECK("pp-len", pp->pp_len <= len && pp->pp_len <= PROXYPROTO_MAX &&
	    (pp->pp_version == 1 ? pp->pp_len <= PROXYPROTO_V1_MAX &&
	    pp->pp_len >= 15 && memcmp(data + pp->pp_len - 2, "\r\n", 2) == 0 :
	    pp->pp_version == 2 && pp->pp_len == PROXYPROTO_V2_FIXED +
	    ((size_t)data[14] << 8 | data[15])),
	    "v%d header of %zu bytes in %zu", pp->pp_version, pp->pp_len, len);
	if (pp->pp_local)
		FUZZ_CHECK("pp-local", af == AF_UNSPEC &&
		    pp->pp_dst.ss_family == AF_UNSPEC, "local with family %d", af);
	else
		FUZZ_CHECK("pp-family", (af == AF_INET || af == AF_INET6) &&
		    pp->pp_dst.ss_family == af, "families %d and %d", af,
		    pp->pp_dst.ss_family);
}

/* Prefixes are MORE or the same answer; 64 appended bytes change nothing
 * unless the answer was MORE. */
static void
check_growth(const uint8_t *data, size_t size, enum proxyproto_status st,
    const struct proxyproto *pp)
{
	struct proxyproto pc;
	enum proxyproto_status sc;
	size_t cut[12], i, k = 0, seed = 0;
	uint8_t *more;

	for (i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	if (size > 0)
		cut[k++] = size - 1;
	if (st == PROXYPROTO_DONE) {
		cut[k++] = pp->pp_len;
		cut[k++] = pp->pp_len - 1;
	}
	while (k < 12 && size > 0) {
		cut[k++] = seed % size;
		seed = seed / size + seed * 7 + 1;
	}
	for (i = 0; i < k; i++) {
		sc = parse(data, cut[i], &pc);
		check_answer(data, cut[i], sc, &pc);
		FUZZ_CHECK("pp-prefix", sc == PROXYPROTO_MORE ?
		    st != PROXYPROTO_DONE || cut[i] < pp->pp_len :
		    same(sc, &pc, st, pp),
		    "%zu of %zu bytes: %d (%s), whole: %d (%s)", cut[i], size,
		    sc, pc.pp_error ? pc.pp_error : "-", st,
		    pp->pp_error ? pp->pp_error : "-");
	}
	if (st == PROXYPROTO_MORE || (more = malloc(size + 64)) == NULL)
		return;
	memcpy(more, data, size);
	for (i = 0; i < 64; i++)
		more[size + i] = (uint8_t)(size ? data[i % size] ^ i : i);
	sc = parse(more, size + 64, &pc);
	FUZZ_CHECK("pp-append", same(sc, &pc, st, pp),
	    "64 bytes appended: %d (%s), before: %d (%s)", sc,
	    pc.pp_error ? pc.pp_error : "-", st,
	    pp->pp_error ? pp->pp_error : "-");
	free(more);
}

/*
 * The reference reader. REF_OPEN: it cannot tell yet (the parser may say
 * MORE or refuse early); otherwise the answer the parser must give.
 */
enum ref_answer { REF_OPEN = 0, REF_MORE = 1, REF_DONE = 2, REF_ERROR = 3 };

struct ref {
	bool		 local;
	int		 af;
	uint8_t		 src[16], dst[16];
	uint16_t	 sport, dport;	/* host order */
	size_t		 len;
	size_t		 crc;		/* a CRC32C value's offset, or 0 */
};

/* CRC-32C by a 256-entry table (the parser goes bit by bit), of `n` bytes
 * with the 4 at `zero` read as zeros. */
static uint32_t
ref_crc32c(const uint8_t *d, size_t n, size_t zero)
{
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu;
	size_t i;

	if (table[1] == 0)
		for (i = 0; i < 256; i++) {
			uint32_t c = (uint32_t)i;
			int k;

			for (k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	for (i = 0; i < n; i++) {
		uint8_t b = (i >= zero && i < zero + 4) ? 0 : d[i];

		crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
	}
	return crc ^ 0xffffffffu;
}

/* A v1 port: 1-5 digits, no leading zero, at most 65535. */
static bool
ref_port(const char *s, uint16_t *port)
{
	size_t n = strlen(s), i;
	unsigned long v = 0;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*port = (uint16_t)v;
	return v <= 65535;
}

/* A complete v1 line, CRLF excluded, `n` bytes at `line` (no LF in it). */
static enum ref_answer
ref_v1_line(const uint8_t *line, size_t n, struct ref *r)
{
	char text[PROXYPROTO_V1_MAX + 1], *tok[7], *p;
	size_t ntok = 0;

	/* UNKNOWN: the rest is ignored, but its first CR must end it. */
	if (n >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (n == 13 || line[13] == ' ')) {
		r->local = true;
		return memchr(line, '\r', n) == NULL ? REF_DONE : REF_ERROR;
	}
	if (memchr(line, '\0', n) != NULL)
		return REF_ERROR;
	memcpy(text, line, n);
	text[n] = '\0';
	for (p = text; ntok < 7; p++) {
		tok[ntok++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p = '\0';
	}
	if (ntok != 6 || strcmp(tok[0], "PROXY") != 0)
		return REF_ERROR;
	if (strcmp(tok[1], "TCP4") == 0)
		r->af = AF_INET;
	else if (strcmp(tok[1], "TCP6") == 0)
		r->af = AF_INET6;
	else
		return REF_ERROR;
	if (inet_pton(r->af, tok[2], r->src) != 1 ||
	    inet_pton(r->af, tok[3], r->dst) != 1 ||
	    !ref_port(tok[4], &r->sport) || !ref_port(tok[5], &r->dport))
		return REF_ERROR;
	return REF_DONE;
}

static enum ref_answer
ref_v1(const uint8_t *data, size_t size, struct ref *r)
{
	size_t lim = size < PROXYPROTO_V1_MAX ? size : PROXYPROTO_V1_MAX, i;

	for (i = 0; i < lim && data[i] != '\n'; i++)
		continue;
	if (i == lim)
		return size >= PROXYPROTO_V1_MAX ? REF_ERROR : REF_OPEN;
	if (i == 0 || data[i - 1] != '\r')
		return REF_ERROR;
	r->len = i + 1;
	return ref_v1_line(data, i - 1, r);
}

static enum ref_answer
ref_v2(const uint8_t *data, size_t size, struct ref *r)
{
	size_t blen, need, p;
	uint8_t cmd, fam;

	if (size < 16)
		return REF_OPEN;
	cmd = data[12] & 0x0f;
	fam = data[13];
	blen = (size_t)data[14] << 8 | data[15];
	if (data[12] >> 4 != 2 || cmd > 1 || 16 + blen > PROXYPROTO_MAX)
		return REF_ERROR;
	if (fam != 0x00 && fam != 0x11 && fam != 0x12 && fam != 0x21 &&
	    fam != 0x22 && fam != 0x31 && fam != 0x32)
		return REF_ERROR;
	r->local = cmd == 0 || fam == 0x00;
	if (!r->local && fam != 0x11 && fam != 0x21)
		return REF_ERROR;
	r->af = fam == 0x11 ? AF_INET : AF_INET6;
	need = r->local ? 0 : fam == 0x11 ? 12 : 36;
	if (blen < need)
		return REF_ERROR;
	if (size < 16 + blen)
		return REF_MORE;
	r->len = 16 + blen;
	if (r->local)
		return REF_DONE;
	memcpy(r->src, data + 16, need / 2 - 2);
	memcpy(r->dst, data + 16 + need / 2 - 2, need / 2 - 2);
	r->sport = (uint16_t)(data[16 + need - 4] << 8 | data[16 + need - 3]);
	r->dport = (uint16_t)(data[16 + need - 2] << 8 | data[16 + need - 1]);
	for (p = 16 + need; p < 16 + blen;) {
		size_t vlen;

		if (16 + blen - p < 3)
			return REF_ERROR;
		vlen = (size_t)data[p + 1] << 8 | data[p + 2];
		if (data[p] == 0x03 && p + 3 + vlen <= 16 + blen) {
			if (vlen != 4 || r->crc != 0)
				return REF_ERROR;
			r->crc = p + 3;
		}
		p += 3 + vlen;
	}
	if (p != 16 + blen)
		return REF_ERROR;
	if (r->crc != 0 && ref_crc32c(data, r->len, r->crc) !=
	    ((uint32_t)data[r->crc] << 24 | (uint32_t)data[r->crc + 1] << 16 |
	    (uint32_t)data[r->crc + 2] << 8 | data[r->crc + 3]))
		return REF_ERROR;
	return REF_DONE;
}

/* The reference answer: anything that starts with neither "PROXY " nor the
 * signature, as far as the bytes go, is refused at once. */
static enum ref_answer
ref_parse(const uint8_t *data, size_t size, struct ref *r)
{
	size_t n1 = size < 6 ? size : 6, n2 = size < 12 ? size : 12;

	memset(r, 0, sizeof(*r));
	if (size == 0)
		return REF_MORE;
	if (memcmp(data, "PROXY ", n1) == 0)
		return n1 < 6 ? REF_MORE : ref_v1(data, size, r);
	if (memcmp(data, sig, n2) == 0)
		return n2 < 12 ? REF_MORE : ref_v2(data, size, r);
	return REF_ERROR;
}

/* The address and port of a parsed sockaddr, for comparisons. */
static void
sa_parts(const struct sockaddr_storage *ss, const uint8_t **a, size_t *alen,
    uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		*a = (const uint8_t *)&sin->sin_addr;
		*alen = 4;
		*port = ntohs(sin->sin_port);
	} else {
		*a = (const uint8_t *)&sin6->sin6_addr;
		*alen = 16;
		*port = ntohs(sin6->sin6_port);
	}
}

/* The parser's DONE agrees with the reference's addresses. */
static bool
same_as_ref(const struct proxyproto *pp, const struct ref *r)
{
	const uint8_t *s, *d;
	size_t slen, dlen;
	uint16_t sport, dport;

	if (pp->pp_local != r->local || pp->pp_len != r->len)
		return false;
	if (r->local)
		return true;
	sa_parts(&pp->pp_src, &s, &slen, &sport);
	sa_parts(&pp->pp_dst, &d, &dlen, &dport);
	return pp->pp_src.ss_family == r->af && memcmp(s, r->src, slen) == 0 &&
	    memcmp(d, r->dst, dlen) == 0 && sport == r->sport &&
	    dport == r->dport;
}

static void
check_ref(const uint8_t *data, size_t size, enum proxyproto_status st,
    const struct proxyproto *pp)
{
	static const enum proxyproto_status want[] = { PROXYPROTO_MORE,
		PROXYPROTO_MORE, PROXYPROTO_DONE, PROXYPROTO_ERROR };
	struct ref r;
	enum ref_answer ra = ref_parse(data, size, &r);

	if (ra == REF_OPEN) {
		FUZZ_CHECK("pp-ref", st != PROXYPROTO_DONE,
		    "DONE where the reference sees no complete header");
		return;
	}
	FUZZ_CHECK("pp-ref", st == want[ra],
	    "proxyproto_parse: %d (%s), the reference: %d on '%s'", st,
	    pp->pp_error ? pp->pp_error : "-", ra, fuzz_show(data, size));
	if (st == PROXYPROTO_DONE)
		FUZZ_CHECK("pp-ref", same_as_ref(pp, &r),
		    "proxyproto_parse and the reference disagree on '%s'",
		    fuzz_show(data, size));
}

/* The addresses of a DONE header, written again as a v1 line and as a v2
 * header, parse to the same addresses. */
static void
check_emit(const struct proxyproto *pp)
{
	char line[PROXYPROTO_V1_MAX + 1], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	uint8_t v2[16 + 36];
	const uint8_t *sa, *da;
	size_t alen, dlen, n;
	uint16_t sport, dport;
	struct proxyproto p1, p2;
	int af = pp->pp_src.ss_family;

	if (pp->pp_local)
		return;
	sa_parts(&pp->pp_src, &sa, &alen, &sport);
	sa_parts(&pp->pp_dst, &da, &dlen, &dport);
	inet_ntop(af, sa, s, sizeof(s));
	inet_ntop(af, da, d, sizeof(d));
	n = (size_t)snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
	    af == AF_INET ? '4' : '6', s, d, (unsigned)sport, (unsigned)dport);
	memcpy(v2, sig, 12);
	v2[12] = 0x21;
	v2[13] = af == AF_INET ? 0x11 : 0x21;
	v2[14] = 0;
	v2[15] = (uint8_t)(2 * alen + 4);
	memcpy(v2 + 16, sa, alen);
	memcpy(v2 + 16 + alen, da, alen);
	v2[16 + 2 * alen] = (uint8_t)(sport >> 8);
	v2[17 + 2 * alen] = (uint8_t)sport;
	v2[18 + 2 * alen] = (uint8_t)(dport >> 8);
	v2[19 + 2 * alen] = (uint8_t)dport;
	FUZZ_CHECK("pp-emit", n < sizeof(line) &&
	    parse((const uint8_t *)line, n, &p1) == PROXYPROTO_DONE &&
	    p1.pp_len == n && memcmp(&p1.pp_src, &pp->pp_src,
	    sizeof(p1.pp_src)) == 0 && memcmp(&p1.pp_dst, &pp->pp_dst,
	    sizeof(p1.pp_dst)) == 0, "v1 '%s' of a DONE header does not "
	    "parse back", fuzz_show(line, n < sizeof(line) ? n : 0));
	FUZZ_CHECK("pp-emit",
	    parse(v2, 20 + 2 * alen, &p2) == PROXYPROTO_DONE &&
	    memcmp(&p2.pp_src, &pp->pp_src, sizeof(p2.pp_src)) == 0 &&
	    memcmp(&p2.pp_dst, &pp->pp_dst, sizeof(p2.pp_dst)) == 0,
	    "v2 header of a DONE header does not parse back");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto pp;
	enum proxyproto_status st;

	struct ref r;
	uint8_t *fixed;
	uint32_t crc;

	st = parse(data, size, &pp);
	check_answer(data, size, st, &pp);
	check_growth(data, size, st, &pp);
	check_ref(data, size, st, &pp);
	if (st == PROXYPROTO_DONE)
		check_emit(&pp);
	/* With a CRC32C, once more with the right one written in. */
	(void)ref_parse(data, size, &r);
	if (r.crc == 0 || r.len == 0 || (fixed = malloc(size)) == NULL)
		return 0;
	memcpy(fixed, data, size);
	crc = ref_crc32c(fixed, r.len, r.crc);
	fixed[r.crc] = (uint8_t)(crc >> 24);
	fixed[r.crc + 1] = (uint8_t)(crc >> 16);
	fixed[r.crc + 2] = (uint8_t)(crc >> 8);
	fixed[r.crc + 3] = (uint8_t)crc;
	st = parse(fixed, size, &pp);
	check_ref(fixed, size, st, &pp);
	if (st == PROXYPROTO_DONE)
		check_emit(&pp);
	free(fixed);
	return 0;
}
