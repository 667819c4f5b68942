/* SPDX-License-Identifier: MIT */
/* Socket addresses: parsing "ADDR:PORT" and CIDR blocks, and the classifier
 * that says which destination addresses a proxy must never dial (private,
 * loopback, link-local/metadata, reserved, and IPv6 forms embedding them).
 * No I/O. */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int		c_family;	/* AF_INET or AF_INET6 */
	unsigned	c_prefix;	/* 0..32 or 0..128 */
	uint8_t		c_bytes[16];	/* network, host bits zero */
};

/* Parse "A.B.C.D:PORT" or "[V6]:PORT" (port 0-65535; 0 = any free port).
 * Returns 0 and fills `ss`/`sslen`, or -1 with a message in `err`. */
int addr_parse_hostport(const char *s, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen);

/* Parse "A.B.C.D", "V6", with an optional "/PREFIX" (default: full length).
 * Host bits set below the prefix are an error (they usually mean a typo).
 * Returns 0 or -1 with `err`. */
int cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen);

/* True when `sa` (AF_INET or AF_INET6) lies inside `c`. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) also match IPv4 blocks. */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* Format a CIDR as text ("10.0.0.0/8"). */
void cidr_format(const struct cidr *c, char *buf, size_t len);

/* Classify a destination: NULL when it is an ordinary public address, else a
 * short name of the refused class ("loopback", "private", "link-local",
 * ...). IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo,
 * IPv4-compatible) are classified by the embedded address. */
const char *addr_refused_class(const struct sockaddr *sa);

/* Write the numeric address (no port, no brackets) into buf. */
void addr_format_ip(const struct sockaddr *sa, char *buf, size_t len);

/* Write "ip:port", bracketing IPv6. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* True for 127/8 and ::1 (used to decide whether a listener is public). */
bool addr_is_loopback(const struct sockaddr *sa);

/* True for the wildcard addresses 0.0.0.0 and ::. */
bool addr_is_any(const struct sockaddr *sa);

/* True when `a` and `b` are the same IP address (ports aside); an
 * IPv4-mapped IPv6 address is the IPv4 one. */
bool addr_same_ip(const struct sockaddr *a, const struct sockaddr *b);

/* Port of an AF_INET/AF_INET6 address, host order. */
uint16_t addr_port(const struct sockaddr *sa);

/* Turn an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into plain AF_INET in
 * place, keeping the port; other addresses are left alone. `ss` must have
 * room for either. */
void addr_unmap(struct sockaddr *sa);

/* Size of the sockaddr for its family. */
socklen_t addr_len(const struct sockaddr *sa);

#endif
