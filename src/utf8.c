/* SPDX-License-Identifier: MIT */
/* One UTF-8 sequence; see utf8.h. Written by hand: a dozen lines, where a
 * library (iconv, ICU) would decode whole strings and hide which byte was
 * wrong. */
#include "utf8.h"

long
utf8_decode(const unsigned char *s, size_t n, size_t *used)
{
	long cp, min;
	size_t len, i;

	*used = 1;
	if (n == 0)
		return -1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else
		return -1;
	if (len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*used = len;
	return cp;
}
