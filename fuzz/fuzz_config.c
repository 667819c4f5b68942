/* SPDX-License-Identifier: MIT */
/* Fuzzes the configuration parser the way config_load drives it, minus the
 * file reads: config_parse on the main text, config_each_line over the files
 * it references, then config_finish and config_summary. Every diagnostic
 * must start with the name of the file it is about, and a "FILE:N:" line
 * number must point at the line that caused it.
 *
 * Input: the main file, optionally followed by sections that stand in for
 * the referenced files, each opened by a line "%%users", "%%allow" or
 * "%%hosts". */
#include "config.h"
#include "fuzz.h"

#define MAIN_NAME "fuzz/sluice.conf"
#define USERS_NAME "fuzz/users.htpasswd"
#define ALLOW_NAME "fuzz/allow.txt"
#define HOSTS_NAME "fuzz/hosts"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	return 0;
}

static int
users_line(void *ctx, unsigned lineno, const char *s, size_t len, char *err,
    size_t errlen)
{
	(void)lineno;
	return htpasswd_parse_line(ctx, s, len, err, errlen);
}

/* As config.c's allow_file reader: comments and surrounding blanks go. */
static int
allow_line(void *ctx, unsigned lineno, const char *s, size_t len, char *err,
    size_t errlen)
{
	const char *hash = memchr(s, '#', len);

	(void)lineno;
	if (hash != NULL)
		len = (size_t)(hash - s);
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 &&
	    (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 0;
	return patterns_add(ctx, s, len, err, errlen);
}

static int
hosts_line(void *ctx, unsigned lineno, const char *s, size_t len, char *err,
    size_t errlen)
{
	(void)lineno;
	return hosts_parse_line(ctx, s, len, err, errlen);
}

/* Line `n` (1-based) of buf, or NULL. */
static const char *
nth_line(const char *buf, size_t len, unsigned n, size_t *llen)
{
	const char *p = buf, *end = buf + len, *nl;
	unsigned i;

	for (i = 1; p < end; i++, p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (i == n) {
			*llen = (size_t)(nl - p);
			return p;
		}
	}
	return NULL;
}

/* True when the line holds something other than blanks and a comment.
 * htpasswd files (`col0`) only know comments that start the line. */
static bool
has_word(const char *s, size_t len, bool col0)
{
	size_t i;

	if (col0 && len > 0 && s[0] == '#')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '#' && !col0)
			return false;
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return true;
	}
	return false;
}

/* Messages [from, d->d_count) are about `fname` whose text is buf/len
 * (NULL: no line-level check), or, for config_finish, about `alt`. */
static void
check_diags(const struct diag *d, size_t from, const char *fname,
    const char *alt, const char *buf, size_t len, bool col0)
{
	size_t i, flen = strlen(fname);

	for (i = from; i < d->d_count; i++) {
		const char *m = d->d_msgs[i], *rest, *line;
		unsigned long n;
		size_t llen;
		char *end;

		if (alt != NULL && strncmp(m, alt, strlen(alt)) == 0 &&
		    m[strlen(alt)] == ':')
			continue;
		FUZZ_CHECK("config-prefix",
		    strncmp(m, fname, flen) == 0 && m[flen] == ':',
		    "message does not start with '%s:': %s", fname,
		    fuzz_show(m, strlen(m)));
		if (buf == NULL)
			continue;
		rest = m + flen + 1;
		if (*rest < '0' || *rest > '9')
			continue;
		n = strtoul(rest, &end, 10);
		FUZZ_CHECK("config-line", *end == ':' && n >= 1,
		    "bad line number in: %s", fuzz_show(m, strlen(m)));
		line = nth_line(buf, len, (unsigned)n, &llen);
		FUZZ_CHECK("config-line", line != NULL,
		    "line %lu past the end of %s: %s", n, fname,
		    fuzz_show(m, strlen(m)));
		if (strcmp(end, ": NUL byte in line") == 0) {
			FUZZ_CHECK("config-line",
			    memchr(line, '\0', llen) != NULL,
			    "NUL reported on line %lu without one", n);
			continue;
		}
		FUZZ_CHECK("config-line",
		    memchr(line, '\0', llen) == NULL &&
		        has_word(line, llen, col0),
		    "'%s' blames line %lu, which is '%s'",
		    fuzz_show(m, strlen(m)), n, fuzz_show(line, llen));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {USERS_NAME, ALLOW_NAME, HOSTS_NAME};
	static const char *const marks[] = {"%%users", "%%allow", "%%hosts"};
	const char *buf = (const char *)data, *sec[4], *p;
	size_t seclen[4], before, i, k;
	int which[4], nsec = 1, r;
	struct diag d = {NULL, 0};
	struct config *c;
	char *copy;

	if (size > 16384)
		return 0;
	/* An exactly-sized copy, so over-reads are ASan reports. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, buf, size);
	buf = copy;

	/* Split into sections at lines that are exactly a marker. */
	sec[0] = buf;
	which[0] = -1;
	for (p = buf; p < buf + size && nsec < 4;) {
		const char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(buf + size - p);

		for (k = 0; k < 3; k++)
			if (llen == strlen(marks[k]) &&
			    memcmp(p, marks[k], llen) == 0)
				break;
		if (k < 3) {
			seclen[nsec - 1] = (size_t)(p - sec[nsec - 1]);
			sec[nsec] = nl ? nl + 1 : buf + size;
			which[nsec++] = (int)k;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	seclen[nsec - 1] = (size_t)(buf + size - sec[nsec - 1]);

	c = config_new(MAIN_NAME);
	before = d.d_count;
	r = config_parse(c, sec[0], seclen[0], &d);
	FUZZ_CHECK("config-ret", (r == 0) == (d.d_count == before),
	    "config_parse returned %d with %zu new messages", r,
	    d.d_count - before);
	check_diags(&d, before, MAIN_NAME, NULL, sec[0], seclen[0], false);

	for (i = 1; i < (size_t)nsec; i++) {
		int (*fn)(
		    void *, unsigned, const char *, size_t, char *, size_t);
		void *ctx;
		size_t added;

		switch (which[i]) {
		case 0:
			fn = users_line;
			ctx = &c->c_users;
			break;
		case 1:
			fn = allow_line;
			ctx = &c->c_policies[0]->p_allow;
			break;
		default:
			fn = hosts_line;
			ctx = &c->c_hosts;
			break;
		}
		before = d.d_count;
		added = config_each_line(
		    names[which[i]], sec[i], seclen[i], fn, ctx, &d);
		FUZZ_CHECK("config-ret", added == d.d_count - before,
		    "config_each_line returned %zu, added %zu", added,
		    d.d_count - before);
		check_diags(&d, before, names[which[i]], NULL, sec[i],
		    seclen[i], which[i] == 0);
	}

	before = d.d_count;
	r = config_finish(c, &d);
	FUZZ_CHECK("config-ret", (r == 0) == (d.d_count == before),
	    "config_finish returned %d with %zu new messages", r,
	    d.d_count - before);
	/* The "no users" message is about the users file, by design. */
	check_diags(
	    &d, before, MAIN_NAME, c->c_users_file.r_path, NULL, 0, false);
	FUZZ_CHECK("config-finish", c->c_nlisten >= 1, "no listener");
	for (i = 0; i < c->c_nlisten; i++) {
		sa_family_t f = c->c_listen[i].l_addr.ss_family;

		FUZZ_CHECK("config-finish", f == AF_INET || f == AF_INET6,
		    "listener %zu has family %d", i, (int)f);
	}
	if (d.d_count == 0 && devnull != NULL)
		config_summary(c, devnull);

	config_unref(c);
	diag_free(&d);
	free(copy);
	return 0;
}
