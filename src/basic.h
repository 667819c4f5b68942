/* SPDX-License-Identifier: MIT */
/* The Basic scheme of Proxy-Authorization (RFC 7617): the header value to
 * "user:password", and whether that is something every server reads the
 * same way. No I/O and no state, so it is table-tested and fuzzed apart
 * from the hashing threads of auth.c. */
#ifndef SLUICE_BASIC_H
#define SLUICE_BASIC_H

#include <stdbool.h>
#include <stddef.h>

/* Decode "Basic <base64>" (scheme case-insensitive, spaces or tabs around
 * the token) into `out` ("user:password", NUL-terminated). Returns the
 * decoded length, or -1 if malformed or longer than outlen - 1. */
int basic_decode(const char *hdr, size_t len, char *out, size_t outlen);

/* Are there bytes in decoded credentials that servers would read
 * differently (NUL ends a C string early; other control bytes; RFC 7617
 * forbids them all)? */
bool basic_ambiguous(const char *cred, size_t len);

#endif
