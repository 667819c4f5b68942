/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer harnesses: the entry point's prototype and the
 * invariant check that turns a violated contract into a crash libFuzzer
 * records. A check can be muted by tag (FUZZ_SKIP="tag,tag") so a known,
 * reported finding does not stop the search for the next one. */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True unless `tag` is listed in the FUZZ_SKIP environment variable. */
static inline bool
fuzz_enabled(const char *tag)
{
	const char *skip = getenv("FUZZ_SKIP"), *p;
	size_t n = strlen(tag);

	for (p = skip; p != NULL && (p = strstr(p, tag)) != NULL; p += n)
		if ((p == skip || p[-1] == ',') &&
		    (p[n] == ',' || p[n] == '\0'))
			return false;
	return true;
}

/* Abort with a message naming the invariant when `cond` is false. */
#define FUZZ_CHECK(tag, cond, ...)                                             \
	do {                                                                   \
		if (!(cond) && fuzz_enabled(tag)) {                            \
			fprintf(stderr, "INVARIANT %s violated: ", tag);       \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* Print `len` bytes with non-printables escaped, for messages. Rotates
 * through four buffers so one message can show several strings. */
static inline const char *
fuzz_show(const void *p, size_t len)
{
	static char bufs[4][1024];
	static unsigned next;
	char *buf = bufs[next++ % 4];
	const unsigned char *s = p;
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < sizeof(bufs[0]); i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			buf[o++] = (char)s[i];
		else
			o += (size_t)snprintf(
			    buf + o, sizeof(bufs[0]) - o, "\\x%02x", s[i]);
	}
	if (i < len)
		o += (size_t)snprintf(buf + o, sizeof(bufs[0]) - o, "...");
	buf[o] = '\0';
	return buf;
}

#endif
