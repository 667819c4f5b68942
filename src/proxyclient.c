/* SPDX-License-Identifier: MIT */
/*
 * The client side of an HTTP proxy; see proxyclient.h. `sluice tunnel` and
 * `sluice probe` speak to the proxy through these functions and no other
 * copy, so what probe reports about a hop is what tunnel does on it.
 *
 * The socket is non-blocking from the start and every wait is a poll(2)
 * with the caller's limit, so that a proxy that never answers (a firewall
 * that drops SYNs, a listener that never reads) costs at most that limit,
 * and an expired limit is told apart from a refusal (ETIMEDOUT).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b64.h"
#include "proxyclient.h"
#include "proxyurl.h"
#include "tls.h"

void
proxyclient_init(struct proxyclient *pc, const struct proxyurl *u,
    int timeout_ms)
{
	memset(pc, 0, sizeof(*pc));
	xport_none(&pc->pc_x);
	pc->pc_timeout = timeout_ms;
	snprintf(pc->pc_name, sizeof(pc->pc_name), strchr(u->pu_host, ':') ?
	    "[%s]:%u" : "%s:%u", u->pu_host, (unsigned)u->pu_port);
}

int
proxyclient_resolve(const char *host, uint16_t port, struct addrinfo **res,
    int *gai)
{
	struct addrinfo hints;
	char serv[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%u", (unsigned)port);
	if ((*gai = getaddrinfo(host, serv, &hints, res)) != 0)
		return -1;
	return 0;
}

void
proxyclient_addr_text(const void *sa, unsigned salen, char *buf, size_t len)
{
	const struct sockaddr *s = sa;
	char ip[INET6_ADDRSTRLEN], serv[8];

	if (getnameinfo(s, salen, ip, sizeof(ip), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, s->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip,
	    serv);
}

/* poll(2) `fd` for `events` within `timeout_ms` (-1: no limit), again after
 * a signal. Returns the revents, or -1 with errno (ETIMEDOUT). */
static int
proxyclient_poll(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	while ((r = poll(&p, 1, timeout_ms)) == -1)
		if (errno != EINTR)
			return -1;
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return p.revents;
}

/* One non-blocking connect to `ai` within `timeout_ms`. Returns the
 * socket, or -1 with errno. */
static int
proxyclient_dial(const struct addrinfo *ai, int timeout_ms)
{
	socklen_t elen = sizeof(int);
	int fd, e = 0;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	if (proxyclient_poll(fd, POLLOUT, timeout_ms) == -1)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		goto fail;
	if (e == 0)
		return fd;
	errno = e;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
proxyclient_connect(struct proxyclient *pc, const struct addrinfo *res)
{
	const struct addrinfo *ai;
	int fd;

	errno = EADDRNOTAVAIL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		proxyclient_addr_text(ai->ai_addr, ai->ai_addrlen, pc->pc_addr,
		    sizeof(pc->pc_addr));
		if ((fd = proxyclient_dial(ai, pc->pc_timeout)) == -1)
			continue;
		xport_tcp(&pc->pc_x, fd);
		pc->pc_x.x_can_read = pc->pc_x.x_can_write = true;
		return 0;
	}
	return -1;
}

int
proxyclient_wait(struct xport *x, int timeout_ms)
{
	short events = 0;
	int r;

	if (!x->x_can_read)
		events |= POLLIN;
	if (!x->x_can_write)
		events |= POLLOUT;
	if ((r = proxyclient_poll(x->x_fd, events, timeout_ms)) == -1)
		return -1;
	if (r & (POLLIN | POLLHUP | POLLERR))
		x->x_can_read = true;
	if (r & (POLLOUT | POLLHUP | POLLERR))
		x->x_can_write = true;
	return 0;
}

int
proxyclient_handshake(struct xport *x, int timeout_ms, char *why,
    size_t whylen)
{
	why[0] = '\0';
	for (;;) {
		switch (tls_handshake(x, why, whylen)) {
		case TLS_DONE:
			return 0;
		case TLS_AGAIN:
			if (proxyclient_wait(x, timeout_ms) == 0)
				continue;
			snprintf(why, whylen, "%s", strerror(errno));
			break;
		default:
			break;
		}
		if (why[0] == '\0')
			snprintf(why, whylen, "the connection was closed");
		return -1;
	}
}

int
proxyclient_tls(struct proxyclient *pc, struct tls_client *tc,
    const char *host, char *why, size_t whylen)
{
	why[0] = '\0';
	if (tls_connect(&pc->pc_x, tc, host) == -1) {
		errno = ENOMEM;
		return -1;
	}
	if (proxyclient_handshake(&pc->pc_x, pc->pc_timeout, why, whylen) ==
	    -1) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int
proxyclient_send(struct xport *x, const void *p, size_t len, int timeout_ms)
{
	const char *q = p;

	while (len > 0) {
		ssize_t n = xport_write(x, q, len);

		if (n == -1 || (n == 0 && proxyclient_wait(x, timeout_ms) ==
		    -1))
			return -1;
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Append "Proxy-Authorization: Basic ..." for `u`'s user and password at
 * `req` + *n. Returns 0, or -1 if it does not fit or memory ran out. */
static int
proxyclient_auth(const struct proxyurl *u, char *req, size_t len, int *n)
{
	char *cred = NULL, *b64 = NULL;
	size_t clen = strlen(u->pu_user) + strlen(u->pu_pass) + 1;
	int r = -1;

	if ((cred = malloc(clen + 1)) == NULL ||
	    (b64 = malloc(B64_ENCODED_LEN(clen))) == NULL)
		goto fail;
	snprintf(cred, clen + 1, "%s:%s", u->pu_user, u->pu_pass);
	b64_encode(cred, clen, b64);
	*n += snprintf(req + *n, len - (size_t)*n,
	    "Proxy-Authorization: Basic %s\r\n", b64);
	r = (size_t)*n >= len ? -1 : 0;
	explicit_bzero(cred, clen);
	explicit_bzero(b64, strlen(b64));
fail:
	free(b64);
	free(cred);
	return r;
}

int
proxyclient_request(const struct proxyurl *u, const char *method,
    const char *target, const char *host, const char *extra, char *req,
    size_t len)
{
	int n;

	n = snprintf(req, len, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", method,
	    target, host, extra);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (u->pu_user != NULL && proxyclient_auth(u, req, len, &n) == -1)
		return -1;
	n += snprintf(req + n, len - (size_t)n, "\r\n");
	return (size_t)n >= len ? -1 : n;
}

int
proxyclient_head(struct xport *x, char *buf, size_t len, size_t *got,
    size_t *headlen, int timeout_ms)
{
	char *end = NULL;
	ssize_t n = 1;

	*headlen = 0;
	while (end == NULL && n != 0 && *got < len) {
		n = xport_read(x, buf + *got, len - *got);
		if (n > 0) {
			*got += (size_t)n;
			end = memmem(buf, *got, "\r\n\r\n", 4);
		} else if (n == -1 && (errno != EAGAIN ||
		    proxyclient_wait(x, timeout_ms) == -1))
			return -1;
	}
	if (end != NULL)
		*headlen = (size_t)(end + 4 - buf);
	return 0;
}

bool
proxyclient_opened(const char *head)
{
	return (strncmp(head, "HTTP/1.1 2", 10) == 0 ||
	    strncmp(head, "HTTP/1.0 2", 10) == 0) &&
	    head[10] >= '0' && head[10] <= '9' && head[11] >= '0' &&
	    head[11] <= '9' && (head[12] == ' ' || head[12] == '\r');
}

void
proxyclient_status_line(const char *head, size_t len, char *line,
    size_t linelen)
{
	size_t i;

	for (i = 0; i < len && i < linelen - 1 && head[i] != '\r' &&
	    head[i] != '\n'; i++)
		line[i] = (unsigned char)head[i] < 0x20 || head[i] == 0x7f ?
		    '?' : head[i];
	line[i] = '\0';
}
