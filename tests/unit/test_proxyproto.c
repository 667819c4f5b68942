/* SPDX-License-Identifier: MIT */
/* Unit tests for the PROXY protocol parser (proxyproto.c). A case is a row:
 * the bytes a connection starts with, the answer, the addresses as text, the
 * header's length and whether it carried none. Every header must also be
 * MORE at each of its proper prefixes and keep its answer with bytes
 * appended; what is not a header must be refused at the byte that gives it
 * away, not after the caller has waited for more. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"
#include "unit.h"

/* v2's signature, then version/command, family, length, block. */
#define SIG		"\r\n\r\n\0\r\nQUIT\n"
/* 192.0.2.1:56324 -> 198.51.100.7:443 */
#define V4ADDRS		"\xc0\x00\x02\x01" "\xc6\x33\x64\x07" "\xdc\x04" "\x01\xbb"
/* [2001:db8::1]:56324 -> [2001:db8::2]:443 */
#define V6ADDRS		"\x20\x01\x0d\xb8" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01" \
			"\x20\x01\x0d\xb8" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x02" \
			"\xdc\x04" "\x01\xbb"
/* [::ffff:192.0.2.1]:1 -> [::ffff:198.51.100.7]:2 */
#define V6MAPPED	"\0\0\0\0" "\0\0\0\0" "\0\0\xff\xff" "\xc0\x00\x02\x01" \
			"\0\0\0\0" "\0\0\0\0" "\0\0\xff\xff" "\xc6\x33\x64\x07" \
			"\x00\x01" "\x00\x02"
#define V4SRC		"192.0.2.1:56324"
#define V4DST		"198.51.100.7:443"
#define V6SRC		"[2001:db8::1]:56324"
#define V6DST		"[2001:db8::2]:443"
/* An AWS VPC endpoint id TLV (type 0xea, subtype 1) and a NOOP TLV. */
#define TLV_AWS		"\xea\x00\x17" "\x01" "vpce-08d2bf15fd4d05b3c"
#define TLV_NOOP	"\x04\x00\x04" "abcd"
/* CRC32C TLVs: the right value for the header they end (V6ADDRS alone) or
 * sit in the middle of (V4ADDRS, NOOP, CRC, AWS), as Debian's
 * python3-crc32c computes it with the value zeroed; and a wrong one. */
#define TLV_CRC_V6	"\x03\x00\x04" "\x95\xb3\x79\x3a"
#define TLV_CRC_V4	"\x03\x00\x04" "\x2e\x43\x67\xb3"
#define TLV_CRC_BAD	"\x03\x00\x04" "\xde\xad\xbe\xef"
#define FFFF8		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define X10		"xxxxxxxxxx"
#define X90		X10 X10 X10 X10 X10 X10 X10 X10 X10
#define HTTP_REQ	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define TLS_HELLO	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"

struct parse_case {
	const char		*in;
	size_t			 len;
	enum proxyproto_status	 st;
	const char		*src, *dst;	/* "ADDR:PORT", "[V6]:PORT" */
	size_t			 pp_len;
	bool			 local;
	int			 version;
	const char		*why;		/* in pp_error when ERROR */
};

#define B(s)			s, sizeof(s) - 1
/* A header `h` followed by the connection's own bytes `d`. */
#define DONE(v, h, d, s, t)	{ B(h d), PROXYPROTO_DONE, s, t, \
				  sizeof(h) - 1, false, v, NULL }
#define LOCAL(v, h, d)		{ B(h d), PROXYPROTO_DONE, NULL, NULL, \
				  sizeof(h) - 1, true, v, NULL }
#define ERR(s, why)		{ B(s), PROXYPROTO_ERROR, NULL, NULL, 0, \
				  false, 0, why }
#define MORE(s)			{ B(s), PROXYPROTO_MORE, NULL, NULL, 0, \
				  false, 0, NULL }

static const struct parse_case parse_cases[] = {
	/* v1 TCP4 and TCP6. */
	DONE(1, "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", "",
	    V4SRC, V4DST),
	DONE(1, "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "",
	    "0.0.0.0:0", "255.255.255.255:65535"),
	DONE(1, "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n", "",
	    V6SRC, V6DST),
	DONE(1, "PROXY TCP6 2001:DB8::A ::1 1 2\r\n", "",
	    "[2001:db8::a]:1", "[::1]:2"),
	DONE(1, "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.7 1 2\r\n", "",
	    "[::ffff:192.0.2.1]:1", "[::ffff:198.51.100.7]:2"),
	DONE(1, "PROXY TCP6 " FFFF8 " " FFFF8 " 65535 65535\r\n", "",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
	/* v1 UNKNOWN: what follows the name is ignored up to CRLF. */
	LOCAL(1, "PROXY UNKNOWN\r\n", ""),
	LOCAL(1, "PROXY UNKNOWN " FFFF8 " " FFFF8 " 65535 65535\r\n", ""),
	LOCAL(1, "PROXY UNKNOWN anything at all, even  two spaces\r\n", ""),
	LOCAL(1, "PROXY UNKNOWN " X90 "x\r\n", ""),	/* 107 bytes */
	/* v1 followed by the connection's own bytes. */
	DONE(1, "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", HTTP_REQ,
	    V4SRC, V4DST),
	DONE(1, "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n", TLS_HELLO,
	    V6SRC, V6DST),
	DONE(1, "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
	    "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n", V4SRC, V4DST),
	LOCAL(1, "PROXY UNKNOWN\r\n", "\r\n"),
	/* v1 malformed: spaces. */
	ERR("PROXY  TCP4 192.0.2.1 198.51.100.7 1 2\r\n", "two spaces"),
	ERR("PROXY TCP4  192.0.2.1 198.51.100.7 1 2\r\n", "two spaces"),
	ERR("PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n", "two spaces"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7  1 2\r\n", "two spaces"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1  2\r\n", "two spaces"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n", "after the last"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 \r\n", "space before"),
	ERR("PROXY\tTCP4 192.0.2.1 198.51.100.7 1 2\r\n", "not a PROXY"),
	/* v1 malformed: protocol. */
	ERR("PROXY TCP5 192.0.2.1 198.51.100.7 1 2\r\n", "protocol"),
	ERR("PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n", "protocol"),
	ERR("PROXY tcp4 192.0.2.1 198.51.100.7 1 2\r\n", "protocol"),
	ERR("PROXY TCP 192.0.2.1 198.51.100.7 1 2\r\n", "protocol"),
	ERR("PROXY TCP44 192.0.2.1 198.51.100.7 1 2\r\n", "protocol"),
	ERR("PROXY UNKNOWNX\r\n", "protocol"),
	ERR("PROXY UNKNOWN\n", "LF without CR"),
	ERR("PROXY TCP4\r\n", "ends after its protocol"),
	ERR("proxy TCP4 192.0.2.1 198.51.100.7 1 2\r\n", "not a PROXY"),
	/* v1 malformed: ports. */
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 99999\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 123456\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 +80 443\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 080 443\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 00 443\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 80 0x1bb\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 80 443x\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n", "before its last"),
	/* Refused as a port at "04", whatever comes after (fuzz). */
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 04 5\r\n", "port"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 04\r\n", "port"),
	/* v1 malformed: addresses. */
	ERR("PROXY TCP4 ::1 ::1 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 ::ffff:192.0.2.1 192.0.2.2 1 2\r\n", "IPv4"),
	ERR("PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n", "IPv6"),
	ERR("PROXY TCP4 01.0.2.1 198.51.100.7 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 192.0.2 198.51.100.7 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 256.0.2.1 198.51.100.7 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 192.0.2.1. 198.51.100.7 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 192.0.2.1 example.com 1 2\r\n", "IPv4"),
	ERR("PROXY TCP4 1921.168.100.200 198.51.100.7 1 2\r\n", "IPv4"),
	ERR("PROXY TCP6 2001:db8:::1 ::1 1 2\r\n", "IPv6"),
	ERR("PROXY TCP6 [::1] ::1 1 2\r\n", "IPv6"),
	ERR("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "IPv6"),
	ERR("PROXY TCP4 192.0.2.1\0 198.51.100.7 1 2\r\n", "IPv4"),
	/* v1 malformed: line ends. */
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n", "LF without CR"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\rX\n", "CR not followed"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\r\r\n", "CR not followed"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7\r\n", "before its last"),
	ERR("PROXY UNKNOWN\r\r\n", "CR not followed"),
	ERR("PROXY UNKNOWN x\ny\r\n", "LF without CR"),
	ERR("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 GET / HTTP/1.1\r\n",
	    "after the last"),
	/* Over 107 bytes: no CRLF where it must be. */
	ERR("PROXY UNKNOWN " X90 "xx\r\n", "107"),	/* 108 bytes */
	ERR("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n",
	    "107"),
	/* Prefixes of a v1 line are MORE, with or without a CR. */
	MORE("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443"),
	MORE("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r"),
	MORE("PROXY UNKNOWN " X90),
	MORE("P"),
	MORE(""),

	/* v2 PROXY over TCP. */
	DONE(2, SIG "\x21\x11\x00\x0c" V4ADDRS, "", V4SRC, V4DST),
	DONE(2, SIG "\x21\x21\x00\x24" V6ADDRS, "", V6SRC, V6DST),
	DONE(2, SIG "\x21\x21\x00\x24" V6MAPPED, "",
	    "[::ffff:192.0.2.1]:1", "[::ffff:198.51.100.7]:2"),
	/* v2 with TLVs: skipped, counted in pp_len. */
	DONE(2, SIG "\x21\x11\x00\x2d" V4ADDRS TLV_NOOP TLV_AWS, "",
	    V4SRC, V4DST),
	DONE(2, SIG "\x21\x21\x00\x2b" V6ADDRS TLV_CRC_V6, "", V6SRC, V6DST),
	DONE(2, SIG "\x21\x11\x00\x34" V4ADDRS TLV_NOOP TLV_CRC_V4 TLV_AWS,
	    HTTP_REQ, V4SRC, V4DST),
	DONE(2, SIG "\x21\x11\x00\x0f" V4ADDRS "\x04\x00\x00", "",
	    V4SRC, V4DST),
	DONE(2, SIG "\x21\x11\x00\x2d" V4ADDRS TLV_NOOP TLV_AWS, HTTP_REQ,
	    V4SRC, V4DST),
	/* v2 followed by the connection's own bytes. */
	DONE(2, SIG "\x21\x11\x00\x0c" V4ADDRS, HTTP_REQ, V4SRC, V4DST),
	DONE(2, SIG "\x21\x21\x00\x24" V6ADDRS, TLS_HELLO, V6SRC, V6DST),
	DONE(2, SIG "\x21\x11\x00\x0c" V4ADDRS,
	    SIG "\x21\x21\x00\x24" V6ADDRS, V4SRC, V4DST),
	/* v2 without addresses: LOCAL (any defined family, block unread),
	 * PROXY with UNSPEC. */
	LOCAL(2, SIG "\x20\x00\x00\x00", ""),
	LOCAL(2, SIG "\x20\x00\x00\x00", HTTP_REQ),
	LOCAL(2, SIG "\x20\x11\x00\x0c" V4ADDRS, ""),
	LOCAL(2, SIG "\x20\x11\x00\x00", ""),
	LOCAL(2, SIG "\x20\x12\x00\x03" "\xff\xff\xff", ""),
	LOCAL(2, SIG "\x20\x31\x00\x00", ""),
	LOCAL(2, SIG "\x20\x00\x00\x05" "\x04\x00\x09" "ab", ""),
	LOCAL(2, SIG "\x21\x00\x00\x00", ""),
	LOCAL(2, SIG "\x21\x00\x00\x0c" V4ADDRS, TLS_HELLO),
	/* v2 wrong version, command, family. */
	ERR(SIG "\x11\x11\x00\x0c" V4ADDRS, "version"),
	ERR(SIG "\x31\x11\x00\x0c" V4ADDRS, "version"),
	ERR(SIG "\x01\x11\x00\x0c" V4ADDRS, "version"),
	ERR(SIG "\x22\x11\x00\x0c" V4ADDRS, "command"),
	ERR(SIG "\x2f\x11\x00\x0c" V4ADDRS, "command"),
	ERR(SIG "\x21\x12\x00\x0c" V4ADDRS, "UDP"),
	ERR(SIG "\x21\x22\x00\x24" V6ADDRS, "UDP"),
	ERR(SIG "\x21\x31\x00\x00", "UNIX"),
	ERR(SIG "\x21\x32\x00\x00", "UNIX"),
	ERR(SIG "\x21\x13\x00\x0c" V4ADDRS, "undefined family"),
	ERR(SIG "\x21\x41\x00\x0c" V4ADDRS, "undefined family"),
	ERR(SIG "\x21\x10\x00\x0c" V4ADDRS, "undefined family"),
	ERR(SIG "\x21\x01\x00\x0c" V4ADDRS, "undefined family"),
	ERR(SIG "\x20\xff\x00\x00", "undefined family"),
	/* v2 lengths. */
	ERR(SIG "\x21\x11\x00\x0b" "\xc0\x00\x02\x01\xc6\x33\x64\x07\xdc\x04\x01",
	    "too short"),
	ERR(SIG "\x21\x11\x00\x00", "too short"),
	ERR(SIG "\x21\x21\x00\x0c" V4ADDRS, "too short"),
	ERR(SIG "\x21\x11\x0f\xf1", "oversize"),
	ERR(SIG "\x21\x11\xff\xff", "oversize"),
	ERR(SIG "\x20\x00\xff\xff", "oversize"),
	/* A CRC32C that does not match, one of the wrong size, two. */
	ERR(SIG "\x21\x21\x00\x2b" V6ADDRS TLV_CRC_BAD, "does not match"),
	ERR(SIG "\x21\x11\x00\x34" V4ADDRS TLV_NOOP TLV_CRC_V6 TLV_AWS,
	    "does not match"),
	ERR(SIG "\x21\x11\x00\x14" V4ADDRS "\x03\x00\x05" "abcde",
	    "malformed CRC32C"),
	ERR(SIG "\x21\x21\x00\x32" V6ADDRS TLV_CRC_V6 TLV_CRC_V6,
	    "malformed CRC32C"),
	ERR(SIG "\x21\x11\x00\x0e" V4ADDRS "\x04\x00", "TLV cut short"),
	ERR(SIG "\x21\x11\x00\x0d" V4ADDRS "\x04", "TLV cut short"),
	ERR(SIG "\x21\x11\x00\x10" V4ADDRS "\x04\x00\x05" "a", "TLV longer"),
	ERR(SIG "\x21\x11\x00\x17" V4ADDRS TLV_NOOP "\x04\x00\x00" "\x04",
	    "TLV cut short"),
	/* Prefixes of v2. */
	MORE(SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01"),
	MORE(SIG "\x21\x11\x00\x2d" V4ADDRS TLV_NOOP),
	MORE(SIG "\x20\x00\x00\x05" "\x04"),
	MORE(SIG),
	MORE("\r\n\r\n\0"),

	/* Not a header at all. */
	ERR(HTTP_REQ, "not a PROXY"),
	ERR(TLS_HELLO, "not a PROXY"),
	ERR("SSH-2.0-OpenSSH_9.6\r\n", "not a PROXY"),
	ERR("CONNECT example.com:443 HTTP/1.1\r\n\r\n", "not a PROXY"),
	ERR("\r\n\r\n\r\n", "not a PROXY"),
	ERR("\0", "not a PROXY"),
};

#define NELEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Parse an exactly-sized heap copy, so that an ASan build sees any read
 * past `len`. */
static enum proxyproto_status
parse(const void *buf, size_t len, struct proxyproto *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum proxyproto_status st;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	st = proxyproto_parse(len > 0 ? copy : NULL, len, out);
	free(copy);
	return st;
}

/* "ADDR:PORT" or "[V6]:PORT" of a sockaddr the parser filled; "" for
 * AF_UNSPEC and "?" for anything else. */
static const char *
sa_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, (unsigned)ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a,
		    (unsigned)ntohs(sin6->sin6_port));
	} else
		snprintf(buf, size, ss->ss_family == AF_UNSPEC ? "" : "?");
	return buf;
}

static const char *
status_name(enum proxyproto_status st)
{
	switch (st) {
	case PROXYPROTO_MORE: return "MORE";
	case PROXYPROTO_DONE: return "DONE";
	case PROXYPROTO_ERROR: return "ERROR";
	}
	return "?";
}

/* What proxyproto.h promises of `out` beside the row's own expectations:
 * zeroed unless DONE but for pp_error, which is set exactly on ERROR. */
static bool
out_is_clean(enum proxyproto_status st, const struct proxyproto *out)
{
	struct proxyproto zero;

	if ((st == PROXYPROTO_ERROR) != (out->pp_error != NULL))
		return false;
	if (st == PROXYPROTO_DONE)
		return true;
	memset(&zero, 0, sizeof(zero));
	zero.pp_error = out->pp_error;
	return memcmp(&zero, out, sizeof(zero)) == 0;
}

/* One row against one answer; prints and returns false when they differ. */
static bool
check_row(size_t i, const struct parse_case *t, enum proxyproto_status st,
    const struct proxyproto *pp)
{
	char src[80], dst[80];

	sa_text(&pp->pp_src, src, sizeof(src));
	sa_text(&pp->pp_dst, dst, sizeof(dst));
	if (st == t->st && out_is_clean(st, pp) &&
	    (st != PROXYPROTO_ERROR || strstr(pp->pp_error, t->why)) &&
	    (st != PROXYPROTO_DONE || (pp->pp_len == t->pp_len &&
	    pp->pp_local == t->local && pp->pp_version == t->version &&
	    strcmp(src, t->src ? t->src : "") == 0 &&
	    strcmp(dst, t->dst ? t->dst : "") == 0)))
		return true;
	print_error("row %zu: \"%s\" (%zu bytes)\n", i, show(t->in, t->len),
	    t->len);
	print_error("  got %s src '%s' dst '%s' len %zu local %d v%d (%s)\n",
	    status_name(st), src, dst, pp->pp_len, pp->pp_local,
	    pp->pp_version, pp->pp_error ? pp->pp_error : "-");
	print_error("  expected %s src '%s' dst '%s' len %zu local %d v%d "
	    "(%s)\n", status_name(t->st), t->src ? t->src : "",
	    t->dst ? t->dst : "", t->pp_len, t->local, t->version,
	    t->why ? t->why : "-");
	return false;
}

static void
test_proxyproto_parse(void **state)
{
	struct proxyproto pp;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEMS(parse_cases); i++) {
		const struct parse_case *t = &parse_cases[i];

		if (!check_row(i, t, parse(t->in, t->len, &pp), &pp))
			bad++;
	}
	if (bad > 0)
		fail_msg("%d of %zu proxyproto_parse cases failed", bad,
		    NELEMS(parse_cases));
}

/* Every header is MORE at each of its proper prefixes (a load balancer's
 * header split at any byte), the same header once it is all in, and the
 * same with bytes appended. An ERROR stays the same ERROR when appended
 * to, and its reason is the one given at the first prefix refused: what a
 * log says does not depend on how the bytes were cut. */
static void
test_proxyproto_prefixes(void **state)
{
	static const char tail[] = "\x16\x03\x01 GET / PROXY TCP4\r\n";
	struct proxyproto pp, whole;
	enum proxyproto_status st;
	char more[256];
	size_t i, n;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEMS(parse_cases); i++) {
		const struct parse_case *t = &parse_cases[i];

		for (n = 0; t->st == PROXYPROTO_DONE && n < t->pp_len; n++) {
			st = parse(t->in, n, &pp);
			if (st != PROXYPROTO_MORE || !out_is_clean(st, &pp)) {
				print_error("row %zu: %zu of %zu bytes: %s "
				    "(%s)\n", i, n, t->pp_len, status_name(st),
				    pp.pp_error ? pp.pp_error : "-");
				bad++;
			}
		}
		if (t->st == PROXYPROTO_DONE &&
		    !check_row(i, t, parse(t->in, t->pp_len, &pp), &pp))
			bad++;
		if (t->st == PROXYPROTO_MORE)
			continue;
		for (n = 0; t->st == PROXYPROTO_ERROR && n <= t->len; n++)
			if (parse(t->in, n, &pp) == PROXYPROTO_ERROR)
				break;
		if (t->st == PROXYPROTO_ERROR && (n > t->len ||
		    parse(t->in, t->len, &whole) != PROXYPROTO_ERROR ||
		    strcmp(pp.pp_error, whole.pp_error) != 0)) {
			print_error("row %zu: refused at %zu bytes (%s), "
			    "whole: %s\n", i, n, pp.pp_error ? pp.pp_error :
			    "-", whole.pp_error ? whole.pp_error : "-");
			bad++;
		}
		assert_true(t->len + sizeof(tail) <= sizeof(more));
		memcpy(more, t->in, t->len);
		memcpy(more + t->len, tail, sizeof(tail));
		if (!check_row(i, t, parse(more, t->len + sizeof(tail), &pp),
		    &pp))
			bad++;
	}
	if (bad > 0)
		fail_msg("%d prefix or append checks failed", bad);
}

/* Bytes that are not a PROXY header, and the byte count at which that is
 * known: every shorter prefix is MORE, this one is ERROR. */
struct early_case {
	const char	*in;
	size_t		 len;
	size_t		 at;
};

#define EARLY(s, n)	{ B(s), n }

static const struct early_case early_cases[] = {
	EARLY("GET / HTTP/1.1\r\n", 1),
	EARLY("CONNECT example.com:443 HTTP/1.1\r\n", 1),
	EARLY("\x16\x03\x01\x02\x00", 1),
	EARLY("\x16\x03", 1),
	EARLY("SSH-2.0-OpenSSH_9.6\r\n", 1),
	EARLY("\x05\x01\x00", 1),		/* SOCKS5 */
	EARLY("\n", 1),
	EARLY("POST / HTTP/1.1\r\n", 2),
	EARLY("PUT / HTTP/1.1\r\n", 2),
	EARLY("PATCH / HTTP/1.1\r\n", 2),
	EARLY("PRI * HTTP/2.0\r\n", 3),
	EARLY("PROPFIND / HTTP/1.1\r\n", 4),
	EARLY("PROXZ", 5),
	EARLY("PROXY\r\n", 6),
	EARLY("PROXY TCP5 ", 10),
	EARLY("PROXY TCP4  ", 12),
	EARLY("PROXY GET / HTTP/1.1\r\n", 7),
	EARLY("PROXY TCP4 ::1", 12),
	EARLY("PROXY TCP4 1.2.3.4 5.6.7.8 65536", 32),
	EARLY("PROXY TCP4 1.2.3.4 5.6.7.8 1 04", 31),
	EARLY("\r\r", 2),
	EARLY("\r\n\r\n\r", 5),
	EARLY("\r\n\r\n\0\r\nQUIT\r", 12),
	EARLY(SIG "\x31", 13),
	EARLY(SIG "\x25", 13),
	EARLY(SIG "\x21\x12", 14),
	EARLY(SIG "\x21\x11\x10\x00", 16),	/* before its bytes arrive */
	EARLY(SIG "\x21\x21\x00\x0c", 16),
};

static void
test_proxyproto_early(void **state)
{
	struct proxyproto pp;
	enum proxyproto_status st;
	size_t i, n;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEMS(early_cases); i++) {
		const struct early_case *t = &early_cases[i];

		for (n = 0; n <= t->len; n++) {
			st = parse(t->in, n, &pp);
			if (st == (n < t->at ? PROXYPROTO_MORE :
			    PROXYPROTO_ERROR) && out_is_clean(st, &pp))
				continue;
			print_error("row %zu: \"%s\": %zu bytes: %s (%s), "
			    "ERROR expected from %zu\n", i, show(t->in, t->len),
			    n, status_name(st), pp.pp_error ? pp.pp_error : "-",
			    t->at);
			bad++;
		}
	}
	/* Each signature byte, and each of "PROXY ", flipped: ERROR there. */
	for (i = 0; i < 12 + 6; i++) {
		char b[12];
		const char *base = i < 12 ? SIG : "PROXY ";
		size_t k = i < 12 ? i : i - 12;

		memcpy(b, base, k + 1);
		b[k] ^= 0x20;
		if (parse(b, k, &pp) != PROXYPROTO_MORE ||
		    parse(b, k + 1, &pp) != PROXYPROTO_ERROR) {
			print_error("%s byte %zu flipped: not refused there\n",
			    i < 12 ? "signature" : "\"PROXY \"", k);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d early-refusal checks failed", bad);
}

/* PROXYPROTO_MAX is the bound both ways: a v2 header of exactly that many
 * bytes is MORE one byte short and DONE at it, one byte longer is refused
 * from its length field; a v1 line is refused at 107 bytes without CRLF;
 * and no input of PROXYPROTO_MAX bytes is MORE. */
static void
test_proxyproto_bound(void **state)
{
	static const char *const starts[] = { "PROXY ", "PROXY UNKNOWN ",
		"PROXY TCP4 ", "PROXY TCP6 ", "PROXY TCP4 1.1.1.1 1.1.1.1 1 ",
		"PROXY TCP6 ::1 ::1 ", "PROXY TCP6 ::1 ::1 1 2" };
	static uint8_t b[PROXYPROTO_MAX + 64];
	size_t blen = PROXYPROTO_MAX - PROXYPROTO_V2_FIXED, i;
	struct proxyproto pp;

	(void)state;
	memcpy(b, SIG "\x21\x11", 14);
	b[14] = (uint8_t)(blen >> 8);
	b[15] = (uint8_t)blen;
	memcpy(b + 16, V4ADDRS, 12);
	/* One NOOP TLV fills the rest of the block. */
	b[28] = 0x04;
	b[29] = (uint8_t)((blen - 12 - 3) >> 8);
	b[30] = (uint8_t)(blen - 12 - 3);
	memset(b + 31, 'n', blen - 12 - 3);
	assert_int_equal(parse(b, PROXYPROTO_MAX - 1, &pp), PROXYPROTO_MORE);
	assert_int_equal(parse(b, PROXYPROTO_MAX, &pp), PROXYPROTO_DONE);
	assert_int_equal(pp.pp_len, PROXYPROTO_MAX);
	assert_int_equal(parse(b, sizeof(b), &pp), PROXYPROTO_DONE);
	assert_int_equal(pp.pp_len, PROXYPROTO_MAX);
	blen++;
	b[14] = (uint8_t)(blen >> 8);
	b[15] = (uint8_t)blen;
	assert_int_equal(parse(b, 16, &pp), PROXYPROTO_ERROR);
	assert_non_null(strstr(pp.pp_error, "oversize"));

	memset(b, ' ', sizeof(b));
	memcpy(b, "PROXY UNKNOWN", 13);
	assert_int_equal(parse(b, PROXYPROTO_V1_MAX - 1, &pp),
	    PROXYPROTO_MORE);
	assert_int_equal(parse(b, PROXYPROTO_V1_MAX, &pp), PROXYPROTO_ERROR);
	/* Whatever byte a v1 line goes on with, in whichever field, it is
	 * decided by PROXYPROTO_MAX bytes. */
	for (i = 0; i < 256 * NELEMS(starts); i++) {
		memset(b, (int)(i % 256), sizeof(b));
		memcpy(b, starts[i / 256], strlen(starts[i / 256]));
		if (parse(b, PROXYPROTO_MAX, &pp) == PROXYPROTO_MORE)
			fail_msg("MORE with %d bytes: \"%s\" then 0x%02zx",
			    PROXYPROTO_MAX, starts[i / 256], i % 256);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxyproto_parse),
		cmocka_unit_test(test_proxyproto_prefixes),
		cmocka_unit_test(test_proxyproto_early),
		cmocka_unit_test(test_proxyproto_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
