/* SPDX-License-Identifier: MIT */
/* Fuzzes status_escape and status_render (the /status page). The escaping
 * of any bytes is valid UTF-8 with no control byte, no raw < > " ', every &
 * starting an entity, and decodes back to the input (`status-decode`), so
 * nothing breaks out and no two inputs look alike. A page whose every
 * string is the input has exactly the markup of a page of plain strings:
 * as many '<' (`status-markup`). */
#include "buf.h"
#include "fuzz.h"
#include "status.h"

/* Decode an escaping; returns its length, or (size_t)-1 when it holds what
 * status_escape never writes. */
static size_t
fuzz_unescape(const unsigned char *s, size_t len, unsigned char *out)
{
	static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;",
	    "&#39;" };
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0, k, n;
	const char *h, *l;

	while (i < len) {
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '<' || s[i] == '>' ||
		    s[i] == '"' || s[i] == '\'')
			return (size_t)-1;
		if (s[i] == '&') {
			for (k = 0; k < 5; k++) {
				n = strlen(ent[k]);
				if (len - i >= n && memcmp(s + i, ent[k], n) == 0)
					break;
			}
			if (k == 5)
				return (size_t)-1;
			out[o++] = (unsigned char)"&<>\"'"[k];
			i += n;
		} else if (s[i] == '\\' && len - i >= 2 && s[i + 1] == '\\') {
			out[o++] = '\\';
			i += 2;
		} else if (s[i] == '\\') {
			if (len - i < 4 || s[i + 1] != 'x' || s[i + 2] == 0 ||
			    s[i + 3] == 0 ||
			    (h = strchr(hex, s[i + 2])) == NULL ||
			    (l = strchr(hex, s[i + 3])) == NULL)
				return (size_t)-1;
			out[o++] = (unsigned char)((h - hex) << 4 | (l - hex));
			i += 4;
		} else
			out[o++] = s[i++];
	}
	return o;
}

/* How many '<' in a page whose every string is `s`. */
static size_t
fuzz_page_tags(const char *s)
{
	const char *l[2] = { s, s };
	struct status_count c[2] = { { s, 1 }, { s, 2 } };
	struct status_tunnels t = { s, s, 1 };
	struct status_denial d = { 1, s, s, s, s, s };
	struct status_view v = { .sv_version = s, .sv_config = s,
	    .sv_listeners = l, .sv_nlisteners = 2, .sv_by_user = &t,
	    .sv_nby_user = 1, .sv_top_dest = { c, c }, .sv_ntop_dest = { 2, 2 },
	    .sv_top_denied = { c, c }, .sv_ntop_denied = { 2, 2 },
	    .sv_auth_fail = c, .sv_nauth_fail = 2, .sv_recent = &d,
	    .sv_nrecent = 1, .sv_refresh_s = 1 };
	struct buf b = { 0 };
	size_t i, n = 0;

	if (status_render(&b, &v) == -1)
		return (size_t)-1;
	for (i = 0; i < buf_used(&b); i++)
		n += b.b_data[i] == '<';
	buf_free(&b);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = { 0 };
	unsigned char *dec;
	char *str;
	size_t n;

	if (size > 4096)
		return 0;
	if (status_escape(&b, (const char *)data, size) == -1 ||
	    (dec = malloc(size + 1)) == NULL) {
		buf_free(&b);
		return 0;
	}
	n = fuzz_unescape((const unsigned char *)b.b_data, buf_used(&b), dec);
	FUZZ_CHECK("status-decode", n == size && memcmp(dec, data, size) == 0,
	    "\"%s\" escaped as \"%s\"", fuzz_show(data, size),
	    fuzz_show(b.b_data, buf_used(&b)));
	buf_free(&b);
	/* The same bytes as a C string (up to a NUL) in every field. */
	memcpy(dec, data, size);
	dec[size] = '\0';
	str = (char *)dec;
	FUZZ_CHECK("status-markup", fuzz_page_tags(str) == fuzz_page_tags("x"),
	    "\"%s\" changes the markup", fuzz_show(data, size));
	free(dec);
	return 0;
}
