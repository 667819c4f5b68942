/* SPDX-License-Identifier: MIT */
/* The PROXY protocol parser (proxyproto.h). Every byte is checked as soon as
 * it is in, so a client that is not a load balancer is refused after the
 * first byte that differs, not after a timeout; nothing is read at or past
 * `len`, nor past the header's end. Attacker-controlled input throughout,
 * though on a listener that only trusted load balancers should reach. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

#define PROXYPROTO_V1_PREFIX	"PROXY "
#define PROXYPROTO_V4_TEXT_MAX	15	/* 255.255.255.255 */
#define PROXYPROTO_V6_TEXT_MAX	45	/* INET6_ADDRSTRLEN - 1 */
#define PROXYPROTO_PORT_TEXT_MAX 5

#define PROXYPROTO_V2_VERSION	2
#define PROXYPROTO_V2_LOCAL	0
#define PROXYPROTO_V2_PROXY	1
#define PROXYPROTO_V2_TLV_HEAD	3	/* type, 2-byte length */
#define PROXYPROTO_V2_CRC32C	0x03	/* PP2_TYPE_CRC32C */
#define PROXYPROTO_NO_CRC	((size_t)-1)

#define PROXYPROTO_STR1(x)	#x
#define PROXYPROTO_STR(x)	PROXYPROTO_STR1(x)

static const uint8_t proxyproto_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* v1's protocol names; their index is the proto of proxyproto_v1_proto. */
enum proxyproto_v1_proto {
	PROXYPROTO_V1_TCP4 = 0,
	PROXYPROTO_V1_TCP6 = 1,
	PROXYPROTO_V1_UNKNOWN = 2,
	PROXYPROTO_V1_NPROTOS = 3,
};

static const char *const proxyproto_v1_protos[PROXYPROTO_V1_NPROTOS] = {
	"TCP4", "TCP6", "UNKNOWN",
};

/* A cursor over a v1 line: bytes up to pl_end may be read. pl_end is the
 * buffer's end or the line limit, whichever comes first; running into the
 * limit means no CRLF where one must be. */
struct proxyproto_line {
	const uint8_t	*pl_buf;
	size_t		 pl_pos;	/* next byte */
	size_t		 pl_end;	/* min(len, PROXYPROTO_V1_MAX) */
};

/* One space-separated field of a v1 line, and what may be in it. */
struct proxyproto_field {
	const char	*pf_chars;	/* the bytes allowed */
	size_t		 pf_max;	/* at most this many of them */
	char		 pf_end;	/* the byte after it: ' ' or '\r' */
	const char	*pf_bad;	/* the error when it is wrong */
};

static enum proxyproto_status
proxyproto_fail(struct proxyproto *out, const char *why)
{
	out->pp_error = why;
	return PROXYPROTO_ERROR;
}

/* `n` bytes of `buf` against the same bytes of `sig` (siglen of them):
 * MORE while they agree and fewer than siglen are in, DONE when all are. */
static enum proxyproto_status
proxyproto_prefix(const uint8_t *buf, size_t n, const uint8_t *sig,
    size_t siglen, struct proxyproto *out)
{
	size_t i;

	for (i = 0; i < n && i < siglen; i++)
		if (buf[i] != sig[i])
			return proxyproto_fail(out,
			    "not a PROXY protocol header");
	return i == siglen ? PROXYPROTO_DONE : PROXYPROTO_MORE;
}

/* The line's readable bytes are used up: the buffer ended (MORE) or the
 * line limit was reached without a CRLF (ERROR). */
static enum proxyproto_status
proxyproto_v1_short(const struct proxyproto_line *ln, struct proxyproto *out)
{
	if (ln->pl_end < PROXYPROTO_V1_MAX)
		return PROXYPROTO_MORE;
	return proxyproto_fail(out,
	    "a PROXY v1 line without CRLF in its first 107 bytes");
}

/* The protocol name after "PROXY ", each byte checked against the names'
 * prefixes as it arrives. Consumes the name and a space after it; a CR
 * after it (allowed after UNKNOWN only) is left for the caller. */
static enum proxyproto_status
proxyproto_v1_proto(struct proxyproto_line *ln, int *proto,
    struct proxyproto *out)
{
	static const char bad[] =
	    "a PROXY v1 protocol other than TCP4, TCP6 and UNKNOWN";
	const uint8_t *word = ln->pl_buf + ln->pl_pos;
	size_t n, i;
	uint8_t c;

	for (n = 0;; n++) {
		if (ln->pl_pos + n == ln->pl_end)
			return proxyproto_v1_short(ln, out);
		c = word[n];
		if (c == ' ' && n == 0)
			return proxyproto_fail(out,
			    "a PROXY v1 line with two spaces in a row");
		if (c == '\n')
			return proxyproto_fail(out,
			    "a PROXY v1 line ending in LF without CR");
		if (c == ' ' || c == '\r')
			break;
		for (i = 0; i < PROXYPROTO_V1_NPROTOS; i++)
			if (n < strlen(proxyproto_v1_protos[i]) &&
			    memcmp(proxyproto_v1_protos[i], word, n + 1) == 0)
				break;
		if (i == PROXYPROTO_V1_NPROTOS)
			return proxyproto_fail(out, bad);
	}
	for (i = 0; i < PROXYPROTO_V1_NPROTOS; i++)
		if (n == strlen(proxyproto_v1_protos[i]) &&
		    memcmp(proxyproto_v1_protos[i], word, n) == 0)
			break;
	if (i == PROXYPROTO_V1_NPROTOS)
		return proxyproto_fail(out, bad);
	if (c == '\r' && i != PROXYPROTO_V1_UNKNOWN)
		return proxyproto_fail(out,
		    "a PROXY v1 line that ends after its protocol");
	*proto = (int)i;
	ln->pl_pos += c == ' ' ? n + 1 : n;
	return PROXYPROTO_DONE;
}

/* One field: 1 to pf_max bytes from pf_chars, then pf_end, which is
 * consumed. The field, NUL-terminated, goes to `word` (pf_max + 1 bytes);
 * on MORE and ERROR, its allowed bytes so far, for the caller to check.
 * A space or a line end in the wrong place has its own message: they are
 * the usual mistakes (two spaces, a field missing, junk at the end). */
static enum proxyproto_status
proxyproto_v1_field(struct proxyproto_line *ln,
    const struct proxyproto_field *f, char *word, struct proxyproto *out)
{
	size_t n;
	uint8_t c;

	for (n = 0;; n++) {
		word[n] = '\0';
		if (ln->pl_pos + n == ln->pl_end)
			return proxyproto_v1_short(ln, out);
		c = ln->pl_buf[ln->pl_pos + n];
		if (c == (uint8_t)f->pf_end)
			break;
		if (c == ' ' && n == 0)
			return proxyproto_fail(out,
			    "a PROXY v1 line with two spaces in a row");
		if (c == '\n')
			return proxyproto_fail(out,
			    "a PROXY v1 line ending in LF without CR");
		if (c == '\r')
			return proxyproto_fail(out,
			    "a PROXY v1 line that ends before its last field");
		if (c == ' ')
			return proxyproto_fail(out,
			    "a PROXY v1 line with a field after the last");
		if (c == '\0' || strchr(f->pf_chars, c) == NULL ||
		    n == f->pf_max)
			return proxyproto_fail(out, f->pf_bad);
		word[n] = (char)c;
	}
	if (n == 0)
		return proxyproto_fail(out, f->pf_end == ' ' ?
		    "a PROXY v1 line with two spaces in a row" :
		    "a PROXY v1 line with a space before its CRLF");
	ln->pl_pos += n + 1;
	return PROXYPROTO_DONE;
}

/* An address field of family `af` into `sa` (port left alone). */
static enum proxyproto_status
proxyproto_v1_addr(struct proxyproto_line *ln, int af,
    struct sockaddr_storage *sa, struct proxyproto *out)
{
	static const struct proxyproto_field v4 = {
		.pf_chars = "0123456789.",
		.pf_max = PROXYPROTO_V4_TEXT_MAX,
		.pf_end = ' ',
		.pf_bad = "a PROXY v1 TCP4 line with a bad IPv4 address",
	};
	static const struct proxyproto_field v6 = {
		.pf_chars = "0123456789abcdefABCDEF:.",
		.pf_max = PROXYPROTO_V6_TEXT_MAX,
		.pf_end = ' ',
		.pf_bad = "a PROXY v1 TCP6 line with a bad IPv6 address",
	};
	const struct proxyproto_field *f = af == AF_INET ? &v4 : &v6;
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
	char word[PROXYPROTO_V6_TEXT_MAX + 1];
	enum proxyproto_status st;
	void *dst = af == AF_INET ? (void *)&sin->sin_addr :
	    (void *)&sin6->sin6_addr;

	if ((st = proxyproto_v1_field(ln, f, word, out)) != PROXYPROTO_DONE)
		return st;
	if (inet_pton(af, word, dst) != 1)
		return proxyproto_fail(out, f->pf_bad);
	sa->ss_family = (sa_family_t)af;
	return PROXYPROTO_DONE;
}

/* A port field, ended by `end`, into *port (host order). Its digits are
 * checked as they arrive: a leading zero or a value over 65535 is refused
 * at the digit that makes it so. */
static enum proxyproto_status
proxyproto_v1_port(struct proxyproto_line *ln, char end, uint16_t *port,
    struct proxyproto *out)
{
	static const char bad[] = "a PROXY v1 port that is not 0-65535 "
	    "in decimal without leading zeros";
	const struct proxyproto_field f = {
		.pf_chars = "0123456789",
		.pf_max = PROXYPROTO_PORT_TEXT_MAX,
		.pf_end = end,
		.pf_bad = bad,
	};
	char word[PROXYPROTO_PORT_TEXT_MAX + 1];
	enum proxyproto_status st;
	unsigned long v = 0;
	size_t i;

	/* The digits before the byte that ended the field or made it wrong
	 * are checked first, as they were when they were all there was: the
	 * answer for the shorter buffer then stands for this one. */
	st = proxyproto_v1_field(ln, &f, word, out);
	if (word[0] == '0' && word[1] != '\0')
		return proxyproto_fail(out, bad);
	for (i = 0; word[i] != '\0'; i++)
		v = v * 10 + (unsigned long)(word[i] - '0');
	if (v > UINT16_MAX)
		return proxyproto_fail(out, bad);
	*port = (uint16_t)v;
	return st;
}

/* Put a port (host order) into a sockaddr filled by proxyproto_v1_addr. */
static void
proxyproto_set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

/* "SRC DST SPORT DPORT\r" of a TCP4 or TCP6 line; the LF is the caller's. */
static enum proxyproto_status
proxyproto_v1_tcp(struct proxyproto_line *ln, int af, struct proxyproto *out)
{
	enum proxyproto_status st;
	uint16_t sport, dport;

	if ((st = proxyproto_v1_addr(ln, af, &out->pp_src, out)) !=
	    PROXYPROTO_DONE ||
	    (st = proxyproto_v1_addr(ln, af, &out->pp_dst, out)) !=
	    PROXYPROTO_DONE ||
	    (st = proxyproto_v1_port(ln, ' ', &sport, out)) !=
	    PROXYPROTO_DONE ||
	    (st = proxyproto_v1_port(ln, '\r', &dport, out)) !=
	    PROXYPROTO_DONE)
		return st;
	proxyproto_set_port(&out->pp_src, sport);
	proxyproto_set_port(&out->pp_dst, dport);
	/* proxyproto_v1_field consumed the CR: step back onto it. */
	ln->pl_pos--;
	return PROXYPROTO_DONE;
}

/* What UNKNOWN's line holds after the name and its space is to be ignored
 * (the spec): step to its CR, refusing only a lone LF. */
static enum proxyproto_status
proxyproto_v1_skip(struct proxyproto_line *ln, struct proxyproto *out)
{
	for (; ln->pl_pos < ln->pl_end; ln->pl_pos++) {
		if (ln->pl_buf[ln->pl_pos] == '\r')
			return PROXYPROTO_DONE;
		if (ln->pl_buf[ln->pl_pos] == '\n')
			return proxyproto_fail(out,
			    "a PROXY v1 line ending in LF without CR");
	}
	return proxyproto_v1_short(ln, out);
}

/* The CRLF ending the line, at pl_pos. */
static enum proxyproto_status
proxyproto_v1_crlf(struct proxyproto_line *ln, struct proxyproto *out)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		if (ln->pl_pos + i == ln->pl_end)
			return proxyproto_v1_short(ln, out);
		if (ln->pl_buf[ln->pl_pos + i] != "\r\n"[i])
			return proxyproto_fail(out,
			    "a PROXY v1 line with a CR not followed by LF");
	}
	ln->pl_pos += 2;
	return PROXYPROTO_DONE;
}

/* A v1 line whose "PROXY " prefix is in. */
static enum proxyproto_status
proxyproto_v1(const uint8_t *buf, size_t len, struct proxyproto *out)
{
	struct proxyproto_line ln = {
		.pl_buf = buf,
		.pl_pos = sizeof(PROXYPROTO_V1_PREFIX) - 1,
		.pl_end = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX,
	};
	enum proxyproto_status st;
	int proto;

	if ((st = proxyproto_v1_proto(&ln, &proto, out)) != PROXYPROTO_DONE)
		return st;
	if (proto == PROXYPROTO_V1_UNKNOWN)
		st = proxyproto_v1_skip(&ln, out);
	else
		st = proxyproto_v1_tcp(&ln, proto == PROXYPROTO_V1_TCP4 ?
		    AF_INET : AF_INET6, out);
	if (st != PROXYPROTO_DONE ||
	    (st = proxyproto_v1_crlf(&ln, out)) != PROXYPROTO_DONE)
		return st;
	out->pp_local = proto == PROXYPROTO_V1_UNKNOWN;
	out->pp_len = ln.pl_pos;
	out->pp_version = 1;
	return PROXYPROTO_DONE;
}

/* v2's family and transport byte `fam` under command `cmd`: sets *need to
 * the address bytes the block must hold and *af to their family, or *af to
 * AF_UNSPEC when the block is to be skipped (pp_local). */
static enum proxyproto_status
proxyproto_v2_family(uint8_t cmd, uint8_t fam, size_t *need, int *af,
    struct proxyproto *out)
{
	*need = 0;
	*af = AF_UNSPEC;
	switch (fam) {
	case 0x00:
		return PROXYPROTO_DONE;
	case 0x11:
	case 0x21:
		if (cmd == PROXYPROTO_V2_LOCAL)
			return PROXYPROTO_DONE;
		*af = fam == 0x11 ? AF_INET : AF_INET6;
		*need = fam == 0x11 ? 2 * 4 + 2 * 2 : 2 * 16 + 2 * 2;
		return PROXYPROTO_DONE;
	case 0x12:
	case 0x22:
	case 0x31:
	case 0x32:
		if (cmd == PROXYPROTO_V2_LOCAL)
			return PROXYPROTO_DONE;
		return proxyproto_fail(out, "a PROXY v2 header for UDP or a "
		    "UNIX socket (only TCP is relayed)");
	}
	return proxyproto_fail(out,
	    "a PROXY v2 header with an undefined family or transport");
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960
 * appendix B defines it, of `len` bytes at `p`, the 4 at offset `zero`
 * taken as zeros. Written here, bit by bit: no Debian
 * C library offers CRC-32C (zlib and OpenSSL have CRC-32 only), and a
 * header of at most 4 KiB is checked once per connection. */
static uint32_t
proxyproto_crc32c(const uint8_t *p, size_t len, size_t zero)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		crc ^= i - zero < 4 ? 0 : p[i];
		for (k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* The TLVs after the addresses, `n` bytes at `p`: they must fill them.
 * *crc is the offset from `p` of a CRC32C TLV's value, or
 * PROXYPROTO_NO_CRC. */
static enum proxyproto_status
proxyproto_v2_tlvs(const uint8_t *p, size_t n, size_t *crc,
    struct proxyproto *out)
{
	const uint8_t *start = p;
	size_t vlen;

	*crc = PROXYPROTO_NO_CRC;
	while (n > 0) {
		if (n < PROXYPROTO_V2_TLV_HEAD)
			return proxyproto_fail(out,
			    "a PROXY v2 header with a TLV cut short");
		vlen = (size_t)p[1] << 8 | p[2];
		if (vlen > n - PROXYPROTO_V2_TLV_HEAD)
			return proxyproto_fail(out, "a PROXY v2 header with "
			    "a TLV longer than the block");
		if (p[0] == PROXYPROTO_V2_CRC32C) {
			if (vlen != 4 || *crc != PROXYPROTO_NO_CRC)
				return proxyproto_fail(out, "a PROXY v2 header "
				    "with a malformed CRC32C TLV");
			*crc = (size_t)(p - start) + PROXYPROTO_V2_TLV_HEAD;
		}
		p += PROXYPROTO_V2_TLV_HEAD + vlen;
		n -= PROXYPROTO_V2_TLV_HEAD + vlen;
	}
	return PROXYPROTO_DONE;
}

/* The header's `len` bytes at `buf` match the CRC32C at offset `at` (sent
 * in network order)? The sender computed it with that field zeroed. */
static bool
proxyproto_crc_holds(const uint8_t *buf, size_t len, size_t at)
{
	uint32_t sent = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 |
	    (uint32_t)buf[at + 2] << 8 | buf[at + 3];

	return proxyproto_crc32c(buf, len, at) == sent;
}

/* The address block of a TCP header (`a` at byte 16) into pp_src/pp_dst:
 * source address, destination address, source port, destination port, all
 * in network order as sockaddrs keep them. */
static void
proxyproto_v2_addrs(const uint8_t *a, int af, struct proxyproto *out)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->pp_src;
	struct sockaddr_in *d4 = (struct sockaddr_in *)&out->pp_dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->pp_src;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&out->pp_dst;

	out->pp_src.ss_family = out->pp_dst.ss_family = (sa_family_t)af;
	if (af == AF_INET) {
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
	} else {
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&d6->sin6_addr, a + 16, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		memcpy(&d6->sin6_port, a + 34, 2);
	}
}

/* A v2 header whose 12-byte signature is in; bytes 13-16 are checked one
 * by one as they arrive. */
static enum proxyproto_status
proxyproto_v2(const uint8_t *buf, size_t len, struct proxyproto *out)
{
	enum proxyproto_status st;
	size_t need, blen, crc;
	uint8_t cmd;
	int af;

	if (len < 13)
		return PROXYPROTO_MORE;
	if (buf[12] >> 4 != PROXYPROTO_V2_VERSION)
		return proxyproto_fail(out,
		    "a PROXY v2 header with a version other than 2");
	cmd = buf[12] & 0x0f;
	if (cmd != PROXYPROTO_V2_LOCAL && cmd != PROXYPROTO_V2_PROXY)
		return proxyproto_fail(out, "a PROXY v2 header with a "
		    "command other than LOCAL and PROXY");
	if (len < 14)
		return PROXYPROTO_MORE;
	if ((st = proxyproto_v2_family(cmd, buf[13], &need, &af, out)) !=
	    PROXYPROTO_DONE)
		return st;
	if (len < PROXYPROTO_V2_FIXED)
		return PROXYPROTO_MORE;
	blen = (size_t)buf[14] << 8 | buf[15];
	if (blen > PROXYPROTO_MAX - PROXYPROTO_V2_FIXED)
		return proxyproto_fail(out,
		    "an oversize PROXY v2 header (over "
		    PROXYPROTO_STR(PROXYPROTO_MAX) " bytes)");
	if (blen < need)
		return proxyproto_fail(out, "a PROXY v2 header whose address "
		    "block is too short for its family");
	if (len - PROXYPROTO_V2_FIXED < blen)
		return PROXYPROTO_MORE;
	if (af != AF_UNSPEC) {
		st = proxyproto_v2_tlvs(buf + PROXYPROTO_V2_FIXED + need,
		    blen - need, &crc, out);
		if (st != PROXYPROTO_DONE)
			return st;
		if (crc != PROXYPROTO_NO_CRC && !proxyproto_crc_holds(buf,
		    PROXYPROTO_V2_FIXED + blen, PROXYPROTO_V2_FIXED + need + crc))
			return proxyproto_fail(out, "a PROXY v2 header whose "
			    "CRC32C does not match");
		proxyproto_v2_addrs(buf + PROXYPROTO_V2_FIXED, af, out);
	}
	out->pp_local = af == AF_UNSPEC;
	out->pp_len = PROXYPROTO_V2_FIXED + blen;
	out->pp_version = 2;
	return PROXYPROTO_DONE;
}

/* Which version the first byte announces, checked against the whole
 * prefix of that version as far as the bytes go. */
static enum proxyproto_status
proxyproto_dispatch(const uint8_t *buf, size_t len, struct proxyproto *out)
{
	static const uint8_t v1[] = PROXYPROTO_V1_PREFIX;
	enum proxyproto_status st;

	if (len == 0)
		return PROXYPROTO_MORE;
	if (buf[0] == v1[0]) {
		st = proxyproto_prefix(buf, len, v1, sizeof(v1) - 1, out);
		return st == PROXYPROTO_DONE ? proxyproto_v1(buf, len, out) :
		    st;
	}
	st = proxyproto_prefix(buf, len, proxyproto_v2_sig,
	    sizeof(proxyproto_v2_sig), out);
	return st == PROXYPROTO_DONE ? proxyproto_v2(buf, len, out) : st;
}

enum proxyproto_status
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto *out)
{
	enum proxyproto_status st;
	const char *why;

	memset(out, 0, sizeof(*out));
	st = proxyproto_dispatch(buf, len, out);
	if (st != PROXYPROTO_DONE) {
		why = out->pp_error;
		memset(out, 0, sizeof(*out));
		out->pp_error = st == PROXYPROTO_ERROR ? why : NULL;
	}
	return st;
}
