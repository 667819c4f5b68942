/* SPDX-License-Identifier: MIT */
/* Policy decisions; see policy.h. Deny by default: an empty allowlist allows
 * nothing. */
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

bool
policy_check_addr(const struct policy *p, const struct sockaddr *sa,
    const char **cls)
{
	const char *c = addr_refused_class(sa);

	*cls = c;
	return c == NULL || policy_in_cidrs(p, sa);
}
