/* SPDX-License-Identifier: MIT */
/* Diagnostics to stderr and the abort-on-failure allocators used at start-up. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int log_debug_on;
/* Set by the thread that owns the terminal, read by any that logs. */
static atomic_bool log_crlf_on;

void
log_init(int debug)
{
	log_debug_on = debug;
}

void
log_crlf(bool on)
{
	log_crlf_on = on;
}

/* Make the `len` bytes of `buf` inert on a terminal in place: a control
 * byte (an escape sequence in a file name or an argument) becomes "\xNN",
 * as far as `cap` allows. Returns the new length. */
static size_t
log_clean(char *buf, size_t len, size_t cap)
{
	char tmp[1024];
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < sizeof(tmp) && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "\\x%02x",
			    c);
		else
			tmp[o++] = (char)c;
	}
	memcpy(buf, tmp, o);
	return o;
}

/* One write(2) per message so lines from several threads never interleave. */
static void
log_vemit(const char *fmt, va_list ap, int err)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "sluice: ");
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	size_t len;

	if (m < 0)
		m = 0;
	len = (size_t)n + (size_t)m;
	if (len > sizeof(buf) - 3)
		len = sizeof(buf) - 3;
	if (err) {
		int k = snprintf(buf + len, sizeof(buf) - len, ": %s", strerror(err));
		if (k > 0)
			len += (size_t)k;
		if (len > sizeof(buf) - 3)
			len = sizeof(buf) - 3;
	}
	len = log_clean(buf, len, sizeof(buf) - 3);
	if (log_crlf_on)
		buf[len++] = '\r';
	buf[len++] = '\n';
	(void)!write(STDERR_FILENO, buf, len);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(fmt, ap, 0);
	va_end(ap);
}

bool
log_debugging(void)
{
	return log_debug_on != 0;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vemit(fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(fmt, ap, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("malloc");
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		fatal("calloc");
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("realloc");
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		fatal("strndup");
	return p;
}
