/* SPDX-License-Identifier: MIT */
/* GET /metrics: the Prometheus text exposition format (version 0.0.4) of
 * the workers' merged counters, what the control thread knows (reloads,
 * generation, draining) and the process itself (/proc/self). Formatting
 * only, apart from reading /proc, so a test can check it with promtool. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct stats_sum;

struct metrics_input {
	const struct stats_sum	*mi_sum;
	const char		*mi_version;
	const char *const	*mi_policies;	/* the configuration's, so that
						 * an idle one shows 0 tunnels */
	size_t			 mi_npolicies;
	uint64_t		 mi_connections;	/* open now */
	uint64_t		 mi_reloads_ok, mi_reloads_failed;
	uint64_t		 mi_generation;	/* configurations applied */
	uint64_t		 mi_log_lost;	/* access-log lines lost */
	int64_t			 mi_started;	/* unix seconds */
	bool			 mi_draining;
};

/* Append the whole exposition to `out`. Returns 0, or -1 when out of
 * memory. */
int metrics_render(struct buf *out, const struct metrics_input *in);

/* The media type to serve it with. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

#endif
