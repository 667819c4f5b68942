/* SPDX-License-Identifier: MIT */
/* Fuzzes redact_target (request targets for the access log). Whatever the
 * input: the result is at most REDACT_MAX bytes of printable ASCII with no
 * space, and in strict mode no '@' survives after the start of the
 * authority, so nothing that could be userinfo reaches the log. */
#include "fuzz.h"
#include "redact.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t i, auth = 0, n;
	int strict;
	char *r;

	for (strict = 0; strict <= 1; strict++) {
		if ((r = redact_target(s, size, strict)) == NULL)
			return 0;
		n = strlen(r);
		FUZZ_CHECK("length", n <= REDACT_MAX && n <= size,
		    "%zu bytes from %zu", n, size);
		for (i = 0; i < n; i++)
			FUZZ_CHECK("printable", r[i] > ' ' && r[i] < 0x7f,
			    "byte 0x%02x at %zu in \"%s\"", (unsigned char)r[i],
			    i, fuzz_show(r, n));
		if (strict) {
			/* Bytes before the authority are kept one for one. */
			for (i = 0; i + 2 < size; i++)
				if (s[i] == ':' && s[i + 1] == '/' &&
				    s[i + 2] == '/') {
					auth = i + 3;
					break;
				}
			for (i = auth; i < n; i++)
				FUZZ_CHECK("userinfo", r[i] != '@',
				    "'@' at %zu of \"%s\" from \"%s\"", i,
				    fuzz_show(r, n), fuzz_show(s, size));
		}
		free(r);
	}
	return 0;
}
