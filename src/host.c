/* SPDX-License-Identifier: MIT */
/* Host canonicalisation. Written by hand because no Debian library applies
 * the rules a proxy policy needs: inet_aton's number spellings are treated as
 * addresses (as curl and browsers do), anything ambiguous is refused. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "host.h"

static int
host_fail(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

/* True when every character could belong to an inet_aton number spelling. */
static bool
host_numeric_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < len; i++)
			if (!((s[i] >= '0' && s[i] <= '9') ||
			    (s[i] >= 'a' && s[i] <= 'f') ||
			    (s[i] >= 'A' && s[i] <= 'F')))
				return false;
		return true;
	}
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int
host_canon_v6(const char *s, size_t len, struct host *h, char *err,
    size_t errlen)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	/* s excludes the brackets. */
	if (len == 0 || len >= sizeof(tmp))
		return host_fail(err, errlen, "malformed IPv6 address");
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (memchr(tmp, '%', len) != NULL)
		return host_fail(err, errlen,
		    "IPv6 zone identifiers are not allowed");
	if (inet_pton(AF_INET6, tmp, &h->h_ip.v6) != 1)
		return host_fail(err, errlen, "malformed IPv6 address");
	h->h_kind = HOST_IPV6;
	inet_ntop(AF_INET6, &h->h_ip.v6, h->h_name, sizeof(h->h_name));
	return 0;
}

/* Check the name `s` (`len` bytes, no trailing dot) label by label and
 * copy it lower-cased into `tmp`, NUL-terminated. *last gets where its last
 * label starts. Returns 0, or -1 with a message. */
static int
host_lower_labels(const char *s, size_t len, char *tmp, size_t *last,
    char *err, size_t errlen)
{
	size_t i, label = 0;

	*last = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c >= 0x80)
			return host_fail(err, errlen,
			    "non-ASCII host name: use its punycode (xn--) form");
		if (c == '.') {
			if (label == 0)
				return host_fail(err, errlen,
				    "empty label in host name");
			label = 0;
			*last = i + 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_') {
			if (++label > HOST_LABEL_MAX_LEN)
				return host_fail(err, errlen,
				    "host name label longer than 63 bytes");
		} else if (c == ':') {
			return host_fail(err, errlen,
			    "IPv6 addresses must be in brackets");
		} else {
			return host_fail(err, errlen,
			    "invalid character in host name");
		}
		tmp[i] = (char)c;
	}
	if (label == 0)
		return host_fail(err, errlen, "empty label in host name");
	tmp[len] = '\0';
	return 0;
}

int
host_canon(const char *s, size_t len, struct host *h, char *err, size_t errlen)
{
	char tmp[HOST_NAME_MAX_LEN + 2];
	size_t last_label_start;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return host_fail(err, errlen, "empty host name");
	if (s[0] == '[') {
		if (s[len - 1] != ']')
			return host_fail(err, errlen, "malformed IPv6 address");
		return host_canon_v6(s + 1, len - 2, h, err, errlen);
	}
	/* One trailing dot names the root explicitly; it is the same host. */
	if (s[len - 1] == '.')
		len--;
	if (len == 0)
		return host_fail(err, errlen, "empty host name");
	if (len > HOST_NAME_MAX_LEN)
		return host_fail(err, errlen, "host name longer than 253 bytes");
	if (host_lower_labels(s, len, tmp, &last_label_start, err,
	    errlen) == -1)
		return -1;
	/* A name whose last label is a number is an IPv4 literal to every
	 * resolver and URL parser: take it as one, or refuse it. */
	if (host_numeric_label(tmp + last_label_start, len - last_label_start)) {
		if (inet_aton(tmp, &h->h_ip.v4) == 0)
			return host_fail(err, errlen, "malformed IPv4 address");
		h->h_kind = HOST_IPV4;
		inet_ntop(AF_INET, &h->h_ip.v4, h->h_name, sizeof(h->h_name));
		return 0;
	}
	if (tmp[0] == '-' || tmp[len - 1] == '-')
		return host_fail(err, errlen,
		    "host name may not begin or end with '-'");
	h->h_kind = HOST_NAME;
	memcpy(h->h_name, tmp, len + 1);
	return 0;
}

int
host_parse_authority(const char *s, size_t len, struct host *h, char *err,
    size_t errlen)
{
	size_t colon, i;
	unsigned long port = 0;

	/* The port follows the last colon; for IPv6 the host is bracketed. */
	for (colon = len; colon > 0; colon--)
		if (s[colon - 1] == ':')
			break;
	if (colon == 0) {
		memset(h, 0, sizeof(*h));
		return host_fail(err, errlen,
		    "CONNECT target needs a port (host:port)");
	}
	colon--;
	if (colon + 1 == len || len - colon - 1 > 5) {
		memset(h, 0, sizeof(*h));
		return host_fail(err, errlen, "invalid port");
	}
	for (i = colon + 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			memset(h, 0, sizeof(*h));
			return host_fail(err, errlen, "invalid port");
		}
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	if (port == 0 || port > 65535) {
		memset(h, 0, sizeof(*h));
		return host_fail(err, errlen, "port out of range 1-65535");
	}
	if (colon > 0 && s[0] != '[' && memchr(s, ':', colon) != NULL) {
		memset(h, 0, sizeof(*h));
		return host_fail(err, errlen,
		    "IPv6 addresses must be in brackets");
	}
	if (host_canon(s, colon, h, err, errlen) == -1)
		return -1;
	h->h_port = (uint16_t)port;
	return 0;
}

int
host_format(const struct host *h, char *buf, size_t len)
{
	if (h->h_kind == HOST_IPV6)
		return snprintf(buf, len, "[%s]:%u", h->h_name,
		    (unsigned)h->h_port);
	return snprintf(buf, len, "%s:%u", h->h_name, (unsigned)h->h_port);
}
