/* SPDX-License-Identifier: MIT */
/* `sluice run`: the launcher. It builds the policy from -c and flags (read
 * once, before the command starts, so nothing the command writes can change
 * it), prepares the command's environment (proxy variables set for every
 * common tool, upstream credentials removed), starts the sandbox (sandbox.c)
 * or, with --no-isolate, a plain child, and serves the proxy with the same
 * engine as `sluice serve` until the command exits. */
#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "proxy.h"
#include "proxyurl.h"
#include "run.h"
#include "sandbox.h"
#include "ttyrelay.h"
#include "upstream.h"

#define RUN_EXIT_FAIL	125
#define RUN_EXIT_USAGE	2
#define RUN_MAX_LIST	256

extern char **environ;

static const char run_usage[] =
"usage: sluice run [OPTIONS] -- COMMAND [ARGS...]\n"
"\n"
"Run COMMAND in a sandbox (its own user, network, PID, mount, IPC and cgroup\n"
"namespaces) whose only reachable endpoint is an embedded proxy enforcing\n"
"the policy.\n"
"\n"
"  -c, --config FILE        policy directives as for serve (allow, allow_file,\n"
"                           allow_cidr, hosts_file, connect_ports, http_ports, ...)\n"
"      --allow PATTERN      allow a domain (repeatable; same forms as 'allow')\n"
"      --allow-cidr CIDR    allow an address block (repeatable)\n"
"      --hosts-file FILE    names to resolve before DNS (repeatable)\n"
"      --connect-ports LIST also let CONNECT reach these ports (22,8443,9000-9100;\n"
"                           repeatable; added to 443 or the file's connect_ports)\n"
"      --http-ports LIST    also let plain-HTTP requests reach these ports\n"
"      --port N             proxy port inside the sandbox (default 3128)\n"
"      --upstream URL|env   leave through another proxy (http://user:pass@host:port,\n"
"                           https://... to speak TLS to it, or 'env': PROXY_HOST,\n"
"                           PROXY_PORT, PROXY_USER, PROXY_PASS, PROXY_SCHEME);\n"
"                           the credentials never enter the sandbox\n"
"      --env-file FILE      with --upstream env: read KEY=VALUE lines first\n"
"      --upstream-ca FILE   an https:// upstream's certificate is checked against\n"
"                           this PEM bundle instead of the system's store\n"
"      --log FILE           write this run's access log (Squid format)\n"
"  -q, --quiet              do not report denials on stderr\n"
"      --clean-env          start the command with an empty environment\n"
"      --env NAME[=VALUE]   set (or pass through) a variable (repeatable)\n"
"      --allow-unix-sockets let the command create AF_UNIX sockets\n"
"      --no-isolate         trusted code: no namespaces; the proxy listens on\n"
"                           an ephemeral loopback port and needs a per-run token\n"
"  -h, --help               this help\n"
"\n"
"exit status: the command's (128+N if killed by signal N); 125 sluice failed,\n"
"126 command not executable, 127 command not found, 2 usage error\n";

struct run_opts {
	const char	*ro_config;
	const char	*ro_allow[RUN_MAX_LIST];
	size_t		 ro_nallow;
	const char	*ro_cidr[RUN_MAX_LIST];
	size_t		 ro_ncidr;
	const char	*ro_hosts[RUN_MAX_LIST];
	size_t		 ro_nhosts;
	const char	*ro_connect_ports[RUN_MAX_LIST];
	size_t		 ro_nconnect_ports;
	const char	*ro_http_ports[RUN_MAX_LIST];
	size_t		 ro_nhttp_ports;
	const char	*ro_log;
	char		*ro_upstream;	/* argv string, wiped after parsing */
	const char	*ro_upstream_ca;	/* https:// upstream's CA bundle */
	const char	*ro_env_file;
	const char	*ro_env[RUN_MAX_LIST];
	size_t		 ro_nenv;
	unsigned	 ro_port;
	bool		 ro_quiet;
	bool		 ro_clean_env;
	bool		 ro_allow_unix;
	bool		 ro_no_isolate;
	char		**ro_cmd;
};

static int
run_usage_error(const char *what, const char *arg)
{
	char shown[256];
	size_t i;

	/* An argument is quoted back: control bytes in it stay inert. */
	snprintf(shown, sizeof(shown), "%s", arg ? arg : "");
	for (i = 0; shown[i] != '\0'; i++)
		if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f)
			shown[i] = '?';
	fprintf(stderr, "sluice run: %s%s%s\n\n%s", what, arg ? " " : "",
	    shown, run_usage);
	return RUN_EXIT_USAGE;
}

static int
run_add(const char **list, size_t *n, const char *v)
{
	if (*n == RUN_MAX_LIST)
		return run_usage_error("too many values for an option:", v);
	list[(*n)++] = v;
	return 0;
}

enum run_optid {
	RUN_O_ALLOW = 256, RUN_O_CIDR, RUN_O_HOSTS, RUN_O_PORT, RUN_O_LOG,
	RUN_O_CLEAN, RUN_O_ENV, RUN_O_UNIX, RUN_O_NOISO, RUN_O_UPSTREAM,
	RUN_O_ENVFILE, RUN_O_CPORTS, RUN_O_HPORTS, RUN_O_UPSTREAM_CA,
};

static const struct option run_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "allow", required_argument, NULL, RUN_O_ALLOW },
	{ "allow-cidr", required_argument, NULL, RUN_O_CIDR },
	{ "hosts-file", required_argument, NULL, RUN_O_HOSTS },
	{ "connect-ports", required_argument, NULL, RUN_O_CPORTS },
	{ "http-ports", required_argument, NULL, RUN_O_HPORTS },
	{ "port", required_argument, NULL, RUN_O_PORT },
	{ "log", required_argument, NULL, RUN_O_LOG },
	{ "upstream", required_argument, NULL, RUN_O_UPSTREAM },
	{ "env-file", required_argument, NULL, RUN_O_ENVFILE },
	{ "upstream-ca", required_argument, NULL, RUN_O_UPSTREAM_CA },
	{ "quiet", no_argument, NULL, 'q' },
	{ "clean-env", no_argument, NULL, RUN_O_CLEAN },
	{ "env", required_argument, NULL, RUN_O_ENV },
	{ "allow-unix-sockets", no_argument, NULL, RUN_O_UNIX },
	{ "no-isolate", no_argument, NULL, RUN_O_NOISO },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* An option that may be repeated: add its value to its list. Returns 0,
 * RUN_EXIT_USAGE, or -1 when `ch` is not such an option. */
static int
run_list_option(struct run_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case RUN_O_ALLOW:
		return run_add(o->ro_allow, &o->ro_nallow, arg);
	case RUN_O_CIDR:
		return run_add(o->ro_cidr, &o->ro_ncidr, arg);
	case RUN_O_HOSTS:
		return run_add(o->ro_hosts, &o->ro_nhosts, arg);
	case RUN_O_CPORTS:
		return run_add(o->ro_connect_ports, &o->ro_nconnect_ports, arg);
	case RUN_O_HPORTS:
		return run_add(o->ro_http_ports, &o->ro_nhttp_ports, arg);
	case RUN_O_ENV:
		if (arg[0] == '\0' || arg[0] == '=')
			return run_usage_error("invalid --env", arg);
		return run_add(o->ro_env, &o->ro_nenv, arg);
	}
	return -1;
}

/* Apply option `ch` (getopt's answer). Returns 0, 1 when help was printed,
 * or RUN_EXIT_USAGE. */
static int
run_option(struct run_opts *o, int ch, char **argv)
{
	char *end;
	int r;

	if ((r = run_list_option(o, ch, optarg)) != -1)
		return r;
	switch (ch) {
	case 'c':
		o->ro_config = optarg;
		return 0;
	case RUN_O_PORT:
		o->ro_port = (unsigned)strtoul(optarg, &end, 10);
		if (*end != '\0' || o->ro_port == 0 || o->ro_port > 65535)
			return run_usage_error("invalid --port", optarg);
		return 0;
	case RUN_O_LOG:
		o->ro_log = optarg;
		return 0;
	case RUN_O_UPSTREAM:
		o->ro_upstream = optarg;
		return 0;
	case RUN_O_ENVFILE:
		o->ro_env_file = optarg;
		return 0;
	case RUN_O_UPSTREAM_CA:
		o->ro_upstream_ca = optarg;
		return 0;
	case 'q':
		o->ro_quiet = true;
		return 0;
	case RUN_O_CLEAN:
		o->ro_clean_env = true;
		return 0;
	case RUN_O_UNIX:
		o->ro_allow_unix = true;
		return 0;
	case RUN_O_NOISO:
		o->ro_no_isolate = true;
		return 0;
	case 'h':
		fputs(run_usage, stdout);
		return 1;
	case ':':
		return run_usage_error("option needs a value:",
		    argv[optind - 1]);
	default:
		return run_usage_error("unknown option:", argv[optind - 1]);
	}
}

/* Returns 0, 1 when help was printed, or RUN_EXIT_USAGE. */
static int
run_parse(int argc, char **argv, struct run_opts *o)
{
	int ch, r;

	memset(o, 0, sizeof(*o));
	o->ro_port = 3128;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:c:qh", run_longopts,
	    NULL)) != -1)
		if ((r = run_option(o, ch, argv)) != 0)
			return r;
	if (optind >= argc)
		return run_usage_error("no command given", NULL);
	if (o->ro_env_file != NULL && (o->ro_upstream == NULL ||
	    strcmp(o->ro_upstream, "env") != 0))
		return run_usage_error("--env-file is for --upstream env", NULL);
	if (o->ro_upstream_ca != NULL && o->ro_upstream == NULL)
		return run_usage_error("--upstream-ca is for --upstream", NULL);
	o->ro_cmd = argv + optind;
	return 0;
}

/* A path from the command line, made absolute (the configuration resolves
 * relative names against its own directory). */
static char *
run_abspath(const char *p)
{
	char cwd[PATH_MAX], *r;

	if (p[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(p);
	r = xmalloc(strlen(cwd) + strlen(p) + 2);
	sprintf(r, "%s/%s", cwd, p);
	return r;
}

/* The whole of the -c file (NUL-terminated, caller frees) and its length,
 * or NULL after saying why. */
static char *
run_read_policy(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "re");
	char *text;
	size_t n;

	if (fp == NULL) {
		log_warn("%s", path);
		return NULL;
	}
	text = xmalloc(1);
	*len = 0;
	do {
		text = xrealloc(text, *len + 4097);
		n = fread(text + *len, 1, 4096, fp);
		*len += n;
	} while (n > 0);
	text[*len] = '\0';
	fclose(fp);
	return text;
}

/* Each of the `n` values of one flag, applied as directive `name` straight
 * into the configuration (no text is made of them); `abs` values are paths
 * made absolute first. Messages name the flag: "--allow-cidr: ...". */
static void
run_policy_flag(struct config *cfg, const char *flag, const char *name,
    const char *const *v, size_t n, bool abs, struct diag *d)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *p = abs ? run_abspath(v[i]) : NULL;
		const char *arg = abs ? p : v[i];

		config_set(cfg, flag, name, &arg, 1, d);
		free(p);
	}
}

/* The policy: the file's directives, then the flags, each checked with a
 * message naming the flag; a bad flag is reported alone, before anything
 * the file says. Returns NULL after printing every error. */
static struct config *
run_policy(const struct run_opts *o)
{
	struct diag d = { NULL, 0 }, fd = { NULL, 0 };
	static const char *const off[] = { "off" };
	struct config *cfg;
	char *text = NULL, err[300];
	size_t len = 0, i;

	if (o->ro_config != NULL &&
	    (text = run_read_policy(o->ro_config, &len)) == NULL)
		return NULL;
	cfg = config_new(o->ro_config ? o->ro_config : "sluice run");
	if (text != NULL)
		config_parse(cfg, text, len, &d);
	free(text);
	if (cfg->c_npolicies > 1)
		diag_add(&d, cfg->c_path, cfg->c_policies[1]->p_line, "policy "
		    "%s: sluice run has one client, the command, and the "
		    "top-level rules are its policy", cfg->c_policies[1]->p_name);
	run_policy_flag(cfg, "--allow", "allow", o->ro_allow, o->ro_nallow,
	    false, &fd);
	run_policy_flag(cfg, "--allow-cidr", "allow_cidr", o->ro_cidr,
	    o->ro_ncidr, false, &fd);
	run_policy_flag(cfg, "--hosts-file", "hosts_file", o->ro_hosts,
	    o->ro_nhosts, true, &fd);
	/* The run's log goes where --log says, never to the command's
	 * stdout; the file's own access_log does not apply. */
	run_policy_flag(cfg, "--log", "access_log", o->ro_log ? &o->ro_log :
	    off, 1, o->ro_log != NULL, &fd);
	for (i = 0; i < fd.d_count; i++)
		log_warnx("%s", fd.d_msgs[i]);
	if (fd.d_count == 0) {
		config_load_files(cfg, &d);
		diag_print(&d, stderr);
	}
	if (fd.d_count > 0 || d.d_count > 0) {
		config_unref(cfg);
		cfg = NULL;
	}
	/* Ports from flags add to what the file (or the default) allows. */
	for (i = 0; cfg != NULL && i < o->ro_nconnect_ports + o->ro_nhttp_ports;
	    i++) {
		bool connect = i < o->ro_nconnect_ports;
		const char *list = connect ? o->ro_connect_ports[i] :
		    o->ro_http_ports[i - o->ro_nconnect_ports];

		if (config_add_ports(cfg, connect, list, err, sizeof(err)) ==
		    -1) {
			log_warnx("--%s-ports: %s", connect ? "connect" : "http",
			    err);
			config_unref(cfg);
			cfg = NULL;
		}
	}
	diag_free(&fd);
	diag_free(&d);
	return cfg;
}

struct run_env {
	char	**re_vars;
	size_t	  re_n;
};

static bool
run_env_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static void
run_env_unset(struct run_env *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->re_n; i++)
		if (run_env_is(e->re_vars[i], name)) {
			free(e->re_vars[i]);
			e->re_vars[i] = e->re_vars[--e->re_n];
			e->re_vars[e->re_n] = NULL;
			i--;
		}
}

static void
run_env_set(struct run_env *e, const char *name, const char *value)
{
	char *v;

	run_env_unset(e, name);
	v = xmalloc(strlen(name) + strlen(value) + 2);
	sprintf(v, "%s=%s", name, value);
	e->re_vars = xrealloc(e->re_vars, (e->re_n + 2) * sizeof(char *));
	e->re_vars[e->re_n++] = v;
	e->re_vars[e->re_n] = NULL;
}

/* Does an inherited variable carry proxy credentials, or name a file that
 * does? Upstream secrets, the credential files' names and any proxy URL
 * with userinfo stay with the launcher. */
static bool
run_env_secret(const char *entry)
{
	static const char *const names[] = { "PROXY_USER", "PROXY_PASS" };
	const char *eq = strchr(entry, '='), *v, *at, *slash;
	size_t i, nlen;

	if (eq == NULL)
		return false;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (run_env_is(entry, names[i]))
			return true;
	nlen = (size_t)(eq - entry);
	if (proxyurl_names_secret_file(entry, nlen))
		return true;
	if (nlen < 5 || strncasecmp(eq - 5, "proxy", 5) != 0)
		return false;
	v = eq + 1;
	if ((slash = strstr(v, "://")) != NULL)
		v = slash + 3;
	at = strchr(v, '@');
	slash = strchr(v, '/');
	return at != NULL && (slash == NULL || at < slash);
}

/* --env may not carry what the sandbox keeps out: refuse it, rather than
 * hand the command an upstream secret because a flag asked for it. Returns
 * 0 or RUN_EXIT_USAGE. */
static int
run_check_env(const struct run_opts *o)
{
	size_t i;

	for (i = 0; i < o->ro_nenv; i++) {
		const char *v = strchr(o->ro_env[i], '=') ? NULL :
		    getenv(o->ro_env[i]);
		char *entry;
		bool secret;

		if (v != NULL) {
			entry = xmalloc(strlen(o->ro_env[i]) + strlen(v) + 2);
			sprintf(entry, "%s=%s", o->ro_env[i], v);
		} else if (strchr(o->ro_env[i], '=') != NULL)
			entry = xstrdup(o->ro_env[i]);
		else {
			entry = xmalloc(strlen(o->ro_env[i]) + 2);
			sprintf(entry, "%s=", o->ro_env[i]);
		}
		secret = run_env_secret(entry);
		explicit_bzero(entry, strlen(entry));
		free(entry);
		if (secret) {
			const char *eq = strchr(o->ro_env[i], '=');

			fprintf(stderr, "sluice run: --env %.*s: proxy "
			    "credentials and the files holding them stay outside "
			    "the sandbox\n", eq ? (int)(eq - o->ro_env[i]) :
			    (int)strlen(o->ro_env[i]), o->ro_env[i]);
			return RUN_EXIT_USAGE;
		}
	}
	return 0;
}

/* The command's environment. `proxy` is the URL it should use. */
static char **
run_environment(const struct run_opts *o, const struct config *cfg,
    const char *proxy)
{
	static const char *const proxy_vars[] = {
		"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
		"ALL_PROXY", "all_proxy", "GRPC_PROXY",
	};
	struct run_env e = { xcalloc(1, sizeof(char *)), 0 };
	char self[PATH_MAX], ssh[PATH_MAX + 96];
	size_t i;
	ssize_t n;

	if (!o->ro_clean_env)
		for (i = 0; environ[i] != NULL; i++) {
			const char *eq = strchr(environ[i], '=');
			char *name;

			if (eq == NULL || run_env_secret(environ[i]))
				continue;
			name = xstrndup(environ[i], (size_t)(eq - environ[i]));
			run_env_set(&e, name, eq + 1);
			free(name);
		}
	for (i = 0; i < o->ro_nenv; i++) {
		const char *eq = strchr(o->ro_env[i], '='), *v;
		char *name;

		if (eq != NULL) {
			name = xstrndup(o->ro_env[i],
			    (size_t)(eq - o->ro_env[i]));
			run_env_set(&e, name, eq + 1);
			free(name);
		} else if ((v = getenv(o->ro_env[i])) != NULL)
			run_env_set(&e, o->ro_env[i], v);
	}
	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		run_env_set(&e, proxy_vars[i], proxy);
	run_env_set(&e, "NO_PROXY", "localhost,127.0.0.1,::1");
	run_env_set(&e, "no_proxy", "localhost,127.0.0.1,::1");
	run_env_set(&e, "NODE_USE_ENV_PROXY", "1");
	/* ssh has no proxy variable: give git one that tunnels through us. */
	if (config_connect_port(config_default_policy(cfg), 22) &&
	    (n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		snprintf(ssh, sizeof(ssh), "ssh -o ProxyCommand='%s tunnel %%h "
		    "%%p'", self);
		run_env_set(&e, "GIT_SSH_COMMAND", ssh);
	}
	return e.re_vars;
}

static void
run_env_free(char **env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		explicit_bzero(env[i], strlen(env[i]));
		free(env[i]);
	}
	free(env);
}

/* Every file or directory a credential may come from: what CREDENTIALS_
 * DIRECTORY and the PROXY_*_FILE variables name, in the environment and in
 * the env file, and the env file itself. The sandbox covers them all,
 * whether this run read them or not: they are the user's secrets either
 * way. Returns how many were stored in `paths` (absolute, to free). */
static size_t
run_secret_paths(const struct run_opts *o, const struct proxyurl_envfile *ef,
    char **paths, size_t max)
{
	size_t n = 0, i;

	for (i = 0; environ[i] != NULL && n < max; i++) {
		const char *eq = strchr(environ[i], '=');

		if (eq != NULL && eq[1] != '\0' && proxyurl_names_secret_file(
		    environ[i], (size_t)(eq - environ[i])))
			paths[n++] = run_abspath(eq + 1);
	}
	for (i = 0; i < ef->pe_count && n < max; i++)
		if (ef->pe_values[i][0] != '\0' && proxyurl_names_secret_file(
		    ef->pe_keys[i], strlen(ef->pe_keys[i])))
			paths[n++] = run_abspath(ef->pe_values[i]);
	if (o->ro_env_file != NULL && n < max)
		paths[n++] = run_abspath(o->ro_env_file);
	return n;
}

/* The launcher's loop: forward signals, stop when the child exits. */
struct run_loop {
	struct ev_io	 rl_io;
	int		 rl_sigfd;
	pid_t		 rl_child;
	int		 rl_status;
	bool		 rl_done;
	bool		 rl_forward_all;	/* also terminal-made signals */
	struct ttyrelay	*rl_tty;
};

static void
run_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct run_loop *rl = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int status;

			if (waitpid(rl->rl_child, &status, WNOHANG) ==
			    rl->rl_child) {
				rl->rl_status = status;
				rl->rl_done = true;
				ev_stop(loop);
			}
			continue;
		}
		if (si.ssi_signo == SIGWINCH) {
			ttyrelay_resize(rl->rl_tty);
			continue;
		}
		/* The sandboxed command has a session of its own, so what the
		 * terminal sent us is for it too. An unisolated command shares
		 * our process group and got those already. */
		if (rl->rl_forward_all || si.ssi_code != SI_KERNEL)
			kill(rl->rl_child, (int)si.ssi_signo);
	}
}

static int
run_signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGWINCH);
	return sigprocmask(SIG_BLOCK, set, NULL);
}

/* --no-isolate: a random token, required as the password of user "sluice",
 * so that other local users cannot borrow the proxy. Fills `token`. */
static int
run_token(struct config *cfg, char *token, size_t len)
{
	unsigned char rnd[24];
	char salt[64], line[CRYPT_OUTPUT_SIZE + 16], err[200];
	struct crypt_data *cd;
	size_t i;
	int r = -1;

	if (len < sizeof(rnd) * 2 + 1 ||
	    getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	if (crypt_gensalt_rn("$2b$", 5, NULL, 0, salt, sizeof(salt)) != NULL &&
	    crypt_rn(token, salt, cd, sizeof(*cd)) != NULL) {
		snprintf(line, sizeof(line), "sluice:%s", cd->output);
		if (htpasswd_parse_line(&cfg->c_users, line, strlen(line), err,
		    sizeof(err)) == 0) {
			cfg->c_have_users = true;
			r = 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	explicit_bzero(rnd, sizeof(rnd));
	return r;
}

/* Are all the upstream's addresses loopback (the credentials then stay on
 * this machine)? */
static bool
run_upstream_is_local(const struct upstream *up)
{
	size_t i;

	for (i = 0; i < up->up_naddrs; i++)
		if (!addr_is_loopback((const struct sockaddr *)&up->up_addrs[i]))
			return false;
	return true;
}

/* The upstream proxy from --upstream URL or --upstream env (the env file's
 * lines first, then the environment). A URL given on the command line is
 * wiped from our argv at once (it is visible in the process list until
 * then: prefer env). */
static struct upstream *
run_upstream(char *arg, const char *ca_file, struct proxyurl_envfile *ef)
{
	struct proxyurl u;
	struct upstream *up;
	char err[300];
	int r;

	if (strcmp(arg, "env") == 0)
		r = proxyurl_from_vars(&u, proxyurl_envfile_get, ef, err,
		    sizeof(err));
	else {
		r = proxyurl_parse(arg, &u, err, sizeof(err));
		explicit_bzero(arg, strlen(arg));
	}
	if (r == -1) {
		log_warnx("--upstream: %s", err);
		return NULL;
	}
	if (ca_file != NULL && !u.pu_tls) {
		log_warnx("--upstream-ca is for an https:// upstream");
		proxyurl_free(&u);
		return NULL;
	}
	up = upstream_new(&u, ca_file, err, sizeof(err));
	if (up != NULL && u.pu_user != NULL && !u.pu_tls &&
	    !run_upstream_is_local(up))
		log_warnx("warning: the credentials for the upstream proxy %s "
		    "cross the network in clear text; use https:// (or "
		    "PROXY_SCHEME=https) if it has a TLS port", up->up_name);
	proxyurl_free(&u);
	if (up == NULL)
		log_warnx("--upstream: %s", err);
	return up;
}

/* One command needs far fewer connections than a shared proxy: stay within
 * the descriptor limit instead of warning about it. */
static void
run_fit_connections(struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    (rlim_t)cfg->c_max_connections * 2 + 256 > rl.rlim_max)
		cfg->c_max_connections = rl.rlim_max > 512 ?
		    (unsigned)((rl.rlim_max - 256) / 2) : 128;
}

static int
run_exit_status(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Everything `sluice run` holds while the command runs, released in one
 * place (run_release) whatever step failed. */
struct run_launch {
	struct run_opts		 l_o;
	struct run_loop		 l_rl;
	struct ttyrelay		 l_tr;
	struct config		*l_cfg;		/* until the engine owns it */
	struct proxy		*l_px;
	struct upstream		*l_up;
	struct auth_pool	*l_auth;	/* the hashing threads */
	char			 l_token[64];	/* --no-isolate's password */
	char			*l_masks[RUN_MAX_LIST];	/* files to cover */
	size_t			 l_nmasks;
	int			 l_fds[SANDBOX_MAX_LISTENERS + 1];
	size_t			 l_nfds;	/* listeners not yet served */
	int			 l_ctl, l_pty;	/* the sandbox's, or -1 */
	sigset_t		 l_set;		/* the signals we take */
};

/* Everything decided before anything starts: the environment's checks,
 * the env file, the upstream and the policy. Returns 0 or an exit status. */
static int
run_prepare(struct run_launch *l)
{
	struct proxyurl_envfile ef = { NULL, NULL, 0 };
	char err[1024];
	int r;

	if ((r = run_check_env(&l->l_o)) != 0)
		return r;
	/* The launcher may hold upstream credentials: no core dumps, no
	 * ptrace by other processes of this user. */
	prctl(PR_SET_DUMPABLE, 0);
	if (l->l_o.ro_env_file != NULL && proxyurl_envfile_load(&ef,
	    l->l_o.ro_env_file, err, sizeof(err)) == -1) {
		log_warnx("--env-file %s: %s", l->l_o.ro_env_file, err);
		return RUN_EXIT_USAGE;
	}
	l->l_nmasks = run_secret_paths(&l->l_o, &ef, l->l_masks, RUN_MAX_LIST);
	if (l->l_o.ro_upstream != NULL &&
	    (l->l_up = run_upstream(l->l_o.ro_upstream, l->l_o.ro_upstream_ca,
	    &ef)) == NULL) {
		proxyurl_envfile_free(&ef);
		return RUN_EXIT_USAGE;
	}
	proxyurl_envfile_free(&ef);
	if ((l->l_cfg = run_policy(&l->l_o)) == NULL)
		return RUN_EXIT_FAIL;
	/* The command is the only client; it authenticates by being inside. */
	l->l_cfg->c_have_users = false;
	run_fit_connections(l->l_cfg);
	if (config_default_policy(l->l_cfg)->p_allow.p_count == 0 &&
	    config_default_policy(l->l_cfg)->p_ncidrs == 0)
		log_warnx("nothing is allowed: every request will be refused "
		    "(use --allow or -c)");
	if (run_signals_block(&l->l_set) == -1)
		fatal("sigprocmask");
	return 0;
}

/* Start the sandbox: its init makes the proxy's listeners (and a pty) and
 * waits for sandbox_start. Returns 0 or -1 (reported). */
static int
run_sandbox(struct run_launch *l)
{
	struct sandbox_opts so;
	char url[160], err[1024], **env;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", l->l_o.ro_port);
	env = run_environment(&l->l_o, l->l_cfg, url);
	memset(&so, 0, sizeof(so));
	so.sb_port = (uint16_t)l->l_o.ro_port;
	so.sb_allow_unix = l->l_o.ro_allow_unix;
	so.sb_quiet = l->l_o.ro_quiet;
	so.sb_tty = ttyrelay_terminals();
	so.sb_argv = l->l_o.ro_cmd;
	so.sb_envp = env;
	so.sb_masks = (const char **)l->l_masks;
	so.sb_nmasks = l->l_nmasks;
	l->l_rl.rl_child = sandbox_spawn(&so, l->l_fds, &l->l_nfds, &l->l_pty,
	    &l->l_ctl, err, sizeof(err));
	l->l_rl.rl_forward_all = true;
	run_env_free(env);
	if (l->l_rl.rl_child == -1) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

/* --no-isolate: the proxy listens on loopback, and a token, required as the
 * password, keeps other local users from borrowing it. */
static void
run_local_policy(struct run_launch *l)
{
	struct config *cfg = l->l_cfg;
	char e[64];

	if (l->l_nmasks > 0)
		log_warnx("warning: with --no-isolate the command can read the "
		    "credential files (CREDENTIALS_DIRECTORY, PROXY_*_FILE, "
		    "--env-file); only the sandbox hides them");
	if (run_token(cfg, l->l_token, sizeof(l->l_token)) == -1)
		fatalx("cannot make a token for --no-isolate");
	free(cfg->c_listen);
	cfg->c_listen = xcalloc(1, sizeof(*cfg->c_listen));
	cfg->c_nlisten = 1;
	if (addr_parse_hostport("127.0.0.1:0", &cfg->c_listen[0].l_addr,
	    &cfg->c_listen[0].l_len, e, sizeof(e)) == -1)
		fatalx("%s", e);
}

/* The forked child of --no-isolate: becomes the command. */
static void __attribute__((noreturn))
run_exec_local(const struct run_opts *o, char **env)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);	/* ours, not the command's */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execvpe(o->ro_cmd[0], o->ro_cmd, env);
	fprintf(stderr, "sluice: cannot run %s: %s\n", o->ro_cmd[0],
	    strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* --no-isolate: listen, then start the command with the proxy's URL and
 * token. Returns 0 or -1 (reported). */
static int
run_start_local(struct run_launch *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char url[160], **env;
	pid_t pid;

	if (proxy_listen_all(l->l_px) == -1 ||
	    getsockname(l->l_px->px_listeners[0].li_fd,
	    (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	snprintf(url, sizeof(url), "http://sluice:%s@127.0.0.1:%u",
	    l->l_token, (unsigned)addr_port((struct sockaddr *)&ss));
	env = run_environment(&l->l_o, l->l_px->px_cfg, url);
	explicit_bzero(url, sizeof(url));
	if ((pid = fork()) == -1) {
		log_warn("fork");
		run_env_free(env);
		return -1;
	}
	if (pid == 0)
		run_exec_local(&l->l_o, env);
	l->l_rl.rl_child = pid;
	run_env_free(env);
	return 0;
}

/* The proxy engine, serving the sandbox's listeners (or, with
 * --no-isolate, its own on loopback). Returns 0 or -1 (reported). */
static int
run_engine(struct run_launch *l)
{
	char err[1024];
	size_t i;

	if ((l->l_auth = proxy_auth_pool()) == NULL) {
		log_warn("authentication workers");
		return -1;
	}
	/* One client, the command: no identity to count tunnels for. */
	l->l_px = proxy_new(l->l_cfg, l->l_auth, NULL, err, sizeof(err));
	l->l_cfg = NULL;	/* the engine owns it now, even on failure */
	if (l->l_px == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	l->l_px->px_env.e_report_denials = !l->l_o.ro_quiet;
	l->l_px->px_quiet = true;
	l->l_px->px_env.e_upstream = l->l_up;
	if (l->l_o.ro_no_isolate)
		return run_start_local(l);
	for (i = 0; i < l->l_nfds; i++) {
		int fd = l->l_fds[i];

		l->l_fds[i] = -1;	/* the engine's now, even on failure */
		if (proxy_adopt(l->l_px, fd) == -1) {
			log_warn("serving the sandbox's listener");
			return -1;
		}
	}
	return 0;
}

/* Watch signals and the terminal, let the command start, and serve until
 * it exits. Returns its exit status, or RUN_EXIT_FAIL. */
static int
run_serve(struct run_launch *l)
{
	struct run_loop *rl = &l->l_rl;
	int r;

	if ((rl->rl_sigfd = signalfd(-1, &l->l_set, SFD_NONBLOCK |
	    SFD_CLOEXEC)) == -1 || ev_io_add(l->l_px->px_loop, &rl->rl_io,
	    rl->rl_sigfd, EV_READ, run_signal, rl) == -1) {
		log_warn("signalfd");
		return RUN_EXIT_FAIL;
	}
	if (l->l_pty != -1) {
		r = ttyrelay_start(&l->l_tr, l->l_px->px_loop, l->l_pty);
		l->l_pty = -1;	/* the relay owns it now */
		if (r == -1) {
			log_warn("relaying the sandbox's terminal");
			return RUN_EXIT_FAIL;
		}
	}
	if (l->l_ctl != -1 && sandbox_start(l->l_ctl) == -1) {
		log_warn("starting the command");
		return RUN_EXIT_FAIL;
	}
	/* The child may have exited before we watched for it. */
	if (waitpid(rl->rl_child, &rl->rl_status, WNOHANG) == rl->rl_child)
		rl->rl_done = true;
	if (!rl->rl_done && proxy_run(l->l_px) == -1)
		log_warn("event loop");
	return rl->rl_done ? run_exit_status(rl->rl_status) : RUN_EXIT_FAIL;
}

/* Release whatever the launch got to. */
static void
run_release(struct run_launch *l)
{
	size_t i;

	if (!l->l_rl.rl_done && l->l_rl.rl_child > 0) {
		kill(l->l_rl.rl_child, SIGKILL);
		waitpid(l->l_rl.rl_child, NULL, 0);
	}
	/* The command's last words, then the user's terminal back as it was,
	 * before anything else is said. */
	ttyrelay_finish(&l->l_tr);
	/* Connections cancel their auth jobs before the workers stop. */
	if (l->l_px != NULL)
		proxy_close_all(l->l_px);
	auth_pool_free(l->l_auth);
	proxy_free(l->l_px);
	config_unref(l->l_cfg);
	upstream_free(l->l_up);
	for (i = 0; i < l->l_nfds; i++)
		if (l->l_fds[i] != -1)
			close(l->l_fds[i]);
	if (l->l_pty != -1)
		close(l->l_pty);
	if (l->l_ctl != -1)
		close(l->l_ctl);
	if (l->l_rl.rl_sigfd != -1)
		close(l->l_rl.rl_sigfd);
	for (i = 0; i < l->l_nmasks; i++)
		free(l->l_masks[i]);
	explicit_bzero(l->l_token, sizeof(l->l_token));
}

int
run_main(int argc, char **argv)
{
	struct run_launch *l = xcalloc(1, sizeof(*l));
	int r;

	l->l_rl.rl_sigfd = l->l_rl.rl_child = -1;
	l->l_ctl = l->l_pty = -1;
	ttyrelay_init(&l->l_tr);
	l->l_rl.rl_tty = &l->l_tr;
	if ((r = run_parse(argc, argv, &l->l_o)) != 0) {
		free(l);
		return r == 1 ? 0 : r;
	}
	if ((r = run_prepare(l)) == 0) {
		r = RUN_EXIT_FAIL;
		if (l->l_o.ro_no_isolate)
			run_local_policy(l);
		if ((l->l_o.ro_no_isolate || run_sandbox(l) == 0) &&
		    run_engine(l) == 0) {
			explicit_bzero(l->l_token, sizeof(l->l_token));
			r = run_serve(l);
		}
	}
	run_release(l);
	free(l);
	return r;
}
