/* SPDX-License-Identifier: MIT */
/* The event loop's timer heap (ev.c): timers fire in deadline order, once,
 * never after ev_timer_stop, and a re-armed timer fires at its new deadline
 * only. Deadlines are a few milliseconds: only the order is asserted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ev.h"

#define NTIMERS	300

struct probe {
	struct ev_timer	 t;
	uint64_t	 when;		/* deadline asked for */
	int		 fired;
	bool		 stopped;
};

static uint64_t fired_when[NTIMERS];
static size_t nfired;

static void
fire(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct probe *p = arg;

	(void)t;
	/* Never before its (latest) deadline. */
	if (ev_now(loop) < p->when)
		fail_msg("a timer due at %llu fired at %llu",
		    (unsigned long long)p->when,
		    (unsigned long long)ev_now(loop));
	p->fired++;
	fired_when[nfired++] = p->when;
}

static void
done(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(loop);
}

static void
test_ev_timer_order(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct probe *p = calloc(NTIMERS, sizeof(*p));
	struct ev_timer end;
	uint64_t now;
	size_t i;

	(void)state;
	assert_non_null(loop);
	assert_non_null(p);
	memset(&end, 0, sizeof(end));
	srandom(7);
	now = ev_now(loop);
	for (i = 0; i < NTIMERS; i++) {
		uint64_t ms = (uint64_t)(random() % 40);

		ev_timer_set(loop, &p[i].t, ms, fire, &p[i]);
		p[i].when = now + ms;
	}
	/* Stop a third, re-arm a third later (their first deadline must not
	 * fire), leave the rest. */
	for (i = 0; i < NTIMERS; i++) {
		if (i % 3 == 0) {
			ev_timer_stop(loop, &p[i].t);
			p[i].stopped = true;
		} else if (i % 3 == 1) {
			uint64_t ms = 40 + (uint64_t)(random() % 20);

			ev_timer_set(loop, &p[i].t, ms, fire, &p[i]);
			p[i].when = now + ms;
		}
	}
	ev_timer_set(loop, &end, 120, done, NULL);
	assert_int_equal(ev_run(loop), 0);

	for (i = 0; i < NTIMERS; i++)
		assert_int_equal(p[i].fired, p[i].stopped ? 0 : 1);
	assert_int_equal(nfired, NTIMERS - (NTIMERS + 2) / 3);
	for (i = 1; i < nfired; i++)
		if (fired_when[i] < fired_when[i - 1])
			fail_msg("timer %zu (deadline %llu) fired after one due at "
			    "%llu", i, (unsigned long long)fired_when[i - 1],
			    (unsigned long long)fired_when[i]);
	free(p);
	ev_loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ev_timer_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
