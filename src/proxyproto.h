/* SPDX-License-Identifier: MIT */
/* The PROXY protocol header (HAProxy's, versions 1 and 2) that a load
 * balancer sends before a connection's own bytes to say whose connection it
 * relays. No I/O and no state between calls: the caller keeps the bytes and
 * parses again from the start whenever more have arrived, as with sni.h. */
#ifndef SLUICE_PROXYPROTO_H
#define SLUICE_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest v1 line, CRLF included: "PROXY UNKNOWN" with two full IPv6
 * addresses and two 5-digit ports (the spec's own bound). */
#define PROXYPROTO_V1_MAX	107
/* A v2 header's fixed part: signature, version/command, family, length. */
#define PROXYPROTO_V2_FIXED	16
/* The largest header accepted, v2's fixed part included, and the most bytes
 * a caller ever needs to buffer: the parser never answers PROXYPROTO_MORE
 * once it holds this many. HAProxy with every TLV it can send (SSL with
 * CN, cipher and algorithms, AUTHORITY, UNIQUE_ID, ALPN, NETNS, CRC32C) is
 * about 650 bytes, AWS, Azure and GCP endpoint ids add tens; custom TLVs
 * can be anything. 4096 is nginx's cap, so a load balancer nginx accepts is
 * accepted here, and costs 4 KiB at most only while the header is read. */
#define PROXYPROTO_MAX		4096

enum proxyproto_status {
	PROXYPROTO_MORE = 0,	/* a proper prefix of a header so far */
	PROXYPROTO_DONE = 1,	/* a complete header; see struct proxyproto */
	PROXYPROTO_ERROR = 2,	/* not a header, or a malformed one */
};

struct proxyproto {
	/* No address carried: v2 LOCAL (a load balancer's own connection,
	 * health checks), v2 PROXY with family UNSPEC, or v1 UNKNOWN. The
	 * caller uses the socket's own addresses; pp_src and pp_dst are
	 * zero (AF_UNSPEC). */
	bool			 pp_local;
	/* The client as the load balancer saw it: AF_INET or AF_INET6,
	 * address and port set, as a sockaddr_in/sockaddr_in6. IPv4-mapped
	 * IPv6 addresses stay AF_INET6 (the caller unmaps). */
	struct sockaddr_storage	 pp_src;
	/* The address the client connected to, in the same family. */
	struct sockaddr_storage	 pp_dst;
	/* Bytes the header took (TLVs included): the connection's own data
	 * starts at this offset and is the caller's to handle. */
	size_t			 pp_len;
	int			 pp_version;	/* 1 or 2 */
	const char		*pp_error;	/* static reason when ERROR */
};

/* Parse the first `len` bytes of a connection (`buf` may be NULL when `len`
 * is 0). Returns PROXYPROTO_DONE with `out` filled; PROXYPROTO_MORE when
 * the bytes are a proper prefix of a header (read more and call again with
 * all of them; never MORE once len >= PROXYPROTO_MAX); PROXYPROTO_ERROR
 * when they cannot become one. `out` is zeroed unless DONE, except
 * pp_error: a static sentence on ERROR, NULL otherwise. Pure: no
 * allocation, no I/O, no read past `len`; any answer but MORE stays the
 * same however many bytes are appended, and bytes after the header are
 * never read.
 *
 * The header is mandatory where this is used, so anything else is ERROR as
 * soon as a byte differs from both the v1 prefix "PROXY " and the v2
 * signature: HTTP ("GET ") and TLS (0x16) at the first byte, "POST"/"PUT"
 * at the second, "PRI " at the third.
 *
 * v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", strictly: single spaces,
 * addresses as inet_pton reads them in the named family (so TCP4 with an
 * IPv6 address is ERROR, and so are leading zeros in IPv4), ports 0-65535
 * in decimal without a sign or leading zero, CRLF within 107 bytes (a lone
 * CR or LF is ERROR). "PROXY UNKNOWN" and anything up to CRLF is pp_local.
 *
 * v2: the 12-byte signature, version 2, command LOCAL (pp_local, whatever
 * the family) or PROXY. With PROXY: TCP over IPv4 (0x11) or IPv6 (0x21)
 * gives the addresses, which the block must hold (12 or 36 bytes); UNSPEC
 * (0x00) is pp_local; UDP and UNIX (0x12, 0x22, 0x31, 0x32) are ERROR, as
 * sluice relays only TCP. Any other family byte, version or command is
 * ERROR, as is a header over PROXYPROTO_MAX (decided from its length
 * field, before its bytes arrive). The TLVs after the addresses must fill
 * the block exactly (type, 2-byte length, value); of them only a CRC32C
 * (type 0x03) is interpreted: it must be 4 bytes, at most one, and match
 * the header's CRC-32C computed with its value zeroed, or the header is
 * ERROR. With pp_local the block is skipped unread. */
enum proxyproto_status proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto *out);

#endif
