/* SPDX-License-Identifier: MIT */
/* A minimal CONNECT client for ssh's ProxyCommand. Blocking I/O with poll is
 * right here: one connection, one process, no event loop to protect. The
 * proxy URL may carry user:password (the --no-isolate token), sent as Basic
 * credentials and never printed. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b64.h"
#include "tunnel.h"

/* Split "http://[user:pass@]host:port[/]" into parts (in place). */
static int
tunnel_proxy(char *url, char **cred, char **host, char **port)
{
	char *p = url, *at, *colon, *slash;

	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	if ((slash = strchr(p, '/')) != NULL)
		*slash = '\0';
	*cred = NULL;
	if ((at = strrchr(p, '@')) != NULL) {
		*at = '\0';
		*cred = p;
		p = at + 1;
	}
	if ((colon = strrchr(p, ':')) == NULL)
		return -1;
	*colon = '\0';
	*host = p;
	*port = colon + 1;
	if ((*host)[0] == '[') {
		(*host)++;
		(*host)[strlen(*host) - 1] = '\0';
	}
	return 0;
}

static int
tunnel_connect(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
tunnel_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tunnel_main(int argc, char **argv)
{
	char *env, *url, *cred, *phost, *pport, req[2048], b64[700], head[8192];
	struct pollfd pfd[2];
	size_t hlen = 0;
	int fd, n, in_open = 1, out_open = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: sluice tunnel HOST PORT\n");
		return 2;
	}
	if ((env = getenv("https_proxy")) == NULL &&
	    (env = getenv("HTTPS_PROXY")) == NULL &&
	    (env = getenv("http_proxy")) == NULL) {
		fprintf(stderr, "sluice tunnel: no https_proxy in the "
		    "environment\n");
		return 1;
	}
	url = strdup(env);
	if (url == NULL || tunnel_proxy(url, &cred, &phost, &pport) == -1) {
		fprintf(stderr, "sluice tunnel: cannot parse the proxy URL\n");
		free(url);
		return 1;
	}
	if ((fd = tunnel_connect(phost, pport)) == -1) {
		fprintf(stderr, "sluice tunnel: cannot connect to the proxy "
		    "%s:%s\n", phost, pport);
		free(url);
		return 1;
	}
	n = snprintf(req, sizeof(req), "CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s"
	    "\r\n", argv[1], argv[2], argv[1], argv[2]);
	if (cred != NULL && strlen(cred) < 500) {
		b64_encode(cred, strlen(cred), b64);
		n += snprintf(req + n, sizeof(req) - (size_t)n,
		    "Proxy-Authorization: Basic %s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
	}
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	explicit_bzero(url, strlen(env));
	free(url);
	url = NULL;
	if (n >= (int)sizeof(req) || tunnel_write_all(fd, req, (size_t)n) == -1)
		return 1;
	explicit_bzero(req, sizeof(req));
	/* Read the answer's head byte by byte: what follows is the tunnel. */
	while (hlen < sizeof(head) - 1) {
		ssize_t r = read(fd, head + hlen, 1);

		if (r <= 0)
			break;
		hlen++;
		if (hlen >= 4 && memcmp(head + hlen - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[hlen] = '\0';
	if (strncmp(head, "HTTP/1.1 200", 12) != 0 &&
	    strncmp(head, "HTTP/1.0 200", 12) != 0) {
		char *eol = strstr(head, "\r\n");

		if (eol != NULL)
			*eol = '\0';
		fprintf(stderr, "sluice tunnel: the proxy refused %s:%s: %s\n",
		    argv[1], argv[2], hlen ? head : "no answer");
		return 1;
	}
	pfd[0].fd = STDIN_FILENO;
	pfd[1].fd = fd;
	while (in_open || out_open) {
		char buf[16384];
		ssize_t r;

		pfd[0].events = in_open ? POLLIN : 0;
		pfd[1].events = out_open ? POLLIN : 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r <= 0) {
				in_open = 0;
				shutdown(fd, SHUT_WR);
			} else if (tunnel_write_all(fd, buf, (size_t)r) == -1)
				return 1;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				out_open = 0;
				close(STDOUT_FILENO);
			} else if (tunnel_write_all(STDOUT_FILENO, buf,
			    (size_t)r) == -1)
				return 1;
		}
	}
	return 0;
}
