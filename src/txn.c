/* SPDX-License-Identifier: MIT */
/* The record of one transaction and its access-log form; see txn.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "txn.h"

void
txn_forget(struct txn *t)
{
	free(t->t_target);
	t->t_target = NULL;
	free(t->t_mime);
	t->t_mime = NULL;
	free(t->t_host);
	t->t_host = NULL;
	free(t->t_detail);
	t->t_detail = NULL;
	free(t->t_sni);
	t->t_sni = NULL;
}

void
txn_begin(struct txn *t, uint64_t now, int64_t wsec, unsigned wmsec)
{
	txn_forget(t);
	memset(t, 0, sizeof(*t));
	t->t_start = t->t_active = now;
	t->t_wsec = wsec;
	t->t_wmsec = wmsec;
	t->t_reason = REASON_NONE;
	t->t_unfinished = REASON_CLIENT_ABORTED;
	t->t_abort = REASON_NONE;
	t->t_dns_ms = t->t_connect_ms = -1;
}

void
txn_refuse(struct txn *t, enum reason r, const char *detail)
{
	t->t_reason = r;
	free(t->t_detail);
	t->t_detail = detail != NULL ? strdup(detail) : NULL;
}

void
txn_unanswered(struct txn *t)
{
	if (t->t_reason == REASON_NONE)
		t->t_reason = t->t_unfinished;
}

void
txn_cut(struct txn *t)
{
	if (t->t_logged || t->t_reason != REASON_NONE)
		return;
	if (t->t_abort == REASON_NONE)
		t->t_abort = t->t_unfinished;
	if (t->t_status == 0) {
		t->t_reason = t->t_abort;
		t->t_abort = REASON_NONE;
	}
}

void
txn_record(const struct txn *t, uint64_t now, const char *client,
    const char *peer, bool parent, uint64_t relayed_down,
    uint64_t relayed_up, struct logrec *r)
{
	memset(r, 0, sizeof(*r));
	r->lr_sec = t->t_wsec;
	r->lr_msec = t->t_wmsec;
	r->lr_elapsed_ms = now - t->t_start;
	r->lr_client = client;
	r->lr_tag = reason_squid_tag(t->t_reason);
	r->lr_status = reason_status(t->t_reason);
	r->lr_bytes = t->t_sent + relayed_down;
	/* Squid logs NONE for a request it could not even read. */
	r->lr_method = t->t_method ? t->t_method : "NONE";
	r->lr_url = t->t_target;
	r->lr_user = t->t_user;
	r->lr_host = t->t_host;
	r->lr_port = t->t_port;
	r->lr_bytes_up = t->t_sent_up + relayed_up;
	r->lr_dns_ms = t->t_dns_ms;
	r->lr_connect_ms = t->t_connect_ms;
	r->lr_tls = t->t_tls;
	r->lr_auth = t->t_auth;
	r->lr_policy = t->t_policy;
	r->lr_sni = t->t_sni;
	/* A report says what was let through; a request refused after all
	 * (an address class) says only why it was. */
	r->lr_decision = reason_decision(t->t_reason, false);
	r->lr_report = t->t_report != REASON_NONE && t->t_reason ==
	    REASON_NONE ? reason_code(t->t_report) : NULL;
	if (t->t_reason != REASON_NONE) {
		/* Our own answer, if one was sent at all. */
		r->lr_mime = r->lr_status != 0 && r->lr_status != 200 ?
		    "text/plain" : NULL;	/* 200: an SNI refusal, after
						 * our bodiless 200 */
		r->lr_reason = reason_code(t->t_reason);
		return;
	}
	r->lr_peer = peer;
	r->lr_parent = parent;
	if (t->t_status != 0) {
		/* Forwarded HTTP: the origin's answer. */
		r->lr_tag = "TCP_MISS";
		r->lr_status = t->t_status;
		r->lr_mime = t->t_mime;
	}
	if (t->t_abort != REASON_NONE) {
		/* Squid's tags for an answer or a tunnel that broke off. */
		r->lr_tag = t->t_status != 0 ? "TCP_MISS_ABORTED" :
		    "TCP_TUNNEL_ABORTED";
		r->lr_reason = reason_code(t->t_abort);
		r->lr_aborted = true;
		r->lr_decision = reason_decision(t->t_abort, true);
	}
}

bool
txn_denial_line(const struct txn *t, char *buf, size_t len)
{
	const char *method = t->t_method ? t->t_method : "NONE", *why;
	int status = reason_status(t->t_reason);

	if (t->t_reason == REASON_NONE || status == 0)
		return false;
	/* A port refusal names the flag that allows it. */
	if (t->t_reason != REASON_PORT_DENIED)
		why = reason_text(t->t_reason);
	else if (strcmp(method, "CONNECT") == 0)
		why = "port not allowed; --connect-ports adds it";
	else
		why = "port not allowed; --http-ports adds it";
	/* A failure says what went wrong on the way (which TLS check, which
	 * address refused): "upstream proxy refused" alone hides it. */
	snprintf(buf, len, "%s %s %s (%s)%s%s", status < 500 ? "denied" :
	    "failed", method, t->t_target ? t->t_target : "-", why,
	    status >= 500 && t->t_detail ? ": " : "", status >= 500 &&
	    t->t_detail ? t->t_detail : "");
	return true;
}
