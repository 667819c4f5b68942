/* SPDX-License-Identifier: MIT */
/* Fuzzes basic_decode (the Proxy-Authorization decoder, on top of b64.c)
 * against a straightforward RFC 7617 / RFC 4648 reference, and
 * b64_encode/b64_decode for a round trip.
 *
 * Input: byte 0 picks the output buffer size (0-79 bytes, or 1024 for 0xff,
 * auth.c's real size), the rest is the header value. */
#include <strings.h>

#include "basic.h"
#include "b64.h"
#include "fuzz.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode "Basic <token>" into `out` (room for anything). Returns the length
 * or -1. Strict RFC 4648: padded to a multiple of four, at most two '=' at
 * the end, and the bits under the padding zero. An empty token decodes to
 * nothing (auth.c then refuses the missing ':'). */
static int
reference(const char *h, size_t len, unsigned char *out)
{
	size_t i, n, pad = 0, o = 0;
	unsigned acc = 0, bits = 0;

	if (len < 6 || strncasecmp(h, "basic", 5) != 0 ||
	    (h[5] != ' ' && h[5] != '\t'))
		return -1;
	for (i = 5; i < len && (h[i] == ' ' || h[i] == '\t'); i++)
		;
	while (len > i && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	n = len - i;
	if (n % 4 != 0)
		return -1;
	while (n > 0 && pad < 2 && h[len - 1 - pad] == '=')
		pad++;
	for (; i < len - pad; i++) {
		int v = b64_value((unsigned char)h[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char want[4096];
	size_t outlen;
	char *hdr, *out;
	int r, w;

	if (size < 1 || size > 4096)
		return 0;
	outlen = data[0] == 0xff ? 1024 : data[0] % 80;
	data++;
	size--;
	/* Exactly-sized buffers: any overrun is an ASan report. */
	hdr = malloc(size ? size : 1);
	out = malloc(outlen ? outlen : 1);
	if (hdr == NULL || out == NULL)
		abort();
	memcpy(hdr, data, size);
	r = basic_decode(hdr, size, out, outlen);
	w = reference(hdr, size, want);
	if (w >= 0 && (size_t)w + 1 > outlen)
		w = -1; /* does not fit with its NUL */
	FUZZ_CHECK("auth-decode", r == w,
	    "'%s' into %zu bytes: returned %d, reference %d",
	    fuzz_show(hdr, size), outlen, r, w);
	if (r >= 0)
		FUZZ_CHECK("auth-decode",
		    memcmp(out, want, (size_t)r) == 0 && out[r] == '\0',
		    "'%s' decoded to different bytes", fuzz_show(hdr, size));
	free(out);
	free(hdr);

	/* Any bytes survive b64_encode then b64_decode, into a buffer of
	 * exactly the decoded length plus its NUL. */
	if (size > 0) {
		char *enc = malloc(B64_ENCODED_LEN(size)),
		     *dec = malloc(size + 1);
		size_t elen;

		if (enc == NULL || dec == NULL)
			abort();
		b64_encode(data, size, enc);
		elen = strlen(enc);
		FUZZ_CHECK("b64-roundtrip", elen + 1 == B64_ENCODED_LEN(size),
		    "encoded %zu bytes into %zu characters", size, elen);
		r = b64_decode(enc, elen, dec, size + 1);
		FUZZ_CHECK("b64-roundtrip",
		    r == (int)size && memcmp(dec, data, size) == 0,
		    "round trip of %zu bytes gave %d", size, r);
		free(dec);
		free(enc);
	}
	return 0;
}
