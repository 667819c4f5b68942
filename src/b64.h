/* SPDX-License-Identifier: MIT */
/* Base64 (RFC 4648, standard alphabet, padded), for Basic credentials.
 * Written by hand: a few lines, where OpenSSL's EVP encoder would add line
 * breaks and accept sloppy input. No I/O. */
#ifndef SLUICE_B64_H
#define SLUICE_B64_H

#include <stddef.h>

/* Bytes needed to encode `len` bytes, NUL included. */
#define B64_ENCODED_LEN(len) ((((len) + 2) / 3) * 4 + 1)

/* Encode `len` bytes of `in` into `out` (B64_ENCODED_LEN(len) bytes),
 * NUL-terminated. */
void b64_encode(const void *in, size_t len, char *out);

/* Decode exactly `len` characters of strict, padded base64 into `out`,
 * NUL-terminated. Returns the decoded length, or -1 when malformed or when
 * it would not fit in outlen - 1 bytes. */
int b64_decode(const char *in, size_t len, char *out, size_t outlen);

#endif
