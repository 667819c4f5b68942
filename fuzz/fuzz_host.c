/* SPDX-License-Identifier: MIT */
/* Fuzzes the host canonicaliser (host_canon, host_parse_authority,
 * host_format). Every input is tried both as a bare host and as a CONNECT
 * authority. A canonical result must be well-formed, a fixed point, blind to
 * ASCII case and one trailing dot, and survive host_format followed by
 * host_parse_authority unchanged. */
#include <arpa/inet.h>

#include "fuzz.h"
#include "host.h"

#define MAX_IN 600

static const char *
kind_name(enum host_kind k)
{
	return k == HOST_NAME ? "name"
	    : k == HOST_IPV4  ? "ipv4"
	    : k == HOST_IPV6  ? "ipv6"
	                      : "?";
}

static bool
same_host(const struct host *a, const struct host *b)
{
	if (a->h_kind != b->h_kind || strcmp(a->h_name, b->h_name) != 0)
		return false;
	if (a->h_kind == HOST_IPV4)
		return a->h_ip.v4.s_addr == b->h_ip.v4.s_addr;
	if (a->h_kind == HOST_IPV6)
		return memcmp(&a->h_ip.v6, &b->h_ip.v6, 16) == 0;
	return true;
}

/* The shape every successful result has, whatever the input was. */
static void
check_wellformed(const struct host *h, const char *in, size_t len)
{
	const char *n = h->h_name;
	size_t nlen, i, label = 0;
	struct in_addr a4;
	struct in6_addr a6;

	FUZZ_CHECK("host-nul", memchr(n, '\0', sizeof(h->h_name)) != NULL,
	    "h_name not NUL-terminated for '%s'", fuzz_show(in, len));
	nlen = strlen(n);
	FUZZ_CHECK("host-len", nlen > 0 && nlen <= HOST_NAME_MAX_LEN,
	    "h_name length %zu for '%s'", nlen, fuzz_show(in, len));
	switch (h->h_kind) {
	case HOST_NAME:
		for (i = 0; i < nlen; i++) {
			unsigned char c = (unsigned char)n[i];

			FUZZ_CHECK("host-chars",
			    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			        c == '.' || c == '-' || c == '_',
			    "name '%s' from '%s'", fuzz_show(n, nlen),
			    fuzz_show(in, len));
			if (c == '.') {
				FUZZ_CHECK("host-label", label > 0,
				    "empty label in '%s'", n);
				label = 0;
			} else
				label++;
			FUZZ_CHECK("host-label", label <= HOST_LABEL_MAX_LEN,
			    "label over 63 bytes in '%s'", n);
		}
		FUZZ_CHECK(
		    "host-label", label > 0, "empty last label in '%s'", n);
		FUZZ_CHECK("host-hyphen", n[0] != '-' && n[nlen - 1] != '-',
		    "name '%s' begins or ends with '-'", n);
		/* host.h: every inet_aton spelling is an IPv4 literal, so a
		 * name that inet_aton accepts must not come out as a name. */
		FUZZ_CHECK("host-aton", inet_aton(n, &a4) == 0,
		    "'%s' is HOST_NAME but inet_aton reads it as %s (input "
		    "'%s')",
		    n, inet_ntoa(a4), fuzz_show(in, len));
		break;
	case HOST_IPV4:
		FUZZ_CHECK("host-v4",
		    inet_pton(AF_INET, n, &a4) == 1 &&
		        a4.s_addr == h->h_ip.v4.s_addr,
		    "IPv4 text '%s' does not match h_ip", n);
		break;
	case HOST_IPV6:
		FUZZ_CHECK("host-v6",
		    inet_pton(AF_INET6, n, &a6) == 1 &&
		        memcmp(&a6, &h->h_ip.v6, 16) == 0,
		    "IPv6 text '%s' does not match h_ip", n);
		FUZZ_CHECK("host-v6", strchr(n, '%') == NULL,
		    "zone id survived in '%s'", n);
		break;
	default:
		FUZZ_CHECK("host-kind", false, "kind %d", (int)h->h_kind);
	}
}

/* Canonicalising the canonical text again changes nothing. */
static void
check_fixed_point(const struct host *h)
{
	char buf[HOST_NAME_MAX_LEN + 3], err[128];
	struct host again;
	int n;

	if (h->h_kind == HOST_IPV6)
		n = snprintf(buf, sizeof(buf), "[%s]", h->h_name);
	else
		n = snprintf(buf, sizeof(buf), "%s", h->h_name);
	FUZZ_CHECK("host-idempotent",
	    host_canon(buf, (size_t)n, &again, err, sizeof(err)) == 0,
	    "canonical '%s' refused: %s", buf, err);
	FUZZ_CHECK("host-idempotent", same_host(h, &again),
	    "'%s' (%s) canonicalises to '%s' (%s)", h->h_name,
	    kind_name(h->h_kind), again.h_name, kind_name(again.h_kind));
}

/* host_format output parses back to the same host and port. */
static void
check_format_roundtrip(const struct host *h)
{
	char buf[HOST_NAME_MAX_LEN + 16], err[128];
	struct host back;
	int n = host_format(h, buf, sizeof(buf));

	FUZZ_CHECK("host-format", n > 0 && (size_t)n < sizeof(buf),
	    "host_format returned %d", n);
	FUZZ_CHECK("host-format",
	    host_parse_authority(buf, (size_t)n, &back, err, sizeof(err)) == 0,
	    "formatted '%s' refused: %s", buf, err);
	FUZZ_CHECK("host-format",
	    same_host(h, &back) && back.h_port == h->h_port,
	    "'%s' parses back as '%s' port %u", buf, back.h_name,
	    (unsigned)back.h_port);
}

static int
canon(const char *s, size_t len, struct host *h)
{
	char err[128];
	int r;

	err[0] = '\0';
	r = host_canon(s, len, h, err, sizeof(err));
	FUZZ_CHECK("host-ret", r == 0 || r == -1, "host_canon returned %d", r);
	if (r == -1)
		FUZZ_CHECK("host-err",
		    err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL,
		    "no reason");
	else
		FUZZ_CHECK(
		    "host-port", h->h_port == 0, "host_canon set a port");
	return r;
}

/* `in` with ASCII letters mapped by `up`. */
static void
recase(const char *in, size_t len, char *out, bool up)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (up && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!up && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
	}
}

static void
fuzz_canon(const char *s, size_t len)
{
	char tmp[MAX_IN + 1];
	struct host h, h2;
	int r = canon(s, len, &h);

	if (r == 0) {
		check_wellformed(&h, s, len);
		check_fixed_point(&h);
		h.h_port = (uint16_t)(1 + len * 257 % 65535);
		check_format_roundtrip(&h);
	}
	/* Blind to ASCII case. */
	recase(s, len, tmp, true);
	FUZZ_CHECK("host-case",
	    (canon(tmp, len, &h2) == 0) == (r == 0) &&
	        (r != 0 || same_host(&h, &h2)),
	    "upper-casing '%s' changes the result", fuzz_show(s, len));
	recase(s, len, tmp, false);
	FUZZ_CHECK("host-case",
	    (canon(tmp, len, &h2) == 0) == (r == 0) &&
	        (r != 0 || same_host(&h, &h2)),
	    "lower-casing '%s' changes the result", fuzz_show(s, len));
	/* One trailing dot names the same host. */
	if (len > 0 && s[0] != '[' && s[len - 1] != '.') {
		memcpy(tmp, s, len);
		tmp[len] = '.';
		FUZZ_CHECK("host-dot",
		    (canon(tmp, len + 1, &h2) == 0) == (r == 0) &&
		        (r != 0 || same_host(&h, &h2)),
		    "a trailing dot changes the result for '%s'",
		    fuzz_show(s, len));
	}
}

static void
fuzz_authority(const char *s, size_t len)
{
	struct host h, bare;
	char err[128];
	size_t colon;
	unsigned long port = 0;
	int r;

	err[0] = '\0';
	r = host_parse_authority(s, len, &h, err, sizeof(err));
	FUZZ_CHECK("auth-ret", r == 0 || r == -1, "returned %d", r);
	if (r == -1) {
		FUZZ_CHECK("auth-err", err[0] != '\0', "no reason");
		return;
	}
	check_wellformed(&h, s, len);
	check_fixed_point(&h);
	check_format_roundtrip(&h);
	/* The port is the decimal after the last colon, 1-65535. */
	for (colon = len; colon > 0 && s[colon - 1] != ':'; colon--)
		;
	FUZZ_CHECK("auth-port", colon > 0, "accepted without a colon");
	for (size_t i = colon; i < len; i++) {
		FUZZ_CHECK("auth-port", s[i] >= '0' && s[i] <= '9',
		    "non-digit in port of '%s'", fuzz_show(s, len));
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	FUZZ_CHECK("auth-port", port == h.h_port && port >= 1 && port <= 65535,
	    "port %u for '%s'", (unsigned)h.h_port, fuzz_show(s, len));
	/* The host part alone canonicalises to the same host. */
	FUZZ_CHECK("auth-host",
	    canon(s, colon - 1, &bare) == 0 && same_host(&h, &bare),
	    "host part of '%s' differs alone", fuzz_show(s, len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > MAX_IN)
		return 0;
	/* An exactly-sized copy: reading past `size` is an ASan report. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	fuzz_canon(s, size);
	fuzz_authority(s, size);
	free(s);
	return 0;
}
