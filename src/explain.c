/* SPDX-License-Identifier: MIT */
/* sluice check --explain: what the proxy would decide for one identity and
 * one destination, and which rule decides, without starting a proxy. It
 * asks the policy engine (policy.h) exactly what a connection asks, in the
 * same order, and resolves the name the way the proxy would: hosts files,
 * then the configured DNS servers. */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "dial.h"
#include "dns.h"
#include "ev.h"
#include "explain.h"
#include "host.h"
#include "policy.h"
#include "reason.h"

struct explain_dns {
	struct ev_loop		*ed_loop;
	struct sockaddr_storage	 ed_addrs[DNS_MAX_ADDRS];
	size_t			 ed_n;
	char			 ed_err[128];
};

static void
explain_resolved(void *arg, const struct sockaddr_storage *addrs, size_t n,
    const char *err)
{
	struct explain_dns *ed = arg;

	ed->ed_n = n;
	if (n > 0)	/* no addresses may come as NULL */
		memcpy(ed->ed_addrs, addrs, n * sizeof(*addrs));
	snprintf(ed->ed_err, sizeof(ed->ed_err), "%s", err ? err : "");
	ev_stop(ed->ed_loop);
}

/* Resolve `h` as the proxy would: a literal is itself, then the hosts
 * files, then DNS (the configured servers). Returns how many addresses,
 * with `how` saying where they came from or why there are none. */
static size_t
explain_resolve(const struct config *c, const struct host *h,
    struct sockaddr_storage *addrs, char *how, size_t howlen)
{
	struct explain_dns ed = { 0 };
	struct dns_query *q = NULL;
	struct dns *d = NULL;
	size_t n;

	if ((n = hosts_lookup(&c->c_hosts, h->h_name, h->h_port, addrs,
	    DNS_MAX_ADDRS)) > 0) {
		snprintf(how, howlen, "from the hosts file");
		return n;
	}
	if ((ed.ed_loop = ev_loop_new()) == NULL ||
	    (d = dns_new(ed.ed_loop, c->c_dns_servers, c->c_dns_timeout_ms,
	    how, howlen)) == NULL || dns_resolve(d, h->h_name, h->h_port,
	    explain_resolved, &ed, &q) == -1) {
		if (ed.ed_loop == NULL || d != NULL)
			snprintf(how, howlen, "cannot resolve: out of memory");
		dns_free(d);
		ev_loop_free(ed.ed_loop);
		return 0;
	}
	if (q != NULL)
		(void)ev_run(ed.ed_loop);
	snprintf(how, howlen, ed.ed_n > 0 ? "from DNS (%s)" : "%s",
	    ed.ed_n > 0 ? (c->c_dns_servers ? c->c_dns_servers :
	    "the system's servers") : ed.ed_err);
	if (ed.ed_n > 0)
		memcpy(addrs, ed.ed_addrs, ed.ed_n * sizeof(*addrs));
	dns_free(d);
	ev_loop_free(ed.ed_loop);
	return ed.ed_n;
}

/* Who `user` is to the proxy. Returns false when the proxy would refuse
 * them before reading any rule. */
static bool
explain_who(const struct config *c, const char *user, FILE *out)
{
	if (user == NULL && config_needs_auth(c)) {
		fprintf(out, "identity  nobody (no credentials)\n"
		    "denied    auth-required: the proxy asks who is asking "
		    "first\n");
		return false;
	}
	if (user == NULL)
		fprintf(out, "identity  nobody (the proxy asks no one)\n");
	else if (c->c_have_users && userdb_find(&c->c_users, user,
	    strlen(user)) != NULL)
		fprintf(out, "identity  %s, a user of %s\n", user,
		    c->c_users_file.r_path);
	else if (c->c_tls_client_ca.r_path != NULL)
		fprintf(out, "identity  %s, when a client certificate signed "
		    "by %s names it\n", user, c->c_tls_client_ca.r_path);
	else {
		fprintf(out, "identity  %s: in no users file\ndenied    "
		    "auth-failed: nobody can authenticate as %s\n", user,
		    user);
		return false;
	}
	return true;
}

/* Which policy is `user`'s. */
static const struct policy *
explain_policy(const struct config *c, const char *user, FILE *out)
{
	const struct policy *p = config_policy_of(c, user);

	if (p->p_name != NULL)
		fprintf(out, "policy    %s (line %u)%s\n", p->p_name, p->p_line,
		    p->p_report ? ", report mode" : "");
	else
		fprintf(out, "policy    default (the top-level rules)%s\n",
		    p->p_report ? ", report mode" : "");
	return p;
}

/* The addresses `h` resolves to and which of them `p` lets be dialled.
 * Returns how many may, or -1 when the name does not resolve. */
static int
explain_addresses(const struct config *c, const struct policy *p,
    const struct host *h, FILE *out)
{
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	char how[200], ip[INET6_ADDRSTRLEN];
	const char *cls;
	size_t i, n, kept = 0;

	if (h->h_kind != HOST_NAME) {
		n = 1;
		dial_literal(h, &addrs[0]);
		snprintf(how, sizeof(how), "an IP address");
	} else
		n = explain_resolve(c, h, addrs, how, sizeof(how));
	if (n == 0) {
		fprintf(out, "addresses none: %s\n", how);
		return -1;
	}
	fprintf(out, "addresses %s:", how);
	for (i = 0; i < n; i++) {
		bool ok = policy_check_addr(p, (struct sockaddr *)&addrs[i],
		    &cls);

		addr_format_ip((struct sockaddr *)&addrs[i], ip, sizeof(ip));
		fprintf(out, " %s (%s%s)", ip, ok ? "kept" : "refused: ",
		    ok ? "" : cls);
		kept += ok;
	}
	fputc('\n', out);
	return (int)kept;
}

int
explain(const struct config *c, const char *user, const char *target,
    bool http, FILE *out)
{
	const struct policy *p;
	char err[200], rule[HOST_NAME_MAX_LEN + 8], why[HOST_NAME_MAX_LEN + 64];
	struct host h;
	enum reason r;

	if (host_parse_authority(target, strlen(target), &h, err,
	    sizeof(err)) == -1) {
		fprintf(out, "target    %s: %s\n", target, err);
		return EXPLAIN_BAD_INPUT;
	}
	if (h.h_port == 0) {
		fprintf(out, "target    %s: needs a port (HOST:PORT)\n", target);
		return EXPLAIN_BAD_INPUT;
	}
	if (!explain_who(c, user, out))
		return EXPLAIN_DENIED;
	p = explain_policy(c, user, out);
	fprintf(out, "target    %s:%u (%s)\n", h.h_name, (unsigned)h.h_port,
	    http ? "plain HTTP" : "CONNECT");
	r = policy_check_target(p, &h, http ? POLICY_HTTP : POLICY_CONNECT,
	    rule, sizeof(rule));
	if (rule[0] != '\0')
		fprintf(out, "rule      %s %s\n", r == REASON_DOMAIN_DENIED ?
		    "deny" : "allow", rule);
	if (r != REASON_NONE)
		policy_detail(r, &h, http ? POLICY_HTTP : POLICY_CONNECT, rule,
		    why, sizeof(why));
	if (r == REASON_PORT_DENIED)
		snprintf(why, sizeof(why), "port %u is not in %s",
		    (unsigned)h.h_port, http ? "http_ports" : "connect_ports");
	if (r != REASON_NONE && !p->p_report) {
		fprintf(out, "denied    %s: %s\n", reason_code(r), why);
		return EXPLAIN_DENIED;
	}
	if (r != REASON_NONE)
		fprintf(out, "report    would be %s (%s); report mode lets it "
		    "through\n", reason_code(r), why);
	switch (explain_addresses(c, p, &h, out)) {
	case -1:
		fprintf(out, "failed    %s: the proxy would answer 502\n",
		    reason_code(REASON_DNS_FAILED));
		return EXPLAIN_DENIED;
	case 0:
		fprintf(out, "denied    %s: no address it may be dialled at\n",
		    reason_code(REASON_ADDRESS_DENIED));
		return EXPLAIN_DENIED;
	}
	fprintf(out, "allowed\n");
	return EXPLAIN_ALLOWED;
}
