/* SPDX-License-Identifier: MIT */
/*
 * `sluice probe URL`: the hops from this machine to URL through the proxy,
 * in order, each judged, and the first that fails named with the fix in
 * one sentence. The person running it is usually debugging why an agent's
 * request "does not work" through someone else's proxy or sandbox, so every
 * answer is decoded into words: sluice's X-Sluice-Error and Proxy-Status
 * (through reason.c's one table), Squid's X-Squid-Error, a generic proxy's
 * status.
 *
 * It speaks to the proxy exactly as `sluice tunnel` does (proxyclient.c),
 * and opens no TCP connection but the one to the proxy: the direct-route
 * hop asks the kernel for a route with a UDP connect(), which sends
 * nothing. Nothing a proxy or an origin says reaches the terminal without
 * its control bytes made inert, and no password is ever printed: proxy URLs
 * are shown through proxyurl_format without credentials.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "probe.h"
#include "proxyclient.h"
#include "proxyurl.h"
#include "reason.h"
#include "tls.h"
#include "url.h"
#include "xport.h"

#define PROBE_EXIT_USAGE	2
#define PROBE_EXIT_HOP		10	/* + the failing hop */
#define PROBE_DETAIL		1024
#define PROBE_BODY_MAX		4096

enum probe_hop {
	PROBE_ENV = 0,
	PROBE_DIRECT,
	PROBE_NAME,
	PROBE_CONNECT,
	PROBE_PROXY_TLS,
	PROBE_AUTH,
	PROBE_POLICY,
	PROBE_DEST,
	PROBE_DEST_TLS,
	PROBE_HTTP,
	PROBE_HOPS
};

static const char *const probe_hop_name[PROBE_HOPS] = {
	"environment", "direct", "proxy-name", "proxy-connect", "proxy-tls",
	"auth", "policy", "destination", "destination-tls", "http",
};

enum probe_status {
	PROBE_NOT_RUN = 0,
	PROBE_OK,
	PROBE_WARN,
	PROBE_FAIL,
	PROBE_SKIP,
};

static const char *const probe_status_word[] = {
	"-", "ok", "warn", "FAIL", "skip",
};

/* What the proxy answered to the request: decoded once, judged by the
 * auth, policy and destination hops. */
struct probe_answer {
	int		 pa_status;
	enum reason	 pa_reason;	/* X-Sluice-Error; REASON_COUNT: none */
	bool		 pa_squid;	/* Server: squid, or X-Squid-Error */
	char		 pa_squid_err[64];	/* X-Squid-Error's first word */
	char		 pa_ps_type[64];	/* Proxy-Status error= */
	char		 pa_ps_details[300];	/* ... and details= */
	char		 pa_line[160];	/* the status line, inert */
	char		 pa_body[PROBE_BODY_MAX];	/* the body's start, inert */
};

struct probe {
	/* options */
	const char	*p_proxy_arg;	/* NULL: the environment */
	const char	*p_proxy_ca;
	const char	*p_ca;
	bool		 p_json;
	int		 p_timeout;	/* ms */
	/* the destination */
	struct url	 p_url;
	char		 p_target[HOST_NAME_MAX_LEN + 16];	/* host:port */
	char		 p_hosthdr[HOST_NAME_MAX_LEN + 16];	/* Host: */
	char		 p_path[8192];	/* origin-form */
	/* the proxy */
	struct proxyurl	 p_px;
	bool		 p_px_set;
	const char	*p_px_var;	/* where it came from */
	bool		 p_sandbox;	/* the environment sluice run sets */
	struct proxyclient p_pc;
	struct tls_client *p_px_tls;
	struct tls_client *p_dest_tls;
	struct xport	 p_dest;	/* TLS inside the tunnel */
	/* the answers */
	char		 p_buf[HTTP_MAX_HEAD];
	size_t		 p_got, p_headlen;
	struct http_head p_head;
	struct probe_answer p_ans;
	/* the results */
	enum probe_status p_st[PROBE_HOPS];
	char		 p_detail[PROBE_HOPS][PROBE_DETAIL];
	int		 p_failed;	/* the first hop that failed; -1 */
	char		 p_fix[PROBE_DETAIL];
};

static const char probe_usage[] =
"usage: sluice probe [--proxy URL|env] [--proxy-ca FILE] [--ca FILE] [--json]\n"
"                    [--timeout SECONDS] URL\n"
"\n"
"Walk every hop from this machine to URL (http:// or https://) through the\n"
"proxy, print one line per hop (ok, warn, FAIL or skip), and for the first\n"
"hop that fails one sentence with the fix. Opens no connection but the one\n"
"to the proxy (and, through it, the destination); no password is printed.\n"
"\n"
"      --proxy URL|env  the proxy (default env: https_proxy, HTTPS_PROXY,\n"
"                       http_proxy, as sluice tunnel does; http_proxy first\n"
"                       for an http:// URL)\n"
"      --proxy-ca FILE  verify an https:// proxy against this PEM bundle\n"
"      --ca FILE        verify the destination against this PEM bundle\n"
"                       instead of the system's store\n"
"      --json           print one JSON object instead of lines\n"
"      --timeout SECONDS  for each connect and wait (default 5)\n"
"  -h, --help           this help\n"
"\n"
"hops and exit status:\n"
"   0  every hop works\n"
"  10  environment      proxy variables missing, unparsable or disagreeing,\n"
"                       or NO_PROXY sending URL's host around the proxy\n"
"  11  direct           a direct route out exists inside sluice run\n"
"  12  proxy-name       the proxy's host name does not resolve\n"
"  13  proxy-connect    the proxy refuses, does not answer, or is unreachable\n"
"  14  proxy-tls        TLS to an https:// proxy fails (certificate, protocol)\n"
"  15  auth             407: credentials missing or refused (or throttled)\n"
"  16  policy           the proxy refuses URL (allowlist, port, address)\n"
"  17  destination      the proxy cannot resolve or reach the destination\n"
"  18  destination-tls  the destination's certificate is not valid\n"
"  19  http             no HTTP answer to HEAD, or a 5xx\n"
"   2  usage error\n";

static int
probe_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "sluice probe: %s%s%s\n\n%s", what, arg ? " " : "",
	    arg ? arg : "", probe_usage);
	return PROBE_EXIT_USAGE;
}

/* Copy `len` bytes of `s` to `d` (`dlen` bytes, NUL-terminated) with
 * every byte that is not printable ASCII made '?': what a proxy or an
 * origin says must not drive a terminal or a JSON reader. */
static void
probe_inert(char *d, size_t dlen, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < dlen && s[i] != '\0'; i++)
		d[i] = (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] > 0x7e ? '?' : s[i];
	d[i] = '\0';
}

/* The result of hop `h`: its status and what was found (printf-style,
 * made inert). A failure is remembered as the first if it is. */
static void __attribute__((format(printf, 4, 5)))
probe_hop(struct probe *p, enum probe_hop h, enum probe_status st,
    const char *fmt, ...)
{
	char raw[PROBE_DETAIL];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	probe_inert(p->p_detail[h], sizeof(p->p_detail[h]), raw, sizeof(raw));
	p->p_st[h] = st;
	if (st == PROBE_FAIL && p->p_failed == -1)
		p->p_failed = (int)h;
}

/* The fix for the first failure, one sentence (printf-style, inert).
 * Returns -1, for `return probe_fix(...)` after a failed hop. */
static int __attribute__((format(printf, 2, 3)))
probe_fix(struct probe *p, const char *fmt, ...)
{
	char raw[PROBE_DETAIL];
	va_list ap;

	if (p->p_fix[0] != '\0')
		return -1;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	probe_inert(p->p_fix, sizeof(p->p_fix), raw, sizeof(raw));
	return -1;
}

/* The proxy URL `u` without credentials, and its user, into `buf`. */
static void
probe_url_text(const struct proxyurl *u, char *buf, size_t len)
{
	char url[600];

	if (proxyurl_format(u, false, url, sizeof(url)) < 0)
		snprintf(url, sizeof(url), "(too long)");
	if (u->pu_user != NULL)
		snprintf(buf, len, "%s (user %s)", url, u->pu_user);
	else
		snprintf(buf, len, "%s (no credentials)", url);
}

/* ---- environment ---------------------------------------------------- */

static const char *const probe_proxy_vars[] = {
	"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY",
};
#define PROBE_NVARS	(sizeof(probe_proxy_vars) / sizeof(probe_proxy_vars[0]))

/* The environment hop's worst finding so far: its status, what it is and
 * its fix. A failure replaces a warning; warnings add up. */
struct probe_note {
	enum probe_status pn_st;
	char		 pn_why[600];
	char		 pn_fix[600];
};

static void __attribute__((format(printf, 4, 5)))
probe_note(struct probe_note *n, enum probe_status st, const char *fix,
    const char *fmt, ...)
{
	size_t o;
	va_list ap;

	if (st < n->pn_st)
		return;
	if (st > n->pn_st) {
		n->pn_why[0] = '\0';
		snprintf(n->pn_fix, sizeof(n->pn_fix), "%s", fix);
	}
	n->pn_st = st;
	o = strlen(n->pn_why);
	if (o > 0 && o + 2 < sizeof(n->pn_why)) {
		memcpy(n->pn_why + o, "; ", 3);
		o += 2;
	}
	va_start(ap, fmt);
	vsnprintf(n->pn_why + o, sizeof(n->pn_why) - o, fmt, ap);
	va_end(ap);
}

static bool
probe_streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Do the proxy URLs `a` and `b` name the same proxy with the same
 * credentials? An unparsable one is the same only as the same text. */
static bool
probe_same_proxy(const char *a, const char *b)
{
	struct proxyurl ua, ub;
	char err[300];
	bool same;

	if (strcmp(a, b) == 0)
		return true;
	if (proxyurl_parse(a, &ua, err, sizeof(err)) == -1)
		return false;
	if (proxyurl_parse(b, &ub, err, sizeof(err)) == -1) {
		proxyurl_free(&ua);
		return false;
	}
	same = ua.pu_port == ub.pu_port && ua.pu_tls == ub.pu_tls &&
	    strcasecmp(ua.pu_host, ub.pu_host) == 0 &&
	    probe_streq(ua.pu_user, ub.pu_user) &&
	    probe_streq(ua.pu_pass, ub.pu_pass);
	proxyurl_free(&ua);
	proxyurl_free(&ub);
	return same;
}

/* The proxy URL `v` as it may be shown (no password), into `buf`. */
static void
probe_env_value(const char *v, char *buf, size_t len)
{
	struct proxyurl u;
	char err[300];

	if (proxyurl_parse(v, &u, err, sizeof(err)) == -1) {
		snprintf(buf, len, "(not a proxy URL: %s)", err);
		return;
	}
	probe_url_text(&u, buf, len);
	proxyurl_free(&u);
}

/* The proxy variables that are set, those with the same value together:
 * "https_proxy, HTTPS_PROXY=http://host:3128 (user agent)". */
static void
probe_env_list(char *d, size_t len)
{
	const char *v[PROBE_NVARS];
	char shown[700];
	size_t i, j, o = 0;

	d[0] = '\0';
	for (i = 0; i < PROBE_NVARS; i++)
		v[i] = getenv(probe_proxy_vars[i]);
	for (i = 0; i < PROBE_NVARS && o < len; i++) {
		for (j = 0; j < i && !probe_streq(v[j], v[i]); j++)
			;
		if (v[i] == NULL || j < i)
			continue;
		for (j = i; j < PROBE_NVARS && o < len; j++)
			if (probe_streq(v[j], v[i]))
				o += (size_t)snprintf(d + o, len - o, "%s%s",
				    j > i ? ", " : o > 0 ? "; " : "",
				    probe_proxy_vars[j]);
		probe_env_value(v[i], shown, sizeof(shown));
		if (o < len)
			o += (size_t)snprintf(d + o, len - o, "=%s", shown);
	}
	if (o == 0)
		snprintf(d, len, "no proxy variable set");
}

/* The proxy of `--proxy env`: for https:// https_proxy, HTTPS_PROXY,
 * http_proxy (as sluice tunnel); for http:// http_proxy and HTTP_PROXY
 * first, which is all most clients read for it. */
static void
probe_env_pick(struct probe *p, struct probe_note *n)
{
	static const char *const https_order[] = { "https_proxy",
	    "HTTPS_PROXY", "http_proxy", NULL };
	static const char *const http_order[] = { "http_proxy", "HTTP_PROXY",
	    "https_proxy", "HTTPS_PROXY", NULL };
	const char *const *order = p->p_url.u_scheme == URL_HTTPS ?
	    https_order : http_order;
	const char *v = NULL;
	char err[300];
	size_t i;

	for (i = 0; order[i] != NULL && v == NULL; i++)
		if ((v = getenv(order[i])) != NULL)
			p->p_px_var = order[i];
	if (v == NULL) {
		probe_note(n, PROBE_FAIL, "set https_proxy and http_proxy to "
		    "the proxy's URL (eval \"$(sluice url --env)\" does), or "
		    "pass --proxy URL", "no %s in the environment",
		    p->p_url.u_scheme == URL_HTTPS ? "https_proxy, HTTPS_PROXY "
		    "or http_proxy" : "http_proxy or HTTP_PROXY");
		return;
	}
	if (proxyurl_parse(v, &p->p_px, err, sizeof(err)) == -1) {
		probe_note(n, PROBE_FAIL, "give it the form http[s]://[USER:"
		    "PASS@]HOST[:PORT] (sluice url prints one)",
		    "%s is not a proxy URL: %s", p->p_px_var, err);
		return;
	}
	p->p_px_set = true;
	if (i > 2)
		probe_note(n, PROBE_WARN, "", "only %s is set: most clients "
		    "send %s URLs around the proxy", p->p_px_var,
		    p->p_url.u_scheme == URL_HTTPS ? "https://" : "http://");
	p->p_sandbox = getenv("GRPC_PROXY") != NULL &&
	    strcmp(getenv("GRPC_PROXY"), v) == 0 && !p->p_px.pu_tls &&
	    p->p_px.pu_user == NULL && strcmp(p->p_px.pu_host,
	    "127.0.0.1") == 0 && probe_streq(getenv("NODE_USE_ENV_PROXY"),
	    "1");
}

/* Variables that clients read in different orders must agree. */
static void
probe_env_agree(struct probe *p, struct probe_note *n)
{
	enum probe_status sev = p->p_proxy_arg ? PROBE_WARN : PROBE_FAIL;
	const char *v[PROBE_NVARS], *np = getenv("NO_PROXY"),
	    *lp = getenv("no_proxy");
	char fix[200];
	size_t i;

	for (i = 0; i < PROBE_NVARS; i++)
		v[i] = getenv(probe_proxy_vars[i]);
	for (i = 0; i < PROBE_NVARS; i += 2) {
		if (v[i] == NULL || v[i + 1] == NULL ||
		    probe_same_proxy(v[i], v[i + 1]))
			continue;
		snprintf(fix, sizeof(fix), "set %s and %s to the same URL: "
		    "each client picks one of them", probe_proxy_vars[i],
		    probe_proxy_vars[i + 1]);
		probe_note(n, sev, fix, "%s and %s name different proxies",
		    probe_proxy_vars[i], probe_proxy_vars[i + 1]);
	}
	if (v[0] != NULL && v[2] != NULL && !probe_same_proxy(v[0], v[2]))
		probe_note(n, PROBE_WARN, "", "https_proxy and http_proxy "
		    "name different proxies");
	if (np != NULL && lp != NULL && strcmp(np, lp) != 0)
		probe_note(n, PROBE_WARN, "", "NO_PROXY and no_proxy differ");
	if (!probe_streq(getenv("NODE_USE_ENV_PROXY"), "1"))
		probe_note(n, PROBE_WARN, "", "NODE_USE_ENV_PROXY is not 1: "
		    "Node's built-in fetch ignores the proxy");
}

/* Does the NO_PROXY entry `e` (`len` bytes) cover `name`, as curl and
 * Python read it: "*", the name itself, or a domain it is in (with or
 * without a leading dot); a ":port" suffix and IPv6 brackets are
 * ignored. */
static bool
probe_no_proxy_entry(const char *e, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	const char *colon;

	if (len == 1 && e[0] == '*')
		return true;
	if (len > 0 && e[0] == '[') {
		e++;
		len = (colon = memchr(e, ']', len - 1)) ? (size_t)(colon - e) :
		    len - 1;
	} else if ((colon = memchr(e, ':', len)) != NULL &&
	    memchr(colon + 1, ':', len - (size_t)(colon + 1 - e)) == NULL)
		len = (size_t)(colon - e);
	if (len > 1 && e[0] == '*' && e[1] == '.') {
		e++;
		len--;
	}
	if (len > 0 && e[0] == '.') {
		e++;
		len--;
	}
	if (len == 0 || len > nlen)
		return false;
	return strncasecmp(name + nlen - len, e, len) == 0 &&
	    (len == nlen || name[nlen - len - 1] == '.');
}

/* The entry of NO_PROXY or no_proxy that sends the destination around
 * the proxy, if any, into the note. */
static void
probe_env_no_proxy(struct probe *p, struct probe_note *n)
{
	static const char *const vars[] = { "NO_PROXY", "no_proxy" };
	enum probe_status sev = p->p_proxy_arg ? PROBE_WARN : PROBE_FAIL;
	const char *name = p->p_url.u_host.h_name, *v, *e;
	char fix[600];
	size_t i, len;

	for (i = 0; i < 2; i++) {
		if ((v = getenv(vars[i])) == NULL)
			continue;
		for (e = v; *e != '\0'; e += len + (e[len] != '\0')) {
			e += strspn(e, " \t");
			len = strcspn(e, ", \t");
			if (len == 0 || !probe_no_proxy_entry(e, len, name))
				continue;
			snprintf(fix, sizeof(fix), "take '%.*s' out of %s (and "
			    "of %s), or clients reach %s without the proxy",
			    (int)(len > 100 ? 100 : len), e, vars[i],
			    vars[1 - i], name);
			probe_note(n, sev, fix, "%s entry '%.*s' sends %s "
			    "around the proxy", vars[i], (int)(len > 100 ? 100 :
			    len), e, name);
			return;
		}
	}
}

/* Hop 1: which proxy variables are set, whether they agree, and the
 * proxy to probe. Returns -1 when no proxy is left to probe. */
static int
probe_env(struct probe *p)
{
	struct probe_note n = { PROBE_OK, "", "" };
	char list[PROBE_DETAIL];
	const char *np = getenv("NO_PROXY");

	if (np == NULL)
		np = getenv("no_proxy");
	probe_env_list(list, sizeof(list));
	if (p->p_proxy_arg == NULL)
		probe_env_pick(p, &n);
	else
		p->p_px_var = "--proxy";
	probe_env_agree(p, &n);
	probe_env_no_proxy(p, &n);
	probe_hop(p, PROBE_ENV, n.pn_st, "%s%s%s; NO_PROXY=%s%s",
	    n.pn_why, n.pn_why[0] ? "; " : "", list, np ? np : "(unset)",
	    p->p_proxy_arg ? "; probing the proxy of --proxy" : "");
	if (n.pn_st == PROBE_FAIL)
		probe_fix(p, "%s", n.pn_fix);
	return p->p_px_set ? 0 : -1;
}

/* ---- direct route --------------------------------------------------- */

/* Is `sa` a loopback address (this machine, not a way out)? */
static bool
probe_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	    (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
	    s6->sin6_addr.s6_addr[12] == 127));
}

/* Is there a route to `sa`? A UDP connect() asks the kernel's routing
 * table and sends nothing. Returns 0, or -1 with errno (ENETUNREACH). */
static int
probe_route(const struct sockaddr *sa, socklen_t len)
{
	int fd, r, e;

	if ((fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = connect(fd, sa, len);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* The first address of `res` (loopback left out) that this machine has a
 * route to, into `out`; otherwise why the last had none into `why`.
 * Returns whether there was one. */
static bool
probe_direct_try(const struct addrinfo *res, char *out, size_t outlen,
    char *why, size_t whylen)
{
	const struct addrinfo *ai;
	char addr[64];

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (probe_loopback(ai->ai_addr))
			continue;
		proxyclient_addr_text(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr));
		if (probe_route(ai->ai_addr, ai->ai_addrlen) == 0) {
			snprintf(out, outlen, "%s", addr);
			return true;
		}
		if (why[0] == '\0')	/* the first says it best */
			snprintf(why, whylen, "%s: %s", addr, strerror(errno));
	}
	return false;
}

/* What this machine's own resolver says of the destination, into
 * `where`, and its addresses into *res (NULL when it does not resolve).
 * This may send DNS queries, as any client here would. */
static void
probe_direct_where(struct probe *p, struct addrinfo **res, char *where,
    size_t len)
{
	const struct host *h = &p->p_url.u_host;
	char addr[64];
	int gai;

	*res = NULL;
	if (proxyclient_resolve(h->h_name, h->h_port, res, &gai) == -1) {
		snprintf(where, len, "%s does not resolve here (%s)",
		    h->h_name, gai_strerror(gai));
		return;
	}
	proxyclient_addr_text((*res)->ai_addr, (*res)->ai_addrlen, addr,
	    sizeof(addr));
	snprintf(where, len, "%s is %s here%s", h->h_name, addr,
	    probe_loopback((*res)->ai_addr) ? " (this machine)" : "");
}

/* Hop 2: is there a way out but the proxy? The destination's addresses,
 * then two documentation addresses (RFC 5737, RFC 3849) that only a
 * default route reaches. Inside sluice run there must be none. */
static int
probe_direct(struct probe *p)
{
	static const char *const anywhere[] = { "192.0.2.1", "2001:db8::1" };
	struct addrinfo *res, *any;
	char where[400], out[64] = "", why[200] = "";
	size_t i;
	int gai;

	probe_direct_where(p, &res, where, sizeof(where));
	(void)probe_direct_try(res, out, sizeof(out), why, sizeof(why));
	for (i = 0; i < 2 && out[0] == '\0'; i++) {
		if (proxyclient_resolve(anywhere[i], p->p_url.u_host.h_port,
		    &any, &gai) == -1)
			continue;
		(void)probe_direct_try(any, out, sizeof(out), why, sizeof(why));
		freeaddrinfo(any);
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "no address to try");
	if (out[0] == '\0') {
		probe_hop(p, PROBE_DIRECT, PROBE_OK, "no route except the "
		    "proxy (%s)%s; %s", why, p->p_sandbox ? ", as sluice run "
		    "promises" : "", where);
		return 0;
	}
	if (!p->p_sandbox) {
		probe_hop(p, PROBE_DIRECT, PROBE_OK, "a direct route exists "
		    "(to %s): a client that ignores the proxy gets out; %s",
		    out, where);
		return 0;
	}
	probe_hop(p, PROBE_DIRECT, PROBE_FAIL, "inside sluice run, yet a "
	    "route to %s exists; %s", out, where);
	probe_fix(p, "this process has sluice run's environment but a way "
	    "out around the proxy: run it under sluice run (not --no-isolate), "
	    "and report it if it is");
	return 0;
}

/* ---- the proxy: name, connection, TLS -------------------------------- */

/* Hop 3: the proxy's name. Returns 0 with its addresses in *res, or -1. */
static int
probe_name(struct probe *p, struct addrinfo **res)
{
	const char *host = p->p_px.pu_host;
	char addrs[300], addr[64];
	const struct addrinfo *ai;
	size_t o = 0;
	int gai, k = 0;

	if (proxyclient_resolve(host, p->p_px.pu_port, res, &gai) == -1) {
		probe_hop(p, PROBE_NAME, PROBE_FAIL, "%s does not resolve: %s",
		    host, gai_strerror(gai));
		return probe_fix(p, "the proxy's host %s does not resolve "
		    "here: check the host in %s, or /etc/hosts and DNS", host,
		    p->p_px_var);
	}
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		probe_hop(p, PROBE_NAME, PROBE_OK, "%s is an address: nothing "
		    "to resolve", host);
		return 0;
	}
	addrs[0] = '\0';
	for (ai = *res; ai != NULL && k < 4 && o < sizeof(addrs); ai =
	    ai->ai_next, k++) {
		proxyclient_addr_text(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr));
		o += (size_t)snprintf(addrs + o, sizeof(addrs) - o, "%s%s",
		    k ? ", " : "", addr);
	}
	probe_hop(p, PROBE_NAME, PROBE_OK, "%s is %s", host, addrs);
	return 0;
}

/* Hop 4: TCP to the proxy, each address within the time limit. */
static int
probe_connect(struct probe *p, const struct addrinfo *res)
{
	const char *a = p->p_pc.pc_addr;
	int e;

	if (proxyclient_connect(&p->p_pc, res) == 0) {
		probe_hop(p, PROBE_CONNECT, PROBE_OK, "connected to %s", a);
		return 0;
	}
	e = errno;
	probe_hop(p, PROBE_CONNECT, PROBE_FAIL, "%s: %s", a, e == ETIMEDOUT ?
	    "no answer in time" : strerror(e));
	if (e == ECONNREFUSED)
		return probe_fix(p, "nothing listens on %s: start the proxy, "
		    "or fix the port in %s", a, p->p_px_var);
	if (e == ETIMEDOUT)
		return probe_fix(p, "%s does not answer within %d ms: the "
		    "proxy is down, or a firewall drops the connection", a,
		    p->p_timeout);
	if (e == ENETUNREACH || e == EHOSTUNREACH)
		return probe_fix(p, "this machine has no route to the proxy "
		    "at %s: check the network, or the proxy's address in %s",
		    a, p->p_px_var);
	return probe_fix(p, "cannot connect to the proxy at %s (%s)", a,
	    strerror(e));
}

/* The fix for a refused certificate of the proxy (`dest` false) or the
 * destination, `host` the name it was checked for. Returns -1. */
static int
probe_tls_fix(struct probe *p, bool dest, enum tls_refusal r,
    const char *host, const char *why)
{
	const char *opt = dest ? "--ca" : "--proxy-ca";
	const char *file = dest ? p->p_ca : p->p_proxy_ca;
	const char *who = dest ? host : "the proxy";

	switch (r) {
	case TLS_REFUSAL_ISSUER:
		if (file != NULL)
			return probe_fix(p, "%s's certificate is not signed by "
			    "a CA in %s %s: pass the CA that signed it", who,
			    opt, file);
		if (!dest)
			return probe_fix(p, "the proxy's certificate is "
			    "signed by a CA this machine does not trust: pass "
			    "--proxy-ca FILE with the proxy's CA (and give "
			    "your clients the same)");
		return probe_fix(p, "%s's certificate is self-signed or signed "
		    "by a CA this machine does not trust: pass --ca FILE if "
		    "it uses a private CA; otherwise something intercepts the "
		    "connection", host);
	case TLS_REFUSAL_EXPIRED:
		return probe_fix(p, "%s's certificate has expired or is not "
		    "valid yet: it must be renewed, or this machine's clock "
		    "is wrong", who);
	case TLS_REFUSAL_NAME:
		return probe_fix(p, "%s's certificate is not valid for %s: %s",
		    who, host, dest ? "the destination serves another name's "
		    "certificate (a wrong address, or an interception)" :
		    "use the name it was issued for in the proxy URL");
	default:
		return probe_fix(p, "TLS with %s failed (%s): %s", who, why,
		    dest ? "does its port speak TLS?" : "is its port a TLS "
		    "port? an http:// proxy needs http:// in the URL");
	}
}

/* A TLS client context for `ca` (NULL: the system's store) into *tc.
 * Returns 0, or -1 having failed hop `h`. */
static int
probe_tls_context(struct probe *p, enum probe_hop h, const char *opt,
    const char *ca, struct tls_client **tc)
{
	char err[300];

	if ((*tc = tls_client_new(ca, err, sizeof(err))) != NULL)
		return 0;
	probe_hop(p, h, PROBE_FAIL, "%s%s%s", ca ? opt : "", ca ? " " : "",
	    err);
	return probe_fix(p, "%s must name a readable PEM file of CA "
	    "certificates", opt);
}

/* Hop 5: TLS to an https:// proxy, its certificate verified. */
static int
probe_proxy_tls(struct probe *p)
{
	const char *host = p->p_px.pu_host;
	char why[300];

	if (!p->p_px.pu_tls) {
		probe_hop(p, PROBE_PROXY_TLS, PROBE_SKIP, "the proxy URL is "
		    "http://: no TLS to the proxy%s", p->p_proxy_ca ?
		    " (--proxy-ca unused)" : "");
		return 0;
	}
	if (probe_tls_context(p, PROBE_PROXY_TLS, "--proxy-ca",
	    p->p_proxy_ca, &p->p_px_tls) == -1)
		return -1;
	if (proxyclient_tls(&p->p_pc, p->p_px_tls, host, why,
	    sizeof(why)) == 0) {
		probe_hop(p, PROBE_PROXY_TLS, PROBE_OK, "%s, certificate "
		    "valid for %s", tls_version(&p->p_pc.pc_x), host);
		return 0;
	}
	if (errno == ENOMEM)
		snprintf(why, sizeof(why), "out of memory");
	probe_hop(p, PROBE_PROXY_TLS, PROBE_FAIL, "%s: %s", p->p_pc.pc_name,
	    why);
	return probe_tls_fix(p, false, tls_refusal(&p->p_pc.pc_x), host, why);
}

/* ---- the proxy's answer --------------------------------------------- */

/* Parse the head of p_buf (p_headlen bytes) as a response. Returns 0, or
 * -1 when it is not HTTP. */
static int
probe_parse_head(struct probe *p, bool to_head)
{
	http_head_init_response(&p->p_head, to_head);
	return http_head_feed(&p->p_head, p->p_buf, p->p_headlen) ==
	    HTTP_HEAD_DONE ? 0 : -1;
}

/* Read a response head from `x` into p_buf. Returns 0, or -1 with what
 * went wrong in `why`. */
static int
probe_read_head(struct probe *p, struct xport *x, char *why, size_t len)
{
	p->p_got = p->p_headlen = 0;
	if (proxyclient_head(x, p->p_buf, sizeof(p->p_buf), &p->p_got,
	    &p->p_headlen, p->p_timeout) == -1) {
		snprintf(why, len, "%s", errno == ETIMEDOUT ? "no answer in "
		    "time" : strerror(errno));
		return -1;
	}
	if (p->p_headlen == 0) {
		snprintf(why, len, "%s", p->p_got == 0 ? "the connection was "
		    "closed without an answer" : p->p_got == sizeof(p->p_buf) ?
		    "the answer's head is too large" : "the connection was "
		    "closed in the middle of the answer");
		return -1;
	}
	return 0;
}

/* The value of header `name` in the answer, inert, trailing blanks cut,
 * into `d` ("" when absent). Returns whether it is there. */
static bool
probe_header(struct probe *p, const char *name, char *d, size_t dlen)
{
	const char *v;
	size_t len;

	d[0] = '\0';
	if ((v = http_head_get(&p->p_head, p->p_buf, name, &len)) == NULL)
		return false;
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	probe_inert(d, dlen, v, len);
	return true;
}

/* RFC 9209 Proxy-Status `v` (inert already): the error type and the
 * details of its first member that has them, into the answer. */
static void
probe_proxy_status(const char *v, struct probe_answer *a)
{
	const char *e = strstr(v, "error="), *d;
	size_t len, o = 0;

	if (e == NULL)
		return;
	e += 6;
	len = strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	snprintf(a->pa_ps_type, sizeof(a->pa_ps_type), "%.*s", (int)len, e);
	if ((d = strstr(e, "details=\"")) == NULL)
		return;
	for (d += 9; *d != '\0' && *d != '"' && o + 1 <
	    sizeof(a->pa_ps_details); d++) {
		if (*d == '\\' && d[1] != '\0')
			d++;
		a->pa_ps_details[o++] = *d;
	}
	a->pa_ps_details[o] = '\0';
}

/* The start of the answer's body (its Content-Length, at most
 * PROBE_BODY_MAX - 1 bytes), inert and without its final newline, into
 * pa_body: sluice's sentence names the fix and the configuration file. */
static void
probe_body(struct probe *p)
{
	char cl[32];
	size_t want, have = p->p_got - p->p_headlen;
	ssize_t n;

	if (!probe_header(p, "Content-Length", cl, sizeof(cl)))
		return;
	want = strtoul(cl, NULL, 10);
	if (want > PROBE_BODY_MAX - 1)
		want = PROBE_BODY_MAX - 1;
	while (have < want && p->p_got < sizeof(p->p_buf)) {
		n = xport_read(&p->p_pc.pc_x, p->p_buf + p->p_got,
		    sizeof(p->p_buf) - p->p_got);
		if (n > 0) {
			p->p_got += (size_t)n;
			have += (size_t)n;
		} else if (n == 0 || errno != EAGAIN ||
		    proxyclient_wait(&p->p_pc.pc_x, p->p_timeout) == -1)
			break;
	}
	if (have > want)
		have = want;
	while (have > 0 && (p->p_buf[p->p_headlen + have - 1] == '\n' ||
	    p->p_buf[p->p_headlen + have - 1] == '\r'))
		have--;
	probe_inert(p->p_ans.pa_body, sizeof(p->p_ans.pa_body),
	    p->p_buf + p->p_headlen, have);
}

/* Decode the proxy's answer in p_buf into p_ans. */
static void
probe_decode(struct probe *p)
{
	struct probe_answer *a = &p->p_ans;
	char v[300];

	memset(a, 0, sizeof(*a));
	a->pa_status = p->p_head.hh_status;
	proxyclient_status_line(p->p_buf, p->p_headlen, a->pa_line,
	    sizeof(a->pa_line));
	probe_inert(a->pa_line, sizeof(a->pa_line), a->pa_line,
	    sizeof(a->pa_line));
	a->pa_reason = REASON_COUNT;
	if (probe_header(p, "X-Sluice-Error", v, sizeof(v)))
		a->pa_reason = reason_from_code(v, strlen(v));
	if (probe_header(p, "X-Squid-Error", v, sizeof(v))) {
		a->pa_squid = true;
		snprintf(a->pa_squid_err, sizeof(a->pa_squid_err), "%.*s",
		    (int)strcspn(v, " "), v);
	}
	if (probe_header(p, "Server", v, sizeof(v)) &&
	    strncasecmp(v, "squid", 5) == 0)
		a->pa_squid = true;
	if (probe_header(p, "Proxy-Status", v, sizeof(v)))
		probe_proxy_status(v, a);
	/* A refusal's body, not a forwarded answer's: to HEAD that has
	 * none, whatever its Content-Length says. */
	if ((a->pa_status < 200 || a->pa_status > 299) &&
	    (p->p_url.u_scheme == URL_HTTPS || a->pa_reason != REASON_COUNT))
		probe_body(p);
}

/* Hop 7's request: CONNECT for https://, HEAD of the absolute URL for
 * http://, with the URL's credentials; then the answer's head, decoded.
 * Returns 0, or -1 having failed the policy hop (no answer to judge). */
static int
probe_ask(struct probe *p)
{
	bool tunnel = p->p_url.u_scheme == URL_HTTPS;
	char req[16384], abs[sizeof(p->p_path) + 300], why[300];
	int n, shown;

	snprintf(abs, sizeof(abs), "http://%s%s", p->p_hosthdr, p->p_path);
	/* What is shown of it: not the query, which may hold a token. */
	shown = (int)(strlen(abs) - strlen(p->p_path) + strcspn(p->p_path,
	    "?"));
	n = proxyclient_request(&p->p_px, tunnel ? "CONNECT" : "HEAD",
	    tunnel ? p->p_target : abs, tunnel ? p->p_target : p->p_hosthdr,
	    tunnel ? "User-Agent: sluice-probe\r\n" : "User-Agent: "
	    "sluice-probe\r\nConnection: close\r\n", req, sizeof(req));
	why[0] = '\0';
	if (n == -1)
		snprintf(why, sizeof(why), "the request is too long");
	else if (proxyclient_send(&p->p_pc.pc_x, req, (size_t)n,
	    p->p_timeout) == -1)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	explicit_bzero(req, sizeof(req));
	if (why[0] == '\0' && probe_read_head(p, &p->p_pc.pc_x, why,
	    sizeof(why)) == 0 && probe_parse_head(p, !tunnel) == -1)
		snprintf(why, sizeof(why), "not an HTTP answer");
	if (why[0] != '\0') {
		probe_hop(p, PROBE_POLICY, PROBE_FAIL, "%s %.*s: %s", tunnel ?
		    "CONNECT" : "HEAD", tunnel ? (int)strlen(p->p_target) :
		    shown, tunnel ? p->p_target : abs, why);
		return probe_fix(p, "the proxy at %s did not answer the "
		    "request (%s): is it an HTTP proxy, and is %s its port?",
		    p->p_pc.pc_addr, why, p->p_pc.pc_addr);
	}
	probe_decode(p);
	return 0;
}

/* ---- authentication ------------------------------------------------- */

static bool
probe_auth_reason(enum reason r)
{
	return r == REASON_AUTH_REQUIRED || r == REASON_AUTH_FAILED ||
	    r == REASON_AUTH_THROTTLED || r == REASON_AUTH_BUSY ||
	    r == REASON_AUTH_TIMEOUT || r == REASON_CERT_REFUSED;
}

/* sluice refused the credentials (or could not check them). */
static int
probe_auth_sluice(struct probe *p, enum reason r)
{
	const struct probe_answer *a = &p->p_ans;
	const char *user = p->p_px.pu_user;

	probe_hop(p, PROBE_AUTH, PROBE_FAIL, "%s: %s (X-Sluice-Error: %s)",
	    a->pa_line, reason_text(r), reason_code(r));
	switch (r) {
	case REASON_AUTH_REQUIRED:
		if (user == NULL)
			return probe_fix(p, "the proxy wants a user and "
			    "password and %s has none: put them in the proxy "
			    "URL (http://USER:PASS@HOST:PORT, as sluice url "
			    "prints it)", p->p_px_var);
		return probe_fix(p, "the proxy did not take the credentials "
		    "as sent: %s", a->pa_body);
	case REASON_AUTH_FAILED:
		return probe_fix(p, "the proxy refused the password for user "
		    "%s: check PROXY_PASS or the users file", user ? user :
		    "-");
	case REASON_AUTH_THROTTLED:
		return probe_fix(p, "the proxy throttles password checks from "
		    "this address after too many: wait a second, and stop "
		    "whichever client keeps sending a wrong password");
	case REASON_CERT_REFUSED:
		return probe_fix(p, "the proxy refused this client's "
		    "certificate: present one signed by its tls_client_ca");
	default:
		return probe_fix(p, "the proxy's password checks are "
		    "overloaded: try again shortly");
	}
}

/* Hop 6: did the proxy take the credentials (or not ask for any)? */
static int
probe_auth(struct probe *p)
{
	const struct probe_answer *a = &p->p_ans;
	const char *user = p->p_px.pu_user;
	const char *who = a->pa_squid ? "Squid" : "the proxy";

	if (probe_auth_reason(a->pa_reason))
		return probe_auth_sluice(p, a->pa_reason);
	if (a->pa_status != 407) {
		if (user != NULL)
			probe_hop(p, PROBE_AUTH, PROBE_OK, "the credentials of "
			    "user %s were not refused", user);
		else
			probe_hop(p, PROBE_AUTH, PROBE_OK, "no credentials "
			    "sent, none asked for");
		return 0;
	}
	probe_hop(p, PROBE_AUTH, PROBE_FAIL, "%s: %s wants credentials%s%s",
	    a->pa_line, who, user ? " and refused those of user " :
	    " and none were sent", user ? user : "");
	if (user == NULL)
		return probe_fix(p, "%s wants a user and password and %s has "
		    "none: put them in the proxy URL (http://USER:PASS@HOST:"
		    "PORT)", who, p->p_px_var);
	return probe_fix(p, "%s refused the password for user %s: check the "
	    "user and password in %s (PROXY_USER, PROXY_PASS)", who, user,
	    p->p_px_var);
}

/* ---- the proxy's verdict and the destination ------------------------ */

/* The configuration file sluice's sentence names at its end ("... in
 * /etc/sluice/sluice.conf."), into `cfg`; "the proxy's configuration"
 * when it names none. */
static void
probe_cfg(const char *body, char *cfg, size_t len)
{
	const char *in = NULL, *s;
	size_t n;

	for (s = body; (s = strstr(s, " in ")) != NULL; s += 4)
		in = s + 4;
	if (in == NULL || (n = strlen(in)) < 2 || in[n - 1] != '.') {
		snprintf(cfg, len, "the proxy's configuration");
		return;
	}
	snprintf(cfg, len, "%.*s", (int)(n - 1), in);
}

/* Hop 8 failed at the proxy: it could not resolve or reach the
 * destination (`what`, its own words in `detail`). */
static int
probe_dest_down(struct probe *p, bool dns, const char *what,
    const char *detail)
{
	const char *host = p->p_url.u_host.h_name;

	probe_hop(p, PROBE_POLICY, PROBE_OK, "allowed");
	probe_hop(p, PROBE_DEST, PROBE_FAIL, "%s%s%s", what, detail[0] ?
	    ": " : "", detail);
	if (dns)
		return probe_fix(p, "%s does not resolve at the proxy: check "
		    "the name in the URL, or the proxy's DNS (dns_server, "
		    "hosts_file)", host);
	return probe_fix(p, "nothing answers at %s: the destination is "
	    "down, or the port is wrong", p->p_target);
}

/* The fix for sluice's refusal `r` of the destination. Returns -1. */
static int
probe_policy_fix(struct probe *p, enum reason r, const char *cfg)
{
	const struct probe_answer *a = &p->p_ans;
	const char *host = p->p_url.u_host.h_name;

	switch (r) {
	case REASON_DOMAIN_DENIED:
		if (strstr(a->pa_body, "matches '") != NULL)
			return probe_fix(p, "%s matches a deny rule in %s: "
			    "remove or narrow that rule", host, cfg);
		return probe_fix(p, "%s is not in the allowlist: add it to "
		    "allow or allow_file in %s", host, cfg);
	case REASON_PORT_DENIED:
		return probe_fix(p, "port %u is not allowed: add it to %s in "
		    "%s", (unsigned)p->p_url.u_host.h_port,
		    p->p_url.u_scheme == URL_HTTPS ? "connect_ports" :
		    "http_ports", cfg);
	case REASON_ADDRESS_DENIED:
		if (strstr(a->pa_body, "metadata") != NULL)
			return probe_fix(p, "%s is a cloud metadata service, "
			    "which hands out the machine's own credentials: "
			    "it is no destination for code behind a proxy",
			    host);
		return probe_fix(p, "%s resolves to an address the proxy "
		    "refuses (%s): if that is intended, add it to allow_cidr "
		    "in %s", host, a->pa_ps_details, cfg);
	case REASON_UPSTREAM_DENIED:
		return probe_fix(p, "the proxy's own upstream proxy refused "
		    "%s: ask whoever runs it", host);
	case REASON_TOO_MANY_TUNNELS:
		return probe_fix(p, "too many tunnels are open for this user: "
		    "close some, or raise max_tunnels in %s", cfg);
	default:
		return probe_fix(p, "the proxy refused the request (%s)%s%s",
		    reason_code(r), a->pa_body[0] ? ": " : "", a->pa_body);
	}
}

/* Hop 7 with sluice's X-Sluice-Error: a refusal, or (hop 8 or 9) the
 * destination failing behind an allowed request. */
static int
probe_policy_sluice(struct probe *p, enum reason r)
{
	const struct probe_answer *a = &p->p_ans;
	char cfg[300];

	switch (r) {
	case REASON_DNS_FAILED:
	case REASON_CONNECT_FAILED:
	case REASON_CONNECT_TIMEOUT:
		return probe_dest_down(p, r == REASON_DNS_FAILED,
		    reason_text(r), a->pa_ps_details);
	case REASON_ORIGIN_TIMEOUT:
	case REASON_BAD_RESPONSE:
		probe_hop(p, PROBE_POLICY, PROBE_OK, "allowed");
		probe_hop(p, PROBE_DEST, PROBE_OK, "the proxy reached %s",
		    p->p_target);
		probe_hop(p, PROBE_HTTP, PROBE_FAIL, "%s: %s: %s", a->pa_line,
		    reason_text(r), a->pa_ps_details);
		return probe_fix(p, "%s takes the connection but does not "
		    "answer HTTP properly (%s): the destination itself is "
		    "at fault", p->p_target, a->pa_ps_details);
	default:
		break;
	}
	probe_cfg(a->pa_body, cfg, sizeof(cfg));
	probe_hop(p, PROBE_POLICY, PROBE_FAIL, "%s: %s (X-Sluice-Error: %s)%s"
	    "%s", a->pa_line, reason_text(r), reason_code(r), a->pa_body[0] ?
	    "; " : "", a->pa_body);
	return probe_policy_fix(p, r, cfg);
}

/* Hop 7 with Squid's X-Squid-Error. */
static int
probe_policy_squid(struct probe *p)
{
	const struct probe_answer *a = &p->p_ans;
	const char *e = a->pa_squid_err;

	if (strcmp(e, "ERR_DNS_FAIL") == 0 || strcmp(e, "ERR_CONNECT_FAIL") ==
	    0 || strcmp(e, "ERR_READ_TIMEOUT") == 0)
		return probe_dest_down(p, strcmp(e, "ERR_DNS_FAIL") == 0,
		    "Squid cannot reach it", e);
	probe_hop(p, PROBE_POLICY, PROBE_FAIL, "%s: Squid refused %s "
	    "(X-Squid-Error: %s)", a->pa_line, p->p_target, e);
	if (a->pa_status == 403 || strcmp(e, "ERR_ACCESS_DENIED") == 0)
		return probe_fix(p, "%s is not allowed by Squid's http_access "
		    "rules: ask the proxy's operator to allow it (an acl "
		    "dstdomain line in squid.conf)", p->p_url.u_host.h_name);
	return probe_fix(p, "Squid refused the request (%s)", e);
}

/* Is the RFC 9209 error type `t` about reaching the destination? */
static bool
probe_ps_unreachable(const char *t)
{
	return strncmp(t, "dns_", 4) == 0 ||
	    strncmp(t, "destination_", 12) == 0 ||
	    strncmp(t, "connection_", 11) == 0;
}

/* Hop 7 for any other proxy: its Proxy-Status, else its status. */
static int
probe_policy_other(struct probe *p)
{
	const struct probe_answer *a = &p->p_ans;
	bool down = a->pa_ps_type[0] ? probe_ps_unreachable(a->pa_ps_type) :
	    a->pa_status == 502 || a->pa_status == 503 || a->pa_status == 504;
	char what[600];

	snprintf(what, sizeof(what), "%s%s%s%s%s", a->pa_line,
	    a->pa_ps_type[0] ? " (Proxy-Status: " : "", a->pa_ps_type,
	    a->pa_ps_details[0] ? ", " : "", a->pa_ps_details);
	if (a->pa_ps_type[0])
		strncat(what, ")", sizeof(what) - strlen(what) - 1);
	if (down)
		return probe_dest_down(p, strncmp(a->pa_ps_type, "dns_", 4) ==
		    0, "the proxy cannot reach it", what);
	probe_hop(p, PROBE_POLICY, PROBE_FAIL, "the proxy refused: %s", what);
	return probe_fix(p, "the proxy refuses %s (%s): ask its operator to "
	    "allow it", p->p_target, a->pa_line);
}

/* Hop 9's verdict on a response head in p_buf (p_headlen bytes, parsed):
 * any answer but a 5xx. */
static int
probe_http_judge(struct probe *p, const char *how)
{
	char line[160];

	proxyclient_status_line(p->p_buf, p->p_headlen, line, sizeof(line));
	probe_inert(line, sizeof(line), line, sizeof(line));
	if (p->p_head.hh_status < 500) {
		probe_hop(p, PROBE_HTTP, PROBE_OK, "HEAD %.*s%s: %s",
		    (int)strcspn(p->p_path, "?"), p->p_path, how, line);
		return 0;
	}
	probe_hop(p, PROBE_HTTP, PROBE_FAIL, "HEAD %.*s%s: %s",
	    (int)strcspn(p->p_path, "?"), p->p_path, how, line);
	return probe_fix(p, "%s answers %d: the destination itself fails",
	    p->p_target, p->p_head.hh_status);
}

/* Hop 7: the proxy's verdict on the request; for plain HTTP, an answer
 * without a proxy's error is the destination's, and hops 8 and 9 are
 * judged here too. */
static int
probe_policy(struct probe *p)
{
	const struct probe_answer *a = &p->p_ans;
	bool tunnel = p->p_url.u_scheme == URL_HTTPS;

	if (a->pa_reason != REASON_COUNT)
		return probe_policy_sluice(p, a->pa_reason);
	if (tunnel && a->pa_status >= 200 && a->pa_status <= 299) {
		probe_hop(p, PROBE_POLICY, PROBE_OK, "CONNECT %s: %s",
		    p->p_target, a->pa_line);
		probe_hop(p, PROBE_DEST, PROBE_OK, "the proxy connected to %s",
		    p->p_target);
		return 0;
	}
	if (a->pa_squid_err[0] != '\0')
		return probe_policy_squid(p);
	if (tunnel || a->pa_ps_type[0] != '\0')
		return probe_policy_other(p);
	probe_hop(p, PROBE_POLICY, PROBE_OK, "HEAD forwarded (no refusal "
	    "from the proxy)");
	probe_hop(p, PROBE_DEST, PROBE_OK, "the proxy reached %s", p->p_target);
	probe_hop(p, PROBE_DEST_TLS, PROBE_SKIP, "http:// URL: no TLS");
	return probe_http_judge(p, " through the proxy");
}

/* Hop 8's TLS: with the destination, inside the tunnel, its certificate
 * verified against --ca or the system's store. */
static int
probe_dest_tls(struct probe *p)
{
	const char *host = p->p_url.u_host.h_name;
	char why[300];

	if (probe_tls_context(p, PROBE_DEST_TLS, "--ca", p->p_ca,
	    &p->p_dest_tls) == -1)
		return -1;
	if (tls_connect_over(&p->p_dest, &p->p_pc.pc_x, p->p_dest_tls,
	    host) == -1) {
		probe_hop(p, PROBE_DEST_TLS, PROBE_FAIL, "out of memory");
		return probe_fix(p, "sluice probe ran out of memory");
	}
	if (proxyclient_handshake(&p->p_dest, p->p_timeout, why,
	    sizeof(why)) == 0) {
		probe_hop(p, PROBE_DEST_TLS, PROBE_OK, "%s, certificate valid "
		    "for %s", tls_version(&p->p_dest), host);
		return 0;
	}
	probe_hop(p, PROBE_DEST_TLS, PROBE_FAIL, "%s: %s", p->p_target, why);
	return probe_tls_fix(p, true, tls_refusal(&p->p_dest), host, why);
}

/* Hop 9 through the tunnel: HEAD, and the status line of the answer. */
static int
probe_http(struct probe *p)
{
	char req[sizeof(p->p_path) + 600], why[300];
	int n;

	n = snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: sluice-probe\r\nConnection: close\r\n\r\n",
	    p->p_path, p->p_hosthdr);
	why[0] = '\0';
	if (n < 0 || (size_t)n >= sizeof(req))
		snprintf(why, sizeof(why), "the request is too long");
	else if (proxyclient_send(&p->p_dest, req, (size_t)n, p->p_timeout) ==
	    -1)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	else if (probe_read_head(p, &p->p_dest, why, sizeof(why)) == 0 &&
	    probe_parse_head(p, true) == -1)
		snprintf(why, sizeof(why), "not an HTTP answer");
	if (why[0] == '\0')
		return probe_http_judge(p, "");
	probe_hop(p, PROBE_HTTP, PROBE_FAIL, "HEAD %.*s: %s",
	    (int)strcspn(p->p_path, "?"), p->p_path, why);
	return probe_fix(p, "%s takes the connection but gives no HTTP answer "
	    "(%s): is it an HTTPS server?", p->p_target, why);
}

/* Every hop in order; the first failure ends the walk, except that the
 * environment's and the direct route's leave the proxy worth probing. */
static void
probe_run(struct probe *p)
{
	struct addrinfo *res = NULL;
	int r;

	if (probe_env(p) == -1)
		return;
	(void)probe_direct(p);
	proxyclient_init(&p->p_pc, &p->p_px, p->p_timeout);
	if (probe_name(p, &res) == -1)
		return;
	r = probe_connect(p, res);
	freeaddrinfo(res);
	if (r == -1 || probe_proxy_tls(p) == -1 || probe_ask(p) == -1 ||
	    probe_auth(p) == -1 || probe_policy(p) == -1 ||
	    p->p_url.u_scheme != URL_HTTPS)
		return;
	if (probe_dest_tls(p) == 0)
		(void)probe_http(p);
}

/* ---- output ---------------------------------------------------------- */

static void
probe_print_text(const struct probe *p)
{
	int h;

	for (h = 0; h < PROBE_HOPS; h++)
		if (p->p_st[h] != PROBE_NOT_RUN)
			printf("%-4s  %-15s  %s\n", probe_status_word[p->p_st[h]],
			    probe_hop_name[h], p->p_detail[h]);
	if (p->p_failed != -1)
		printf("fix: %s\n", p->p_fix);
}

/* `s` (printable ASCII: everything shown went through probe_inert) as a
 * JSON string. */
static void
probe_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void
probe_print_json(const struct probe *p, int status)
{
	bool first = true;
	int h;

	printf("{\"ok\": %s, \"failed_hop\": ", p->p_failed == -1 ? "true" :
	    "false");
	if (p->p_failed == -1)
		fputs("null", stdout);
	else
		probe_json_string(probe_hop_name[p->p_failed]);
	printf(", \"exit\": %d, \"hops\": [", status);
	for (h = 0; h < PROBE_HOPS; h++) {
		if (p->p_st[h] == PROBE_NOT_RUN)
			continue;
		printf("%s{\"hop\": ", first ? "" : ", ");
		probe_json_string(probe_hop_name[h]);
		fputs(", \"status\": ", stdout);
		probe_json_string(probe_status_word[p->p_st[h]]);
		fputs(", \"detail\": ", stdout);
		probe_json_string(p->p_detail[h]);
		putchar('}');
		first = false;
	}
	fputs("], \"fix\": ", stdout);
	if (p->p_failed == -1)
		fputs("null", stdout);
	else
		probe_json_string(p->p_fix);
	puts("}");
}

/* ---- the command line ------------------------------------------------ */

static const struct option probe_longopts[] = {
	{ "proxy", required_argument, NULL, 'p' },
	{ "proxy-ca", required_argument, NULL, 'C' },
	{ "ca", required_argument, NULL, 'c' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --timeout SECONDS (a decimal number, up to an hour) into p_timeout.
 * Returns 0, or -1. */
static int
probe_timeout(struct probe *p, const char *arg)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !(s >= 0.001) ||
	    s > 3600)
		return -1;
	p->p_timeout = (int)(s * 1000);
	return 0;
}

/* One option `ch` with its `arg`. Returns -1 to go on, or the exit
 * status (help printed, or a usage error). */
static int
probe_option(struct probe *p, int ch, const char *arg, const char *opt)
{
	switch (ch) {
	case 'p':
		p->p_proxy_arg = strcmp(arg, "env") == 0 ? NULL : arg;
		return -1;
	case 'C':
		p->p_proxy_ca = arg;
		return -1;
	case 'c':
		p->p_ca = arg;
		return -1;
	case 'j':
		p->p_json = true;
		return -1;
	case 't':
		return probe_timeout(p, arg) == -1 ? probe_usage_error(
		    "--timeout takes seconds (0.001 to 3600), not", arg) : -1;
	case 'h':
		fputs(probe_usage, stdout);
		return 0;
	case ':':
		return probe_usage_error("option needs a value:", opt);
	default:
		return probe_usage_error("unknown option:", opt);
	}
}

/* The destination URL `s`: its target, Host field and path. Returns 0, or
 * -1 with a message in `err`. */
static int
probe_dest(struct probe *p, const char *s, char *err, size_t errlen)
{
	const struct host *h = &p->p_url.u_host;
	unsigned dflt;
	int n;

	if (url_parse(s, strlen(s), &p->p_url, err, errlen) == -1)
		return -1;
	dflt = p->p_url.u_scheme == URL_HTTPS ? 443 : 80;
	host_format(h, p->p_target, sizeof(p->p_target));
	if (h->h_port == dflt)
		snprintf(p->p_hosthdr, sizeof(p->p_hosthdr), h->h_kind ==
		    HOST_IPV6 ? "[%s]" : "%s", h->h_name);
	else
		snprintf(p->p_hosthdr, sizeof(p->p_hosthdr), "%s",
		    p->p_target);
	n = snprintf(p->p_path, sizeof(p->p_path), "%s%.*s",
	    p->p_url.u_pathlen == 0 || p->p_url.u_path[0] == '?' ? "/" : "",
	    (int)p->p_url.u_pathlen, p->p_url.u_path);
	if (n < 0 || (size_t)n >= sizeof(p->p_path)) {
		snprintf(err, errlen, "the URL's path is too long");
		return -1;
	}
	return 0;
}

/* Options, the URL and --proxy's URL. Returns -1 to go on, or the exit
 * status (help printed, or a usage error). */
static int
probe_parse(struct probe *p, int argc, char **argv)
{
	char err[300];
	int ch, r;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", probe_longopts, NULL)) !=
	    -1)
		if ((r = probe_option(p, ch, optarg, argv[optind - 1])) != -1)
			return r;
	if (argc - optind != 1)
		return probe_usage_error("expected one URL", NULL);
	if (probe_dest(p, argv[optind], err, sizeof(err)) == -1)
		return probe_usage_error("the URL:", err);
	if (p->p_proxy_arg == NULL)
		return -1;
	if (proxyurl_parse(p->p_proxy_arg, &p->p_px, err, sizeof(err)) == -1)
		return probe_usage_error("--proxy:", err);
	p->p_px_set = true;
	return -1;
}

int
probe_main(int argc, char **argv)
{
	struct probe *p;
	int r;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		fprintf(stderr, "sluice probe: out of memory\n");
		return 1;
	}
	p->p_failed = -1;
	p->p_timeout = 5000;
	xport_none(&p->p_pc.pc_x);
	xport_none(&p->p_dest);
	if ((r = probe_parse(p, argc, argv)) == -1) {
		probe_run(p);
		r = p->p_failed == -1 ? 0 : PROBE_EXIT_HOP + p->p_failed;
		if (p->p_json)
			probe_print_json(p, r);
		else
			probe_print_text(p);
	}
	/* The TLS inside the tunnel goes before the tunnel it runs in. */
	xport_close(&p->p_dest);
	xport_close(&p->p_pc.pc_x);
	tls_client_free(p->p_dest_tls);
	tls_client_free(p->p_px_tls);
	if (p->p_px_set)
		proxyurl_free(&p->p_px);
	explicit_bzero(p, sizeof(*p));
	free(p);
	return r;
}
