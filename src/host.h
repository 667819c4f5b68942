/* SPDX-License-Identifier: MIT */
/* The host canonicaliser: turns the host of a request target into one
 * canonical spelling, or refuses it. Every front end goes through here before
 * the policy engine looks at a name, so there is one notion of "the same host".
 * No I/O: unit tests and fuzzers link this file alone. */
#ifndef SLUICE_HOST_H
#define SLUICE_HOST_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_NAME_MAX_LEN 253
#define HOST_LABEL_MAX_LEN 63

enum host_kind {
	HOST_NAME = 0,	/* a DNS name, matched against patterns */
	HOST_IPV4 = 1,	/* an IPv4 literal in any inet_aton spelling */
	HOST_IPV6 = 2,	/* a bracketed IPv6 literal */
};

struct host {
	enum host_kind	 h_kind;
	uint16_t	 h_port;	/* 0 when the input had no port */
	/* Canonical text: lower-case name without trailing dot, dotted quad, or
	 * IPv6 in inet_ntop form (without brackets). */
	char		 h_name[HOST_NAME_MAX_LEN + 1];
	union {
		struct in_addr	v4;
		struct in6_addr	v6;
	} h_ip;		/* valid for HOST_IPV4 / HOST_IPV6 (not "h_addr":
			 * <netdb.h> defines that as a macro) */
};

/* Canonicalise a host without a port: a DNS name, an IPv4 literal or a
 * bracketed IPv6 literal. `s` need not be NUL-terminated. Returns 0 and fills
 * `h` (h_port = 0), or -1 with a one-sentence reason in `err`. */
int host_canon(const char *s, size_t len, struct host *h, char *err,
    size_t errlen);

/* Parse authority-form "host:port" (the target of CONNECT); the port is
 * required and must be 1-65535. Returns 0 and fills `h`, or -1 with `err`. */
int host_parse_authority(const char *s, size_t len, struct host *h, char *err,
    size_t errlen);

/* Format "name:port", with brackets around IPv6. Returns snprintf's result. */
int host_format(const struct host *h, char *buf, size_t len);

#endif
