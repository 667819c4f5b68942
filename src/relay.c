/* SPDX-License-Identifier: MIT */
/* Zero-copy relay. A pipe is taken from the pool when a direction has data to
 * move and returned as soon as it is empty again, so ten thousand idle
 * tunnels cost two sockets each and no pipes. The buffered path serves sockets
 * splice refuses and the few bytes a client pipelines after CONNECT. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"
#include "xport.h"

#define RELAY_PIPE_SIZE		(1024 * 1024)
#define RELAY_BUF		(16 * 1024)
#define RELAY_POOL_MAX		64

struct relay_pipe {
	int	rp_r, rp_w;
};

struct relay_pool {
	struct relay_pipe	*p_spare[RELAY_POOL_MAX];
	size_t			 p_nspare;
};

struct relay_pool *
relay_pool_new(void)
{
	return calloc(1, sizeof(struct relay_pool));
}

static void
relay_pipe_close(struct relay_pipe *rp)
{
	close(rp->rp_r);
	close(rp->rp_w);
	free(rp);
}

void
relay_pool_free(struct relay_pool *p)
{
	if (p == NULL)
		return;
	while (p->p_nspare > 0)
		relay_pipe_close(p->p_spare[--p->p_nspare]);
	free(p);
}

static struct relay_pipe *
relay_pipe_get(struct relay_pool *p)
{
	struct relay_pipe *rp;
	int fds[2];

	if (p->p_nspare > 0)
		return p->p_spare[--p->p_nspare];
	if ((rp = malloc(sizeof(*rp))) == NULL)
		return NULL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(rp);
		return NULL;
	}
	rp->rp_r = fds[0];
	rp->rp_w = fds[1];
	/* A bigger pipe moves more per splice: fewer wake-ups for bulk
	 * transfers. Pipes live only while data is in flight, and the pool
	 * keeps a few, so the memory is bounded. Best effort: the default
	 * (64 KiB) still works. */
	(void)fcntl(rp->rp_w, F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	return rp;
}

static void
relay_pipe_put(struct relay_pool *p, struct relay_pipe *rp)
{
	if (p->p_nspare < RELAY_POOL_MAX)
		p->p_spare[p->p_nspare++] = rp;
	else
		relay_pipe_close(rp);
}

void
relay_dir_free(struct relay_pool *p, struct relay_dir *d)
{
	if (d->rd_pipe != NULL) {
		/* A pipe with bytes in it cannot be reused. */
		if (d->rd_inpipe == 0)
			relay_pipe_put(p, d->rd_pipe);
		else
			relay_pipe_close(d->rd_pipe);
		d->rd_pipe = NULL;
	}
	free(d->rd_buf);
	d->rd_buf = NULL;
	d->rd_off = d->rd_len = d->rd_cap = d->rd_inpipe = 0;
}

int
relay_prefill(struct relay_dir *d, const char *data, size_t len)
{
	char *b;

	if (len == 0)
		return 0;
	if ((b = realloc(d->rd_buf, d->rd_len + len)) == NULL)
		return -1;
	memcpy(b + d->rd_len, data, len);
	d->rd_buf = b;
	d->rd_len += (uint32_t)len;
	d->rd_cap = d->rd_len;
	return 0;
}

static bool
relay_again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Write out what the buffer holds. Returns 1 when empty, 0 when blocked,
 * -1 on error. */
static int
relay_flush_buf(struct relay_dir *d, struct xport *to)
{
	while (d->rd_off < d->rd_len) {
		ssize_t n = xport_write(to, d->rd_buf + d->rd_off,
		    d->rd_len - d->rd_off);

		if (n == -1)
			return -1;
		d->rd_off += (uint32_t)n;
		d->rd_bytes += (uint64_t)n;
		if (!to->x_can_write && d->rd_off < d->rd_len)
			return 0;
	}
	d->rd_off = d->rd_len = 0;
	return 1;
}

/* `from` has ended and everything is written: pass the end on, once. */
static int
relay_shut(struct relay_dir *d, struct xport *to)
{
	if (d->rd_shut)
		return 0;
	d->rd_shut = true;
	return xport_shutdown(to);
}

/* The splice path. Reading into the pipe and writing out of it overlap:
 * the next read does not wait for the pipe to empty. The price is that an
 * EAGAIN from the read is ambiguous while the pipe holds data (socket empty,
 * or pipe slots full), so readiness is only cleared when it comes with an
 * empty pipe; otherwise the next drain retries the read. Returns
 * RELAY_FALLBACK when this socket pair cannot splice. */
#define RELAY_FALLBACK ((enum relay_status)-1)

static enum relay_status
relay_splice(struct relay_pool *p, struct relay_dir *d, struct xport *from,
    struct xport *to)
{
	for (;;) {
		bool progress = false;
		ssize_t n;

		if (!d->rd_eof && from->x_can_read && d->rd_inpipe < RELAY_PIPE_SIZE) {
			if (d->rd_pipe == NULL &&
			    (d->rd_pipe = relay_pipe_get(p)) == NULL) {
				d->rd_nosplice = true;
				return RELAY_FALLBACK;
			}
			n = splice(from->x_fd, NULL, d->rd_pipe->rp_w, NULL,
			    RELAY_PIPE_SIZE - d->rd_inpipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->rd_inpipe += (uint32_t)n;
				progress = true;
			} else if (n == 0) {
				d->rd_eof = true;
				progress = true;
			} else if (relay_again()) {
				if (d->rd_inpipe == 0)
					from->x_can_read = false;
			} else if (errno == EINTR)
				progress = true;
			else if (errno == EINVAL && d->rd_inpipe == 0) {
				/* This socket pair cannot splice. */
				relay_pipe_put(p, d->rd_pipe);
				d->rd_pipe = NULL;
				d->rd_nosplice = true;
				return RELAY_FALLBACK;
			} else
				return RELAY_ERROR;
		}
		if (d->rd_inpipe > 0 && to->x_can_write) {
			n = splice(d->rd_pipe->rp_r, NULL, to->x_fd, NULL, d->rd_inpipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->rd_inpipe -= (uint32_t)n;
				d->rd_bytes += (uint64_t)n;
				progress = true;
			} else if (n == -1 && relay_again())
				to->x_can_write = false;
			else if (n == -1 && errno == EINTR)
				progress = true;
			else
				return RELAY_ERROR;
		}
		/* An idle direction owns no pipe. */
		if (d->rd_pipe != NULL && d->rd_inpipe == 0 &&
		    (!from->x_can_read || d->rd_eof)) {
			relay_pipe_put(p, d->rd_pipe);
			d->rd_pipe = NULL;
		}
		if (d->rd_eof && d->rd_inpipe == 0)
			return relay_shut(d, to) == -1 ? RELAY_ERROR : RELAY_DONE;
		if (!progress)
			return RELAY_WAIT;
	}
}

/* The buffered path: one read, then write it all out, until blocked. */
static enum relay_status
relay_copy(struct relay_dir *d, struct xport *from, struct xport *to)
{
	for (;;) {
		ssize_t n;
		int r;

		if ((r = relay_flush_buf(d, to)) != 1)
			return r == 0 ? RELAY_WAIT : RELAY_ERROR;
		if (d->rd_eof) {
			free(d->rd_buf);
			d->rd_buf = NULL;
			d->rd_cap = 0;
			return relay_shut(d, to) == -1 ? RELAY_ERROR : RELAY_DONE;
		}
		if (!from->x_can_read)
			return RELAY_WAIT;
		if (d->rd_cap < RELAY_BUF) {
			char *b = realloc(d->rd_buf, RELAY_BUF);

			if (b == NULL)
				return RELAY_ERROR;
			d->rd_buf = b;
			d->rd_cap = RELAY_BUF;
		}
		n = xport_read(from, d->rd_buf, RELAY_BUF);
		if (n > 0) {
			d->rd_off = 0;
			d->rd_len = (uint32_t)n;
		} else if (n == 0)
			d->rd_eof = true;
		else if (errno == EAGAIN) {
			/* Idle again: give the buffer back. */
			free(d->rd_buf);
			d->rd_buf = NULL;
			d->rd_cap = 0;
			return RELAY_WAIT;
		} else
			return RELAY_ERROR;
	}
}

enum relay_status
relay_pump(struct relay_pool *p, struct relay_dir *d, struct xport *from,
    struct xport *to)
{
	int r;

	/* Bytes queued before relaying began (relay_prefill) go first. */
	if ((r = relay_flush_buf(d, to)) != 1)
		return r == 0 ? RELAY_WAIT : RELAY_ERROR;
	if (!d->rd_nosplice && !xport_can_splice(from, to))
		d->rd_nosplice = true;
	if (!d->rd_nosplice) {
		enum relay_status st = relay_splice(p, d, from, to);

		if (st != RELAY_FALLBACK)
			return st;
	}
	return relay_copy(d, from, to);
}
