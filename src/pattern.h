/* SPDX-License-Identifier: MIT */
/* Domain allowlist patterns: parsing with strict validation, and matching a
 * canonical host name in time proportional to its number of labels.
 * No I/O. */
#ifndef SLUICE_PATTERN_H
#define SLUICE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "strmap.h"

struct patterns {
	struct strmap	 p_map;		/* name -> PATTERN_* flags */
	char		**p_list;	/* patterns as written, for summaries */
	size_t		 p_count;
};

/* Initialise an empty set. */
void patterns_init(struct patterns *p);

/* Release everything the set owns. */
void patterns_free(struct patterns *p);

/* Validate one pattern (`s`, `len` bytes) and add it: "name" exact,
 * ".name" the domain and all subdomains, "*.name" subdomains only. Returns 0,
 * or -1 with a reason in `err` (wildcards alone or over a TLD, schemes,
 * paths, ports, spaces, non-ASCII, malformed names). Duplicates are merged. */
int patterns_add(struct patterns *p, const char *s, size_t len, char *err,
    size_t errlen);

/* True when the canonical (lower-case, no trailing dot) `host` matches. */
bool patterns_match(const struct patterns *p, const char *host);

/* The pattern that lets `host` in, written as in the configuration
 * ("api.example.com", ".example.com" or "*.example.com") into `buf`, or NULL
 * when none does. With `buf` NULL, returns a non-NULL pointer on a match. */
const char *patterns_which(const struct patterns *p, const char *host,
    char *buf, size_t buflen);

#endif
