/* SPDX-License-Identifier: MIT */
/* The table of refusal reasons and the text of error responses. The body is
 * one sentence that names the host, the reason and the fix, because the
 * person reading it is usually debugging someone else's sandbox. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "reason.h"

struct reason_info {
	const char	*ri_code;
	int		 ri_status;
	const char	*ri_phrase;
	const char	*ri_tag;
	const char	*ri_text;
	const char	*ri_proxy_status;	/* RFC 9209 error type */
};

static const struct reason_info reason_table[REASON_COUNT] = {
	[REASON_NONE] = { "-", 200, "OK", "TCP_TUNNEL",
	    "allowed",
	    NULL },
	[REASON_AUTH_REQUIRED] = { "auth-required", 407,
	    "Proxy Authentication Required", "TCP_DENIED",
	    "no proxy credentials",
	    "http_request_denied" },
	[REASON_AUTH_FAILED] = { "auth-failed", 407,
	    "Proxy Authentication Required", "TCP_DENIED",
	    "wrong proxy credentials",
	    "http_request_denied" },
	[REASON_BAD_REQUEST] = { "bad-request", 400, "Bad Request",
	    "NONE_NONE",
	    "malformed request",
	    "http_request_error" },
	[REASON_HEADER_TOO_LARGE] = { "header-too-large", 431,
	    "Request Header Fields Too Large", "NONE_NONE",
	    "request head too large",
	    "http_request_error" },
	[REASON_DOMAIN_DENIED] = { "domain-denied", 403, "Forbidden",
	    "TCP_DENIED",
	    "domain not in allowlist",
	    "http_request_denied" },
	[REASON_PORT_DENIED] = { "port-denied", 403, "Forbidden",
	    "TCP_DENIED",
	    "port not allowed",
	    "http_request_denied" },
	[REASON_ADDRESS_DENIED] = { "address-denied", 403, "Forbidden",
	    "TCP_DENIED",
	    "refused address",
	    "destination_ip_prohibited" },
	[REASON_DNS_FAILED] = { "dns-failed", 502, "Bad Gateway",
	    "TCP_MISS",
	    "name does not resolve",
	    "dns_error" },
	[REASON_CONNECT_FAILED] = { "connect-failed", 502, "Bad Gateway",
	    "TCP_MISS",
	    "cannot connect",
	    "connection_refused" },
	[REASON_CONNECT_TIMEOUT] = { "connect-timeout", 504,
	    "Gateway Timeout", "TCP_MISS",
	    "connect timed out",
	    "connection_timeout" },
	[REASON_TOO_MANY_CONNECTIONS] = { "too-many-connections", 503,
	    "Service Unavailable", "NONE_NONE",
	    "too many connections",
	    "proxy_internal_error" },
	[REASON_UPSTREAM_DENIED] = { "upstream-denied", 502, "Bad Gateway",
	    "TCP_MISS",
	    "upstream proxy refused",
	    "destination_unavailable" },
	[REASON_BAD_RESPONSE] = { "bad-response", 502, "Bad Gateway",
	    "TCP_MISS",
	    "bad response from origin",
	    "http_protocol_error" },
	[REASON_AUTH_THROTTLED] = { "auth-throttled", 429,
	    "Too Many Requests", "TCP_DENIED",
	    "too many password checks from this address",
	    "http_request_denied" },
	[REASON_AUTH_BUSY] = { "auth-busy", 503, "Service Unavailable",
	    "TCP_DENIED",
	    "too many password checks waiting",
	    "proxy_internal_error" },
	[REASON_AUTH_TIMEOUT] = { "auth-timeout", 503, "Service Unavailable",
	    "TCP_DENIED",
	    "password check did not finish in time",
	    "proxy_internal_error" },
	[REASON_HEADER_TIMEOUT] = { "header-timeout", 408, "Request Timeout",
	    "NONE_NONE",
	    "request head not received in time",
	    "http_request_error" },
	/* No answer goes out (the client left; the proxy stops): Squid logs
	 * these as NONE/000. */
	[REASON_CLIENT_ABORTED] = { "client-aborted", 0, "", "NONE",
	    "client went away before an answer",
	    NULL },
	[REASON_SHUTDOWN] = { "shutdown", 0, "", "NONE",
	    "proxy shutting down",
	    "proxy_internal_error" },
	[REASON_ORIGIN_TIMEOUT] = { "origin-timeout", 504, "Gateway Timeout",
	    "TCP_MISS",
	    "origin did not answer in time",
	    "http_response_timeout" },
	/* The client stopped reading its answer or sending its body: nothing
	 * more can be said to it, and the log says why it ended. */
	[REASON_IDLE_TIMEOUT] = { "idle-timeout", 0, "", "NONE",
	    "client idle for idle_timeout",
	    NULL },
	/* No TLS session came about on a tls listener: nothing can be said
	 * to the client (it speaks another protocol, or would not take our
	 * certificate). */
	[REASON_TLS_FAILED] = { "tls-failed", 0, "", "NONE",
	    "TLS handshake failed",
	    NULL },
	/* Not 407: a password would not make the certificate any better. */
	[REASON_CERT_REFUSED] = { "cert-refused", 403, "Forbidden",
	    "TCP_DENIED",
	    "client certificate refused",
	    "http_request_denied" },
	/* A reload took away what an open tunnel or exchange relied on:
	 * the identity, or the destination, port or address. */
	[REASON_REVOKED] = { "revoked", 0, "", "NONE",
	    "no longer allowed after a reload",
	    NULL },
	/* The SNI check: the client had our 200 (it sends its ClientHello
	 * only then) and is cut off with a TLS alert, so the record keeps
	 * the 200 it saw, tagged as a denial. */
	[REASON_SNI_MISMATCH] = { "sni-mismatch", 200, "", "TCP_DENIED",
	    "TLS server name is not the CONNECT host",
	    NULL },
	[REASON_SNI_MISSING] = { "sni-missing", 200, "", "TCP_DENIED",
	    "TLS ClientHello names no server",
	    NULL },
	[REASON_NOT_TLS] = { "not-tls", 200, "", "TCP_DENIED",
	    "no TLS ClientHello in the tunnel",
	    NULL },
	[REASON_ECH_REFUSED] = { "ech-refused", 200, "", "TCP_DENIED",
	    "encrypted ClientHello hides the server name",
	    NULL },
	[REASON_TOO_MANY_TUNNELS] = { "too-many-tunnels", 429,
	    "Too Many Requests", "TCP_DENIED",
	    "too many tunnels open for this user",
	    "http_request_denied" },
	/* A proxy_protocol listener: nothing is answered, since what
	 * follows the header may be TLS, and a source that may not send
	 * one learns nothing. */
	[REASON_PROXY_UNTRUSTED] = { "proxy-untrusted", 0, "", "NONE",
	    "connection to a proxy_protocol listener from a source not in "
	    "proxy_protocol_from",
	    NULL },
	[REASON_PROXY_HEADER] = { "proxy-header", 0, "", "NONE",
	    "no valid PROXY protocol header",
	    NULL },
};

const char *
reason_code(enum reason r)
{
	return reason_table[r].ri_code;
}

enum reason
reason_from_code(const char *code, size_t len)
{
	int r;

	for (r = REASON_NONE + 1; r < REASON_COUNT; r++)
		if (strlen(reason_table[r].ri_code) == len &&
		    strncasecmp(reason_table[r].ri_code, code, len) == 0)
			return (enum reason)r;
	return REASON_COUNT;
}

int
reason_status(enum reason r)
{
	return reason_table[r].ri_status;
}

const char *
reason_text(enum reason r)
{
	return reason_table[r].ri_text;
}

const char *
reason_squid_tag(enum reason r)
{
	return reason_table[r].ri_tag;
}

const char *
reason_decision(enum reason r, bool aborted)
{
	if (r == REASON_NONE)
		return "allowed";
	if (aborted || reason_status(r) == 0)
		return "aborted";
	return reason_status(r) < 500 ? "denied" : "failed";
}

/* The bodies about the proxy's own credentials and its password checks:
 * the fix is on the client's side. Returns false when `r` is none of
 * them, else true with snprintf's result in *n. */
static bool
reason_body_auth(enum reason r, const char *t, const char *d, char *buf,
    size_t len, int *n)
{
	switch (r) {
	case REASON_AUTH_REQUIRED:
		if (strcmp(d, "-") != 0) {
			*n = snprintf(buf, len, "sluice: proxy authentication "
			    "required for %s: %s.\n", t, d);
			return true;
		}
		*n = snprintf(buf, len, "sluice: proxy authentication "
		    "required for %s: send the proxy user and password "
		    "(e.g. http://USER:PASS@proxy:port).\n", t);
		return true;
	case REASON_AUTH_FAILED:
		*n = snprintf(buf, len, "sluice: proxy authentication failed "
		    "for %s: wrong user name or password.\n", t);
		return true;
	case REASON_CERT_REFUSED:
		*n = snprintf(buf, len, "sluice: your client certificate was "
		    "refused (%s), so nothing is forwarded to %s; present a "
		    "valid certificate signed by the proxy's tls_client_ca.\n",
		    d, t);
		return true;
	case REASON_AUTH_THROTTLED:
		*n = snprintf(buf, len, "sluice: too many password checks "
		    "from your address; retry in a second (a client that "
		    "reuses its connections, or the right password, is not "
		    "throttled).\n");
		return true;
	case REASON_AUTH_BUSY:
		*n = snprintf(buf, len, "sluice: too many password checks "
		    "are waiting; try again shortly.\n");
		return true;
	case REASON_AUTH_TIMEOUT:
		*n = snprintf(buf, len, "sluice: the password check for %s "
		    "did not finish within header_timeout; try again "
		    "shortly.\n", t);
		return true;
	default:
		return false;
	}
}

/* The bodies about the policy: they name the setting in `cfg` that would
 * allow the request, except for the metadata service. Returns false when
 * `r` is none of them, else true with snprintf's result in *n. */
static bool
reason_body_policy(enum reason r, const char *t, const char *d,
    const char *cfg, char *buf, size_t len, int *n)
{
	switch (r) {
	case REASON_DOMAIN_DENIED:
		if (strncmp(d, "deny ", 5) == 0) {
			*n = snprintf(buf, len, "sluice: access to %s denied: "
			    "the domain matches '%s' in %s.\n", t, d, cfg);
			return true;
		}
		*n = snprintf(buf, len, "sluice: access to %s denied: the "
		    "domain is not in the allowlist; add it to the allowlist "
		    "in %s.\n", t, cfg);
		return true;
	case REASON_PORT_DENIED:
		*n = snprintf(buf, len, "sluice: access to %s denied: the "
		    "port is not in %s; add it there in %s.\n", t, d, cfg);
		return true;
	case REASON_ADDRESS_DENIED:
		/* Never advise opening the metadata service: it hands out
		 * the machine's own cloud credentials. */
		if (strstr(d, "metadata") != NULL) {
			*n = snprintf(buf, len, "sluice: access to %s denied: "
			    "%s; cloud metadata services hold the machine's "
			    "own credentials and are no destination for the "
			    "code behind this proxy.\n", t, d);
			return true;
		}
		*n = snprintf(buf, len, "sluice: access to %s denied: %s; if "
		    "that is intended, add the address to allow_cidr in %s.\n",
		    t, d, cfg);
		return true;
	default:
		return false;
	}
}

/* The bodies about reaching the destination: the detail `d` says what
 * went wrong on the way. Returns false when `r` is none of them, else
 * true with snprintf's result in *n. */
static bool
reason_body_upstream(enum reason r, const char *t, const char *d, char *buf,
    size_t len, int *n)
{
	switch (r) {
	case REASON_DNS_FAILED:
		*n = snprintf(buf, len, "sluice: cannot resolve %s: %s.\n",
		    t, d);
		return true;
	case REASON_CONNECT_FAILED:
		*n = snprintf(buf, len, "sluice: cannot connect to %s: %s.\n",
		    t, d);
		return true;
	case REASON_CONNECT_TIMEOUT:
		*n = snprintf(buf, len, "sluice: connecting to %s timed out "
		    "(%s); the destination does not answer.\n", t, d);
		return true;
	case REASON_UPSTREAM_DENIED:
		*n = snprintf(buf, len, "sluice: %s could not be reached: "
		    "%s.\n", t, d);
		return true;
	case REASON_BAD_RESPONSE:
		*n = snprintf(buf, len, "sluice: bad response from %s: %s.\n",
		    t, d);
		return true;
	case REASON_ORIGIN_TIMEOUT:
		*n = snprintf(buf, len, "sluice: %s did not answer: %s.\n",
		    t, d);
		return true;
	default:
		return false;
	}
}

/* The body of a refusal: one sentence naming the target `t`, the detail
 * `d` and, where the proxy's configuration `cfg` decides, the fix. Returns
 * snprintf's result. */
static int
reason_body(enum reason r, const char *t, const char *d, const char *cfg,
    char *buf, size_t len)
{
	int n;

	if (reason_body_auth(r, t, d, buf, len, &n) ||
	    reason_body_policy(r, t, d, cfg, buf, len, &n) ||
	    reason_body_upstream(r, t, d, buf, len, &n))
		return n;
	switch (r) {
	case REASON_BAD_REQUEST:
		return snprintf(buf, len, "sluice: bad request: %s.\n", d);
	case REASON_HEADER_TOO_LARGE:
		return snprintf(buf, len, "sluice: the request head is larger "
		    "than 64 KiB or has too many header fields.\n");
	case REASON_HEADER_TIMEOUT:
		return snprintf(buf, len, "sluice: the request head did not "
		    "arrive within header_timeout.\n");
	case REASON_SHUTDOWN:
		return snprintf(buf, len, "sluice: the proxy is shutting down; "
		    "try again.\n");
	case REASON_TOO_MANY_TUNNELS:
		return snprintf(buf, len, "sluice: %s not opened: %s; close "
		    "one, or raise max_tunnels in %s.\n", t, d, cfg);
	case REASON_TOO_MANY_CONNECTIONS:
		return snprintf(buf, len, "sluice: too many connections (%s); "
		    "try again later.\n", d);
	default:
		return snprintf(buf, len, "sluice: request refused.\n");
	}
}

/* The RFC 9209 Proxy-Status field for `r`: the error type, and the detail
 * (or the short text) as an sf-string: printable ASCII, '"' and '\\'
 * escaped. Empty when the reason has no type. */
static void
reason_proxy_status(enum reason r, const char *detail, char *buf, size_t len)
{
	const char *d = detail != NULL ? detail : reason_table[r].ri_text, *p;
	size_t o;
	int n;

	buf[0] = '\0';
	if (reason_table[r].ri_proxy_status == NULL)
		return;
	n = snprintf(buf, len, "Proxy-Status: sluice; error=%s; details=\"",
	    reason_table[r].ri_proxy_status);
	if (n < 0 || (size_t)n >= len)
		return;
	o = (size_t)n;
	for (p = d; *p != '\0' && o + 5 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			continue;
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = (char)c;
	}
	memcpy(buf + o, "\"\r\n", 4);
}

int
reason_response(enum reason r, const char *target, const char *detail,
    const char *cfgpath, char *buf, size_t len)
{
	char body[1024], ps[400];
	int blen, n;

	blen = reason_body(r, target ? target : "-", detail ? detail : "-",
	    cfgpath ? cfgpath : "the configuration", body, sizeof(body));
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	reason_proxy_status(r, detail, ps, sizeof(ps));
	n = snprintf(buf, len, "HTTP/1.1 %d %s\r\n"
	    "Server: sluice\r\n"
	    "X-Sluice-Error: %s\r\n"
	    "%s"
	    "%s"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %d\r\n"
	    "Connection: close\r\n"
	    "\r\n%s", reason_table[r].ri_status, reason_table[r].ri_phrase,
	    reason_table[r].ri_code, ps,
	    reason_table[r].ri_status == 407 ?
	    "Proxy-Authenticate: Basic realm=\"sluice\"\r\n" :
	    r == REASON_AUTH_THROTTLED || r == REASON_AUTH_BUSY ?
	    "Retry-After: 1\r\n" : "",
	    blen, body);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}
