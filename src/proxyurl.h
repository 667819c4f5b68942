/* SPDX-License-Identifier: MIT */
/* Proxy URLs (`http://user:pass@host:port`): parsed with percent-decoding of
 * the credentials, built from the PROXY_HOST, PROXY_PORT, PROXY_USER and
 * PROXY_PASS variables the way the seed's get_proxy_url() did (each also from
 * NAME_FILE or $CREDENTIALS_DIRECTORY/NAME), and formatted with RFC 3986
 * percent-encoding so any password survives every client. Error messages
 * name variables, never their secret values. */
#ifndef SLUICE_PROXYURL_H
#define SLUICE_PROXYURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proxyurl {
	char		*pu_host;	/* IPv6 without brackets */
	uint16_t	 pu_port;
	char		*pu_user;	/* decoded; NULL when absent */
	char		*pu_pass;	/* decoded; NULL when absent */
	bool		 pu_tls;	/* https://: TLS to the proxy */
};

/* Where variables come from: returns the value of `name` or NULL. */
typedef const char *proxyurl_lookup(void *ctx, const char *name);

/* Parse `url` ("http://" optional, or "https://" for TLS to the proxy;
 * port default 3128, 443 for https). Returns 0, or -1 with a message in
 * `err` that does not contain the password. */
int proxyurl_parse(const char *url, struct proxyurl *u, char *err,
    size_t errlen);

/* Build from PROXY_SCHEME (http, the default, or https), PROXY_HOST,
 * PROXY_PORT, PROXY_USER, PROXY_PASS found through
 * `get` (for each NAME: NAME, else the file named by NAME_FILE, else
 * $CREDENTIALS_DIRECTORY/NAME). Host and port are required; user and
 * password are optional but go together. Returns 0, or -1 with a message
 * naming the missing or malformed variable. */
int proxyurl_from_vars(struct proxyurl *u, proxyurl_lookup *get, void *ctx,
    char *err, size_t errlen);

/* The environment as a lookup function (ctx unused). */
const char *proxyurl_getenv(void *ctx, const char *name);

/* Format "http[s]://USER:PASS@HOST:PORT" (credentials percent-encoded, left out
 * when `creds` is false or absent). Returns the length, or -1 if it did not
 * fit. */
int proxyurl_format(const struct proxyurl *u, bool creds, char *buf,
    size_t len);

/* Free and wipe. */
void proxyurl_free(struct proxyurl *u);

/* KEY=VALUE lines (an env file: '#' comments, optional "export ", values
 * optionally in single or double quotes). */
struct proxyurl_envfile {
	char	**pe_keys;
	char	**pe_values;
	size_t	  pe_count;
};

/* Parse the text of an env file. Returns 0, or -1 with "line N: message"
 * in `err` (never quoting a value). No I/O. */
int proxyurl_envfile_parse(struct proxyurl_envfile *ef, const char *buf,
    size_t len, char *err, size_t errlen);

/* Read the env file at `path` (at most 64 KiB) and parse it. Returns 0,
 * or -1 with a message in `err` (a strerror or "line N: ...", never a
 * value). */
int proxyurl_envfile_load(struct proxyurl_envfile *ef, const char *path,
    char *err, size_t errlen);

/* Does the variable `name` (`len` bytes) name a file or directory that
 * holds credentials by the conventions above: PROXY_*_FILE or
 * CREDENTIALS_DIRECTORY? */
bool proxyurl_names_secret_file(const char *name, size_t len);

/* Lookup in an env file, falling back to the environment (ctx is the
 * struct proxyurl_envfile). */
const char *proxyurl_envfile_get(void *ctx, const char *name);

/* Free and wipe the values. */
void proxyurl_envfile_free(struct proxyurl_envfile *ef);

#endif
