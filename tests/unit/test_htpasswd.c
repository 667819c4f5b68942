/* SPDX-License-Identifier: MIT */
/* Unit tests for htpasswd.c: every accepted hash kind (fixed known-good
 * hashes and hashes made by libxcrypt at test time), every refused kind with
 * a message that names it, suggests `htpasswd -B` and never echoes the hash,
 * malformed hashes, comments, and users with several hashes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include "htpasswd.h"
#include "unit.h"

/* Parse "agent:HASH" into a fresh database; 0 when the stored hash of
 * "agent" is exactly `hash`. Reports the reason on failure. */
static int
accept_line(const char *what, const char *line, const char *hash)
{
	struct userdb db;
	const struct user_entry *e;
	char err[300] = "";
	int r = -1;

	userdb_init(&db);
	if (htpasswd_parse_line(&db, line, strlen(line), err, sizeof(err))
	    == -1)
		print_error("%s: \"%s\" refused: %s\n", what,
		    show(line, strlen(line)), err);
	else if ((e = userdb_find(&db, "agent", 5)) == NULL)
		print_error("%s: \"%s\" accepted but user not found\n", what,
		    show(line, strlen(line)));
	else if (strcmp(e->u_hash, hash) != 0 || e->u_next != 0 ||
	    db.d_users != 1 || db.d_count != 1)
		print_error("%s: \"%s\" stored hash \"%s\", expected \"%s\"\n",
		    what, show(line, strlen(line)), e->u_hash, hash);
	else
		r = 0;
	userdb_free(&db);
	return r;
}

struct fixed_case {
	const char	*kind;
	const char	*password;
	const char	*hash;
};

static const struct fixed_case fixed_cases[] = {
	/* `htpasswd -nbB -C 5 agent secret` (Apache writes $2y$) */
	{ "bcrypt $2y$", "secret",
	    "$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu" },
	{ "bcrypt $2b$", "secret",
	    "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a" },
	/* the classic crypt_blowfish test vector */
	{ "bcrypt $2a$", "U*U",
	    "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" },
	/* Drepper's SHA-crypt specification vectors */
	{ "SHA-256-crypt $5$", "Hello world!",
	    "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5" },
	{ "SHA-512-crypt $6$", "Hello world!",
	    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQ"
	    "JuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
	/* `htpasswd -nb -2 agent secret` and `-5` */
	{ "SHA-256-crypt $5$ (htpasswd -2)", "secret",
	    "$5$FbAU.HJw1/iyFtR/$sMaPxrnOtEchsHG0aJiLXe8scre.LFkCPlLpkPvyAA3" },
	{ "SHA-512-crypt $6$ (htpasswd -5)", "secret",
	    "$6$QK8GDYk7Rt1XBeRM$zBlYz5GleJUgGBk0kCTUrv.IzAvxL6ThOhr4UCHDkQJhMd"
	    "wXeXV7vyUfhWNT9YIzotxRQgdTQBQWLzMLEF3Nl0" },
	{ "yescrypt $y$", "secret",
	    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43Yx"
	    "YNURLKy0" },
};

static void
test_htpasswd_fixed_hashes(void **state)
{
	size_t i, n = sizeof(fixed_cases) / sizeof(fixed_cases[0]);
	struct crypt_data cd;
	char line[300], what[100];
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct fixed_case *t = &fixed_cases[i];
		const char *h;

		/* The test data must be genuine, or the row proves nothing. */
		memset(&cd, 0, sizeof(cd));
		h = crypt_rn(t->password, t->hash, &cd, sizeof(cd));
		if (h == NULL || strcmp(h, t->hash) != 0) {
			print_error("row %zu (%s): test hash does not verify\n",
			    i, t->kind);
			bad++;
			continue;
		}
		snprintf(what, sizeof(what), "row %zu (%s)", i, t->kind);
		snprintf(line, sizeof(line), "agent:%s", t->hash);
		if (accept_line(what, line, t->hash) == -1)
			bad++;
		/* A CRLF file and trailing blanks are the same entry. */
		snprintf(line, sizeof(line), "agent:%s \t\r", t->hash);
		if (accept_line(what, line, t->hash) == -1)
			bad++;
	}
	if (bad > 0)
		fail_msg("%d fixed-hash cases failed", bad);
}

struct gen_case {
	const char	*prefix;
	unsigned long	 count;	/* 0: libxcrypt's default cost */
};

static const struct gen_case gen_cases[] = {
	{ "$2b$", 4 },
	{ "$2y$", 4 },
	{ "$2a$", 4 },
	{ "$5$", 0 },
	{ "$6$", 0 },
	{ "$y$", 0 },
};

/* Hashes made now by libxcrypt, as `htpasswd` or `mkpasswd` would. */
static void
test_htpasswd_generated_hashes(void **state)
{
	size_t i, n = sizeof(gen_cases) / sizeof(gen_cases[0]);
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], line[300], what[100];
	struct crypt_data cd;
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct gen_case *t = &gen_cases[i];
		const char *h;

		memset(&cd, 0, sizeof(cd));
		if (crypt_gensalt_rn(t->prefix, t->count, NULL, 0, salt,
		    sizeof(salt)) == NULL ||
		    (h = crypt_rn("s3cret pass", salt, &cd, sizeof(cd))) == NULL ||
		    h[0] == '*') {
			print_error("row %zu: libxcrypt cannot make a %s hash\n",
			    i, t->prefix);
			bad++;
			continue;
		}
		snprintf(what, sizeof(what), "row %zu (generated %s)", i,
		    t->prefix);
		snprintf(line, sizeof(line), "agent:%s", h);
		if (accept_line(what, line, h) == -1)
			bad++;
	}
	if (bad > 0)
		fail_msg("%d generated-hash cases failed", bad);
}

struct refuse_case {
	const char	*line;
	const char	*kind;		/* the message must name it */
	const char	*secret;	/* the message must not contain it */
};

static const struct refuse_case refuse_cases[] = {
	/* Refused kinds: named, with the fix. */
	{ "agent:secret", "plaintext", "secret" },
	{ "agent:correct-horse-battery", "plaintext", "correct-horse" },
	{ "agent:$apr1$eID1y6S8$vBK7RBiwCbBu29qmjPaJg1", "$apr1$",
	    "vBK7RBiwCbBu29qmjPaJg1" },
	{ "agent:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "{SHA}",
	    "5en6G6MezRroT3XKqkdPOmY/BfQ=" },
	{ "agent:AmeCed6yU1nOk", "DES", "AmeCed6yU1nOk" },
	{ "agent:$1$yUK5M3iw$p2rewJ0Kv20./68G9c.tb.", "$1$",
	    "p2rewJ0Kv20./68G9c.tb." },
	{ "agent:$3$$8846f7eaee8fb117ad06bdd830b7586c", "unknown",
	    "8846f7eaee8fb117ad06bdd830b7586c" },
	{ "agent:$md5$rounds=904$Vzh6EwaxzMUSfdCu$", "unknown",
	    "Vzh6EwaxzMUSfdCu" },
	{ "agent:$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	    "unknown", "E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" },
	{ "agent:$2y$", "unknown", "$2y$" },

	/* Malformed hashes of an accepted kind: refused at load, because a
	 * user with a broken hash could never log in. */
	{ "agent:$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mPro",
	    "htpasswd -B", "JXwRALWAfsKL3E5NY7JQieQAW" },
	{ "agent:$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/", "htpasswd -B",
	    "JXwRALWAfsKL3E5NY7JQieQAW" },
	{ "agent:$2y$05$JXwRALWAfsKL3E5NY7JQie", "htpasswd -B",
	    "JXwRALWAfsKL3E5NY7JQie" },
	{ "agent:$2y$05$JXwRALWAfs", "htpasswd -B", "JXwRALWAfs" },
	{ "agent:$2y$05$", "htpasswd -B", "$2y$05$" },
	{ "agent:$2y$05", "htpasswd -B", "$2y$05" },
	{ "agent:$2y$99$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu",
	    "htpasswd -B", "JXwRALWAfsKL3E5NY7JQieQAW" },
	{ "agent:$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu!",
	    "htpasswd -B", "JXwRALWAfsKL3E5NY7JQieQAW" },
	{ "agent:$6$QK8GDYk7Rt1XBeRM", "htpasswd -B", "QK8GDYk7Rt1XBeRM" },
	{ "agent:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$", "htpasswd -B",
	    "F5Jx5fExrKuPp53xLKQ" },
};

static void
test_htpasswd_refused(void **state)
{
	size_t i, n = sizeof(refuse_cases) / sizeof(refuse_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct refuse_case *t = &refuse_cases[i];
		const char *hash = strchr(t->line, ':') + 1;
		struct userdb db;
		char err[300] = "";
		int r;

		userdb_init(&db);
		r = htpasswd_parse_line(&db, t->line, strlen(t->line), err,
		    sizeof(err));
		if (r != -1 || db.d_count != 0)
			print_error("row %zu: \"%s\" was accepted\n", i, t->line);
		else if (strstr(err, t->kind) == NULL ||
		    strstr(err, "htpasswd -B") == NULL ||
		    strstr(err, "agent") == NULL)
			print_error("row %zu: \"%s\": message should name the "
			    "user, '%s' and htpasswd -B: %s\n", i, t->line,
			    t->kind, err);
		else if (strstr(err, hash) != NULL ||
		    strstr(err, t->secret) != NULL)
			print_error("row %zu: \"%s\": message leaks the hash: "
			    "%s\n", i, t->line, err);
		else {
			userdb_free(&db);
			continue;
		}
		bad++;
		userdb_free(&db);
	}
	if (bad > 0)
		fail_msg("%d of %zu refused-hash cases failed", bad, n);
}

struct syntax_case {
	const char	*line;
	size_t		 len;
	int		 ret;	/* 0: ignored, -1: an error */
};

#define IGNORED(s)	{ s, sizeof(s) - 1, 0 }
#define ERROR(s)	{ s, sizeof(s) - 1, -1 }
#define H2Y "$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu"

static const struct syntax_case syntax_cases[] = {
	IGNORED(""),
	IGNORED("#"),
	IGNORED("# users for the sandbox"),
	IGNORED("#agent:" H2Y),
	IGNORED("   "),
	IGNORED("\t"),
	IGNORED("\r"),
	ERROR("agent"),
	ERROR("agent " H2Y),
	ERROR(":" H2Y),
	ERROR("agent:"),
	ERROR("agent:\r"),
	ERROR("ag ent:" H2Y),
	ERROR("agent\t:" H2Y),
	ERROR("ag\x01" "ent:" H2Y),
	ERROR("agent\0:" H2Y),
	ERROR(" agent:" H2Y),
};

static void
test_htpasswd_syntax(void **state)
{
	size_t i, n = sizeof(syntax_cases) / sizeof(syntax_cases[0]);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		const struct syntax_case *t = &syntax_cases[i];
		struct userdb db;
		char err[300] = "";
		int r;

		userdb_init(&db);
		r = htpasswd_parse_line(&db, t->line, t->len, err, sizeof(err));
		if (r != t->ret || db.d_count != 0) {
			print_error("row %zu: \"%s\" returned %d with %zu entries, "
			    "expected %d with none (err: %s)\n", i,
			    show(t->line, t->len), r, db.d_count, t->ret, err);
			bad++;
		} else if (r == -1 && (err[0] == '\0' ||
		    strstr(err, "JXwRALWAfsKL3E5NY7JQie") != NULL)) {
			print_error("row %zu: \"%s\": bad message: '%s'\n", i,
			    show(t->line, t->len), err);
			bad++;
		}
		userdb_free(&db);
	}
	if (bad > 0)
		fail_msg("%d of %zu syntax cases failed", bad, n);
}

static const char *const dup_lines[] = {
	"# rotation: old and new password both valid for a while",
	"agent:$2y$05$JXwRALWAfsKL3E5NY7JQieQAW/IHkpD52IkX/6jSUPfoFON8mProu",
	"other:$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
	"",
	"agent:$6$QK8GDYk7Rt1XBeRM$zBlYz5GleJUgGBk0kCTUrv.IzAvxL6ThOhr4UCHDkQJ"
	    "hMdwXeXV7vyUfhWNT9YIzotxRQgdTQBQWLzMLEF3Nl0",
};

/* Names that are not users: never found. */
static const char *const unknown_names[] = {
	"nobody", "Agent", "AGENT", "agen", "agent2", "agent ", "", "other\n",
};

static void
test_htpasswd_lookup(void **state)
{
	size_t i, nl = sizeof(dup_lines) / sizeof(dup_lines[0]);
	size_t nu = sizeof(unknown_names) / sizeof(unknown_names[0]);
	const struct user_entry *e, *e2;
	struct userdb db;
	char err[300];

	(void)state;
	userdb_init(&db);
	assert_null(userdb_find(&db, "agent", 5));
	for (i = 0; i < nl; i++)
		if (htpasswd_parse_line(&db, dup_lines[i], strlen(dup_lines[i]),
		    err, sizeof(err)) == -1)
			fail_msg("line %zu \"%s\" refused: %s", i + 1,
			    dup_lines[i], err);
	assert_int_equal(db.d_users, 2);
	assert_int_equal(db.d_count, 3);

	/* Both hashes of "agent" are reachable, in file order. */
	e = userdb_find(&db, "agent", 5);
	assert_non_null(e);
	assert_string_equal(e->u_name, "agent");
	assert_string_equal(e->u_hash, strchr(dup_lines[1], ':') + 1);
	assert_int_not_equal(e->u_next, 0);
	e2 = &db.d_entries[e->u_next];
	assert_string_equal(e2->u_name, "agent");
	assert_string_equal(e2->u_hash, strchr(dup_lines[4], ':') + 1);
	assert_int_equal(e2->u_next, 0);

	e = userdb_find(&db, "other", 5);
	assert_non_null(e);
	assert_string_equal(e->u_hash, strchr(dup_lines[2], ':') + 1);
	assert_int_equal(e->u_next, 0);

	for (i = 0; i < nu; i++)
		if (userdb_find(&db, unknown_names[i],
		    strlen(unknown_names[i])) != NULL)
			fail_msg("userdb_find(\"%s\") found a user",
			    show(unknown_names[i], strlen(unknown_names[i])));
	userdb_free(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htpasswd_fixed_hashes),
		cmocka_unit_test(test_htpasswd_generated_hashes),
		cmocka_unit_test(test_htpasswd_refused),
		cmocka_unit_test(test_htpasswd_syntax),
		cmocka_unit_test(test_htpasswd_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
