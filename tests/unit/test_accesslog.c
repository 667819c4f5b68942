/* SPDX-License-Identifier: MIT */
/* Unit tests for the access log (accesslog.c): every text field of a record,
 * whatever bytes it holds, stays one field of one line in the Squid format
 * and one valid JSON string in the JSON format, escaped so it can be read
 * back, and cut with the marker at its documented limit, never dropped. Then
 * the writer: lines arrive whole and in order, a reopen splits them between
 * the files, and losses (a full device, a queue overflowing, a pipe nobody
 * reads at close) are reported with their count. One row per case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "accesslog.h"
#include "ev.h"
#include "unit.h"

#define CUT	ACCESSLOG_CUT
#define CUTLEN	(sizeof(ACCESSLOG_CUT) - 1)

/* ---- a strict JSON checker for one line ---- */

static const char *json_value(const char *p);

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static unsigned
hex4(const char *p)
{
	char tmp[5];

	memcpy(tmp, p, 4);
	tmp[4] = '\0';
	return (unsigned)strtoul(tmp, NULL, 16);
}

/* A JSON string of printable ASCII (what the log promises), with every
 * \uD800-\uDBFF followed by a \uDC00-\uDFFF and no lone low surrogate.
 * Returns the end, or NULL. */
static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (;;) {
		unsigned char c = (unsigned char)*p;
		unsigned u;

		if (c == '"')
			return p + 1;
		if (c < 0x20 || c >= 0x7f)
			return NULL;
		if (c != '\\') {
			p++;
			continue;
		}
		p++;
		if (strchr("\"\\/bfnrt", *p) != NULL && *p != '\0') {
			p++;
			continue;
		}
		if (*p != 'u' || !is_hex(p[1]) || !is_hex(p[2]) ||
		    !is_hex(p[3]) || !is_hex(p[4]))
			return NULL;
		u = hex4(p + 1);
		p += 5;
		if (u >= 0xdc00 && u <= 0xdfff)
			return NULL;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (p[0] != '\\' || p[1] != 'u' || !is_hex(p[2]) ||
			    !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
				return NULL;
			u = hex4(p + 2);
			if (u < 0xdc00 || u > 0xdfff)
				return NULL;
			p += 6;
		}
	}
}

static const char *
json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *
json_value(const char *p)
{
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "null", 4) == 0)
		return p + 4;
	return json_number(p);
}

/* True when `line` is one flat JSON object and a '\n'. */
static bool
json_line_ok(const char *line)
{
	const char *p = line;

	if (*p++ != '{')
		return false;
	for (;;) {
		if ((p = json_string(p)) == NULL || *p++ != ':' ||
		    (p = json_value(p)) == NULL)
			return false;
		if (*p == '}')
			break;
		if (*p++ != ',')
			return false;
	}
	return strcmp(p, "}\n") == 0;
}

/* The raw text of member `name`'s value in a checked JSON line. */
static char *
json_member(const char *line, const char *name)
{
	char key[64];
	const char *p, *end;

	snprintf(key, sizeof(key), "\"%s\":", name);
	if ((p = strstr(line, key)) == NULL)
		return NULL;
	p += strlen(key);
	if ((end = json_value(p)) == NULL)
		return NULL;
	return strndup(p, (size_t)(end - p));
}

/* ---- the Squid line ---- */

#define SQUID_MAX_TOKENS 16

/* Split a Squid line at runs of spaces (the elapsed time is padded);
 * checks that it is printable ASCII and ends with its only '\n'. Returns the
 * number of tokens, or -1. */
static int
squid_split(const char *line, char tok[SQUID_MAX_TOKENS][ACCESSLOG_LINE_MAX])
{
	size_t len = strlen(line), i, o = 0;
	int n = 0;

	if (len == 0 || line[len - 1] != '\n')
		return -1;
	for (i = 0; i + 1 < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < ' ' || c >= 0x7f)
			return -1;
		if (c == ' ') {
			if (o > 0) {
				tok[n++][o] = '\0';
				o = 0;
			}
			continue;
		}
		if (n == SQUID_MAX_TOKENS)
			return -1;
		tok[n][o++] = (char)c;
	}
	if (o > 0)
		tok[n++][o] = '\0';
	return n;
}

/* ---- the fields ---- */

struct field {
	const char	*name;
	size_t		 off;		/* const char * in struct logrec */
	int		 squid;		/* token index; -1: not in Squid */
	const char	*prefix;	/* in that token, before the value */
	const char	*suffix;	/* after it */
	const char	*json;		/* member; NULL: not in JSON */
	bool		 url;
};

#define OFF(m)	offsetof(struct logrec, m)

static const struct field fields[] = {
	{ "client", OFF(lr_client), 2, "", "", "client", false },
	{ "tag", OFF(lr_tag), 3, "", "/200", NULL, false },
	{ "method", OFF(lr_method), 5, "", "", "method", false },
	{ "url", OFF(lr_url), 6, "", "", "url", true },
	{ "user", OFF(lr_user), 7, "", "", "user", false },
	{ "peer", OFF(lr_peer), 8, "HIER_DIRECT/", "", "upstream", false },
	{ "mime", OFF(lr_mime), 9, "", "", "mime", false },
	{ "reason", OFF(lr_reason), 10, "", "", "reason", false },
	{ "host", OFF(lr_host), -1, "", "", "host", false },
	{ "sni", OFF(lr_sni), -1, "", "", "sni", false },
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static void
base_record(struct logrec *r)
{
	memset(r, 0, sizeof(*r));
	r->lr_sec = 1795918293;
	r->lr_msec = 1;
	r->lr_elapsed_ms = 12;
	r->lr_client = "127.0.0.1";
	r->lr_tag = "TCP_MISS";
	r->lr_status = 200;
	r->lr_bytes = 100;
	r->lr_method = "GET";
	r->lr_url = "http://a/";
	r->lr_user = "agent";
	r->lr_peer = "127.0.0.1";
	r->lr_mime = "text/plain";
	r->lr_reason = "domain-denied";
	r->lr_host = "a";
	r->lr_port = 80;
	r->lr_dns_ms = -1;
	r->lr_connect_ms = 3;
}

static void
set_field(struct logrec *r, const struct field *f, const char *v)
{
	memcpy((char *)r + f->off, &v, sizeof(v));
}

/* What one value must look like: in a Squid field (and in the URL, where
 * '%' stays), and between the quotes of a JSON string. */
struct want {
	const char	*squid;
	const char	*squid_url;	/* NULL: as squid */
	const char	*json;		/* NULL: JSON null */
};

/* Check `r` (with field `f` set to `in`, shown as `shown`) in both formats;
 * returns the number of problems, printed. */
static int
check_record(const struct logrec *r, const struct field *f, const char *in,
    const char *shown, const struct want *w)
{
	static char tok[SQUID_MAX_TOKENS][ACCESSLOG_LINE_MAX];
	char line[ACCESSLOG_LINE_MAX], exp[ACCESSLOG_LINE_MAX * 2];
	size_t n;
	int ntok, bad = 0;

	n = accesslog_format_squid(r, line, sizeof(line));
	if (n == 0 || n != strlen(line) || n >= ACCESSLOG_LINE_MAX) {
		print_error("%s=\"%s\": squid: no line (%zu)\n", f->name,
		    shown, n);
		return 1;
	}
	ntok = squid_split(line, tok);
	if (ntok != (r->lr_reason != NULL ? 11 : 10)) {
		print_error("%s=\"%s\": squid: %d fields in %s\n", f->name,
		    shown, ntok, show(line, n));
		bad++;
	} else if (f->squid >= 0) {
		if (f->squid == 8 && in == NULL)
			snprintf(exp, sizeof(exp), "HIER_NONE/-");
		else
			snprintf(exp, sizeof(exp), "%s%s%s", f->prefix,
			    in == NULL || *in == '\0' ? "-" : f->url &&
			    w->squid_url != NULL ? w->squid_url : w->squid,
			    f->suffix);
		/* A NULL reason is no field at all: counted above. */
		if (f->squid < ntok && strcmp(tok[f->squid], exp) != 0) {
			print_error("%s=\"%s\": squid field %d is\n  %s\n"
			    "expected\n  %s\n", f->name, shown, f->squid,
			    tok[f->squid], exp);
			bad++;
		}
	}

	n = accesslog_format_json(r, line, sizeof(line));
	if (n == 0 || n != strlen(line) || !json_line_ok(line)) {
		print_error("%s=\"%s\": not one valid JSON line: %s\n",
		    f->name, shown, show(line, n));
		return bad + 1;
	}
	if (f->json != NULL) {
		char *got = json_member(line, f->json);

		if (w->json == NULL)
			snprintf(exp, sizeof(exp), "null");
		else
			snprintf(exp, sizeof(exp), "\"%s\"", w->json);
		if (got == NULL || strcmp(got, exp) != 0) {
			print_error("%s=\"%s\": JSON %s is\n  %s\nexpected\n"
			    "  %s\n", f->name, shown, f->json,
			    got ? got : "(missing)", exp);
			bad++;
		}
		free(got);
	}
	return bad;
}

/* ---- escaping: one row per hostile value ---- */

struct esc_case {
	const char	*in;		/* NULL: the field is NULL */
	struct want	 want;
};

static const struct esc_case esc_cases[] = {
	{ "plain", { "plain", NULL, "plain" } },
	{ NULL, { "-", NULL, NULL } },
	{ "", { "-", NULL, "" } },
	{ "a b", { "a%20b", NULL, "a b" } },
	{ "text/html\tFAKE", { "text/html%09FAKE", NULL,
	    "text/html\\u0009FAKE" } },
	{ "a\r\nb", { "a%0D%0Ab", NULL, "a\\u000d\\u000ab" } },
	{ "1 2 3 4 5", { "1%202%203%204%205", NULL, "1 2 3 4 5" } },
	{ "\x01\x1b[31m\x1f\x7f", { "%01%1B[31m%1F%7F", NULL,
	    "\\u0001\\u001b[31m\\u001f\\u007f" } },
	{ "100%", { "100%25", "100%", "100%" } },
	{ "%09", { "%2509", "%09", "%09" } },
	{ "\"q\"", { "\"q\"", NULL, "\\\"q\\\"" } },
	{ "back\\slash\\", { "back\\slash\\", NULL,
	    "back\\\\slash\\\\" } },
	{ "\",\"status\":200,\"x\":\"", { "\",\"status\":200,\"x\":\"",
	    NULL, "\\\",\\\"status\\\":200,\\\"x\\\":\\\"" } },
	{ "}\n{\"ts\":0", { "}%0A{\"ts\":0", NULL, "}\\u000a{\\\"ts\\\":0" } },
	{ "-", { "-", NULL, "-" } },
	/* Non-ASCII: bytes in Squid, code points in JSON. */
	{ "caf\xc3\xa9", { "caf%C3%A9", NULL, "caf\\u00e9" } },
	{ "\xe2\x80\xae" "evil", { "%E2%80%AEevil", NULL, "\\u202eevil" } },
	{ "\xe2\x80\xa8", { "%E2%80%A8", NULL, "\\u2028" } },
	{ "\xf0\x9f\x98\x80", { "%F0%9F%98%80", NULL,
	    "\\ud83d\\ude00" } },
	{ "\xf4\x8f\xbf\xbf", { "%F4%8F%BF%BF", NULL,
	    "\\udbff\\udfff" } },
	{ "\xef\xbf\xbd", { "%EF%BF%BD", NULL, "\\ufffd" } },
	/* Not UTF-8: each byte U+FFFD. */
	{ "\xff\xfe", { "%FF%FE", NULL, "\\ufffd\\ufffd" } },
	{ "\xc0\xaf", { "%C0%AF", NULL, "\\ufffd\\ufffd" } },
	{ "\xe0\x80\xaf", { "%E0%80%AF", NULL, "\\ufffd\\ufffd\\ufffd" } },
	{ "\xed\xa0\x80", { "%ED%A0%80", NULL, "\\ufffd\\ufffd\\ufffd" } },
	{ "\xf4\x90\x80\x80", { "%F4%90%80%80", NULL,
	    "\\ufffd\\ufffd\\ufffd\\ufffd" } },
	{ "a\xe2\x82", { "a%E2%82", NULL, "a\\ufffd\\ufffd" } },
	{ "\xe2\x82z", { "%E2%82z", NULL, "\\ufffd\\ufffdz" } },
	{ "\xc3", { "%C3", NULL, "\\ufffd" } },
	{ "\x80\xbf", { "%80%BF", NULL, "\\ufffd\\ufffd" } },
	{ "ok\xc3\xa9\xc3", { "ok%C3%A9%C3", NULL, "ok\\u00e9\\ufffd" } },
};

static void
test_accesslog_escaping(void **state)
{
	size_t i, k, n = sizeof(esc_cases) / sizeof(esc_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct esc_case *t = &esc_cases[i];
		const char *shown = t->in ? show(t->in, strlen(t->in)) :
		    "(null)";
		char copy[1100];

		snprintf(copy, sizeof(copy), "%s", shown);
		for (k = 0; k < NFIELDS; k++) {
			struct logrec r;

			base_record(&r);
			set_field(&r, &fields[k], t->in);
			bad += check_record(&r, &fields[k], t->in, copy,
			    &t->want);
		}
	}
	if (bad > 0)
		fail_msg("%d problems in %zu escaping rows", bad, n);
}

/* ---- long values: cut at the limit, with the marker ---- */

/* `unit` `nrep` times. Expected: the unit's escape `n` times, then the
 * marker when n < nrep; counts for an ordinary field and for the URL. */
struct long_case {
	const char	*unit;
	unsigned	 nrep;
	const char	*squid;
	unsigned	 squid_n, squid_url_n;
	const char	*squid_url;	/* NULL: as squid */
	const char	*json;
	unsigned	 json_n, json_url_n;
};

/* Ordinary fields keep 256 - 14 = 242 bytes before the marker, the URL
 * 1024 - 14 = 1010. */
static const struct long_case long_cases[] = {
	{ "a", 5000, "a", 242, 1010, NULL, "a", 242, 1010 },
	{ "a", 256, "a", 256, 256, NULL, "a", 256, 256 },
	{ "a", 257, "a", 242, 257, NULL, "a", 242, 257 },
	{ "a", 1024, "a", 242, 1024, NULL, "a", 242, 1024 },
	{ "a", 1025, "a", 242, 1010, NULL, "a", 242, 1010 },
	/* The review's URL: ~990 quotes, two bytes each in JSON. */
	{ "\"", 990, "\"", 242, 990, NULL, "\\\"", 121, 505 },
	{ "\\", 600, "\\", 242, 600, NULL, "\\\\", 121, 505 },
	{ " ", 1000, "%20", 80, 336, NULL, " ", 242, 1000 },
	{ "\t", 400, "%09", 80, 336, NULL, "\\u0009", 40, 168 },
	{ "%", 400, "%25", 80, 400, "%", "%", 242, 400 },
	{ "\xff", 100, "%FF", 80, 100, NULL, "\\ufffd", 40, 100 },
	{ "\xf0\x9f\x98\x80", 300, "%F0%9F%98%80", 20, 84, NULL,
	    "\\ud83d\\ude00", 20, 84 },
	{ "\xc3\xa9", 1000, "%C3%A9", 40, 168, NULL, "\\u00e9", 40, 168 },
	/* An escape is never split: the marker comes after a whole one. */
	{ "\x01x", 200, "%01x", 60, 200, NULL, "\\u0001x", 34, 144 },
};

static char *
repeat(const char *unit, unsigned n, const char *tail)
{
	size_t lu = strlen(unit), lt = tail ? strlen(tail) : 0;
	char *s = malloc(lu * n + lt + 1), *p = s;
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < n; i++, p += lu)
		memcpy(p, unit, lu);
	memcpy(p, tail ? tail : "", lt + 1);
	return s;
}

static void
test_accesslog_long_fields(void **state)
{
	size_t i, k, n = sizeof(long_cases) / sizeof(long_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct long_case *t = &long_cases[i];
		char *in = repeat(t->unit, t->nrep, NULL);
		char shown[64];

		snprintf(shown, sizeof(shown), "row %zu: %u times %s", i,
		    t->nrep, show(t->unit, strlen(t->unit)));
		for (k = 0; k < NFIELDS; k++) {
			const struct field *f = &fields[k];
			unsigned sn = f->url ? t->squid_url_n : t->squid_n;
			unsigned jn = f->url ? t->json_url_n : t->json_n;
			const char *su = f->url && t->squid_url ? t->squid_url :
			    t->squid;
			char *sq = repeat(su, sn, sn < t->nrep ? CUT : NULL);
			char *js = repeat(t->json, jn, jn < t->nrep ? CUT :
			    NULL);
			struct want w = { sq, NULL, js };
			struct logrec r;

			if (strlen(sq) > (f->url ? ACCESSLOG_URL_MAX :
			    ACCESSLOG_FIELD_MAX) || strlen(js) > (f->url ?
			    ACCESSLOG_URL_MAX : ACCESSLOG_FIELD_MAX))
				fail_msg("%s: the row's expectation is over "
				    "the limit", shown);
			base_record(&r);
			set_field(&r, f, in);
			bad += check_record(&r, f, in, shown, &w);
			free(sq);
			free(js);
		}
		free(in);
	}
	if (bad > 0)
		fail_msg("%d problems in %zu long rows", bad, n);
}

/* Every field at its limit and every number at its widest: the line is
 * still whole, and within the bound accesslog.c's static assertion uses. */
static void
test_accesslog_worst_case(void **state)
{
	static char tok[SQUID_MAX_TOKENS][ACCESSLOG_LINE_MAX];
	char *big = repeat("a", 5000, NULL), *url = repeat("\"", 5000, NULL);
	char line[ACCESSLOG_LINE_MAX];
	const size_t text = 8 * (ACCESSLOG_FIELD_MAX + 2) +
	    ACCESSLOG_URL_MAX + 2;
	struct logrec r;
	size_t k, n;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (k = 0; k < NFIELDS; k++)
		set_field(&r, &fields[k], big);
	r.lr_url = url;
	r.lr_sec = INT64_MIN;
	r.lr_msec = UINT_MAX;
	r.lr_elapsed_ms = UINT64_MAX;
	r.lr_status = INT_MIN;
	r.lr_bytes = UINT64_MAX;
	r.lr_bytes_up = UINT64_MAX;
	r.lr_port = UINT_MAX;
	r.lr_dns_ms = INT64_MAX;
	r.lr_connect_ms = INT64_MAX;

	n = accesslog_format_json(&r, line, sizeof(line));
	assert_true(n > text && n < ACCESSLOG_LINE_MAX);
	assert_true(json_line_ok(line));
	assert_true(n - text < 512);

	n = accesslog_format_squid(&r, line, sizeof(line));
	assert_true(n > 0 && n < ACCESSLOG_LINE_MAX);
	assert_int_equal(squid_split(line, tok), 11);

	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(accesslog_format_squid(&r, line,
	    ACCESSLOG_LINE_MAX - 1), 0);
	assert_int_equal(accesslog_format_json(&r, line, 10), 0);
	free(big);
	free(url);
}

/* The documented examples, exactly. */
static void
test_accesslog_formats(void **state)
{
	char line[ACCESSLOG_LINE_MAX];
	struct logrec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.lr_sec = 1795918293;
	r.lr_msec = 140;
	r.lr_client = "127.0.0.1";
	r.lr_tag = "TCP_DENIED";
	r.lr_status = 403;
	r.lr_bytes = 142;
	r.lr_method = "CONNECT";
	r.lr_url = "www.google.com:443";
	r.lr_user = "agent";
	r.lr_mime = "text/plain";
	r.lr_reason = "domain-denied";
	r.lr_decision = "denied";
	r.lr_host = "www.google.com";
	r.lr_port = 443;
	r.lr_dns_ms = -1;
	r.lr_connect_ms = -1;
	r.lr_auth = "password";
	accesslog_format_squid(&r, line, sizeof(line));
	assert_string_equal(line, "1795918293.140      0 127.0.0.1 "
	    "TCP_DENIED/403 142 CONNECT www.google.com:443 agent HIER_NONE/- "
	    "text/plain domain-denied\n");
	accesslog_format_json(&r, line, sizeof(line));
	assert_string_equal(line, "{\"ts\":1795918293.140,\"client\":"
	    "\"127.0.0.1\",\"user\":\"agent\",\"method\":\"CONNECT\","
	    "\"url\":\"www.google.com:443\",\"host\":\"www.google.com\","
	    "\"port\":443,\"decision\":\"denied\",\"reason\":"
	    "\"domain-denied\",\"status\":403,\"bytes_to_client\":142,"
	    "\"bytes_from_client\":0,\"duration_ms\":0,\"dns_ms\":null,"
	    "\"connect_ms\":null,\"upstream\":null,\"mime\":\"text/plain\","
	    "\"tls\":null,\"auth\":\"password\",\"policy\":\"default\",\"report\":null,"
	    "\"sni\":null}\n");

	r.lr_tag = "TCP_TUNNEL";
	r.lr_status = 200;
	r.lr_reason = NULL;
	r.lr_decision = NULL;
	r.lr_mime = NULL;
	r.lr_peer = "160.79.104.10";
	r.lr_elapsed_ms = 12;
	r.lr_url = "api.anthropic.com:443";
	accesslog_format_squid(&r, line, sizeof(line));
	assert_string_equal(line, "1795918293.140     12 127.0.0.1 "
	    "TCP_TUNNEL/200 142 CONNECT api.anthropic.com:443 agent "
	    "HIER_DIRECT/160.79.104.10 -\n");
	r.lr_parent = true;
	r.lr_user = NULL;
	accesslog_format_squid(&r, line, sizeof(line));
	assert_string_equal(line, "1795918293.140     12 127.0.0.1 "
	    "TCP_TUNNEL/200 142 CONNECT api.anthropic.com:443 - "
	    "FIRSTUP_PARENT/160.79.104.10 -\n");
}

/* ---- the writer ---- */

static char tmpdir[] = "/tmp/test_accesslog.XXXXXX";

static char *
tmp_path(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	size_t n = 0, cap = 0, got;

	assert_non_null(f);
	do {
		if (cap - n < 65536)
			assert_non_null(s = realloc(s, cap = cap * 2 + 65536));
		got = fread(s + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	fclose(f);
	s[n] = '\0';
	*len = n;
	return s;
}

/* Record number `i` of writer `w`, with a URL of `pad` bytes, so lines
 * differ in length and can be told apart. */
static void
numbered(struct logrec *r, char *url, size_t urllen, unsigned w, unsigned i,
    size_t pad)
{
	int n;

	base_record(r);
	r->lr_reason = NULL;
	n = snprintf(url, urllen, "http://w%u/%u/", w, i);
	assert_true(n > 0 && (size_t)n + pad < urllen);
	memset(url + n, 'p', pad);
	url[(size_t)n + pad] = '\0';
	r->lr_url = url;
}

/* Check `text` is exactly lines w/0 .. w/count-1 of writer `w` (pass
 * w = -1 to check each line of any writer is whole); returns the count. */
static unsigned
check_lines(const char *text, int w, unsigned from)
{
	const char *p = text, *nl;
	unsigned i = from;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1, i++) {
		unsigned gw, gi;
		const char *u = strstr(p, " http://w");

		assert_true(u != NULL && u < nl);
		assert_int_equal(sscanf(u, " http://w%u/%u/", &gw, &gi), 2);
		if (w >= 0) {
			assert_int_equal(gw, (unsigned)w);
			assert_int_equal(gi, i);
		}
		/* Whole: the URL is followed by the rest of the record. */
		u = strstr(u + 1, " agent HIER_DIRECT/127.0.0.1 text/plain\n");
		assert_true(u != NULL && u + 40 == nl + 1);
	}
	assert_int_equal(*p, '\0');
	return i - from;
}

static void
test_accesslog_file_round_trip(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	char *path = tmp_path("round-trip.log"), *text;
	char url[2000];
	struct accesslog *al;
	struct logrec r;
	unsigned i;
	size_t len;

	(void)state;
	assert_non_null(loop);
	assert_non_null(al = accesslog_open(loop, path));
	for (i = 0; i < 3000; i++) {
		numbered(&r, url, sizeof(url), 0, i, i % 997);
		accesslog_write(al, &r);
		if (i % 7 == 0)
			accesslog_flush(al);
	}
	ev_drain(loop);
	accesslog_close(al);
	text = slurp(path, &len);
	assert_int_equal(check_lines(text, 0, 0), 3000);
	free(text);
	free(path);
	ev_loop_free(loop);
}

static void
test_accesslog_reopen_splits_the_files(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	char *a = tmp_path("a.log"), *b = tmp_path("b.log"), *text;
	char url[200];
	struct accesslog *al;
	struct logrec r;
	unsigned i;
	size_t len;

	(void)state;
	assert_non_null(al = accesslog_open(loop, a));
	for (i = 0; i < 500; i++) {
		numbered(&r, url, sizeof(url), 0, i, 10);
		accesslog_write(al, &r);
		if (i == 300)
			accesslog_flush(al);
	}
	/* Not flushed: the reopen hands the rest to the old file. */
	assert_int_equal(accesslog_reopen(al, b), 0);
	for (; i < 800; i++) {
		numbered(&r, url, sizeof(url), 0, i, 10);
		accesslog_write(al, &r);
	}
	/* A reopen that fails keeps the current file. */
	assert_int_equal(accesslog_reopen(al, "/nonexistent/dir/x.log"), -1);
	assert_int_equal(errno, ENOENT);
	for (; i < 900; i++) {
		numbered(&r, url, sizeof(url), 0, i, 10);
		accesslog_write(al, &r);
	}
	/* Off, then back on. */
	assert_int_equal(accesslog_reopen(al, NULL), 0);
	numbered(&r, url, sizeof(url), 0, 99999, 10);
	accesslog_write(al, &r);
	assert_int_equal(accesslog_reopen(al, b), 0);
	for (; i < 950; i++) {
		numbered(&r, url, sizeof(url), 0, i, 10);
		accesslog_write(al, &r);
	}
	ev_drain(loop);
	accesslog_close(al);
	text = slurp(a, &len);
	assert_int_equal(check_lines(text, 0, 0), 500);
	free(text);
	text = slurp(b, &len);
	assert_int_equal(check_lines(text, 0, 500), 450);
	free(text);
	free(a);
	free(b);
	ev_loop_free(loop);
}

/* stderr into a file for the duration of a test. */
struct capture {
	int	 saved;
	char	*path;
};

static void
capture_start(struct capture *c, const char *name)
{
	int fd;

	c->path = tmp_path(name);
	fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved != -1);
	assert_true(dup2(fd, STDERR_FILENO) != -1);
	close(fd);
}

static char *
capture_end(struct capture *c)
{
	size_t len;
	char *text;

	assert_true(dup2(c->saved, STDERR_FILENO) != -1);
	close(c->saved);
	text = slurp(c->path, &len);
	free(c->path);
	return text;
}

static unsigned
count_matches(const char *text, const char *needle)
{
	unsigned n = 0;

	for (; (text = strstr(text, needle)) != NULL; text++)
		n++;
	return n;
}

static void
test_accesslog_full_device(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct capture cap;
	struct accesslog *al;
	struct logrec r;
	char url[100], want[100], *err;
	unsigned i;

	(void)state;
	capture_start(&cap, "full.stderr");
	assert_non_null(al = accesslog_open(loop, "/dev/full"));
	for (i = 0; i < 200; i++) {
		numbered(&r, url, sizeof(url), 0, i, 10);
		accesslog_write(al, &r);
		if (i % 10 == 0) {
			accesslog_flush(al);
			usleep(1000);
		}
	}
	ev_drain(loop);
	accesslog_close(al);
	err = capture_end(&cap);
	/* The error once, with errno; the count when the log closes. */
	assert_int_equal(count_matches(err, "sluice: access log: write: "
	    "No space left on device\n"), 1);
	snprintf(want, sizeof(want), "sluice: access log: %u lines were "
	    "lost\n", i);
	if (strstr(err, want) == NULL)
		fail_msg("no \"%s\" in stderr:\n%s", want, err);
	assert_null(strstr(err, "writing again"));
	free(err);
	ev_loop_free(loop);
}

struct reader {
	int		 fd;
	char		*buf;
	size_t		 len, cap;
	pthread_t	 thread;
};

static void *
reader_run(void *arg)
{
	struct reader *rd = arg;
	ssize_t n;

	for (;;) {
		if (rd->cap - rd->len < 65536) {
			rd->cap = rd->cap * 2 + 65536;
			if ((rd->buf = realloc(rd->buf, rd->cap + 1)) == NULL)
				abort();
		}
		if ((n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len))
		    <= 0)
			break;
		rd->len += (size_t)n;
	}
	rd->buf[rd->len] = '\0';
	return NULL;
}

static void
reader_start(struct reader *rd, int fd)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	assert_int_equal(pthread_create(&rd->thread, NULL, reader_run, rd),
	    0);
}

/* Two logs (two workers) on one pipe, with long lines from two threads at
 * once: no line is ever interleaved with another. */
static void
test_accesslog_shared_pipe(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct accesslog *al[2];
	struct reader rd;
	struct logrec r;
	char url[2000], path[64];
	int p[2];
	unsigned i, w;

	(void)state;
	assert_int_equal(pipe(p), 0);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[1]);
	for (w = 0; w < 2; w++)
		assert_non_null(al[w] = accesslog_open(loop, path));
	close(p[1]);
	reader_start(&rd, p[0]);
	for (i = 0; i < 2000; i++)
		for (w = 0; w < 2; w++) {
			numbered(&r, url, sizeof(url), w, i, 500 + i % 1000);
			accesslog_write(al[w], &r);
			if (i % 5 == 0)
				accesslog_flush(al[w]);
		}
	ev_drain(loop);
	for (w = 0; w < 2; w++)
		accesslog_close(al[w]);
	pthread_join(rd.thread, NULL);
	close(p[0]);
	assert_int_equal(check_lines(rd.buf, -1, 0), 4000);
	free(rd.buf);
	ev_loop_free(loop);
}

/* A pipe nobody reads: the loop never waits; past the queue's bound lines
 * are dropped, counted, and the count is reported once the reader is back;
 * what was queued arrives. */
static void
test_accesslog_stuck_pipe_then_reader(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct capture cap;
	struct accesslog *al;
	struct reader rd;
	struct logrec r;
	char url[2000], path[64], *err;
	const char *at;
	unsigned i, lost = 0, got;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[1]);
	capture_start(&cap, "stuck.stderr");
	assert_non_null(al = accesslog_open(loop, path));
	close(p[1]);
	/* About 6.6 MB: more than the pipe and the queue (4 MiB) hold. */
	for (i = 0; i < 6000; i++) {
		numbered(&r, url, sizeof(url), 0, i, 1400);
		accesslog_write(al, &r);
		if (i % 16 == 15)
			accesslog_flush(al);
	}
	accesslog_flush(al);
	reader_start(&rd, p[0]);
	ev_drain(loop);
	accesslog_close(al);
	pthread_join(rd.thread, NULL);
	close(p[0]);
	err = capture_end(&cap);
	assert_int_equal(count_matches(err, "dropping lines until the log "
	    "catches up\n"), 1);
	if ((at = strstr(err, "sluice: access log: writing again, ")) != NULL)
		assert_int_equal(sscanf(at, "sluice: access log: writing again,"
		    " %u lines were lost", &lost), 1);
	else
		fail_msg("no recovery reported:\n%s", err);
	got = check_lines(rd.buf, -1, 0);
	assert_true(lost > 0);
	assert_int_equal(got + lost, 6000);
	free(err);
	free(rd.buf);
	ev_loop_free(loop);
}

/* A pipe nobody reads when the log closes: close gives up after its bound,
 * leaves the writer behind and reports what did not get through; the lines
 * that did are whole. Runs last: after a close gave up, the next ones wait
 * less. */
static void
test_accesslog_close_on_a_stuck_pipe(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct capture cap;
	struct accesslog *al;
	struct logrec r;
	char url[2000], path[64], *err, *buf;
	const char *at;
	unsigned i, lost = 0, got;
	size_t have = 0;
	int p[2], queued = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_true(fcntl(p[0], F_SETPIPE_SZ, 4096) != -1);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[1]);
	capture_start(&cap, "close.stderr");
	assert_non_null(al = accesslog_open(loop, path));
	close(p[1]);
	for (i = 0; i < 100; i++) {
		numbered(&r, url, sizeof(url), 0, i, 200);
		accesslog_write(al, &r);
		accesslog_flush(al);
	}
	ev_drain(loop);
	accesslog_close(al);	/* returns after about 2 s */
	err = capture_end(&cap);

	/* What reached the pipe before close gave up; the writer is still
	 * blocked, and exits once it is unblocked (EPIPE, here). */
	assert_int_equal(ioctl(p[0], FIONREAD, &queued), 0);
	assert_true(queued > 0);
	assert_non_null(buf = malloc((size_t)queued + 1));
	while (have < (size_t)queued) {
		ssize_t n = read(p[0], buf + have, (size_t)queued - have);

		assert_true(n > 0);
		have += (size_t)n;
	}
	buf[have] = '\0';
	close(p[0]);
	assert_non_null(strstr(err, "sluice: access log: gave up waiting for "
	    "the log after 2000 ms\n"));
	if ((at = strstr(err, " lines were lost\n")) != NULL) {
		while (at > err && at[-1] >= '0' && at[-1] <= '9')
			at--;
		lost = (unsigned)strtoul(at, NULL, 10);
	}
	got = check_lines(buf, 0, 0);
	if (got == 0 || lost == 0 || got + lost != 100)
		fail_msg("%u lines in the pipe, %u reported lost:\n%s", got,
		    lost, err);
	free(err);
	free(buf);
	ev_loop_free(loop);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[100];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accesslog_escaping),
		cmocka_unit_test(test_accesslog_long_fields),
		cmocka_unit_test(test_accesslog_worst_case),
		cmocka_unit_test(test_accesslog_formats),
		cmocka_unit_test(test_accesslog_file_round_trip),
		cmocka_unit_test(test_accesslog_reopen_splits_the_files),
		cmocka_unit_test(test_accesslog_full_device),
		cmocka_unit_test(test_accesslog_shared_pipe),
		cmocka_unit_test(test_accesslog_stuck_pipe_then_reader),
		cmocka_unit_test(test_accesslog_close_on_a_stuck_pipe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
