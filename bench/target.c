/* SPDX-License-Identifier: MIT */
/* The benchmark's origin on loopback: one port, one epoll thread, three
 * behaviours chosen by the first byte a connection sends, so the proxies need
 * exactly one allowed port. 'G' or 'H' starts HTTP/1.1 keep-alive (every
 * request head gets a small fixed 200), 'S' starts a bulk source (the target
 * writes as fast as the peer reads until it goes away), anything else is an
 * echo. It prints "target: listening on 127.0.0.1:PORT" once bound.
 *
 * It is deliberately minimal (no request bodies, no chunking) and cheap per
 * connection: an idle connection costs a 40-byte record and no buffer, so the
 * idle test's ten thousand tunnels do not load the machine on this side. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define TARGET_SOURCE_CHUNK	(256 * 1024)
#define TARGET_ECHO_BUF		(16 * 1024)
#define TARGET_HEAD_MAX		(8 * 1024)
#define TARGET_EVENTS		256

enum target_mode {
	TARGET_NEW = 0,		/* nothing read yet */
	TARGET_ECHO,
	TARGET_SOURCE,
	TARGET_HTTP,
};

/* One accepted connection. t_buf holds unwritten echo bytes or a partial
 * HTTP head; it exists only while there is something in it. */
struct target_conn {
	int		 t_fd;
	enum target_mode t_mode;
	char		*t_buf;
	size_t		 t_len;		/* bytes in t_buf */
	size_t		 t_off;		/* echo: bytes already written */
	size_t		 t_owed;	/* HTTP: responses not yet written */
	size_t		 t_resp_off;	/* HTTP: of the first, written */
	bool		 t_close;	/* HTTP: close once all owed */
	bool		 t_wantout;	/* registered for EPOLLOUT */
};

#define TARGET_BODY \
	"sluice bench target: a 64-byte body, the same for every request\n"
_Static_assert(sizeof(TARGET_BODY) - 1 == 64, "Content-Length says 64");

static const char target_response[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 64\r\n"
    "\r\n" TARGET_BODY;

static int target_epfd = -1;
static char target_io[TARGET_SOURCE_CHUNK];

static void
target_conn_close(struct target_conn *c)
{
	close(c->t_fd);
	c->t_fd = -1;
	free(c->t_buf);
	c->t_buf = NULL;
	free(c);
}

static int
target_interest(struct target_conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

	if (out == c->t_wantout)
		return 0;
	if (out)
		ev.events = EPOLLOUT; /* back-pressure: stop reading */
	c->t_wantout = out;
	return epoll_ctl(target_epfd, EPOLL_CTL_MOD, c->t_fd, &ev);
}

/* Write what echo owes. Returns 0 (all written or EAGAIN) or -1 to close. */
static int
target_echo_flush(struct target_conn *c)
{
	while (c->t_off < c->t_len) {
		ssize_t n = send(c->t_fd, c->t_buf + c->t_off,
		    c->t_len - c->t_off, MSG_NOSIGNAL);

		if (n == -1 && errno == EAGAIN)
			return target_interest(c, true);
		if (n <= 0)
			return -1;
		c->t_off += (size_t)n;
	}
	c->t_off = c->t_len = 0;
	return target_interest(c, false);
}

static int
target_echo(struct target_conn *c, const char *data, size_t len)
{
	if (c->t_buf == NULL && (c->t_buf = malloc(TARGET_ECHO_BUF)) == NULL)
		return -1;
	memcpy(c->t_buf, data, len);
	c->t_len = len;
	c->t_off = 0;
	return target_echo_flush(c);
}

/* Write the owed HTTP responses. Returns 0 or -1 to close. */
static int
target_http_flush(struct target_conn *c)
{
	const size_t rlen = sizeof(target_response) - 1;

	while (c->t_owed > 0) {
		char out[16 * (sizeof(target_response) - 1)];
		size_t n = 0, k;
		ssize_t w;

		/* Coalesce pipelined answers into one write. */
		memcpy(
		    out, target_response + c->t_resp_off, rlen - c->t_resp_off);
		n = rlen - c->t_resp_off;
		for (k = 1; k < c->t_owed && k < 16; k++) {
			memcpy(out + n, target_response, rlen);
			n += rlen;
		}
		w = send(c->t_fd, out, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EAGAIN)
			return target_interest(c, true);
		if (w <= 0)
			return -1;
		w += (ssize_t)c->t_resp_off;
		c->t_owed -= (size_t)w / rlen;
		c->t_resp_off = (size_t)w % rlen;
	}
	if (c->t_close)
		return -1;
	return target_interest(c, false);
}

/* Count the complete heads in what arrived; keep a partial one. */
static int
target_http(struct target_conn *c, const char *data, size_t len)
{
	char *p, *end;

	if (c->t_buf == NULL && (c->t_buf = malloc(TARGET_HEAD_MAX)) == NULL)
		return -1;
	if (c->t_len + len > TARGET_HEAD_MAX)
		return -1;
	memcpy(c->t_buf + c->t_len, data, len);
	c->t_len += len;
	p = c->t_buf;
	end = c->t_buf + c->t_len;
	for (;;) {
		char *eoh = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);

		if (eoh == NULL)
			break;
		if (memmem(p, (size_t)(eoh - p), "\r\nConnection: close", 19))
			c->t_close = true;
		c->t_owed++;
		p = eoh + 4;
	}
	c->t_len = (size_t)(end - p);
	memmove(c->t_buf, p, c->t_len);
	return target_http_flush(c);
}

/* Keep the pipe full. Returns 0 or -1 to close. */
static int
target_source(struct target_conn *c)
{
	for (;;) {
		ssize_t n =
		    send(c->t_fd, target_io, sizeof(target_io), MSG_NOSIGNAL);

		if (n == -1 && errno == EAGAIN)
			return target_interest(c, true);
		if (n <= 0)
			return -1;
	}
}

static int
target_readable(struct target_conn *c)
{
	char buf[TARGET_ECHO_BUF];
	ssize_t n;

	for (;;) {
		n = recv(c->t_fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		if (c->t_mode == TARGET_NEW) {
			if (buf[0] == 'G' || buf[0] == 'H')
				c->t_mode = TARGET_HTTP;
			else if (buf[0] == 'S')
				c->t_mode = TARGET_SOURCE;
			else
				c->t_mode = TARGET_ECHO;
		}
		switch (c->t_mode) {
		case TARGET_ECHO:
			if (target_echo(c, buf, (size_t)n) == -1)
				return -1;
			if (c->t_wantout)
				return 0;
			break;
		case TARGET_HTTP:
			if (target_http(c, buf, (size_t)n) == -1)
				return -1;
			if (c->t_wantout)
				return 0;
			break;
		case TARGET_SOURCE:
			/* Whatever the peer sends now is ignored. */
			return target_source(c);
		case TARGET_NEW:
			break;
		}
	}
}

static int
target_writable(struct target_conn *c)
{
	switch (c->t_mode) {
	case TARGET_ECHO:
		if (target_echo_flush(c) == -1)
			return -1;
		return c->t_wantout ? 0 : target_readable(c);
	case TARGET_HTTP:
		if (target_http_flush(c) == -1)
			return -1;
		return c->t_wantout ? 0 : target_readable(c);
	case TARGET_SOURCE:
		return target_source(c);
	case TARGET_NEW:
		break;
	}
	return 0;
}

static void
target_accept(int lfd)
{
	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
		struct target_conn *c;
		int fd, one = 1;

		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				perror("target: accept4");
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->t_fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(target_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			perror("target: epoll_ctl");
			target_conn_close(c);
		}
	}
}

static void
target_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct epoll_event events[TARGET_EVENTS];
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	socklen_t slen = sizeof(sin);
	int lfd, one = 1, port = 0;

	if (argc > 2 || (argc == 2 && (port = atoi(argv[1])) < 0)) {
		fprintf(stderr, "usage: target [PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	target_raise_nofile();
	memset(target_io, 'x', sizeof(target_io));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	        -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, SOMAXCONN) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("target: listen");
		return 1;
	}
	if ((target_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    epoll_ctl(target_epfd, EPOLL_CTL_ADD, lfd, &lev) == -1) {
		perror("target: epoll");
		return 1;
	}
	printf("target: listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	for (;;) {
		int i, n = epoll_wait(target_epfd, events, TARGET_EVENTS, -1);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			perror("target: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct target_conn *c = events[i].data.ptr;
			int rc;

			if (c == NULL) {
				target_accept(lfd);
				continue;
			}
			if (events[i].events & EPOLLOUT)
				rc = target_writable(c);
			else
				rc = target_readable(c);
			if (rc == -1)
				target_conn_close(c);
		}
	}
}
