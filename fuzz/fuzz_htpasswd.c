/* SPDX-License-Identifier: MIT */
/* Fuzzes htpasswd_parse_line over the lines of the input, all into one
 * database. A refused line's message must never quote its hash (the bytes
 * after the first ':'), since a typo'd file may hold a plaintext password;
 * an accepted line must be findable under its user name with its hash. */
#include "fuzz.h"
#include "htpasswd.h"

/* Fixed text the parser's messages are built from, after the quoted user
 * name: a hash that happens to spell part of it ("password") is not a leak.
 * Whole tails, so that a window across "': " and the kind is explained too. */
static const char *const kinds[] = {
    "Apache MD5 ($apr1$)",
    "MD5-crypt ($1$)",
    "unsalted SHA-1 ({SHA})",
    "DES crypt (or a plaintext password)",
    "plaintext",
    "unknown",
};
static const char *const fixed_text[] = {
    "expected 'user:hash' (create entries with htpasswd -B)",
    "empty user name",
    "user name contains a space or control character",
    "empty password hash",
    "NUL byte in the line",
    "out of memory",
    ("': malformed or unsupported password hash; recreate it with htpasswd -B"),
};

static bool
in_fixed_text(const char *s, size_t len)
{
	char tail[200];
	size_t i;

	for (i = 0; i < sizeof(fixed_text) / sizeof(fixed_text[0]); i++)
		if (memmem(fixed_text[i], strlen(fixed_text[i]), s, len) !=
		    NULL)
			return true;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(tail, sizeof(tail),
		    "': %s password hashes are not "
		    "accepted; use bcrypt (htpasswd -B)",
		    kinds[i]);
		if (memmem(tail, strlen(tail), s, len) != NULL)
			return true;
	}
	return false;
}

/* No 8-byte window of the hash appears in `err` outside the quoted user
 * name (messages may quote up to 64 bytes of it) unless the fixed text
 * explains it. This covers the whole hash as well as pieces of it. */
static void
check_no_hash(const char *err, const char *name, size_t nlen, const char *hash,
    size_t hlen, const char *line, size_t len)
{
	size_t i, q = nlen > 64 ? 64 : nlen;
	const char *rest = err;

	if (hlen < 8)
		return;
	if (strncmp(err, "user '", 6) == 0 && strlen(err) >= 6 + q &&
	    memcmp(err + 6, name, q) == 0)
		rest = err + 6 + q;
	for (i = 0; i + 8 <= hlen; i++) {
		const char *w = hash + i;

		if (memmem(rest, strlen(rest), w, 8) == NULL ||
		    in_fixed_text(w, 8))
			continue;
		FUZZ_CHECK("htpasswd-leak", false,
		    "message quotes hash bytes '%s': line '%s', message '%s'",
		    fuzz_show(w, 8), fuzz_show(line, len), err);
	}
}

static void
parse_line(struct userdb *db, const char *line, size_t len)
{
	char err[256];
	const char *colon, *hash;
	size_t nlen, hlen, tlen = len, count = db->d_count;
	const struct user_entry *e;
	int r;

	memset(err, 0, sizeof(err));
	r = htpasswd_parse_line(db, line, len, err, sizeof(err));
	FUZZ_CHECK("htpasswd-ret", r == 0 || r == -1, "returned %d", r);
	while (tlen > 0 &&
	    (line[tlen - 1] == '\r' || line[tlen - 1] == ' ' ||
	        line[tlen - 1] == '\t'))
		tlen--;
	colon = memchr(line, ':', tlen);
	nlen = colon ? (size_t)(colon - line) : tlen;
	hash = colon ? colon + 1 : line + tlen;
	hlen = colon ? tlen - nlen - 1 : 0;
	if (r == -1) {
		FUZZ_CHECK("htpasswd-err", err[0] != '\0', "no reason for '%s'",
		    fuzz_show(line, len));
		FUZZ_CHECK("htpasswd-db", db->d_count == count,
		    "refused line '%s' changed the database",
		    fuzz_show(line, len));
		check_no_hash(err, line, nlen, hash, hlen, line, len);
		return;
	}
	if (tlen == 0 || line[0] == '#') {
		FUZZ_CHECK("htpasswd-db", db->d_count == count,
		    "comment '%s' changed the database", fuzz_show(line, len));
		return;
	}
	FUZZ_CHECK("htpasswd-db",
	    db->d_count == count + 1 && colon != NULL && nlen > 0 && hlen > 0,
	    "accepted '%s' oddly", fuzz_show(line, len));
	for (size_t i = 0; i < nlen; i++)
		FUZZ_CHECK("htpasswd-name",
		    (unsigned char)line[i] > ' ' && line[i] != 0x7f,
		    "user name with a space/control: '%s'",
		    fuzz_show(line, len));
	FUZZ_CHECK("htpasswd-hash", hash[0] == '$',
	    "accepted a hash not in crypt $id$ form: '%s'",
	    fuzz_show(line, len));
	/* The new entry is on the user's chain, hash intact. */
	for (e = userdb_find(db, line, nlen); e != NULL;
	     e = e->u_next ? &db->d_entries[e->u_next] : NULL)
		if (e == &db->d_entries[db->d_count])
			break;
	FUZZ_CHECK("htpasswd-find", e != NULL, "entry for '%s' not found",
	    fuzz_show(line, nlen));
	FUZZ_CHECK("htpasswd-find",
	    strlen(e->u_name) == nlen && memcmp(e->u_name, line, nlen) == 0,
	    "name mangled");
	/* strndup stops at a NUL; config_each_line refuses such lines. */
	hlen = strnlen(hash, hlen);
	FUZZ_CHECK("htpasswd-find",
	    strlen(e->u_hash) == hlen && memcmp(e->u_hash, hash, hlen) == 0,
	    "hash mangled for '%s'", fuzz_show(line, len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct userdb db;
	size_t users = 0;

	if (size > 8192)
		return 0;
	userdb_init(&db);
	for (; p < end; p = nl + 1) {
		size_t len;
		char *line;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		len = (size_t)(nl - p);
		/* Exactly-sized copy: over-reads become ASan reports. */
		if ((line = malloc(len ? len : 1)) == NULL)
			break;
		memcpy(line, p, len);
		parse_line(&db, line, len);
		free(line);
	}
	/* d_users counts distinct names. */
	for (size_t i = 1; i <= db.d_count; i++)
		if (userdb_find(&db, db.d_entries[i].u_name,
		        strlen(db.d_entries[i].u_name)) == &db.d_entries[i])
			users++;
	FUZZ_CHECK("htpasswd-users", users == db.d_users,
	    "d_users %zu, distinct names %zu", db.d_users, users);
	userdb_free(&db);
	return 0;
}
