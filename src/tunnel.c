/* SPDX-License-Identifier: MIT */
/*
 * A minimal CONNECT client for ssh's ProxyCommand. The proxy URL is read by
 * the proxyurl module, like every proxy URL in sluice, so whatever `sluice
 * url` prints works here; its credentials are sent as Basic authentication,
 * to an https:// proxy only once tls.c has verified its certificate, and are
 * never printed.
 *
 * One connection, one process: poll and no event loop. The proxy side is a
 * transport (xport.h: TCP, or TLS over it) on a non-blocking socket, so
 * neither direction ever waits for the other: a peer that answers while it
 * reads (the echo origin; an ssh server's window updates) cannot leave both
 * socket buffers full with each side blocked writing. stdin and stdout keep
 * their blocking mode, which they share with ssh or a terminal: stdin is
 * read once per POLLIN and stdout written at most PIPE_BUF bytes per
 * POLLOUT, which a pipe takes without blocking. Ends pass on as they come:
 * stdin's EOF becomes the proxy connection's half-close (close_notify and
 * FIN under TLS), the proxy's EOF closes stdout, and the tunnel is over when
 * both have happened, or when whoever reads stdout is gone and stdin ended.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host.h"
#include "proxyclient.h"
#include "proxyurl.h"
#include "tls.h"
#include "tunnel.h"
#include "xport.h"

#define TUNNEL_EXIT_USAGE	2
#define TUNNEL_BUF		16384

static const char tunnel_usage[] =
"usage: sluice tunnel [--proxy-ca FILE] HOST PORT\n"
"\n"
"Relay stdin and stdout to HOST:PORT through the proxy in https_proxy,\n"
"HTTPS_PROXY or http_proxy (the first set), with CONNECT; credentials in\n"
"the URL are sent as Basic authentication. An https:// proxy is spoken to\n"
"over TLS, and the credentials are sent only once its certificate has been\n"
"verified for the URL's host. For ssh:\n"
"  ssh -o ProxyCommand='sluice tunnel %h %p' HOST\n"
"\n"
"      --proxy-ca FILE  an https:// proxy's certificate is checked against\n"
"                       this PEM bundle instead of the system's store\n"
"  -h, --help           this help\n"
"\n"
"exit status: 0 when the tunnel ends, 1 when the proxy cannot be used,\n"
"2 usage error\n";

struct tunnel {
	struct proxyclient t_pc;	/* to the proxy: TCP or TLS */
	struct tls_client *t_tls;	/* https:// proxy only */
	char		 t_up[TUNNEL_BUF];	/* stdin to the proxy */
	size_t		 t_upoff, t_uplen;
	char		 t_down[TUNNEL_BUF];	/* the proxy to stdout */
	size_t		 t_downoff, t_downlen;
	bool		 t_in_can;	/* poll: stdin has data or its end */
	bool		 t_out_can;	/* poll: stdout takes a write */
	bool		 t_in_eof;	/* stdin ended (or nobody wants it) */
	bool		 t_up_done;	/* ... and the proxy was told */
	bool		 t_px_eof;	/* nothing more is read from the proxy:
					 * it ended, or stdout is gone */
	bool		 t_down_done;	/* ... and stdout is closed */
};

static int
tunnel_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "sluice tunnel: %s%s%s\n\n%s", what, arg ? " " : "",
	    arg ? arg : "", tunnel_usage);
	return TUNNEL_EXIT_USAGE;
}

static const struct option tunnel_longopts[] = {
	{ "proxy-ca", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Options, then HOST and PORT left at argv[optind]. Returns -1 to go on,
 * or the exit status (help printed, or a usage error). */
static int
tunnel_parse(int argc, char **argv, const char **ca_file)
{
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", tunnel_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'C':
			*ca_file = optarg;
			break;
		case 'h':
			fputs(tunnel_usage, stdout);
			return 0;
		case ':':
			return tunnel_usage_error("option needs a value:",
			    argv[optind - 1]);
		default:
			return tunnel_usage_error("unknown option:",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return tunnel_usage_error("expected HOST and PORT", NULL);
	return -1;
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

/* The proxy URL from the environment, and its variable's name in `var`.
 * Returns 0, or -1 having said why. */
static int
tunnel_url(struct proxyurl *u, const char **var)
{
	static const char *const names[] = { "https_proxy", "HTTPS_PROXY",
	    "http_proxy" };
	const char *env = NULL;
	char err[300];
	size_t i;

	for (i = 0; i < 3 && env == NULL; i++)
		if ((env = getenv(names[i])) != NULL)
			*var = names[i];
	if (env == NULL) {
		fprintf(stderr, "sluice tunnel: no https_proxy, HTTPS_PROXY or "
		    "http_proxy in the environment\n");
		return -1;
	}
	if (proxyurl_parse(env, u, err, sizeof(err)) == -1) {
		fprintf(stderr, "sluice tunnel: the proxy URL in %s: %s\n",
		    *var, err);
		return -1;
	}
	return 0;
}

/* TLS with the proxy `host` on the connected transport: nothing is sent
 * before its certificate has been verified. Returns 0, or -1 having said
 * why (in one line: the check that failed). */
static int
tunnel_tls(struct tunnel *t, const char *host)
{
	char why[200];

	if (proxyclient_tls(&t->t_pc, t->t_tls, host, why, sizeof(why)) == 0)
		return 0;
	if (errno == ENOMEM)
		fprintf(stderr, "sluice tunnel: out of memory\n");
	else
		fprintf(stderr, "sluice tunnel: TLS to the proxy %s failed: "
		    "%s\n", t->t_pc.pc_name, why);
	return -1;
}

/* Connect to the proxy `u` (TLS for https://, `ca_file` only then).
 * Returns 0, or -1 having said why. */
static int
tunnel_reach(struct tunnel *t, const struct proxyurl *u, const char *var,
    const char *ca_file)
{
	struct addrinfo *res;
	char err[300];
	int gai;

	if (ca_file != NULL && !u->pu_tls) {
		fprintf(stderr, "sluice tunnel: --proxy-ca is for an https:// "
		    "proxy, and %s names an http:// one\n", var);
		return -1;
	}
	if (u->pu_tls && (t->t_tls = tls_client_new(ca_file, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "sluice tunnel: %s%s\n", ca_file ?
		    "--proxy-ca " : "", err);
		return -1;
	}
	proxyclient_init(&t->t_pc, u, -1);
	if (proxyclient_resolve(u->pu_host, u->pu_port, &res, &gai) == -1) {
		fprintf(stderr, "sluice tunnel: cannot connect to the proxy "
		    "%s: %s\n", t->t_pc.pc_name, gai_strerror(gai));
		return -1;
	}
	gai = proxyclient_connect(&t->t_pc, res);
	freeaddrinfo(res);
	if (gai == -1) {
		fprintf(stderr, "sluice tunnel: cannot connect to the proxy "
		    "%s: %s\n", t->t_pc.pc_name, strerror(errno));
		return -1;
	}
	return u->pu_tls ? tunnel_tls(t, u->pu_host) : 0;
}

/* Connect to the proxy named by the environment and send it the CONNECT
 * request for `target`. The request holds the credentials: it is wiped
 * whatever happens. Returns 0, or -1 having said why. */
static int
tunnel_open(struct tunnel *t, const char *target, const char *ca_file)
{
	char req[16384];
	struct proxyurl u;
	const char *var = NULL;
	int n;

	if (tunnel_url(&u, &var) == -1)
		return -1;
	if (tunnel_reach(t, &u, var, ca_file) == -1) {
		proxyurl_free(&u);
		return -1;
	}
	n = proxyclient_request(&u, "CONNECT", target, target, "", req,
	    sizeof(req));
	proxyurl_free(&u);
	if (n == -1 || proxyclient_send(&t->t_pc.pc_x, req, (size_t)n, -1) ==
	    -1) {
		explicit_bzero(req, sizeof(req));
		fprintf(stderr, "sluice tunnel: cannot send the request to the "
		    "proxy %s\n", t->t_pc.pc_name);
		return -1;
	}
	explicit_bzero(req, sizeof(req));
	return 0;
}

/* Read the proxy's answer head into t_down; the bytes after it are the
 * tunnel's first and stay there for stdout. Returns 0 for a 2xx, or -1
 * having said why not, quoting the status line made inert (a hostile
 * proxy must not drive the terminal). */
static int
tunnel_answer(struct tunnel *t, const char *target)
{
	char line[160];
	size_t end;

	if (proxyclient_head(&t->t_pc.pc_x, t->t_down, sizeof(t->t_down),
	    &t->t_downlen, &end, -1) == -1) {
		fprintf(stderr, "sluice tunnel: the connection to the proxy %s "
		    "failed: %s\n", t->t_pc.pc_name, strerror(errno));
		return -1;
	}
	if (end == 0 || !proxyclient_opened(t->t_down)) {
		proxyclient_status_line(t->t_down, t->t_downlen, line,
		    sizeof(line));
		fprintf(stderr, "sluice tunnel: the proxy refused %s: %s\n",
		    target, line[0] ? line : "no answer");
		return -1;
	}
	t->t_downoff = end;
	if (t->t_downoff == t->t_downlen)
		t->t_downoff = t->t_downlen = 0;
	return 0;
}

/* The proxy connection broke while relaying. Once nothing more is read
 * from it, a write that fails means it has gone for good, which ends the
 * stdin direction quietly; otherwise it is an error. Returns 1 or -1. */
static int
tunnel_broken(struct tunnel *t, const char *doing)
{
	if (t->t_px_eof && (errno == EPIPE || errno == ECONNRESET)) {
		t->t_in_eof = t->t_up_done = true;
		t->t_upoff = t->t_uplen = 0;
		return 1;
	}
	fprintf(stderr, "sluice tunnel: %s the proxy %s failed: %s\n", doing,
	    t->t_pc.pc_name, strerror(errno));
	return -1;
}

/* Move what can move from stdin to the proxy without blocking. Returns 1
 * when something happened, 0 when it must wait, -1 on an error (said). */
static int
tunnel_up(struct tunnel *t)
{
	ssize_t n;

	if (t->t_upoff < t->t_uplen) {
		if ((n = xport_write(&t->t_pc.pc_x, t->t_up + t->t_upoff,
		    t->t_uplen - t->t_upoff)) == -1)
			return tunnel_broken(t, "writing to");
		t->t_upoff += (size_t)n;
		if (t->t_upoff == t->t_uplen)
			t->t_upoff = t->t_uplen = 0;
		return n > 0;
	}
	if (t->t_in_eof) {
		/* Only with room to write: close_notify must go out whole. */
		if (t->t_up_done || !t->t_pc.pc_x.x_can_write)
			return 0;
		if (xport_shutdown(&t->t_pc.pc_x) == -1)
			return tunnel_broken(t, "closing the tunnel to");
		t->t_up_done = true;
		return 1;
	}
	if (!t->t_in_can)
		return 0;
	t->t_in_can = false;
	if ((n = read(STDIN_FILENO, t->t_up, sizeof(t->t_up))) == -1 &&
	    (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		t->t_in_eof = true;
	else
		t->t_uplen = (size_t)n;
	return 1;
}

/* stdout is done with: closed (and shut down, should it be a socket that
 * stdin shares), so that the reader sees the end. */
static void
tunnel_close_stdout(struct tunnel *t)
{
	t->t_px_eof = t->t_down_done = true;
	t->t_downoff = t->t_downlen = 0;
	(void)shutdown(STDOUT_FILENO, SHUT_WR);
	close(STDOUT_FILENO);
}

/* Move what can move from the proxy to stdout without blocking. Returns 1
 * when something happened, 0 when it must wait, -1 on an error (said). A
 * reader of stdout that has gone ends this direction. */
static int
tunnel_down(struct tunnel *t)
{
	size_t len = t->t_downlen - t->t_downoff;
	ssize_t n;

	if (len > 0) {
		if (!t->t_out_can)
			return 0;
		t->t_out_can = false;
		n = write(STDOUT_FILENO, t->t_down + t->t_downoff,
		    len < PIPE_BUF ? len : PIPE_BUF);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			return 0;
		if (n == -1)
			tunnel_close_stdout(t);
		else if ((t->t_downoff += (size_t)n) == t->t_downlen)
			t->t_downoff = t->t_downlen = 0;
		return 1;
	}
	if (t->t_px_eof) {
		if (t->t_down_done)
			return 0;
		tunnel_close_stdout(t);
		return 1;
	}
	if ((n = xport_read(&t->t_pc.pc_x, t->t_down, sizeof(t->t_down))) == -1)
		return errno == EAGAIN ? 0 : tunnel_broken(t, "reading from");
	if (n == 0)
		t->t_px_eof = true;
	t->t_downoff = 0;
	t->t_downlen = (size_t)n;
	return 1;
}

/* Wait for what the directions that are not done wait for. Returns 0, or
 * -1 with errno. */
static int
tunnel_poll(struct tunnel *t)
{
	struct xport *x = &t->t_pc.pc_x;
	bool px_used = !t->t_up_done || !t->t_px_eof;
	struct pollfd p[3] = {
		{ .fd = !t->t_in_eof && t->t_uplen == 0 && !t->t_in_can ?
		    STDIN_FILENO : -1, .events = POLLIN },
		/* Watched even with nothing to write: its reader leaving
		 * (POLLERR) ends the tunnel once stdin has ended too. */
		{ .fd = t->t_down_done ? -1 : STDOUT_FILENO,
		    .events = t->t_downlen > 0 && !t->t_out_can ? POLLOUT : 0 },
		/* POLLIN only with room for what comes: a relay waiting
		 * for stdout must not wake for every byte the proxy has.
		 * (A write never waits for reading: no renegotiation.) */
		{ .fd = x->x_fd, .events = (!x->x_can_read && !t->t_px_eof &&
		    t->t_downlen == 0 ? POLLIN : 0) |
		    (!x->x_can_write && px_used ? POLLOUT : 0) },
	};

	if (p[2].events == 0)
		p[2].fd = -1;	/* nor for an error it will see in time */
	while (poll(p, 3, -1) == -1)
		if (errno != EINTR)
			return -1;
	if (p[0].revents != 0)
		t->t_in_can = true;
	if (p[1].revents & POLLOUT)
		t->t_out_can = true;
	else if (p[1].revents != 0 && t->t_downlen == 0)
		tunnel_close_stdout(t);
	else if (p[1].revents != 0)
		t->t_out_can = true;	/* the write says what is wrong */
	if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
		x->x_can_read = true;
	if (p[2].revents & (POLLOUT | POLLHUP | POLLERR))
		x->x_can_write = true;
	return 0;
}

/* Relay until both directions have ended. Returns the exit status. */
static int
tunnel_relay(struct tunnel *t)
{
	int up, down;

	for (;;) {
		do {
			if ((up = tunnel_up(t)) == -1 ||
			    (down = tunnel_down(t)) == -1)
				return 1;
		} while (up > 0 || down > 0);
		if (t->t_up_done && t->t_down_done)
			return 0;
		if (tunnel_poll(t) == -1)
			return 1;
	}
}

int
tunnel_main(int argc, char **argv)
{
	const char *ca_file = NULL;
	struct tunnel *t;
	char target[300];
	int r;

	if ((r = tunnel_parse(argc, argv, &ca_file)) != -1)
		return r;
	if (tunnel_target(argv[optind], argv[optind + 1], target,
	    sizeof(target)) == -1)
		return TUNNEL_EXIT_USAGE;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fprintf(stderr, "sluice tunnel: out of memory\n");
		return 1;
	}
	xport_none(&t->t_pc.pc_x);
	if (tunnel_open(t, target, ca_file) == -1 ||
	    tunnel_answer(t, target) == -1)
		r = 1;
	else
		r = tunnel_relay(t);
	xport_close(&t->t_pc.pc_x);
	tls_client_free(t->t_tls);
	free(t);
	return r;
}
