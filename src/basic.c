/* SPDX-License-Identifier: MIT */
/* Basic credentials; see basic.h. */
#include <strings.h>

#include "b64.h"
#include "basic.h"

int
basic_decode(const char *hdr, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (len < 6 || strncasecmp(hdr, "basic", 5) != 0 ||
	    (hdr[5] != ' ' && hdr[5] != '\t'))
		return -1;
	for (i = 5; i < len && (hdr[i] == ' ' || hdr[i] == '\t'); i++)
		;
	while (len > i && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
		len--;
	return b64_decode(hdr + i, len - i, out, outlen);
}

bool
basic_ambiguous(const char *cred, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)cred[i] < 0x20 || cred[i] == 0x7f)
			return true;
	return false;
}
