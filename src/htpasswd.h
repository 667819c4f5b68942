/* SPDX-License-Identifier: MIT */
/* The user database: htpasswd lines parsed and checked for a hash format that
 * is safe and that libxcrypt verifies (bcrypt, SHA-crypt, yescrypt). A user
 * may appear on several lines (one hash each) so that a password can be
 * rotated with an overlap. Parsing does no I/O. */
#ifndef SLUICE_HTPASSWD_H
#define SLUICE_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "strmap.h"

struct user_entry {
	char		*u_name;
	char		*u_hash;
	size_t		 u_next;	/* next entry of the same user, or 0 */
};

struct userdb {
	struct strmap		 d_map;		/* name -> index + 1 of first */
	struct user_entry	*d_entries;	/* index 0 unused */
	size_t			 d_count;	/* entries in use, excl. 0 */
	size_t			 d_users;	/* distinct names */
};

/* Initialise an empty database. */
void userdb_init(struct userdb *db);

/* Release everything, wiping the hashes. */
void userdb_free(struct userdb *db);

/* Parse one htpasswd line (`len` bytes, no newline). Blank lines and lines
 * starting with '#' are accepted and ignored. Returns 0, or -1 with a reason
 * in `err` that never contains the hash. */
int htpasswd_parse_line(struct userdb *db, const char *line, size_t len,
    char *err, size_t errlen);

/* First entry for `name`, or NULL. Follow u_next (an index into d_entries)
 * for further hashes of the same user. Borrowed pointer. */
const struct user_entry *userdb_find(const struct userdb *db,
    const char *name, size_t len);

/* Does `name` have the same hashes, in the same order, in `a` and `b`?
 * False when either lacks it: a password changed or a user removed. */
bool userdb_same_user(const struct userdb *a, const struct userdb *b,
    const char *name);

#endif
