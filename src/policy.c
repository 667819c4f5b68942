/* SPDX-License-Identifier: MIT */
/* Policy decisions; see policy.h. Deny by default: an empty allowlist allows
 * nothing. */
#include <stdio.h>

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

bool
policy_check_addr(const struct policy *p, const struct sockaddr *sa,
    const char **cls)
{
	const char *c = addr_refused_class(sa);

	*cls = c;
	return c == NULL || policy_in_cidrs(p, sa);
}
