/* SPDX-License-Identifier: MIT */
/* Policy decisions; see policy.h. Deny by default: an empty allowlist allows
 * nothing. */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "host.h"
#include "policy.h"

static bool
policy_in_cidrs(const struct policy *p, const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < p->p_ncidrs; i++)
		if (cidr_match(&p->p_cidrs[i], sa))
			return true;
	return false;
}

enum reason
policy_check_target(const struct policy *p, const struct host *h,
    enum policy_kind kind, char *rule, size_t rulelen)
{
	rule[0] = '\0';
	if (h->h_kind == HOST_NAME) {
		if (patterns_which(&p->p_deny, h->h_name, rule, rulelen) !=
		    NULL || patterns_which(&p->p_allow, h->h_name, rule,
		    rulelen) == NULL)
			return REASON_DOMAIN_DENIED;
	} else {
		struct sockaddr_storage ss = { 0 };

		if (h->h_kind == HOST_IPV4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_addr = h->h_ip.v4;
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = h->h_ip.v6;
		}
		if (!policy_in_cidrs(p, (struct sockaddr *)&ss))
			return REASON_ADDRESS_DENIED;
	}
	if (kind == POLICY_CONNECT ? !config_connect_port(p, h->h_port) :
	    !config_http_port(p, h->h_port))
		return REASON_PORT_DENIED;
	return REASON_NONE;
}

void
policy_detail(enum reason r, const struct host *h, enum policy_kind kind,
    const char *rule, char *buf, size_t len)
{
	if (r == REASON_PORT_DENIED)
		snprintf(buf, len, "%s", kind == POLICY_HTTP ? "http_ports" :
		    "connect_ports");
	else if (r == REASON_ADDRESS_DENIED)
		snprintf(buf, len, "%s is an IP address outside allow_cidr",
		    h->h_name);
	else if (rule[0] != '\0')
		snprintf(buf, len, "deny %s", rule);
	else
		snprintf(buf, len, "no allow pattern matches %s", h->h_name);
}

enum reason
policy_check_sni(const struct policy *p, const struct host *h,
    enum sni_status st, const struct sni_hello *hello, bool allow_ech,
    char *why, size_t whylen)
{
	char rule[HOST_NAME_MAX_LEN + 8];
	struct host named;

	if (st != SNI_OK) {
		snprintf(why, whylen, "%s", hello->sh_why ? hello->sh_why :
		    "no TLS ClientHello");
		return REASON_NOT_TLS;
	}
	if (hello->sh_has_ech && !allow_ech) {
		snprintf(why, whylen, "the ClientHello carries "
		    "encrypted_client_hello (allow_ech yes lets it by)");
		return REASON_ECH_REFUSED;
	}
	if (h->h_kind != HOST_NAME) {
		if (!hello->sh_has_sni)
			return REASON_NONE;
		/* A name sent to an address must be one the policy allows. */
		memset(&named, 0, sizeof(named));
		named.h_kind = HOST_NAME;
		named.h_port = h->h_port;
		if (strlen(hello->sh_name) < sizeof(named.h_name)) {
			memcpy(named.h_name, hello->sh_name,
			    strlen(hello->sh_name) + 1);
			if (policy_check_target(p, &named, POLICY_CONNECT, rule,
			    sizeof(rule)) == REASON_NONE)
				return REASON_NONE;
		}
		snprintf(why, whylen, "the ClientHello names %s, which the "
		    "policy does not allow", hello->sh_name);
		return REASON_SNI_MISMATCH;
	}
	if (!hello->sh_has_sni) {
		snprintf(why, whylen, "the ClientHello has no server_name");
		return REASON_SNI_MISSING;
	}
	if (!sni_matches(hello, h->h_name)) {
		snprintf(why, whylen, "the ClientHello names %s, not %s",
		    hello->sh_name, h->h_name);
		return REASON_SNI_MISMATCH;
	}
	return REASON_NONE;
}

bool
policy_check_addr(const struct policy *p, const struct sockaddr *sa,
    const char **cls)
{
	const char *c = addr_refused_class(sa);

	*cls = c;
	return c == NULL || policy_in_cidrs(p, sa);
}
