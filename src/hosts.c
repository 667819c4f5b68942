/* SPDX-License-Identifier: MIT */
/* hosts_file parsing and lookup. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "hosts.h"

void
hosts_init(struct hostsdb *db)
{
	strmap_init(&db->hd_map);
	db->hd_addrs = NULL;
	db->hd_count = 0;
}

void
hosts_free(struct hostsdb *db)
{
	strmap_free(&db->hd_map);
	free(db->hd_addrs);
	db->hd_addrs = NULL;
	db->hd_count = 0;
}

/* Could `w` be an address or a host name someone mistyped? Only then is it
 * repeated in a message: anything else may be a secret of a file named by
 * mistake (KEY=VALUE, a crypt hash, a token). */
static bool
hosts_quotable(const char *w, size_t wlen)
{
	bool dot = false;
	size_t i;

	if (wlen == 0 || wlen > 64)
		return false;
	for (i = 0; i < wlen; i++) {
		char c = w[i];

		if (c == '.' || c == ':')
			dot = true;
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-' || c == '[' ||
		    c == ']' || c == '%'))
			return false;
	}
	return dot;
}

static int
hosts_fail(char *err, size_t errlen, const char *msg, const char *w,
    size_t wlen)
{
	/* Repeated only when it could be an address or a name someone
	 * mistyped: anything else may be a secret of a file named by mistake
	 * (KEY=VALUE, a crypt hash, a token). */
	if (errlen > 0 && !hosts_quotable(w, wlen))
		snprintf(err, errlen, "%s (not shown: it is no address or host "
		    "name; is this the right file?)", msg);
	else if (errlen > 0)
		snprintf(err, errlen, "%s: '%.*s'", msg,
		    (int)(wlen > 100 ? 100 : wlen), w);
	return -1;
}

static bool
hosts_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next blank-separated word of [*p, end) in *w and *wlen, moving *p past
 * it; *wlen is 0 when only blanks are left. */
static void
hosts_word(const char **p, const char *end, const char **w, size_t *wlen)
{
	while (*p < end && hosts_space(**p))
		(*p)++;
	for (*w = *p; *p < end && !hosts_space(**p); (*p)++)
		;
	*wlen = (size_t)(*p - *w);
}

/* The line's address, `w` of `wlen` bytes, into *a; `tmp` keeps its text
 * for a later message. Returns 0, or -1 with a message. */
static int
hosts_parse_addr(const char *w, size_t wlen, struct hosts_addr *a,
    char *tmp, size_t tmplen, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (wlen >= tmplen)
		return hosts_fail(err, errlen, "invalid address", w, wlen);
	memcpy(tmp, w, wlen);
	tmp[wlen] = '\0';
	if (inet_pton(AF_INET, tmp, a->ha_bytes) == 1)
		a->ha_family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, a->ha_bytes) == 1)
		a->ha_family = AF_INET6;
	else
		return hosts_fail(err, errlen, "invalid address", w, wlen);
	return 0;
}

/* Give the name `w` (`wlen` bytes) the address `a`, after the addresses it
 * already has: a name on several lines resolves to all of them, in file
 * order. Returns 0, or -1 with a message. */
static int
hosts_add_name(struct hostsdb *db, const char *w, size_t wlen,
    const struct hosts_addr *a, char *err, size_t errlen)
{
	struct hosts_addr *addrs;
	struct host h;
	char herr[128];
	uintptr_t *first;
	bool created;

	if (host_canon(w, wlen, &h, herr, sizeof(herr)) == -1)
		return hosts_fail(err, errlen, herr, w, wlen);
	if (h.h_kind != HOST_NAME)
		return hosts_fail(err, errlen, "expected a host name", w, wlen);
	addrs = realloc(db->hd_addrs, (db->hd_count + 2) * sizeof(*addrs));
	if (addrs == NULL)
		return hosts_fail(err, errlen, "out of memory", w, wlen);
	db->hd_addrs = addrs;
	first = strmap_put(&db->hd_map, h.h_name, strlen(h.h_name), &created);
	if (first == NULL)
		return hosts_fail(err, errlen, "out of memory", w, wlen);
	addrs[++db->hd_count] = *a;
	if (created)
		*first = db->hd_count;
	else {
		size_t j = *first;

		while (addrs[j].ha_next != 0)
			j = addrs[j].ha_next;
		addrs[j].ha_next = db->hd_count;
	}
	return 0;
}

int
hosts_parse_line(struct hostsdb *db, const char *line, size_t len,
    char *err, size_t errlen)
{
	const char *hash = memchr(line, '#', len), *p, *end, *w;
	struct hosts_addr a;
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t wlen, nnames = 0;

	if (hash != NULL)
		len = (size_t)(hash - line);
	end = line + len;
	p = line;
	hosts_word(&p, end, &w, &wlen);
	if (wlen == 0)
		return 0;
	if (hosts_parse_addr(w, wlen, &a, tmp, sizeof(tmp), err, errlen) == -1)
		return -1;
	for (;;) {
		hosts_word(&p, end, &w, &wlen);
		if (wlen == 0)
			break;
		if (hosts_add_name(db, w, wlen, &a, err, errlen) == -1)
			return -1;
		nnames++;
	}
	if (nnames == 0)
		return hosts_fail(err, errlen, "address without a name", tmp,
		    strlen(tmp));
	return 0;
}

size_t
hosts_lookup(const struct hostsdb *db, const char *name, uint16_t port,
    struct sockaddr_storage *out, size_t max)
{
	const uintptr_t *v = strmap_get(&db->hd_map, name, strlen(name));
	size_t n = 0, j;

	for (j = v ? *v : 0; j != 0 && n < max; j = db->hd_addrs[j].ha_next) {
		const struct hosts_addr *a = &db->hd_addrs[j];

		memset(&out[n], 0, sizeof(out[n]));
		if (a->ha_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&out[n];

			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			memcpy(&sin->sin_addr, a->ha_bytes, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n];

			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			memcpy(&s6->sin6_addr, a->ha_bytes, 16);
		}
		n++;
	}
	return n;
}
