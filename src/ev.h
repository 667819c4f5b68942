/* SPDX-License-Identifier: MIT */
/* The event loop: epoll (edge-triggered), timers in a binary heap embedded in
 * their owners, and deferred callbacks that run after each batch. One loop
 * per thread; nothing here is shared between loops. */
#ifndef SLUICE_EV_H
#define SLUICE_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct ev_timer;

#define EV_READ		0x1u	/* readable, or the peer closed its side */
#define EV_WRITE	0x2u	/* writable */
#define EV_ERROR	0x4u	/* error or hang-up: try the I/O to learn which */
#define EV_LEVEL	0x8u	/* ev_io_add: level-triggered (for libraries) */

typedef void ev_io_cb(struct ev_loop *, int fd, unsigned events, void *arg);
typedef void ev_timer_cb(struct ev_loop *, struct ev_timer *, void *arg);
typedef void ev_defer_cb(struct ev_loop *, void *arg);

/* Interest in one descriptor; embedded in its owner. */
struct ev_io {
	int		 io_fd;
	ev_io_cb	*io_cb;
	void		*io_arg;
};

/* A one-shot timer; embedded in its owner. t_idx is its heap slot + 1, or 0
 * when it is not armed. */
struct ev_timer {
	uint64_t	 t_when;
	size_t		 t_idx;
	ev_timer_cb	*t_cb;
	void		*t_arg;
};

/* A callback queued to run once after the current batch of events. */
struct ev_defer {
	struct ev_defer	*d_next;
	ev_defer_cb	*d_cb;
	void		*d_arg;
	bool		 d_queued;
};

/* Create a loop. Returns NULL with errno set. */
struct ev_loop *ev_loop_new(void);

/* Destroy a loop; every io must already be removed and timers stopped. */
void ev_loop_free(struct ev_loop *loop);

/* Watch `fd` edge-triggered for `events` (EV_READ|EV_WRITE; EV_LEVEL for
 * level-triggered). Callbacks get the ready set; with edge triggering, read
 * or write until EAGAIN before waiting again. The io
 * struct must stay valid until ev_io_del. Returns 0 or -1 with errno. */
int ev_io_add(struct ev_loop *loop, struct ev_io *io, int fd, unsigned events,
    ev_io_cb *cb, void *arg);

/* Stop watching. Closing the fd also stops it; this is for keeping it open.
 * Returns 0 or -1 with errno. */
int ev_io_del(struct ev_loop *loop, struct ev_io *io);

/* Change the interest set of a watched fd. Returns 0 or -1 with errno. */
int ev_io_mod(struct ev_loop *loop, struct ev_io *io, unsigned events);

/* Arm (or re-arm) `t` to fire `ms` milliseconds from the loop's now. */
void ev_timer_set(struct ev_loop *loop, struct ev_timer *t, uint64_t ms,
    ev_timer_cb *cb, void *arg);

/* Disarm `t` if armed. */
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);

/* Queue `d` to run after the current batch (no-op if already queued). */
void ev_defer(struct ev_loop *loop, struct ev_defer *d, ev_defer_cb *cb,
    void *arg);

/* Milliseconds on the monotonic clock, sampled once per batch. */
uint64_t ev_now(const struct ev_loop *loop);

/* Wall-clock time sampled with ev_now (for logs): seconds and milliseconds. */
void ev_wallclock(const struct ev_loop *loop, int64_t *sec, unsigned *msec);

/* Run until ev_stop. Returns 0, or -1 with errno if epoll fails. */
int ev_run(struct ev_loop *loop);

/* Run the deferred callbacks queued so far (for shutdown after ev_run). */
void ev_drain(struct ev_loop *loop);

/* Make ev_run return after the current batch. */
void ev_stop(struct ev_loop *loop);

#endif
