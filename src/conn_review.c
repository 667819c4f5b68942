/* SPDX-License-Identifier: MIT */
/*
 * How a reload judges the connections it finds: the open tunnels and
 * exchanges (conn_review, for every connection of a worker when a new
 * configuration arrives, and for one that finishes setting up after it),
 * and the requests still being set up (conn_setup_holds, before anything
 * is dialled). A connection keeps the configuration it was accepted under;
 * these ask whether its identity and its target still hold under the one
 * in force. The state machine proper is conn.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "conn_int.h"
#include "env.h"
#include "host.h"
#include "htpasswd.h"
#include "policy.h"
#include "reason.h"
#include "tls.h"
#include "txn.h"

/* Does a password check's answer for `user`, given under the
 * connection's configuration, hold under `n` (the same user, with the same
 * password hash)? */
bool
conn_user_holds(const struct conn *c, const struct config *n,
    const char *user)
{
	return c->c_cfg == n || (n->c_have_users &&
	    userdb_same_user(&c->c_cfg->c_users, &n->c_users, user));
}

/* Is the identity of the request in `c` still good under `n`? */
static bool
conn_identity_holds(const struct conn *c, const struct config *n, char *why,
    size_t whylen)
{
	const char *who = c->c_txn.t_user;

	if (who == NULL) {
		snprintf(why, whylen, "anonymous, and authentication is now "
		    "required");
		return !config_needs_auth(n);
	}
	if (c->c_peer_id != NULL && who == c->c_peer_id)
		return tls_peer_recheck(&c->c_cx, n->c_tls, n->c_tls_identity,
		    who, why, whylen);
	snprintf(why, whylen, "user %s removed, or their password changed",
	    who);
	return conn_user_holds(c, n, who);
}

/* Would the policy of the request in `c` (plain HTTP when `http`) under
 * `n` still allow its destination and port, and (`dialled`) the address
 * it dialled? Returns REASON_NONE, or the reason it would not, with `why`
 * said. */
static enum reason
conn_target_reason(const struct conn *c, const struct config *n, bool http,
    bool dialled, char *why, size_t whylen)
{
	const struct policy *p = config_policy_of(n, c->c_txn.t_user);
	char a[HOST_NAME_MAX_LEN + 16], rule[HOST_NAME_MAX_LEN + 8], err[64];
	const char *cls;
	struct host h;
	enum reason r;

	if (c->c_txn.t_host == NULL)
		return REASON_NONE;	/* nothing was decided about a target */
	snprintf(a, sizeof(a), strchr(c->c_txn.t_host, ':') ? "[%s]:%u" :
	    "%s:%u", c->c_txn.t_host, (unsigned)c->c_txn.t_port);
	if (host_parse_authority(a, strlen(a), &h, err, sizeof(err)) == -1)
		return REASON_NONE;
	r = policy_check_target(p, &h, http ? POLICY_HTTP : POLICY_CONNECT,
	    rule, sizeof(rule));
	if (r != REASON_NONE && !p->p_report) {
		snprintf(why, whylen, "%s under policy %s", reason_code(r),
		    config_policy_name(p));
		return r;
	}
	if (dialled && c->c_env->e_upstream == NULL && !policy_check_addr(p,
	    (const struct sockaddr *)&c->c_upaddr, &cls)) {
		snprintf(why, whylen, "the address is %s", cls);
		return REASON_ADDRESS_DENIED;
	}
	return REASON_NONE;
}

static bool
conn_target_holds(const struct conn *c, const struct config *n, char *why,
    size_t whylen)
{
	return conn_target_reason(c, n, c->c_state == CONN_EXCHANGE, true, why,
	    whylen) == REASON_NONE;
}

void
conn_review(struct conn *c)
{
	const struct config *n = c->c_env->e_cfg;
	char why[300];

	if (c->c_cfg == n || (c->c_state != CONN_TUNNEL &&
	    c->c_state != CONN_EXCHANGE))
		return;
	if (conn_identity_holds(c, n, why, sizeof(why)) &&
	    conn_target_holds(c, n, why, sizeof(why)))
		return;
	conn_debug(c, "revoked by the reload: %s", why);
	c->c_txn.t_unfinished = REASON_REVOKED;
	/* A tunnel cut before our 200 went out (the reload came while it
	 * was set up) was never granted: the record says nothing was
	 * answered, not 200. */
	if (c->c_state == CONN_TUNNEL && c->c_txn.t_sent == 0 &&
	    c->c_down.rd_bytes == 0)
		c->c_txn.t_reason = REASON_REVOKED;
	else if (c->c_state == CONN_TUNNEL)
		c->c_txn.t_abort = REASON_REVOKED;
	conn_close(c);
}

/* A reload that came while the request was set up (its password check,
 * DNS) judges it before anything is dialled or answered, as if it arrived
 * now: refused, it gets the answer it would get now. Returns whether it
 * may go on. */
bool
conn_setup_holds(struct conn *c, bool http)
{
	const struct config *n = c->c_env->e_cfg;
	const char *who = c->c_txn.t_user;
	char why[300];
	enum reason r;

	if (c->c_cfg == n)
		return true;
	if (!conn_identity_holds(c, n, why, sizeof(why)))
		r = who == NULL ? REASON_AUTH_REQUIRED : who == c->c_peer_id ?
		    REASON_CERT_REFUSED : REASON_AUTH_FAILED;
	else if ((r = conn_target_reason(c, n, http, false, why,
	    sizeof(why))) == REASON_NONE)
		return true;
	conn_debug(c, "refused under the configuration a reload brought "
	    "while it was set up: %s", why);
	conn_fail(c, r, r == REASON_AUTH_REQUIRED || r == REASON_AUTH_FAILED ?
	    NULL : why);
	return false;
}
