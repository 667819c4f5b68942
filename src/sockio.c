/* SPDX-License-Identifier: MIT */
/* Non-blocking send and receive; see sockio.h. */
#include <errno.h>
#include <sys/socket.h>

#include "sockio.h"

ssize_t
sockio_send(int fd, struct relay_fdstate *st, const void *p, size_t len)
{
	size_t off = 0;

	while (off < len && st->can_write) {
		ssize_t n = send(fd, (const char *)p + off, len - off,
		    MSG_NOSIGNAL);

		if (n >= 0)
			off += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			st->can_write = false;
		else if (errno != EINTR)
			return -1;
	}
	return (ssize_t)off;
}

ssize_t
sockio_recv(int fd, struct relay_fdstate *st, void *p, size_t len)
{
	ssize_t n;

	if (!st->can_read) {
		errno = EAGAIN;
		return -1;
	}
	do
		n = recv(fd, p, len, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		st->can_read = false;
		errno = EAGAIN;
	}
	return n;
}
