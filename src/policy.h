/* SPDX-License-Identifier: MIT */
/* The policy engine: the one place that decides whether a destination may be
 * reached. Every front end (serve, run, later ones) asks these two questions
 * in this order, so there is a single decision to audit. */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "reason.h"
#include "sni.h"

struct host;
struct policy;

enum policy_kind {
	POLICY_CONNECT = 0,	/* a CONNECT tunnel: connect_ports */
	POLICY_HTTP = 1,	/* forwarded plain HTTP: http_ports */
};

/* May a request of `kind` for canonical host `h` (with its port), under
 * policy `p` (config_policy_of), proceed to name resolution? A domain name
 * must match no deny pattern and an allow pattern; `rule` gets the pattern
 * that decided, as written ("" when no allow pattern matched). An IP
 * literal must lie in an allow_cidr block (patterns never match one). The
 * port must be in connect_ports or http_ports. Returns REASON_NONE,
 * REASON_DOMAIN_DENIED, REASON_ADDRESS_DENIED or REASON_PORT_DENIED. */
enum reason policy_check_target(const struct policy *p, const struct host *h,
    enum policy_kind kind, char *rule, size_t rulelen);

/* The detail of a refusal `r` that policy_check_target gave for `h` (with
 * the `rule` it reported), as the error response and the log's debug line
 * say it: "deny RULE", "no allow pattern matches HOST", the port set's
 * name ("connect_ports"), "ADDR is an IP address outside allow_cidr". */
void policy_detail(enum reason r, const struct host *h, enum policy_kind kind,
    const char *rule, char *buf, size_t len);

/* The SNI check of a CONNECT tunnel to `h` under policy `p`: what the
 * parser made of the client's first bytes (`st`, `hello`), with `allow_ech`
 * from the configuration. A name target needs a ClientHello that names it
 * (case and one trailing dot aside); an IP-literal target needs none, but
 * a name it gives must be one `p` allows. Returns REASON_NONE,
 * REASON_SNI_MISMATCH, REASON_SNI_MISSING, REASON_NOT_TLS or
 * REASON_ECH_REFUSED, with the detail in `why`. */
enum reason policy_check_sni(const struct policy *p, const struct host *h,
    enum sni_status st, const struct sni_hello *hello, bool allow_ech,
    char *why, size_t whylen);

/* May the resolved address `sa` be dialled under policy `p`? True unless it
 * lies in a refused class (private, loopback, metadata, ...) that none of
 * the policy's allow_cidr blocks covers; then *cls names the class. */
bool policy_check_addr(const struct policy *p, const struct sockaddr *sa,
    const char **cls);

#endif
