/* SPDX-License-Identifier: MIT */
/* Squid native access log: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un
 * %Sh/%<a %mt", plus the sluice reason code as an extra last field on
 * refusals. Fields come from validated data only (canonical host names, our
 * own tags), and anything else is sanitised so a line cannot be forged. */
#include <errno.h>
#include <fcntl.h>
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
		ssize_t n = write(al->al_fd, al->al_buf + off, al->al_len - off);

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
accesslog_write(struct accesslog *al, const struct logrec *r)
{
	char url[520], user[520], line[ACCESSLOG_LINE];
	int n;

	if (al->al_fd == -1)
		return;
	accesslog_field(url, sizeof(url), r->lr_url);
	accesslog_field(user, sizeof(user), r->lr_user);
	n = snprintf(line, sizeof(line),
	    "%lld.%03u %6llu %s %s/%03d %llu %s %s %s %s/%s %s%s%s\n",
	    (long long)r->lr_sec, r->lr_msec,
	    (unsigned long long)r->lr_elapsed_ms, r->lr_client, r->lr_tag,
	    r->lr_status, (unsigned long long)r->lr_bytes, r->lr_method, url,
	    user, r->lr_peer ? "HIER_DIRECT" : "HIER_NONE",
	    r->lr_peer ? r->lr_peer : "-", r->lr_mime ? r->lr_mime : "-",
	    r->lr_reason ? " " : "", r->lr_reason ? r->lr_reason : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (al->al_len + (size_t)n > sizeof(al->al_buf))
		accesslog_flush(al);
	memcpy(al->al_buf + al->al_len, line, (size_t)n);
	al->al_len += (size_t)n;
	ev_defer(al->al_loop, &al->al_defer, accesslog_deferred, al);
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
