/* SPDX-License-Identifier: MIT */
/* Shared by the unit tests: a printable form of hostile inputs, so a failing
 * table row can be read in the test output. */
#ifndef SLUICE_UNIT_H
#define SLUICE_UNIT_H

#include <stddef.h>
#include <stdio.h>

/* Printable form of an input that may hold CR, LF, NUL or non-ASCII bytes:
 * those become \xNN. Returns a static buffer, valid until the next call. */
static const char *
show(const char *s, size_t len)
{
	static char buf[1100];
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x",
			    c);
	}
	buf[o] = '\0';
	return buf;
}

#endif
