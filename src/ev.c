/* SPDX-License-Identifier: MIT */
/*
 * The event loop.
 *
 * Design: every descriptor is registered once, edge-triggered, for both
 * directions it will ever need (EPOLLIN|EPOLLOUT|EPOLLRDHUP). Owners keep
 * "may read"/"may write" flags and do I/O until EAGAIN, so a busy connection
 * never costs an epoll_ctl call after its first. The price is discipline: an
 * owner that stops reading before EAGAIN (back-pressure) must remember it may
 * still read, because no new edge will come.
 *
 * Timers sit in a binary min-heap of pointers into their owners, so arming,
 * re-arming and stopping are O(log n) with no allocation; owners with
 * frequently refreshed deadlines (idle timeouts) re-arm lazily when the timer
 * fires rather than on every byte.
 *
 * Deferred callbacks run after each batch of events. Objects are freed from
 * there, so a callback never frees what a later event in the same batch still
 * points at.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"

#define EV_BATCH 256

struct ev_loop {
	int		  l_epfd;
	bool		  l_stop;
	uint64_t	  l_now;	/* monotonic ms */
	struct timespec	  l_wall;
	struct ev_timer	**l_heap;
	size_t		  l_nheap;
	size_t		  l_capheap;
	struct ev_defer	 *l_defer;	/* LIFO list */
};

static void
ev_update_now(struct ev_loop *loop)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop->l_now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME, &loop->l_wall);
}

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	if ((loop->l_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(loop);
		return NULL;
	}
	ev_update_now(loop);
	return loop;
}

void
ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->l_epfd);
	free(loop->l_heap);
	free(loop);
}

static void
ev_fill(struct epoll_event *ee, struct ev_io *io, unsigned events)
{
	memset(ee, 0, sizeof(*ee));
	ee->events = (events & EV_LEVEL) ? 0 : (EPOLLET | EPOLLRDHUP);
	if (events & EV_READ)
		ee->events |= EPOLLIN;
	if (events & EV_WRITE)
		ee->events |= EPOLLOUT;
	ee->data.ptr = io;
}

int
ev_io_add(struct ev_loop *loop, struct ev_io *io, int fd, unsigned events,
    ev_io_cb *cb, void *arg)
{
	struct epoll_event ee;

	io->io_fd = fd;
	io->io_cb = cb;
	io->io_arg = arg;
	ev_fill(&ee, io, events);
	return epoll_ctl(loop->l_epfd, EPOLL_CTL_ADD, fd, &ee);
}

int
ev_io_mod(struct ev_loop *loop, struct ev_io *io, unsigned events)
{
	struct epoll_event ee;

	ev_fill(&ee, io, events);
	return epoll_ctl(loop->l_epfd, EPOLL_CTL_MOD, io->io_fd, &ee);
}

int
ev_io_del(struct ev_loop *loop, struct ev_io *io)
{
	return epoll_ctl(loop->l_epfd, EPOLL_CTL_DEL, io->io_fd, NULL);
}

/* Heap helpers: l_heap[i] has t_idx == i + 1. */
static void
ev_heap_place(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->l_heap[i] = t;
	t->t_idx = i + 1;
}

static void
ev_heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->l_heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->l_heap[parent]->t_when <= t->t_when)
			break;
		ev_heap_place(loop, i, loop->l_heap[parent]);
		i = parent;
	}
	ev_heap_place(loop, i, t);
}

static void
ev_heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->l_heap[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		uint64_t mw = t->t_when;

		if (l < loop->l_nheap && loop->l_heap[l]->t_when < mw) {
			m = l;
			mw = loop->l_heap[l]->t_when;
		}
		if (l + 1 < loop->l_nheap && loop->l_heap[l + 1]->t_when < mw)
			m = l + 1;
		if (m == i)
			break;
		ev_heap_place(loop, i, loop->l_heap[m]);
		i = m;
	}
	ev_heap_place(loop, i, t);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i;
	struct ev_timer *last;

	if (t->t_idx == 0)
		return;
	i = t->t_idx - 1;
	t->t_idx = 0;
	last = loop->l_heap[--loop->l_nheap];
	if (last == t)
		return;
	ev_heap_place(loop, i, last);
	ev_heap_up(loop, i);
	ev_heap_down(loop, last->t_idx - 1);
}

void
ev_timer_set(struct ev_loop *loop, struct ev_timer *t, uint64_t ms,
    ev_timer_cb *cb, void *arg)
{
	ev_timer_stop(loop, t);
	t->t_when = loop->l_now + ms;
	t->t_cb = cb;
	t->t_arg = arg;
	if (loop->l_nheap == loop->l_capheap) {
		size_t cap = loop->l_capheap ? loop->l_capheap * 2 : 64;
		struct ev_timer **h = realloc(loop->l_heap, cap * sizeof(*h));

		/* Timers are armed on paths that cannot fail cleanly; without
		 * memory for the heap the process cannot keep its promises. */
		if (h == NULL)
			abort();
		loop->l_heap = h;
		loop->l_capheap = cap;
	}
	ev_heap_place(loop, loop->l_nheap++, t);
	ev_heap_up(loop, loop->l_nheap - 1);
}

void
ev_defer(struct ev_loop *loop, struct ev_defer *d, ev_defer_cb *cb, void *arg)
{
	if (d->d_queued)
		return;
	d->d_cb = cb;
	d->d_arg = arg;
	d->d_queued = true;
	d->d_next = loop->l_defer;
	loop->l_defer = d;
}

uint64_t
ev_now(const struct ev_loop *loop)
{
	return loop->l_now;
}

void
ev_wallclock(const struct ev_loop *loop, int64_t *sec, unsigned *msec)
{
	*sec = loop->l_wall.tv_sec;
	*msec = (unsigned)(loop->l_wall.tv_nsec / 1000000);
}

void
ev_stop(struct ev_loop *loop)
{
	loop->l_stop = true;
}

static void
ev_run_deferred(struct ev_loop *loop)
{
	while (loop->l_defer != NULL) {
		struct ev_defer *d = loop->l_defer;

		loop->l_defer = d->d_next;
		d->d_queued = false;
		d->d_cb(loop, d->d_arg);
	}
}

void
ev_drain(struct ev_loop *loop)
{
	ev_run_deferred(loop);
}

static void
ev_run_timers(struct ev_loop *loop)
{
	while (loop->l_nheap > 0 && loop->l_heap[0]->t_when <= loop->l_now) {
		struct ev_timer *t = loop->l_heap[0];

		ev_timer_stop(loop, t);
		t->t_cb(loop, t, t->t_arg);
	}
}

int
ev_run(struct ev_loop *loop)
{
	struct epoll_event evs[EV_BATCH];

	loop->l_stop = false;
	while (!loop->l_stop) {
		int timeout = -1, n, i;

		ev_run_deferred(loop);
		if (loop->l_stop)
			break;
		if (loop->l_nheap > 0) {
			uint64_t when = loop->l_heap[0]->t_when;

			timeout = when <= loop->l_now ? 0 :
			    (int)(when - loop->l_now > 86400000 ? 86400000 :
			    when - loop->l_now);
		}
		n = epoll_wait(loop->l_epfd, evs, EV_BATCH, timeout);
		if (n == -1 && errno != EINTR)
			return -1;
		ev_update_now(loop);
		for (i = 0; i < n; i++) {
			struct ev_io *io = evs[i].data.ptr;
			unsigned e = 0;

			if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
				e |= EV_READ;
			if (evs[i].events & EPOLLOUT)
				e |= EV_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				e |= EV_ERROR | EV_READ | EV_WRITE;
			io->io_cb(loop, io->io_fd, e, io->io_arg);
		}
		ev_run_deferred(loop);
		ev_run_timers(loop);
	}
	ev_run_deferred(loop);
	return 0;
}
