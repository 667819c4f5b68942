/* SPDX-License-Identifier: MIT */
/* Squid native access log: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un
 * %Sh/%<a %mt", plus the sluice reason code as an extra last field on
 * refusals; or, with access_log_format json, one JSON object per line. Fields come from validated data only (canonical host names, our
 * own tags), and anything else is sanitised so a line cannot be forged. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "ev.h"

#define ACCESSLOG_BUF	(64 * 1024)
#define ACCESSLOG_LINE	1024

struct accesslog {
	struct ev_loop	*al_loop;
	struct ev_defer	 al_defer;
	int		 al_fd;		/* -1 when off */
	bool		 al_owned;	/* close al_fd at the end */
	bool		 al_json;
	size_t		 al_len;
	char		 al_buf[ACCESSLOG_BUF];
};

struct accesslog *
accesslog_open(struct ev_loop *loop, const char *path)
{
	struct accesslog *al = calloc(1, sizeof(*al));

	if (al == NULL)
		return NULL;
	al->al_loop = loop;
	al->al_fd = -1;
	if (path == NULL)
		return al;
	if (strcmp(path, "stdout") == 0) {
		al->al_fd = STDOUT_FILENO;
		return al;
	}
	al->al_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (al->al_fd == -1) {
		int saved = errno;

		free(al);
		errno = saved;
		return NULL;
	}
	al->al_owned = true;
	return al;
}

void
accesslog_flush(struct accesslog *al)
{
	size_t off = 0;

	while (off < al->al_len) {
		size_t chunk = al->al_len - off;
		ssize_t n;

		/* Several workers may share a pipe (stdout): writes of at most
		 * PIPE_BUF bytes, ending at a line end, are never interleaved
		 * with theirs. */
		if (chunk > PIPE_BUF) {
			const char *nl = memrchr(al->al_buf + off, '\n',
			    PIPE_BUF);

			chunk = nl ? (size_t)(nl - (al->al_buf + off)) + 1 :
			    PIPE_BUF;
		}
		n = write(al->al_fd, al->al_buf + off, chunk);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* A full disk must not stop the proxy; the lines are
			 * lost and the operator sees the error once. */
			break;
		}
		off += (size_t)n;
	}
	al->al_len = 0;
}

static void
accesslog_deferred(struct ev_loop *loop, void *arg)
{
	(void)loop;
	accesslog_flush(arg);
}

/* Copy a field, replacing spaces and control bytes, or "-" when empty. */
static size_t
accesslog_field(char *dst, size_t room, const char *s)
{
	size_t i = 0;

	if (s == NULL || *s == '\0')
		s = "-";
	for (; s[i] != '\0' && i + 1 < room && i < 512; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = (c <= ' ' || c == 0x7f) ? '_' : (char)c;
	}
	dst[i] = '\0';
	return i;
}

void
accesslog_set_json(struct accesslog *al, bool json)
{
	al->al_json = json;
}

/* Append `s` as a JSON string (or null) to line[*o..len). */
static void
accesslog_json_str(char *line, size_t len, size_t *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (s == NULL) {
		if (*o + 4 < len) {
			memcpy(line + *o, "null", 4);
			*o += 4;
		}
		return;
	}
	if (*o + 1 < len)
		line[(*o)++] = '"';
	for (; *s != '\0' && *o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			line[(*o)++] = '\\';
			line[(*o)++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Our strings are ASCII; anything else is escaped
			 * byte by byte so the line stays valid JSON. */
			line[(*o)++] = '\\';
			line[(*o)++] = 'u';
			line[(*o)++] = '0';
			line[(*o)++] = '0';
			line[(*o)++] = hex[c >> 4];
			line[(*o)++] = hex[c & 15];
		} else
			line[(*o)++] = (char)c;
	}
	if (*o + 1 < len)
		line[(*o)++] = '"';
}

static int
accesslog_format_json(const struct logrec *r, char *line, size_t len)
{
	size_t o = 0;
	int n;

#define ACCESSLOG_RAW(...) do {						\
	n = snprintf(line + o, len - o, __VA_ARGS__);			\
	if (n < 0 || (size_t)n >= len - o)				\
		return -1;						\
	o += (size_t)n;							\
} while (0)
	ACCESSLOG_RAW("{\"ts\":%lld.%03u,\"client\":", (long long)r->lr_sec,
	    r->lr_msec);
	accesslog_json_str(line, len, &o, r->lr_client);
	ACCESSLOG_RAW(",\"user\":");
	accesslog_json_str(line, len, &o, r->lr_user);
	ACCESSLOG_RAW(",\"method\":");
	accesslog_json_str(line, len, &o, r->lr_method);
	ACCESSLOG_RAW(",\"url\":");
	accesslog_json_str(line, len, &o, r->lr_url);
	ACCESSLOG_RAW(",\"host\":");
	accesslog_json_str(line, len, &o, r->lr_host);
	ACCESSLOG_RAW(",\"port\":%u,\"decision\":\"%s\",\"reason\":",
	    r->lr_port, r->lr_reason == NULL ? "allowed" :
	    r->lr_status < 500 ? "denied" : "failed");
	accesslog_json_str(line, len, &o, r->lr_reason);
	ACCESSLOG_RAW(",\"status\":%d,\"bytes_to_client\":%llu,"
	    "\"bytes_from_client\":%llu,\"duration_ms\":%llu",
	    r->lr_status, (unsigned long long)r->lr_bytes,
	    (unsigned long long)r->lr_bytes_up,
	    (unsigned long long)r->lr_elapsed_ms);
	if (r->lr_dns_ms >= 0)
		ACCESSLOG_RAW(",\"dns_ms\":%lld", (long long)r->lr_dns_ms);
	else
		ACCESSLOG_RAW(",\"dns_ms\":null");
	if (r->lr_connect_ms >= 0)
		ACCESSLOG_RAW(",\"connect_ms\":%lld",
		    (long long)r->lr_connect_ms);
	else
		ACCESSLOG_RAW(",\"connect_ms\":null");
	ACCESSLOG_RAW(",\"upstream\":");
	accesslog_json_str(line, len, &o, r->lr_peer);
	ACCESSLOG_RAW(",\"mime\":");
	accesslog_json_str(line, len, &o, r->lr_mime);
	ACCESSLOG_RAW("}\n");
#undef ACCESSLOG_RAW
	return (int)o;
}

void
accesslog_write(struct accesslog *al, const struct logrec *r)
{
	char url[520], user[520], line[ACCESSLOG_LINE + 1024];
	int n;

	if (al->al_fd == -1)
		return;
	if (al->al_json) {
		if ((n = accesslog_format_json(r, line, sizeof(line))) < 0)
			return;
		goto append;
	}
	accesslog_field(url, sizeof(url), r->lr_url);
	accesslog_field(user, sizeof(user), r->lr_user);
	n = snprintf(line, sizeof(line),
	    "%lld.%03u %6llu %s %s/%03d %llu %s %s %s %s/%s %s%s%s\n",
	    (long long)r->lr_sec, r->lr_msec,
	    (unsigned long long)r->lr_elapsed_ms, r->lr_client, r->lr_tag,
	    r->lr_status, (unsigned long long)r->lr_bytes, r->lr_method, url,
	    user, r->lr_peer == NULL ? "HIER_NONE" : r->lr_parent ?
	    "FIRSTUP_PARENT" : "HIER_DIRECT",
	    r->lr_peer ? r->lr_peer : "-", r->lr_mime ? r->lr_mime : "-",
	    r->lr_reason ? " " : "", r->lr_reason ? r->lr_reason : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
append:
	if (al->al_len + (size_t)n > sizeof(al->al_buf))
		accesslog_flush(al);
	memcpy(al->al_buf + al->al_len, line, (size_t)n);
	al->al_len += (size_t)n;
	ev_defer(al->al_loop, &al->al_defer, accesslog_deferred, al);
}

int
accesslog_reopen(struct accesslog *al, const char *path)
{
	int fd = -1;
	bool owned = false;

	if (al->al_fd != -1)
		accesslog_flush(al);
	if (path != NULL && strcmp(path, "stdout") == 0)
		fd = STDOUT_FILENO;
	else if (path != NULL) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1)
			return -1;
		owned = true;
	}
	if (al->al_owned)
		close(al->al_fd);
	al->al_fd = fd;
	al->al_owned = owned;
	return 0;
}

void
accesslog_close(struct accesslog *al)
{
	if (al == NULL)
		return;
	if (al->al_fd != -1)
		accesslog_flush(al);
	if (al->al_owned)
		close(al->al_fd);
	free(al);
}
