/* SPDX-License-Identifier: MIT */
/* Proxy URLs and the PROXY_* variables; see proxyurl.h. Written by hand:
 * libcurl's URL API would do the parsing but is a large dependency for one
 * string, and no Debian library does the variable conventions. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxyurl.h"

#define PROXYURL_MAX_SECRET 4096

void
proxyurl_free(struct proxyurl *u)
{
	free(u->pu_host);
	if (u->pu_user != NULL)
		explicit_bzero(u->pu_user, strlen(u->pu_user));
	free(u->pu_user);
	if (u->pu_pass != NULL)
		explicit_bzero(u->pu_pass, strlen(u->pu_pass));
	free(u->pu_pass);
	memset(u, 0, sizeof(*u));
}

static int
proxyurl_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

static int
proxyurl_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode `len` bytes into a new string; NULL when malformed. */
static char *
proxyurl_decode(const char *s, size_t len)
{
	char *r = malloc(len + 1);
	size_t i, o = 0;

	if (r == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			/* %00 is refused: a NUL cannot be in a C string. */
			if (i + 2 >= len ||
			    (hi = proxyurl_hex(s[i + 1])) < 0 ||
			    (lo = proxyurl_hex(s[i + 2])) < 0 || (hi | lo) == 0)
				goto bad;
			r[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			r[o++] = s[i];
	}
	r[o] = '\0';
	return r;
bad:
	explicit_bzero(r, len + 1);
	free(r);
	return NULL;
}

static int
proxyurl_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* A host a URL can carry back: a name or IPv4 address of [A-Za-z0-9.-_],
 * or (bracketed in the URL) an IPv6 address. */
static bool
proxyurl_bad_host(const char *h, bool v6)
{
	struct in6_addr a;
	size_t i;

	if (v6)
		return inet_pton(AF_INET6, h, &a) != 1;
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' &&
		    h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		    h[i] == '.' || h[i] == '-' || h[i] == '_'))
			return true;
	return false;
}

/* The credentials of the userinfo [p, at), percent-decoded into pu_user
 * and (after the first ':') pu_pass. Returns 0, or -1 with a message that
 * repeats none of it. */
static int
proxyurl_userinfo(const char *p, const char *at, struct proxyurl *u,
    char *err, size_t errlen)
{
	const char *c = memchr(p, ':', (size_t)(at - p));

	u->pu_user = proxyurl_decode(p, (size_t)((c ? c : at) - p));
	if (c != NULL)
		u->pu_pass = proxyurl_decode(c + 1, (size_t)(at - c - 1));
	if (u->pu_user == NULL || (c != NULL && u->pu_pass == NULL))
		return proxyurl_fail(err, errlen, "malformed "
		    "percent-encoding in the proxy credentials");
	return 0;
}

/* The host of [hs, end), a name, an IPv4 address or a bracketed IPv6 one,
 * into pu_host, with the ':' before a port (or NULL) in *colon. Returns 0,
 * or -1 with a message. */
static int
proxyurl_host(const char *hs, const char *end, struct proxyurl *u,
    const char **colon, char *err, size_t errlen)
{
	const char *he;

	if (*hs == '[') {
		he = memchr(hs, ']', (size_t)(end - hs));
		if (he == NULL)
			return proxyurl_fail(err, errlen,
			    "malformed IPv6 address in the proxy URL");
		*colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
		if (he + 1 != end && *colon == NULL)
			return proxyurl_fail(err, errlen,
			    "malformed proxy URL after the IPv6 address");
		u->pu_host = strndup(hs + 1, (size_t)(he - hs - 1));
	} else {
		*colon = memchr(hs, ':', (size_t)(end - hs));
		he = *colon ? *colon : end;
		u->pu_host = strndup(hs, (size_t)(he - hs));
	}
	if (u->pu_host == NULL || u->pu_host[0] == '\0')
		return proxyurl_fail(err, errlen, "the proxy URL has no host");
	if (proxyurl_bad_host(u->pu_host, *hs == '['))
		return proxyurl_fail(err, errlen,
		    "the proxy URL's host is not a name or an address");
	return 0;
}

int
proxyurl_parse(const char *url, struct proxyurl *u, char *err, size_t errlen)
{
	const char *p = url, *end, *at, *hs, *colon;

	memset(u, 0, sizeof(*u));
	u->pu_port = 3128;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncmp(p, "https://", 8) == 0) {
		p += 8;
		u->pu_tls = true;
		u->pu_port = 443;
	} else if (strstr(p, "://") != NULL || strncasecmp(p, "http:", 5) ==
	    0 || strncasecmp(p, "https:", 6) == 0)
		return proxyurl_fail(err, errlen,
		    "the proxy URL must start with http:// or https://");
	end = p + strcspn(p, "/?#");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return proxyurl_fail(err, errlen,
		    "the proxy URL must not have a path");
	/* The last '@' ends the userinfo: a password may contain '@'
	 * unencoded in sloppy URLs, a host never does. */
	at = NULL;
	for (hs = p; hs < end; hs++)
		if (*hs == '@')
			at = hs;
	hs = p;
	if (at != NULL) {
		if (proxyurl_userinfo(p, at, u, err, errlen) == -1)
			goto fail;
		hs = at + 1;
	}
	if (proxyurl_host(hs, end, u, &colon, err, errlen) == -1)
		goto fail;
	if (colon != NULL && proxyurl_port(colon + 1,
	    (size_t)(end - colon - 1), &u->pu_port) == -1) {
		proxyurl_fail(err, errlen, "the proxy URL has an invalid port");
		goto fail;
	}
	return 0;
fail:
	proxyurl_free(u);
	return -1;
}

const char *
proxyurl_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* Read a secret file: one value, one trailing newline removed. */
/* The contents of the credential file `path` (one trailing newline
 * dropped), or NULL with errno set: a directory is EISDIR, a file larger
 * than a secret can be is EFBIG. */
static char *
proxyurl_read_file(const char *path)
{
	char *buf = malloc(PROXYURL_MAX_SECRET + 2);
	size_t off = 0;
	struct stat st;
	ssize_t n;
	int fd, e;

	if (buf == NULL)
		return NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	while (off <= PROXYURL_MAX_SECRET &&
	    (n = read(fd, buf + off, PROXYURL_MAX_SECRET + 1 - off)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (off > PROXYURL_MAX_SECRET) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	if (off > 0 && buf[off - 1] == '\n')
		off--;
	if (off > 0 && buf[off - 1] == '\r')
		off--;
	buf[off] = '\0';
	return buf;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	explicit_bzero(buf, off);
	free(buf);
	errno = e;
	return NULL;
}

/* The value of `name` by the three conventions, as a new string in *out
 * (NULL when absent). *how says where it came from, for messages. Returns 0,
 * or -1 with a message in `err` when a file named for it cannot be read (a
 * missing file is an error, not an absent variable: someone named it). */
static int
proxyurl_var(proxyurl_lookup *get, void *ctx, const char *name,
    const char **how, char **out, char *err, size_t errlen)
{
	char key[64], path[PATH_MAX];
	const char *v, *dir;

	*out = NULL;
	if ((v = get(ctx, name)) != NULL) {
		*how = "";
		if ((*out = strdup(v)) == NULL)
			return proxyurl_fail(err, errlen, "out of memory");
		return 0;
	}
	snprintf(key, sizeof(key), "%s_FILE", name);
	if ((v = get(ctx, key)) != NULL) {
		*how = " (from the file named by _FILE)";
		if ((*out = proxyurl_read_file(v)) == NULL) {
			snprintf(err, errlen, "%s names %s: %s", key, v,
			    errno == EFBIG ? "larger than a credential can be "
			    "(4 KiB)" : strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((dir = get(ctx, "CREDENTIALS_DIRECTORY")) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, F_OK) == 0) {
			*how = " (from $CREDENTIALS_DIRECTORY)";
			if ((*out = proxyurl_read_file(path)) == NULL) {
				snprintf(err, errlen, "$CREDENTIALS_DIRECTORY/%s: "
				    "%s", name, errno == EFBIG ? "larger than a "
				    "credential can be (4 KiB)" : strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

/* PROXY_HOST into pu_host: a bare name or address, IPv6 perhaps bracketed
 * as in a URL. Returns 0, or -1 with a message. */
static int
proxyurl_host_var(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen)
{
	const char *how = "";

	if (proxyurl_var(get, ctx, "PROXY_HOST", &how, &u->pu_host, err,
	    errlen) == -1)
		return -1;
	if (u->pu_host == NULL || u->pu_host[0] == '\0')
		return proxyurl_fail(err, errlen, "PROXY_HOST is not set");
	/* An IPv6 address may come bracketed, as in a URL. */
	if (u->pu_host[0] == '[' && u->pu_host[strlen(u->pu_host) - 1] == ']') {
		size_t hl = strlen(u->pu_host);

		memmove(u->pu_host, u->pu_host + 1, hl - 2);
		u->pu_host[hl - 2] = '\0';
	}
	/* The same rule as a URL's host, so that what `sluice url` prints
	 * parses back (an empty "[]" or a lone "[" must not). */
	if (u->pu_host[0] == '\0' || proxyurl_bad_host(u->pu_host,
	    strchr(u->pu_host, ':') != NULL))
		return proxyurl_fail(err, errlen, "PROXY_HOST must be a bare "
		    "host name or address");
	return 0;
}

/* PROXY_SCHEME into pu_tls: http (the default) or https. Returns 0, or -1
 * with a message. */
static int
proxyurl_scheme_var(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen)
{
	const char *how = "";
	char *v;
	int r = 0;

	/* From the same places as the other variables: a scheme that
	 * silently fell back to http would send the password in clear. */
	if (proxyurl_var(get, ctx, "PROXY_SCHEME", &how, &v, err, errlen) ==
	    -1)
		return -1;
	if (v != NULL && strcmp(v, "https") == 0)
		u->pu_tls = true;
	else if (v != NULL && v[0] != '\0' && strcmp(v, "http") != 0) {
		snprintf(err, errlen, "PROXY_SCHEME%s must be http or https",
		    how);
		r = -1;
	}
	free(v);
	return r;
}

/* PROXY_PORT into pu_port. Returns 0, or -1 with a message. */
static int
proxyurl_port_var(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen)
{
	const char *how = "";
	char *port;

	if (proxyurl_var(get, ctx, "PROXY_PORT", &how, &port, err, errlen) ==
	    -1)
		return -1;
	if (port == NULL)
		return proxyurl_fail(err, errlen, "PROXY_PORT is not set");
	if (proxyurl_port(port, strlen(port), &u->pu_port) == -1) {
		free(port);
		snprintf(err, errlen, "PROXY_PORT%s is not a port number "
		    "(1-65535)", how);
		return -1;
	}
	free(port);
	return 0;
}

/* PROXY_USER and PROXY_PASS into pu_user and pu_pass: both or neither,
 * and a user that Basic authentication can carry. Returns 0, or -1 with a
 * message that repeats neither. */
static int
proxyurl_cred_vars(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen)
{
	const char *how = "";

	if (proxyurl_var(get, ctx, "PROXY_USER", &how, &u->pu_user, err,
	    errlen) == -1 || proxyurl_var(get, ctx, "PROXY_PASS", &how,
	    &u->pu_pass, err, errlen) == -1)
		return -1;
	if ((u->pu_user == NULL) != (u->pu_pass == NULL)) {
		snprintf(err, errlen, "%s is not set (PROXY_USER and PROXY_PASS "
		    "go together)", u->pu_user ? "PROXY_PASS" : "PROXY_USER");
		return -1;
	}
	if (u->pu_user != NULL && u->pu_user[0] == '\0')
		return proxyurl_fail(err, errlen, "PROXY_USER is empty");
	if (u->pu_user != NULL && strchr(u->pu_user, ':') != NULL)
		return proxyurl_fail(err, errlen, "PROXY_USER contains ':', "
		    "which Basic authentication cannot carry");
	return 0;
}

int
proxyurl_from_vars(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (proxyurl_scheme_var(u, get, ctx, err, errlen) == -1 ||
	    proxyurl_host_var(u, get, ctx, err, errlen) == -1 ||
	    proxyurl_port_var(u, get, ctx, err, errlen) == -1 ||
	    proxyurl_cred_vars(u, get, ctx, err, errlen) == -1) {
		proxyurl_free(u);
		return -1;
	}
	return 0;
}

/* Is k[0..len) a shell variable name? */
static bool
proxyurl_envfile_name(const char *k, size_t len)
{
	size_t i;

	if (len == 0 || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (i = 0; i < len; i++)
		if (!(k[i] == '_' || (k[i] >= 'A' && k[i] <= 'Z') ||
		    (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9')))
			return false;
	return true;
}

/* Append KEY=VALUE to `ef`. Returns 0, or -1 when out of memory. */
static int
proxyurl_envfile_add(struct proxyurl_envfile *ef, const char *k, size_t klen,
    const char *v, size_t vlen)
{
	char **keys, **values, *key, *value;

	keys = realloc(ef->pe_keys, (ef->pe_count + 1) * sizeof(*keys));
	if (keys != NULL)
		ef->pe_keys = keys;
	values = realloc(ef->pe_values, (ef->pe_count + 1) * sizeof(*values));
	if (values != NULL)
		ef->pe_values = values;
	key = strndup(k, klen);
	value = strndup(v, vlen);
	if (keys == NULL || values == NULL || key == NULL || value == NULL) {
		free(key);
		free(value);
		return -1;
	}
	ef->pe_keys[ef->pe_count] = key;
	ef->pe_values[ef->pe_count] = value;
	ef->pe_count++;
	return 0;
}

/* Append `s` percent-encoded: RFC 3986 unreserved characters stay. */
static int
proxyurl_encode(const char *s, char *buf, size_t len, size_t *o)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			if (*o + 1 >= len)
				return -1;
			buf[(*o)++] = (char)c;
		} else {
			if (*o + 3 >= len)
				return -1;
			buf[(*o)++] = '%';
			buf[(*o)++] = hex[c >> 4];
			buf[(*o)++] = hex[c & 15];
		}
	}
	return 0;
}

int
proxyurl_format(const struct proxyurl *u, bool creds, char *buf, size_t len)
{
	size_t o = 0;
	int n;

	if (len < 9)
		return -1;
	o = (size_t)snprintf(buf, len, "%s", u->pu_tls ? "https://" :
	    "http://");
	if (creds && u->pu_user != NULL) {
		if (proxyurl_encode(u->pu_user, buf, len, &o) == -1)
			return -1;
		if (u->pu_pass != NULL) {
			if (o + 1 >= len)
				return -1;
			buf[o++] = ':';
			if (proxyurl_encode(u->pu_pass, buf, len, &o) == -1)
				return -1;
		}
		if (o + 1 >= len)
			return -1;
		buf[o++] = '@';
	}
	n = snprintf(buf + o, len - o, strchr(u->pu_host, ':') ? "[%s]:%u" :
	    "%s:%u", u->pu_host, (unsigned)u->pu_port);
	if (n < 0 || (size_t)n >= len - o)
		return -1;
	return (int)(o + (size_t)n);
}

void
proxyurl_envfile_free(struct proxyurl_envfile *ef)
{
	size_t i;

	for (i = 0; i < ef->pe_count; i++) {
		free(ef->pe_keys[i]);
		explicit_bzero(ef->pe_values[i], strlen(ef->pe_values[i]));
		free(ef->pe_values[i]);
	}
	free(ef->pe_keys);
	free(ef->pe_values);
	memset(ef, 0, sizeof(*ef));
}

int
proxyurl_envfile_parse(struct proxyurl_envfile *ef, const char *buf,
    size_t len, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *nl;
	unsigned line = 0;

	memset(ef, 0, sizeof(*ef));
	for (; p < end; p = nl + 1) {
		const char *k, *eq, *v, *ve;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line++;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		ve = nl;
		while (ve > p && (ve[-1] == '\r' || ve[-1] == ' ' ||
		    ve[-1] == '\t'))
			ve--;
		if (p == ve || *p == '#')
			continue;
		if (ve - p > 7 && strncmp(p, "export ", 7) == 0)
			for (p += 7; *p == ' ' || *p == '\t'; p++)
				continue;
		k = p;
		if ((eq = memchr(p, '=', (size_t)(ve - p))) == NULL ||
		    !proxyurl_envfile_name(k, (size_t)(eq - k))) {
			/* "KEY =value" would set "KEY " and leave KEY unset. */
			snprintf(err, errlen, "line %u: expected KEY=VALUE (a "
			    "variable name, then '=' with no space before it)",
			    line);
			proxyurl_envfile_free(ef);
			return -1;
		}
		v = eq + 1;
		if (ve - v >= 2 && (*v == '\'' || *v == '"') && ve[-1] == *v) {
			v++;
			ve--;
		}
		if (proxyurl_envfile_add(ef, k, (size_t)(eq - k), v,
		    (size_t)(ve - v)) == -1) {
			snprintf(err, errlen, "out of memory");
			proxyurl_envfile_free(ef);
			return -1;
		}
	}
	return 0;
}

const char *
proxyurl_envfile_get(void *ctx, const char *name)
{
	const struct proxyurl_envfile *ef = ctx;
	size_t i;

	for (i = ef->pe_count; i > 0; i--)	/* the last one wins */
		if (strcmp(ef->pe_keys[i - 1], name) == 0)
			return ef->pe_values[i - 1];
	return getenv(name);
}

int
proxyurl_envfile_load(struct proxyurl_envfile *ef, const char *path,
    char *err, size_t errlen)
{
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd, r;

	memset(ef, 0, sizeof(*ef));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s", strerror(errno));
			close(fd);
			explicit_bzero(buf, len);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof(buf)) {
		snprintf(err, errlen, "larger than %zu bytes", sizeof(buf) - 1);
		explicit_bzero(buf, len);
		return -1;
	}
	r = proxyurl_envfile_parse(ef, buf, len, err, errlen);
	explicit_bzero(buf, len);
	return r;
}

bool
proxyurl_names_secret_file(const char *name, size_t len)
{
	static const char dir[] = "CREDENTIALS_DIRECTORY";

	if (len == sizeof(dir) - 1 && memcmp(name, dir, len) == 0)
		return true;
	return len > 11 && memcmp(name, "PROXY_", 6) == 0 &&
	    memcmp(name + len - 5, "_FILE", 5) == 0;
}
