/* SPDX-License-Identifier: MIT */
/* sluice check --explain: the decision the proxy would take for one
 * identity and one destination, with the rule that takes it, without
 * starting a proxy (the question operators ask most). */
#ifndef SLUICE_EXPLAIN_H
#define SLUICE_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

struct config;

#define EXPLAIN_ALLOWED		0
#define EXPLAIN_DENIED		3
#define EXPLAIN_BAD_INPUT	2

/* Write to `out`, one line per step (identity, policy, target, rule,
 * addresses), what `c` decides for `user` (NULL: no credentials) asking
 * for `target` (HOST:PORT) by CONNECT, or by plain HTTP when `http`. The
 * name is resolved as the proxy would: hosts files, then the configured
 * DNS servers. Returns EXPLAIN_ALLOWED, EXPLAIN_DENIED or
 * EXPLAIN_BAD_INPUT (a target that does not parse). */
int explain(const struct config *c, const char *user, const char *target,
    bool http, FILE *out);

#endif
