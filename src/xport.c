/* SPDX-License-Identifier: MIT */
/* Transports (see xport.h); plain TCP for now. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xport.h"

static ssize_t
tcp_read(struct xport *x, void *p, size_t len)
{
	ssize_t n;

	if (!x->x_can_read) {
		errno = EAGAIN;
		return -1;
	}
	do
		n = recv(x->x_fd, p, len, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		x->x_can_read = false;
		errno = EAGAIN;
	}
	return n;
}

static ssize_t
tcp_write(struct xport *x, const void *p, size_t len)
{
	size_t off = 0;

	while (off < len && x->x_can_write) {
		ssize_t n = send(x->x_fd, (const char *)p + off, len - off,
		    MSG_NOSIGNAL);

		if (n >= 0)
			off += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			x->x_can_write = false;
		else if (errno != EINTR)
			return -1;
	}
	return (ssize_t)off;
}

static int
tcp_shutdown(struct xport *x)
{
	if (shutdown(x->x_fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return -1;
	return 0;
}

static void
tcp_close(struct xport *x)
{
	close(x->x_fd);
}

static const struct xport_ops xport_tcp_ops = {
	.xo_name = "tcp",
	.xo_read = tcp_read,
	.xo_write = tcp_write,
	.xo_shutdown = tcp_shutdown,
	.xo_close = tcp_close,
};

/* What a closed transport answers: nothing is open to use. */
static ssize_t
none_read(struct xport *x, void *p, size_t len)
{
	(void)x;
	(void)p;
	(void)len;
	errno = EBADF;
	return -1;
}

static ssize_t
none_write(struct xport *x, const void *p, size_t len)
{
	(void)x;
	(void)p;
	(void)len;
	errno = EBADF;
	return -1;
}

static int
none_shutdown(struct xport *x)
{
	(void)x;
	errno = EBADF;
	return -1;
}

static void
none_close(struct xport *x)
{
	(void)x;
}

static const struct xport_ops xport_none_ops = {
	.xo_name = "none",
	.xo_read = none_read,
	.xo_write = none_write,
	.xo_shutdown = none_shutdown,
	.xo_close = none_close,
};

void
xport_tcp(struct xport *x, int fd)
{
	x->x_ops = &xport_tcp_ops;
	x->x_fd = fd;
	x->x_can_read = x->x_can_write = false;
	x->x_splice_in = x->x_splice_out = true;
	x->x_state = NULL;
}

void
xport_none(struct xport *x)
{
	x->x_ops = &xport_none_ops;
	x->x_fd = -1;
	x->x_can_read = x->x_can_write = false;
	x->x_splice_in = x->x_splice_out = false;
	x->x_state = NULL;
}

void
xport_close(struct xport *x)
{
	if (x->x_fd == -1)
		return;
	x->x_ops->xo_close(x);
	xport_none(x);
}
