/* SPDX-License-Identifier: MIT */
/* Unit tests for proxy URLs (proxyurl.c): parsing with percent-decoded
 * credentials, building from the PROXY_* variables (with _FILE and
 * $CREDENTIALS_DIRECTORY, through real files), formatting that survives any
 * password, and env files. Every password in these tables contains "s3cr3t",
 * and no error message may. One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "proxyurl.h"
#include "unit.h"

#define SECRET	"s3cr3t"

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *
or_null(const char *s)
{
	return s != NULL ? s : "(null)";
}

struct parse_case {
	const char	*in;
	int		 ret;
	const char	*host;
	uint16_t	 port;
	const char	*user, *pass;
};

#define OK(s, h, p, u, pw)	{ s, 0, h, p, u, pw }
#define BAD(s)			{ s, -1, NULL, 0, NULL, NULL }

static const struct parse_case parse_cases[] = {
	OK("http://proxy.example:8080", "proxy.example", 8080, NULL, NULL),
	OK("http://proxy.example", "proxy.example", 3128, NULL, NULL),
	OK("http://proxy.example/", "proxy.example", 3128, NULL, NULL),
	OK("proxy.example:8080", "proxy.example", 8080, NULL, NULL),
	OK("proxy.example", "proxy.example", 3128, NULL, NULL),
	OK("http://10.0.0.1:1", "10.0.0.1", 1, NULL, NULL),
	OK("http://proxy:65535", "proxy", 65535, NULL, NULL),
	OK("http://[::1]:8080", "::1", 8080, NULL, NULL),
	OK("http://[::1]", "::1", 3128, NULL, NULL),
	OK("[2001:db8::1]:3129/", "2001:db8::1", 3129, NULL, NULL),
	/* Credentials, percent-decoded. */
	OK("http://alice:" SECRET "@proxy:8080", "proxy", 8080, "alice",
	    SECRET),
	OK("alice:" SECRET "@proxy", "proxy", 3128, "alice", SECRET),
	OK("http://al%69ce:p%40ss%3A" SECRET "@proxy", "proxy", 3128, "alice",
	    "p@ss:" SECRET),
	OK("http://a%2Fb:%25%23%3F%20" SECRET "@proxy", "proxy", 3128, "a/b",
	    "%#? " SECRET),
	OK("http://%E2%82%AC:%c3%a9" SECRET "@proxy", "proxy", 3128,
	    "\xe2\x82\xac", "\xc3\xa9" SECRET),
	OK("http://a+b:c+" SECRET "@proxy", "proxy", 3128, "a+b", "c+" SECRET),
	OK("http://alice:a:b" SECRET "@proxy", "proxy", 3128, "alice",
	    "a:b" SECRET),
	OK("http://alice:p@" SECRET "@proxy", "proxy", 3128, "alice",
	    "p@" SECRET),
	OK("http://alice:" SECRET "@[::1]:3129", "::1", 3129, "alice", SECRET),
	OK("http://alice@proxy", "proxy", 3128, "alice", NULL),
	OK("http://alice:@proxy", "proxy", 3128, "alice", ""),
	/* Schemes and paths. */
	OK("https://proxy:3128", "proxy", 3128, NULL, NULL),
	BAD("socks5://proxy:1080"),
	BAD("ftp://alice:" SECRET "@proxy"),
	BAD("http://proxy:3128/path"),
	BAD("http://proxy/path"),
	BAD("http://proxy//"),
	BAD("http://proxy?x=1"),
	BAD("http://proxy#frag"),
	BAD("http://alice:" SECRET "/x@proxy"),
	BAD("http://alice:" SECRET "#x@proxy"),
	BAD("http://alice:" SECRET "?x@proxy"),
	/* Ports. */
	BAD("http://proxy:"),
	BAD("http://proxy:0"),
	BAD("http://proxy:65536"),
	BAD("http://proxy:99999"),
	BAD("http://proxy:123456"),
	BAD("http://proxy:-1"),
	BAD("http://proxy:+80"),
	BAD("http://proxy:80a"),
	BAD("http://proxy:http"),
	BAD("http://alice:" SECRET "@proxy:0"),
	BAD("http://alice:" SECRET "@proxy:x"),
	/* Hosts. */
	BAD(""),
	BAD("http://"),
	BAD("http://:3128"),
	BAD("http://alice:" SECRET "@"),
	BAD("http://alice:" SECRET "@:3128"),
	BAD("http://[::1"),
	BAD("http://[::1]x"),
	BAD("http://[::1]:"),
	BAD("http://[]:3128"),
	BAD("http://alice:" SECRET "@[::1"),
	/* Percent-encoding: %00 and malformed escapes. */
	BAD("http://alice:" SECRET "%00@proxy"),
	BAD("http://al%00ice:" SECRET "@proxy"),
	BAD("http://alice:" SECRET "%@proxy"),
	BAD("http://alice:" SECRET "%4@proxy"),
	BAD("http://alice:" SECRET "%zz@proxy"),
	BAD("http://alice:%" SECRET "@proxy"),
	BAD("http://ali%g1ce:" SECRET "@proxy"),
};

static void
test_proxyurl_parse(void **state)
{
	size_t i, n = sizeof(parse_cases) / sizeof(parse_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct parse_case *t = &parse_cases[i];
		struct proxyurl u;
		char err[256] = "";
		int r = proxyurl_parse(t->in, &u, err, sizeof(err));

		if (r != t->ret) {
			print_error("row %zu: proxyurl_parse(\"%s\") returned "
			    "%d, expected %d (%s)\n", i, t->in, r, t->ret, err);
			bad++;
		} else if (r == -1 && (err[0] == '\0' ||
		    strstr(err, SECRET) != NULL)) {
			print_error("row %zu: \"%s\": message \"%s\" is empty "
			    "or shows the password\n", i, t->in, err);
			bad++;
		} else if (r == 0 && (!str_eq(u.pu_host, t->host) ||
		    u.pu_port != t->port || !str_eq(u.pu_user, t->user) ||
		    !str_eq(u.pu_pass, t->pass))) {
			print_error("row %zu: \"%s\" gave %s port %u user %s ",
			    i, t->in, u.pu_host, (unsigned)u.pu_port,
			    or_null(u.pu_user));
			print_error("pass \"%s\", expected %s %u %s ",
			    u.pu_pass ? show(u.pu_pass, strlen(u.pu_pass)) :
			    "(null)", t->host, (unsigned)t->port,
			    or_null(t->user));
			print_error("\"%s\"\n", t->pass ? show(t->pass,
			    strlen(t->pass)) : "(null)");
			bad++;
		}
		if (r == 0)
			proxyurl_free(&u);
	}
	if (bad > 0)
		fail_msg("%d of %zu proxyurl_parse cases failed", bad, n);
}

/* Variables as data. A value "@text" stands for the path of a temporary
 * file holding `text`; `creds` are files put in a temporary
 * $CREDENTIALS_DIRECTORY. */
struct vars_case {
	const char	*vars[6];	/* "NAME=VALUE" */
	const char	*creds[5];	/* "NAME=file content" */
	int		 ret;
	const char	*host;
	uint16_t	 port;
	const char	*user, *pass;
	const char	*errvar;	/* refused: the variable named */
};

#define H	"PROXY_HOST=proxy"
#define P	"PROXY_PORT=3128"
#define V_OK(v, c, h, p, u, pw)	{ v, c, 0, h, p, u, pw, NULL }
#define V_BAD(v, c, var)	{ v, c, -1, NULL, 0, NULL, NULL, var }
#define L(...)			{ __VA_ARGS__ }

static const struct vars_case vars_cases[] = {
	V_OK(L(H, P), L(0), "proxy", 3128, NULL, NULL),
	V_OK(L("PROXY_HOST=10.1.2.3", "PROXY_PORT=8080", "PROXY_USER=alice",
	    "PROXY_PASS=p@ss:" SECRET), L(0), "10.1.2.3", 8080, "alice",
	    "p@ss:" SECRET),
	V_OK(L("PROXY_HOST=::1", P), L(0), "::1", 3128, NULL, NULL),
	/* pu_host is "IPv6 without brackets", however it was written. */
	V_OK(L("PROXY_HOST=[::1]", P), L(0), "::1", 3128, NULL, NULL),
	/* NAME_FILE: one trailing newline (or CRLF) is not the value. */
	V_OK(L(H, P, "PROXY_USER=alice", "PROXY_PASS_FILE=@" SECRET "\n"),
	    L(0), "proxy", 3128, "alice", SECRET),
	V_OK(L(H, P, "PROXY_USER_FILE=@alice\r\n", "PROXY_PASS_FILE=@" SECRET),
	    L(0), "proxy", 3128, "alice", SECRET),
	V_OK(L("PROXY_HOST_FILE=@proxy\n", "PROXY_PORT_FILE=@8080\n"), L(0),
	    "proxy", 8080, NULL, NULL),
	V_OK(L(H, P, "PROXY_USER=alice", "PROXY_PASS=direct" SECRET,
	    "PROXY_PASS_FILE=@file" SECRET), L(0), "proxy", 3128, "alice",
	    "direct" SECRET),
	/* $CREDENTIALS_DIRECTORY/NAME, after NAME and NAME_FILE. */
	V_OK(L(H, P), L("PROXY_USER=alice\n", "PROXY_PASS=" SECRET "\n"),
	    "proxy", 3128, "alice", SECRET),
	V_OK(L(0), L("PROXY_HOST=proxy", "PROXY_PORT=1", "PROXY_USER=bob",
	    "PROXY_PASS=" SECRET), "proxy", 1, "bob", SECRET),
	V_OK(L(H, P, "PROXY_USER=alice", "PROXY_PASS_FILE=@file" SECRET),
	    L("PROXY_USER=bob", "PROXY_PASS=dir" SECRET), "proxy", 3128,
	    "alice", "file" SECRET),
	/* Missing and malformed. */
	V_BAD(L(0), L(0), "PROXY_HOST"),
	V_BAD(L(P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=proxy/x", P), L(0), "PROXY_HOST"),
	/* What `sluice url` would print must parse back as a URL. */
	V_BAD(L("PROXY_HOST=[]", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=[", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=[::1", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=1:2:3", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=alice:" SECRET "@proxy", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=pro xy", P), L(0), "PROXY_HOST"),
	V_BAD(L("PROXY_HOST=proxy\r\nX: y", P), L(0), "PROXY_HOST"),
	V_BAD(L(H), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT="), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT=0"), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT=65536"), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT=http"), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT=80 "), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT_FILE=@99999\n"), L(0), "PROXY_PORT"),
	V_BAD(L(H, "PROXY_PORT=x", "PROXY_USER=alice", "PROXY_PASS=" SECRET),
	    L(0), "PROXY_PORT"),
	/* User and password go together. */
	V_BAD(L(H, P, "PROXY_USER=alice"), L(0), "PROXY_PASS"),
	V_BAD(L(H, P, "PROXY_PASS=" SECRET), L(0), "PROXY_USER"),
	V_BAD(L(H, P, "PROXY_PASS_FILE=@" SECRET), L(0), "PROXY_USER"),
	V_BAD(L(H, P), L("PROXY_PASS=" SECRET), "PROXY_USER"),
	/* A named file that cannot be read is an error naming it. */
	V_BAD(L(H, P, "PROXY_USER=alice", "PROXY_PASS_FILE=/nonexistent/pw"),
	    L(0), "PROXY_PASS_FILE names /nonexistent/pw: No such file"),
	V_BAD(L(H, P, "PROXY_USER=alice", "PROXY_PASS_FILE=/"), L(0),
	    "PROXY_PASS_FILE names /: Is a directory"),
	V_BAD(L(H, P, "PROXY_USER=", "PROXY_PASS=" SECRET), L(0),
	    "PROXY_USER"),
	V_BAD(L(H, P, "PROXY_USER=a:b", "PROXY_PASS=" SECRET), L(0),
	    "PROXY_USER"),
};

struct vars_env {
	char		*name[8];
	const char	*value[8];
	char		*paths[16];	/* files to remove */
	size_t		 n, npaths;
	char		 dir[64], creds[80];	/* temporary */
};

static const char *
vars_get(void *ctx, const char *name)
{
	const struct vars_env *e = ctx;
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

/* For "NAME=...": write `text` to dir/NAME and return the path. */
static char *
put_file(struct vars_env *e, const char *dir, const char *var,
    const char *text)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%.*s", dir,
	    (int)strcspn(var, "="), var) > 0);
	e->paths[e->npaths++] = path;
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void
vars_setup(struct vars_env *e, const struct vars_case *t)
{
	size_t i;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_proxyurl.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (i = 0; i < 6 && t->vars[i] != NULL; i++) {
		const char *v = strchr(t->vars[i], '=') + 1;

		assert_non_null(e->name[e->n] = strndup(t->vars[i],
		    (size_t)(v - 1 - t->vars[i])));
		e->value[e->n++] = *v == '@' ?
		    put_file(e, e->dir, t->vars[i], v + 1) : v;
	}
	if (t->creds[0] == NULL)
		return;
	snprintf(e->creds, sizeof(e->creds), "%s/creds", e->dir);
	assert_int_equal(mkdir(e->creds, 0700), 0);
	for (i = 0; i < 5 && t->creds[i] != NULL; i++)
		put_file(e, e->creds, t->creds[i],
		    strchr(t->creds[i], '=') + 1);
	assert_non_null(e->name[e->n] = strdup("CREDENTIALS_DIRECTORY"));
	e->value[e->n++] = e->creds;
}

static void
vars_cleanup(struct vars_env *e)
{
	size_t i;

	for (i = 0; i < e->npaths; i++) {
		assert_int_equal(unlink(e->paths[i]), 0);
		free(e->paths[i]);
	}
	for (i = 0; i < e->n; i++)
		free(e->name[i]);
	if (e->creds[0] != '\0')
		assert_int_equal(rmdir(e->creds), 0);
	assert_int_equal(rmdir(e->dir), 0);
}

static void
test_proxyurl_from_vars(void **state)
{
	size_t i, n = sizeof(vars_cases) / sizeof(vars_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct vars_case *t = &vars_cases[i];
		struct vars_env e;
		struct proxyurl u;
		char err[256] = "";
		int r;

		vars_setup(&e, t);
		r = proxyurl_from_vars(&u, vars_get, &e, err, sizeof(err));
		if (r != t->ret) {
			print_error("row %zu (%s...): returned %d, expected %d "
			    "(%s)\n", i, or_null(t->vars[0]), r, t->ret, err);
			bad++;
		} else if (r == -1 && (strstr(err, t->errvar) == NULL ||
		    strstr(err, SECRET) != NULL)) {
			print_error("row %zu (%s...): message \"%s\" should "
			    "name %s and not show the password\n", i,
			    or_null(t->vars[0]), err, t->errvar);
			bad++;
		} else if (r == 0 && (!str_eq(u.pu_host, t->host) ||
		    u.pu_port != t->port || !str_eq(u.pu_user, t->user) ||
		    !str_eq(u.pu_pass, t->pass))) {
			print_error("row %zu (%s...): gave %s %u %s %s, "
			    "expected %s %u %s %s\n", i, or_null(t->vars[0]),
			    u.pu_host, (unsigned)u.pu_port, or_null(u.pu_user),
			    or_null(u.pu_pass), t->host, (unsigned)t->port,
			    or_null(t->user), or_null(t->pass));
			bad++;
		}
		if (r == 0)
			proxyurl_free(&u);
		vars_cleanup(&e);
	}
	if (bad > 0)
		fail_msg("%d of %zu proxyurl_from_vars cases failed", bad, n);
}

struct format_case {
	const char	*host;
	uint16_t	 port;
	const char	*user, *pass;
	bool		 creds;
	const char	*out;
};

#define FMT(u, pw, out)	{ "proxy", 3128, u, pw, true, out }

static const struct format_case format_cases[] = {
	FMT("alice", SECRET, "http://alice:" SECRET "@proxy:3128"),
	FMT("alice", "@:/%#?" SECRET, "http://alice:%40%3A%2F%25%23%3F" SECRET
	    "@proxy:3128"),
	FMT("a b", "' \"\\" SECRET, "http://a%20b:%27%20%22%5C" SECRET
	    "@proxy:3128"),
	FMT("AZaz09-._~", "+!$&()*,;=[]" SECRET, "http://AZaz09-._~:"
	    "%2B%21%24%26%28%29%2A%2C%3B%3D%5B%5D" SECRET "@proxy:3128"),
	FMT("\xe2\x82\xac", "\xc3\xa9\xff\x01" SECRET,
	    "http://%E2%82%AC:%C3%A9%FF%01" SECRET "@proxy:3128"),
	FMT("alice", "", "http://alice:@proxy:3128"),
	FMT("alice", NULL, "http://alice@proxy:3128"),
	FMT(NULL, NULL, "http://proxy:3128"),
	{ "proxy", 8080, "alice", SECRET, false, "http://proxy:8080" },
	{ "::1", 1, "alice", SECRET, true, "http://alice:" SECRET "@[::1]:1" },
	{ "2001:db8::1", 65535, NULL, NULL, true,
	    "http://[2001:db8::1]:65535" },
	{ "10.0.0.1", 3128, NULL, NULL, false, "http://10.0.0.1:3128" },
};

/* Format into a buffer of exactly the right size (one byte less must
 * fail), then parse the result back to the same proxy. */
static void
test_proxyurl_format(void **state)
{
	size_t i, n = sizeof(format_cases) / sizeof(format_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct format_case *t = &format_cases[i];
		struct proxyurl u = { (char *)t->host, t->port, (char *)t->user,
		    (char *)t->pass }, back;
		size_t olen = strlen(t->out);
		char *buf = malloc(olen + 1), *small = malloc(olen), err[256];
		int r, r2;

		assert_non_null(buf);
		assert_non_null(small);
		r = proxyurl_format(&u, t->creds, buf, olen + 1);
		r2 = proxyurl_format(&u, t->creds, small, olen);
		if (r != (int)olen || strcmp(buf, t->out) != 0 || r2 != -1) {
			print_error("row %zu: proxyurl_format gave %d \"%s\", "
			    "expected %zu \"%s\"; one byte short gave %d\n", i,
			    r, r >= 0 ? buf : "", olen, t->out, r2);
			bad++;
		} else if (proxyurl_parse(buf, &back, err, sizeof(err)) == -1) {
			print_error("row %zu: \"%s\" does not parse back: %s\n",
			    i, buf, err);
			bad++;
		} else {
			if (!str_eq(back.pu_host, t->host) ||
			    back.pu_port != t->port ||
			    !str_eq(back.pu_user, t->creds ? t->user : NULL) ||
			    !str_eq(back.pu_pass, t->creds ? t->pass : NULL)) {
				print_error("row %zu: \"%s\" parses back as %s "
				    "%u %s %s\n", i, buf, back.pu_host,
				    (unsigned)back.pu_port,
				    or_null(back.pu_user),
				    or_null(back.pu_pass));
				bad++;
			}
			proxyurl_free(&back);
		}
		free(buf);
		free(small);
	}
	if (bad > 0)
		fail_msg("%d of %zu proxyurl_format cases failed", bad, n);
}

struct envfile_case {
	const char	*text;
	int		 ret;
	const char	*want;	/* "KEY=VALUE|..." in order, or error */
	const char	*key, *value;	/* proxyurl_envfile_get(key) */
};

#define EF(s, w)	{ s, 0, w, NULL, NULL }
#define EF_GET(s, w, k, v)	{ s, 0, w, k, v }
#define EF_BAD(s, e)	{ s, -1, e, NULL, NULL }
#define ENVVAR		"TEST_PROXYURL_VAR"	/* set to "env" */

static const struct envfile_case envfile_cases[] = {
	EF("", ""),
	EF("A=1\nB=2\n", "A=1|B=2"),
	EF("A=1\r\nB=2\r\n", "A=1|B=2"),
	EF("A=1", "A=1"),
	EF("export A=1\nexport B=2\n", "A=1|B=2"),
	EF("exportA=1", "exportA=1"),
	EF("A='x y'\nB=\"p@ss:" SECRET "\"\n", "A=x y|B=p@ss:" SECRET),
	EF("A=''\nB=\"\"\n", "A=|B="),
	EF("A='x\nB=\"x'\nC='\n", "A='x|B=\"x'|C='"),
	EF("A='#not a comment'\n", "A=#not a comment"),
	EF("# comment\n\n   \n\t# indented comment\nA=1\n", "A=1"),
	EF("  A=1  \t\r\n", "A=1"),
	EF("A=\nB=b=c\n", "A=|B=b=c"),
	EF_GET("A=1\nA=2\n", "A=1|A=2", "A", "2"),
	EF_GET("A=1\n", "A=1", ENVVAR, "env"),
	EF_GET(ENVVAR "=file\n", ENVVAR "=file", ENVVAR, "file"),
	EF_BAD("BOGUS\n", "line 1: "),
	EF_BAD("A=1\nBOGUS\n", "line 2: "),
	EF_BAD("A=1\n\n# c\nexport\n", "line 4: "),
	EF_BAD("=value\n", "line 1: "),
	EF_BAD("PASS=" SECRET "\n" SECRET "\n", "line 2: "),
	EF_BAD("A=1\r\nB C\r\n", "line 2: "),
	/* A space before '=' set "KEY " and left KEY unset, silently. */
	EF_BAD("PROXY_SCHEME =https\n", "line 1: expected KEY=VALUE (a "
	    "variable name, then '=' with no space before it)"),
	EF("A=1\nexport \t B=2\n", "A=1|B=2"),
	EF_BAD("1A=1\n", "line 1: "),
	EF_BAD("A-B=1\n", "line 1: "),
	EF("_a9=1\n", "_a9=1"),
};

static void
test_proxyurl_envfile(void **state)
{
	size_t i, j, n = sizeof(envfile_cases) / sizeof(envfile_cases[0]);
	int bad = 0;

	(void)state;
	assert_int_equal(setenv(ENVVAR, "env", 1), 0);
	for (i = 0; i < n; i++) {
		const struct envfile_case *t = &envfile_cases[i];
		struct proxyurl_envfile ef;
		char err[256] = "", got[512] = "";
		const char *v = NULL;
		size_t o = 0;
		int r = proxyurl_envfile_parse(&ef, t->text, strlen(t->text),
		    err, sizeof(err));

		if (r == 0) {
			for (j = 0; j < ef.pe_count; j++)
				o += (size_t)snprintf(got + o, sizeof(got) - o,
				    "%s%s=%s", j > 0 ? "|" : "", ef.pe_keys[j],
				    ef.pe_values[j]);
			if (t->key != NULL)
				v = proxyurl_envfile_get(&ef, t->key);
		}
		if (r != t->ret || (r == 0 && strcmp(got, t->want) != 0) ||
		    (r == -1 && (strncmp(err, t->want, strlen(t->want)) != 0 ||
		    strstr(err, SECRET) != NULL)) || !str_eq(v, t->value)) {
			print_error("row %zu: \"%s\": returned %d \"%s\" (%s), "
			    "get %s, ", i, show(t->text, strlen(t->text)), r,
			    got, err, or_null(v));
			print_error("expected %d \"%s\", get %s\n", t->ret,
			    t->want, or_null(t->value));
			bad++;
		}
		if (r == 0)
			proxyurl_envfile_free(&ef);
	}
	unsetenv(ENVVAR);
	if (bad > 0)
		fail_msg("%d of %zu proxyurl_envfile_parse cases failed", bad,
		    n);
}

/* https:// proxies: TLS to the proxy, port 443 unless said, kept through
 * PROXY_SCHEME and back into the URL sluice prints. */
static const char *
tls_lookup(void *ctx, const char *name)
{
	const char *const *kv = ctx;

	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static void
test_proxyurl_tls(void **state)
{
	static const char *https_vars[] = { "PROXY_SCHEME", "https",
	    "PROXY_HOST", "proxy.example", "PROXY_PORT", "3129", NULL };
	static const char *bad_vars[] = { "PROXY_SCHEME", "socks5",
	    "PROXY_HOST", "proxy.example", "PROXY_PORT", "3129", NULL };
	struct proxyurl u;
	char err[200], out[200];

	(void)state;
	assert_int_equal(proxyurl_parse("https://a:b@proxy.example:3129", &u,
	    err, sizeof(err)), 0);
	assert_true(u.pu_tls);
	assert_int_equal(u.pu_port, 3129);
	assert_true(proxyurl_format(&u, true, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://a:b@proxy.example:3129");
	proxyurl_free(&u);
	assert_int_equal(proxyurl_parse("https://proxy.example", &u, err,
	    sizeof(err)), 0);
	assert_int_equal(u.pu_port, 443);
	proxyurl_free(&u);
	assert_int_equal(proxyurl_parse("http://proxy.example", &u, err,
	    sizeof(err)), 0);
	assert_false(u.pu_tls);
	assert_int_equal(u.pu_port, 3128);
	proxyurl_free(&u);
	assert_int_equal(proxyurl_parse("socks5://proxy.example", &u, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "http:// or https://"));
	/* A scheme without its "//" is not a host called "https": read so,
	 * the credentials would go to the proxy in clear. */
	assert_int_equal(proxyurl_parse("https:u:" SECRET "@proxy.example:3129",
	    &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http:// or https://"));
	assert_null(strstr(err, SECRET));
	assert_int_equal(proxyurl_parse("HTTP:proxy.example", &u, err,
	    sizeof(err)), -1);
	assert_int_equal(proxyurl_from_vars(&u, tls_lookup, https_vars, err,
	    sizeof(err)), 0);
	assert_true(u.pu_tls);
	assert_true(proxyurl_format(&u, false, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://proxy.example:3129");
	proxyurl_free(&u);
	assert_int_equal(proxyurl_from_vars(&u, tls_lookup, bad_vars, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "PROXY_SCHEME must be http or https");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxyurl_tls),
		cmocka_unit_test(test_proxyurl_parse),
		cmocka_unit_test(test_proxyurl_from_vars),
		cmocka_unit_test(test_proxyurl_format),
		cmocka_unit_test(test_proxyurl_envfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
