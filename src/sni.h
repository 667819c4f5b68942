/* SPDX-License-Identifier: MIT */
/* The TLS ClientHello a client sends first into a CONNECT tunnel, parsed for
 * its server_name (SNI), so that the proxy can check that the name the client
 * asks the origin for is the host it asked the proxy for (anti domain
 * fronting). No I/O and no state between calls: the caller keeps the client's
 * bytes in its own buffer and parses again from the start whenever more have
 * arrived, so unit tests and the fuzzer feed it bytes. */
#ifndef SLUICE_SNI_H
#define SLUICE_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest ClientHello handshake message accepted, its 4-byte header
 * included. Hellos with post-quantum key shares (X25519MLKEM768) are about
 * 1.8 KiB, a hello with many PSK identities a few KiB. */
#define SNI_MAX_HELLO	16384
/* The parser never reads at or past byte SNI_MAX_INPUT of the buffer, and
 * never answers SNI_MORE once the buffer holds that many bytes: a buffer of
 * SNI_MAX_INPUT bytes is always enough. It leaves room for SNI_MAX_HELLO
 * bytes of hello in records of 6 bytes or more; a hello whose record headers
 * push its end past this is SNI_TOO_LARGE. */
#define SNI_MAX_INPUT	(2 * SNI_MAX_HELLO)
/* The longest name kept, trailing dot stripped (a DNS name has 253). */
#define SNI_NAME_MAX	255

enum sni_status {
	SNI_MORE = 0,		/* a prefix of a ClientHello so far: need more */
	SNI_OK = 1,		/* a complete ClientHello; see struct sni_hello */
	SNI_NOT_TLS = 2,	/* the first record is not a TLS handshake
				 * record or does not start a ClientHello */
	SNI_TOO_LARGE = 3,	/* over SNI_MAX_HELLO or SNI_MAX_INPUT */
	SNI_BAD = 4,		/* a malformed ClientHello or record */
};

struct sni_hello {
	/* host_name of the server_name extension: lower-case, trailing dot
	 * stripped, only [a-z0-9._-], labels of 1-63 bytes; "" without. */
	char		 sh_name[SNI_NAME_MAX + 1];
	bool		 sh_has_sni;	/* a host_name was sent */
	bool		 sh_has_ech;	/* encrypted_client_hello (0xfe0d) sent */
	uint16_t	 sh_version;	/* the hello's legacy_version (0x0303) */
	uint32_t	 sh_hello_len;	/* handshake message, header included */
	uint32_t	 sh_consumed;	/* buffer bytes up to the hello's last */
	const char	*sh_why;	/* static reason unless SNI_OK/SNI_MORE */
};

/* Parse the first `len` bytes a client sent (`buf` may be NULL when `len` is
 * 0). Returns an sni_status; fills `out` on SNI_OK and zeroes it otherwise,
 * except for sh_why, a static sentence saying what was wrong with
 * SNI_NOT_TLS, SNI_TOO_LARGE and SNI_BAD.
 *
 * The ClientHello may be split over any number of TLS records (even its
 * 4-byte handshake header), each of 1 to 16384 bytes. Only bytes up to the
 * hello's last are read: what follows (the rest of its last record, early
 * data) is the caller's to forward, and any answer but SNI_MORE stays the
 * same however many bytes are appended. Each check is made as soon as its
 * bytes are in, so a client that is not speaking TLS is SNI_NOT_TLS after
 * its first byte, and an announced hello over SNI_MAX_HELLO is
 * SNI_TOO_LARGE after its handshake header.
 *
 * SNI_NOT_TLS is only about the first record: a first byte that is not 22
 * (so an alert or application data record first, HTTP, an SSH banner, an
 * SSLv2 hello), a record version outside 0x0301-0x0304, or a first
 * handshake message that is not client_hello. Anything wrong after that is
 * SNI_BAD: an empty record, one over 16384 bytes, a record that is not a
 * handshake (change_cipher_spec, alert, application data) or has another
 * version before the hello is complete, lengths inside the hello that do
 * not add up, bytes after its extensions, a server_name extension that is
 * empty, has inner lengths that do not add up, or holds an entry of another
 * type than host_name or two host_names; two server_name or two
 * encrypted_client_hello extensions; a host_name that is empty, over
 * SNI_NAME_MAX bytes or not a DNS name (bytes other than [A-Za-z0-9._-],
 * an empty label, a label over 63 bytes).
 *
 * SNI_OK with sh_has_sni false means the client sent no server_name
 * extension.
 * sh_has_ech true means the name may be the public name of an ECH
 * configuration and the name the client wants encrypted — or a GREASE
 * extension: Chrome sends one with every hello, indistinguishable on purpose.
 * Only the first ClientHello is seen: one sent again after a
 * HelloRetryRequest is not. */
enum sni_status sni_parse(const unsigned char *buf, size_t len,
    struct sni_hello *out);

/* True when `h` holds a host_name equal to `host`, the CONNECT target's host
 * without its port, compared ignoring ASCII case and one trailing dot of
 * `host` (h's name has none). False without a host_name, so a client that
 * sent none never matches: whether that is allowed is the caller's policy.
 * Clients send no SNI for an IP literal (RFC 6066), so a CONNECT to an
 * address usually comes with sh_has_sni false. */
bool sni_matches(const struct sni_hello *h, const char *host);

#endif
