/* SPDX-License-Identifier: MIT */
/* c-ares glue. c-ares tells us which sockets it wants watched through its
 * socket-state callback; we watch them level-triggered (c-ares reads one
 * datagram per readiness report) and drive its retransmission timer. */
#include <ares.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "ev.h"

#define DNS_MAX_SOCKS 16

struct dns_sock {
	struct ev_io	 s_io;
	int		 s_fd;	/* -1 when the slot is free */
	struct dns	*s_dns;
};

struct dns {
	struct ev_loop	*d_loop;
	ares_channel	 d_chan;
	struct ev_timer	 d_timer;
	unsigned	 d_timeout_ms;
	struct dns_sock	 d_socks[DNS_MAX_SOCKS];
};

struct dns_query {
	struct dns	*q_dns;
	dns_cb		*q_cb;		/* NULL once answered or cancelled */
	void		*q_arg;
	struct dns_query **q_owner;	/* the owner's handle, or NULL */
	uint16_t	 q_port;
	struct ev_timer	 q_timer;
};

static void dns_schedule(struct dns *d);

static void
dns_sock_ready(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct dns_sock *s = arg;
	struct dns *d = s->s_dns;

	(void)loop;
	ares_process_fd(d->d_chan,
	    (events & (EV_READ | EV_ERROR)) ? fd : ARES_SOCKET_BAD,
	    (events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_schedule(d);
}

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *s = NULL, *free_slot = NULL;
	unsigned ev = EV_LEVEL | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0);
	int i;

	for (i = 0; i < DNS_MAX_SOCKS; i++) {
		if (d->d_socks[i].s_fd == fd)
			s = &d->d_socks[i];
		else if (d->d_socks[i].s_fd == -1 && free_slot == NULL)
			free_slot = &d->d_socks[i];
	}
	if (!readable && !writable) {
		if (s != NULL) {
			ev_io_del(d->d_loop, &s->s_io);
			s->s_fd = -1;
		}
		return;
	}
	if (s != NULL) {
		ev_io_mod(d->d_loop, &s->s_io, ev);
		return;
	}
	/* More sockets than slots would mean more servers than anyone
	 * configures; that lookup then times out instead of crashing. */
	if (free_slot == NULL)
		return;
	free_slot->s_fd = fd;
	free_slot->s_dns = d;
	if (ev_io_add(d->d_loop, &free_slot->s_io, fd, ev, dns_sock_ready,
	    free_slot) == -1)
		free_slot->s_fd = -1;
}

static void
dns_timer_fired(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct dns *d = arg;

	(void)loop;
	(void)t;
	ares_process_fd(d->d_chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_schedule(d);
}

/* Re-arm the retransmission timer from c-ares' idea of the next deadline. */
static void
dns_schedule(struct dns *d)
{
	struct timeval tv, *tvp = ares_timeout(d->d_chan, NULL, &tv);

	if (tvp == NULL) {
		ev_timer_stop(d->d_loop, &d->d_timer);
		return;
	}
	ev_timer_set(d->d_loop, &d->d_timer,
	    (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1,
	    dns_timer_fired, d);
}

struct dns *
dns_new(struct ev_loop *loop, const char *servers, unsigned timeout_ms,
    char *err, size_t errlen)
{
	static int initialised;
	struct ares_options o;
	struct dns *d;
	int r, i;

	if (!initialised) {
		if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
			snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
			return NULL;
		}
		initialised = 1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->d_loop = loop;
	d->d_timeout_ms = timeout_ms;
	for (i = 0; i < DNS_MAX_SOCKS; i++)
		d->d_socks[i].s_fd = -1;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = d;
	/* Two tries per server within the overall dns_timeout. */
	o.timeout = (int)(timeout_ms / 2 > 0 ? timeout_ms / 2 : 1);
	o.tries = 2;
	/* hosts_file is ours; c-ares asks DNS only. */
	o.lookups = (char *)"b";
	r = ares_init_options(&d->d_chan, &o, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		free(d);
		return NULL;
	}
	if (servers != NULL &&
	    (r = ares_set_servers_ports_csv(d->d_chan, servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns_server %s: %s", servers,
		    ares_strerror(r));
		ares_destroy(d->d_chan);
		free(d);
		return NULL;
	}
	return d;
}

int
dns_set_servers(struct dns *d, const char *servers, char *err, size_t errlen)
{
	int r;

	if (servers == NULL) {
		/* Back to the system's resolvers: read them afresh with a
		 * throwaway channel (c-ares 1.18 has no ares_reinit) and give
		 * them to ours, whose queries in flight carry on. */
		struct ares_addr_port_node *list = NULL;
		ares_channel tmp;

		if ((r = ares_init(&tmp)) != ARES_SUCCESS) {
			snprintf(err, errlen, "the system's resolvers "
			    "(/etc/resolv.conf): %s", ares_strerror(r));
			return -1;
		}
		if ((r = ares_get_servers_ports(tmp, &list)) == ARES_SUCCESS)
			r = ares_set_servers_ports(d->d_chan, list);
		if (list != NULL)
			ares_free_data(list);
		ares_destroy(tmp);
		if (r != ARES_SUCCESS) {
			snprintf(err, errlen, "the system's resolvers "
			    "(/etc/resolv.conf): %s", ares_strerror(r));
			return -1;
		}
		return 0;
	}
	if ((r = ares_set_servers_ports_csv(d->d_chan, servers)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "dns_server %s: %s", servers,
		    ares_strerror(r));
		return -1;
	}
	return 0;
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->d_chan);	/* runs pending callbacks, cancelled */
	ev_timer_stop(d->d_loop, &d->d_timer);
	free(d);
}

static void
dns_query_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct dns_query *q = arg;
	dns_cb *cb = q->q_cb;

	(void)loop;
	(void)t;
	q->q_cb = NULL;
	if (q->q_owner != NULL)
		*q->q_owner = NULL;
	q->q_owner = NULL;
	if (cb != NULL)
		cb(q->q_arg, NULL, 0, "DNS lookup timed out");
}

static void
dns_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	struct ares_addrinfo_node *n;
	dns_cb *cb = q->q_cb;
	size_t count = 0;
	char why[128];

	(void)timeouts;
	ev_timer_stop(q->q_dns->d_loop, &q->q_timer);
	q->q_cb = NULL;
	if (q->q_owner != NULL)
		*q->q_owner = NULL;
	q->q_owner = NULL;
	if (cb != NULL && status == ARES_SUCCESS && res != NULL) {
		for (n = res->nodes; n != NULL && count < DNS_MAX_ADDRS;
		    n = n->ai_next) {
			if ((n->ai_family != AF_INET &&
			    n->ai_family != AF_INET6) ||
			    n->ai_addrlen > sizeof(addrs[0]))
				continue;
			memset(&addrs[count], 0, sizeof(addrs[count]));
			memcpy(&addrs[count], n->ai_addr, n->ai_addrlen);
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)&addrs[count])->sin_port =
				    htons(q->q_port);
			else
				((struct sockaddr_in6 *)&addrs[count])->sin6_port =
				    htons(q->q_port);
			count++;
		}
	}
	if (res != NULL)
		ares_freeaddrinfo(res);
	if (cb != NULL) {
		if (count > 0)
			cb(q->q_arg, addrs, count, NULL);
		else {
			switch (status) {
			case ARES_SUCCESS:
			case ARES_ENODATA:
				snprintf(why, sizeof(why), "no address records");
				break;
			case ARES_ENOTFOUND:
				snprintf(why, sizeof(why), "no such domain");
				break;
			case ARES_ETIMEOUT:
				snprintf(why, sizeof(why), "DNS lookup timed out");
				break;
			default:
				snprintf(why, sizeof(why), "DNS lookup failed (%s)",
				    ares_strerror(status));
			}
			cb(q->q_arg, NULL, 0, why);
		}
	}
	free(q);
}

int
dns_resolve(struct dns *d, const char *name, uint16_t port, dns_cb *cb,
    void *arg, struct dns_query **qp)
{
	struct ares_addrinfo_hints hints;
	struct dns_query *q = calloc(1, sizeof(*q));

	*qp = NULL;
	if (q == NULL)
		return -1;
	q->q_dns = d;
	q->q_cb = cb;
	q->q_arg = arg;
	q->q_port = port;
	q->q_owner = qp;
	*qp = q;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = ARES_AI_NOSORT;
	ev_timer_set(d->d_loop, &q->q_timer, d->d_timeout_ms, dns_query_timeout,
	    q);
	ares_getaddrinfo(d->d_chan, name, NULL, &hints, dns_answer, q);
	dns_schedule(d);
	return 0;
}

void
dns_cancel(struct dns_query *q)
{
	q->q_cb = NULL;
	if (q->q_owner != NULL)
		*q->q_owner = NULL;
	q->q_owner = NULL;
	ev_timer_stop(q->q_dns->d_loop, &q->q_timer);
}
