/* SPDX-License-Identifier: MIT */
/* The benchmark's load generator: one epoll thread driving many clients
 * through an HTTP proxy's CONNECT (or, without -P, straight to the target,
 * which is the limit every proxy is measured against). Three workloads:
 *
 *   rate  N clients each loop: connect, CONNECT with Proxy-Authorization,
 *         one echo round trip of -s bytes, close. Completions per second
 *         and p50/p99/max of the whole cycle over -d seconds after -w.
 *   bulk  N tunnels each ask the target for a stream ('S') and read it;
 *         MB/s (10^6 bytes) received over -d seconds after -w.
 *   idle  open N tunnels (at most -k handshakes in flight) and hold them;
 *         sample VmRSS of process -p before and after, then one echo
 *         through every tunnel to prove each still works. With -C SEC
 *         (the burst test), wait SEC rather than 1 s once every tunnel is
 *         open, and once the echo pass has closed them all, wait SEC more
 *         and sample VmRSS again: what the process gives back.
 *
 * With -p, rate and bulk also report the CPU seconds that process used in
 * the measured window (cpu_s), -1 when there is none to read; with -q, the
 * same for a second process (cpu2_s: the target, behind a proxy). Rate and
 * bulk always report the load generator's own CPU seconds over the same
 * window as well (cpu_self_s), read the same way (/proc/self/stat): in
 * direct mode that is the dialing side of each cycle, whose connect() and
 * close() carry, on loopback, the TCP handshake and FIN exchange that the
 * accepting side never pays for.
 *
 * With -H NAME (rate only) the bytes each client sends into its tunnel are
 * a real TLS ClientHello naming NAME instead of the -s echo payload: the
 * one OpenSSL writes for a client with that server_name, made once at
 * start-up on memory BIOs, then sent unchanged every cycle. The target
 * echoes it (it starts with 0x16, not 'G', 'H' or 'S'), so a proxy that
 * checks the server name before it dials (sluice's sni_ports) is measured
 * doing that check; a proxy that refuses the name fails every cycle.
 *
 * With -S CAFILE every client speaks TLS to the proxy (OpenSSL, on the same
 * epoll loop, non-blocking): TCP connect, handshake (the proxy's
 * certificate verified against CAFILE for the proxy's address, or for -N
 * NAME), then the CONNECT and the tunnel inside TLS. -R offers session
 * resumption: each client slot keeps the last session the proxy gave it and
 * offers it on its next handshake; the report counts the handshakes done in
 * the window and how many of them were resumed (SSL_session_reused).
 *
 * The result is one JSON object on stdout; diagnostics go to stderr. Every
 * failure is counted by kind, and the first unexpected proxy status line is
 * reported, so a run that "passes" with errors says so. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_REPLY_MAX	1024
#define LG_ECHO_MAX	4096
#define LG_EVENTS	512
#define LG_READ_BUF	(256 * 1024)
#define LG_RETRY_NS	(10 * 1000 * 1000ull)

enum lg_mode {
	LG_RATE = 0,
	LG_BULK,
	LG_IDLE,
};

enum lg_state {
	LG_OFF = 0,		/* no socket (waiting to retry, or done) */
	LG_CONNECTING,
	LG_HANDSHAKE,		/* -S: TLS handshake with the proxy */
	LG_REPLY,		/* CONNECT sent, reading the proxy's answer */
	LG_ECHO,		/* payload sent, reading it back */
	LG_STREAM,		/* bulk: reading the source */
	LG_HELD,		/* idle: tunnel established, nothing moving */
	LG_VERIFIED,		/* idle: echo came back */
};

enum lg_err {
	LG_E_CONNECT = 0,	/* socket/connect failed */
	LG_E_STATUS,		/* proxy answered something but 200 */
	LG_E_EOF,		/* closed before the exchange finished */
	LG_E_RESET,		/* read/write error */
	LG_E_MISMATCH,		/* echo came back different */
	LG_E_TIMEOUT,		/* idle: not established or verified in time */
	LG_E_TLS,		/* -S: handshake failed, or a TLS error after */
	LG_E_ALERT,		/* -H: a TLS alert came back, not the echo */
	LG_E_COUNT,
};

static const char *const lg_err_names[LG_E_COUNT] = {
	"connect", "status", "eof", "reset", "mismatch", "timeout", "tls",
	"alert",
};

struct lg_client {
	int		 c_fd;
	enum lg_state	 c_state;
	uint64_t	 c_start;	/* ns, this cycle's connect began */
	uint64_t	 c_retry;	/* ns, LG_OFF: when to start again */
	size_t		 c_got;		/* reply or echo bytes so far */
	uint32_t	 c_events;	/* what epoll watches for now */
	SSL		*c_ssl;		/* -S: this connection's TLS */
	SSL_SESSION	*c_sess;	/* -R: the last session, to resume */
	char		 c_reply[LG_REPLY_MAX];
};

struct lg_opts {
	enum lg_mode	 mode;
	struct sockaddr_in proxy;	/* sin_port 0: direct */
	struct sockaddr_in direct;
	const char	*authority;	/* CONNECT target, host:port */
	const char	*userpass;	/* NULL: no Proxy-Authorization */
	unsigned	 clients;
	double		 duration, warmup;
	size_t		 size;
	pid_t		 pid;
	pid_t		 pid2;		/* -q: a second process's CPU */
	unsigned	 inflight;
	double		 timeout;
	const char	*ca_file;	/* -S: TLS to the proxy, this CA */
	const char	*tls_name;	/* -N: the name to verify, else the IP */
	bool		 resume;	/* -R: offer session resumption */
	const char	*hello_name;	/* -H: a ClientHello naming it */
	bool		 size_given;	/* -s was on the command line */
	double		 close_wait;	/* -C: idle, settle and after-close */
};

static struct lg_opts opt = {
	.clients = 32,
	.duration = 5.0,
	.warmup = 0.5,
	.size = 64,
	.inflight = 256,
	.timeout = 60.0,
};

static int lg_epfd = -1;
static struct lg_client *lg_clients;
static char lg_request[2048];
static size_t lg_request_len;
static char lg_payload[LG_ECHO_MAX];
static char lg_rbuf[LG_READ_BUF];
static unsigned long lg_errors[LG_E_COUNT];
static char lg_first_status[128];
static char lg_first_errno[128];
static char lg_first_tls[160];
static SSL_CTX *lg_ctx;			/* -S */
static char lg_proxy_ip[INET_ADDRSTRLEN];
static const char *lg_tls_version = "";	/* the last handshake's */

/* Measurement window and its tallies. */
static uint64_t lg_win_start, lg_win_end;
static bool lg_stopping;
static uint64_t lg_done;
static uint64_t lg_bytes;
static uint64_t lg_hs_done, lg_hs_resumed;	/* -S, in the window */
static uint32_t *lg_lat;		/* microseconds, one per completion */
static double lg_cpu_start = -1, lg_cpu_end = -1; /* -p: its CPU seconds */
static double lg_cpu2_start = -1, lg_cpu2_end = -1; /* -q */
static double lg_cpu_self_start = -1, lg_cpu_self_end = -1; /* our own */
static size_t lg_nlat, lg_caplat;

static uint64_t
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
lg_usage(void)
{
	fprintf(stderr,
	    "usage: loadgen rate|bulk|idle [-P IP:PORT -t HOST:PORT] "
	    "[-D IP:PORT]\n"
	    "           [-u USER:PASS] [-c N] [-d SEC] [-w SEC] [-s BYTES]\n"
	    "           [-p PID] [-q PID] [-k N] [-T SEC] [-S CAFILE [-N NAME] [-R]]\n"
	    "           [-H NAME] [-C SEC]\n"
	    "  -t  the authority to CONNECT to (target.test:PORT)\n"
	    "  -P  the proxy; without it, straight to -D (direct mode)\n"
	    "  -D  the target's address for direct mode\n"
	    "  -u  Basic credentials for Proxy-Authorization\n"
	    "  -c  clients (rate), tunnels (bulk, idle); default 32\n"
	    "  -d  measured seconds (default 5), -w warm-up seconds (0.5)\n"
	    "  -s  echo size in bytes (default 64)\n"
	    "  -p  the proxy's PID: its CPU time (rate, bulk), VmRSS (idle)\n"
	    "  -q  rate, bulk: another PID whose CPU time to report (cpu2_s)\n"
	    "      (rate and bulk always report loadgen's own as cpu_self_s)\n"
	    "  -k  idle: handshakes in flight at most (default 256)\n"
	    "  -T  idle: seconds allowed to open, and to verify (60)\n"
	    "  -S  TLS to the proxy, its certificate verified against CAFILE\n"
	    "  -N  the name the certificate must have (default: -P's address)\n"
	    "  -R  offer to resume each client's last TLS session\n"
	    "  -H  rate: send a TLS ClientHello naming NAME, not -s bytes\n"
	    "  -C  idle: settle SEC (not 1) before the second VmRSS, and read\n"
	    "      it a third time SEC after every tunnel has closed\n");
	exit(2);
}

static int
lg_parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static void
lg_b64(const char *in, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 |
		    (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];

		*out++ = tab[v >> 18 & 63];
		*out++ = tab[v >> 12 & 63];
		*out++ = tab[v >> 6 & 63];
		*out++ = tab[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned char)in[i] << 16;

		*out++ = tab[v >> 18 & 63];
		*out++ = tab[v >> 12 & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		unsigned v = (unsigned char)in[i] << 16 |
		    (unsigned char)in[i + 1] << 8;

		*out++ = tab[v >> 18 & 63];
		*out++ = tab[v >> 12 & 63];
		*out++ = tab[v >> 6 & 63];
		*out++ = '=';
	}
	*out = '\0';
}

static void
lg_build_request(void)
{
	char auth[512] = "";
	int n;

	if (opt.userpass != NULL) {
		char enc[400];

		if (strlen(opt.userpass) > 280) {
			fprintf(stderr, "loadgen: credentials too long\n");
			exit(2);
		}
		lg_b64(opt.userpass, enc);
		snprintf(auth, sizeof(auth),
		    "Proxy-Authorization: Basic %s\r\n", enc);
	}
	n = snprintf(lg_request, sizeof(lg_request),
	    "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", opt.authority,
	    opt.authority, auth);
	if (n < 0 || (size_t)n >= sizeof(lg_request)) {
		fprintf(stderr, "loadgen: request too long\n");
		exit(2);
	}
	lg_request_len = (size_t)n;
}

static void
lg_note_errno(const char *what)
{
	if (lg_first_errno[0] == '\0')
		snprintf(lg_first_errno, sizeof(lg_first_errno), "%s: %s",
		    what, strerror(errno));
}

static void
lg_close(struct lg_client *c)
{
	SSL_free(c->c_ssl);
	c->c_ssl = NULL;
	if (c->c_fd != -1) {
		close(c->c_fd);
		c->c_fd = -1;
	}
	c->c_state = LG_OFF;
	c->c_got = 0;
}

static int
lg_watch(struct lg_client *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (op == EPOLL_CTL_MOD && c->c_events == events)
		return 0;
	c->c_events = events;
	return epoll_ctl(lg_epfd, op, c->c_fd, &ev);
}

/* The first TLS failure's words, for the report. */
static void
lg_note_tls(const char *what, SSL *ssl)
{
	unsigned long e = ERR_peek_last_error();
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (lg_first_tls[0] == '\0')
		snprintf(lg_first_tls, sizeof(lg_first_tls), "%s: %s", what,
		    v != X509_V_OK ? X509_verify_cert_error_string(v) :
		    e != 0 ? ERR_reason_error_string(e) : "connection closed");
	ERR_clear_error();
}

/* What an OpenSSL call on c that failed with `r` comes to, as recv(2)
 * would say it: -1 with errno EAGAIN when it waits for readiness (epoll
 * then watches for what OpenSSL wants), 0 at the end of the stream, -1
 * with errno EPROTO for a TLS error (noted). */
static ssize_t
lg_ssl_result(struct lg_client *c, int r, const char *what)
{
	int e = SSL_get_error(c->c_ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		/* Level-triggered: watch only for what OpenSSL waits for. */
		if (lg_watch(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT,
		    EPOLL_CTL_MOD) == -1)
			errno = EIO;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno != 0)
			return -1;
		/* FALLTHROUGH */
	default:
		lg_note_tls(what, c->c_ssl);
		errno = EPROTO;
		return -1;
	}
}

/* recv(2), or SSL_read on a TLS connection. */
static ssize_t
lg_read(struct lg_client *c, void *p, size_t len)
{
	size_t n;

	if (c->c_ssl == NULL)
		return recv(c->c_fd, p, len, 0);
	errno = 0;
	if (SSL_read_ex(c->c_ssl, p, len, &n) == 1)
		return (ssize_t)n;
	return lg_ssl_result(c, 0, "read");
}

/* send(2) of all `len` bytes, or SSL_write; the writes here are small
 * enough for an empty socket buffer, so less than all is a failure. */
static ssize_t
lg_write(struct lg_client *c, const void *p, size_t len)
{
	size_t n;

	if (c->c_ssl == NULL)
		return send(c->c_fd, p, len, MSG_NOSIGNAL);
	errno = 0;
	if (SSL_write_ex(c->c_ssl, p, len, &n) == 1)
		return (ssize_t)n;
	(void)lg_ssl_result(c, 0, "write");
	return -1;
}

/* Decrypted bytes OpenSSL holds that epoll cannot announce. */
static bool
lg_pending(const struct lg_client *c)
{
	return c->c_ssl != NULL && SSL_pending(c->c_ssl) > 0;
}

static void lg_start(struct lg_client *c, uint64_t now);

/* Count a failure and, in rate and bulk, start over after a pause so a
 * refusing proxy cannot make the generator spin. */
static void
lg_fail(struct lg_client *c, enum lg_err e)
{
	lg_errors[e]++;
	lg_close(c);
	c->c_retry = lg_now() + LG_RETRY_NS;
}

/* A failed read or write: a TLS error, or a reset. */
static void
lg_fail_io(struct lg_client *c, const char *what)
{
	if (errno == EPROTO) {
		lg_fail(c, LG_E_TLS);
		return;
	}
	lg_note_errno(what);
	lg_fail(c, LG_E_RESET);
}

static void
lg_send_payload(struct lg_client *c)
{
	ssize_t n;

	if (opt.mode == LG_BULK) {
		n = lg_write(c, "S", 1);
		c->c_state = LG_STREAM;
	} else {
		n = lg_write(c, lg_payload, opt.size);
		c->c_state = LG_ECHO;
	}
	c->c_got = 0;
	if (n == -1)
		lg_fail_io(c, "send");
}

/* The tunnel is open (proxy said 200, or direct and connected). */
static void
lg_tunnel_ready(struct lg_client *c)
{
	if (opt.mode == LG_IDLE) {
		c->c_state = LG_HELD;
		return;
	}
	lg_send_payload(c);
}

static void
lg_start(struct lg_client *c, uint64_t now)
{
	const struct sockaddr_in *to = opt.proxy.sin_port ? &opt.proxy :
	    &opt.direct;

	/* No TCP_NODELAY: each side writes once and then waits for an
	 * answer, so Nagle never holds a segment back, and the syscall would
	 * be a per-cycle cost of the generator's own. */
	c->c_start = now;
	c->c_got = 0;
	c->c_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (c->c_fd == -1) {
		lg_note_errno("socket");
		lg_fail(c, LG_E_CONNECT);
		return;
	}
	if (connect(c->c_fd, (const struct sockaddr *)to, sizeof(*to)) == -1 &&
	    errno != EINPROGRESS) {
		lg_note_errno("connect");
		lg_fail(c, LG_E_CONNECT);
		return;
	}
	c->c_state = LG_CONNECTING;
	if (lg_watch(c, EPOLLOUT, EPOLL_CTL_ADD) == -1) {
		lg_note_errno("epoll_ctl");
		lg_fail(c, LG_E_CONNECT);
	}
}

/* The CONNECT request, in TLS or not. */
static void
lg_send_request(struct lg_client *c)
{
	if (lg_write(c, lg_request, lg_request_len) !=
	    (ssize_t)lg_request_len) {
		lg_fail_io(c, "send");
		return;
	}
	c->c_state = LG_REPLY;
}

/* Take the session the proxy just gave (TLS 1.2 at the handshake's end,
 * 1.3 in a ticket after it) as the client slot's next one to offer;
 * returning 1 keeps our reference. */
static int
lg_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct lg_client *c = SSL_get_app_data(ssl);

	if (c == NULL || !opt.resume)
		return 0;
	SSL_SESSION_free(c->c_sess);
	c->c_sess = sess;
	return 1;
}

static void
lg_handshake(struct lg_client *c)
{
	uint64_t now;
	int r;

	errno = 0;
	if ((r = SSL_do_handshake(c->c_ssl)) != 1) {
		if (lg_ssl_result(c, r, "handshake") == -1 && errno == EAGAIN)
			return;
		if (errno != EPROTO)
			lg_note_errno("handshake");
		lg_fail(c, LG_E_TLS);
		return;
	}
	now = lg_now();
	if (now >= lg_win_start && now < lg_win_end) {
		lg_hs_done++;
		lg_hs_resumed += SSL_session_reused(c->c_ssl) == 1;
	}
	lg_tls_version = SSL_get_version(c->c_ssl);
	if (lg_watch(c, EPOLLIN, EPOLL_CTL_MOD) == -1) {
		lg_note_errno("epoll_ctl");
		lg_fail(c, LG_E_CONNECT);
		return;
	}
	lg_send_request(c);
}

/* TCP is up: start the TLS handshake with the proxy. */
static void
lg_tls_begin(struct lg_client *c)
{
	X509_VERIFY_PARAM *vp;

	if ((c->c_ssl = SSL_new(lg_ctx)) == NULL ||
	    SSL_set_fd(c->c_ssl, c->c_fd) != 1) {
		lg_note_tls("SSL_new", NULL);
		lg_fail(c, LG_E_TLS);
		return;
	}
	SSL_set_app_data(c->c_ssl, c);
	vp = SSL_get0_param(c->c_ssl);
	if (opt.tls_name != NULL ? SSL_set1_host(c->c_ssl, opt.tls_name) != 1 ||
	    SSL_set_tlsext_host_name(c->c_ssl, opt.tls_name) != 1 :
	    X509_VERIFY_PARAM_set1_ip_asc(vp, lg_proxy_ip) != 1) {
		lg_note_tls("name", NULL);
		lg_fail(c, LG_E_TLS);
		return;
	}
	if (c->c_sess != NULL && SSL_SESSION_is_resumable(c->c_sess))
		SSL_set_session(c->c_ssl, c->c_sess);
	SSL_set_connect_state(c->c_ssl);
	c->c_state = LG_HANDSHAKE;
	lg_handshake(c);
}

static void
lg_connected(struct lg_client *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		errno = err;
		lg_note_errno("connect");
		lg_fail(c, LG_E_CONNECT);
		return;
	}
	if (lg_watch(c, EPOLLIN, EPOLL_CTL_MOD) == -1) {
		lg_note_errno("epoll_ctl");
		lg_fail(c, LG_E_CONNECT);
		return;
	}
	if (opt.proxy.sin_port == 0)
		lg_tunnel_ready(c);
	else if (lg_ctx != NULL)
		lg_tls_begin(c);
	else
		lg_send_request(c);
}

static void
lg_read_reply(struct lg_client *c)
{
	ssize_t n;
	char *eoh;

	n = lg_read(c, c->c_reply + c->c_got, LG_REPLY_MAX - 1 - c->c_got);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n == -1) {
		lg_fail_io(c, "recv");
		return;
	}
	if (n == 0) {
		lg_fail(c, LG_E_EOF);
		return;
	}
	c->c_got += (size_t)n;
	c->c_reply[c->c_got] = '\0';
	if ((eoh = strstr(c->c_reply, "\r\n\r\n")) == NULL) {
		if (c->c_got == LG_REPLY_MAX - 1)
			lg_fail(c, LG_E_STATUS);
		return;
	}
	/* "HTTP/1.x 200 ..." */
	if (strncmp(c->c_reply, "HTTP/1.", 7) != 0 ||
	    strncmp(c->c_reply + 8, " 200", 4) != 0 ||
	    (size_t)(eoh + 4 - c->c_reply) != c->c_got) {
		if (lg_first_status[0] == '\0') {
			size_t l = strcspn(c->c_reply, "\r\n");

			if (l >= sizeof(lg_first_status))
				l = sizeof(lg_first_status) - 1;
			memcpy(lg_first_status, c->c_reply, l);
			lg_first_status[l] = '\0';
		}
		lg_fail(c, LG_E_STATUS);
		return;
	}
	lg_tunnel_ready(c);
}

static void
lg_read_echo(struct lg_client *c, uint64_t now)
{
	char buf[LG_ECHO_MAX];
	ssize_t n;

	n = lg_read(c, buf, opt.size - c->c_got);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n == -1) {
		lg_fail_io(c, "recv");
		return;
	}
	if (n == 0) {
		lg_fail(c, LG_E_EOF);
		return;
	}
	if (memcmp(buf, lg_payload + c->c_got, (size_t)n) != 0) {
		/* A record of type 21 where the ClientHello should be: the
		 * proxy refused it (sluice: access_denied, sni-mismatch). */
		lg_fail(c, opt.hello_name != NULL && c->c_got == 0 &&
		    buf[0] == 0x15 ? LG_E_ALERT : LG_E_MISMATCH);
		return;
	}
	c->c_got += (size_t)n;
	if (c->c_got < opt.size)
		return;
	now = lg_now();
	if (opt.mode == LG_IDLE) {
		lg_done++;
		lg_close(c);
		c->c_state = LG_VERIFIED;
		return;
	}
	if (now >= lg_win_start && now < lg_win_end) {
		uint64_t us = (now - c->c_start) / 1000;

		lg_done++;
		if (lg_nlat == lg_caplat) {
			size_t cap = lg_caplat ? lg_caplat * 2 : 65536;
			uint32_t *p = realloc(lg_lat, cap * sizeof(*p));

			if (p == NULL) {
				perror("loadgen: realloc");
				exit(1);
			}
			lg_lat = p;
			lg_caplat = cap;
		}
		lg_lat[lg_nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
	/* As a client that is done: close_notify (no waiting for the
	 * proxy's), then the close. */
	if (c->c_ssl != NULL)
		(void)SSL_shutdown(c->c_ssl);
	ERR_clear_error();
	lg_close(c);
	if (!lg_stopping)
		lg_start(c, lg_now());
}

static void
lg_read_stream(struct lg_client *c, uint64_t now)
{
	size_t got = 0;
	ssize_t n;

	/* At most one buffer per wake-up (level-triggered) keeps tunnels
	 * fair: one recv, or the SSL_reads (a record each) that fill it. */
	do {
		n = lg_read(c, lg_rbuf + got, sizeof(lg_rbuf) - got);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			lg_fail_io(c, "recv");
			return;
		}
		if (n == 0) {
			lg_fail(c, LG_E_EOF);
			return;
		}
		got += (size_t)n;
	} while (c->c_ssl != NULL && got < sizeof(lg_rbuf) - 16384);
	if (now >= lg_win_start && now < lg_win_end)
		lg_bytes += got;
}

static void
lg_dispatch(struct lg_client *c, uint32_t events, uint64_t now)
{
	switch (c->c_state) {
	case LG_CONNECTING:
		lg_connected(c);
		break;
	case LG_HANDSHAKE:
		lg_handshake(c);
		break;
	case LG_REPLY:
		lg_read_reply(c);
		break;
	case LG_ECHO:
		lg_read_echo(c, now);
		break;
	case LG_STREAM:
		lg_read_stream(c, now);
		break;
	case LG_HELD:
		/* Nothing may arrive on a held tunnel: data or EOF is a
		 * failure the verification pass would report anyway. */
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			char b;
			ssize_t n = recv(c->c_fd, &b, 1, MSG_PEEK);

			if (n == 0 || (n == -1 && errno != EAGAIN)) {
				lg_errors[LG_E_EOF]++;
				lg_close(c);
			}
		}
		break;
	case LG_OFF:
	case LG_VERIFIED:
		break;
	}
}

static void
lg_event(struct lg_client *c, uint32_t events, uint64_t now)
{
	/* Decrypted bytes OpenSSL already holds get no epoll event. */
	do
		lg_dispatch(c, events, now);
	while (lg_pending(c) && (c->c_state == LG_REPLY ||
	    c->c_state == LG_ECHO || c->c_state == LG_STREAM));
}

static void
lg_raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need + 64)
		fprintf(stderr, "loadgen: descriptor limit %llu is below "
		    "%u clients\n", (unsigned long long)rl.rlim_cur, need);
}

/* VmRSS of `pid` in KiB, or -1. */
static long
lg_rss_kib(pid_t pid, long *threads)
{
	char path[64], line[256];
	long rss = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			rss = strtol(line + 6, NULL, 10);
		else if (threads != NULL && strncmp(line, "Threads:", 8) == 0)
			*threads = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return rss;
}

/* User + system CPU seconds of every thread of `pid` so far, or -1. */
static double
lg_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the
	 * last ')', then fields 3.. follow; utime and stime are 14 and 15. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
		"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		&st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
lg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t
lg_pct(double p)
{
	size_t i;

	if (lg_nlat == 0)
		return 0;
	i = (size_t)(p * (double)(lg_nlat - 1) + 0.5);
	return lg_lat[i];
}

static void
lg_print_errors(void)
{
	unsigned long total = 0;
	int e;

	printf("\"errors\": {");
	for (e = 0; e < LG_E_COUNT; e++) {
		printf("%s\"%s\": %lu", e ? ", " : "", lg_err_names[e],
		    lg_errors[e]);
		total += lg_errors[e];
	}
	printf("}, \"errors_total\": %lu, \"first_status\": \"%s\", "
	       "\"first_errno\": \"%s\", \"first_tls\": \"%s\"",
	    total, lg_first_status, lg_first_errno, lg_first_tls);
}

/* -S: the handshakes done in the window and how many were resumed. */
static void
lg_print_tls(void)
{
	if (lg_ctx == NULL) {
		printf("\"tls\": false, ");
		return;
	}
	printf("\"tls\": true, \"tls_version\": \"%s\", \"resume\": %s, "
	       "\"handshakes\": %llu, \"resumed\": %llu, ",
	    lg_tls_version, opt.resume ? "true" : "false",
	    (unsigned long long)lg_hs_done, (unsigned long long)lg_hs_resumed);
}

/* Dispatch one batch of events; returns how many there were. */
static int
lg_poll(int timeout_ms)
{
	struct epoll_event ev[LG_EVENTS];
	uint64_t now;
	int i, n;

	n = epoll_wait(lg_epfd, ev, LG_EVENTS, timeout_ms);
	if (n == -1) {
		if (errno == EINTR)
			return 0;
		perror("loadgen: epoll_wait");
		exit(1);
	}
	now = lg_now();
	for (i = 0; i < n; i++)
		lg_event(ev[i].data.ptr, ev[i].events, now);
	return n;
}

/* Rate, after the window: let the cycles under way finish (for at most
 * two seconds) rather than cut them, so a proxy's log shows no handshake
 * or tunnel abandoned by the measurement itself. Nothing is counted. */
static void
lg_drain(void)
{
	uint64_t deadline = lg_now() + 2000000000ull;
	unsigned i, busy;

	do {
		for (i = busy = 0; i < opt.clients; i++)
			busy += lg_clients[i].c_state != LG_OFF;
		if (busy > 0)
			lg_poll(10);
	} while (busy > 0 && lg_now() < deadline);
}

static void
lg_run_timed(void)
{
	uint64_t t0 = lg_now();
	unsigned i;

	lg_win_start = t0 + (uint64_t)(opt.warmup * 1e9);
	lg_win_end = lg_win_start + (uint64_t)(opt.duration * 1e9);
	for (i = 0; i < opt.clients; i++)
		lg_start(&lg_clients[i], t0);
	for (;;) {
		uint64_t now = lg_now();
		bool retrying = false;

		if (lg_cpu_self_start < 0 && now >= lg_win_start) {
			lg_cpu_self_start = lg_cpu_s(getpid());
			if (opt.pid > 0)
				lg_cpu_start = lg_cpu_s(opt.pid);
			if (opt.pid2 > 0)
				lg_cpu2_start = lg_cpu_s(opt.pid2);
		}
		if (now >= lg_win_end) {
			lg_cpu_self_end = lg_cpu_s(getpid());
			if (opt.pid > 0)
				lg_cpu_end = lg_cpu_s(opt.pid);
			if (opt.pid2 > 0)
				lg_cpu2_end = lg_cpu_s(opt.pid2);
			break;
		}
		for (i = 0; i < opt.clients; i++) {
			struct lg_client *c = &lg_clients[i];

			if (c->c_state != LG_OFF)
				continue;
			if (c->c_retry <= now)
				lg_start(c, now);
			else
				retrying = true;
		}
		lg_poll(retrying ? 1 : 10);
	}
	lg_stopping = true;
	if (opt.mode == LG_RATE)
		lg_drain();
	for (i = 0; i < opt.clients; i++)
		lg_close(&lg_clients[i]);
}

/* CPU seconds over the measured window from a process's readings at its
 * start and end (lg_cpu_s), or -1 when either is missing. */
static double
lg_cpu_used(double start, double end)
{
	if (start < 0 || end < 0)
		return -1;
	return end - start;
}

static void
lg_report_rate(void)
{
	qsort(lg_lat, lg_nlat, sizeof(*lg_lat), lg_cmp_u32);
	printf("{\"mode\": \"rate\", \"clients\": %u, \"seconds\": %.3f, "
	       "\"completions\": %llu, \"rate\": %.1f, \"p50_us\": %u, "
	       "\"p99_us\": %u, \"max_us\": %u, \"cpu_s\": %.2f, "
	       "\"cpu2_s\": %.2f, \"cpu_self_s\": %.2f, \"payload\": \"%s\", "
	       "\"payload_bytes\": %zu, ",
	    opt.clients, opt.duration, (unsigned long long)lg_done,
	    (double)lg_done / opt.duration, lg_pct(0.50), lg_pct(0.99),
	    lg_nlat ? lg_lat[lg_nlat - 1] : 0,
	    lg_cpu_used(lg_cpu_start, lg_cpu_end),
	    lg_cpu_used(lg_cpu2_start, lg_cpu2_end),
	    lg_cpu_used(lg_cpu_self_start, lg_cpu_self_end),
	    opt.hello_name != NULL ? "clienthello" : "echo", opt.size);
	lg_print_tls();
	lg_print_errors();
	printf("}\n");
}

static void
lg_report_bulk(void)
{
	printf("{\"mode\": \"bulk\", \"tunnels\": %u, \"seconds\": %.3f, "
	       "\"bytes\": %llu, \"mbps\": %.1f, \"cpu_s\": %.2f, "
	       "\"cpu2_s\": %.2f, \"cpu_self_s\": %.2f, ",
	    opt.clients, opt.duration, (unsigned long long)lg_bytes,
	    (double)lg_bytes / opt.duration / 1e6,
	    lg_cpu_used(lg_cpu_start, lg_cpu_end),
	    lg_cpu_used(lg_cpu2_start, lg_cpu2_end),
	    lg_cpu_used(lg_cpu_self_start, lg_cpu_self_end));
	lg_print_tls();
	lg_print_errors();
	printf("}\n");
}

static unsigned
lg_count(enum lg_state s)
{
	unsigned i, k = 0;

	for (i = 0; i < opt.clients; i++)
		k += lg_clients[i].c_state == s;
	return k;
}

/* Is c opening its tunnel (connect, handshake or CONNECT under way)? */
static bool
lg_opening(const struct lg_client *c)
{
	return c->c_state == LG_CONNECTING || c->c_state == LG_HANDSHAKE ||
	    c->c_state == LG_REPLY;
}

/* Idle: open every tunnel, at most opt.inflight handshakes at a time; a
 * failure is counted, not retried (an idle tunnel that cannot be opened is
 * the finding), and what is still opening at the deadline times out. */
static void
lg_idle_open(void)
{
	uint64_t deadline = lg_now() + (uint64_t)(opt.timeout * 1e9);
	unsigned next = 0, inflight, i;

	for (;;) {
		inflight = 0;
		for (i = 0; i < next; i++)
			inflight += lg_opening(&lg_clients[i]);
		while (next < opt.clients && inflight < opt.inflight) {
			lg_start(&lg_clients[next++], lg_now());
			inflight++;
		}
		if ((next == opt.clients && inflight == 0) ||
		    lg_now() >= deadline)
			break;
		lg_poll(10);
	}
	for (i = 0; i < opt.clients; i++) {
		if (lg_opening(&lg_clients[i])) {
			lg_errors[LG_E_TIMEOUT]++;
			lg_close(&lg_clients[i]);
		}
	}
}

/* Idle: one echo through every held tunnel, all at once; lg_done counts
 * the ones that came back. */
static void
lg_idle_verify(void)
{
	uint64_t deadline;
	unsigned i;

	lg_done = 0;
	for (i = 0; i < opt.clients; i++) {
		struct lg_client *c = &lg_clients[i];

		if (c->c_state == LG_HELD)
			lg_send_payload(c);
	}
	deadline = lg_now() + (uint64_t)(opt.timeout * 1e9);
	while (lg_count(LG_ECHO) > 0 && lg_now() < deadline)
		lg_poll(50);
	for (i = 0; i < opt.clients; i++) {
		struct lg_client *c = &lg_clients[i];

		if (c->c_state == LG_ECHO) {
			lg_errors[LG_E_TIMEOUT]++;
			lg_close(c);
		}
	}
}

/* Wait `sec` seconds, serving events (a held tunnel that closes is
 * noticed) but starting nothing. */
static void
lg_settle(double sec)
{
	uint64_t until = lg_now() + (uint64_t)(sec * 1e9);

	while (lg_now() < until)
		lg_poll(50);
}

static void
lg_run_idle(void)
{
	uint64_t t0, t_open;
	unsigned held, i;
	long before = 0, after, thr_before = 0, thr_after = 0;
	long closed = -1, thr_closed = -1;

	if (opt.pid > 0 && (before = lg_rss_kib(opt.pid, &thr_before)) < 0) {
		fprintf(stderr, "loadgen: cannot read VmRSS of %d\n",
		    (int)opt.pid);
		exit(1);
	}
	t0 = lg_now();
	lg_idle_open();
	t_open = lg_now();
	/* Let the proxy finish whatever it does after the reply. */
	lg_settle(opt.close_wait > 0 ? opt.close_wait : 1.0);
	held = lg_count(LG_HELD);
	after = opt.pid > 0 ? lg_rss_kib(opt.pid, &thr_after) : 0;
	/* The echo pass closes each tunnel as its echo comes back. */
	lg_idle_verify();
	for (i = 0; i < opt.clients; i++)
		lg_close(&lg_clients[i]);
	if (opt.close_wait > 0) {
		lg_settle(opt.close_wait);
		closed = opt.pid > 0 ? lg_rss_kib(opt.pid, &thr_closed) : 0;
	}
	printf("{\"mode\": \"idle\", \"tunnels\": %u, \"held\": %u, "
	       "\"inflight\": %u, \"open_seconds\": %.3f, "
	       "\"settle_seconds\": %.1f, \"rss_before_kib\": %ld, "
	       "\"rss_after_kib\": %ld, \"bytes_per_tunnel\": %.0f, "
	       "\"rss_closed_kib\": %ld, \"threads_before\": %ld, "
	       "\"threads_after\": %ld, \"threads_closed\": %ld, "
	       "\"verified\": %llu, ",
	    opt.clients, held, opt.inflight < opt.clients ? opt.inflight :
	    opt.clients, (double)(t_open - t0) / 1e9,
	    opt.close_wait > 0 ? opt.close_wait : 1.0, before, after,
	    held ? (double)(after - before) * 1024.0 / held : 0.0, closed,
	    thr_before, thr_after, thr_closed, (unsigned long long)lg_done);
	lg_print_errors();
	printf("}\n");
}

/* One option of the command line into `opt`; false for an unknown one. */
static bool
lg_option(int ch, bool *have_direct)
{
	switch (ch) {
	case 't':
		opt.authority = optarg;
		break;
	case 'P':
		if (lg_parse_addr(optarg, &opt.proxy) == -1)
			lg_usage();
		break;
	case 'D':
		if (lg_parse_addr(optarg, &opt.direct) == -1)
			lg_usage();
		*have_direct = true;
		break;
	case 'u':
		opt.userpass = optarg;
		break;
	case 'c':
		opt.clients = (unsigned)strtoul(optarg, NULL, 10);
		break;
	case 'd':
		opt.duration = strtod(optarg, NULL);
		break;
	case 'w':
		opt.warmup = strtod(optarg, NULL);
		break;
	case 's':
		opt.size = strtoul(optarg, NULL, 10);
		opt.size_given = true;
		break;
	case 'p':
		opt.pid = (pid_t)strtol(optarg, NULL, 10);
		break;
	case 'q':
		opt.pid2 = (pid_t)strtol(optarg, NULL, 10);
		break;
	case 'k':
		opt.inflight = (unsigned)strtoul(optarg, NULL, 10);
		break;
	case 'T':
		opt.timeout = strtod(optarg, NULL);
		break;
	case 'S':
		opt.ca_file = optarg;
		break;
	case 'N':
		opt.tls_name = optarg;
		break;
	case 'R':
		opt.resume = true;
		break;
	case 'H':
		opt.hello_name = optarg;
		break;
	case 'C':
		opt.close_wait = strtod(optarg, NULL);
		break;
	default:
		return false;
	}
	return true;
}

/* The command line into `opt`; prints the usage and exits when it is
 * wrong. */
static void
lg_parse(int argc, char **argv)
{
	bool have_direct = false;
	int ch;

	if (argc < 2)
		lg_usage();
	if (strcmp(argv[1], "rate") == 0)
		opt.mode = LG_RATE;
	else if (strcmp(argv[1], "bulk") == 0)
		opt.mode = LG_BULK;
	else if (strcmp(argv[1], "idle") == 0)
		opt.mode = LG_IDLE;
	else
		lg_usage();
	optind = 2;
	while ((ch = getopt(argc, argv, "t:P:D:u:c:d:w:s:p:q:k:T:S:N:RH:C:")) != -1)
		if (!lg_option(ch, &have_direct))
			lg_usage();
	if (opt.clients == 0 || opt.duration <= 0 || opt.size == 0 ||
	    opt.size > LG_ECHO_MAX || opt.inflight == 0 ||
	    (opt.proxy.sin_port == 0 && !have_direct) ||
	    (opt.proxy.sin_port != 0 && opt.authority == NULL) ||
	    (opt.ca_file != NULL && opt.proxy.sin_port == 0) ||
	    ((opt.tls_name != NULL || opt.resume) && opt.ca_file == NULL) ||
	    (opt.hello_name != NULL && (opt.mode != LG_RATE ||
	    opt.size_given || opt.hello_name[0] == '\0')) ||
	    opt.close_wait < 0 || (opt.close_wait > 0 && opt.mode != LG_IDLE) ||
	    (opt.pid2 > 0 && opt.pid <= 0))
		lg_usage();
}

/* -S: the client context every connection's SSL comes from. TLS 1.2 or
 * 1.3 (the proxy picks; both sluice and Squid pick 1.3), the proxy's
 * certificate verified, sessions handed to lg_new_session rather than
 * kept in OpenSSL's cache, and a FIN taken as the end of the stream. */
static void
lg_tls_setup(void)
{
	if ((lg_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(lg_ctx, opt.ca_file, NULL) != 1) {
		fprintf(stderr, "loadgen: %s: %s\n", opt.ca_file,
		    ERR_reason_error_string(ERR_get_error()));
		exit(2);
	}
	SSL_CTX_set_min_proto_version(lg_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(lg_ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(lg_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_cache_mode(lg_ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(lg_ctx, lg_new_session);
	inet_ntop(AF_INET, &opt.proxy.sin_addr, lg_proxy_ip,
	    sizeof(lg_proxy_ip));
}

/* -H: the ClientHello OpenSSL's client writes for `name` (its defaults:
 * TLS 1.2 and 1.3 offered, an X25519 key share, server_name), into `out`
 * of `cap` bytes; returns its length. The handshake runs on memory BIOs
 * with nobody on the other side, so it stops after writing the first
 * flight, which is the ClientHello in one record. Exits on failure. */
static size_t
lg_hello_build(const char *name, char *out, size_t cap)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	BIO *rbio, *wbio = NULL;
	int len = -1;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (ssl = SSL_new(ctx)) == NULL ||
	    (rbio = BIO_new(BIO_s_mem())) == NULL)
		goto fail;
	if ((wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(rbio);
		goto fail;
	}
	SSL_set_bio(ssl, rbio, wbio);	/* ssl owns both now */
	SSL_set_connect_state(ssl);
	if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
	    SSL_do_handshake(ssl) == 1 ||
	    SSL_get_error(ssl, -1) != SSL_ERROR_WANT_READ)
		goto fail;
	len = BIO_read(wbio, out, (int)cap);
	/* One whole handshake record holding a ClientHello (type 1). */
	if (len < 9 || BIO_pending(wbio) != 0 || out[0] != 0x16 ||
	    out[5] != 0x01 || (size_t)len != 5 + ((size_t)(unsigned char)
	    out[3] << 8 | (unsigned char)out[4]))
		len = -1;
fail:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (len < 0) {
		fprintf(stderr, "loadgen: no ClientHello for %s: %s\n", name,
		    ERR_reason_error_string(ERR_get_error()));
		exit(2);
	}
	return (size_t)len;
}

/* What each client sends into its tunnel: -s bytes starting with 'E' (the
 * target echoes whatever does not start with G, H or S), or with -H the
 * ClientHello, whose length becomes the echo size. */
static void
lg_payload_init(void)
{
	size_t i;

	if (opt.hello_name != NULL) {
		opt.size = lg_hello_build(opt.hello_name, lg_payload,
		    sizeof(lg_payload));
		return;
	}
	for (i = 0; i < opt.size; i++)
		lg_payload[i] = (char)('E' + i % 20);
}

int
main(int argc, char **argv)
{
	size_t i;

	lg_parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	lg_raise_nofile(opt.clients);
	if (opt.proxy.sin_port != 0)
		lg_build_request();
	if (opt.ca_file != NULL)
		lg_tls_setup();
	lg_payload_init();
	if ((lg_clients = calloc(opt.clients, sizeof(*lg_clients))) == NULL ||
	    (lg_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("loadgen");
		return 1;
	}
	for (i = 0; i < opt.clients; i++)
		lg_clients[i].c_fd = -1;
	switch (opt.mode) {
	case LG_RATE:
		lg_run_timed();
		lg_report_rate();
		break;
	case LG_BULK:
		lg_run_timed();
		lg_report_bulk();
		break;
	case LG_IDLE:
		lg_run_idle();
		break;
	}
	return 0;
}
