/* SPDX-License-Identifier: MIT */
/* Configuration parsing and loading. One directive per line; every error is
 * collected with its file and line so `sluice check` can show them all. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"
#include "log.h"

#define CONFIG_MAX_WORDS	256
#define CONFIG_MAX_FILE		(64u << 20)

/* A copy of `s` fit for a terminal: messages quote what files hold, and a
 * control byte (an escape sequence, a CR) there must not act on the
 * operator's terminal or log. Each becomes "\xNN". */
static char *
diag_clean(const char *s)
{
	size_t i, o = 0, n = strlen(s);
	char *r = xmalloc(4 * n + 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)sprintf(r + o, "\\x%02x", c);
		else
			r[o++] = (char)c;
	}
	r[o] = '\0';
	return r;
}

void
diag_add(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[600], full[900];
	va_list ap;
	char **msgs;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(full, sizeof(full), "%s:%u: %s", file, line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", file, msg);
	msgs = xrealloc(d->d_msgs, (d->d_count + 1) * sizeof(*msgs));
	d->d_msgs = msgs;
	msgs[d->d_count++] = diag_clean(full);
}

void
diag_print(const struct diag *d, FILE *fp)
{
	size_t i;

	for (i = 0; i < d->d_count; i++)
		fprintf(fp, "%s\n", d->d_msgs[i]);
}

void
diag_free(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->d_count; i++)
		free(d->d_msgs[i]);
	free(d->d_msgs);
	d->d_msgs = NULL;
	d->d_count = 0;
}

/* Start a policy (NULL `name`: the default one) and make it the block the
 * following directives go to. */
static void
config_policy_add(struct config *c, const char *name, unsigned line)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->p_name = name != NULL ? xstrdup(name) : NULL;
	p->p_line = line;
	patterns_init(&p->p_allow);
	patterns_init(&p->p_deny);
	c->c_policies = xrealloc(c->c_policies, (c->c_npolicies + 1) *
	    sizeof(*c->c_policies));
	c->c_cur = c->c_npolicies;
	c->c_policies[c->c_npolicies++] = p;
}

static void
config_policy_free(struct policy *p)
{
	size_t i;

	free(p->p_name);
	for (i = 0; i < p->p_nmembers; i++)
		free(p->p_members[i].m_name);
	free(p->p_members);
	patterns_free(&p->p_allow);
	patterns_free(&p->p_deny);
	for (i = 0; i < p->p_nallow_files; i++)
		free(p->p_allow_files[i].r_path);
	free(p->p_allow_files);
	for (i = 0; i < p->p_ndeny_files; i++)
		free(p->p_deny_files[i].r_path);
	free(p->p_deny_files);
	free(p->p_cidrs);
	free(p);
}

const struct policy *
config_default_policy(const struct config *c)
{
	return c->c_policies[0];
}

const struct policy *
config_policy_of(const struct config *c, const char *user)
{
	const uintptr_t *v;

	if (user == NULL || (v = strmap_get(&c->c_members, user,
	    strlen(user))) == NULL)
		return c->c_policies[0];
	return c->c_policies[*v];
}

size_t
config_check_members(const struct config *c, struct diag *d)
{
	size_t i, j, n = 0;

	if (c->c_tls_client_ca.r_path != NULL)
		return 0;	/* any name may be a certificate's */
	for (i = 1; i < c->c_npolicies; i++)
		for (j = 0; j < c->c_policies[i]->p_nmembers; j++) {
			const struct policy_member *m =
			    &c->c_policies[i]->p_members[j];

			if (c->c_have_users && userdb_find(&c->c_users,
			    m->m_name, strlen(m->m_name)) != NULL)
				continue;
			diag_add(d, c->c_path, m->m_line, "members: %s is not in "
			    "%s", m->m_name, c->c_have_users ?
			    c->c_users_file.r_path : "any users file (and no "
			    "tls_client_ca names anyone)");
			n++;
		}
	return n;
}

const char *
config_policy_name(const struct policy *p)
{
	return p->p_name != NULL ? p->p_name : "default";
}

struct config *
config_new(const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));

	static atomic_uint_fast64_t generation;

	c->c_refs = 1;
	c->c_generation = atomic_fetch_add_explicit(&generation, 1,
	    memory_order_relaxed) + 1;
	c->c_path = xstrdup(path);
	userdb_init(&c->c_users);
	strmap_init(&c->c_members);
	config_policy_add(c, NULL, 0);
	hosts_init(&c->c_hosts);
	c->c_access_log = xstrdup("stdout");
	c->c_connect_timeout_ms = 10000;
	c->c_dns_timeout_ms = 5000;
	c->c_idle_timeout_ms = 15 * 60 * 1000;
	c->c_header_timeout_ms = 10000;
	c->c_auth_rate = CONFIG_AUTH_RATE;
	c->c_auth_burst = CONFIG_AUTH_BURST;
	c->c_max_connections = 10000;
	c->c_shutdown_grace_ms = 30000;
	c->c_via = true;
	return c;
}

static void
config_free(struct config *c)
{
	size_t i;

	free(c->c_path);
	free(c->c_listen);
	free(c->c_tls_cert.r_path);
	free(c->c_tls_key.r_path);
	free(c->c_tls_client_ca.r_path);
	free(c->c_tls_crl.r_path);
	tls_server_free(c->c_tls);
	free(c->c_users_file.r_path);
	userdb_free(&c->c_users);
	free(c->c_pp_from);
	free(c->c_admin_listen);
	free(c->c_admin_users_file.r_path);
	config_unref(c->c_admin);
	for (i = 0; i < c->c_npolicies; i++)
		config_policy_free(c->c_policies[i]);
	free(c->c_policies);
	strmap_free(&c->c_members);
	for (i = 0; i < c->c_nhosts_files; i++)
		free(c->c_hosts_files[i].r_path);
	free(c->c_hosts_files);
	hosts_free(&c->c_hosts);
	free(c->c_dns_servers);
	free(c->c_access_log);
	free(c->c_user);
	free(c->c_group);
	free(c);
}

struct config *
config_ref(struct config *c)
{
	atomic_fetch_add_explicit(&c->c_refs, 1, memory_order_relaxed);
	return c;
}

void
config_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub_explicit(&c->c_refs, 1,
	    memory_order_acq_rel) == 1)
		config_free(c);
}

int
config_parse_duration(const char *s, unsigned *ms)
{
	unsigned long long v, mult;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	if (v > UINT_MAX / mult)
		return -1;
	*ms = (unsigned)(v * mult);
	return 0;
}

static bool
config_port_bit(const uint8_t *bits, unsigned port)
{
	return (bits[port / 8] >> (port % 8)) & 1;
}

bool
config_connect_port(const struct policy *p, uint16_t port)
{
	return config_port_bit(p->p_connect_ports, port);
}

bool
config_http_port(const struct policy *p, uint16_t port)
{
	return config_port_bit(p->p_http_ports, port);
}

bool
config_sni_port(const struct config *c, uint16_t port)
{
	return config_port_bit(c->c_sni_ports, port);
}

static void
config_port_set(uint8_t *bits, unsigned port)
{
	bits[port / 8] |= (uint8_t)(1u << (port % 8));
}

/* "N" or "N-M", 1..65535. */
static int
config_parse_port_range(const char *s, unsigned *lo, unsigned *hi)
{
	unsigned long a, b;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			return -1;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || a == 0 || b > 65535 || a > b)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

int
config_add_ports(struct config *c, bool connect, const char *list, char *err,
    size_t errlen)
{
	struct policy *pol = c->c_policies[0];
	uint8_t *bits = connect ? pol->p_connect_ports : pol->p_http_ports;
	char one[16];
	const char *p = list, *e;
	unsigned lo, hi, port;
	size_t n;

	do {
		e = p + strcspn(p, ", ");
		n = (size_t)(e - p);
		if (n == 0 || n >= sizeof(one)) {
			snprintf(err, errlen, "invalid port or range in '%s'",
			    list);
			return -1;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if (config_parse_port_range(one, &lo, &hi) == -1) {
			snprintf(err, errlen, "invalid port or range '%s' (use "
			    "N or N-M, 1-65535)", one);
			return -1;
		}
		for (port = lo; port <= hi; port++)
			config_port_set(bits, port);
		p = *e != '\0' ? e + 1 : e;
	} while (*p != '\0');
	return 0;
}

/* Resolve a path named in the config relative to the config file's dir. */
static char *
config_resolve(const struct config *c, const char *p)
{
	const char *slash = strrchr(c->c_path, '/');
	size_t dlen;
	char *r;

	if (p[0] == '/' || slash == NULL)
		return xstrdup(p);
	dlen = (size_t)(slash - c->c_path) + 1;
	r = xmalloc(dlen + strlen(p) + 1);
	memcpy(r, c->c_path, dlen);
	strcpy(r + dlen, p);
	return r;
}

static int
config_dns_server(struct config *c, const char *w, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char tmp[80], addr[INET6_ADDRSTRLEN + 8];
	size_t old = c->c_dns_servers ? strlen(c->c_dns_servers) : 0;

	/* Accept ADDR, ADDR:PORT, [V6] and [V6]:PORT. */
	if (w[0] == '[' && w[strlen(w) - 1] == ']')
		snprintf(tmp, sizeof(tmp), "%s:53", w);
	else if (strchr(w, ':') != NULL && w[0] != '[' &&
	    strchr(w, ':') != strrchr(w, ':'))
		snprintf(tmp, sizeof(tmp), "[%s]:53", w);
	else if (strchr(w, ':') == NULL)
		snprintf(tmp, sizeof(tmp), "%s:53", w);
	else
		snprintf(tmp, sizeof(tmp), "%s", w);
	if (addr_parse_hostport(tmp, &ss, &sl, err, errlen) == -1) {
		/* Say it about what was written, not the ":53" we added. */
		if (strstr(err, "host names") != NULL)
			snprintf(err, errlen, "host names are not accepted, only "
			    "addresses (e.g. 1.1.1.1, 10.0.0.2:5353 or "
			    "[2606:4700::1111]): '%s'", w);
		else
			snprintf(err, errlen, "invalid address (expected ADDR, "
			    "ADDR:PORT, [IPv6] or [IPv6]:PORT): '%s'", w);
		return -1;
	}
	if (addr_port((struct sockaddr *)&ss) == 0) {
		snprintf(err, errlen, "DNS server port 0: '%s'", w);
		return -1;
	}
	addr_format((struct sockaddr *)&ss, addr, sizeof(addr));
	c->c_dns_servers = xrealloc(c->c_dns_servers, old + strlen(addr) + 2);
	if (old > 0)
		c->c_dns_servers[old++] = ',';
	strcpy(c->c_dns_servers + old, addr);
	return 0;
}

static void
config_set_ref(struct config *c, struct config_ref *r, const char *p,
    unsigned line)
{
	free(r->r_path);
	r->r_path = config_resolve(c, p);
	r->r_line = line;
}

/*
 * The directives. One row each in config_kw_table: the name, how many
 * arguments it takes, the parser of its kind, the field that parser sets
 * and whether a reload applies it. config_directive (a line of the file)
 * and config_set (sluice run's flags) both go through the row, so a
 * directive has one parser, one set of messages and one place that says
 * what it is.
 *
 * A parser gets the arguments, not the directive; it returns 0, or -1 with
 * the message in `err`. The caller adds the file, the line and (for rows
 * marked CONFIG_KW_NAMED) "name: " in front. A row marked CONFIG_KW_EACH
 * has its parser called once per argument, so one bad argument is reported
 * and the others still apply. Through config_set the message is led by the
 * flag's name instead ("--allow-cidr: ...").
 *
 * Reload: a row marked CONFIG_KW_RESTART is one a reload cannot apply;
 * serve's warning lists and compares exactly those rows. Its "also
 * changed" line still compares the live settings one by one, since each
 * is described its own way there.
 */
struct config_kw;

typedef int config_kw_fn(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen);

#define CONFIG_KW_EACH		0x01	/* parser per argument */
#define CONFIG_KW_NAMED		0x02	/* messages start "name: " */
#define CONFIG_KW_RESTART	0x04	/* a reload does not apply it */
#define CONFIG_KW_STRING	0x08	/* k_field is a char * (else unsigned) */
#define CONFIG_KW_POLICY	0x10	/* k_field, k_aux: of the current policy */

#define CONFIG_KW_ANY		CONFIG_MAX_WORDS	/* no upper bound */
#define CONFIG_FIELD(m)		offsetof(struct config, m)
#define CONFIG_PFIELD(m)	offsetof(struct policy, m)

struct config_kw {
	const char	*k_name;
	int		 k_min, k_max;	/* arguments */
	config_kw_fn	*k_parse;
	unsigned	 k_flags;	/* CONFIG_KW_* */
	size_t		 k_field;	/* what k_parse sets */
	size_t		 k_aux;		/* its companion (line, "set", count) */
	unsigned long	 k_limit;	/* a count's largest value */
	const char	*k_usage;	/* for a wrong count, when not generic */
};

/* The field at offset `off` of `c`, or of the policy being parsed for a
 * row marked CONFIG_KW_POLICY. */
static void *
config_field(struct config *c, const struct config_kw *k, size_t off)
{
	if (k->k_flags & CONFIG_KW_POLICY)
		return (char *)c->c_policies[c->c_cur] + off;
	return (char *)c + off;
}

static const void *
config_cfield(const struct config *c, const struct config_kw *k, size_t off)
{
	if (k->k_flags & CONFIG_KW_POLICY)
		return (const char *)c->c_policies[c->c_cur] + off;
	return (const char *)c + off;
}

static int
config_kw_listen(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	struct config_listen l;
	size_t i;

	(void)k;
	memset(&l, 0, sizeof(l));
	if (addr_parse_hostport(av[0], &l.l_addr, &l.l_len, err, errlen) == -1)
		return -1;
	for (i = 1; av[i] != NULL; i++) {
		bool *opt = strcmp(av[i], "tls") == 0 ? &l.l_tls :
		    strcmp(av[i], "proxy_protocol") == 0 ? &l.l_pp : NULL;

		if (opt == NULL || *opt) {
			snprintf(err, errlen, "expected 'tls' or "
			    "'proxy_protocol' after the address, got '%s'%s",
			    av[i], opt ? " twice" : "");
			return -1;
		}
		*opt = true;
	}
	l.l_line = line;
	for (i = 0; i < c->c_nlisten; i++) {
		const struct config_listen *o = &c->c_listen[i];

		if (o->l_len != l.l_len || memcmp(&o->l_addr, &l.l_addr,
		    l.l_len) != 0)
			continue;
		/* Port 0 twice is two free ports, but a worker knows a
		 * listener by its configured address: both must agree on
		 * tls. */
		if (addr_port((struct sockaddr *)&l.l_addr) != 0 ||
		    o->l_tls != l.l_tls || o->l_pp != l.l_pp) {
			snprintf(err, errlen, "%s given twice (first on line "
			    "%u)%s", av[0], o->l_line, o->l_tls != l.l_tls ||
			    o->l_pp != l.l_pp ? ", with different options: "
			    "give one of them a port" : "");
			return -1;
		}
	}
	c->c_listen = xrealloc(c->c_listen,
	    (c->c_nlisten + 1) * sizeof(*c->c_listen));
	c->c_listen[c->c_nlisten++] = l;
	return 0;
}

/* tls_cert, tls_key, tls_client_ca, tls_crl, admin_users: one file each,
 * read (with the listeners' TLS context made from them) by
 * config_load_files. */
static int
config_kw_tls_file(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	config_set_ref(c, config_field(c, k, k->k_field), av[0], line);
	return 0;
}

/* tls_client_identity cn|dns|email|uri */
static int
config_kw_tls_identity(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	static const char *const names[] = { [TLS_ID_CN] = "cn",
	    [TLS_ID_DNS] = "dns", [TLS_ID_EMAIL] = "email",
	    [TLS_ID_URI] = "uri" };
	size_t i;

	(void)k;
	(void)line;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(av[0], names[i]) == 0) {
			c->c_tls_identity = (enum tls_identity)i;
			return 0;
		}
	snprintf(err, errlen, "expected 'cn', 'dns', 'email' or 'uri' (the "
	    "client certificate's name that is the user), got '%s'", av[0]);
	return -1;
}

/* sni require|off */
static int
config_kw_sni(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	bool *off = config_field(c, k, k->k_field);

	(void)line;
	if (strcmp(av[0], "require") != 0 && strcmp(av[0], "off") != 0) {
		snprintf(err, errlen, "expected 'require' or 'off', got '%s'",
		    av[0]);
		return -1;
	}
	*off = strcmp(av[0], "off") == 0;
	return 0;
}

/* mode enforce|report: in report mode, what the allowlist and the port
 * rules would refuse goes through and is logged with the reason. */
static int
config_kw_mode(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	bool *report = config_field(c, k, k->k_field);

	(void)line;
	if (strcmp(av[0], "enforce") != 0 && strcmp(av[0], "report") != 0) {
		snprintf(err, errlen, "expected 'enforce' or 'report', got '%s'",
		    av[0]);
		return -1;
	}
	*report = strcmp(av[0], "report") == 0;
	return 0;
}

/* `policy NAME`: the directives that follow, up to the next `policy` line,
 * are that policy's. */
static int
config_kw_policy(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	const char *s;
	size_t i;

	(void)k;
	for (s = av[0]; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			break;
	if (*s != '\0' || strcmp(av[0], "default") == 0) {
		snprintf(err, errlen, "'%s' cannot name a policy (letters, "
		    "digits, '-', '_' and '.'; 'default' is the top level's)",
		    av[0]);
		return -1;
	}
	for (i = 1; i < c->c_npolicies; i++)
		if (strcmp(c->c_policies[i]->p_name, av[0]) == 0) {
			snprintf(err, errlen, "policy %s given twice (first on "
			    "line %u)", av[0], c->c_policies[i]->p_line);
			return -1;
		}
	config_policy_add(c, av[0], line);
	return 0;
}

/* `members NAME...` of the policy block in force; an identity belongs to
 * one policy at most. */
static int
config_kw_members(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	struct policy *p = c->c_policies[c->c_cur];
	uintptr_t *v;
	bool created;

	(void)k;
	if (c->c_cur == 0) {
		snprintf(err, errlen, "members belong in a 'policy NAME' block; "
		    "identities in none get the top-level rules");
		return -1;
	}
	if ((v = strmap_put(&c->c_members, av[0], strlen(av[0]),
	    &created)) == NULL)
		fatalx("out of memory");
	if (!created) {
		snprintf(err, errlen, "%s is a member of policy %s already; an "
		    "identity has one policy", av[0],
		    c->c_policies[*v]->p_name);
		return -1;
	}
	*v = c->c_cur;
	p->p_members = xrealloc(p->p_members, (p->p_nmembers + 1) *
	    sizeof(*p->p_members));
	p->p_members[p->p_nmembers].m_name = xstrdup(av[0]);
	p->p_members[p->p_nmembers++].m_line = line;
	return 0;
}

/* A second `users` is an error, and the later one counts all the same. */
static int
config_kw_users(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	bool twice = c->c_have_users;

	(void)k;
	if (twice)
		snprintf(err, errlen, "'users' given twice (first on line %u)",
		    c->c_users_file.r_line);
	c->c_have_users = true;
	config_set_ref(c, &c->c_users_file, av[0], line);
	return twice ? -1 : 0;
}

static int
config_kw_pattern(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)k;
	(void)line;
	return patterns_add(config_field(c, k, k->k_field), av[0], strlen(av[0]),
	    err, errlen);
}

/* The first line of a port set replaces the default; later ones add. */
static int
config_kw_ports(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	uint8_t *bits = config_field(c, k, k->k_field);
	bool *set = config_field(c, k, k->k_aux);
	unsigned lo, hi, p;

	(void)line;
	if (!*set)
		memset(bits, 0, CONFIG_PORTS_BYTES);
	*set = true;
	if (config_parse_port_range(av[0], &lo, &hi) == -1) {
		snprintf(err, errlen, "invalid port or range '%s' (1-65535, or "
		    "N-M)", av[0]);
		return -1;
	}
	for (p = lo; p <= hi; p++)
		config_port_set(bits, p);
	return 0;
}

static int
config_kw_cidr(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	struct cidr cd, **list = config_field(c, k, k->k_field);
	size_t *n = config_field(c, k, k->k_aux);

	(void)line;
	if (cidr_parse(av[0], &cd, err, errlen) == -1)
		return -1;
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = cd;
	return 0;
}

/* Append a file to a list of them: k_field the array, k_aux its length. */
static int
config_kw_ref(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	struct config_ref r = { NULL, 0 }, **list = config_field(c, k, k->k_field);
	size_t *count = config_field(c, k, k->k_aux);

	(void)err;
	(void)errlen;
	config_set_ref(c, &r, av[0], line);
	*list = xrealloc(*list, (*count + 1) * sizeof(**list));
	(*list)[(*count)++] = r;
	return 0;
}

static int
config_kw_hosts(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	if (strcmp(av[0], "none") != 0)
		return config_kw_ref(c, k, av, line, err, errlen);
	c->c_hosts_none = true;
	return 0;
}

static int
config_kw_dns(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)k;
	(void)line;
	return config_dns_server(c, av[0], err, errlen);
}

static int
config_kw_access_log(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)k;
	(void)err;
	(void)errlen;
	free(c->c_access_log);
	c->c_access_log = NULL;
	c->c_access_log_line = line;
	if (strcmp(av[0], "off") != 0)
		c->c_access_log = strcmp(av[0], "stdout") == 0 ?
		    xstrdup("stdout") : config_resolve(c, av[0]);
	return 0;
}

static int
config_kw_log_format(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)k;
	(void)line;
	if (strcmp(av[0], "squid") == 0)
		c->c_log_json = false;
	else if (strcmp(av[0], "json") == 0)
		c->c_log_json = true;
	else {
		snprintf(err, errlen, "expected 'squid' or 'json', got '%s'",
		    av[0]);
		return -1;
	}
	return 0;
}

/* A name kept as written (user, group): k_field the string, k_aux the
 * line it was given on. */
static int
config_kw_name(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	char **dst = config_field(c, k, k->k_field);

	(void)err;
	(void)errlen;
	free(*dst);
	*dst = xstrdup(av[0]);
	*(unsigned *)config_field(c, k, k->k_aux) = line;
	return 0;
}

/* shutdown_delay: a duration, or 0 (none, the default). */
static int
config_kw_delay(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	unsigned *ms = config_field(c, k, k->k_field);

	(void)line;
	if (config_parse_duration(av[0], ms) == -1) {
		snprintf(err, errlen, "invalid duration '%s' (use e.g. 0, 500ms, "
		    "10s, 5m)", av[0]);
		return -1;
	}
	return 0;
}

/* admin_listen ADDR:PORT: kept as written too, for the restart check. */
static int
config_kw_admin_listen(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	if (c->c_admin_listen != NULL) {
		snprintf(err, errlen, "'admin_listen' given twice (first on line "
		    "%u): there is one admin listener", c->c_admin_line);
		return -1;
	}
	if (addr_parse_hostport(av[0], &c->c_admin_addr, &c->c_admin_len, err,
	    errlen) == -1)
		return -1;
	return config_kw_name(c, k, av, line, err, errlen);
}

static int
config_kw_duration(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	unsigned *ms = config_field(c, k, k->k_field);

	(void)line;
	if (config_parse_duration(av[0], ms) == -1 || *ms == 0) {
		snprintf(err, errlen, "invalid duration '%s' (use e.g. 500ms, "
		    "10s, 5m, 1h)", av[0]);
		return -1;
	}
	return 0;
}

/* "N/s burst M": the arguments are checked here as a whole, so a wrong
 * number of them gets the same message (k_usage) as a wrong value. */
static int
config_kw_auth_rate(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	unsigned long rate = 0, burst = 0;
	char *end = NULL;
	bool ok = av[0][0] >= '0' && av[0][0] <= '9' &&
	    strcmp(av[1], "burst") == 0 && av[2][0] >= '0' && av[2][0] <= '9';

	(void)line;
	if (ok) {
		rate = strtoul(av[0], &end, 10);
		ok = strcmp(end, "/s") == 0 && rate > 0 && rate <= 100000;
	}
	if (ok) {
		burst = strtoul(av[2], &end, 10);
		ok = *end == '\0' && burst > 0 && burst <= 1000000;
	}
	if (!ok) {
		snprintf(err, errlen, "%s", k->k_usage);
		return -1;
	}
	c->c_auth_rate = (unsigned)rate;
	c->c_auth_burst = (unsigned)burst;
	return 0;
}

/* A decimal count from 1 to `limit` into `v`. Returns 0 or -1. */
static int
config_count(const char *s, unsigned long limit, unsigned *v)
{
	unsigned long n;
	char *end;

	n = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || n == 0 || n > limit)
		return -1;
	*v = (unsigned)n;
	return 0;
}

/* A count from 1 to k_limit; k_aux, when not 0, a flag that says it was
 * written rather than left at the default. */
static int
config_kw_count(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)line;
	if (config_count(av[0], k->k_limit, config_field(c, k, k->k_field)) ==
	    -1) {
		snprintf(err, errlen, "expected a number from 1 to %lu, got "
		    "'%s'", k->k_limit, av[0]);
		return -1;
	}
	if (k->k_aux != 0)
		*(bool *)config_field(c, k, k->k_aux) = true;
	return 0;
}

static int
config_kw_workers(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	(void)line;
	if (strcmp(av[0], "auto") == 0)
		c->c_workers = 0;
	else if (config_count(av[0], k->k_limit, &c->c_workers) == -1) {
		snprintf(err, errlen, "expected 'auto' or a number from 1 to "
		    "%lu, got '%s'", k->k_limit, av[0]);
		return -1;
	}
	return 0;
}

static int
config_kw_bool(struct config *c, const struct config_kw *k,
    const char *const *av, unsigned line, char *err, size_t errlen)
{
	bool *flag = config_field(c, k, k->k_field);

	(void)line;
	if (strcmp(av[0], "yes") == 0 || strcmp(av[0], "on") == 0)
		*flag = true;
	else if (strcmp(av[0], "no") == 0 || strcmp(av[0], "off") == 0)
		*flag = false;
	else {
		snprintf(err, errlen, "expected 'yes' or 'no', got '%s'", av[0]);
		return -1;
	}
	return 0;
}

#define CONFIG_F	CONFIG_FIELD
#define CONFIG_PF	CONFIG_PFIELD
#define CONFIG_P	CONFIG_KW_POLICY
#define CONFIG_N	CONFIG_KW_NAMED
#define CONFIG_ANY	CONFIG_KW_ANY

/* Every directive. The order is the one the restart-only names are listed
 * in ("user, group and workers"). */
static const struct config_kw config_kw_table[] = {
	{ "listen", 1, 3, config_kw_listen, CONFIG_N, CONFIG_F(c_listen),
	    CONFIG_F(c_nlisten), 0, "expected 'listen ADDR:PORT [tls] "
	    "[proxy_protocol]'" },
	{ "proxy_protocol_from", 1, CONFIG_ANY, config_kw_cidr, CONFIG_KW_EACH |
	    CONFIG_N, CONFIG_F(c_pp_from), CONFIG_F(c_npp_from), 0, NULL },
	{ "users", 1, 1, config_kw_users, 0, CONFIG_F(c_users_file), 0, 0,
	    NULL },
	{ "policy", 1, 1, config_kw_policy, 0, CONFIG_F(c_policies), 0, 0,
	    NULL },
	{ "members", 1, CONFIG_ANY, config_kw_members, CONFIG_KW_EACH |
	    CONFIG_N | CONFIG_P, CONFIG_PF(p_members), 0, 0, NULL },
	{ "tls_cert", 1, 1, config_kw_tls_file, 0, CONFIG_F(c_tls_cert), 0, 0,
	    NULL },
	{ "tls_key", 1, 1, config_kw_tls_file, 0, CONFIG_F(c_tls_key), 0, 0,
	    NULL },
	{ "tls_client_ca", 1, 1, config_kw_tls_file, 0,
	    CONFIG_F(c_tls_client_ca), 0, 0, NULL },
	{ "tls_crl", 1, 1, config_kw_tls_file, 0, CONFIG_F(c_tls_crl), 0, 0,
	    NULL },
	{ "tls_client_identity", 1, 1, config_kw_tls_identity, CONFIG_N,
	    CONFIG_F(c_tls_identity), 0, 0, NULL },
	{ "allow", 1, CONFIG_ANY, config_kw_pattern, CONFIG_KW_EACH | CONFIG_P,
	    CONFIG_PF(p_allow), 0, 0, NULL },
	{ "allow_file", 1, 1, config_kw_ref, CONFIG_P,
	    CONFIG_PF(p_allow_files), CONFIG_PF(p_nallow_files), 0, NULL },
	{ "mode", 1, 1, config_kw_mode, CONFIG_N | CONFIG_P,
	    CONFIG_PF(p_report), 0, 0, NULL },
	{ "sni", 1, 1, config_kw_sni, CONFIG_N | CONFIG_P, CONFIG_PF(p_sni_off),
	    0, 0, NULL },
	{ "sni_ports", 1, CONFIG_ANY, config_kw_ports, CONFIG_KW_EACH,
	    CONFIG_F(c_sni_ports), CONFIG_F(c_sni_ports_set), 0, NULL },
	{ "allow_ech", 1, 1, config_kw_bool, CONFIG_N, CONFIG_F(c_allow_ech), 0,
	    0, NULL },
	{ "max_tunnels", 1, 1, config_kw_count, CONFIG_N | CONFIG_P,
	    CONFIG_PF(p_max_tunnels), 0, 1000000, NULL },
	{ "deny", 1, CONFIG_ANY, config_kw_pattern, CONFIG_KW_EACH | CONFIG_P,
	    CONFIG_PF(p_deny), 0, 0, NULL },
	{ "deny_file", 1, 1, config_kw_ref, CONFIG_P,
	    CONFIG_PF(p_deny_files), CONFIG_PF(p_ndeny_files), 0, NULL },
	{ "connect_ports", 1, CONFIG_ANY, config_kw_ports, CONFIG_KW_EACH |
	    CONFIG_P, CONFIG_PF(p_connect_ports),
	    CONFIG_PF(p_connect_ports_set), 0, NULL },
	{ "http_ports", 1, CONFIG_ANY, config_kw_ports, CONFIG_KW_EACH |
	    CONFIG_P, CONFIG_PF(p_http_ports), CONFIG_PF(p_http_ports_set), 0,
	    NULL },
	{ "allow_cidr", 1, CONFIG_ANY, config_kw_cidr, CONFIG_KW_EACH |
	    CONFIG_N | CONFIG_P, CONFIG_PF(p_cidrs), CONFIG_PF(p_ncidrs), 0,
	    NULL },
	{ "hosts_file", 1, 1, config_kw_hosts, 0, CONFIG_F(c_hosts_files),
	    CONFIG_F(c_nhosts_files), 0, NULL },
	{ "dns_server", 1, CONFIG_ANY, config_kw_dns, CONFIG_KW_EACH |
	    CONFIG_N, CONFIG_F(c_dns_servers), 0, 0, NULL },
	{ "access_log", 1, 1, config_kw_access_log, 0, CONFIG_F(c_access_log),
	    CONFIG_F(c_access_log_line), 0, NULL },
	{ "access_log_format", 1, 1, config_kw_log_format, CONFIG_N,
	    CONFIG_F(c_log_json), 0, 0, NULL },
	{ "user", 1, 1, config_kw_name, CONFIG_KW_RESTART | CONFIG_KW_STRING,
	    CONFIG_F(c_user), CONFIG_F(c_user_line), 0, NULL },
	{ "group", 1, 1, config_kw_name, CONFIG_KW_RESTART | CONFIG_KW_STRING,
	    CONFIG_F(c_group), CONFIG_F(c_group_line), 0, NULL },
	{ "connect_timeout", 1, 1, config_kw_duration, CONFIG_N,
	    CONFIG_F(c_connect_timeout_ms), 0, 0, NULL },
	/* Known gap: the resolver keeps the dns_timeout it started with
	 * (sluice.conf(5) says so), but the row is not marked restart-only,
	 * as the reload warning has never named it. */
	{ "dns_timeout", 1, 1, config_kw_duration, CONFIG_N,
	    CONFIG_F(c_dns_timeout_ms), 0, 0, NULL },
	{ "idle_timeout", 1, 1, config_kw_duration, CONFIG_N,
	    CONFIG_F(c_idle_timeout_ms), 0, 0, NULL },
	{ "header_timeout", 1, 1, config_kw_duration, CONFIG_N,
	    CONFIG_F(c_header_timeout_ms), 0, 0, NULL },
	{ "shutdown_grace", 1, 1, config_kw_duration, CONFIG_N,
	    CONFIG_F(c_shutdown_grace_ms), 0, 0, NULL },
	{ "shutdown_delay", 1, 1, config_kw_delay, CONFIG_N,
	    CONFIG_F(c_shutdown_delay_ms), 0, 0, NULL },
	{ "admin_users", 1, 1, config_kw_tls_file, CONFIG_N,
	    CONFIG_F(c_admin_users_file), 0, 0, NULL },
	{ "auth_rate", 3, 3, config_kw_auth_rate, CONFIG_N,
	    CONFIG_F(c_auth_rate), CONFIG_F(c_auth_burst), 0,
	    "expected 'auth_rate N/s burst M' (password checks per second and "
	    "client address, N and M from 1), e.g. 'auth_rate 10/s burst 20'" },
	{ "workers", 1, 1, config_kw_workers, CONFIG_N | CONFIG_KW_RESTART,
	    CONFIG_F(c_workers), 0, 64, NULL },
	{ "admin_listen", 1, 1, config_kw_admin_listen, CONFIG_N |
	    CONFIG_KW_RESTART | CONFIG_KW_STRING, CONFIG_F(c_admin_listen),
	    CONFIG_F(c_admin_line), 0, NULL },
	{ "max_connections", 1, 1, config_kw_count, CONFIG_N,
	    CONFIG_F(c_max_connections), CONFIG_F(c_max_connections_set),
	    10000000, NULL },
	{ "allow_unauthenticated", 1, 1, config_kw_bool, CONFIG_N,
	    CONFIG_F(c_allow_unauthenticated), 0, 0, NULL },
	{ "plaintext_auth", 1, 1, config_kw_bool, CONFIG_N,
	    CONFIG_F(c_plaintext_auth), 0, 0, NULL },
	{ "via", 1, 1, config_kw_bool, CONFIG_N, CONFIG_F(c_via), 0, 0, NULL },
	{ "forwarded_for", 1, 1, config_kw_bool, CONFIG_N,
	    CONFIG_F(c_forwarded_for), 0, 0, NULL },
};

#undef CONFIG_F
#undef CONFIG_PF
#undef CONFIG_P
#undef CONFIG_N
#undef CONFIG_ANY

#define CONFIG_NKW	(sizeof(config_kw_table) / sizeof(config_kw_table[0]))

size_t
config_directive_count(void)
{
	return CONFIG_NKW;
}

const char *
config_directive_name(size_t i)
{
	return i < CONFIG_NKW ? config_kw_table[i].k_name : NULL;
}

static const struct config_kw *
config_kw_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKW; i++)
		if (strcmp(config_kw_table[i].k_name, name) == 0)
			return &config_kw_table[i];
	return NULL;
}

/* The message for a wrong number of arguments. */
static void
config_kw_arity(const struct config_kw *k, const char *file, unsigned line,
    struct diag *d)
{
	if (k->k_usage != NULL)
		diag_add(d, file, line, "%s: %s", k->k_name, k->k_usage);
	else if (k->k_max == 1)
		diag_add(d, file, line, "'%s' takes exactly one argument",
		    k->k_name);
	else
		diag_add(d, file, line, "'%s' needs at least one argument",
		    k->k_name);
}

/* Apply row `k` to its `ac` arguments `av`. Messages go to `d` as
 * "file:line: message", the message led by "name: " when `named`. Returns
 * 0 or -1. */
static int
config_kw_apply(struct config *c, const struct config_kw *k, const char *file,
    unsigned line, bool named, const char *const *av, int ac, struct diag *d)
{
	bool each = (k->k_flags & CONFIG_KW_EACH) != 0;
	const char *args[CONFIG_MAX_WORDS + 1];
	size_t before = d->d_count;
	char err[600];
	int i;

	if (ac < k->k_min || ac > k->k_max) {
		config_kw_arity(k, file, line, d);
		return -1;
	}
	if (c->c_cur != 0 && !(k->k_flags & CONFIG_KW_POLICY) &&
	    k->k_parse != config_kw_policy) {
		diag_add(d, file, line, "%s applies to the whole proxy, not to "
		    "policy %s: move it above the first 'policy' line",
		    k->k_name, c->c_policies[c->c_cur]->p_name);
		return -1;
	}
	/* Parsers of a row with optional arguments see where they end. */
	memcpy(args, av, (size_t)ac * sizeof(*av));
	args[ac] = NULL;
	for (i = 0; i < (each ? ac : 1); i++) {
		err[0] = '\0';
		if (k->k_parse(c, k, args + i, line, err, sizeof(err)) == -1)
			diag_add(d, file, line, "%s%s%s", named ? k->k_name :
			    "", named ? ": " : "", err);
	}
	return d->d_count == before ? 0 : -1;
}

/* One directive. `w` holds `n` words, w[0] the directive. */
static void
config_directive(struct config *c, unsigned line, char **w, int n,
    struct diag *d)
{
	const struct config_kw *k = config_kw_find(w[0]);

	if (k == NULL)
		diag_add(d, c->c_path, line, "unknown directive '%s'", w[0]);
	else
		config_kw_apply(c, k, c->c_path, line,
		    (k->k_flags & CONFIG_KW_NAMED) != 0,
		    (const char *const *)(w + 1), n - 1, d);
}

int
config_set(struct config *c, const char *where, const char *name,
    const char *const *args, int nargs, struct diag *d)
{
	const struct config_kw *k = config_kw_find(name);

	if (k == NULL) {
		diag_add(d, where, 0, "unknown directive '%s'", name);
		return -1;
	}
	return config_kw_apply(c, k, where, 0, false, args, nargs, d);
}

/* The restart-only values of `o` and `n` are equal for row `k`. */
static bool
config_kw_same(const struct config_kw *k, const struct config *o,
    const struct config *n)
{
	const char *const *a, *const *b;

	if (!(k->k_flags & CONFIG_KW_STRING))
		return *(const unsigned *)config_cfield(o, k, k->k_field) ==
		    *(const unsigned *)config_cfield(n, k, k->k_field);
	a = config_cfield(o, k, k->k_field);
	b = config_cfield(n, k, k->k_field);
	return (*a == NULL && *b == NULL) ||
	    (*a != NULL && *b != NULL && strcmp(*a, *b) == 0);
}

bool
config_restart_changed(const struct config *o, const struct config *n,
    char *names, size_t len)
{
	size_t i, shown = 0, used = 0, total = 0;
	bool changed = false;

	for (i = 0; i < CONFIG_NKW; i++)
		total += (config_kw_table[i].k_flags & CONFIG_KW_RESTART) != 0;
	if (len > 0)
		names[0] = '\0';
	for (i = 0; i < CONFIG_NKW; i++) {
		const struct config_kw *kw = &config_kw_table[i];

		if (!(kw->k_flags & CONFIG_KW_RESTART))
			continue;
		changed |= !config_kw_same(kw, o, n);
		if (used < len)
			used += (size_t)snprintf(names + used, len - used,
			    "%s%s", shown == 0 ? "" : shown + 1 == total ?
			    " and " : ", ", kw->k_name);
		shown++;
	}
	return changed;
}
size_t
config_each_line(const char *fname, const char *buf, size_t len,
    int (*fn)(void *, unsigned, const char *, size_t, char *, size_t),
    void *ctx, struct diag *d)
{
	const char *p = buf, *end = buf + len, *nl;
	unsigned line = 0;
	size_t before = d->d_count;
	char err[400];

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		line++;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			diag_add(d, fname, line, "NUL byte in line");
			continue;
		}
		err[0] = '\0';
		if (fn(ctx, line, p, (size_t)(nl - p), err, sizeof(err)) == -1)
			diag_add(d, fname, line, "%s", err);
	}
	return d->d_count - before;
}

struct config_parse_ctx {
	struct config	*pc_config;
	struct diag	*pc_diag;
};

static int
config_parse_line(void *arg, unsigned lineno, const char *s, size_t len,
    char *err, size_t errlen)
{
	struct config_parse_ctx *pc = arg;
	char *words[CONFIG_MAX_WORDS], *copy, *p;
	int n = 0;

	(void)err;
	(void)errlen;
	copy = xstrndup(s, len);
	for (p = copy;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (n == CONFIG_MAX_WORDS) {
			diag_add(pc->pc_diag, pc->pc_config->c_path, lineno,
			    "too many words on one line (max %d)",
			    CONFIG_MAX_WORDS);
			free(copy);
			return 0;
		}
		words[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n > 0)
		config_directive(pc->pc_config, lineno, words, n,
		    pc->pc_diag);
	free(copy);
	return 0;
}

int
config_parse(struct config *c, const char *buf, size_t len, struct diag *d)
{
	struct config_parse_ctx pc = { c, d };
	size_t before = d->d_count;

	config_each_line(c->c_path, buf, len, config_parse_line, &pc, d);
	c->c_cur = 0;	/* what is set later (sluice run's flags) is global */
	return d->d_count == before ? 0 : -1;
}

/* Passwords would cross the network in clear text: `users` on a plain
 * listener that is not loopback, unless said explicitly (a private
 * network). */
static void
config_finish_plaintext(const struct config *c, struct diag *d)
{
	char a[INET6_ADDRSTRLEN + 8];
	size_t i;

	for (i = 0; i < c->c_nlisten && c->c_have_users &&
	    !c->c_plaintext_auth; i++) {
		const struct config_listen *l = &c->c_listen[i];

		if (l->l_tls || addr_is_loopback((const struct sockaddr *)
		    &l->l_addr))
			continue;
		addr_format((const struct sockaddr *)&l->l_addr, a, sizeof(a));
		diag_add(d, c->c_path, l->l_line, "listen %s: with 'users', "
		    "every password would cross the network in clear text; "
		    "add 'tls' to this listen line (with tls_cert and "
		    "tls_key), or say 'plaintext_auth yes' on a private "
		    "network", a);
	}
}

/* PROXY headers: a proxy_protocol listener takes them from the sources in
 * proxy_protocol_from only, and that list is for such a listener. */
static void
config_finish_pp(const struct config *c, struct diag *d)
{
	char a[INET6_ADDRSTRLEN + 8];
	size_t i, npp = 0;

	for (i = 0; i < c->c_nlisten; i++) {
		const struct config_listen *l = &c->c_listen[i];

		if (!l->l_pp)
			continue;
		npp++;
		if (c->c_npp_from > 0)
			continue;
		addr_format((const struct sockaddr *)&l->l_addr, a, sizeof(a));
		diag_add(d, c->c_path, l->l_line, "listen %s proxy_protocol: "
		    "say which load balancers may send PROXY headers with "
		    "'proxy_protocol_from CIDR...'; a header from anyone else "
		    "would let a client pick its own address", a);
	}
	if (npp == 0 && c->c_npp_from > 0)
		diag_add(d, c->c_path, 0, "proxy_protocol_from without a "
		    "'listen ADDR:PORT proxy_protocol' line to apply to");
	for (i = 0; i < c->c_npp_from; i++)
		if (c->c_pp_from[i].c_prefix == 0)
			diag_add(d, c->c_path, 0, "proxy_protocol_from %s "
			    "trusts every source: any client could send a PROXY "
			    "header naming the address it likes; list the load "
			    "balancers", c->c_pp_from[i].c_family == AF_INET6 ?
			    "::/0" : "0.0.0.0/0");
}

/* The admin listener: a port of its own, and loopback unless its pages
 * need a password (they name users, clients and destinations). */
static void
config_finish_admin(const struct config *c, struct diag *d)
{
	const struct sockaddr *a = (const struct sockaddr *)&c->c_admin_addr;
	size_t i;

	if (c->c_admin_users_file.r_path != NULL && c->c_admin_listen == NULL)
		diag_add(d, c->c_path, c->c_admin_users_file.r_line,
		    "admin_users without admin_listen: there is no admin "
		    "listener to protect");
	if (c->c_admin_listen == NULL)
		return;
	if (!addr_is_loopback(a) && c->c_admin_users_file.r_path == NULL)
		diag_add(d, c->c_path, c->c_admin_line, "admin_listen %s is "
		    "reachable from other machines, and its status page names "
		    "users, clients and destinations; add 'admin_users FILE', "
		    "or listen on 127.0.0.1", c->c_admin_listen);
	else if (!addr_is_loopback(a) && !c->c_plaintext_auth)
		diag_add(d, c->c_path, c->c_admin_line, "admin_listen %s: the "
		    "admin_users passwords would cross the network in clear "
		    "text (the admin listener has no TLS); listen on 127.0.0.1 "
		    "and scrape through an SSH tunnel or a private network, or "
		    "say 'plaintext_auth yes' when the network is private",
		    c->c_admin_listen);
	for (i = 0; i < c->c_nlisten; i++) {
		const struct sockaddr *l =
		    (const struct sockaddr *)&c->c_listen[i].l_addr;

		if (addr_port(l) != addr_port(a) || addr_port(a) == 0 ||
		    (!addr_is_any(l) && !addr_is_any(a) &&
		    !addr_same_ip(l, a)))
			continue;
		diag_add(d, c->c_path, c->c_admin_line, "admin_listen %s: "
		    "port %u is a proxy port (listen on line %u); the admin "
		    "listener needs a port of its own", c->c_admin_listen,
		    addr_port(a), c->c_listen[i].l_line);
	}
}

/* Client certificates are asked for on tls listeners, and a CRL is of
 * the client CAs. */
static void
config_finish_clients(const struct config *c, struct diag *d)
{
	const struct config_ref *ca = &c->c_tls_client_ca;
	size_t i;

	if (c->c_tls_crl.r_path != NULL && ca->r_path == NULL)
		diag_add(d, c->c_path, c->c_tls_crl.r_line, "tls_crl without "
		    "tls_client_ca: a revocation list is of the CAs that sign "
		    "client certificates");
	for (i = 0; i < c->c_nlisten && !c->c_listen[i].l_tls; i++)
		continue;
	if (ca->r_path != NULL && i == c->c_nlisten)
		diag_add(d, c->c_path, ca->r_line, "tls_client_ca: client "
		    "certificates are asked for on tls listeners only; add "
		    "'tls' to a listen line (with tls_cert and tls_key)");
}

bool
config_pp_trusted(const struct config *c, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 m;
	size_t i;

	/* An IPv4 source matches its IPv4 CIDRs and its IPv4-mapped IPv6
	 * ones (::ffff:10.0.0.0/104), as an operator would expect. */
	memcpy(&ss, sa, addr_len(sa));
	addr_unmap((struct sockaddr *)&ss);
	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	if (ss.ss_family == AF_INET) {
		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12],
		    &((struct sockaddr_in *)&ss)->sin_addr, 4);
	}
	for (i = 0; i < c->c_npp_from; i++)
		if (cidr_match(&c->c_pp_from[i], (struct sockaddr *)&ss) ||
		    (ss.ss_family == AF_INET && cidr_match(&c->c_pp_from[i],
		    (struct sockaddr *)&m)))
			return true;
	return false;
}

bool
config_needs_auth(const struct config *c)
{
	return c->c_have_users || c->c_tls_client_ca.r_path != NULL;
}

/* A tls listener needs a certificate and its key, and they come as a
 * pair. */
static void
config_finish_tls(const struct config *c, struct diag *d)
{
	const struct config_ref *cert = &c->c_tls_cert, *key = &c->c_tls_key;
	size_t i;

	config_finish_plaintext(c, d);
	if ((cert->r_path == NULL) != (key->r_path == NULL))
		diag_add(d, c->c_path, cert->r_path ? cert->r_line :
		    key->r_line, "%s without %s", cert->r_path ? "tls_cert" :
		    "tls_key", cert->r_path ? "tls_key" : "tls_cert");
	for (i = 0; i < c->c_nlisten && cert->r_path == NULL; i++)
		if (c->c_listen[i].l_tls) {
			diag_add(d, c->c_path, c->c_listen[i].l_line, "listen "
			    "... tls needs tls_cert FILE and tls_key FILE");
			break;
		}
	config_finish_clients(c, d);
}

int
config_finish(struct config *c, struct diag *d)
{
	size_t before = d->d_count, i;

	if (c->c_nlisten == 0) {
		char err[64];

		c->c_listen = xcalloc(1, sizeof(*c->c_listen));
		if (addr_parse_hostport(CONFIG_LISTEN_DEFAULT,
		    &c->c_listen[0].l_addr, &c->c_listen[0].l_len, err,
		    sizeof(err)) == -1) {
			diag_add(d, c->c_path, 0, "default listen address: %s",
			    err);
			return -1;
		}
		c->c_nlisten = 1;
	}
	if (!c->c_sni_ports_set)
		config_port_set(c->c_sni_ports, 443);
	for (i = 0; i < c->c_npolicies; i++) {
		struct policy *p = c->c_policies[i];

		if (!p->p_connect_ports_set)
			config_port_set(p->p_connect_ports, 443);
		if (!p->p_http_ports_set)
			config_port_set(p->p_http_ports, 80);
	}
	if (!config_needs_auth(c) && !c->c_allow_unauthenticated) {
		for (i = 0; i < c->c_nlisten; i++) {
			char a[INET6_ADDRSTRLEN + 8];

			if (addr_is_loopback(
			    (struct sockaddr *)&c->c_listen[i].l_addr))
				continue;
			addr_format((struct sockaddr *)&c->c_listen[i].l_addr,
			    a, sizeof(a));
			diag_add(d, c->c_path, c->c_listen[i].l_line, "listen "
			    "%s without 'users' would be an open proxy; add "
			    "'users FILE' or say 'allow_unauthenticated yes'",
			    a);
		}
	}
	config_finish_tls(c, d);
	config_finish_admin(c, d);
	config_finish_pp(c, d);
	if (c->c_have_users && c->c_users.d_users == 0 &&
	    c->c_users_file.r_path != NULL && !c->c_users_unreadable)
		diag_add(d, c->c_path, c->c_users_file.r_line, "users %s: the "
		    "file holds no user, so nobody could authenticate",
		    c->c_users_file.r_path);
	return d->d_count == before ? 0 : -1;
}

/* `user`/`group` name someone else, and only root may become someone
 * else (serve_drop_privileges): `serve` would stop at start-up, so `check`
 * says so first. */
static void
config_check_switch(const struct config *c, struct diag *errs)
{
	struct passwd *pw = c->c_user ? getpwnam(c->c_user) : NULL;
	struct group *gr = c->c_group ? getgrnam(c->c_group) : NULL;
	uid_t uid = pw ? pw->pw_uid : geteuid();
	gid_t gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getegid();

	if (geteuid() == 0 || (c->c_user != NULL && pw == NULL) ||
	    (c->c_group != NULL && gr == NULL))
		return;		/* root may; a missing name is said above */
	if (uid != geteuid())
		diag_add(errs, c->c_path, c->c_user_line, "user %s: only root "
		    "can switch to another user, and sluice runs as uid %u "
		    "(start it as root, or leave user out)", c->c_user,
		    (unsigned)geteuid());
	else if (gid != getegid())
		diag_add(errs, c->c_path, c->c_group ? c->c_group_line :
		    c->c_user_line, "%s %s: only root can switch to another "
		    "group, and sluice runs as gid %u (start it as root, or "
		    "leave %s out)", c->c_group ? "group" : "user", c->c_group ?
		    c->c_group : c->c_user, (unsigned)getegid(), c->c_group ?
		    "group" : "user");
}

/* May `uid`:`gid` (and no other group) do `want` (R_OK, X_OK) to `path`,
 * going by its mode bits? */
static bool
config_may(const char *path, uid_t uid, gid_t gid, int want)
{
	struct stat st;
	mode_t m;

	if (stat(path, &st) == -1)
		return true;	/* missing files are said elsewhere */
	m = st.st_uid == uid ? (st.st_mode >> 6) : st.st_gid == gid ?
	    (st.st_mode >> 3) : st.st_mode;
	return (m & (want == R_OK ? 4 : 1)) != 0;
}

/* admin_users should hold the operators, not the proxy's users (the
 * agents): the status page names every user, client and destination. And
 * like any password file it is for the proxy's eyes only. */
static void
config_check_admin_users(const struct config *c, struct diag *warns)
{
	const struct config_ref *r = &c->c_admin_users_file;
	struct stat a, u;

	if (r->r_path == NULL || stat(r->r_path, &a) == -1)
		return;
	if (a.st_mode & S_IROTH)
		diag_add(warns, c->c_path, r->r_line, "warning: admin_users %s "
		    "is readable by every user of this machine (chmod 640, "
		    "group of the proxy's user)", r->r_path);
	if (c->c_have_users && stat(c->c_users_file.r_path, &u) == 0 &&
	    a.st_dev == u.st_dev && a.st_ino == u.st_ino)
		diag_add(warns, c->c_path, r->r_line, "warning: admin_users %s "
		    "is the users file: every proxy user (every agent) can "
		    "read /status and /metrics; give the operators a file of "
		    "their own", r->r_path);
}

/* Started as root with `user`, sluice reads its files as that user on
 * every reload: a file only root can read loads at start, then fails
 * every reload (certbot's keys, a 0600 users file). Say so now. */
static void
config_check_reader(const struct config *c, const struct config_ref *r,
    const char *name, struct diag *warns)
{
	struct passwd *pw = c->c_user ? getpwnam(c->c_user) : NULL;
	struct group *gr = c->c_group ? getgrnam(c->c_group) : NULL;
	char dir[PATH_MAX], *slash;
	bool ok;

	if (geteuid() != 0 || pw == NULL || r->r_path == NULL ||
	    (c->c_group != NULL && gr == NULL))
		return;
	ok = config_may(r->r_path, pw->pw_uid, gr ? gr->gr_gid : pw->pw_gid,
	    R_OK);
	snprintf(dir, sizeof(dir), "%s", r->r_path);
	while (ok && (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		ok = config_may(dir, pw->pw_uid, gr ? gr->gr_gid :
		    pw->pw_gid, X_OK);
	}
	if (!ok)
		diag_add(warns, c->c_path, r->r_line, "warning: %s %s: user %s "
		    "cannot read it, and reloads run as %s: it loads now, then "
		    "every reload fails (copy it where %s can read it)", name,
		    r->r_path, c->c_user, c->c_user, c->c_user);
}

/* A certificate that has expired or soon will, or a CRL past its next
 * update: nothing fails at start, but clients will (`what`). */
static void
config_check_expiry(const struct config *c, const struct config_ref *r,
    bool crl, const char *name, const char *what, struct diag *warns)
{
	time_t when, now = time(NULL);
	char day[32];

	if (r->r_path == NULL || tls_file_expiry(r->r_path, crl, &when) == -1)
		return;
	strftime(day, sizeof(day), "%Y-%m-%d %H:%M UTC", gmtime(&when));
	if (when <= now)
		diag_add(warns, c->c_path, r->r_line, "warning: %s %s: %s %s; "
		    "%s", name, r->r_path, crl ? "its next update was due" :
		    "the certificate expired", day, what);
	else if (!crl && when - now < 14 * 86400)
		diag_add(warns, c->c_path, r->r_line, "warning: %s %s: the "
		    "certificate expires %s, in %lld days", name, r->r_path, day,
		    (long long)(when - now) / 86400);
}

/* What will go wrong with the TLS files (and the users file) after the
 * start: a reload that cannot read them, a certificate or CRL that runs
 * out. */
static void
config_check_tls_files(const struct config *c, struct diag *warns)
{
	config_check_reader(c, &c->c_tls_cert, "tls_cert", warns);
	config_check_reader(c, &c->c_tls_key, "tls_key", warns);
	config_check_reader(c, &c->c_tls_client_ca, "tls_client_ca", warns);
	config_check_reader(c, &c->c_tls_crl, "tls_crl", warns);
	if (c->c_have_users)
		config_check_reader(c, &c->c_users_file, "users", warns);
	config_check_reader(c, &c->c_admin_users_file, "admin_users", warns);
	config_check_expiry(c, &c->c_tls_cert, false, "tls_cert",
	    "clients will refuse the proxy", warns);
	config_check_expiry(c, &c->c_tls_client_ca, false, "tls_client_ca",
	    "every client certificate it signed is refused", warns);
	config_check_expiry(c, &c->c_tls_crl, true, "tls_crl",
	    "every client certificate is refused until a new CRL is in place",
	    warns);
}

size_t
config_check_system(const struct config *c, struct diag *errs,
    struct diag *warns)
{
	size_t before = errs->d_count;
	struct stat st;

	if (c->c_user != NULL && getpwnam(c->c_user) == NULL)
		diag_add(errs, c->c_path, c->c_user_line, "user: no such user "
		    "'%s' on this system", c->c_user);
	if (c->c_group != NULL && getgrnam(c->c_group) == NULL)
		diag_add(errs, c->c_path, c->c_group_line, "group: no such "
		    "group '%s' on this system", c->c_group);
	config_check_switch(c, errs);
	if (c->c_access_log != NULL && strcmp(c->c_access_log, "stdout") !=
	    0) {
		char *dir = xstrdup(c->c_access_log), *slash = strrchr(dir, '/');

		if (slash != NULL)
			*(slash == dir ? slash + 1 : slash) = '\0';
		else
			snprintf(dir, strlen(dir) + 1, ".");
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
			diag_add(errs, c->c_path, c->c_access_log_line,
			    "access_log %s: the directory %s does not exist",
			    c->c_access_log, dir);
		else if (access(c->c_access_log, W_OK) == -1 &&
		    (errno != ENOENT || access(dir, W_OK) == -1))
			diag_add(errs, c->c_path, c->c_access_log_line,
			    "access_log %s: cannot be written (%s)",
			    c->c_access_log, strerror(errno));
		free(dir);
	}
	if (c->c_have_users && stat(c->c_users_file.r_path, &st) == 0 &&
	    (st.st_mode & S_IROTH))
		diag_add(warns, c->c_path, c->c_users_file.r_line, "warning: "
		    "users %s is readable by every user of this machine "
		    "(chmod 640, group of the proxy's user)",
		    c->c_users_file.r_path);
	config_check_admin_users(c, warns);
	if (c->c_tls_key.r_path != NULL && stat(c->c_tls_key.r_path, &st) ==
	    0 && (st.st_mode & S_IROTH))
		diag_add(warns, c->c_path, c->c_tls_key.r_line, "warning: "
		    "tls_key %s is readable by every user of this machine "
		    "(chmod 640, group of the proxy's user)",
		    c->c_tls_key.r_path);
	config_check_tls_files(c, warns);
	if (config_default_policy(c)->p_allow.p_count == 0 &&
	    config_default_policy(c)->p_ncidrs == 0)
		diag_add(warns, c->c_path, 0, "warning: nothing is allowed "
		    "(no allow, allow_file or allow_cidr): every request will "
		    "be refused");
	return errs->d_count - before;
}

/* Read a whole file into memory. Returns the buffer (NUL-terminated, caller
 * frees) or NULL with errno set. */
static char *
config_read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0, cap;
	ssize_t n;
	int fd, saved;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer (a reload
	 * would hang there); only regular files are read. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;		/* said as "not a regular file" */
		goto fail;
	}
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	buf = xmalloc(cap);
	for (;;) {
		if (off + 1 == cap) {
			if (cap >= CONFIG_MAX_FILE) {
				errno = EFBIG;
				goto fail;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + off, cap - off - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	*len = off;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

static int
config_users_line(void *ctx, unsigned lineno, const char *s, size_t len,
    char *err, size_t errlen)
{
	(void)lineno;
	return htpasswd_parse_line(ctx, s, len, err, errlen);
}

static int
config_allow_line(void *ctx, unsigned lineno, const char *s, size_t len,
    char *err, size_t errlen)
{
	const char *hash = memchr(s, '#', len);

	(void)lineno;
	if (hash != NULL)
		len = (size_t)(hash - s);
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 0;
	return patterns_add(ctx, s, len, err, errlen);
}

static int
config_hosts_line(void *ctx, unsigned lineno, const char *s, size_t len,
    char *err, size_t errlen)
{
	(void)lineno;
	return hosts_parse_line(ctx, s, len, err, errlen);
}

/* The default /etc/hosts is the system's, not the operator's: a line
 * sluice cannot read is skipped, as the C library skips it. */
static int
config_hosts_line_lenient(void *ctx, unsigned lineno, const char *s,
    size_t len, char *err, size_t errlen)
{
	(void)lineno;
	(void)hosts_parse_line(ctx, s, len, err, errlen);
	return 0;
}

/* Read one referenced file and feed its lines to `fn`. Returns -1 when
 * the file could not be read (said in `d`). */
static int
config_load_ref(struct config *c, const struct config_ref *r,
    const char *what,
    int (*fn)(void *, unsigned, const char *, size_t, char *, size_t),
    void *ctx, struct diag *d)
{
	size_t len;
	char *buf = config_read_file(r->r_path, &len);

	if (buf == NULL) {
		diag_add(d, c->c_path, r->r_line, "%s %s: %s", what, r->r_path,
		    errno == EINVAL ? "not a regular file" : strerror(errno));
		return -1;
	}
	config_each_line(r->r_path, buf, len, fn, ctx, d);
	explicit_bzero(buf, len);
	free(buf);
	return 0;
}

/* admin_users: its users in a configuration of their own, so that
 * auth_check (its caches are per configuration) never mixes them with the
 * proxy's. */
static void
config_load_admin(struct config *c, struct diag *d)
{
	const struct config_ref *r = &c->c_admin_users_file;

	if (r->r_path == NULL)
		return;
	c->c_admin = config_new(c->c_path);
	c->c_admin->c_have_users = true;
	if (config_load_ref(c, r, "admin_users", config_users_line,
	    &c->c_admin->c_users, d) == 0 && c->c_admin->c_users.d_users == 0)
		diag_add(d, c->c_path, r->r_line, "admin_users %s: the file "
		    "has no users", r->r_path);
}

/* The listeners' TLS context, from tls_cert, tls_key and the client
 * certificate files; a bad file is named with the reason ("FILE: why"). */
static void
config_load_tls(struct config *c, struct diag *d)
{
	struct tls_server_files f = {
		.tf_cert = c->c_tls_cert.r_path,
		.tf_key = c->c_tls_key.r_path,
		.tf_client_ca = c->c_tls_client_ca.r_path,
		.tf_crl = c->c_tls_crl.r_path,
		.tf_identity = c->c_tls_identity,
	};
	const struct config_ref *refs[] = { &c->c_tls_key, &c->c_tls_client_ca,
	    &c->c_tls_crl }, *at = &c->c_tls_cert;
	char err[512];
	size_t i, n;

	if (f.tf_cert == NULL || f.tf_key == NULL)
		return;
	if ((c->c_tls = tls_server_new(&f, err, sizeof(err))) != NULL)
		return;
	/* The message starts with the file at fault: point at its line. */
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		if (refs[i]->r_path != NULL && strncmp(err, refs[i]->r_path,
		    n = strlen(refs[i]->r_path)) == 0 && err[n] == ':')
			at = refs[i];
	diag_add(d, c->c_path, at->r_line, "%s", err);
}

int
config_load_files(struct config *c, struct diag *d)
{
	size_t i, j, before = d->d_count;

	if (c->c_have_users && config_load_ref(c, &c->c_users_file, "users",
	    config_users_line, &c->c_users, d) == -1)
		c->c_users_unreadable = true;	/* said once is enough */
	config_load_admin(c, d);
	for (j = 0; j < c->c_npolicies; j++) {
		struct policy *p = c->c_policies[j];

		for (i = 0; i < p->p_nallow_files; i++)
			config_load_ref(c, &p->p_allow_files[i], "allow_file",
			    config_allow_line, &p->p_allow, d);
		for (i = 0; i < p->p_ndeny_files; i++)
			config_load_ref(c, &p->p_deny_files[i], "deny_file",
			    config_allow_line, &p->p_deny, d);
	}
	if (c->c_hosts_none && c->c_nhosts_files > 0)
		diag_add(d, c->c_path, c->c_hosts_files[0].r_line, "hosts_file: "
		    "'hosts_file none' and a hosts file contradict each other");
	/* Like Squid and every other program here: /etc/hosts unless told
	 * otherwise; a machine without one simply has none. */
	if (!c->c_hosts_none && c->c_nhosts_files == 0 &&
	    access(CONFIG_HOSTS_DEFAULT, F_OK) == 0) {
		c->c_hosts_files = xcalloc(1, sizeof(*c->c_hosts_files));
		c->c_hosts_files[0].r_path = xstrdup(CONFIG_HOSTS_DEFAULT);
		c->c_nhosts_files = 1;
		c->c_hosts_default = true;
	}
	for (i = 0; i < c->c_nhosts_files; i++)
		config_load_ref(c, &c->c_hosts_files[i], "hosts_file",
		    c->c_hosts_default ? config_hosts_line_lenient :
		    config_hosts_line, &c->c_hosts, d);
	config_load_tls(c, d);
	config_finish(c, d);
	return d->d_count == before ? 0 : -1;
}

struct config *
config_load_text(const char *path, const char *buf, size_t len,
    struct diag *d)
{
	struct config *c = config_new(path);
	size_t before = d->d_count;

	config_parse(c, buf, len, d);
	config_load_files(c, d);
	if (d->d_count != before) {
		config_unref(c);
		return NULL;
	}
	return c;
}

struct config *
config_load(const char *path, struct diag *d)
{
	struct config *c;
	size_t len;
	char *buf;

	if ((buf = config_read_file(path, &len)) == NULL) {
		diag_add(d, path, 0, "%s", errno == EINVAL ?
		    "not a regular file" : strerror(errno));
		return NULL;
	}
	c = config_load_text(path, buf, len, d);
	free(buf);
	return c;
}

static void
config_summary_ms(FILE *fp, const char *name, unsigned ms)
{
	if (ms % 3600000 == 0)
		fprintf(fp, "%s %uh", name, ms / 3600000);
	else if (ms % 60000 == 0)
		fprintf(fp, "%s %um", name, ms / 60000);
	else if (ms % 1000 == 0)
		fprintf(fp, "%s %us", name, ms / 1000);
	else
		fprintf(fp, "%s %ums", name, ms);
}

/* Print a port set as "80 443 8000-8100". */
static void
config_summary_ports(FILE *fp, const uint8_t *bits)
{
	size_t shown = 0;
	unsigned p, lo;

	for (p = 1; p <= 65535; p++) {
		if (!config_port_bit(bits, p))
			continue;
		lo = p;
		while (p < 65535 && config_port_bit(bits, p + 1))
			p++;
		if (shown++ == 16) {
			fprintf(fp, " ...");
			break;
		}
		if (lo == p)
			fprintf(fp, "%s%u", shown > 1 ? " " : "", p);
		else
			fprintf(fp, "%s%u-%u", shown > 1 ? " " : "", lo, p);
	}
}

/* The second half of the summary: resolvers, logging, privileges, limits. */
static void
config_summary_runtime(const struct config *c, FILE *fp)
{
	fprintf(fp, "  dns_server        %s\n", c->c_dns_servers ?
	    c->c_dns_servers : "system (/etc/resolv.conf)");
	fprintf(fp, "  access_log        %s (%s)\n", c->c_access_log ?
	    c->c_access_log : "off", c->c_log_json ? "json" : "squid");
	if (c->c_user != NULL || c->c_group != NULL)
		fprintf(fp, "  privileges        drop to user %s, group %s\n",
		    c->c_user ? c->c_user : "(unchanged)",
		    c->c_group ? c->c_group : "(the user's)");
	fprintf(fp, "  timeouts          ");
	config_summary_ms(fp, "connect", c->c_connect_timeout_ms);
	config_summary_ms(fp, ", dns", c->c_dns_timeout_ms);
	config_summary_ms(fp, ", idle", c->c_idle_timeout_ms);
	config_summary_ms(fp, ", header", c->c_header_timeout_ms);
	config_summary_ms(fp, ", shutdown grace", c->c_shutdown_grace_ms);
	if (c->c_shutdown_delay_ms != 0)
		config_summary_ms(fp, ", shutdown delay",
		    c->c_shutdown_delay_ms);
	fprintf(fp, "\n  max_connections   %u\n", c->c_max_connections);
	if (c->c_admin_listen != NULL)
		fprintf(fp, "  admin_listen      %s (/metrics, /healthz, "
		    "/status), %s\n", c->c_admin_listen, c->c_admin != NULL ?
		    "Basic auth from admin_users" : "no password");
	if (c->c_have_users)
		fprintf(fp, "  auth_rate         %u/s burst %u per client "
		    "address\n", c->c_auth_rate, c->c_auth_burst);
	if (c->c_workers == 0)
		fprintf(fp, "  workers           auto (one per CPU)\n");
	else
		fprintf(fp, "  workers           %u\n", c->c_workers);
	fprintf(fp, "  forwarding        Via %s, X-Forwarded-For %s\n",
	    c->c_via ? "on" : "off", c->c_forwarded_for ? "on" : "off");
	fprintf(fp, "  sni_ports         ");
	config_summary_ports(fp, c->c_sni_ports);
	fprintf(fp, " (encrypted ClientHellos %s)\n", c->c_allow_ech ?
	    "allowed" : "refused");
}

/* What policy `p` allows, for config_summary. */
static void
config_summary_policy(const struct policy *p, FILE *fp)
{
	char a[INET6_ADDRSTRLEN + 16];
	size_t i;

	if (p->p_report)
		fprintf(fp, "  mode              report: refusals are logged, "
		    "not enforced (address classes always are)\n");
	if (p->p_max_tunnels != 0)
		fprintf(fp, "  max_tunnels       %u per user\n", p->p_max_tunnels);
	if (p->p_sni_off)
		fprintf(fp, "  sni               off: tunnels are not checked for "
		    "their TLS server name\n");
	fprintf(fp, "  allow             %zu pattern%s", p->p_allow.p_count,
	    p->p_allow.p_count == 1 ? "" : "s");
	for (i = 0; i < p->p_allow.p_count && i < 8; i++)
		fprintf(fp, "%s%s", i ? ", " : ": ", p->p_allow.p_list[i]);
	if (p->p_allow.p_count > 8)
		fprintf(fp, ", ...");
	if (p->p_deny.p_count > 0)
		fprintf(fp, "\n  deny              %zu pattern%s",
		    p->p_deny.p_count, p->p_deny.p_count == 1 ? "" : "s");
	for (i = 0; i < p->p_deny.p_count && i < 8; i++)
		fprintf(fp, "%s%s", i ? ", " : ": ", p->p_deny.p_list[i]);
	if (p->p_deny.p_count > 8)
		fprintf(fp, ", ...");
	fprintf(fp, "\n  connect_ports     ");
	config_summary_ports(fp, p->p_connect_ports);
	fprintf(fp, "\n  http_ports        ");
	config_summary_ports(fp, p->p_http_ports);
	fprintf(fp, "\n  allow_cidr        ");
	if (p->p_ncidrs == 0)
		fprintf(fp, "none: private, loopback and metadata addresses "
		    "refused");
	for (i = 0; i < p->p_ncidrs; i++) {
		cidr_format(&p->p_cidrs[i], a, sizeof(a));
		fprintf(fp, "%s%s", i ? " " : "", a);
	}
}

/* The policy blocks, each with its members and rules. */
static void
config_summary_blocks(const struct config *c, FILE *fp)
{
	size_t i, j;

	for (i = 1; i < c->c_npolicies; i++) {
		const struct policy *p = c->c_policies[i];

		fprintf(fp, "policy %s (line %u)\n  members          ",
		    p->p_name, p->p_line);
		for (j = 0; j < p->p_nmembers; j++)
			fprintf(fp, " %s", p->p_members[j].m_name);
		fputc('\n', fp);
		config_summary_policy(p, fp);
		fputc('\n', fp);
	}
}

void
config_summary(const struct config *c, FILE *fp)
{
	char a[INET6_ADDRSTRLEN + 16];
	size_t i;

	fprintf(fp, "  listen            ");
	for (i = 0; i < c->c_nlisten; i++) {
		addr_format((const struct sockaddr *)&c->c_listen[i].l_addr, a,
		    sizeof(a));
		fprintf(fp, "%s%s%s%s", i ? ", " : "", a,
		    c->c_listen[i].l_tls ? " (TLS)" : "",
		    c->c_listen[i].l_pp ? " (PROXY protocol)" : "");
	}
	for (i = 0; i < c->c_npp_from; i++) {
		cidr_format(&c->c_pp_from[i], a, sizeof(a));
		fprintf(fp, "%s%s", i ? " " : "\n  proxy_protocol_from ", a);
	}
	if (c->c_tls_cert.r_path != NULL)
		fprintf(fp, "\n  tls               %s, key %s",
		    c->c_tls_cert.r_path, c->c_tls_key.r_path ?
		    c->c_tls_key.r_path : "none");
	if (c->c_tls_client_ca.r_path != NULL)
		fprintf(fp, "\n  client certs      signed by %s, user from %s%s%s",
		    c->c_tls_client_ca.r_path, (const char *[]){ "the "
		    "commonName", "the DNS subjectAltName", "the email "
		    "subjectAltName", "the URI subjectAltName" }[
		    c->c_tls_identity], c->c_tls_crl.r_path ? ", CRL " : "",
		    c->c_tls_crl.r_path ? c->c_tls_crl.r_path : "");
	fprintf(fp, "\n  users             ");
	if (c->c_have_users)
		fprintf(fp, "%zu user%s, %zu hash%s (%s)\n", c->c_users.d_users,
		    c->c_users.d_users == 1 ? "" : "s", c->c_users.d_count,
		    c->c_users.d_count == 1 ? "" : "es",
		    c->c_users_file.r_path);
	else if (c->c_tls_client_ca.r_path != NULL)
		fprintf(fp, "none: client certificates only\n");
	else
		fprintf(fp, "none: no authentication\n");
	config_summary_policy(config_default_policy(c), fp);
	fprintf(fp, "\n  hosts_file        ");
	for (i = 0; i < c->c_nhosts_files; i++)
		fprintf(fp, "%s%s", i ? ", " : "", c->c_hosts_files[i].r_path);
	fprintf(fp, "%s\n", c->c_hosts_default ? " (default)" :
	    c->c_nhosts_files ? "" : "none");
	config_summary_runtime(c, fp);
	config_summary_blocks(c, fp);
}
