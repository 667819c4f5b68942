/* SPDX-License-Identifier: MIT */
/* The access log: one line per transaction in Squid's native format, so the
 * tools and habits operators already have keep working. Lines are collected
 * in a per-loop buffer and written at the end of each event batch. */
#ifndef SLUICE_ACCESSLOG_H
#define SLUICE_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct accesslog;

/* One transaction. Strings are borrowed for the duration of the call. */
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
	/* For the JSON format: */
	const char	*lr_host;	/* canonical destination, or NULL */
	unsigned	 lr_port;
	uint64_t	 lr_bytes_up;	/* bytes sent on to the destination */
	int64_t		 lr_dns_ms;	/* -1 when there was no lookup */
	int64_t		 lr_connect_ms;	/* -1 when nothing was dialled */
};

/* Open the log named by `path` ("stdout", a file path, or NULL for off) for
 * `loop`. Returns NULL with errno set if the file cannot be opened. */
struct accesslog *accesslog_open(struct ev_loop *loop, const char *path);

/* Write JSON objects (one per line) instead of Squid's format. */
void accesslog_set_json(struct accesslog *al, bool json);

/* Append one line (buffered until the end of the event batch). */
void accesslog_write(struct accesslog *al, const struct logrec *r);

/* Write out what is buffered. */
void accesslog_flush(struct accesslog *al);

/* Flush, then reopen the log at `path` (after logrotate moved it, or when a
 * reload changed it). On failure the old file stays in use. Returns 0 or -1
 * with errno. */
int accesslog_reopen(struct accesslog *al, const char *path);

/* Flush and close. */
void accesslog_close(struct accesslog *al);

#endif
