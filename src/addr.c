/* SPDX-License-Identifier: MIT */
/* Address parsing, CIDR matching and the refused-destination classifier. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int
addr_fail(char *err, size_t errlen, const char *msg, const char *s)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s: '%s'", msg, s);
	return -1;
}

static int
addr_parse_port(const char *p, unsigned long *port)
{
	char *end;

	if (*p < '0' || *p > '9' || strlen(p) > 5)
		return -1;
	*port = strtoul(p, &end, 10);
	if (*end != '\0' || *port > 65535)
		return -1;
	return 0;
}

int
addr_parse_hostport(const char *s, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = s;
	size_t hlen;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(s, ':');
	if (colon == NULL)
		return addr_fail(err, errlen, "expected ADDR:PORT", s);
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			return addr_fail(err, errlen,
			    "expected [IPv6]:PORT", s);
		hs = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return addr_fail(err, errlen, "invalid address", s);
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (addr_parse_port(colon + 1, &port) == -1)
		return addr_fail(err, errlen, "invalid port", s);
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return addr_fail(err, errlen, "invalid IPv6 address", s);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			size_t i;

			/* An IPv4 address has no letters: a name it is. */
			for (i = 0; host[i] != '\0'; i++)
				if ((host[i] | 0x20) >= 'a' &&
				    (host[i] | 0x20) <= 'z')
					return addr_fail(err, errlen, "host names "
					    "are not accepted, only addresses "
					    "(e.g. 127.0.0.1:3128 or [::1]:3128)",
					    s);
			return addr_fail(err, errlen,
			    "invalid IPv4 address (IPv6 goes in brackets)", s);
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
	}
	return 0;
}

int
cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, i;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(tmp))
		return addr_fail(err, errlen, "invalid CIDR", s);
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET, tmp, c->c_bytes) == 1) {
		c->c_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, tmp, c->c_bytes) == 1) {
		c->c_family = AF_INET6;
		max = 128;
	} else
		return addr_fail(err, errlen, "invalid CIDR address", s);
	c->c_prefix = max;
	if (slash != NULL) {
		char *end;
		unsigned long p;

		if (slash[1] < '0' || slash[1] > '9')
			return addr_fail(err, errlen, "invalid CIDR prefix", s);
		p = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || p > max)
			return addr_fail(err, errlen, "invalid CIDR prefix", s);
		c->c_prefix = (unsigned)p;
	}
	for (i = c->c_prefix; i < max; i++)
		if (c->c_bytes[i / 8] & (0x80 >> (i % 8)))
			return addr_fail(err, errlen,
			    "CIDR has host bits set below its prefix", s);
	return 0;
}

static bool
addr_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ net[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

static const uint8_t addr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return c->c_family == AF_INET && addr_prefix_match(
		    (const uint8_t *)&sin->sin_addr, c->c_bytes, c->c_prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (c->c_family == AF_INET6)
			return addr_prefix_match(b, c->c_bytes, c->c_prefix);
		if (memcmp(b, addr_v4mapped, 12) == 0)
			return addr_prefix_match(b + 12, c->c_bytes,
			    c->c_prefix);
	}
	return false;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->c_family, c->c_bytes, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->c_prefix);
}

struct addr_range {
	uint8_t		 ar_net[16];
	unsigned	 ar_prefix;
	const char	*ar_class;
};

/* IPv4 ranges a proxy must not dial: RFC 6890 special-purpose blocks that are
 * not globally reachable, plus multicast and reserved space. */
static const struct addr_range addr_refused_v4[] = {
	{ { 0 }, 8, "this-network" },
	{ { 10 }, 8, "private" },
	{ { 100, 64 }, 10, "shared (CGNAT)" },
	{ { 127 }, 8, "loopback" },
	{ { 169, 254 }, 16, "link-local/metadata" },
	{ { 172, 16 }, 12, "private" },
	{ { 192, 0, 0 }, 24, "IETF protocol assignments" },
	{ { 192, 0, 2 }, 24, "documentation" },
	{ { 192, 168 }, 16, "private" },
	{ { 198, 18 }, 15, "benchmarking" },
	{ { 198, 51, 100 }, 24, "documentation" },
	{ { 203, 0, 113 }, 24, "documentation" },
	{ { 224 }, 4, "multicast" },
	{ { 240 }, 4, "reserved" },
};

static const struct addr_range addr_refused_v6[] = {
	{ { 0 }, 128, "unspecified" },
	{ { [15] = 1 }, 128, "loopback" },
	{ { 0xfc }, 7, "unique-local" },
	{ { 0xfe, 0x80 }, 10, "link-local" },
	{ { 0xfe, 0xc0 }, 10, "site-local" },
	{ { 0xff }, 8, "multicast" },
	{ { 0x01 }, 64, "discard" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation" },
};

static const char *
addr_class_v4(const uint8_t *a)
{
	size_t i;

	for (i = 0; i < sizeof(addr_refused_v4) / sizeof(addr_refused_v4[0]);
	    i++)
		if (addr_prefix_match(a, addr_refused_v4[i].ar_net,
		    addr_refused_v4[i].ar_prefix))
			return addr_refused_v4[i].ar_class;
	return NULL;
}

static const char *
addr_class_v6(const uint8_t *b)
{
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t nat64local[6] = { 0, 0x64, 0xff, 0x9b, 0, 0x01 };
	static const uint8_t compat[12] = { 0 };
	static const uint8_t translated[12] = { [8] = 0xff, [9] = 0xff };
	const char *cls;
	uint8_t v4[4];
	size_t i;

	for (i = 0; i < sizeof(addr_refused_v6) / sizeof(addr_refused_v6[0]);
	    i++)
		if (addr_prefix_match(b, addr_refused_v6[i].ar_net,
		    addr_refused_v6[i].ar_prefix))
			return addr_refused_v6[i].ar_class;
	/* ::ffff:a.b.c.d, 64:ff9b::a.b.c.d, the deprecated ::a.b.c.d and
	 * SIIT's IPv4-translated ::ffff:0:a.b.c.d (RFC 2765) all carry the
	 * IPv4 destination in the last 32 bits. */
	if (memcmp(b, addr_v4mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    memcmp(b, compat, 12) == 0 || memcmp(b, translated, 12) == 0)
		return addr_class_v4(b + 12);
	/* The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) ends in IPv4. */
	if (memcmp(b, nat64local, 6) == 0)
		return addr_class_v4(b + 12);
	/* 6to4 (2002::/16): the IPv4 address sits in bits 16-47. */
	if (b[0] == 0x20 && b[1] == 0x02)
		return addr_class_v4(b + 2);
	/* Teredo (2001:0::/32): server IPv4 in bits 32-63, client IPv4
	 * inverted in the last 32 bits. Either one refused refuses. */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
		if ((cls = addr_class_v4(b + 4)) != NULL)
			return cls;
		for (i = 0; i < 4; i++)
			v4[i] = (uint8_t)~b[12 + i];
		return addr_class_v4(v4);
	}
	return NULL;
}

const char *
addr_refused_class(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return addr_class_v4((const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return addr_class_v6(
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return "not an internet address";
}

void
addr_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else {
		snprintf(buf, len, "-");
		return;
	}
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "-");
}

void
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_format_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)addr_port(sa));
	else
		snprintf(buf, len, "%s:%u", ip, (unsigned)addr_port(sa));
}

bool
addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)sa)
		    ->sin_addr)[0] == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

bool
addr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

bool
addr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_storage x, y;

	memcpy(&x, a, addr_len(a));
	memcpy(&y, b, addr_len(b));
	addr_unmap((struct sockaddr *)&x);
	addr_unmap((struct sockaddr *)&y);
	if (x.ss_family != y.ss_family)
		return false;
	if (x.ss_family == AF_INET)
		return ((struct sockaddr_in *)&x)->sin_addr.s_addr ==
		    ((struct sockaddr_in *)&y)->sin_addr.s_addr;
	return x.ss_family == AF_INET6 && memcmp(
	    &((struct sockaddr_in6 *)&x)->sin6_addr,
	    &((struct sockaddr_in6 *)&y)->sin6_addr, 16) == 0;
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void
addr_unmap(struct sockaddr *sa)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	if (sa->sa_family != AF_INET6)
		return;
	memcpy(&s6, sa, sizeof(s6));
	if (memcmp(s6.sin6_addr.s6_addr, addr_v4mapped, 12) != 0)
		return;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = s6.sin6_port;
	memcpy(&sin->sin_addr, s6.sin6_addr.s6_addr + 12, 4);
}

socklen_t
addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}
