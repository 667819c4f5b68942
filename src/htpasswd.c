/* SPDX-License-Identifier: MIT */
/* htpasswd parsing. Formats are recognised by prefix, their shape is checked
 * (crypt_checksalt() only looks at the setting, not at the hash after it), and
 * libxcrypt confirms the method is enabled, so a truncated or mangled hash is
 * a load-time error rather than a user who can never log in. */
#include <crypt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htpasswd.h"

void
userdb_init(struct userdb *db)
{
	strmap_init(&db->d_map);
	db->d_entries = NULL;
	db->d_count = 0;
	db->d_users = 0;
}

void
userdb_free(struct userdb *db)
{
	size_t i;

	for (i = 1; db->d_entries != NULL && i <= db->d_count; i++) {
		struct user_entry *e = &db->d_entries[i];

		free(e->u_name);
		if (e->u_hash != NULL)
			explicit_bzero(e->u_hash, strlen(e->u_hash));
		free(e->u_hash);
	}
	free(db->d_entries);
	db->d_entries = NULL;
	strmap_free(&db->d_map);
	db->d_count = db->d_users = 0;
}

static int
htpasswd_fail(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

/* Names the format of a hash we refuse, for a helpful message. */
static const char *
htpasswd_refused_kind(const char *h, size_t len)
{
	if (len >= 6 && memcmp(h, "$apr1$", 6) == 0)
		return "Apache MD5 ($apr1$)";
	if (len >= 3 && memcmp(h, "$1$", 3) == 0)
		return "MD5-crypt ($1$)";
	if (len >= 5 && memcmp(h, "{SHA}", 5) == 0)
		return "unsalted SHA-1 ({SHA})";
	if (len == 13 && h[0] != '$')
		return "DES crypt (or a plaintext password)";
	if (h[0] != '$')
		return "plaintext";
	return "unknown";
}

static bool
htpasswd_b64ish(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '/'))
			return false;
	return true;
}

/* True when `h` has the full shape of its kind: bcrypt is exactly
 * "$2y$NN$" + 53 characters with a cost of 04-31; SHA-crypt and yescrypt end
 * in a "$"-separated digest of 43 (SHA-256, yescrypt) or 86 (SHA-512)
 * characters. */
static bool
htpasswd_shape_ok(const char *h, size_t len)
{
	const char *last;
	size_t want;

	if (h[1] == '2') {
		int cost;

		if (len != 60 || h[6] != '$' || h[4] < '0' || h[4] > '3' ||
		    h[5] < '0' || h[5] > '9')
			return false;
		cost = (h[4] - '0') * 10 + (h[5] - '0');
		return cost >= 4 && cost <= 31 && htpasswd_b64ish(h + 7, 53);
	}
	want = h[1] == '6' ? 86 : 43;
	last = memrchr(h, '$', len);
	if (last == NULL || last - h < 4)
		return false;
	return len - (size_t)(last + 1 - h) == want &&
	    htpasswd_b64ish(last + 1, want);
}

/* Check the "user:hash" split of a trimmed line: a user name without
 * spaces or control characters, a hash in a format we accept. Returns 0, or
 * -1 with a message that names the user but never repeats the hash. */
static int
htpasswd_check_fields(const char *line, size_t nlen, const char *hash,
    size_t hlen, char *err, size_t errlen)
{
	static const char *const ok_prefix[] = {
		"$2y$", "$2b$", "$2a$", "$5$", "$6$", "$y$",
	};
	bool known = false;
	char msg[160];
	size_t i;

	if (nlen == 0)
		return htpasswd_fail(err, errlen, "empty user name");
	for (i = 0; i < nlen; i++)
		if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f)
			return htpasswd_fail(err, errlen,
			    "user name contains a space or control character");
	if (hlen == 0)
		return htpasswd_fail(err, errlen, "empty password hash");
	for (i = 0; i < sizeof(ok_prefix) / sizeof(ok_prefix[0]); i++)
		if (hlen > strlen(ok_prefix[i]) &&
		    memcmp(hash, ok_prefix[i], strlen(ok_prefix[i])) == 0)
			known = true;
	if (!known) {
		snprintf(msg, sizeof(msg),
		    "user '%.*s': %s password hashes are not accepted; "
		    "use bcrypt (htpasswd -B)", (int)(nlen > 64 ? 64 : nlen),
		    line, htpasswd_refused_kind(hash, hlen));
		return htpasswd_fail(err, errlen, msg);
	}
	return 0;
}

/* Add the entry `name` -> `hcopy` (both taken over: freed by
 * userdb_free), chained after the user's earlier entries so that a user
 * listed twice keeps both passwords. Returns 0, or -1 when out of memory,
 * with nothing taken. */
static int
htpasswd_add(struct userdb *db, const char *name, size_t nlen, char *ncopy,
    char *hcopy)
{
	struct user_entry *ents, *e;
	uintptr_t *first;
	bool created;

	ents = realloc(db->d_entries, (db->d_count + 2) * sizeof(*ents));
	if (ents == NULL)
		return -1;
	db->d_entries = ents;
	if ((first = strmap_put(&db->d_map, name, nlen, &created)) == NULL)
		return -1;
	e = &ents[++db->d_count];
	e->u_name = ncopy;
	e->u_hash = hcopy;
	e->u_next = 0;
	if (created) {
		*first = db->d_count;
		db->d_users++;
	} else {
		size_t j = *first;

		while (ents[j].u_next != 0)
			j = ents[j].u_next;
		ents[j].u_next = db->d_count;
	}
	return 0;
}

int
htpasswd_parse_line(struct userdb *db, const char *line, size_t len,
    char *err, size_t errlen)
{
	const char *colon, *hash;
	char *hcopy = NULL, *ncopy = NULL;
	size_t nlen, hlen;
	char msg[160];

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		len--;
	if (len == 0 || line[0] == '#')
		return 0;
	if (memchr(line, '\0', len) != NULL)
		return htpasswd_fail(err, errlen, "NUL byte in the line");
	if ((colon = memchr(line, ':', len)) == NULL)
		return htpasswd_fail(err, errlen,
		    "expected 'user:hash' (create entries with htpasswd -B)");
	nlen = (size_t)(colon - line);
	hash = colon + 1;
	hlen = len - nlen - 1;
	if (htpasswd_check_fields(line, nlen, hash, hlen, err, errlen) == -1)
		return -1;
	if ((hcopy = strndup(hash, hlen)) == NULL)
		return htpasswd_fail(err, errlen, "out of memory");
	/* libxcrypt calls SHA-crypt "legacy" but still verifies it. */
	if (!htpasswd_shape_ok(hcopy, hlen) ||
	    (crypt_checksalt(hcopy) != CRYPT_SALT_OK &&
	    crypt_checksalt(hcopy) != CRYPT_SALT_METHOD_LEGACY)) {
		snprintf(msg, sizeof(msg),
		    "user '%.*s': malformed or unsupported password hash; "
		    "recreate it with htpasswd -B", (int)(nlen > 64 ? 64 : nlen),
		    line);
		explicit_bzero(hcopy, hlen);
		free(hcopy);
		return htpasswd_fail(err, errlen, msg);
	}
	if ((ncopy = strndup(line, nlen)) == NULL ||
	    htpasswd_add(db, line, nlen, ncopy, hcopy) == -1)
		goto oom;
	return 0;
oom:
	free(ncopy);
	explicit_bzero(hcopy, hlen);
	free(hcopy);
	return htpasswd_fail(err, errlen, "out of memory");
}

const struct user_entry *
userdb_find(const struct userdb *db, const char *name, size_t len)
{
	const uintptr_t *v = strmap_get(&db->d_map, name, len);

	return v != NULL ? &db->d_entries[*v] : NULL;
}

bool
userdb_same_user(const struct userdb *a, const struct userdb *b,
    const char *name)
{
	const struct user_entry *x = userdb_find(a, name, strlen(name));
	const struct user_entry *y = userdb_find(b, name, strlen(name));

	if (x == NULL || y == NULL)
		return false;
	for (;;) {
		if (strcmp(x->u_hash, y->u_hash) != 0)
			return false;
		if (x->u_next == 0 || y->u_next == 0)
			return x->u_next == y->u_next;
		x = &a->d_entries[x->u_next];
		y = &b->d_entries[y->u_next];
	}
}
