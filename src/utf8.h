/* SPDX-License-Identifier: MIT */
/* Decoding one UTF-8 sequence, strictly, for the writers that must show
 * client bytes safely (the JSON access log, the status page): one decoder,
 * so both agree on what is valid. */
#ifndef SLUICE_UTF8_H
#define SLUICE_UTF8_H

#include <stddef.h>

/* The code point of the UTF-8 sequence at `s` (`n` bytes there), with
 * *used set to its length; or -1 with *used = 1 when the byte does not
 * start a valid sequence (overlong forms, surrogates, above U+10FFFF, cut
 * short). Reads at most min(n, 4) bytes. */
long utf8_decode(const unsigned char *s, size_t n, size_t *used);

#endif
