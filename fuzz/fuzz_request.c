/* SPDX-License-Identifier: MIT */
/* Fuzzes request.c the way conn.c drives it: a complete request head is
 * classified, and its target is made fit for the log. Whatever the head:
 * a served request has a canonical destination whose host:port parses back
 * to itself, a CONNECT is never plain HTTP, plain HTTP is never https, every
 * refusal says why, and the log's copy of the target is printable, bounded
 * and, unless the target parsed, carries no '@' after its authority starts.
 * The input is the head itself (at most HTTP_MAX_HEAD bytes). */
#include "fuzz.h"
#include "host.h"
#include "redact.h"
#include "request.h"

/* The destination of a served request. */
static void
check_ok(const struct request *rq)
{
	struct host h;
	char err[160], again[sizeof(rq->rq_hostport)];
	size_t n = strlen(rq->rq_hostport);

	FUZZ_CHECK("hostport", n > 0, "empty host:port");
	FUZZ_CHECK("hostport", host_parse_authority(rq->rq_hostport, n, &h,
	    err, sizeof(err)) == 0, "\"%s\" does not parse back: %s",
	    fuzz_show(rq->rq_hostport, n), err);
	host_format(&h, again, sizeof(again));
	FUZZ_CHECK("canonical", strcmp(again, rq->rq_hostport) == 0,
	    "\"%s\" formats back as \"%s\"", rq->rq_hostport, again);
	FUZZ_CHECK("kind", rq->rq_http == (rq->rq_head.hh_method !=
	    HTTP_CONNECT), "plain HTTP %d for method %u", rq->rq_http,
	    rq->rq_head.hh_method);
	if (rq->rq_http)
		FUZZ_CHECK("scheme", rq->rq_url.u_scheme == URL_HTTP,
		    "plain HTTP served for scheme %d", rq->rq_url.u_scheme);
}

static void
check_log(const struct request *rq, enum request_class cls)
{
	char *t = request_log_target(rq, cls);
	size_t i, n;

	if (t == NULL)
		return;
	n = strlen(t);
	FUZZ_CHECK("log-length", n <= REDACT_MAX, "%zu bytes", n);
	for (i = 0; i < n; i++)
		FUZZ_CHECK("log-printable", t[i] > ' ' && t[i] < 0x7f,
		    "byte 0x%02x at %zu", (unsigned char)t[i], i);
	if (cls == REQUEST_OK && !rq->rq_http)
		FUZZ_CHECK("log-connect", strcmp(t, rq->rq_hostport) == 0,
		    "CONNECT logged as \"%s\", not \"%s\"", fuzz_show(t, n),
		    rq->rq_hostport);
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request rq;
	enum request_class cls;
	const char *why = NULL;

	if (size > HTTP_MAX_HEAD)
		return 0;
	memset(&rq, 0, sizeof(rq));
	request_reset(&rq);
	/* Exactly sized, so ASan sees any read past the bytes received. */
	if ((rq.rq_buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(rq.rq_buf, data, size);
	rq.rq_len = rq.rq_cap = size;
	if (http_head_feed(&rq.rq_head, rq.rq_buf, size) != HTTP_HEAD_DONE) {
		request_free(&rq);
		return 0;
	}
	cls = request_classify(&rq, &why);
	switch (cls) {
	case REQUEST_OK:
		check_ok(&rq);
		break;
	case REQUEST_BAD_TARGET:
		FUZZ_CHECK("why", rq.rq_bad[0] != '\0', "no reason given");
		break;
	case REQUEST_REFUSE:
		FUZZ_CHECK("why", why != NULL && why[0] != '\0',
		    "refused without a reason");
		break;
	}
	check_log(&rq, cls);
	request_free(&rq);
	return 0;
}
