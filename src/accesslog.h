/* SPDX-License-Identifier: MIT */
/* The access log: one line per transaction in Squid's native format (so the
 * tools and habits operators already have keep working) or as one JSON
 * object. Formatting is pure and bounded; writing happens on a thread of the
 * log's own, so a slow or failing destination never stalls an event loop. */
#ifndef SLUICE_ACCESSLOG_H
#define SLUICE_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct accesslog;

/* One transaction. Strings are borrowed for the duration of the call; any of
 * them may be NULL and may hold any bytes (they are escaped). */
struct logrec {
	int64_t		 lr_sec;	/* start, wall clock */
	unsigned	 lr_msec;
	uint64_t	 lr_elapsed_ms;
	const char	*lr_client;	/* client IP */
	const char	*lr_tag;	/* TCP_TUNNEL, TCP_DENIED, ... */
	int		 lr_status;
	uint64_t	 lr_bytes;	/* bytes sent to the client */
	const char	*lr_method;
	const char	*lr_url;
	const char	*lr_user;	/* NULL: "-" */
	const char	*lr_peer;	/* upstream IP, NULL: HIER_NONE/- */
	bool		 lr_parent;	/* lr_peer is a parent proxy */
	const char	*lr_mime;	/* NULL: "-" */
	const char	*lr_reason;	/* NULL for success; appended if set */
	bool		 lr_aborted;	/* the answer broke off part-way */
	const char	*lr_decision;	/* reason_decision's word */
	/* For the JSON format: */
	const char	*lr_host;	/* canonical destination, or NULL */
	unsigned	 lr_port;
	uint64_t	 lr_bytes_up;	/* bytes sent on to the destination */
	int64_t		 lr_dns_ms;	/* -1 when there was no lookup */
	int64_t		 lr_connect_ms;	/* -1 when nothing was dialled */
	const char	*lr_tls;	/* the client's TLS version, NULL: none */
	const char	*lr_auth;	/* "password", "certificate", NULL */
	const char	*lr_report;	/* mode report: the refusal let go */
	const char	*lr_sni;	/* the ClientHello's server name, NULL:
				 * none read (JSON only) */
	const char	*lr_policy;	/* the policy's name; NULL: the only one
				 * (Squid's format leaves it out, JSON says
				 * "default") */
};

/*
 * Limits of one record. Every text field is escaped first (see
 * accesslog_format_squid and accesslog_format_json) and then cut to its
 * limit: the URL to ACCESSLOG_URL_MAX bytes, every other field to
 * ACCESSLOG_FIELD_MAX bytes. A cut field ends with ACCESSLOG_CUT, and the
 * limit counts the marker; an escape sequence is never split. A record is
 * never dropped for length: every line fits in ACCESSLOG_LINE_MAX bytes,
 * which is PIPE_BUF, so one write(2) of it to a pipe shared by several
 * workers is never interleaved with theirs.
 */
#define ACCESSLOG_URL_MAX	1024
#define ACCESSLOG_FIELD_MAX	256
#define ACCESSLOG_CUT		"...[truncated]"
#define ACCESSLOG_LINE_MAX	4096

/* Format `r` as one line of Squid's native format, "%ts.%03tu %6tr %>a
 * %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt", plus the reason code as one more
 * field when lr_reason is set. In each text field, every byte that is not
 * printable ASCII (space, TAB, control bytes, DEL, bytes >= 0x80) and '%' is
 * written as %XX (upper-case hex), so a field can never become two and the
 * original bytes can be recovered; the URL keeps its '%' as it is, since it
 * is percent-encoded already (as in Squid's own log). An empty or NULL field
 * is "-". Writes the line with its '\n' and a NUL after it into `buf`, which
 * must hold `len` >= ACCESSLOG_LINE_MAX bytes. Returns the length of the line
 * ('\n' included, NUL not), or 0 if `len` is too small. */
size_t accesslog_format_squid(const struct logrec *r, char *buf, size_t len);

/* Format `r` as one JSON object on one line (the fields README.md lists).
 * Text fields are JSON strings, or null when NULL: '"' and '\' are escaped,
 * control bytes and DEL become \u00XX, valid UTF-8 becomes \uXXXX escapes
 * (surrogate pairs above U+FFFF), and each byte that is not part of valid
 * UTF-8 becomes \ufffd; the line is ASCII and valid JSON for any input. Same
 * buffer contract and return value as accesslog_format_squid. */
size_t accesslog_format_json(const struct logrec *r, char *buf, size_t len);

/* Open the log named by `path` ("stdout", a file path, or NULL for off) for
 * `loop`, and start its writer thread. Returns NULL with errno set if the
 * file cannot be opened or the thread not started. Opening a FIFO waits for
 * its reader, as open(2) does. */
struct accesslog *accesslog_open(struct ev_loop *loop, const char *path);

/* Write JSON objects (one per line) instead of Squid's format. */
void accesslog_set_json(struct accesslog *al, bool json);

/* Format one record and append it to the lines handed to the writer at the
 * end of the event batch. Never blocks. If the writer is so far behind that
 * its queue is full, the lines are dropped, counted and reported on stderr. */
void accesslog_write(struct accesslog *al, const struct logrec *r);

/* Hand what this batch wrote to the writer and wake it; does not wait. */
void accesslog_flush(struct accesslog *al);

/* Switch the log to `path` (after logrotate moved it, or when a reload
 * changed it): everything written before goes to the old file, everything
 * after to the new one. The new file is opened here, so errors are reported
 * now; a FIFO without a reader fails with ENXIO instead of stalling the loop.
 * On failure the old file stays in use. Returns 0 or -1 with errno. */
int accesslog_reopen(struct accesslog *al, const char *path);

/* Write out everything queued, stop the writer and free `al` (NULL: no-op).
 * Waits for the writer at most 2 seconds (0.1 s when an earlier close has
 * just given up on a stuck destination, so that N workers do not wait N
 * times). A writer still blocked then (a pipe nobody reads) is left behind,
 * and frees the log itself if it is ever unblocked; the lines it still held
 * are reported on stderr as lost. Either way `al` is gone on return. */
void accesslog_close(struct accesslog *al);

/* Lines lost (dropped, or not written) by every log of the process since
 * it started: sluice_log_dropped_lines_total. Any thread. */
unsigned long long accesslog_lost_total(void);

#endif
