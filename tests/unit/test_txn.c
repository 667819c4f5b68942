/* SPDX-License-Identifier: MIT */
/* The transaction record (txn.c): what one access-log line says about a
 * request. A row is how a request ended, and the tag, status, reason and
 * byte counts its line must show. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "accesslog.h"
#include "txn.h"

enum ending {
	END_ANSWERED = 0,	/* t_reason/t_status/t_abort as given */
	END_UNANSWERED,		/* closed before an answer (txn_unanswered) */
	END_CUT,		/* closed during an exchange (txn_cut) */
};

static const struct record_case {
	const char	*what;
	enum reason	 reason;	/* our answer */
	int		 status;	/* the origin's */
	enum reason	 abort;
	enum reason	 unfinished;
	enum ending	 ending;
	const char	*tag;
	int		 want_status;
	const char	*want_reason;	/* NULL: none */
	const char	*mime;		/* NULL: "-" */
	bool		 peer;		/* the line names the upstream */
	bool		 aborted;
} record_cases[] = {
	{ "tunnel", REASON_NONE, 0, REASON_NONE, REASON_CLIENT_ABORTED,
	    END_ANSWERED, "TCP_TUNNEL", 200, NULL, NULL, true, false },
	{ "refused domain", REASON_DOMAIN_DENIED, 0, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_ANSWERED, "TCP_DENIED", 403,
	    "domain-denied", "text/plain", false, false },
	{ "auth required", REASON_AUTH_REQUIRED, 0, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_ANSWERED, "TCP_DENIED", 407,
	    "auth-required", "text/plain", false, false },
	{ "forwarded 404", REASON_NONE, 404, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_ANSWERED, "TCP_MISS", 404, NULL,
	    "text/html", true, false },
	/* The client left while we dialled: nobody was answered. */
	{ "client left early", REASON_NONE, 0, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_UNANSWERED, "NONE", 0,
	    "client-aborted", NULL, false, false },
	{ "shutdown while resolving", REASON_NONE, 0, REASON_NONE,
	    REASON_SHUTDOWN, END_UNANSWERED, "NONE", 0, "shutdown", NULL,
	    false, false },
	/* Unanswered, but our refusal was already decided: it stays. */
	{ "refusal being written", REASON_PORT_DENIED, 0, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_UNANSWERED, "TCP_DENIED", 403,
	    "port-denied", "text/plain", false, false },
	/* Cut during an exchange before the origin answered: like above. */
	{ "cut before the answer", REASON_NONE, 0, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_CUT, "NONE", 0, "client-aborted",
	    NULL, false, false },
	/* Cut after the origin's status: the status stays, marked. */
	{ "cut mid-body", REASON_NONE, 200, REASON_NONE,
	    REASON_CLIENT_ABORTED, END_CUT, "TCP_MISS_ABORTED", 200,
	    "client-aborted", "text/html", true, true },
	{ "origin broke mid-body", REASON_NONE, 200, REASON_BAD_RESPONSE,
	    REASON_CLIENT_ABORTED, END_CUT, "TCP_MISS_ABORTED", 200,
	    "bad-response", "text/html", true, true },
	{ "shutdown mid-body", REASON_NONE, 200, REASON_NONE,
	    REASON_SHUTDOWN, END_CUT, "TCP_MISS_ABORTED", 200, "shutdown",
	    "text/html", true, true },
};

static void
test_txn_record(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(record_cases) / sizeof(record_cases[0]); i++) {
		const struct record_case *rc = &record_cases[i];
		struct txn t;
		struct logrec r;
		char mime[] = "text/html";

		memset(&t, 0, sizeof(t));
		txn_begin(&t, 1000, 1700000000, 250);
		t.t_method = "CONNECT";
		t.t_reason = rc->reason;
		t.t_status = rc->status;
		t.t_mime = rc->status != 0 ? mime : NULL;
		t.t_abort = rc->abort;
		t.t_unfinished = rc->unfinished;
		t.t_sent = 10;
		t.t_sent_up = 20;
		if (rc->ending == END_UNANSWERED)
			txn_unanswered(&t);
		else if (rc->ending == END_CUT)
			txn_cut(&t);
		txn_record(&t, 1234, "192.0.2.1", "198.51.100.2", false, 5, 7,
		    &r);
		print_message("row %zu: %s\n", i, rc->what);
		assert_string_equal(r.lr_tag, rc->tag);
		assert_int_equal(r.lr_status, rc->want_status);
		if (rc->want_reason == NULL)
			assert_null(r.lr_reason);
		else
			assert_string_equal(r.lr_reason, rc->want_reason);
		if (rc->mime == NULL)
			assert_null(r.lr_mime);
		else
			assert_string_equal(r.lr_mime, rc->mime);
		if (rc->peer)
			assert_string_equal(r.lr_peer, "198.51.100.2");
		else
			assert_null(r.lr_peer);
		assert_int_equal(r.lr_aborted, rc->aborted);
		/* Bytes: ours plus the tunnel's, each way; time since the
		 * first byte of the head. */
		assert_int_equal(r.lr_bytes, 15);
		assert_int_equal(r.lr_bytes_up, 27);
		assert_int_equal(r.lr_elapsed_ms, 234);
		assert_int_equal(r.lr_sec, 1700000000);
		assert_int_equal(r.lr_msec, 250);
		assert_string_equal(r.lr_method, "CONNECT");
		t.t_mime = NULL;	/* not the record's to free */
		txn_forget(&t);
	}
}

/* A request that could not even be read is logged with method NONE, and a
 * fresh record has no lookup and no dial timings. */
static void
test_txn_fresh(void **state)
{
	struct txn t;
	struct logrec r;

	(void)state;
	memset(&t, 0, sizeof(t));
	txn_begin(&t, 5, 0, 0);
	txn_unanswered(&t);
	txn_record(&t, 5, "192.0.2.1", "", false, 0, 0, &r);
	assert_string_equal(r.lr_method, "NONE");
	assert_null(r.lr_url);
	assert_int_equal(r.lr_dns_ms, -1);
	assert_int_equal(r.lr_connect_ms, -1);
	assert_string_equal(r.lr_reason, "client-aborted");
}

/* txn_begin frees what the previous request's record owned and forgets
 * every decision (ASan would report a leak otherwise). */
static void
test_txn_begin_again(void **state)
{
	struct txn t;

	(void)state;
	memset(&t, 0, sizeof(t));
	txn_begin(&t, 1, 0, 0);
	t.t_target = strdup("example.com:443");
	t.t_host = strdup("example.com");
	t.t_reason = REASON_DOMAIN_DENIED;
	t.t_logged = true;
	t.t_sent = 99;
	txn_begin(&t, 2, 0, 0);
	assert_null(t.t_target);
	assert_null(t.t_host);
	assert_int_equal(t.t_reason, REASON_NONE);
	assert_false(t.t_logged);
	assert_int_equal(t.t_sent, 0);
	assert_int_equal(t.t_unfinished, REASON_CLIENT_ABORTED);
}

/* A record already written is never changed by a later close. */
static void
test_txn_cut_after_log(void **state)
{
	struct txn t;

	(void)state;
	memset(&t, 0, sizeof(t));
	txn_begin(&t, 1, 0, 0);
	t.t_status = 200;
	t.t_logged = true;
	txn_cut(&t);
	assert_int_equal(t.t_abort, REASON_NONE);
	assert_int_equal(t.t_reason, REASON_NONE);
}

static const struct denial_case {
	enum reason	 reason;
	const char	*method;
	const char	*target;
	const char	*want;		/* NULL: no line */
} denial_cases[] = {
	{ REASON_DOMAIN_DENIED, "CONNECT", "evil.example:443",
	    "denied CONNECT evil.example:443 (" },
	{ REASON_PORT_DENIED, "CONNECT", "example.com:22",
	    "denied CONNECT example.com:22 (port not allowed; --connect-ports "
	    "adds it)" },
	{ REASON_PORT_DENIED, "GET", "http://example.com:8080/",
	    "denied GET http://example.com:8080/ (port not allowed; "
	    "--http-ports adds it)" },
	{ REASON_CONNECT_FAILED, "CONNECT", "example.com:443",
	    "failed CONNECT example.com:443 (" },
	{ REASON_BAD_REQUEST, NULL, NULL, "denied NONE - (" },
	/* Nothing was answered, or nothing refused: no line. */
	{ REASON_CLIENT_ABORTED, "CONNECT", "example.com:443", NULL },
	{ REASON_NONE, "CONNECT", "example.com:443", NULL },
};

static void
test_txn_denial_line(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(denial_cases) / sizeof(denial_cases[0]); i++) {
		const struct denial_case *dc = &denial_cases[i];
		struct txn t;
		char line[300] = "untouched";

		memset(&t, 0, sizeof(t));
		txn_begin(&t, 1, 0, 0);
		t.t_reason = dc->reason;
		t.t_method = dc->method;
		t.t_target = (char *)dc->target;
		print_message("row %zu\n", i);
		if (dc->want == NULL) {
			assert_false(txn_denial_line(&t, line, sizeof(line)));
			assert_string_equal(line, "untouched");
			continue;
		}
		assert_true(txn_denial_line(&t, line, sizeof(line)));
		assert_memory_equal(line, dc->want, strlen(dc->want));
		assert_int_equal(line[strlen(line) - 1], ')');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txn_record),
		cmocka_unit_test(test_txn_fresh),
		cmocka_unit_test(test_txn_begin_again),
		cmocka_unit_test(test_txn_cut_after_log),
		cmocka_unit_test(test_txn_denial_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
