/* SPDX-License-Identifier: MIT */
/* Unit tests for base64 (b64.c): the RFC 4648 vectors both ways, round trips
 * of every short length, and the sloppy spellings a strict decoder refuses
 * (Basic credentials come through here). One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "unit.h"

struct vector_case {
	const char	*plain;
	size_t		 plen;
	const char	*enc;
};

#define V(p, e)	{ p, sizeof(p) - 1, e }

static const struct vector_case vector_cases[] = {
	/* RFC 4648 section 10. */
	V("", ""),
	V("f", "Zg=="),
	V("fo", "Zm8="),
	V("foo", "Zm9v"),
	V("foob", "Zm9vYg=="),
	V("fooba", "Zm9vYmE="),
	V("foobar", "Zm9vYmFy"),
	/* RFC 7617's Basic example, and bytes that hit '+', '/' and NUL. */
	V("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
	V("\0", "AA=="),
	V("\0\0\0", "AAAA"),
	V("\xff\xff\xff", "////"),
	V("\xfb\xff", "+/8="),
	V("\xfb\xef\xbe", "++++"),
	V("user:p\xc3\xa4ss", "dXNlcjpww6Rzcw=="),
};

static void
test_b64_vectors(void **state)
{
	size_t i, n = sizeof(vector_cases) / sizeof(vector_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct vector_case *t = &vector_cases[i];
		size_t elen = strlen(t->enc);
		char enc[64], dec[64];
		int r;

		memset(enc, 'X', sizeof(enc));
		enc[sizeof(enc) - 1] = '\0';
		b64_encode(t->plain, t->plen, enc);
		if (strcmp(enc, t->enc) != 0 ||
		    B64_ENCODED_LEN(t->plen) != elen + 1) {
			print_error("row %zu: b64_encode(\"%s\") = \"%s\", "
			    "expected \"%s\" (B64_ENCODED_LEN %zu)\n", i,
			    show(t->plain, t->plen), enc, t->enc,
			    (size_t)B64_ENCODED_LEN(t->plen));
			bad++;
		}
		memset(dec, 'X', sizeof(dec));
		r = b64_decode(t->enc, elen, dec, sizeof(dec));
		if (r != (int)t->plen || memcmp(dec, t->plain, t->plen) != 0 ||
		    dec[t->plen] != '\0') {
			print_error("row %zu: b64_decode(\"%s\") returned %d "
			    "\"%s\",", i, t->enc, r,
			    r > 0 ? show(dec, (size_t)r) : "");
			print_error(" expected %zu \"%s\"\n", t->plen,
			    show(t->plain, t->plen));
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu base64 vector cases failed", bad, n);
}

/* A fixed-seed generator: a failing length reproduces on every run. */
static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Every length 0..20, several random fillings each: encode, decode into a
 * buffer of exactly the decoded length + NUL (ASan sees any overrun), and
 * get the same bytes back. */
static void
test_b64_round_trip(void **state)
{
	uint32_t seed = 0x5eed1234;
	size_t len;
	int round, bad = 0;

	(void)state;
	for (len = 0; len <= 20; len++) {
		for (round = 0; round < (len == 0 ? 1 : 8); round++) {
			unsigned char in[20];
			char *enc = malloc(B64_ENCODED_LEN(len));
			char *dec = malloc(len + 1);
			size_t i, elen;
			int r;

			assert_non_null(enc);
			assert_non_null(dec);
			for (i = 0; i < len; i++)
				in[i] = (unsigned char)xorshift(&seed);
			b64_encode(in, len, enc);
			elen = strlen(enc);
			r = b64_decode(enc, elen, dec, len + 1);
			if (elen != B64_ENCODED_LEN(len) - 1 ||
			    r != (int)len || memcmp(dec, in, len) != 0) {
				print_error("length %zu round %d: \"%s\" "
				    "(%zu chars) decoded to %d bytes, expected "
				    "%zu\n", len, round, enc, elen, r, len);
				bad++;
			}
			free(enc);
			free(dec);
		}
	}
	if (bad > 0)
		fail_msg("%d base64 round trips failed", bad);
}

struct decode_case {
	const char	*in;
	size_t		 len;		/* characters to decode */
	size_t		 outlen;
	int		 ret;		/* decoded length, or -1 */
	const char	*out;		/* the bytes when ret >= 0 */
};

#define D_OK(s, ol, r, o)	{ s, sizeof(s) - 1, ol, r, o }
#define D_BAD(s)		{ s, sizeof(s) - 1, 64, -1, NULL }

static const struct decode_case decode_cases[] = {
	/* Output limits: the bytes plus a NUL must fit in outlen. */
	D_OK("Zm9vYmFy", 7, 6, "foobar"),
	D_OK("Zm9vYmFy", 6, -1, NULL),
	D_OK("Zm9vYmFy", 1, -1, NULL),
	D_OK("Zm9vYmE=", 6, 5, "fooba"),
	D_OK("Zm9vYmE=", 5, -1, NULL),
	D_OK("Zg==", 2, 1, "f"),
	D_OK("Zg==", 1, -1, NULL),
	D_OK("", 1, 0, ""),
	/* Exactly `len` characters are read: what follows is not looked at. */
	{ "Zm9vYmFy", 4, 64, 3, "foo" },
	{ "Zm9v!!!!", 4, 64, 3, "foo" },

	/* Length not a multiple of 4. */
	D_BAD("Z"),
	D_BAD("Zg"),
	D_BAD("Zg="),
	D_BAD("Zm9"),
	D_BAD("Zm9vY"),
	D_BAD("Zm9vYmFy="),
	/* Wrong padding. */
	D_BAD("Zg==="),
	D_BAD("Z==="),
	D_BAD("===="),
	D_BAD("Zm9vZ==="),
	/* '=' anywhere but at the end. */
	D_BAD("Zg==Zg=="),
	D_BAD("Zm=v"),
	D_BAD("=m9v"),
	D_BAD("Z=9v"),
	D_BAD("Zm9v=m9v"),
	/* Characters outside the standard alphabet. */
	D_BAD("Zm9-"),
	D_BAD("Zm9_"),
	D_BAD("Zm9v\nYmFy"),
	D_BAD("Zm9v YmF"),
	D_BAD("Zm9v\r\n"),
	D_BAD("Zm\0v"),
	D_BAD("Zm\x80v"),
	D_BAD("Zm.v"),
	D_BAD(" Zg="),
	/* Non-zero bits under the padding: RFC 4648 3.5 lets a strict decoder
	 * refuse them, and accepting them gives one credential many
	 * spellings ("Zh==" would read as "f", like "Zg=="). */
	D_BAD("Zh=="),
	D_BAD("Zm9="),
	D_BAD("AB=="),
};

static void
test_b64_decode(void **state)
{
	size_t i, n = sizeof(decode_cases) / sizeof(decode_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct decode_case *t = &decode_cases[i];
		/* Exactly outlen bytes, so ASan catches a write past them. */
		char *out = malloc(t->outlen);
		int r;

		assert_non_null(out);
		r = b64_decode(t->in, t->len, out, t->outlen);
		if (r != t->ret || (r >= 0 && (memcmp(out, t->out,
		    (size_t)r) != 0 || out[r] != '\0'))) {
			print_error("row %zu: b64_decode(\"%s\", outlen %zu) ",
			    i, show(t->in, t->len), t->outlen);
			print_error("returned %d \"%s\", expected %d \"%s\"\n",
			    r, r > 0 ? show(out, (size_t)r) : "", t->ret,
			    t->out != NULL ? t->out : "");
			bad++;
		}
		free(out);
	}
	if (bad > 0)
		fail_msg("%d of %zu b64_decode cases failed", bad, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
