/* SPDX-License-Identifier: MIT */
/* The Prometheus exposition of sluice's counters. Every label value comes
 * from a bounded set (policy names of the configuration, a fixed list of
 * methods, the reason codes, fixed words), never from a destination or a
 * client address, so the number of series cannot be driven by clients.
 * Label values are escaped anyway, as the format requires. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "reason.h"
#include "stats.h"

struct metrics_out {
	struct buf	*mo_buf;
	int		 mo_err;
};

static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    buf_add(o->mo_buf, line, (size_t)n) == -1)
		o->mo_err = -1;
}

static void
metrics_family(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void
metrics_label(const char *v, char *out, size_t len)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			out[o++] = '\\';
			out[o++] = *v == '\n' ? 'n' : *v;
		} else
			out[o++] = *v;
	}
	out[o] = '\0';
}

static void
metrics_request(struct metrics_out *o, const char *pol, size_t m,
    const char *decision, enum reason r, uint64_t n)
{
	if (n == 0)
		return;
	metrics_printf(o, "sluice_requests_total{policy=\"%s\",method=\"%s\","
	    "decision=\"%s\",reason=\"%s\"} %llu\n", pol,
	    stats_method_name((enum stats_method)m), decision,
	    r == REASON_NONE ? "none" : reason_code(r), (unsigned long long)n);
}

static void
metrics_requests(struct metrics_out *o, const struct stats_sum *s)
{
	char pol[2 * STATS_NAME_MAX + 1];
	size_t i, m, r;

	metrics_family(o, "sluice_requests_total", "counter", "Requests "
	    "logged, by policy, method, decision and reason code, as the "
	    "access log says; allowed with a reason: let through by mode "
	    "report.");
	for (i = 0; i < s->ss_npol; i++) {
		const struct stats_policy *p = s->ss_pol[i];

		metrics_label(p->sp_name, pol, sizeof(pol));
		for (m = 0; m < STATS_M_COUNT; m++)
			for (r = 0; r < REASON_COUNT; r++) {
				metrics_request(o, pol, m, reason_decision(r,
				    false), r, p->sp_req[m][r]);
				metrics_request(o, pol, m, "aborted", r,
				    p->sp_abort[m][r]);
				metrics_request(o, pol, m, "allowed", r,
				    p->sp_report[m][r]);
			}
	}
}

static int64_t
metrics_tunnels_of(const struct stats_sum *s, const char *policy)
{
	size_t i;

	for (i = 0; i < s->ss_npol; i++)
		if (strcmp(s->ss_pol[i]->sp_name, policy) == 0)
			return s->ss_pol[i]->sp_tunnels;
	return 0;
}

static void
metrics_tunnels(struct metrics_out *o, const struct metrics_input *in)
{
	const struct stats_sum *s = in->mi_sum;
	char pol[2 * STATS_NAME_MAX + 1];
	size_t i, j;

	metrics_family(o, "sluice_tunnels_active", "gauge", "Tunnels open "
	    "now, by policy.");
	for (i = 0; i < in->mi_npolicies; i++) {
		metrics_label(in->mi_policies[i], pol, sizeof(pol));
		metrics_printf(o, "sluice_tunnels_active{policy=\"%s\"} %lld\n",
		    pol, (long long)metrics_tunnels_of(s, in->mi_policies[i]));
	}
	/* Policies a reload took away, while their tunnels last. */
	for (i = 0; i < s->ss_npol; i++) {
		for (j = 0; j < in->mi_npolicies; j++)
			if (strcmp(s->ss_pol[i]->sp_name, in->mi_policies[j]) ==
			    0)
				break;
		if (j < in->mi_npolicies || s->ss_pol[i]->sp_tunnels == 0)
			continue;
		metrics_label(s->ss_pol[i]->sp_name, pol, sizeof(pol));
		metrics_printf(o, "sluice_tunnels_active{policy=\"%s\"} %lld\n",
		    pol, (long long)s->ss_pol[i]->sp_tunnels);
	}
}

static void
metrics_hist(struct metrics_out *o, const char *name, const char *help,
    const struct stats_hist *h)
{
	uint64_t cum = 0;
	unsigned i;

	metrics_family(o, name, "histogram", help);
	for (i = 0; i < STATS_HIST_BOUNDS; i++) {
		cum += h->h_bucket[i];
		metrics_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name,
		    stats_hist_ms[i] / 1000.0, (unsigned long long)cum);
	}
	cum += h->h_bucket[STATS_HIST_BOUNDS];
	metrics_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	metrics_printf(o, "%s_sum %.3f\n%s_count %llu\n", name,
	    h->h_sum_ms / 1000.0, name, (unsigned long long)h->h_count);
}

static void
metrics_traffic(struct metrics_out *o, const struct metrics_input *in)
{
	const struct stats_sum *s = in->mi_sum;
	unsigned a;

	metrics_family(o, "sluice_connections_active", "gauge", "Client "
	    "connections open now.");
	metrics_printf(o, "sluice_connections_active %llu\n",
	    (unsigned long long)in->mi_connections);
	metrics_family(o, "sluice_bytes_total", "counter", "Bytes relayed, "
	    "counted when the request is logged: download is to the client, "
	    "upload to the destination.");
	metrics_printf(o, "sluice_bytes_total{direction=\"download\"} %llu\n"
	    "sluice_bytes_total{direction=\"upload\"} %llu\n",
	    (unsigned long long)s->ss_bytes_down,
	    (unsigned long long)s->ss_bytes_up);
	metrics_family(o, "sluice_auth_checks_total", "counter", "Password "
	    "checks, by result.");
	for (a = 0; a < STATS_AUTH_COUNT; a++)
		metrics_printf(o, "sluice_auth_checks_total{result=\"%s\"} "
		    "%llu\n", stats_auth_name(a),
		    (unsigned long long)s->ss_auth[a]);
	metrics_hist(o, "sluice_dns_duration_seconds", "Time to resolve "
	    "destinations (hosts file and DNS), per request that resolved.",
	    &s->ss_dns);
	metrics_hist(o, "sluice_connect_duration_seconds", "Time to connect "
	    "to destinations (every address tried), per request that dialled.",
	    &s->ss_connect);
}

static void
metrics_control(struct metrics_out *o, const struct metrics_input *in)
{
	char v[128];

	metrics_family(o, "sluice_config_reloads_total", "counter",
	    "Configuration reloads, by result.");
	metrics_printf(o, "sluice_config_reloads_total{result=\"success\"} "
	    "%llu\nsluice_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)in->mi_reloads_ok,
	    (unsigned long long)in->mi_reloads_failed);
	metrics_family(o, "sluice_config_generation", "gauge", "Configurations "
	    "applied since the start (1: the first).");
	metrics_printf(o, "sluice_config_generation %llu\n",
	    (unsigned long long)in->mi_generation);
	metrics_family(o, "sluice_log_dropped_lines_total", "counter",
	    "Access-log lines lost because the log could not keep up or "
	    "could not be written.");
	metrics_printf(o, "sluice_log_dropped_lines_total %llu\n",
	    (unsigned long long)in->mi_log_lost);
	metrics_family(o, "sluice_draining", "gauge", "1 once a SIGTERM "
	    "stopped accepting and open connections are finishing.");
	metrics_printf(o, "sluice_draining %d\n", in->mi_draining ? 1 : 0);
	metrics_family(o, "sluice_build_info", "gauge", "The version, as "
	    "a label; the value is always 1.");
	metrics_label(in->mi_version, v, sizeof(v));
	metrics_printf(o, "sluice_build_info{version=\"%s\"} 1\n", v);
}

/* CPU seconds, resident and virtual memory from /proc/self/stat. Returns
 * 0 or -1. */
static int
metrics_proc_stat(double *cpu, double *rss, double *vsize)
{
	unsigned long long utime, stime, vs;
	long long rsspages;
	char buf[1024], *p;
	FILE *fp;
	size_t n;

	if ((fp = fopen("/proc/self/stat", "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to its
	 * last ')'. Then fields 3.. : state is 3, utime 14, stime 15, vsize
	 * 23, rss 24. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2, "%*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
	    "%*d %*u %llu %lld", &utime, &stime, &vs, &rsspages) != 4)
		return -1;
	*cpu = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	*vsize = (double)vs;
	*rss = (double)rsspages * (double)sysconf(_SC_PAGESIZE);
	return 0;
}

static long
metrics_open_fds(void)
{
	struct dirent *de;
	long n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* not the one opendir holds */
}

static void
metrics_process(struct metrics_out *o, const struct metrics_input *in)
{
	double cpu, rss, vsize;
	struct rlimit rl;
	long fds;

	if (metrics_proc_stat(&cpu, &rss, &vsize) == 0) {
		metrics_family(o, "process_cpu_seconds_total", "counter",
		    "User and system CPU time spent, in seconds.");
		metrics_printf(o, "process_cpu_seconds_total %.2f\n", cpu);
		metrics_family(o, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.");
		metrics_printf(o, "process_resident_memory_bytes %.0f\n", rss);
		metrics_family(o, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size in bytes.");
		metrics_printf(o, "process_virtual_memory_bytes %.0f\n", vsize);
	}
	if ((fds = metrics_open_fds()) >= 0) {
		metrics_family(o, "process_open_fds", "gauge", "Open file "
		    "descriptors.");
		metrics_printf(o, "process_open_fds %ld\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metrics_family(o, "process_max_fds", "gauge", "The limit on "
		    "open file descriptors.");
		metrics_printf(o, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	metrics_family(o, "process_start_time_seconds", "gauge", "Start time "
	    "of the process since the Unix epoch, in seconds.");
	metrics_printf(o, "process_start_time_seconds %lld\n",
	    (long long)in->mi_started);
}

int
metrics_render(struct buf *out, const struct metrics_input *in)
{
	struct metrics_out o = { out, 0 };

	metrics_requests(&o, in->mi_sum);
	metrics_tunnels(&o, in);
	metrics_traffic(&o, in);
	metrics_control(&o, in);
	metrics_process(&o, in);
	return o.mo_err;
}
