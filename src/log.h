/* SPDX-License-Identifier: MIT */
/* Diagnostics to stderr in the OpenBSD style: warn appends strerror(errno),
 * warnx does not, fatal exits. Thread-safe (one write(2) per message). */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Set the verbosity: 0 = warnings and info, 1 = also debug. */
void log_init(int debug);

/* End messages with "\r\n" (while the terminal is raw) or "\n". */
void log_crlf(bool on);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Is -d on? (So that callers skip building what would not be printed.) */
bool log_debugging(void);
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocation helpers that abort: for start-up and configuration only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
