/* SPDX-License-Identifier: MIT */
/* Unit tests for config.c without file I/O: each directive parsed from a
 * buffer, accepted and refused (every directive of the table has both,
 * which a test checks against the table), every error reported as
 * "FILE:LINE: message" with the right line when several are in one buffer,
 * config_set, the restart-only directives, durations, the cross-directive
 * checks of config_finish and the CONNECT port set. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"

#define PATH	"/etc/sluice/sluice.conf"

/* Append printf output to buf. */
static void __attribute__((format(printf, 3, 4)))
cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void
render_port_set(const struct config *cfg,
    bool (*has)(const struct policy *, uint16_t), char *buf, size_t len)
{
	const struct policy *c = config_default_policy(cfg);
	unsigned p, lo;

	for (p = 1; p <= 65535; p++) {
		if (!has(c, (uint16_t)p))
			continue;
		for (lo = p; p < 65535 && has(c, (uint16_t)(p + 1)); p++)
			;
		cat(buf, len, buf[0] ? " " : "");
		if (lo == p)
			cat(buf, len, "%u", p);
		else
			cat(buf, len, "%u-%u", lo, p);
	}
	if (has(c, 0))
		cat(buf, len, " and 0");
}

static void
render_ports(const struct config *c, char *buf, size_t len)
{
	render_port_set(c, config_connect_port, buf, len);
}

/* The default policy: the top-level rules. */
#define DEF(c)	config_default_policy(c)

static void render_more(const struct config *, const char *, char *, size_t);

/* One aspect of a parsed configuration as text, so a table row can name
 * the field and the expected value. */
static void
render(const struct config *c, const char *field, char *buf, size_t len)
{
	char a[100];
	size_t i;

	buf[0] = '\0';
	if (strcmp(field, "listen") == 0) {
		for (i = 0; i < c->c_nlisten; i++) {
			addr_format((const struct sockaddr *)
			    &c->c_listen[i].l_addr, a, sizeof(a));
			cat(buf, len, "%s%s%s%s", i ? " " : "", a,
			    c->c_listen[i].l_tls ? " tls" : "",
			    c->c_listen[i].l_pp ? " pp" : "");
		}
	} else if (strcmp(field, "pp_from") == 0) {
		for (i = 0; i < c->c_npp_from; i++) {
			cidr_format(&c->c_pp_from[i], a, sizeof(a));
			cat(buf, len, "%s%s", i ? " " : "", a);
		}
	} else if (strcmp(field, "tls") == 0) {
		cat(buf, len, "%s %s", c->c_tls_cert.r_path,
		    c->c_tls_key.r_path);
	} else if (strcmp(field, "tls_clients") == 0) {
		cat(buf, len, "%s %s %d", c->c_tls_client_ca.r_path ?
		    c->c_tls_client_ca.r_path : "-", c->c_tls_crl.r_path ?
		    c->c_tls_crl.r_path : "-", (int)c->c_tls_identity);
	} else if (strcmp(field, "ports") == 0)
		render_ports(c, buf, len);
	else if (strcmp(field, "cidrs") == 0) {
		for (i = 0; i < DEF(c)->p_ncidrs; i++) {
			cidr_format(&DEF(c)->p_cidrs[i], a, sizeof(a));
			cat(buf, len, "%s%s", i ? " " : "", a);
		}
	} else if (strcmp(field, "timeouts") == 0)
		cat(buf, len, "connect=%u dns=%u idle=%u header=%u",
		    c->c_connect_timeout_ms, c->c_dns_timeout_ms,
		    c->c_idle_timeout_ms, c->c_header_timeout_ms);
	else if (strcmp(field, "max_connections") == 0)
		cat(buf, len, "%u", c->c_max_connections);
	else if (strcmp(field, "auth_rate") == 0)
		cat(buf, len, "%u/s burst %u", c->c_auth_rate,
		    c->c_auth_burst);
	else if (strcmp(field, "dns") == 0)
		cat(buf, len, "%s", c->c_dns_servers ? c->c_dns_servers :
		    "(system)");
	else if (strcmp(field, "access_log") == 0)
		cat(buf, len, "%s", c->c_access_log ? c->c_access_log : "(off)");
	else if (strcmp(field, "users") == 0)
		cat(buf, len, "%s@%u", c->c_have_users ?
		    c->c_users_file.r_path : "(none)", c->c_users_file.r_line);
	else if (strcmp(field, "hosts_file") == 0) {
		for (i = 0; i < c->c_nhosts_files; i++)
			cat(buf, len, "%s%s@%u", i ? " " : "",
			    c->c_hosts_files[i].r_path,
			    c->c_hosts_files[i].r_line);
		if (c->c_nhosts_files == 0)
			cat(buf, len, c->c_hosts_none ? "none" : "(none)@0");
	}
	else if (strcmp(field, "allow_files") == 0) {
		for (i = 0; i < DEF(c)->p_nallow_files; i++)
			cat(buf, len, "%s%s@%u", i ? " " : "",
			    DEF(c)->p_allow_files[i].r_path,
			    DEF(c)->p_allow_files[i].r_line);
	} else if (strncmp(field, "match:", 6) == 0)
		cat(buf, len, "%s", patterns_match(&DEF(c)->p_allow, field + 6) ?
		    "yes" : "no");
	else if (strcmp(field, "unauth") == 0)
		cat(buf, len, "%s", c->c_allow_unauthenticated ? "yes" : "no");
	else if (strcmp(field, "plaintext") == 0)
		cat(buf, len, "%s", c->c_plaintext_auth ? "yes" : "no");
	else
		render_more(c, field, buf, len);
}

/* The fields render() does not know. */
static void
render_more(const struct config *c, const char *field, char *buf, size_t len)
{
	size_t i, j;

	if (strcmp(field, "policies") == 0) {
		for (i = 0; i < c->c_npolicies; i++) {
			const struct policy *p = c->c_policies[i];

			cat(buf, len, "%s%s@%u[", i ? " " : "",
			    config_policy_name(p), p->p_line);
			for (j = 0; j < p->p_nmembers; j++)
				cat(buf, len, "%s%s", j ? "," : "",
				    p->p_members[j].m_name);
			cat(buf, len, "]%zu", p->p_allow.p_count);
		}
	} else if (strncmp(field, "deny:", 5) == 0)
		cat(buf, len, "%s", patterns_match(&DEF(c)->p_deny, field + 5) ?
		    "yes" : "no");
	else if (strcmp(field, "deny_files") == 0) {
		for (i = 0; i < DEF(c)->p_ndeny_files; i++)
			cat(buf, len, "%s%s@%u", i ? " " : "",
			    DEF(c)->p_deny_files[i].r_path,
			    DEF(c)->p_deny_files[i].r_line);
	} else if (strcmp(field, "modes") == 0) {
		for (i = 0; i < c->c_npolicies; i++)
			cat(buf, len, "%s%s", i ? " " : "",
			    c->c_policies[i]->p_report ? "report" : "enforce");
	} else if (strcmp(field, "sni") == 0) {
		for (i = 0; i < c->c_npolicies; i++)
			cat(buf, len, "%s%s", i ? " " : "",
			    c->c_policies[i]->p_sni_off ? "off" : "require");
		for (i = 1; i < 65536; i++)
			if (config_sni_port(c, (uint16_t)i))
				cat(buf, len, " :%zu", i);
		cat(buf, len, " ech=%s", c->c_allow_ech ? "yes" : "no");
	} else if (strcmp(field, "max_tunnels") == 0) {
		for (i = 0; i < c->c_npolicies; i++)
			cat(buf, len, "%s%u", i ? " " : "",
			    c->c_policies[i]->p_max_tunnels);
	} else if (strncmp(field, "of:", 3) == 0)
		cat(buf, len, "%s", config_policy_name(config_policy_of(c,
		    field[3] ? field + 3 : NULL)));
	else if (strcmp(field, "http_ports") == 0)
		render_port_set(c, config_http_port, buf, len);
	else if (strcmp(field, "log_format") == 0)
		cat(buf, len, "%s", c->c_log_json ? "json" : "squid");
	else if (strcmp(field, "user") == 0)
		cat(buf, len, "%s@%u", c->c_user ? c->c_user : "(none)",
		    c->c_user_line);
	else if (strcmp(field, "group") == 0)
		cat(buf, len, "%s@%u", c->c_group ? c->c_group : "(none)",
		    c->c_group_line);
	else if (strcmp(field, "shutdown_grace") == 0)
		cat(buf, len, "%u", c->c_shutdown_grace_ms);
	else if (strcmp(field, "shutdown_delay") == 0)
		cat(buf, len, "%u", c->c_shutdown_delay_ms);
	else if (strcmp(field, "admin") == 0)
		cat(buf, len, "%s@%u %s", c->c_admin_listen ?
		    c->c_admin_listen : "(none)", c->c_admin_line,
		    c->c_admin_users_file.r_path ?
		    c->c_admin_users_file.r_path : "(no users)");
	else if (strcmp(field, "workers") == 0)
		cat(buf, len, "%u", c->c_workers);
	else if (strcmp(field, "max_set") == 0)
		cat(buf, len, "%u%s", c->c_max_connections,
		    c->c_max_connections_set ? " (written)" : "");
	else if (strcmp(field, "via") == 0)
		cat(buf, len, "%s", c->c_via ? "yes" : "no");
	else if (strcmp(field, "forwarded_for") == 0)
		cat(buf, len, "%s", c->c_forwarded_for ? "yes" : "no");
	else
		cat(buf, len, "unknown field %s", field);
}

struct directive_case {
	const char	*path;	/* NULL: PATH */
	const char	*text;
	const char	*field;
	const char	*want;
};

#define DEF_TIMEOUTS "connect=10000 dns=5000 idle=900000 header=10000"

static const struct directive_case directive_cases[] = {
	{ NULL, "listen 127.0.0.1:3128", "listen", "127.0.0.1:3128" },
	{ NULL, "listen [::1]:8080", "listen", "[::1]:8080" },
	{ NULL, "listen 0.0.0.0:3128\nlisten [::]:3129", "listen",
	    "0.0.0.0:3128 [::]:3129" },
	{ NULL, "listen\t127.0.0.1:3128 # local only\r\n", "listen",
	    "127.0.0.1:3128" },
	{ NULL, "", "listen", "" },
	{ NULL, "listen 127.0.0.1:3128 proxy_protocol\n"
	    "listen 127.0.0.1:3129 proxy_protocol tls", "listen",
	    "127.0.0.1:3128 pp 127.0.0.1:3129 tls pp" },
	{ NULL, "proxy_protocol_from 10.0.0.0/8 192.0.2.1\n"
	    "proxy_protocol_from ::1", "pp_from", "10.0.0.0/8 192.0.2.1/32 ::1/128" },
	{ NULL, "listen 127.0.0.1:3129 tls\ntls_cert c.pem\ntls_key k.pem",
	    "listen", "127.0.0.1:3129 tls" },
	{ NULL, "tls_cert c.pem\ntls_key /k.pem", "tls",
	    "/etc/sluice/c.pem /k.pem" },
	{ NULL, "", "tls_clients", "- - 0" },
	{ NULL, "tls_client_ca ca.pem\ntls_crl /c/crl.pem", "tls_clients",
	    "/etc/sluice/ca.pem /c/crl.pem 0" },
	{ NULL, "tls_client_identity dns", "tls_clients", "- - 1" },
	{ NULL, "tls_client_identity email", "tls_clients", "- - 2" },
	{ NULL, "tls_client_identity URI", "tls_clients", "- - 3" },
	{ NULL, "", "policies", "default@0[]0" },
	{ NULL, "allow a.com\npolicy ci\nmembers bot1 bot2\nallow b.com c.com\n"
	    "policy research-2.x\nmembers ana\nmembers li", "policies",
	    "default@0[]1 ci@2[bot1,bot2]2 research-2.x@5[ana,li]0" },
	{ NULL, "policy ci\nmembers bot1", "of:bot1", "ci" },
	{ NULL, "", "sni", "require ech=no" },
	{ NULL, "sni off\nsni_ports 443 8443\nallow_ech yes\npolicy a\n"
	    "sni require", "sni", "off require :443 :8443 ech=yes" },
	{ NULL, "max_tunnels 4\npolicy a\npolicy b\nmax_tunnels 1",
	    "max_tunnels", "4 0 1" },
	{ NULL, "mode report\npolicy a\npolicy b\nmode report\nmode enforce",
	    "modes", "report enforce enforce" },
	{ NULL, "policy ci\nmembers bot1", "of:bot2", "default" },
	{ NULL, "policy ci\nmembers bot1", "of:", "default" },
	{ NULL, "tls_client_identity uri\ntls_client_identity cn",
	    "tls_clients", "- - 0" },

	{ NULL, "connect_ports 443", "ports", "443" },
	{ NULL, "connect_ports 8443 443 1000-1002", "ports",
	    "443 1000-1002 8443" },
	{ NULL, "connect_ports 80\nconnect_ports 443", "ports", "80 443" },
	{ NULL, "connect_ports 1-65535", "ports", "1-65535" },
	{ NULL, "connect_ports 65535 1", "ports", "1 65535" },
	{ NULL, "connect_ports 22-22", "ports", "22" },

	{ NULL, "allow_cidr 127.0.0.0/8 ::1", "cidrs", "127.0.0.0/8 ::1/128" },
	{ NULL, "allow_cidr 10.0.0.0/8\nallow_cidr 192.168.1.5", "cidrs",
	    "10.0.0.0/8 192.168.1.5/32" },
	{ NULL, "allow_cidr fc00::/7", "cidrs", "fc00::/7" },

	{ NULL, "", "timeouts", DEF_TIMEOUTS },
	{ NULL, "connect_timeout 500ms", "timeouts",
	    "connect=500 dns=5000 idle=900000 header=10000" },
	{ NULL, "connect_timeout 30", "timeouts",
	    "connect=30000 dns=5000 idle=900000 header=10000" },
	{ NULL, "dns_timeout 2s", "timeouts",
	    "connect=10000 dns=2000 idle=900000 header=10000" },
	{ NULL, "idle_timeout 5m", "timeouts",
	    "connect=10000 dns=5000 idle=300000 header=10000" },
	{ NULL, "header_timeout 1h", "timeouts",
	    "connect=10000 dns=5000 idle=900000 header=3600000" },

	{ NULL, "", "max_connections", "10000" },
	{ NULL, "max_connections 500", "max_connections", "500" },
	{ NULL, "max_connections 1", "max_connections", "1" },
	{ NULL, "", "auth_rate", "10/s burst 20" },
	{ NULL, "auth_rate 1/s burst 1", "auth_rate", "1/s burst 1" },
	{ NULL, "auth_rate 500/s burst 2000", "auth_rate", "500/s burst 2000" },

	{ NULL, "", "dns", "(system)" },
	{ NULL, "dns_server 8.8.8.8", "dns", "8.8.8.8:53" },
	{ NULL, "dns_server 1.1.1.1:5353", "dns", "1.1.1.1:5353" },
	{ NULL, "dns_server [2001:db8::1]", "dns", "[2001:db8::1]:53" },
	{ NULL, "dns_server [2001:db8::1]:5300", "dns", "[2001:db8::1]:5300" },
	{ NULL, "dns_server 2001:DB8::2", "dns", "[2001:db8::2]:53" },
	{ NULL, "dns_server 8.8.8.8 1.1.1.1:54", "dns",
	    "8.8.8.8:53,1.1.1.1:54" },
	{ NULL, "dns_server 127.0.0.53\ndns_server [::1]", "dns",
	    "127.0.0.53:53,[::1]:53" },

	{ NULL, "", "access_log", "stdout" },
	{ NULL, "access_log off", "access_log", "(off)" },
	{ NULL, "access_log stdout", "access_log", "stdout" },
	{ NULL, "access_log access.log", "access_log",
	    "/etc/sluice/access.log" },
	{ NULL, "access_log logs/a.log", "access_log", "/etc/sluice/logs/a.log" },
	{ NULL, "access_log /var/log/sluice.log", "access_log",
	    "/var/log/sluice.log" },
	{ NULL, "access_log off\naccess_log stdout", "access_log", "stdout" },
	{ "sluice.conf", "access_log a.log", "access_log", "a.log" },
	{ "conf.d/sluice.conf", "access_log a.log", "access_log",
	    "conf.d/a.log" },

	{ NULL, "", "users", "(none)@0" },
	{ NULL, "users users.htpasswd", "users", "/etc/sluice/users.htpasswd@1" },
	{ NULL, "# users\n\nusers /srv/users", "users", "/srv/users@3" },
	{ NULL, "hosts_file hosts", "hosts_file", "/etc/sluice/hosts@1" },
	{ NULL, "hosts_file none", "hosts_file", "none" },
	{ NULL, "hosts_file a\nhosts_file /b", "hosts_file",
	    "/etc/sluice/a@1 /b@2" },
	{ NULL, "allow_file a.txt\nallow_file /b.txt", "allow_files",
	    "/etc/sluice/a.txt@1 /b.txt@2" },

	{ NULL, "allow api.anthropic.com .github.com", "match:api.anthropic.com",
	    "yes" },
	{ NULL, "allow api.anthropic.com .github.com", "match:github.com",
	    "yes" },
	{ NULL, "allow api.anthropic.com .github.com", "match:anthropic.com",
	    "no" },
	{ NULL, "allow API.Anthropic.com.\nallow *.googleapis.com",
	    "match:api.anthropic.com", "yes" },
	{ NULL, "allow *.googleapis.com", "match:googleapis.com", "no" },
	{ NULL, "deny storage.googleapis.com .evil.example",
	    "deny:storage.googleapis.com", "yes" },
	{ NULL, "deny storage.googleapis.com .evil.example",
	    "deny:a.evil.example", "yes" },
	{ NULL, "deny storage.googleapis.com", "match:storage.googleapis.com",
	    "no" },
	{ NULL, "deny_file d.txt\ndeny_file /e.txt", "deny_files",
	    "/etc/sluice/d.txt@1 /e.txt@2" },
	{ NULL, "", "match:api.anthropic.com", "no" },

	{ NULL, "", "unauth", "no" },
	{ NULL, "allow_unauthenticated yes", "unauth", "yes" },
	{ NULL, "allow_unauthenticated yes\nallow_unauthenticated no", "unauth",
	    "no" },
	{ NULL, "allow_unauthenticated on", "unauth", "yes" },
	{ NULL, "plaintext_auth yes", "plaintext", "yes" },
	{ NULL, "", "plaintext", "no" },

	{ NULL, "", "http_ports", "" },	/* config_finish adds 80 */
	{ NULL, "http_ports 8080 80", "http_ports", "80 8080" },
	{ NULL, "http_ports 80\nhttp_ports 8000-8002", "http_ports",
	    "80 8000-8002" },
	{ NULL, "http_ports 8080", "ports", "" },	/* not CONNECT's */

	{ NULL, "", "log_format", "squid" },
	{ NULL, "access_log_format json", "log_format", "json" },
	{ NULL, "access_log_format json\naccess_log_format squid",
	    "log_format", "squid" },

	{ NULL, "", "user", "(none)@0" },
	{ NULL, "user proxy", "user", "proxy@1" },
	{ NULL, "user a\nuser b", "user", "b@2" },
	{ NULL, "", "group", "(none)@0" },
	{ NULL, "\ngroup proxy", "group", "proxy@2" },

	{ NULL, "", "shutdown_grace", "30000" },
	{ NULL, "shutdown_grace 5s", "shutdown_grace", "5000" },
	{ NULL, "shutdown_grace 250ms", "shutdown_grace", "250" },
	{ NULL, "shutdown_grace 2m", "timeouts", DEF_TIMEOUTS },

	{ NULL, "", "shutdown_delay", "0" },
	{ NULL, "shutdown_delay 5s", "shutdown_delay", "5000" },
	{ NULL, "shutdown_delay 5s\nshutdown_delay 0", "shutdown_delay", "0" },
	{ NULL, "", "admin", "(none)@0 (no users)" },
	{ NULL, "admin_listen 127.0.0.1:9090", "admin",
	    "127.0.0.1:9090@1 (no users)" },
	{ NULL, "admin_listen [::1]:9090\nadmin_users admins", "admin",
	    "[::1]:9090@1 /etc/sluice/admins" },
	{ NULL, "", "workers", "0" },
	{ NULL, "workers 4", "workers", "4" },
	{ NULL, "workers 64", "workers", "64" },
	{ NULL, "workers 4\nworkers auto", "workers", "0" },

	{ NULL, "", "max_set", "10000" },
	{ NULL, "max_connections 10000000", "max_set", "10000000 (written)" },

	{ NULL, "", "via", "yes" },
	{ NULL, "via off", "via", "no" },
	{ NULL, "via no\nvia on", "via", "yes" },
	{ NULL, "", "forwarded_for", "no" },
	{ NULL, "forwarded_for yes", "forwarded_for", "yes" },
	{ NULL, "forwarded_for on\nforwarded_for off", "forwarded_for", "no" },
};

static void
test_config_directives(void **state)
{
	size_t i, n = sizeof(directive_cases) / sizeof(directive_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct directive_case *t = &directive_cases[i];
		struct config *c = config_new(t->path ? t->path : PATH);
		struct diag d = { NULL, 0 };
		char have[400];
		int r = config_parse(c, t->text, strlen(t->text), &d);

		render(c, t->field, have, sizeof(have));
		if (r != 0 || d.d_count != 0) {
			print_error("row %zu: \"%s\" gave errors, first: %s\n", i,
			    t->text, d.d_count ? d.d_msgs[0] : "(none)");
			bad++;
		} else if (strcmp(have, t->want) != 0) {
			print_error("row %zu: \"%s\": %s is \"%s\", expected "
			    "\"%s\"\n", i, t->text, t->field, have, t->want);
			bad++;
		}
		diag_free(&d);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu directive cases failed", bad, n);
}

#define AUTH_RATE_USAGE \
	"auth_rate: expected 'auth_rate N/s burst M' (password checks per " \
	"second and client address, N and M from 1), e.g. 'auth_rate 10/s " \
	"burst 20'"

struct reject_case {
	const char	*text;
	const char	*want;	/* the one message, in full */
};

/* Every directive refused: a wrong number of arguments and, where the
 * parser can tell, a bad value; each message exactly as users see it. */
static const struct reject_case reject_cases[] = {
	{ "listen 127.0.0.1", PATH ":1: "
	    "listen: expected ADDR:PORT: '127.0.0.1'" },
	{ "listen", PATH ":1: "
	    "listen: expected 'listen ADDR:PORT [tls] [proxy_protocol]'" },
	{ "listen 127.0.0.1:1 127.0.0.1:2", PATH ":1: "
	    "listen: expected 'tls' or 'proxy_protocol' after the address, got "
	    "'127.0.0.1:2'" },
	{ "listen 127.0.0.1:0\nlisten 127.0.0.1:0 tls", PATH ":2: listen: "
	    "127.0.0.1:0 given twice (first on line 1), with different options: "
	    "give one "
	    "of them a port" },
	{ "listen 127.0.0.1:1 tls extra", PATH ":1: "
	    "listen: expected 'tls' or 'proxy_protocol' after the address, got "
	    "'extra'" },
	{ "listen 127.0.0.1:1 tls tls", PATH ":1: "
	    "listen: expected 'tls' or 'proxy_protocol' after the address, got "
	    "'tls' twice" },
	{ "listen 127.0.0.1:1 tls proxy_protocol x", PATH ":1: "
	    "listen: expected 'listen ADDR:PORT [tls] [proxy_protocol]'" },
	{ "proxy_protocol_from 10.0.0.0/33", PATH ":1: "
	    "proxy_protocol_from: invalid CIDR prefix: '10.0.0.0/33'" },
	{ "tls_cert", PATH ":1: 'tls_cert' takes exactly one argument" },
	{ "tls_key k.pem b", PATH ":1: 'tls_key' takes exactly one argument" },
	{ "tls_client_ca", PATH ":1: 'tls_client_ca' takes exactly one "
	    "argument" },
	{ "tls_crl a b", PATH ":1: 'tls_crl' takes exactly one argument" },
	{ "policy", PATH ":1: 'policy' takes exactly one argument" },
	{ "policy a b", PATH ":1: 'policy' takes exactly one argument" },
	{ "policy default", PATH ":1: 'default' cannot name a policy "
	    "(letters, digits, '-', '_' and '.'; 'default' is the top "
	    "level's)" },
	{ "policy a/b", PATH ":1: 'a/b' cannot name a policy (letters, "
	    "digits, '-', '_' and '.'; 'default' is the top level's)" },
	{ "policy a\npolicy b\npolicy a", PATH ":3: policy a given twice "
	    "(first on line 1)" },
	{ "members ana", PATH ":1: members: members belong in a 'policy "
	    "NAME' block; identities in none get the top-level rules" },
	{ "policy a\nmembers ana\npolicy b\nmembers li ana", PATH ":4: "
	    "members: ana is a member of policy a already; an identity has "
	    "one policy" },
	{ "policy a\nusers u.htpasswd", PATH ":2: users applies to the whole "
	    "proxy, not to policy a: move it above the first 'policy' line" },
	{ "policy a\nlisten 127.0.0.1:1", PATH ":2: listen applies to the "
	    "whole proxy, not to policy a: move it above the first 'policy' "
	    "line" },
	{ "tls_client_identity san", PATH ":1: tls_client_identity: expected "
	    "'cn', 'dns', 'email' or 'uri' (the client certificate's name "
	    "that is the user), got 'san'" },
	{ "listen 127.0.0.1:3128\nlisten 127.0.0.1:3128", PATH ":2: "
	    "listen: 127.0.0.1:3128 given twice (first on line 1)" },
	{ "users", PATH ":1: "
	    "'users' takes exactly one argument" },
	{ "users a b", PATH ":1: "
	    "'users' takes exactly one argument" },
	{ "allow", PATH ":1: "
	    "'allow' needs at least one argument" },
	{ "allow *.com", PATH ":1: "
	    "invalid pattern '*.com': a wildcard over a whole top-level "
	    "domain" },
	{ "allow_file", PATH ":1: "
	    "'allow_file' takes exactly one argument" },
	{ "deny", PATH ":1: 'deny' needs at least one argument" },
	{ "max_tunnels 0", PATH ":1: max_tunnels: expected a number from 1 to "
	    "1000000, got '0'" },
	{ "sni maybe", PATH ":1: sni: expected 'require' or 'off', got "
	    "'maybe'" },
	{ "sni_ports 0", PATH ":1: invalid port or range '0' (1-65535, or "
	    "N-M)" },
	{ "allow_ech sometimes", PATH ":1: allow_ech: expected 'yes' or 'no', "
	    "got 'sometimes'" },
	{ "policy a\nsni_ports 443", PATH ":2: sni_ports applies to the whole "
	    "proxy, not to policy a: move it above the first 'policy' line" },
	{ "mode audit", PATH ":1: mode: expected 'enforce' or 'report', got "
	    "'audit'" },
	{ "deny a..b", PATH ":1: invalid pattern 'a..b': empty label in host "
	    "name" },
	{ "deny_file a b", PATH ":1: 'deny_file' takes exactly one argument" },
	{ "allow_file a b", PATH ":1: "
	    "'allow_file' takes exactly one argument" },
	{ "connect_ports", PATH ":1: "
	    "'connect_ports' needs at least one argument" },
	{ "connect_ports 0", PATH ":1: "
	    "invalid port or range '0' (1-65535, or N-M)" },
	{ "http_ports", PATH ":1: "
	    "'http_ports' needs at least one argument" },
	{ "http_ports 80-", PATH ":1: "
	    "invalid port or range '80-' (1-65535, or N-M)" },
	{ "http_ports 70000 80", PATH ":1: "
	    "invalid port or range '70000' (1-65535, or N-M)" },
	{ "allow_cidr", PATH ":1: "
	    "'allow_cidr' needs at least one argument" },
	{ "allow_cidr 10.0.0.1/8", PATH ":1: "
	    "allow_cidr: CIDR has host bits set below its prefix: "
	    "'10.0.0.1/8'" },
	{ "hosts_file", PATH ":1: "
	    "'hosts_file' takes exactly one argument" },
	{ "hosts_file a b", PATH ":1: "
	    "'hosts_file' takes exactly one argument" },
	{ "dns_server", PATH ":1: "
	    "'dns_server' needs at least one argument" },
	{ "dns_server notanip", PATH ":1: "
	    "dns_server: host names are not accepted, only addresses (e.g. "
	    "1.1.1.1, 10.0.0.2:5353 or [2606:4700::1111]): 'notanip'" },
	{ "dns_server 8.8.8.8:0", PATH ":1: "
	    "dns_server: DNS server port 0: '8.8.8.8:0'" },
	{ "access_log", PATH ":1: "
	    "'access_log' takes exactly one argument" },
	{ "access_log a b", PATH ":1: "
	    "'access_log' takes exactly one argument" },
	{ "access_log_format", PATH ":1: "
	    "'access_log_format' takes exactly one argument" },
	{ "access_log_format xml", PATH ":1: "
	    "access_log_format: expected 'squid' or 'json', got 'xml'" },
	{ "access_log_format squid json", PATH ":1: "
	    "'access_log_format' takes exactly one argument" },
	{ "user", PATH ":1: "
	    "'user' takes exactly one argument" },
	{ "user a b", PATH ":1: "
	    "'user' takes exactly one argument" },
	{ "group", PATH ":1: "
	    "'group' takes exactly one argument" },
	{ "group a b", PATH ":1: "
	    "'group' takes exactly one argument" },
	{ "connect_timeout 0", PATH ":1: "
	    "connect_timeout: invalid duration '0' (use e.g. 500ms, 10s, 5m, "
	    "1h)" },
	{ "connect_timeout", PATH ":1: "
	    "'connect_timeout' takes exactly one argument" },
	{ "admin_listen nowhere", PATH ":1: "
	    "admin_listen: expected ADDR:PORT: 'nowhere'" },
	{ "admin_users", PATH ":1: "
	    "'admin_users' takes exactly one argument" },
	{ "shutdown_delay 3x", PATH ":1: "
	    "shutdown_delay: invalid duration '3x' (use e.g. 0, 500ms, 10s, 5m)" },
	{ "dns_timeout 5d", PATH ":1: "
	    "dns_timeout: invalid duration '5d' (use e.g. 500ms, 10s, 5m, 1h)" },
	{ "dns_timeout 1 2", PATH ":1: "
	    "'dns_timeout' takes exactly one argument" },
	{ "idle_timeout 10x", PATH ":1: "
	    "idle_timeout: invalid duration '10x' (use e.g. 500ms, 10s, 5m, 1h)" },
	{ "header_timeout 1.5s", PATH ":1: "
	    "header_timeout: invalid duration '1.5s' (use e.g. 500ms, 10s, 5m, 1h)" },
	{ "shutdown_grace soon", PATH ":1: "
	    "shutdown_grace: invalid duration 'soon' (use e.g. 500ms, 10s, 5m, "
	    "1h)" },
	{ "shutdown_grace", PATH ":1: "
	    "'shutdown_grace' takes exactly one argument" },
	{ "auth_rate", PATH ":1: "
	    AUTH_RATE_USAGE },
	{ "auth_rate 10/m burst 20", PATH ":1: "
	    AUTH_RATE_USAGE },
	{ "auth_rate 10/s burst 20 30", PATH ":1: "
	    AUTH_RATE_USAGE },
	{ "workers 0", PATH ":1: "
	    "workers: expected 'auto' or a number from 1 to 64, got '0'" },
	{ "workers 65", PATH ":1: "
	    "workers: expected 'auto' or a number from 1 to 64, got '65'" },
	{ "workers many", PATH ":1: "
	    "workers: expected 'auto' or a number from 1 to 64, got 'many'" },
	{ "workers", PATH ":1: "
	    "'workers' takes exactly one argument" },
	{ "workers auto 2", PATH ":1: "
	    "'workers' takes exactly one argument" },
	{ "max_connections 0", PATH ":1: "
	    "max_connections: expected a number from 1 to 10000000, got '0'" },
	{ "max_connections 10000001", PATH ":1: "
	    "max_connections: expected a number from 1 to 10000000, got '10000001'" },
	{ "max_connections", PATH ":1: "
	    "'max_connections' takes exactly one argument" },
	{ "allow_unauthenticated maybe", PATH ":1: "
	    "allow_unauthenticated: expected 'yes' or 'no', got 'maybe'" },
	{ "plaintext_auth sure", PATH ":1: "
	    "plaintext_auth: expected 'yes' or 'no', got 'sure'" },
	{ "allow_unauthenticated", PATH ":1: "
	    "'allow_unauthenticated' takes exactly one argument" },
	{ "via maybe", PATH ":1: "
	    "via: expected 'yes' or 'no', got 'maybe'" },
	{ "via on off", PATH ":1: "
	    "'via' takes exactly one argument" },
	{ "forwarded_for 1", PATH ":1: "
	    "forwarded_for: expected 'yes' or 'no', got '1'" },
	{ "forwarded_for", PATH ":1: "
	    "'forwarded_for' takes exactly one argument" },
	{ "users a\nusers b", PATH ":2: "
	    "'users' given twice (first on line 1)" },
};

static void
test_config_rejects(void **state)
{
	size_t i, n = sizeof(reject_cases) / sizeof(reject_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct reject_case *t = &reject_cases[i];
		struct config *c = config_new(PATH);
		struct diag d = { NULL, 0 };
		int r = config_parse(c, t->text, strlen(t->text), &d);

		if (r != -1 || d.d_count != 1 ||
		    strcmp(d.d_msgs[0], t->want) != 0) {
			print_error("row %zu: \"%s\": %d, %zu errors, first "
			    "\"%s\", expected \"%s\"\n", i, t->text, r,
			    d.d_count, d.d_count ? d.d_msgs[0] : "", t->want);
			bad++;
		}
		diag_free(&d);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu reject cases failed", bad, n);
}

/* True when a line of `text` starts with the directive `name`. */
static bool
names_directive(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = text; p != NULL; p = strchr(p, '\n') ? strchr(p, '\n') + 1 :
	    NULL) {
		p += strspn(p, " \t");
		if (strncmp(p, name, n) == 0 && strchr(" \t\n", p[n]) != NULL)
			return true;	/* p[n] == '\0' matches too */
	}
	return false;
}

/* The directive table and these tests agree: every directive has a row
 * that accepts it and one that refuses it, and every reject row names a
 * directive the table has. */
static void
test_config_every_directive_has_rows(void **state)
{
	size_t nd = sizeof(directive_cases) / sizeof(directive_cases[0]);
	size_t nr = sizeof(reject_cases) / sizeof(reject_cases[0]);
	size_t i, j, n = config_directive_count();
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const char *name = config_directive_name(i);
		bool yes = false, no = false;

		for (j = 0; j < nd; j++)
			yes |= names_directive(directive_cases[j].text, name);
		for (j = 0; j < nr; j++)
			no |= names_directive(reject_cases[j].text, name);
		if (!yes || !no) {
			print_error("directive %s has no %s row\n", name, !yes ?
			    "directive_cases" : "reject_cases");
			bad++;
		}
	}
	for (j = 0; j < nr; j++) {
		for (i = 0; i < n && !names_directive(reject_cases[j].text,
		    config_directive_name(i)); i++)
			;
		if (i == n) {
			print_error("reject row %zu names no directive\n", j);
			bad++;
		}
	}
	if (n < 24 || config_directive_name(n) != NULL)
		bad++;
	if (bad > 0)
		fail_msg("%d directive coverage checks failed", bad);
}

struct set_case {
	const char	*where, *name;
	const char	*args[3];
	int		 nargs;
	const char	*field;	/* render() on success; NULL: must fail */
	const char	*want;	/* the field, or the one message */
};

/* config_set: the same rows as the file, messages named by `where`, and a
 * value is one argument whatever it holds (no text is parsed). */
static const struct set_case set_cases[] = {
	{ "--allow", "allow", { "api.example.com" }, 1,
	    "match:api.example.com", "yes" },
	{ "--allow", "allow", { "*.com" }, 1, NULL, "--allow: invalid pattern "
	    "'*.com': a wildcard over a whole top-level domain" },
	/* A blank: not repeated (a "NAME secret" line of the wrong file). */
	{ "--allow", "allow", { "a.example b.example" }, 1, NULL,
	    "--allow: invalid pattern (not shown: it holds a blank, so it is "
	    "no domain name; is this the right file or argument?)" },
	{ "--allow-cidr", "allow_cidr", { "10.0.0.0/8" }, 1, "cidrs",
	    "10.0.0.0/8" },
	{ "--allow-cidr", "allow_cidr", { "10.0.0.1/8" }, 1, NULL,
	    "--allow-cidr: CIDR has host bits set below its prefix: "
	    "'10.0.0.1/8'" },
	{ "--hosts-file", "hosts_file", { "/srv/hosts" }, 1, "hosts_file",
	    "/srv/hosts@0" },
	{ "--hosts-file", "hosts_file", { "my hosts" }, 1, "hosts_file",
	    "/etc/sluice/my hosts@0" },
	{ "--hosts-file", "hosts_file", { "h\nallow_unauthenticated yes" }, 1,
	    "unauth", "no" },
	{ "--log", "access_log", { "off" }, 1, "access_log", "(off)" },
	{ "--log", "access_log", { "a", "b" }, 2, NULL,
	    "--log: 'access_log' takes exactly one argument" },
	{ "-x", "auth_rate", { "5/s", "burst", "7" }, 3, "auth_rate",
	    "5/s burst 7" },
	{ "-x", "workers", { "65" }, 1, NULL,
	    "-x: expected 'auto' or a number from 1 to 64, got '65'" },
	{ "-x", "connect_ports", { "22", "x", "8022" }, 3, NULL,
	    "-x: invalid port or range 'x' (1-65535, or N-M)" },
	{ "-x", "frobnicate", { "1" }, 1, NULL,
	    "-x: unknown directive 'frobnicate'" },
};

static void
test_config_set(void **state)
{
	size_t i, n = sizeof(set_cases) / sizeof(set_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct set_case *t = &set_cases[i];
		struct config *c = config_new(PATH);
		struct diag d = { NULL, 0 };
		char have[400] = "";
		int r = config_set(c, t->where, t->name, t->args, t->nargs, &d);

		if (t->field != NULL)
			render(c, t->field, have, sizeof(have));
		if (t->field != NULL ? r != 0 || d.d_count != 0 ||
		    strcmp(have, t->want) != 0 : r != -1 || d.d_count != 1 ||
		    strcmp(d.d_msgs[0], t->want) != 0) {
			print_error("row %zu: %s %s: %d, \"%s\", error \"%s\", "
			    "expected \"%s\"\n", i, t->where, t->name, r, have,
			    d.d_count ? d.d_msgs[0] : "", t->want);
			bad++;
		}
		diag_free(&d);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu config_set cases failed", bad, n);
}

struct restart_case {
	const char	*old, *new;
	bool		 changed;
};

/* What a reload cannot apply is named by the table's restart-only rows. */
static const struct restart_case restart_cases[] = {
	{ "", "", false },
	{ "user a\ngroup g\nworkers 2", "workers 2\nuser a\ngroup g", false },
	{ "", "via off\nidle_timeout 5s\nallow a.example\nlisten [::1]:1",
	    false },
	{ "", "user a", true },
	{ "user a", "user b", true },
	{ "group a", "", true },
	{ "workers 2", "workers auto", true },
	{ "", "workers 8", true },
	{ "admin_listen 127.0.0.1:9090", "admin_listen 127.0.0.1:9091", true },
	{ "admin_listen 127.0.0.1:9090", "admin_listen 127.0.0.1:9090\n"
	    "admin_users a", false },
};

static void
test_config_restart_changed(void **state)
{
	size_t i, n = sizeof(restart_cases) / sizeof(restart_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct restart_case *t = &restart_cases[i];
		struct config *o = config_new(PATH), *c = config_new(PATH);
		struct diag d = { NULL, 0 };
		char names[64];
		bool changed;

		config_parse(o, t->old, strlen(t->old), &d);
		config_parse(c, t->new, strlen(t->new), &d);
		changed = config_restart_changed(o, c, names, sizeof(names));
		if (d.d_count != 0 || changed != t->changed ||
		    strcmp(names, "user, group, workers and admin_listen") != 0) {
			print_error("row %zu: changed %d, names \"%s\"\n", i,
			    changed, names);
			bad++;
		}
		diag_free(&d);
		config_unref(o);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu restart cases failed", bad, n);
}

struct error_case {
	const char	*line;
	unsigned	 nerr;	/* errors this line must produce */
	const char	*want;	/* each of them contains this */
};

/* One buffer, one row per line: the errors must come out in order, each
 * prefixed with the file and its own line number. */
static const struct error_case error_cases[] = {
	{ "# a configuration with mistakes", 0, NULL },
	{ "listen 127.0.0.1:3128", 0, NULL },
	{ "frobnicate yes", 1, "unknown directive 'frobnicate'" },
	{ "Listen 127.0.0.1:3128", 1, "unknown directive 'Listen'" },
	{ "allow *.com", 1, "invalid pattern '*.com'" },
	{ "allow api.example.com * .com", 2, "invalid pattern" },
	{ "", 0, NULL },
	{ "allow https://api.example.com/", 1, "invalid pattern" },
	{ "allow b\xc3\xbc" "cher.de", 1, "punycode" },
	{ "connect_ports 70000", 1, "'70000'" },
	{ "connect_ports 0", 1, "'0'" },
	{ "connect_ports 443-80", 1, "'443-80'" },
	{ "connect_ports 80-", 1, "'80-'" },
	{ "connect_ports 443,8443", 1, "'443,8443'" },
	{ "connect_ports 443 https", 1, "'https'" },
	{ "idle_timeout 10x", 1, "invalid duration '10x'" },
	{ "connect_timeout 0", 1, "invalid duration '0'" },
	{ "dns_timeout -5s", 1, "invalid duration" },
	{ "header_timeout 1.5s", 1, "invalid duration" },
	{ "   # an indented comment", 0, NULL },
	{ "listen", 1, "listen: expected 'listen ADDR:PORT [tls]" },
	{ "listen 127.0.0.1:1 127.0.0.1:2", 1, "expected 'tls' or "
	    "'proxy_protocol' after" },
	{ "allow", 1, "'allow' needs at least one argument" },
	{ "connect_ports", 1, "needs at least one argument" },
	{ "users", 1, "'users' takes exactly one argument" },
	{ "access_log a b", 1, "takes exactly one argument" },
	{ "idle_timeout 5 m", 1, "takes exactly one argument" },
	{ "max_connections 0", 1, "max_connections" },
	{ "max_connections lots", 1, "'lots'" },
	{ "max_connections 1 2", 1, "takes exactly one argument" },
	{ "auth_rate", 1, "auth_rate: expected 'auth_rate N/s burst M'" },
	{ "auth_rate 10", 1, "auth_rate: expected" },
	{ "auth_rate 10/s", 1, "auth_rate: expected" },
	{ "auth_rate 10 burst 20", 1, "auth_rate: expected" },
	{ "auth_rate 10/m burst 20", 1, "auth_rate: expected" },
	{ "auth_rate 0/s burst 20", 1, "auth_rate: expected" },
	{ "auth_rate 10/s burst 0", 1, "auth_rate: expected" },
	{ "auth_rate -1/s burst 20", 1, "auth_rate: expected" },
	{ "auth_rate 10/s burst 20x", 1, "auth_rate: expected" },
	{ "auth_rate 10/s bursts 20", 1, "auth_rate: expected" },
	{ "auth_rate 10/s burst 20 30", 1, "auth_rate: expected" },
	{ "listen 127.0.0.1", 1, "listen:" },
	{ "listen localhost:3128", 1, "listen: host names are not accepted, "
	    "only addresses" },
	{ "dns_server notanip", 1, "dns_server: host names are not accepted, "
	    "only addresses (e.g. 1.1.1.1, 10.0.0.2:5353 or [2606:4700::1111]): "
	    "'notanip'" },
	{ "dns_server 1.2.3.4.5", 1, "dns_server: invalid address (expected "
	    "ADDR, ADDR:PORT, [IPv6] or [IPv6]:PORT): '1.2.3.4.5'" },
	{ "listen ::1:3128", 1, "listen:" },
	{ "allow_cidr 10.0.0.1/8", 1, "allow_cidr:" },
	{ "allow_cidr 10.0.0.0/33 10.0.0.0/8", 1, "allow_cidr:" },
	{ "dns_server 8.8.8.8:0", 1, "dns_server:" },
	{ "dns_server dns.google", 1, "dns_server:" },
	{ "allow_unauthenticated maybe", 1, "'yes' or 'no'" },
	{ "users a.htpasswd", 0, NULL },
	{ "users b.htpasswd", 1, "given twice" },
	{ "hosts_file hosts", 0, NULL },
	{ "hosts_file hosts2", 0, NULL },	/* several are merged */
	{ "    allow good.example.com   ", 0, NULL },
	{ "frobnicate", 1, "unknown directive" },	/* no final newline */
};

static int
check_errors(const char *eol)
{
	size_t i, k = 0, n = sizeof(error_cases) / sizeof(error_cases[0]);
	struct config *c = config_new(PATH);
	struct diag d = { NULL, 0 };
	char buf[4096] = "", prefix[64];
	unsigned j;
	int bad = 0;

	for (i = 0; i < n; i++)
		cat(buf, sizeof(buf), "%s%s", i ? eol : "", error_cases[i].line);
	if (config_parse(c, buf, strlen(buf), &d) != -1) {
		print_error("config_parse did not fail\n");
		bad++;
	}
	for (i = 0; i < n; i++) {
		const struct error_case *t = &error_cases[i];

		snprintf(prefix, sizeof(prefix), PATH ":%zu: ", i + 1);
		for (j = 0; j < t->nerr; j++, k++) {
			if (k >= d.d_count) {
				print_error("line %zu \"%s\": missing error\n",
				    i + 1, t->line);
				bad++;
			} else if (strncmp(d.d_msgs[k], prefix,
			    strlen(prefix)) != 0 ||
			    strstr(d.d_msgs[k], t->want) == NULL) {
				print_error("line %zu \"%s\": got \"%s\", "
				    "expected \"%s...%s...\"\n", i + 1, t->line,
				    d.d_msgs[k], prefix, t->want);
				bad++;
			}
		}
	}
	for (; k < d.d_count; k++) {
		print_error("unexpected error: %s\n", d.d_msgs[k]);
		bad++;
	}
	/* Parsing went on after each error. */
	if (!patterns_match(&DEF(c)->p_allow, "good.example.com") ||
	    !patterns_match(&DEF(c)->p_allow, "api.example.com")) {
		print_error("directives after an error were not applied\n");
		bad++;
	}
	diag_free(&d);
	config_unref(c);
	return bad;
}

static void
test_config_errors(void **state)
{
	int bad;

	(void)state;
	bad = check_errors("\n");
	bad += check_errors("\r\n");
	if (bad > 0)
		fail_msg("%d error-reporting checks failed", bad);
}

/* A NUL byte is an error on its own line; later lines keep their numbers. */
static void
test_config_nul_byte(void **state)
{
	static const char buf[] = "listen 127.0.0.1:3128\nallow a\0b.com\n"
	    "frobnicate\n";
	static const char *const want[] = {
		PATH ":2: NUL byte in line",
		PATH ":3: unknown directive 'frobnicate'",
	};
	struct config *c = config_new(PATH);
	struct diag d = { NULL, 0 };
	size_t i;
	int bad = 0;

	(void)state;
	if (config_parse(c, buf, sizeof(buf) - 1, &d) != -1)
		bad++;
	for (i = 0; i < 2; i++)
		if (i >= d.d_count || strcmp(d.d_msgs[i], want[i]) != 0) {
			print_error("error %zu: got \"%s\", expected \"%s\"\n",
			    i + 1, i < d.d_count ? d.d_msgs[i] : "(none)",
			    want[i]);
			bad++;
		}
	if (d.d_count != 2 || patterns_match(&DEF(c)->p_allow, "a"))
		bad++;
	diag_free(&d);
	config_unref(c);
	if (bad > 0)
		fail_msg("a line with a NUL byte: %d checks failed", bad);
}

struct duration_case {
	const char	*in;
	int		 ret;
	unsigned	 ms;
};

static const struct duration_case duration_cases[] = {
	{ "0", 0, 0 },
	{ "10", 0, 10000 },
	{ "10s", 0, 10000 },
	{ "500ms", 0, 500 },
	{ "1ms", 0, 1 },
	{ "5m", 0, 300000 },
	{ "15m", 0, 900000 },
	{ "1h", 0, 3600000 },
	{ "010s", 0, 10000 },
	{ "4294967295ms", 0, 4294967295u },
	{ "1193h", 0, 4294800000u },
	{ "4294967296ms", -1, 0 },
	{ "4294968s", -1, 0 },
	{ "1194h", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "", -1, 0 },
	{ "s", -1, 0 },
	{ "ms", -1, 0 },
	{ "-1", -1, 0 },
	{ "+5", -1, 0 },
	{ " 5", -1, 0 },
	{ "5 ", -1, 0 },
	{ "5 s", -1, 0 },
	{ "5sec", -1, 0 },
	{ "5ss", -1, 0 },
	{ "1.5s", -1, 0 },
	{ "5d", -1, 0 },
	{ "5us", -1, 0 },
	{ "10ms5", -1, 0 },
	{ "1h30m", -1, 0 },
	{ "0x10", -1, 0 },
	{ "ten", -1, 0 },
};

static void
test_config_parse_duration(void **state)
{
	size_t i, n = sizeof(duration_cases) / sizeof(duration_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct duration_case *t = &duration_cases[i];
		unsigned ms = 12345;
		int r = config_parse_duration(t->in, &ms);

		if (r != t->ret || (r == 0 && ms != t->ms)) {
			print_error("row %zu: config_parse_duration(\"%s\") = %d "
			    "(%u ms), expected %d (%u ms)\n", i, t->in, r, ms,
			    t->ret, t->ms);
			bad++;
		}
	}
	if (bad > 0)
		fail_msg("%d of %zu duration cases failed", bad, n);
}

#define USER_LINE \
	"agent:$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu"

struct finish_case {
	const char	*text;
	bool		 add_user;	/* as if the users file had one entry */
	int		 ret;
	const char	*want;	/* error substring, or listeners on success */
	const char	*ports;	/* connect ports on success */
};

static const struct finish_case finish_cases[] = {
	{ "", false, 0, "127.0.0.1:3128", "443" },
	{ "allow api.anthropic.com", false, 0, "127.0.0.1:3128", "443" },
	{ "connect_ports 8443", false, 0, "127.0.0.1:3128", "8443" },
	{ "listen [::1]:3128", false, 0, "[::1]:3128", "443" },
	{ "listen 127.0.0.2:8080", false, 0, "127.0.0.2:8080", "443" },
	{ "listen 0.0.0.0:3128\nallow_unauthenticated yes", false, 0,
	    "0.0.0.0:3128", "443" },
	/* users over plain text off loopback: passwords in clear. */
	{ "listen 0.0.0.0:3128\nusers users.htpasswd", true, -1, PATH ":1: "
	    "listen 0.0.0.0:3128: with 'users', every password would cross "
	    "the network in clear text; add 'tls'", NULL },
	{ "listen 0.0.0.0:3128\nusers users.htpasswd\nplaintext_auth yes", true,
	    0, "0.0.0.0:3128", "443" },
	{ "listen 0.0.0.0:3128 tls\nusers users.htpasswd\ntls_cert c.pem\n"
	    "tls_key k.pem", true, 0, "0.0.0.0:3128 tls", "443" },
	{ "listen 127.0.0.1:3128\nusers users.htpasswd", true, 0,
	    "127.0.0.1:3128", "443" },
	/* Client certificates are authentication: no open proxy. */
	{ "listen 0.0.0.0:3128 tls\ntls_cert c.pem\ntls_key k.pem\n"
	    "tls_client_ca ca.pem", false, 0, "0.0.0.0:3128 tls", "443" },
	{ "listen 0.0.0.0:3128", false, -1, PATH ":1: listen 0.0.0.0:3128 "
	    "without 'users'", NULL },
	{ "listen 0.0.0.0:3128", false, -1, "allow_unauthenticated yes", NULL },
	{ "listen [::]:3128", false, -1, ":1: listen [::]:3128", NULL },
	{ "listen 127.0.0.1:3128\nlisten 192.168.1.10:3128", false, -1,
	    ":2: listen 192.168.1.10:3128", NULL },
	{ "listen 0.0.0.0:3128\nallow_unauthenticated no", false, -1,
	    "open proxy", NULL },
	{ "users users.htpasswd", false, -1,
	    PATH ":1: users /etc/sluice/users.htpasswd: the file holds no user",
	    NULL },
};

static void
test_config_finish(void **state)
{
	size_t i, n = sizeof(finish_cases) / sizeof(finish_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct finish_case *t = &finish_cases[i];
		struct config *c = config_new(PATH);
		struct diag d = { NULL, 0 };
		char err[300], listen[200], ports[200];
		int r = -2;

		if (config_parse(c, t->text, strlen(t->text), &d) == 0 &&
		    (!t->add_user || htpasswd_parse_line(&c->c_users,
		    USER_LINE, strlen(USER_LINE), err, sizeof(err)) == 0))
			r = config_finish(c, &d);
		render(c, "listen", listen, sizeof(listen));
		render(c, "ports", ports, sizeof(ports));
		if (r != t->ret) {
			print_error("row %zu: \"%s\": config_finish returned %d, "
			    "expected %d (first error: %s)\n", i, t->text, r,
			    t->ret, d.d_count ? d.d_msgs[0] : "none");
			bad++;
		} else if (r == 0 && (strcmp(listen, t->want) != 0 ||
		    strcmp(ports, t->ports) != 0)) {
			print_error("row %zu: \"%s\": listen \"%s\" ports \"%s\", "
			    "expected \"%s\" and \"%s\"\n", i, t->text, listen,
			    ports, t->want, t->ports);
			bad++;
		} else if (r == -1 && (d.d_count != 1 ||
		    strstr(d.d_msgs[0], t->want) == NULL)) {
			print_error("row %zu: \"%s\": %zu errors, first \"%s\", "
			    "expected one containing \"%s\"\n", i, t->text,
			    d.d_count, d.d_count ? d.d_msgs[0] : "", t->want);
			bad++;
		}
		diag_free(&d);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu config_finish cases failed", bad, n);
}

struct port_case {
	const char	*text;
	uint16_t	 port;
	bool		 allowed;
};

static const struct port_case port_cases[] = {
	{ "", 443, true },
	{ "", 80, false },
	{ "", 22, false },
	{ "", 0, false },
	{ "", 442, false },
	{ "", 444, false },
	{ "", 65535, false },
	{ "connect_ports 8000-8080 443", 7999, false },
	{ "connect_ports 8000-8080 443", 8000, true },
	{ "connect_ports 8000-8080 443", 8042, true },
	{ "connect_ports 8000-8080 443", 8080, true },
	{ "connect_ports 8000-8080 443", 8081, false },
	{ "connect_ports 8000-8080 443", 443, true },
	{ "connect_ports 8443", 443, false },
	{ "connect_ports 1-65535", 1, true },
	{ "connect_ports 1-65535", 65535, true },
	{ "connect_ports 1-65535", 0, false },
	{ "connect_ports 65535", 65535, true },
	{ "connect_ports 65535", 65534, false },
};

static void
test_config_connect_port(void **state)
{
	size_t i, n = sizeof(port_cases) / sizeof(port_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct port_case *t = &port_cases[i];
		struct config *c = config_new(PATH);
		struct diag d = { NULL, 0 };
		bool ok;

		if (config_parse(c, t->text, strlen(t->text), &d) == -1 ||
		    config_finish(c, &d) == -1) {
			print_error("row %zu: \"%s\" refused: %s\n", i, t->text,
			    d.d_msgs[0]);
			bad++;
		} else if ((ok = config_connect_port(DEF(c), t->port)) !=
		    t->allowed) {
			print_error("row %zu: \"%s\": port %u %s, expected %s\n",
			    i, t->text, (unsigned)t->port,
			    ok ? "allowed" : "refused",
			    t->allowed ? "allowed" : "refused");
			bad++;
		}
		diag_free(&d);
		config_unref(c);
	}
	if (bad > 0)
		fail_msg("%d of %zu connect_port cases failed", bad, n);
}

/* What config_finish says of a TLS set-up that cannot work: a tls listener
 * without a certificate, or half a pair. */
static const struct reject_case tls_finish_cases[] = {
	{ "listen 127.0.0.1:3128 tls", PATH ":1: "
	    "listen ... tls needs tls_cert FILE and tls_key FILE" },
	{ "tls_cert a.pem", PATH ":1: tls_cert without tls_key" },
	{ "allow a.com\ntls_key k.pem", PATH ":2: tls_key without tls_cert" },
	{ "listen 127.0.0.1:3128\ntls_client_ca ca.pem", PATH ":2: "
	    "tls_client_ca: client certificates are asked for on tls "
	    "listeners only; add 'tls' to a listen line (with tls_cert and "
	    "tls_key)" },
	{ "listen 127.0.0.1:3128 tls\ntls_cert c.pem\ntls_key k.pem\n"
	    "tls_crl crl.pem", PATH ":4: tls_crl without tls_client_ca: a "
	    "revocation list is of the CAs that sign client certificates" },
};

static void
test_config_tls_finish(void **state)
{
	size_t i, n = sizeof(tls_finish_cases) / sizeof(tls_finish_cases[0]);

	(void)state;
	for (i = 0; i < n; i++) {
		const struct reject_case *t = &tls_finish_cases[i];
		struct config *c = config_new(PATH);
		struct diag d = { NULL, 0 };

		assert_int_equal(config_parse(c, t->text, strlen(t->text), &d),
		    0);
		assert_int_equal(config_finish(c, &d), -1);
		assert_true(d.d_count >= 1);
		assert_string_equal(d.d_msgs[0], t->want);
		diag_free(&d);
		config_unref(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_tls_finish),
		cmocka_unit_test(test_config_directives),
		cmocka_unit_test(test_config_rejects),
		cmocka_unit_test(test_config_every_directive_has_rows),
		cmocka_unit_test(test_config_set),
		cmocka_unit_test(test_config_restart_changed),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_nul_byte),
		cmocka_unit_test(test_config_parse_duration),
		cmocka_unit_test(test_config_finish),
		cmocka_unit_test(test_config_connect_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
