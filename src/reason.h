/* SPDX-License-Identifier: MIT */
/* Why a request was refused or failed: the code clients see in
 * X-Sluice-Error and the log shows, its HTTP status, and the answer sent. */
#ifndef SLUICE_REASON_H
#define SLUICE_REASON_H

#include <stdbool.h>
#include <stddef.h>

enum reason {
	REASON_NONE = 0,
	REASON_AUTH_REQUIRED,
	REASON_AUTH_FAILED,
	REASON_BAD_REQUEST,
	REASON_HEADER_TOO_LARGE,
	REASON_DOMAIN_DENIED,
	REASON_PORT_DENIED,
	REASON_ADDRESS_DENIED,
	REASON_DNS_FAILED,
	REASON_CONNECT_FAILED,
	REASON_CONNECT_TIMEOUT,
	REASON_TOO_MANY_CONNECTIONS,
	REASON_BAD_RESPONSE,
	REASON_UPSTREAM_DENIED,
	REASON_AUTH_THROTTLED,
	REASON_AUTH_BUSY,
	REASON_AUTH_TIMEOUT,
	REASON_HEADER_TIMEOUT,
	REASON_CLIENT_ABORTED,
	REASON_SHUTDOWN,
	REASON_ORIGIN_TIMEOUT,
	REASON_IDLE_TIMEOUT,
	REASON_TLS_FAILED,
	REASON_CERT_REFUSED,
	REASON_TOO_MANY_TUNNELS,
	REASON_REVOKED,
	REASON_SNI_MISMATCH,
	REASON_SNI_MISSING,
	REASON_NOT_TLS,
	REASON_ECH_REFUSED,
	REASON_PROXY_UNTRUSTED,
	REASON_PROXY_HEADER,
	REASON_COUNT
};

/* The stable code ("domain-denied"). */
const char *reason_code(enum reason r);

/* The reason whose code is the `len` bytes at `code` ("domain-denied", as
 * X-Sluice-Error carries it; ASCII case-insensitive), or REASON_COUNT when
 * no reason has that code. */
enum reason reason_from_code(const char *code, size_t len);

/* A few words saying why, for one-line reports ("domain not in allowlist"). */
const char *reason_text(enum reason r);

/* The HTTP status sent for it (403, 407, ...); 0 for an attempt that
 * ended without an answer (logged as Squid's NONE/000). */
int reason_status(enum reason r);

/* What became of a request whose answer or end was `r`, as the JSON log's
 * "decision" and the metrics' label say: "allowed" (REASON_NONE), "aborted"
 * (`aborted`: what was let through broke off with `r`; or nobody was
 * answered), "denied" (answered with a 4xx, or an SNI refusal) or "failed"
 * (answered with a 5xx). */
const char *reason_decision(enum reason r, bool aborted);
/* The Squid result tag logged for it ("TCP_DENIED", "NONE_NONE", ...). */
const char *reason_squid_tag(enum reason r);

/* Format the whole error response (status line, headers, one-sentence body)
 * into `buf`. `target` is the request target ("host:port", may be NULL),
 * `detail` a reason-specific fragment (may be NULL), `cfgpath` the file to
 * fix. Returns the length, or -1 if it did not fit. */
int reason_response(enum reason r, const char *target, const char *detail,
    const char *cfgpath, char *buf, size_t len);

#endif
