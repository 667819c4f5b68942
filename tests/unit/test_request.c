/* SPDX-License-Identifier: MIT */
/* Request-target classification (request.c): which heads are proxy requests
 * this proxy serves, what they ask for, and what the log shows of them. A
 * row is a complete head as a client sends it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "unit.h"

static const struct class_case {
	const char		*head;
	enum request_class	 want;
	bool			 http;		/* plain HTTP */
	const char		*hostport;	/* REQUEST_OK */
	const char		*why;		/* a substring of the reason */
	const char		*log;		/* what the log shows */
} class_cases[] = {
	{ "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	    REQUEST_OK, false, "example.com:443", NULL, "example.com:443" },
	/* The destination is canonical: case, trailing dot. */
	{ "CONNECT EXAMPLE.com.:443 HTTP/1.1\r\n\r\n", REQUEST_OK, false,
	    "example.com:443", NULL, "example.com:443" },
	{ "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", REQUEST_OK, false,
	    "[2001:db8::1]:443", NULL, "[2001:db8::1]:443" },
	/* A bad authority waits for authentication (BAD_TARGET). */
	{ "CONNECT example.com HTTP/1.1\r\n\r\n", REQUEST_BAD_TARGET, false,
	    NULL, "", "example.com" },
	{ "CONNECT exa_mple.com:99999 HTTP/1.1\r\n\r\n", REQUEST_BAD_TARGET,
	    false, NULL, "", "exa_mple.com:99999" },
	{ "GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n",
	    REQUEST_OK, true, "example.com:80", NULL,
	    "http://example.com/a?b=*" },
	{ "GET http://example.com:8080/ HTTP/1.0\r\n\r\n", REQUEST_OK, true,
	    "example.com:8080", NULL, "http://example.com:8080/" },
	{ "GET http://example.com:99999/ HTTP/1.1\r\n\r\n", REQUEST_BAD_TARGET,
	    true, NULL, "", "http://example.com:99999/" },
	/* Not proxy requests: refused at once. */
	{ "GET / HTTP/1.1\r\nHost: proxy\r\n\r\n", REQUEST_REFUSE, true, NULL,
	    "absolute-form", "/" },
	{ "OPTIONS * HTTP/1.1\r\nHost: proxy\r\n\r\n", REQUEST_REFUSE, true,
	    NULL, "absolute-form", "*" },
	{ "GET https://example.com/ HTTP/1.1\r\n\r\n", REQUEST_REFUSE, true,
	    NULL, "CONNECT", "https://example.com/" },
	{ "GET http://example.com/ HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\nContent-Length: 5\r\n\r\n",
	    REQUEST_REFUSE, true, NULL, "cannot carry a body", NULL },
	/* http.c's checks of what two readers could read differently. */
	{ "POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	    "\r\n", REQUEST_REFUSE, false, NULL, "Transfer-Encoding", NULL },
	{ "GET http://example.com/ HTTP/2.0\r\n\r\n", REQUEST_REFUSE, false,
	    NULL, "HTTP/1.0 and HTTP/1.1", NULL },
};

/* Parse `head` into `rq` as conn.c does; the head must be complete. */
static void
feed(struct request *rq, const char *head)
{
	size_t len = strlen(head);

	memset(rq, 0, sizeof(*rq));
	request_reset(rq);
	rq->rq_buf = malloc(len + 1);
	assert_non_null(rq->rq_buf);
	memcpy(rq->rq_buf, head, len + 1);
	rq->rq_len = rq->rq_cap = len;
	assert_int_equal(http_head_feed(&rq->rq_head, rq->rq_buf, len),
	    HTTP_HEAD_DONE);
}

static void
test_request_classify(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(class_cases) / sizeof(class_cases[0]); i++) {
		const struct class_case *cc = &class_cases[i];
		struct request rq;
		const char *why = NULL;
		enum request_class got;
		char *log;

		print_message("row %zu: %s\n", i, show(cc->head,
		    strlen(cc->head)));
		feed(&rq, cc->head);
		got = request_classify(&rq, &why);
		assert_int_equal(got, cc->want);
		if (cc->want != REQUEST_REFUSE || cc->http)
			assert_int_equal(rq.rq_http, cc->http);
		if (cc->want == REQUEST_OK)
			assert_string_equal(rq.rq_hostport, cc->hostport);
		if (cc->want == REQUEST_BAD_TARGET)
			assert_true(rq.rq_bad[0] != '\0');
		if (cc->want == REQUEST_REFUSE) {
			assert_non_null(why);
			assert_non_null(strstr(why, cc->why));
		}
		log = request_log_target(&rq, got);
		assert_non_null(log);
		if (cc->log != NULL)
			assert_string_equal(log, cc->log);
		free(log);
		request_free(&rq);
		assert_null(rq.rq_buf);
	}
}

/* Credentials in a URL are refused (after authentication), and what the log
 * shows of the target leaves them out. */
static void
test_request_log_redacts(void **state)
{
	struct request rq;
	const char *why;
	char *log;

	(void)state;
	feed(&rq, "GET http://user:hunter2@example.com/x HTTP/1.1\r\n\r\n");
	assert_int_equal(request_classify(&rq, &why), REQUEST_BAD_TARGET);
	log = request_log_target(&rq, REQUEST_BAD_TARGET);
	assert_non_null(log);
	assert_null(strstr(log, "hunter2"));
	assert_non_null(strstr(log, "example.com/x"));
	free(log);
	request_free(&rq);
}

/* The buffer grows while the head is incomplete, and no further than a head
 * may be. */
static void
test_request_reserve(void **state)
{
	struct request rq;
	int r = 0;

	(void)state;
	memset(&rq, 0, sizeof(rq));
	request_reset(&rq);
	assert_int_equal(request_reserve(&rq, 4096), 0);
	assert_true(rq.rq_cap >= 4096);
	while ((r = request_reserve(&rq, 4096)) == 0) {
		assert_true(rq.rq_cap - rq.rq_len >= 4096);
		rq.rq_len = rq.rq_cap;		/* filled it */
		assert_true(rq.rq_cap <= HTTP_MAX_HEAD + 4096);
	}
	assert_int_equal(r, -1);
	assert_true(rq.rq_len >= HTTP_MAX_HEAD);
	request_free(&rq);
}

/* A pipelined next request keeps its bytes across request_reset. */
static void
test_request_reset_keeps_bytes(void **state)
{
	struct request rq;

	(void)state;
	feed(&rq, "CONNECT example.com:443 HTTP/1.1\r\n\r\n");
	assert_int_equal(request_classify(&rq, &(const char *){ NULL }),
	    REQUEST_OK);
	request_reset(&rq);
	assert_int_equal(rq.rq_len, strlen("CONNECT example.com:443 "
	    "HTTP/1.1\r\n\r\n"));
	assert_string_equal(rq.rq_hostport, "");
	assert_false(rq.rq_http);
	request_free(&rq);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_classify),
		cmocka_unit_test(test_request_log_redacts),
		cmocka_unit_test(test_request_reserve),
		cmocka_unit_test(test_request_reset_keeps_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
