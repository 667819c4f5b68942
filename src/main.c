/* SPDX-License-Identifier: MIT */
/* The command line: parses arguments and calls into the modules.
 * Exit codes: 0 success, 1 configuration or runtime error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "proxyurl.h"
#include "run.h"
#include "sandbox.h"
#include "serve.h"
#include "explain.h"
#include "probe.h"
#include "tunnel.h"
#include "version.h"


#define EXIT_USAGE 2

static const char usage_top[] =
"usage: sluice COMMAND [OPTIONS]\n"
"\n"
"An egress proxy for untrusted code: CONNECT with Basic auth, a domain\n"
"allowlist, refusal of private and metadata addresses, and a Squid-format\n"
"access log.\n"
"\n"
"commands:\n"
"  serve -c FILE     run the proxy in the foreground\n"
"  run [OPTS] -- CMD run CMD in a sandbox whose only way out is the proxy\n"
"  check -c FILE     validate FILE and everything it names, print a summary\n"
"  url [--env] [--env-file FILE]\n"
"                    print the proxy URL built from PROXY_HOST, PROXY_PORT,\n"
"                    PROXY_USER, PROXY_PASS (credentials percent-encoded)\n"
"  tunnel [--proxy-ca FILE] HOST PORT\n"
"                    relay stdin/stdout through $https_proxy (ssh ProxyCommand)\n"
"  probe [--proxy URL|env] [--proxy-ca FILE] [--ca FILE] [--json] URL\n"
"                    walk every hop to URL through the proxy and name the\n"
"                    first that fails, with the fix (exit 10-19: which hop)\n"
"  version           print the version\n"
"  help              print this help (also --help; COMMAND --help)\n"
"\n"
"exit codes: 0 success, 1 configuration error, 2 usage error\n";

static const char usage_serve[] =
"usage: sluice serve -c FILE [-d]\n"
"\n"
"Run the proxy in the foreground with the configuration FILE. Errors go to\n"
"stderr; the access log goes where FILE's access_log says (default stdout).\n"
"SIGHUP (or editing a file it reads) reloads; SIGUSR1 reopens the log;\n"
"SIGINT or SIGTERM stop it, letting connections finish (shutdown_grace).\n"
"\n"
"  -c, --config FILE   configuration file (required)\n"
"  -d, --debug         verbose diagnostics on stderr\n"
"  -h, --help          this help\n";

static const char usage_check[] =
"usage: sluice check -c FILE [--explain USER HOST:PORT [--http]]\n"
"\n"
"Validate FILE completely, including the users, allow_file and hosts_file it\n"
"names. Prints 'configuration OK' and a summary, or every error as\n"
"FILE:LINE: message and exits 1.\n"
"\n"
"  -c, --config FILE   configuration file (required)\n"
"  --explain USER HOST:PORT\n"
"                      say what the proxy would decide for USER ('-': no\n"
"                      credentials) asking for HOST:PORT, and which policy\n"
"                      and rule decide; exits 0 allowed, 3 denied\n"
"  --http              explain a plain-HTTP request, not a CONNECT\n"
"  -h, --help          this help\n";

static int
usage_error(const char *usage, const char *what, const char *arg)
{
	log_warnx("%s%s%s", what, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "\n%s", usage);
	return EXIT_USAGE;
}

/* Parse "-c FILE [-d] [-h]" for serve and check. Returns 0, 1 if help was
 * printed, or EXIT_USAGE. */
static int
parse_config_args(int argc, char **argv, const char *usage, const char **path,
    int *debug)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:c:dh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'd':
			if (debug == NULL)
				return usage_error(usage, "unknown option",
				    "-d");
			*debug = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case ':':
			return usage_error(usage, optopt == 'c' ?
			    "option -c needs a value, the configuration file:" :
			    "option needs a value:", argv[optind - 1]);
		default:
			return usage_error(usage, "unknown option",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(usage, "unexpected argument",
		    argv[optind]);
	if (*path == NULL)
		return usage_error(usage, "missing -c FILE", NULL);
	return 0;
}

/* Take "--explain USER HOST:PORT" and "--http" out of argv (check's
 * other options are parse_config_args'). Returns the new argc, or -1. */
static int
check_explain_args(int argc, char **argv, const char **who,
    const char **target, bool *http)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--explain") == 0) {
			if (i + 2 >= argc)
				return -1;
			*who = argv[++i];
			*target = argv[++i];
		} else if (strcmp(argv[i], "--http") == 0)
			*http = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return *http && *target == NULL ? -1 : n;
}

static int
cmd_check(int argc, char **argv)
{
	struct diag d = { NULL, 0 }, w = { NULL, 0 };
	const char *path = NULL, *who = NULL, *target = NULL;
	struct config *c;
	bool http = false;
	int r;

	if ((argc = check_explain_args(argc, argv, &who, &target, &http)) == -1)
		return usage_error(usage_check, "--explain needs USER and "
		    "HOST:PORT", NULL);
	if ((r = parse_config_args(argc, argv, usage_check, &path, NULL)) != 0)
		return r == 1 ? 0 : r;
	if ((c = config_load(path, &d)) == NULL) {
		diag_print(&d, stderr);
		log_warnx("%s: %zu error%s", path, d.d_count,
		    d.d_count == 1 ? "" : "s");
		diag_free(&d);
		return 1;
	}
	/* What only this machine can tell: errors fail the check, warnings
	 * are said and pass. */
	if (config_check_system(c, &d, &w) + config_check_members(c, &d) > 0) {
		diag_print(&d, stderr);
		diag_print(&w, stderr);
		log_warnx("%s: %zu error%s", path, d.d_count,
		    d.d_count == 1 ? "" : "s");
		diag_free(&d);
		diag_free(&w);
		config_unref(c);
		return 1;
	}
	diag_print(&w, stderr);
	diag_free(&w);
	if (target != NULL)
		r = explain(c, strcmp(who, "-") == 0 ? NULL : who, target, http,
		    stdout);
	else {
		printf("configuration OK: %s\n", path);
		config_summary(c, stdout);
	}
	config_unref(c);
	return r;
}

static const char usage_url[] =
"usage: sluice url [--env] [--env-file FILE]\n"
"\n"
"Print http://USER:PASS@HOST:PORT built from PROXY_HOST, PROXY_PORT,\n"
"PROXY_USER and PROXY_PASS (each also read from the file named by NAME_FILE,\n"
"or from $CREDENTIALS_DIRECTORY/NAME), user and password percent-encoded\n"
"(RFC 3986) so that any password works in every client; https://... when\n"
"PROXY_SCHEME=https.\n"
"\n"
"  --env-file FILE   read KEY=VALUE lines first (then the environment)\n"
"  --env             print export lines for HTTP_PROXY, HTTPS_PROXY,\n"
"                    http_proxy, https_proxy and NO_PROXY, for eval\n"
"  -h, --help        this help\n"
"\n"
"A missing or malformed variable exits 2, naming it; no secret is printed\n"
"in any message.\n";

/* Print `s` in single quotes for a POSIX shell. */
static void
print_shell_quoted(const char *s)
{
	putchar('\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/* Read `sluice url`'s options into *env and *envfile. Returns -1 to go on,
 * or the exit status when done (help printed, or a usage error). */
static int
cmd_url_args(int argc, char **argv, int *env, const char **envfile)
{
	static const struct option longopts[] = {
		{ "env", no_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			*env = 1;
			break;
		case 'f':
			*envfile = optarg;
			break;
		case 'h':
			fputs(usage_url, stdout);
			return 0;
		case ':':
			return usage_error(usage_url, "option needs a value:",
			    argv[optind - 1]);
		default:
			return usage_error(usage_url, "unknown option:",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(usage_url, "unexpected argument",
		    argv[optind]);
	return -1;
}

/* The proxy URL from the PROXY_* variables, read from `envfile` when not
 * NULL and from the environment otherwise. Returns 0, or -1 having said
 * why. */
static int
cmd_url_build(const char *envfile, struct proxyurl *u)
{
	struct proxyurl_envfile ef = { NULL, NULL, 0 };
	char err[300];
	int r;

	if (envfile != NULL) {
		if (proxyurl_envfile_load(&ef, envfile, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "sluice: %s: %s\n", envfile, err);
			return -1;
		}
		r = proxyurl_from_vars(u, proxyurl_envfile_get, &ef, err,
		    sizeof(err));
	} else
		r = proxyurl_from_vars(u, proxyurl_getenv, NULL, err,
		    sizeof(err));
	proxyurl_envfile_free(&ef);
	if (r == -1) {
		fprintf(stderr, "sluice: %s\n", err);
		return -1;
	}
	return 0;
}

/* Print `url` as export lines, for `eval "$(sluice url --env)"`. */
static void
cmd_url_print_env(const char *url)
{
	static const char *const vars[] = {
		"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
	};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		printf("export %s=", vars[i]);
		print_shell_quoted(url);
		putchar('\n');
	}
	printf("export NO_PROXY='localhost,127.0.0.1,::1'\n");
}

static int
cmd_url(int argc, char **argv)
{
	const char *envfile = NULL;
	struct proxyurl u;
	char url[8192];
	int env = 0, r, n;

	if ((r = cmd_url_args(argc, argv, &env, &envfile)) != -1)
		return r;
	if (cmd_url_build(envfile, &u) == -1)
		return EXIT_USAGE;
	n = proxyurl_format(&u, true, url, sizeof(url));
	proxyurl_free(&u);
	if (n < 0) {
		/* What was written so far may hold encoded credentials. */
		explicit_bzero(url, sizeof(url));
		fprintf(stderr, "sluice: the proxy URL is too long\n");
		return EXIT_USAGE;
	}
	if (!env)
		printf("%s\n", url);
	else
		cmd_url_print_env(url);
	explicit_bzero(url, sizeof(url));
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	const char *path = NULL;
	int debug = 0, r;

	if ((r = parse_config_args(argc, argv, usage_serve, &path,
	    &debug)) != 0)
		return r == 1 ? 0 : r;
	log_init(debug);
	return serve_main(path);
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		fputs(usage_top, stderr);
		return EXIT_USAGE;
	}
	/* A peer that goes away must fail a write with EPIPE, never kill the
	 * proxy or a tunnel. Set once, here; whoever execs a command restores
	 * it. */
	if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "run") == 0 ||
	    strcmp(cmd, "tunnel") == 0 || strcmp(cmd, "probe") == 0)
		signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return run_main(argc - 1, argv + 1);
	if (strcmp(cmd, "url") == 0)
		return cmd_url(argc - 1, argv + 1);
	if (strcmp(cmd, "tunnel") == 0)
		return tunnel_main(argc - 1, argv + 1);
	if (strcmp(cmd, "probe") == 0)
		return probe_main(argc - 1, argv + 1);
	if (strcmp(cmd, "__sandbox") == 0)
		sandbox_init_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("sluice %s\n", SLUICE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		fputs(usage_top, stdout);
		return 0;
	}
	log_warnx("unknown command '%s'", cmd);
	fprintf(stderr, "\n%s", usage_top);
	return EXIT_USAGE;
}
