/* SPDX-License-Identifier: MIT */
/* A worker's counters for the admin listener, and their merge. Every
 * update takes the worker's own mutex, which nobody else holds except the
 * control thread for the moment of a scrape: uncontended, so it costs a few
 * nanoseconds, and a scrape sees each worker's counters at one instant, so
 * totals that must agree (requests and bytes) do. Label values are bounded:
 * methods by a fixed list, reasons by their enum, policies by
 * STATS_MAX_POLICIES names; destinations and users appear only on the
 * status page, never as metric labels. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "strmap.h"
#include "window.h"

#define STATS_WINDOW_KEYS	100	/* distinct keys per minute: at worst
					 * (300-byte keys) about 2.4 MiB per
					 * window */
#define STATS_OTHER		"(other)"
#define STATS_WHO_SEP		'\x1f'

const unsigned stats_hist_ms[STATS_HIST_BOUNDS] = {
	1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

struct stats {
	pthread_mutex_t		 s_lock;
	struct stats_policy	*s_pol[STATS_MAX_POLICIES + 1];
	size_t			 s_npol;
	uint64_t		 s_bytes_down, s_bytes_up;
	uint64_t		 s_auth[STATS_AUTH_COUNT];
	struct stats_hist	 s_dns, s_connect;
	struct strmap		 s_who;		/* "policy\x1fuser" -> open */
	struct window		*s_dest;	/* "host:port" */
	struct window		*s_denied;	/* "host:port reason" */
	struct window		*s_authfail;	/* client IP */
	struct stats_denial	 s_recent[STATS_RECENT];	/* a ring */
	size_t			 s_nrecent;
	size_t			 s_next;
};

/* Orders denials across workers for the merged list. */
static _Atomic uint64_t stats_seq;

static const char *const stats_methods[STATS_M_COUNT] = {
	"CONNECT", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
	"other", "none",
};

static const char *const stats_auth_names[STATS_AUTH_COUNT] = {
	"ok", "failed", "cached", "throttled", "busy",
};

const char *
stats_method_name(enum stats_method m)
{
	return stats_methods[m];
}

const char *
stats_auth_name(enum stats_auth r)
{
	return stats_auth_names[r];
}

struct stats *
stats_new(void)
{
	struct stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->s_lock, NULL);
	strmap_init(&s->s_who);
	if ((s->s_dest = window_new(STATS_WINDOW_KEYS)) == NULL ||
	    (s->s_denied = window_new(STATS_WINDOW_KEYS)) == NULL ||
	    (s->s_authfail = window_new(STATS_WINDOW_KEYS)) == NULL) {
		stats_free(s);
		return NULL;
	}
	return s;
}

void
stats_free(struct stats *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->s_npol; i++)
		free(s->s_pol[i]);
	strmap_free(&s->s_who);
	window_free(s->s_dest);
	window_free(s->s_denied);
	window_free(s->s_authfail);
	pthread_mutex_destroy(&s->s_lock);
	free(s);
}

static enum stats_method
stats_method(const char *m)
{
	unsigned i;

	if (m == NULL)
		return STATS_M_NONE;
	for (i = 0; i < STATS_M_OTHER; i++)
		if (strcmp(m, stats_methods[i]) == 0)
			return (enum stats_method)i;
	return STATS_M_OTHER;
}

/* The counters of the policy named `name` in `pol` (n of them), added when
 * new; past STATS_MAX_POLICIES names, the shared "(other)" slot. Returns
 * NULL when out of memory. */
static struct stats_policy *
stats_policy(struct stats_policy **pol, size_t *n, const char *name)
{
	struct stats_policy *p;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(pol[i]->sp_name, name) == 0)
			return pol[i];
	if (*n > STATS_MAX_POLICIES)
		return pol[STATS_MAX_POLICIES];		/* "(other)" */
	if (*n == STATS_MAX_POLICIES)
		name = STATS_OTHER;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	snprintf(p->sp_name, sizeof(p->sp_name), "%s", name);
	pol[(*n)++] = p;
	return p;
}

static void
stats_observe(struct stats_hist *h, int64_t ms)
{
	unsigned i;

	if (ms < 0)
		return;
	for (i = 0; i < STATS_HIST_BOUNDS; i++)
		if ((uint64_t)ms <= stats_hist_ms[i])
			break;
	h->h_bucket[i]++;
	h->h_count++;
	h->h_sum_ms += (uint64_t)ms;
}

/* The status page's memory of a denial. Caller holds the lock. */
static void
stats_remember(struct stats *s, const struct stats_txn *t)
{
	struct stats_denial *d = &s->s_recent[s->s_next];

	s->s_next = (s->s_next + 1) % STATS_RECENT;
	if (s->s_nrecent < STATS_RECENT)
		s->s_nrecent++;
	d->d_time = t->st_wall;
	d->d_seq = ++stats_seq;
	d->d_reason = t->st_reason;
	snprintf(d->d_client, sizeof(d->d_client), "%s", t->st_client ?
	    t->st_client : "-");
	snprintf(d->d_user, sizeof(d->d_user), "%s", t->st_user ? t->st_user :
	    "-");
	snprintf(d->d_target, sizeof(d->d_target), "%s", t->st_target ?
	    t->st_target : "-");
}

/* The windows: every destination, and each denial with its reason. */
static void
stats_window(struct stats *s, const struct stats_txn *t, uint64_t now_ms)
{
	char key[320];
	int n;

	if (t->st_host == NULL)
		return;
	n = snprintf(key, sizeof(key), "%s:%u", t->st_host, t->st_port);
	if (n < 0 || (size_t)n >= sizeof(key))
		return;
	(void)window_add(s->s_dest, key, (size_t)n, now_ms, 1);
	if (strcmp(reason_decision(t->st_reason, false), "denied") != 0)
		return;
	n = snprintf(key, sizeof(key), "%s:%u %s", t->st_host, t->st_port,
	    reason_code(t->st_reason));
	if (n > 0 && (size_t)n < sizeof(key))
		(void)window_add(s->s_denied, key, (size_t)n, now_ms, 1);
}

void
stats_txn(struct stats *s, const struct stats_txn *t, uint64_t now_ms)
{
	struct stats_policy *p;
	enum stats_method m = stats_method(t->st_method);

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->s_lock);
	p = stats_policy(s->s_pol, &s->s_npol, t->st_policy ? t->st_policy :
	    "default");
	if (p == NULL)
		;
	else if (t->st_reason == REASON_NONE && t->st_abort != REASON_NONE)
		p->sp_abort[m][t->st_abort]++;
	else if (t->st_reason == REASON_NONE && t->st_report != REASON_NONE)
		p->sp_report[m][t->st_report]++;
	else
		p->sp_req[m][t->st_reason]++;
	s->s_bytes_down += t->st_bytes_down;
	s->s_bytes_up += t->st_bytes_up;
	stats_observe(&s->s_dns, t->st_dns_ms);
	stats_observe(&s->s_connect, t->st_connect_ms);
	stats_window(s, t, now_ms);
	if (strcmp(reason_decision(t->st_reason, false), "denied") == 0)
		stats_remember(s, t);
	pthread_mutex_unlock(&s->s_lock);
}

void
stats_tunnel(struct stats *s, const char *policy, const char *user,
    int delta)
{
	struct stats_policy *p;
	char key[STATS_NAME_MAX + 300];
	uintptr_t *v;
	bool created;
	int n;

	if (s == NULL)
		return;
	policy = policy ? policy : "default";
	n = snprintf(key, sizeof(key), "%s%c%s", policy, STATS_WHO_SEP,
	    user ? user : "-");
	pthread_mutex_lock(&s->s_lock);
	if ((p = stats_policy(s->s_pol, &s->s_npol, policy)) != NULL)
		p->sp_tunnels += delta;
	if (n > 0 && (size_t)n < sizeof(key) &&
	    (v = strmap_put(&s->s_who, key, (size_t)n, &created)) != NULL)
		*v += (uintptr_t)(intptr_t)delta;
	pthread_mutex_unlock(&s->s_lock);
}

void
stats_auth(struct stats *s, enum stats_auth r, const char *client,
    uint64_t now_ms)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->s_lock);
	s->s_auth[r]++;
	if (r == STATS_AUTH_FAILED && client != NULL)
		(void)window_add(s->s_authfail, client, strlen(client), now_ms,
		    1);
	pthread_mutex_unlock(&s->s_lock);
}

static void
stats_hist_add(struct stats_hist *to, const struct stats_hist *h)
{
	unsigned i;

	for (i = 0; i <= STATS_HIST_BOUNDS; i++)
		to->h_bucket[i] += h->h_bucket[i];
	to->h_count += h->h_count;
	to->h_sum_ms += h->h_sum_ms;
}

/* Add one worker's policies into the sum. Returns 0 or -1. */
static int
stats_merge_policies(struct stats_sum *sum, const struct stats *s)
{
	struct stats_policy *p;
	size_t i, m, r;

	for (i = 0; i < s->s_npol; i++) {
		const struct stats_policy *q = s->s_pol[i];

		if ((p = stats_policy(sum->ss_pol, &sum->ss_npol,
		    q->sp_name)) == NULL)
			return -1;
		for (m = 0; m < STATS_M_COUNT; m++)
			for (r = 0; r < REASON_COUNT; r++) {
				p->sp_req[m][r] += q->sp_req[m][r];
				p->sp_abort[m][r] += q->sp_abort[m][r];
				p->sp_report[m][r] += q->sp_report[m][r];
			}
		p->sp_tunnels += q->sp_tunnels;
	}
	return 0;
}

/* Add one worker's open tunnels by policy and user. Returns 0 or -1. */
static int
stats_merge_who(struct stats_sum *sum, const struct stats *s)
{
	const struct strmap *w = &s->s_who;
	size_t i, j;

	for (i = 0; i < w->m_cap; i++) {
		const struct strmap_slot *sl = &w->m_slots[i];
		void *k, *c;

		if (sl->s_key == NULL || (intptr_t)sl->s_val <= 0)
			continue;
		for (j = 0; j < sum->ss_nwho; j++)
			if (strcmp(sum->ss_who[j], sl->s_key) == 0)
				break;
		if (j == sum->ss_nwho) {
			if ((k = realloc(sum->ss_who, (j + 1) *
			    sizeof(*sum->ss_who))) == NULL)
				return -1;
			sum->ss_who = k;
			if ((c = realloc(sum->ss_who_count, (j + 1) *
			    sizeof(*sum->ss_who_count))) == NULL)
				return -1;
			sum->ss_who_count = c;
			if ((sum->ss_who[j] = strdup(sl->s_key)) == NULL)
				return -1;
			sum->ss_who_count[j] = 0;
			sum->ss_nwho++;
		}
		sum->ss_who_count[j] += (uint64_t)(intptr_t)sl->s_val;
	}
	return 0;
}

/* Add one worker's windows and denials. Returns 0 or -1. */
static int
stats_merge_recent(struct stats_sum *sum, const struct stats *s,
    uint64_t now_ms)
{
	static const unsigned minutes[2] = { 5, 60 };
	size_t i, j;

	for (i = 0; i < 2; i++) {
		if (window_sum_add(sum->ss_dest[i], s->s_dest, now_ms,
		    minutes[i]) == -1 || window_sum_add(sum->ss_denied[i],
		    s->s_denied, now_ms, minutes[i]) == -1)
			return -1;
	}
	if (window_sum_add(sum->ss_authfail, s->s_authfail, now_ms, 60) == -1)
		return -1;
	/* Keep the newest STATS_RECENT of all, newest first. */
	for (i = 0; i < s->s_nrecent; i++) {
		const struct stats_denial *d = &s->s_recent[i];

		for (j = 0; j < sum->ss_nrecent; j++)
			if (sum->ss_recent[j].d_seq < d->d_seq)
				break;
		if (j == STATS_RECENT)
			continue;
		memmove(&sum->ss_recent[j + 1], &sum->ss_recent[j],
		    (STATS_RECENT - j - 1) * sizeof(*d));
		sum->ss_recent[j] = *d;
		if (sum->ss_nrecent < STATS_RECENT)
			sum->ss_nrecent++;
	}
	return 0;
}

static int
stats_sum_windows(struct stats_sum *sum)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if ((sum->ss_dest[i] = window_sum_new()) == NULL ||
		    (sum->ss_denied[i] = window_sum_new()) == NULL)
			return -1;
	if ((sum->ss_authfail = window_sum_new()) == NULL)
		return -1;
	return 0;
}

int
stats_merge(struct stats_sum *sum, struct stats *const *s, size_t n,
    bool recent, uint64_t now_ms)
{
	size_t w, a;
	int rc = 0;

	if (recent && stats_sum_windows(sum) == -1)
		return -1;
	for (w = 0; w < n && rc == 0; w++) {
		struct stats *x = s[w];

		if (x == NULL)
			continue;
		pthread_mutex_lock(&x->s_lock);
		rc = stats_merge_policies(sum, x);
		if (rc == 0)
			rc = stats_merge_who(sum, x);
		if (rc == 0 && recent)
			rc = stats_merge_recent(sum, x, now_ms);
		sum->ss_bytes_down += x->s_bytes_down;
		sum->ss_bytes_up += x->s_bytes_up;
		for (a = 0; a < STATS_AUTH_COUNT; a++)
			sum->ss_auth[a] += x->s_auth[a];
		stats_hist_add(&sum->ss_dns, &x->s_dns);
		stats_hist_add(&sum->ss_connect, &x->s_connect);
		pthread_mutex_unlock(&x->s_lock);
	}
	return rc;
}

void
stats_sum_free(struct stats_sum *sum)
{
	size_t i;

	for (i = 0; i < sum->ss_npol; i++)
		free(sum->ss_pol[i]);
	for (i = 0; i < sum->ss_nwho; i++)
		free(sum->ss_who[i]);
	free(sum->ss_who);
	free(sum->ss_who_count);
	for (i = 0; i < 2; i++) {
		window_sum_free(sum->ss_dest[i]);
		window_sum_free(sum->ss_denied[i]);
	}
	window_sum_free(sum->ss_authfail);
	memset(sum, 0, sizeof(*sum));
}
