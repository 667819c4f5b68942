/* SPDX-License-Identifier: MIT */
/* A minimal CONNECT client for ssh's ProxyCommand. Blocking I/O with poll is
 * right here: one connection, one process, no event loop to protect. The
 * proxy URL is read by the proxyurl module, like every proxy URL in sluice,
 * so whatever `sluice url` prints works here; its credentials are sent as
 * Basic authentication and never printed. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b64.h"
#include "host.h"
#include "proxyurl.h"
#include "tunnel.h"

#define TUNNEL_EXIT_USAGE	2

static const char tunnel_usage[] =
"usage: sluice tunnel HOST PORT\n"
"\n"
"Relay stdin and stdout to HOST:PORT through the proxy in https_proxy,\n"
"HTTPS_PROXY or http_proxy (the first set), with CONNECT; credentials in\n"
"the URL are sent as Basic authentication. For ssh:\n"
"  ssh -o ProxyCommand='sluice tunnel %h %p' HOST\n"
"\n"
"exit status: 0 when the tunnel ends, 1 when the proxy cannot be used,\n"
"2 usage error\n";

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

/* The CONNECT request for `target`, with the proxy's credentials if any.
 * Returns its length, or -1 if it does not fit. */
static int
tunnel_request(const struct proxyurl *u, const char *target, char *req,
    size_t len)
{
	char *cred, *b64;
	size_t clen;
	int n;

	n = snprintf(req, len, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target,
	    target);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (u->pu_user != NULL) {
		clen = strlen(u->pu_user) + strlen(u->pu_pass) + 1;
		if ((cred = malloc(clen + 1)) == NULL ||
		    (b64 = malloc(4 * (clen / 3 + 1) + 1)) == NULL) {
			free(cred);
			return -1;
		}
		snprintf(cred, clen + 1, "%s:%s", u->pu_user, u->pu_pass);
		b64_encode(cred, clen, b64);
		n += snprintf(req + n, len - (size_t)n,
		    "Proxy-Authorization: Basic %s\r\n", b64);
		explicit_bzero(cred, clen);
		explicit_bzero(b64, strlen(b64));
		free(cred);
		free(b64);
		if ((size_t)n >= len)
			return -1;
	}
	n += snprintf(req + n, len - (size_t)n, "\r\n");
	return (size_t)n >= len ? -1 : n;
}

/* The destination as the proxy will read it, "host:port" with IPv6 in
 * brackets, canonical, into `target`. Returns 0, or -1 having said why. */
static int
tunnel_target(const char *host, const char *port, char *target, size_t len)
{
	char err[300];
	struct host h;

	snprintf(target, len, "%s%s%s:%s",
	    strchr(host, ':') && host[0] != '[' ? "[" : "", host,
	    strchr(host, ':') && host[0] != '[' ? "]" : "", port);
	if (host_parse_authority(target, strlen(target), &h, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sluice tunnel: %s\n\n%s", err, tunnel_usage);
		return -1;
	}
	host_format(&h, target, len);
	return 0;
}

/* Connect to the proxy named by the environment and send it the CONNECT
 * request for `target`. The request holds the credentials: it is wiped
 * whatever happens. Returns the connection, or -1 having said why. */
static int
tunnel_open(const char *target)
{
	char *env, req[16384], err[300], port[8];
	struct proxyurl u;
	int fd, n;

	if ((env = getenv("https_proxy")) == NULL &&
	    (env = getenv("HTTPS_PROXY")) == NULL &&
	    (env = getenv("http_proxy")) == NULL) {
		fprintf(stderr, "sluice tunnel: no https_proxy, HTTPS_PROXY or "
		    "http_proxy in the environment\n");
		return -1;
	}
	if (proxyurl_parse(env, &u, err, sizeof(err)) == -1) {
		fprintf(stderr, "sluice tunnel: the proxy URL: %s\n", err);
		return -1;
	}
	/* Never the credentials in clear to a proxy that expects TLS. */
	if (u.pu_tls) {
		fprintf(stderr, "sluice tunnel: https:// proxies are not "
		    "supported by 'sluice tunnel' yet; use its http:// address "
		    "on a private network, or 'sluice run --upstream'\n");
		proxyurl_free(&u);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)u.pu_port);
	if ((fd = tunnel_connect(u.pu_host, port)) == -1) {
		fprintf(stderr, "sluice tunnel: cannot connect to the proxy "
		    "%s:%s\n", u.pu_host, port);
		proxyurl_free(&u);
		return -1;
	}
	n = tunnel_request(&u, target, req, sizeof(req));
	proxyurl_free(&u);
	if (n == -1 || tunnel_write_all(fd, req, (size_t)n) == -1) {
		explicit_bzero(req, sizeof(req));
		fprintf(stderr, "sluice tunnel: cannot send the request to the "
		    "proxy\n");
		return -1;
	}
	explicit_bzero(req, sizeof(req));
	return fd;
}

/* Read the proxy's answer head byte by byte, since what follows it is
 * already the tunnel. Returns 0 for a 200, or -1 having said why not. */
static int
tunnel_answer(int fd, const char *target)
{
	char head[8192];
	size_t hlen = 0;

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
		fprintf(stderr, "sluice tunnel: the proxy refused %s: %s\n",
		    target, hlen ? head : "no answer");
		return -1;
	}
	return 0;
}

/* Relay stdin to the tunnel and the tunnel to stdout until both
 * directions have ended, passing each end on as it comes. Returns the exit
 * status. */
static int
tunnel_relay(int fd)
{
	struct pollfd pfd[2];
	int in_open = 1, out_open = 1;

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

int
tunnel_main(int argc, char **argv)
{
	char target[300];
	int fd;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(tunnel_usage, stdout);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "sluice tunnel: expected HOST and PORT\n\n%s",
		    tunnel_usage);
		return TUNNEL_EXIT_USAGE;
	}
	if (tunnel_target(argv[1], argv[2], target, sizeof(target)) == -1)
		return TUNNEL_EXIT_USAGE;
	if ((fd = tunnel_open(target)) == -1 || tunnel_answer(fd, target) == -1)
		return 1;
	return tunnel_relay(fd);
}
