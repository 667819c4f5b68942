/* SPDX-License-Identifier: MIT */
/* Fuzzes hosts_parse_line and hosts_lookup against a model. Each input line
 * is one hosts-file line; the model records, in order, every (name, address)
 * the line adds. A refused line may already have added the names before the
 * one that failed (hosts.c adds as it goes; config_load then rejects the
 * whole configuration), and the model does the same. Every name must then
 * look up to exactly its addresses, in file order, with the port asked for. */
#include <arpa/inet.h>

#include "fuzz.h"
#include "host.h"
#include "hosts.h"

/* Inputs are at most 4096 bytes, so at most 2048 names. */
#define MAX_ENTRIES 2048

struct entry {
	char name[HOST_NAME_MAX_LEN + 1];
	int family;
	uint8_t bytes[16];
};

static struct entry model[MAX_ENTRIES];
static size_t nmodel;

static bool
space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Replay the line's effect on the model. Returns the expected result. */
static int
model_line(const char *line, size_t len)
{
	const char *hash = memchr(line, '#', len), *p, *end, *w;
	char tmp[INET6_ADDRSTRLEN + 1];
	uint8_t bytes[16];
	int family;
	size_t wlen, names = 0;

	if (hash != NULL)
		len = (size_t)(hash - line);
	end = line + len;
	for (p = line; p < end && space(*p); p++)
		;
	if (p == end)
		return 0;
	for (w = p; p < end && !space(*p); p++)
		;
	wlen = (size_t)(p - w);
	if (wlen >= sizeof(tmp))
		return -1;
	memcpy(tmp, w, wlen);
	tmp[wlen] = '\0';
	memset(bytes, 0, sizeof(bytes));
	if (inet_pton(AF_INET, tmp, bytes) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, bytes) == 1)
		family = AF_INET6;
	else
		return -1;
	for (;;) {
		struct host h;
		char err[128];

		while (p < end && space(*p))
			p++;
		if (p == end)
			break;
		for (w = p; p < end && !space(*p); p++)
			;
		if (host_canon(w, (size_t)(p - w), &h, err, sizeof(err)) ==
		        -1 ||
		    h.h_kind != HOST_NAME)
			return -1;
		FUZZ_CHECK("hosts-model", nmodel < MAX_ENTRIES, "overflow");
		memcpy(model[nmodel].name, h.h_name, sizeof(h.h_name));
		model[nmodel].family = family;
		memcpy(model[nmodel].bytes, bytes, 16);
		nmodel++;
		names++;
	}
	return names > 0 ? 0 : -1;
}

static void
check_lookup(const struct hostsdb *db, const char *name, uint16_t port)
{
	static struct sockaddr_storage out[MAX_ENTRIES + 1];
	size_t n, want = 0, i, max;

	for (i = 0; i < nmodel; i++)
		if (strcmp(model[i].name, name) == 0)
			want++;
	/* Ask for one fewer than there are, too: `max` is respected. */
	max = want > 1 ? want - 1 : want + 1;
	memset(out, 0xa5, (max + 1) * sizeof(out[0]));
	n = hosts_lookup(db, name, port, out, max);
	FUZZ_CHECK("hosts-count", n == (want < max ? want : max),
	    "lookup('%s', max %zu) gave %zu, model has %zu", name, max, n,
	    want);
	FUZZ_CHECK("hosts-count", out[n].ss_family == 0xa5a5,
	    "lookup('%s') wrote past its %zu results", name, n);
	n = hosts_lookup(db, name, port, out, MAX_ENTRIES + 1);
	FUZZ_CHECK("hosts-count", n == want,
	    "lookup('%s') gave %zu, model has %zu", name, n, want);
	for (i = 0, n = 0; i < nmodel; i++) {
		const struct sockaddr_storage *ss = &out[n];

		if (strcmp(model[i].name, name) != 0)
			continue;
		FUZZ_CHECK("hosts-addr", ss->ss_family == model[i].family,
		    "'%s' result %zu has family %d, want %d", name, n,
		    (int)ss->ss_family, model[i].family);
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)ss;

			FUZZ_CHECK("hosts-addr",
			    ntohs(s4->sin_port) == port &&
			        memcmp(&s4->sin_addr, model[i].bytes, 4) == 0,
			    "'%s' result %zu: wrong IPv4 address or port", name,
			    n);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)ss;

			FUZZ_CHECK("hosts-addr",
			    ntohs(s6->sin6_port) == port &&
			        memcmp(&s6->sin6_addr, model[i].bytes, 16) == 0,
			    "'%s' result %zu: wrong IPv6 address or port", name,
			    n);
		}
		n++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct hostsdb db;
	size_t i;
	char look[HOST_NAME_MAX_LEN + 2];
	uint16_t port = (uint16_t)(size * 31 + 1);

	if (size > 4096)
		return 0;
	hosts_init(&db);
	nmodel = 0;
	for (; p < end; p = nl + 1) {
		char err[256], *line;
		size_t len;
		int r, want;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if ((line = malloc(len ? len : 1)) == NULL)
			break;
		memcpy(line, p, len);
		err[0] = '\0';
		want = model_line(line, len);
		r = hosts_parse_line(&db, line, len, err, sizeof(err));
		FUZZ_CHECK("hosts-ret", r == want,
		    "'%s' returned %d, model says %d (%s)",
		    fuzz_show(line, len), r, want, err);
		if (r == -1)
			FUZZ_CHECK("hosts-err", err[0] != '\0', "no reason");
		free(line);
	}
	for (i = 0; i < nmodel; i++) {
		size_t j;

		for (j = 0; j < i && strcmp(model[j].name, model[i].name); j++)
			;
		if (j < i)
			continue; /* checked already */
		check_lookup(&db, model[i].name, port);
		/* A look-alike is not in the table unless the model says. */
		snprintf(look, sizeof(look), "x%s", model[i].name);
		check_lookup(&db, look, port);
	}
	check_lookup(&db, "", port);
	hosts_free(&db);
	return 0;
}
