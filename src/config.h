/* SPDX-License-Identifier: MIT */
/* The configuration: sluice.conf and the files it names, parsed into one
 * immutable, reference-counted object. Connections hold a reference to the
 * configuration they started under, so a later reload can swap in a new one
 * without disturbing them. Parsing a buffer does no I/O (config_parse and the
 * line parsers); config_load reads the files and calls them. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"
#include "hosts.h"
#include "htpasswd.h"
#include "pattern.h"
#include "tls.h"

/* Every error found, each "FILE:LINE: message". */
struct diag {
	char	**d_msgs;
	size_t	  d_count;
};

/* Record one error. `line` 0 omits the line number. */
void diag_add(struct diag *d, const char *file, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Print every message, one per line, to `fp`. */
void diag_print(const struct diag *d, FILE *fp);

/* Free the messages. */
void diag_free(struct diag *d);

struct tls_server;

struct config_listen {
	struct sockaddr_storage	 l_addr;
	socklen_t		 l_len;
	unsigned		 l_line;	/* 0: the default */
	bool			 l_tls;		/* `listen ADDR:PORT tls` */
	bool			 l_pp;		/* ... proxy_protocol: every
						 * connection starts with a PROXY
						 * header (from c_pp_from only) */
};

/* A file named by the configuration, read by config_load. */
struct config_ref {
	char		*r_path;	/* resolved against the config's dir */
	unsigned	 r_line;	/* where it was named */
};

#define CONFIG_PORTS_BYTES (65536 / 8)

/* Password checks that may start per second per client address, and the
 * burst allowed above that rate (auth_rate). */
/* The hosts file read when no hosts_file line names one, as Squid does. */
#define CONFIG_HOSTS_DEFAULT	"/etc/hosts"

/* Where sluice listens when no listen line says. */
#define CONFIG_LISTEN_DEFAULT	"127.0.0.1:3128"

#define CONFIG_AUTH_RATE	10
#define CONFIG_AUTH_BURST	20

/* What a policy allows: the top-level directives make the default policy;
 * each `policy NAME` block makes another. */
struct policy_member {
	char			*m_name;	/* a user, or a certificate's identity */
	unsigned		 m_line;
};

struct policy {
	char			*p_name;	/* NULL: the default policy */
	unsigned		 p_line;
	struct policy_member	*p_members;
	size_t			 p_nmembers;
	struct patterns		 p_allow;
	struct config_ref	*p_allow_files;
	size_t			 p_nallow_files;
	struct patterns		 p_deny;	/* wins over p_allow */
	struct config_ref	*p_deny_files;
	size_t			 p_ndeny_files;
	uint8_t			 p_connect_ports[CONFIG_PORTS_BYTES];
	bool			 p_connect_ports_set;
	uint8_t			 p_http_ports[CONFIG_PORTS_BYTES];
	bool			 p_http_ports_set;
	struct cidr		*p_cidrs;	/* allow_cidr */
	size_t			 p_ncidrs;
	bool			 p_report;	/* mode report: log, let through */
	unsigned		 p_max_tunnels;	/* per identity; 0: no limit */
	bool			 p_sni_off;	/* sni off: no ClientHello check */
};

struct config {
	atomic_int		 c_refs;
	uint64_t		 c_generation;	/* unique per load */
	char			*c_path;

	struct config_listen	*c_listen;
	size_t			 c_nlisten;
	struct config_ref	 c_tls_cert;	/* PEM chain for tls listeners */
	struct config_ref	 c_tls_key;
	struct config_ref	 c_tls_client_ca;	/* CAs of client certs */
	struct config_ref	 c_tls_crl;	/* their revocation lists */
	enum tls_identity	 c_tls_identity;	/* which name is the user */
	struct tls_server	*c_tls;		/* loaded by config_load_files */

	bool			 c_have_users;
	bool			 c_users_unreadable;	/* load failed, said */
	struct config_ref	 c_users_file;
	struct userdb		 c_users;

	struct policy		**c_policies;	/* [0]: the default policy */
	size_t			 c_npolicies;
	size_t			 c_cur;		/* parsing: the block in force */
	struct strmap		 c_members;	/* identity -> c_policies index */

	uint8_t			 c_sni_ports[CONFIG_PORTS_BYTES];
	bool			 c_sni_ports_set;
	bool			 c_allow_ech;	/* let encrypted ClientHellos by */

	struct cidr		*c_pp_from;	/* proxy_protocol_from: who may
						 * send PROXY headers */
	size_t			 c_npp_from;

	bool			 c_via;		/* add Via to forwarded HTTP */
	bool			 c_forwarded_for;	/* add X-Forwarded-For */

	struct config_ref	*c_hosts_files;	/* merged in order */
	size_t			 c_nhosts_files;
	bool			 c_hosts_none;	/* hosts_file none */
	bool			 c_hosts_default; /* /etc/hosts, by default */
	struct hostsdb		 c_hosts;

	char			*c_dns_servers;	/* c-ares CSV, or NULL */

	char			*c_access_log;	/* path, "stdout" or NULL=off */
	unsigned		 c_access_log_line;
	bool			 c_log_json;	/* access_log_format json */
	char			*c_user;	/* drop privileges to, or NULL */
	char			*c_group;
	unsigned		 c_user_line, c_group_line;
	unsigned		 c_shutdown_grace_ms;
	unsigned		 c_shutdown_delay_ms;	/* SIGTERM: /healthz
						 * says 503 this long before
						 * the listeners close */

	/* The admin listener (/metrics, /healthz, /status). */
	char			*c_admin_listen;	/* as written, or NULL */
	unsigned		 c_admin_line;
	struct sockaddr_storage	 c_admin_addr;
	socklen_t		 c_admin_len;
	struct config_ref	 c_admin_users_file;
	struct config		*c_admin;	/* admin_users: a configuration
						 * holding only those users, for
						 * auth_check; NULL: none */
	unsigned		 c_workers;	/* event loops; 0 = one per CPU */

	unsigned		 c_connect_timeout_ms;
	unsigned		 c_dns_timeout_ms;
	unsigned		 c_idle_timeout_ms;
	unsigned		 c_header_timeout_ms;
	unsigned		 c_max_connections;
	bool			 c_max_connections_set;	/* written, not default */
	bool			 c_allow_unauthenticated;
	bool			 c_plaintext_auth;	/* users over plain text off loopback */
	unsigned		 c_auth_rate;	/* password checks/s per address */
	unsigned		 c_auth_burst;
};

/* A configuration with every default and no references to files. */
struct config *config_new(const char *path);

/* Parse the text of the main file (`fname` for messages). Errors go to `d`;
 * parsing continues after an error so that every error is reported.
 * Returns 0 when `d` gained no errors. */
int config_parse(struct config *c, const char *buf, size_t len,
    struct diag *d);

/* Apply one directive to `c` as a line of the file would, for a caller that
 * builds a configuration from something other than text (sluice run's
 * flags): `name` with `nargs` arguments `args` (borrowed; what is kept is
 * copied). The same table row, parser and checks as config_parse, so no
 * value is ever formatted into configuration text and parsed back.
 * Messages go to `d` as "where: message" (`where` names the source, e.g.
 * "--allow-cidr") and may quote an argument: no directive takes a secret,
 * so never pass one. Returns 0 or -1. Call config_load_files when done. */
int config_set(struct config *c, const char *where, const char *name,
    const char *const *args, int nargs, struct diag *d);

/* Must a client prove who it is: a users file, or client certificates
 * (tls_client_ca)? */
bool config_needs_auth(const struct config *c);

/* May the source `sa` (a load balancer) send PROXY headers: is it in
 * proxy_protocol_from? */
bool config_pp_trusted(const struct config *c, const struct sockaddr *sa);

/* Apply defaults and cross-directive checks after every file is parsed
 * (e.g. a public listener without users). Never exits: every error,
 * internal ones included, goes to `d`. Returns 0 or -1 with `d` filled. */
int config_finish(struct config *c, struct diag *d);

/* Read the files a parsed (or config_set) configuration names: users,
 * allow_file and hosts_file (/etc/hosts when none is named), then
 * config_finish. Returns 0, or -1 with every error in `d`. */
int config_load_files(struct config *c, struct diag *d);

/* Read `path` and every file it names, parse and validate. Returns a new
 * configuration with one reference, or NULL with every error in `d`. */
struct config *config_load(const char *path, struct diag *d);

/* The same for configuration text already in memory, named `path` in
 * messages and for resolving relative file names. */
struct config *config_load_text(const char *path, const char *buf, size_t len,
    struct diag *d);

/* What only the running system can tell about a loaded configuration, for
 * `sluice check`: a `user` or `group` that does not exist and an access log
 * whose directory is missing or not writable go to `errs`; a users file
 * readable by every user and an empty allowlist go to `warns`. Every
 * message has the FILE:LINE form. Returns the number of errors added. */
size_t config_check_system(const struct config *c, struct diag *errs,
    struct diag *warns);

/* Call `fn` for each line of `buf` with its 1-based number; an error `fn`
 * reports is added to `d` as "fname:line: err". Returns errors added. */
size_t config_each_line(const char *fname, const char *buf, size_t len,
    int (*fn)(void *ctx, unsigned lineno, const char *line, size_t len,
    char *err, size_t errlen), void *ctx, struct diag *d);

/* Parse a duration ("500ms", "10s", "5m", "1h"; bare number = seconds) into
 * milliseconds. Returns 0 or -1. */
int config_parse_duration(const char *s, unsigned *ms);

/* Add the ports of `list` ("22,8443,9000-9100", commas or spaces) to what
 * CONNECT (`connect`) or plain HTTP may reach, on top of what the file or
 * the default allows. Returns 0, or -1 with a message in `err`. */
int config_add_ports(struct config *c, bool connect, const char *list,
    char *err, size_t errlen);

/* The default policy: the top-level rules. */
const struct policy *config_default_policy(const struct config *c);

/* The policy of identity `user` (NULL: nobody authenticated): the block
 * that names it in `members`, else the default policy. */
const struct policy *config_policy_of(const struct config *c,
    const char *user);

/* Members of policy blocks that name nobody: not in the users file, and
 * no tls_client_ca whose certificates could carry the name. Adds one
 * message per member to `d`; returns how many. Start and `check` refuse
 * them; a reload says them and goes on (the user was just removed: their
 * connections must go, not stay for want of a second edit). */
size_t config_check_members(const struct config *c, struct diag *d);

/* A policy's name for logs and messages: "default" for the default. */
const char *config_policy_name(const struct policy *p);

/* True when CONNECT, under policy `p`, may reach `port`. */
bool config_connect_port(const struct policy *p, uint16_t port);

/* True when plain-HTTP forwarding, under policy `p`, may reach `port`. */
bool config_http_port(const struct policy *p, uint16_t port);

/* True when a tunnel to `port` must start with a ClientHello that names
 * its host (sni_ports), for policies that say `sni require`. */
bool config_sni_port(const struct config *c, uint16_t port);

/* The directives config_parse knows, for tests that walk them: how many,
 * and the name of the `i`th (NULL past the end; borrowed, static). */
size_t config_directive_count(void);
const char *config_directive_name(size_t i);

/* Whether a directive that only a restart applies (the table's
 * restart-only rows: user, group, workers) differs between `o` and `n`.
 * Whatever the answer, `names` receives those directives' names as a list
 * ("user, group and workers"), truncated to `len`. */
bool config_restart_changed(const struct config *o, const struct config *n,
    char *names, size_t len);

/* Print the one-screen summary that `sluice check` shows. */
void config_summary(const struct config *c, FILE *fp);

/* Take another reference; returns `c`. */
struct config *config_ref(struct config *c);

/* Drop a reference; frees the configuration with the last one. */
void config_unref(struct config *c);

#endif
