/* SPDX-License-Identifier: MIT */
/* Fuzzes patterns_add and patterns_match against a brute-force model. Each
 * input line is one pattern; the model keeps (canonical name, self, subs)
 * for every accepted one and answers "does this host match" by comparing
 * strings. Probe hosts come from the patterns themselves (the name, its
 * subdomains, its parents, look-alikes such as "x" + name) and from every
 * input line read as a host. */
#include "fuzz.h"
#include "host.h"
#include "pattern.h"

#define MAX_RULES 64

struct rule {
	char name[HOST_NAME_MAX_LEN + 1];
	bool self, subs;
};

static struct rule rules[MAX_RULES];
static size_t nrules;

static bool
model_match(const char *host)
{
	size_t hl = strlen(host), i;

	for (i = 0; i < nrules; i++) {
		size_t nl = strlen(rules[i].name);

		if (rules[i].self && strcmp(host, rules[i].name) == 0)
			return true;
		if (rules[i].subs && hl > nl + 1 &&
		    strcmp(host + hl - nl, rules[i].name) == 0 &&
		    host[hl - nl - 1] == '.')
			return true;
	}
	return false;
}

/* Compare with the model, for `s` if it canonicalises to a name. */
static void
probe(const struct patterns *p, const char *s, size_t len)
{
	struct host h;
	char err[128];

	if (host_canon(s, len, &h, err, sizeof(err)) == -1 ||
	    h.h_kind != HOST_NAME)
		return;
	FUZZ_CHECK("pattern-match",
	    patterns_match(p, h.h_name) == model_match(h.h_name),
	    "patterns_match('%s') = %d, model says %d", h.h_name,
	    patterns_match(p, h.h_name), model_match(h.h_name));
}

static void
probe_around(const struct patterns *p, const char *name)
{
	char buf[2 * HOST_NAME_MAX_LEN];
	const char *dot;
	int n;

	probe(p, name, strlen(name));
	n = snprintf(buf, sizeof(buf), "a.%s", name);
	probe(p, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "a.b.%s", name);
	probe(p, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "x%s", name);
	probe(p, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "x-%s", name);
	probe(p, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "%s.evil", name);
	probe(p, buf, (size_t)n);
	if (name[0] != '\0')
		probe(p, name + 1, strlen(name + 1));
	for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		probe(p, dot + 1, strlen(dot + 1));
}

/* Record an accepted pattern in the model; it must be a valid one. */
static void
model_add(const char *s, size_t len)
{
	struct rule r;
	struct host h;
	char err[128];
	size_t i;

	memset(&r, 0, sizeof(r));
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		r.subs = true;
		s += 2;
		len -= 2;
	} else if (len > 1 && s[0] == '.') {
		r.self = r.subs = true;
		s++;
		len--;
	} else
		r.self = true;
	FUZZ_CHECK("pattern-valid",
	    memchr(s, '*', len) == NULL && memchr(s, ':', len) == NULL &&
	        memchr(s, '/', len) == NULL,
	    "accepted '%s'", fuzz_show(s, len));
	FUZZ_CHECK("pattern-valid",
	    host_canon(s, len, &h, err, sizeof(err)) == 0 &&
	        h.h_kind == HOST_NAME,
	    "accepted '%s', which is not a host name", fuzz_show(s, len));
	FUZZ_CHECK("pattern-valid", !r.subs || strchr(h.h_name, '.') != NULL,
	    "accepted a wildcard over the TLD '%s'", h.h_name);
	for (i = 0; i < len; i++)
		FUZZ_CHECK("pattern-valid",
		    (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f,
		    "accepted byte 0x%02x", (unsigned char)s[i]);
	memcpy(r.name, h.h_name, sizeof(r.name));
	if (nrules < MAX_RULES)
		rules[nrules++] = r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct patterns pats;
	size_t i, count = 0;

	if (size > 4096)
		return 0;
	patterns_init(&pats);
	nrules = 0;
	for (; p < end && nrules < MAX_RULES; p = nl + 1) {
		char err[512], *line;
		size_t len;
		int r;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if ((line = malloc(len ? len : 1)) == NULL)
			break;
		memcpy(line, p, len);
		err[0] = '\0';
		r = patterns_add(&pats, line, len, err, sizeof(err));
		FUZZ_CHECK("pattern-ret", r == 0 || r == -1, "returned %d", r);
		if (r == 0) {
			model_add(line, len);
			count++;
		} else if (memchr(line, '=', len) != NULL ||
		    memchr(line, '$', len) != NULL ||
		    memchr(line, ' ', len) != NULL ||
		    memchr(line, '\t', len) != NULL)
			/* Perhaps a secret of a file named by mistake
			 * (KEY=VALUE, a hash, "NAME secret"): the message
			 * must not repeat it. */
			FUZZ_CHECK("pattern-err",
			    strncmp(err, "invalid pattern (not shown: ", 28) == 0,
			    "message '%s'", err);
		else
			FUZZ_CHECK("pattern-err",
			    strncmp(err, "invalid pattern '", 17) == 0,
			    "message '%s'", err);
		FUZZ_CHECK("pattern-count", pats.p_count == count,
		    "p_count %zu, accepted %zu", pats.p_count, count);
		free(line);
	}
	for (i = 0; i < nrules; i++)
		probe_around(&pats, rules[i].name);
	for (p = (const char *)data; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		/* Also as a host, minus a leading "*." or ".". */
		probe(&pats, p, (size_t)(nl - p));
		if (nl - p > 2 && p[0] == '*' && p[1] == '.')
			probe(&pats, p + 2, (size_t)(nl - p - 2));
		else if (nl - p > 1 && p[0] == '.')
			probe(&pats, p + 1, (size_t)(nl - p - 1));
	}
	patterns_free(&pats);
	return 0;
}
