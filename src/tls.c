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
#include <pthread.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"
#include "xport.h"

static const struct xport_ops tls_ops, tls_over_ops;

/* Is `x` TLS, on its socket or inside a tunnel? */
static bool
tls_transport(const struct xport *x)
{
	return x->x_ops == &tls_ops || x->x_ops == &tls_over_ops;
}

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

/* Is `file` a regular file we may read? A FIFO or a device would block
 * the thread that loads it (the control thread, during a reload) or never
 * end; one we may not read must say so, not "not a PEM file" (a reload
 * runs as the unprivileged user). */
static bool
tls_regular(const char *file, char *err, size_t errlen)
{
	struct stat st;

	if (stat(file, &st) == -1 || access(file, R_OK) == -1) {
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
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_ENABLE_KTLS);
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
	else if (ERR_SYSTEM_ERROR(e))
		snprintf(err, errlen, "%s: %s", file,
		    strerror(ERR_GET_REASON(e)));
	else
		snprintf(err, errlen, "%s: %s (%s)", file, what, e != 0 &&
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	tls_server_free(ts);
	return NULL;
}

/* Go on with whatever certificate the client shows: tls_peer refuses it
 * later, with the reason, in an HTTP answer the client can read (a failed
 * handshake would only say "alert"). The first failure is the cause (a
 * foreign CA sent along fails the CRL check too, later): it is kept in the
 * connection's app data, plus one. */
static int
tls_verify_later(int ok, X509_STORE_CTX *ctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(ctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());

	if (!ok && ssl != NULL && SSL_get_app_data(ssl) == NULL)
		SSL_set_app_data(ssl, (void *)(uintptr_t)
		    (X509_STORE_CTX_get_error(ctx) + 1));
	return 1;
}

/* "FILE: no ... could be read (why)". Returns false. */
static bool
tls_unreadable(const char *file, const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_peek_error();

	ERR_clear_error();
	snprintf(err, errlen, "%s: no %s could be read (%s)", file, what,
	    e != 0 ? ERR_reason_error_string(e) : "no PEM block in it");
	return false;
}

/* Revocation: every client certificate is checked against the CRLs in
 * `crl`, which must then hold one for each CA that signs them (without,
 * OpenSSL refuses the certificate: "unable to get certificate CRL"). */
static bool
tls_server_crl(SSL_CTX *ctx, const char *crl, char *err, size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu;

	if (!tls_regular(crl, err, errlen))
		return false;
	if ((lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) == NULL ||
	    X509_load_crl_file(lu, crl, X509_FILETYPE_PEM) <= 0)
		return tls_unreadable(crl, "CRL", err, errlen);
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	return true;
}

/* Ask clients for a certificate signed by a CA of `f->tf_client_ca` (they
 * may go on without one). */
static bool
tls_server_clients(SSL_CTX *ctx, const struct tls_server_files *f,
    char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;

	if (!tls_regular(f->tf_client_ca, err, errlen))
		return false;
	if (SSL_CTX_load_verify_locations(ctx, f->tf_client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(f->tf_client_ca)) == NULL)
		return tls_unreadable(f->tf_client_ca, "CA certificate", err,
		    errlen);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
	    tls_verify_later);
	return f->tf_crl == NULL || tls_server_crl(ctx, f->tf_crl, err,
	    errlen);
}

struct tls_server *
tls_server_new(const struct tls_server_files *f, char *err, size_t errlen)
{
	struct tls_server *ts = calloc(1, sizeof(*ts));

	if (ts == NULL || (ts->ts_ctx = tls_ctx_new(TLS_server_method(), err,
	    errlen)) == NULL) {
		free(ts);
		return NULL;
	}
	SSL_CTX_set_options(ts->ts_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* One ticket per full handshake (OpenSSL sends two: a ticket
	 * encryption per cycle saved), and records read whole instead of
	 * header, then body (half the reads). About 5 % of the CPU of a
	 * handshake + CONNECT cycle, measured A/B with bench/loadgen -S. */
	SSL_CTX_set_num_tickets(ts->ts_ctx, 1);
	SSL_CTX_set_read_ahead(ts->ts_ctx, 1);
	SSL_CTX_set_session_cache_mode(ts->ts_ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ts->ts_ctx,
	    (const unsigned char *)"sluice", 6);
	SSL_CTX_set_alpn_select_cb(ts->ts_ctx, tls_alpn, NULL);
	SSL_CTX_set_default_passwd_cb(ts->ts_ctx, tls_no_passphrase);
	if (!tls_regular(f->tf_cert, err, errlen) ||
	    !tls_regular(f->tf_key, err, errlen) || (f->tf_client_ca != NULL &&
	    !tls_server_clients(ts->ts_ctx, f, err, errlen))) {
		tls_server_free(ts);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ts->ts_ctx, f->tf_cert) != 1)
		return tls_server_fail(ts, f->tf_cert, "not a PEM certificate "
		    "chain", err, errlen);
	if (SSL_CTX_use_PrivateKey_file(ts->ts_ctx, f->tf_key,
	    SSL_FILETYPE_PEM) != 1)
		return tls_server_fail(ts, f->tf_key, "not a PEM private key",
		    err, errlen);
	if (SSL_CTX_check_private_key(ts->ts_ctx) != 1)
		return tls_server_fail(ts, f->tf_key, "not the key of the "
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
	x->x_splice_in = x->x_splice_out = false;
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

/* With kernel TLS sending (SSL_OP_ENABLE_KTLS took on this socket), the
 * kernel encrypts what is written to the socket, so splice(2) may write
 * tunnel bytes there. Receiving stays with SSL_read even when the kernel
 * decrypts: a record that is not data (an alert) fails a splice, and the
 * bytes read before it would be stranded in the pipe. */
static void
tls_offload(struct xport *x)
{
	x->x_splice_out = BIO_get_ktls_send(SSL_get_wbio(x->x_state)) > 0;
}

bool
tls_kernel(const struct xport *x)
{
	return x->x_ops == &tls_ops && x->x_splice_out;
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
	if ((r = SSL_do_handshake(x->x_state)) == 1) {
		tls_offload(x);
		return TLS_DONE;
	}
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
	if (x->x_ops == &tls_ops && tls_was_plaintext(e)) {
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

/* Is the UTF-8 at `u` (n bytes) a character that may appear in a name
 * that logs and traces print: no control character (C0, DEL, C1), no line
 * or paragraph separator, no bidirectional override or isolate, no
 * zero-width character? */
static bool
tls_name_char(const unsigned char *u, int n)
{
	if (u[0] < 0x20 || u[0] == 0x7f)
		return false;
	if (n >= 2 && u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
		return false;
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && ((u[2] >= 0x8b &&
	    u[2] <= 0x8f) || (u[2] >= 0xa8 && u[2] <= 0xae)))
		return false;
	return !(n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] >= 0xa6 &&
	    u[2] <= 0xa9);
}

/* Copy the identity `s` to `name`: UTF-8, printable, short enough, and not
 * "-" (the log's "nobody"). */
static bool
tls_name_copy(const ASN1_STRING *s, char *name, size_t namelen, char *why,
    size_t whylen)
{
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, s), i;
	bool ok = n > 0 && (size_t)n < namelen && !(n == 1 && u[0] == '-');

	for (i = 0; ok && i < n; i++)
		ok = tls_name_char(u + i, n - i);
	if (ok)
		memcpy(name, u, (size_t)n + 1);
	else
		snprintf(why, whylen, "the certificate's identity is %s",
		    n <= 0 ? "empty or unreadable" : (size_t)n >= namelen ?
		    "too long" : "not printable");
	OPENSSL_free(u);
	return ok;
}

/* The subject's one commonName. */
static bool
tls_peer_cn(X509 *cert, char *name, size_t namelen, char *why,
    size_t whylen)
{
	const X509_NAME *subj = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

	if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0) {
		snprintf(why, whylen, "the certificate has %s commonName", i < 0 ?
		    "no" : "more than one");
		return false;
	}
	return tls_name_copy(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj,
	    i)), name, namelen, why, whylen);
}

/* The one subjectAltName of the kind `id` asks for: two would leave the
 * choice of identity to whoever ordered them. */
static bool
tls_peer_san(X509 *cert, enum tls_identity id, char *name, size_t namelen,
    char *why, size_t whylen)
{
	static const int types[] = { [TLS_ID_DNS] = GEN_DNS,
	    [TLS_ID_EMAIL] = GEN_EMAIL, [TLS_ID_URI] = GEN_URI };
	static const char *const kinds[] = { [TLS_ID_DNS] = "DNS",
	    [TLS_ID_EMAIL] = "email", [TLS_ID_URI] = "URI" };
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	const ASN1_IA5STRING *found = NULL;
	int i, n = 0;
	bool ok;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == types[id] && n++ == 0)
			found = g->d.ia5;
	}
	if (n != 1)
		snprintf(why, whylen, "the certificate has %s subjectAltName "
		    "of type %s", n == 0 ? "no" : "more than one", kinds[id]);
	ok = n == 1 && tls_name_copy(found, name, namelen, why, whylen);
	GENERAL_NAMES_free(gens);
	return ok;
}

/* The identity of kind `id` that `cert` carries. */
static bool
tls_peer_name(X509 *cert, enum tls_identity id, char *name, size_t namelen,
    char *why, size_t whylen)
{
	return id == TLS_ID_CN ? tls_peer_cn(cert, name, namelen, why, whylen) :
	    tls_peer_san(cert, id, name, namelen, why, whylen);
}

/* Why a client certificate did not verify, in the words of the person
 * who set up the CA (OpenSSL's, where they say enough). */
static const char *
tls_peer_error(long v)
{
	switch (v) {
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "signed by a CA that tls_client_ca does not hold";
	case X509_V_ERR_INVALID_PURPOSE:
		return "not a certificate for client authentication (its "
		    "extendedKeyUsage lacks clientAuth)";
	default:
		return X509_verify_cert_error_string(v);
	}
}

/* Verify `cert` (with the chain the client sent) against the CAs and
 * CRLs of `ctx`, for client authentication. */
static bool
tls_verify_again(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain, char *why,
    size_t whylen)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	bool ok = vc != NULL && X509_STORE_CTX_init(vc,
	    SSL_CTX_get_cert_store(ctx), cert, chain) == 1 &&
	    X509_STORE_CTX_set_default(vc, "ssl_client") == 1 &&
	    X509_verify_cert(vc) == 1;

	if (!ok)
		snprintf(why, whylen, "%s", vc != NULL ? tls_peer_error(
		    X509_STORE_CTX_get_error(vc)) : "out of memory");
	X509_STORE_CTX_free(vc);
	ERR_clear_error();
	return ok;
}

enum tls_peer
tls_peer(const struct xport *x, enum tls_identity id, char *name,
    size_t namelen, char *why, size_t whylen)
{
	X509 *cert;
	long v;

	if (x->x_ops != &tls_ops ||
	    (cert = SSL_get0_peer_certificate(x->x_state)) == NULL)
		return TLS_PEER_NONE;
	if ((v = SSL_get_verify_result(x->x_state)) != X509_V_OK) {
		if (SSL_get_app_data(x->x_state) != NULL)
			v = (long)(uintptr_t)SSL_get_app_data(x->x_state) - 1;
		snprintf(why, whylen, "%s", tls_peer_error(v));
		return TLS_PEER_REFUSED;
	}
	/* A resumed session carries the verdict of its first handshake:
	 * the certificate may have expired since, or the CRL gone stale. */
	if (SSL_session_reused(x->x_state) && !tls_verify_again(
	    SSL_get_SSL_CTX(x->x_state), cert, SSL_get_peer_cert_chain(
	    x->x_state), why, whylen))
		return TLS_PEER_REFUSED;
	if (!tls_peer_name(cert, id, name, namelen, why, whylen))
		return TLS_PEER_REFUSED;
	return TLS_PEER_NAMED;
}

bool
tls_peer_recheck(const struct xport *x, const struct tls_server *ts,
    enum tls_identity id, const char *name, char *why, size_t whylen)
{
	char now[256];
	X509 *cert;

	if (x->x_ops != &tls_ops ||
	    (cert = SSL_get0_peer_certificate(x->x_state)) == NULL) {
		snprintf(why, whylen, "no client certificate");
		return false;
	}
	if (ts == NULL || !(SSL_CTX_get_verify_mode(ts->ts_ctx) &
	    SSL_VERIFY_PEER)) {
		snprintf(why, whylen, "client certificates are no longer "
		    "taken (tls_client_ca)");
		return false;
	}
	if (!tls_verify_again(ts->ts_ctx, cert, SSL_get_peer_cert_chain(
	    x->x_state), why, whylen))
		return false;
	if (!tls_peer_name(cert, id, now, sizeof(now), why, whylen))
		return false;
	if (strcmp(now, name) != 0) {
		snprintf(why, whylen, "the certificate now names %s "
		    "(tls_client_identity changed)", now);
		return false;
	}
	return true;
}

const char *
tls_version(const struct xport *x)
{
	if (!tls_transport(x))
		return NULL;
	return SSL_get_version(x->x_state);
}

int
tls_file_expiry(const char *file, bool crl, time_t *when)
{
	const ASN1_TIME *t = NULL;
	X509_CRL *list = NULL;
	X509 *cert = NULL;
	struct tm tm;
	FILE *fp;
	int r = -1;

	if ((fp = fopen(file, "re")) == NULL)
		return -1;
	if (crl && (list = PEM_read_X509_CRL(fp, NULL, tls_no_passphrase,
	    NULL)) != NULL)
		t = X509_CRL_get0_nextUpdate(list);
	else if (!crl && (cert = PEM_read_X509(fp, NULL, tls_no_passphrase,
	    NULL)) != NULL)
		t = X509_get0_notAfter(cert);
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1) {
		*when = timegm(&tm);
		r = 0;
	}
	X509_CRL_free(list);
	X509_free(cert);
	fclose(fp);
	ERR_clear_error();
	return r;
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
	/* The name must be in subjectAltName: no fallback to the subject's
	 * CN, which current clients dropped long ago. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	SSL_set_connect_state(ssl);
	x->x_state = ssl;
	x->x_ops = &tls_ops;
	x->x_splice_in = x->x_splice_out = false;
	return 0;
}

/* TLS inside a tunnel (tls_connect_over): OpenSSL reads and writes the
 * records through a BIO of ours that calls the transport underneath. The
 * BIO tries that transport whenever OpenSSL asks (readiness is only known
 * for the shared socket, which the TLS on top waits for); its EAGAIN is
 * OpenSSL's retry. */
static BIO_METHOD *tls_over_method;
static pthread_once_t tls_over_once = PTHREAD_ONCE_INIT;

static int
tls_over_write(BIO *b, const char *p, size_t len, size_t *done)
{
	struct xport *under = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	under->x_can_write = true;
	if ((n = xport_write(under, p, len)) == -1)
		return 0;
	if (n == 0) {
		BIO_set_retry_write(b);
		return 0;
	}
	*done = (size_t)n;
	return 1;
}

static int
tls_over_read(BIO *b, char *p, size_t len, size_t *done)
{
	struct xport *under = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	under->x_can_read = true;
	if ((n = xport_read(under, p, len)) > 0) {
		*done = (size_t)n;
		return 1;
	}
	if (n == -1 && errno == EAGAIN)
		BIO_set_retry_read(b);
	return 0;
}

/* Only a flush has to succeed (the writes went out already). */
static long
tls_over_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
tls_over_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
tls_over_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() |
	    BIO_TYPE_SOURCE_SINK, "sluice tunnel");

	if (m == NULL || BIO_meth_set_write_ex(m, tls_over_write) != 1 ||
	    BIO_meth_set_read_ex(m, tls_over_read) != 1 ||
	    BIO_meth_set_ctrl(m, tls_over_ctrl) != 1 ||
	    BIO_meth_set_create(m, tls_over_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_over_method = m;
}

/* close_notify only: the tunnel's end belongs to the transport under. */
static int
tls_over_shutdown(struct xport *x)
{
	ERR_clear_error();
	(void)SSL_shutdown(x->x_state);
	ERR_clear_error();
	return 0;
}

/* The socket is the transport under's. */
static void
tls_over_close(struct xport *x)
{
	SSL_free(x->x_state);
	x->x_state = NULL;
}

static const struct xport_ops tls_over_ops = {
	.xo_name = "tls-in-tunnel",
	.xo_read = tls_read,
	.xo_write = tls_write,
	.xo_shutdown = tls_over_shutdown,
	.xo_close = tls_over_close,
};

int
tls_connect_over(struct xport *x, struct xport *under,
    struct tls_client *tc, const char *host)
{
	struct xport tmp = { .x_fd = under->x_fd };
	BIO *bio;

	if (pthread_once(&tls_over_once, tls_over_init) != 0 ||
	    tls_over_method == NULL ||
	    (bio = BIO_new(tls_over_method)) == NULL)
		return -1;
	BIO_set_data(bio, under);
	if (tls_connect(&tmp, tc, host) == -1) {
		BIO_free(bio);
		return -1;
	}
	SSL_set_bio(tmp.x_state, bio, bio);
	*x = tmp;
	x->x_ops = &tls_over_ops;
	x->x_can_read = x->x_can_write = true;
	return 0;
}

enum tls_refusal
tls_refusal(const struct xport *x)
{
	if (!tls_transport(x))
		return TLS_REFUSAL_NONE;
	switch (SSL_get_verify_result(x->x_state)) {
	case X509_V_OK:
		return TLS_REFUSAL_NONE;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return TLS_REFUSAL_ISSUER;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_REFUSAL_EXPIRED;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return TLS_REFUSAL_NAME;
	default:
		return TLS_REFUSAL_OTHER;
	}
}
