/* SPDX-License-Identifier: MIT */
/* Request targets made fit for the access log: credentials some clients put
 * into URLs ("user:password@") removed, the value of every query parameter
 * replaced by '*' (API keys travel there: ?key=, ?token=, signatures), bytes
 * that are not printable ASCII replaced, the length bounded. No I/O, so it is table-tested and fuzzed. */
#ifndef SLUICE_REDACT_H
#define SLUICE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* The longest target kept, in bytes. */
#define REDACT_MAX	4096

/* Copy `s` (`len` bytes, not necessarily NUL-terminated) for the log: at
 * most REDACT_MAX bytes, every byte <= ' ' or >= 0x7f as '?', userinfo
 * left out, and after the first '?' past the authority each parameter's
 * value (from '=' to the next '&', ';' or '#') as one '*'. With `strict` (the target has not parsed yet, or failed to),
 * everything from the start of the authority (after "://", or the start of
 * an authority-form target) to the last '@' anywhere may be userinfo: a
 * password can hold '/' or '?', and a malformed target is logged too.
 * Without it (our parser found the host), the authority ends at the first
 * '/', '?' or '#' and an '@' after it is path. Returns a new string (the
 * caller frees it), or NULL when out of memory. */
char *redact_target(const char *s, size_t len, bool strict);

#endif
