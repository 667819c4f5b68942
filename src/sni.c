/* SPDX-License-Identifier: MIT */
/* The ClientHello parser behind the SNI check (sni.h). Two passes over the
 * caller's bytes: the first walks the TLS records, checking each byte of
 * framing as soon as it is in, until the handshake message is complete; the
 * second reads the hello through those records without copying it, with
 * every length checked against the vector that encloses it. Attacker-
 * controlled input throughout: no byte is read before its index is known to
 * lie inside both the buffer and the enclosing length. */
#include <string.h>
#include <strings.h>

#include "sni.h"

#define SNI_RECORD_HEADER	5
#define SNI_RECORD_MAX		16384	/* TLSPlaintext.length, RFC 8446 */
#define SNI_HS_HEADER		4
#define SNI_RANDOM		32
#define SNI_SESSION_ID_MAX	32
#define SNI_LABEL_MAX		63

#define SNI_CT_HANDSHAKE	22
#define SNI_HS_CLIENT_HELLO	1
#define SNI_EXT_SERVER_NAME	0x0000
#define SNI_EXT_ECH		0xfe0d
#define SNI_NAME_HOST		0

/* Reads the handshake message through its records. The first pass has
 * checked every record header up to the hello's last byte, so the reader
 * only steps over them; its users check rd_off against the end of the
 * enclosing vector, never past the hello's length. */
struct sni_rd {
	const unsigned char	*rd_buf;
	size_t			 rd_pos;	/* next byte in rd_buf */
	size_t			 rd_left;	/* bytes left in this record */
	size_t			 rd_off;	/* handshake bytes read */
};

static enum sni_status
sni_fail(struct sni_hello *out, enum sni_status st, const char *why)
{
	out->sh_why = why;
	return st;
}

/* Whether byte `i` of the buffer may be read now (SNI_OK), may come later
 * (SNI_MORE), or lies past SNI_MAX_INPUT (SNI_TOO_LARGE). */
static enum sni_status
sni_need(size_t len, size_t i, struct sni_hello *out)
{
	if (i >= SNI_MAX_INPUT)
		return sni_fail(out, SNI_TOO_LARGE,
		    "the ClientHello's records go past the input limit");
	return i < len ? SNI_OK : SNI_MORE;
}

/* Check the record header at `pos` byte by byte, as far as the buffer goes.
 * Mistakes in the first record's header mean "not TLS"; in a later one they
 * mean a bad hello. Sets *rlen to the record's length. */
static enum sni_status
sni_record(const unsigned char *buf, size_t len, size_t pos, size_t *rlen,
    struct sni_hello *out)
{
	enum sni_status wrong = pos == 0 ? SNI_NOT_TLS : SNI_BAD;
	enum sni_status st;
	size_t i;

	for (i = 0; i < SNI_RECORD_HEADER; i++) {
		if ((st = sni_need(len, pos + i, out)) != SNI_OK)
			return st;
		if (i == 0 && buf[pos] != SNI_CT_HANDSHAKE)
			return sni_fail(out, wrong, pos == 0 ?
			    "not a TLS handshake record" :
			    "a record that is not a handshake record "
			    "before the ClientHello is complete");
		if ((i == 1 && buf[pos + 1] != 3) ||
		    (i == 2 && (buf[pos + 2] < 1 || buf[pos + 2] > 4)))
			return sni_fail(out, wrong,
			    "a record version other than TLS 1.0-1.3");
	}
	*rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
	if (*rlen == 0)
		return sni_fail(out, SNI_BAD, "an empty TLS record");
	if (*rlen > SNI_RECORD_MAX)
		return sni_fail(out, SNI_BAD, "a TLS record over 16384 bytes");
	return SNI_OK;
}

/* Byte `i` of the handshake header is `c`: the message type, then its
 * length. Sets *total to the message's length once the header is in. */
static enum sni_status
sni_hs_header(unsigned char c, size_t i, size_t *total, struct sni_hello *out)
{
	if (i == 0) {
		if (c != SNI_HS_CLIENT_HELLO)
			return sni_fail(out, SNI_NOT_TLS,
			    "the first handshake message is not a ClientHello");
		*total = 0;
		return SNI_OK;
	}
	*total = *total << 8 | c;
	if (i == SNI_HS_HEADER - 1) {
		if (*total > SNI_MAX_HELLO - SNI_HS_HEADER)
			return sni_fail(out, SNI_TOO_LARGE,
			    "a ClientHello over 16384 bytes");
		*total += SNI_HS_HEADER;
	}
	return SNI_OK;
}

/* First pass: walk the records until they hold the whole handshake message.
 * Fills sh_hello_len and sh_consumed on SNI_OK. */
static enum sni_status
sni_frame(const unsigned char *buf, size_t len, struct sni_hello *out)
{
	size_t pos = 0, rlen, hs = 0, total = 0, take;
	enum sni_status st;

	while (hs < SNI_HS_HEADER || hs < total) {
		if ((st = sni_record(buf, len, pos, &rlen, out)) != SNI_OK)
			return st;
		pos += SNI_RECORD_HEADER;
		for (; rlen > 0 && hs < SNI_HS_HEADER; rlen--, pos++, hs++) {
			if ((st = sni_need(len, pos, out)) != SNI_OK ||
			    (st = sni_hs_header(buf[pos], hs, &total, out)) !=
			    SNI_OK)
				return st;
		}
		/* Until the header is in, rlen is 0 here (and total only
		 * part of a length). */
		if (rlen == 0 || hs == total)
			continue;
		take = total - hs < rlen ? total - hs : rlen;
		if ((st = sni_need(len, pos + take - 1, out)) != SNI_OK)
			return st;
		pos += take;
		hs += take;
	}
	out->sh_hello_len = (uint32_t)total;
	out->sh_consumed = (uint32_t)pos;
	return SNI_OK;
}

/* Step over the next record header when this record's bytes are used up. */
static void
sni_rd_record(struct sni_rd *rd)
{
	if (rd->rd_left > 0)
		return;
	rd->rd_left = (size_t)rd->rd_buf[rd->rd_pos + 3] << 8 |
	    rd->rd_buf[rd->rd_pos + 4];
	rd->rd_pos += SNI_RECORD_HEADER;
}

static unsigned char
sni_rd_byte(struct sni_rd *rd)
{
	sni_rd_record(rd);
	rd->rd_left--;
	rd->rd_off++;
	return rd->rd_buf[rd->rd_pos++];
}

/* Read an `n`-byte big-endian integer (n <= 3) ending at or before `end`.
 * Returns 0, or -1 when it would cross `end`. */
static int
sni_rd_int(struct sni_rd *rd, size_t end, size_t n, size_t *v)
{
	if (n > end - rd->rd_off)
		return -1;
	for (*v = 0; n > 0; n--)
		*v = *v << 8 | sni_rd_byte(rd);
	return 0;
}

/* Skip `n` bytes ending at or before `end`: 0, or -1 when they cross it. */
static int
sni_rd_skip(struct sni_rd *rd, size_t end, size_t n)
{
	size_t take;

	if (n > end - rd->rd_off)
		return -1;
	while (n > 0) {
		sni_rd_record(rd);
		take = n < rd->rd_left ? n : rd->rd_left;
		rd->rd_pos += take;
		rd->rd_left -= take;
		rd->rd_off += take;
		n -= take;
	}
	return 0;
}

/* Read a vector's length of `n` bytes and set *vend to where it ends, which
 * must be at or before `end`. Returns 0 or -1. */
static int
sni_rd_vec(struct sni_rd *rd, size_t end, size_t n, size_t *vend)
{
	size_t vlen;

	if (sni_rd_int(rd, end, n, &vlen) == -1 || vlen > end - rd->rd_off)
		return -1;
	*vend = rd->rd_off + vlen;
	return 0;
}

/* The `nlen` bytes of a host_name (nlen fits in the server_name entry):
 * lower-cased into sh_name, one trailing dot dropped. */
static enum sni_status
sni_name(struct sni_rd *rd, size_t nlen, struct sni_hello *out)
{
	char *name = out->sh_name;
	size_t i, label = 0;
	unsigned char c;

	if (nlen == 0)
		return sni_fail(out, SNI_BAD, "an empty host_name");
	if (nlen > SNI_NAME_MAX + 1)
		return sni_fail(out, SNI_BAD, "a host_name over 255 bytes");
	for (i = 0; i < nlen; i++) {
		c = sni_rd_byte(rd);
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0)
				return sni_fail(out, SNI_BAD,
				    "a host_name with an empty label");
			label = 0;
		} else if (!((c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return sni_fail(out, SNI_BAD,
			    "a host_name with a byte not allowed in a DNS name");
		else if (++label > SNI_LABEL_MAX)
			return sni_fail(out, SNI_BAD,
			    "a host_name with a label over 63 bytes");
		name[i] = (char)c;
	}
	if (name[nlen - 1] == '.')
		nlen--;
	if (nlen > SNI_NAME_MAX)
		return sni_fail(out, SNI_BAD, "a host_name over 255 bytes");
	name[nlen] = '\0';
	out->sh_has_sni = true;
	return SNI_OK;
}

/* The server_name extension's data, ending at `end` (RFC 6066): a non-empty
 * list of entries, each a type and a 2-byte length. Only host_name is
 * defined, and only one of it allowed; like OpenSSL, refuse any other type
 * rather than step over a name an origin might read some other way. */
static enum sni_status
sni_server_name(struct sni_rd *rd, size_t end, struct sni_hello *out)
{
	size_t lend, type, nend;
	enum sni_status st;

	if (sni_rd_vec(rd, end, 2, &lend) == -1 || lend != end ||
	    lend == rd->rd_off)
		return sni_fail(out, SNI_BAD,
		    "a server_name list whose length does not fit");
	while (rd->rd_off < end) {
		if (sni_rd_int(rd, end, 1, &type) == -1 ||
		    sni_rd_vec(rd, end, 2, &nend) == -1)
			return sni_fail(out, SNI_BAD,
			    "a server_name entry whose length does not fit");
		if (type != SNI_NAME_HOST)
			return sni_fail(out, SNI_BAD,
			    "a server_name entry that is not a host_name");
		if (out->sh_has_sni)
			return sni_fail(out, SNI_BAD, "two host_names");
		if ((st = sni_name(rd, nend - rd->rd_off, out)) != SNI_OK)
			return st;
	}
	return SNI_OK;
}

/* The extensions block: its entries fill it exactly, up to `end`. */
static enum sni_status
sni_extensions(struct sni_rd *rd, size_t end, struct sni_hello *out)
{
	size_t type, eend;
	bool server_name = false;
	enum sni_status st;

	while (rd->rd_off < end) {
		if (sni_rd_int(rd, end, 2, &type) == -1 ||
		    sni_rd_vec(rd, end, 2, &eend) == -1)
			return sni_fail(out, SNI_BAD,
			    "an extension whose length does not fit");
		if (type == SNI_EXT_SERVER_NAME) {
			if (server_name)
				return sni_fail(out, SNI_BAD,
				    "two server_name extensions");
			server_name = true;
			if ((st = sni_server_name(rd, eend, out)) != SNI_OK)
				return st;
			continue;
		}
		if (type == SNI_EXT_ECH) {
			if (out->sh_has_ech)
				return sni_fail(out, SNI_BAD,
				    "two encrypted_client_hello extensions");
			out->sh_has_ech = true;
		}
		(void)sni_rd_skip(rd, eend, eend - rd->rd_off);
	}
	return SNI_OK;
}

/* Second pass: the ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2), whose
 * handshake message is `end` bytes long. */
static enum sni_status
sni_hello(struct sni_rd *rd, size_t end, struct sni_hello *out)
{
	size_t v, vend;

	if (sni_rd_skip(rd, end, SNI_HS_HEADER) == -1 ||
	    sni_rd_int(rd, end, 2, &v) == -1 ||
	    sni_rd_skip(rd, end, SNI_RANDOM) == -1)
		return sni_fail(out, SNI_BAD, "a ClientHello cut short");
	out->sh_version = (uint16_t)v;
	if (sni_rd_vec(rd, end, 1, &vend) == -1 ||
	    vend - rd->rd_off > SNI_SESSION_ID_MAX ||
	    sni_rd_skip(rd, vend, vend - rd->rd_off) == -1)
		return sni_fail(out, SNI_BAD, "a bad legacy_session_id");
	if (sni_rd_vec(rd, end, 2, &vend) == -1 || vend == rd->rd_off ||
	    (vend - rd->rd_off) % 2 != 0 ||
	    sni_rd_skip(rd, vend, vend - rd->rd_off) == -1)
		return sni_fail(out, SNI_BAD, "a bad cipher_suites list");
	if (sni_rd_vec(rd, end, 1, &vend) == -1 || vend == rd->rd_off ||
	    sni_rd_skip(rd, vend, vend - rd->rd_off) == -1)
		return sni_fail(out, SNI_BAD,
		    "a bad legacy_compression_methods list");
	if (rd->rd_off == end)
		return SNI_OK;	/* no extensions (TLS 1.2 and older) */
	if (sni_rd_vec(rd, end, 2, &vend) == -1 || vend != end)
		return sni_fail(out, SNI_BAD,
		    "extensions that do not fill the ClientHello");
	return sni_extensions(rd, end, out);
}

enum sni_status
sni_parse(const unsigned char *buf, size_t len, struct sni_hello *out)
{
	struct sni_rd rd = { .rd_buf = buf };
	enum sni_status st;
	const char *why;

	memset(out, 0, sizeof(*out));
	if ((st = sni_frame(buf, len, out)) == SNI_OK)
		st = sni_hello(&rd, out->sh_hello_len, out);
	if (st != SNI_OK) {
		why = out->sh_why;
		memset(out, 0, sizeof(*out));
		out->sh_why = st == SNI_MORE ? NULL : why;
	}
	return st;
}

bool
sni_matches(const struct sni_hello *h, const char *host)
{
	size_t n;

	if (!h->sh_has_sni || host == NULL)
		return false;
	n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		n--;
	return n > 0 && n == strlen(h->sh_name) &&
	    strncasecmp(h->sh_name, host, n) == 0;
}
