/* SPDX-License-Identifier: MIT */
/*
 * TLS on the listeners and to proxies; see tls.h. One SSL_CTX per
 * configuration or proxy (shared by every worker: OpenSSL's contexts are
 * thread-safe), one SSL per connection, living in its transport.
 *
 * The transport keeps xport.h's readiness rules: OpenSSL's "want read" and
 * "want write" clear the flag it waits for, whichever operation asked, and
 * a flag stays set while OpenSSL may hold decrypted bytes, so callers that
 * read until EAGAIN never leave data inside it. Writes may be partial and
 * retried from a moved buffer (SSL_MODE_ENABLE_PARTIAL_WRITE and
 * ACCEPT_MOVING_WRITE_BUFFER), and idle connections give their buffers back
 * (SSL_MODE_RELEASE_BUFFERS): an idle tunnel must stay cheap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"
#include "xport.h"

struct tls_server {
	SSL_CTX		*ts_ctx;
};

struct tls_client {
	SSL_CTX		*tc_ctx;
};

/* ALPN: HTTP/1.1 is what this proxy speaks; a client offering only
 * something else goes on without ALPN rather than failing. */
static int
tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *o;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&o, outlen, ours, sizeof(ours) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

/* TLS 1.2's suites: forward secrecy and AEAD only (TLS 1.3's are all of
 * that kind already). */
#define TLS_CIPHERS_12	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* A key file with a passphrase: there is nobody to ask (OpenSSL's default
 * would read the terminal, and a reload would hang there). */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Is `file` a regular file? A FIFO or a device would block the thread
 * that loads it (the control thread, during a reload) or never end. */
static bool
tls_regular(const char *file, char *err, size_t errlen)
{
	struct stat st;

	if (stat(file, &st) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		return false;
	}
	return true;
}

/* What both sides share: TLS 1.2 and 1.3, the suites above, no
 * renegotiation or compression, a FIN as good as close_notify, and the
 * write and buffer modes the transport needs (see the top). Returns NULL
 * with a message in `err`. */
static SSL_CTX *
tls_ctx_new(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL || SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		snprintf(err, errlen, "TLS: cannot set up a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* "FILE: why" for a file OpenSSL would not take, in OpenSSL's first (the
 * causing) error's words, or `what` for the ones that say little. */
static struct tls_server *
tls_server_fail(struct tls_server *ts, const char *file, const char *what,
    char *err, size_t errlen)
{
	unsigned long e = ERR_peek_error();

	if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
		snprintf(err, errlen, "%s: not the key of the certificate in "
		    "tls_cert", file);
	else if (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ ||
	    ERR_GET_REASON(e) == PEM_R_PROBLEMS_GETTING_PASSWORD ||
	    ERR_GET_REASON(e) == ERR_R_INTERRUPTED_OR_CANCELLED)
		snprintf(err, errlen, "%s: the key is encrypted; sluice needs "
		    "it without a passphrase (openssl pkey -in FILE -out "
		    "PLAIN)", file);
	else
		snprintf(err, errlen, "%s: %s (%s)", file, what, e != 0 ?
		    ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	tls_server_free(ts);
	return NULL;
}

struct tls_server *
tls_server_new(const char *cert, const char *key, char *err, size_t errlen)
{
	struct tls_server *ts = calloc(1, sizeof(*ts));

	if (ts == NULL || (ts->ts_ctx = tls_ctx_new(TLS_server_method(), err,
	    errlen)) == NULL) {
		free(ts);
		return NULL;
	}
	SSL_CTX_set_options(ts->ts_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ts->ts_ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ts->ts_ctx,
	    (const unsigned char *)"sluice", 6);
	SSL_CTX_set_alpn_select_cb(ts->ts_ctx, tls_alpn, NULL);
	SSL_CTX_set_default_passwd_cb(ts->ts_ctx, tls_no_passphrase);
	if (!tls_regular(cert, err, errlen) || !tls_regular(key, err, errlen)) {
		tls_server_free(ts);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ts->ts_ctx, cert) != 1)
		return tls_server_fail(ts, cert, "not a PEM certificate chain",
		    err, errlen);
	if (SSL_CTX_use_PrivateKey_file(ts->ts_ctx, key, SSL_FILETYPE_PEM) !=
	    1)
		return tls_server_fail(ts, key, "not a PEM private key", err,
		    errlen);
	if (SSL_CTX_check_private_key(ts->ts_ctx) != 1)
		return tls_server_fail(ts, key, "not the key of the "
		    "certificate in tls_cert", err, errlen);
	return ts;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ts_ctx);
	free(ts);
}

/* What an OpenSSL call that returned `r` on `x` came to: -1 with errno
 * EAGAIN (the readiness it waits for cleared), 0 at the end of the
 * client's stream, or -1 with errno for a real failure. */
static ssize_t
tls_result(struct xport *x, int r)
{
	int e = SSL_get_error(x->x_state, r), saved = errno;

	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		x->x_can_read = false;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		x->x_can_write = false;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		errno = saved != 0 ? saved : EPIPE;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

static ssize_t
tls_read(struct xport *x, void *p, size_t len)
{
	size_t n;

	if (!x->x_can_read) {
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(x->x_state, p, len, &n) == 1)
		return (ssize_t)n;
	return tls_result(x, 0);
}

static ssize_t
tls_write(struct xport *x, const void *p, size_t len)
{
	size_t off = 0, n;

	while (off < len && x->x_can_write) {
		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(x->x_state, (const char *)p + off, len - off,
		    &n) == 1) {
			off += n;
			continue;
		}
		if (tls_result(x, 0) == -1 && errno == EAGAIN)
			break;	/* wants readiness, maybe the other kind */
		return -1;
	}
	return (ssize_t)off;
}

/* close_notify (best effort: it must not block), then the TCP half-close
 * that a relay's end of stream means. */
static int
tls_shutdown(struct xport *x)
{
	ERR_clear_error();
	(void)SSL_shutdown(x->x_state);
	ERR_clear_error();
	if (shutdown(x->x_fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return -1;
	return 0;
}

static void
tls_close(struct xport *x)
{
	SSL_free(x->x_state);
	x->x_state = NULL;
	close(x->x_fd);
}

static const struct xport_ops tls_ops = {
	.xo_name = "tls",
	.xo_read = tls_read,
	.xo_write = tls_write,
	.xo_shutdown = tls_shutdown,
	.xo_close = tls_close,
	.xo_splice = false,
};

int
tls_accept(struct xport *x, struct tls_server *ts)
{
	SSL *ssl = SSL_new(ts->ts_ctx);

	if (ssl == NULL || SSL_set_fd(ssl, x->x_fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	SSL_set_accept_state(ssl);
	x->x_state = ssl;
	x->x_ops = &tls_ops;
	return 0;
}

/* Did the handshake fail because the client spoke plain HTTP? OpenSSL
 * recognises a request line where a ClientHello should be. */
static bool
tls_was_plaintext(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST ||
	    ERR_GET_REASON(e) == SSL_R_HTTPS_PROXY_REQUEST);
}

/* A certificate refused says which check failed ("unable to get local
 * issuer certificate", "certificate has expired"), not just that one did;
 * the name check says which name or address it was checked for. */
static void
tls_verify_why(SSL *ssl, char *why, size_t whylen)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	long v = SSL_get_verify_result(ssl);
	const char *name;
	char *ip;

	if (v == X509_V_ERR_HOSTNAME_MISMATCH &&
	    (name = X509_VERIFY_PARAM_get0_host(param, 0)) != NULL)
		snprintf(why, whylen, "the certificate is not valid for %s",
		    name);
	else if (v == X509_V_ERR_IP_ADDRESS_MISMATCH &&
	    (ip = X509_VERIFY_PARAM_get1_ip_asc(param)) != NULL) {
		snprintf(why, whylen, "the certificate is not valid for %s",
		    ip);
		OPENSSL_free(ip);
	} else
		snprintf(why, whylen, "%s", X509_verify_cert_error_string(v));
}

enum tls_step
tls_handshake(struct xport *x, char *why, size_t whylen)
{
	unsigned long e;
	int r, fd = x->x_fd;

	ERR_clear_error();
	if ((r = SSL_do_handshake(x->x_state)) == 1)
		return TLS_DONE;
	switch (SSL_get_error(x->x_state, r)) {
	case SSL_ERROR_WANT_READ:
		x->x_can_read = false;
		return TLS_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		x->x_can_write = false;
		return TLS_AGAIN;
	}
	e = ERR_peek_last_error();
	ERR_clear_error();
	if (tls_was_plaintext(e)) {
		/* Answer in plain text on the same socket. */
		SSL_free(x->x_state);
		xport_tcp(x, fd);
		x->x_can_write = true;
		return TLS_PLAINTEXT;
	}
	if (SSL_get_verify_result(x->x_state) != X509_V_OK)
		tls_verify_why(x->x_state, why, whylen);
	else
		snprintf(why, whylen, "%s", e != 0 ?
		    ERR_reason_error_string(e) : "");
	return TLS_FAILED;
}

const char *
tls_version(const struct xport *x)
{
	if (x->x_ops != &tls_ops)
		return NULL;
	return SSL_get_version(x->x_state);
}

struct tls_client *
tls_client_new(const char *ca_file, char *err, size_t errlen)
{
	struct tls_client *tc = calloc(1, sizeof(*tc));
	unsigned long e;

	if (tc == NULL || (tc->tc_ctx = tls_ctx_new(TLS_client_method(), err,
	    errlen)) == NULL) {
		free(tc);
		return NULL;
	}
	SSL_CTX_set_verify(tc->tc_ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && !tls_regular(ca_file, err, errlen)) {
		tls_client_free(tc);
		return NULL;
	}
	if ((ca_file != NULL ? SSL_CTX_load_verify_locations(tc->tc_ctx,
	    ca_file, NULL) : SSL_CTX_set_default_verify_paths(tc->tc_ctx)) !=
	    1) {
		e = ERR_peek_error();
		ERR_clear_error();
		snprintf(err, errlen, "%s: no certificate could be read (%s)",
		    ca_file ? ca_file : "the system's certificate store",
		    e != 0 ? ERR_reason_error_string(e) : "?");
		tls_client_free(tc);
		return NULL;
	}
	return tc;
}

void
tls_client_free(struct tls_client *tc)
{
	if (tc == NULL)
		return;
	SSL_CTX_free(tc->tc_ctx);
	free(tc);
}

int
tls_connect(struct xport *x, struct tls_client *tc, const char *host)
{
	SSL *ssl = SSL_new(tc->tc_ctx);
	unsigned char ip[16];
	bool literal = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;

	if (ssl == NULL || SSL_set_fd(ssl, x->x_fd) != 1 ||
	    (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    host) != 1 : SSL_set1_host(ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1)) {
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	SSL_set_connect_state(ssl);
	x->x_state = ssl;
	x->x_ops = &tls_ops;
	return 0;
}
