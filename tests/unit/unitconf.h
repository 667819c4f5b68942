/* SPDX-License-Identifier: MIT */
/* Shared by the unit tests that need a configuration: one loaded from text
 * as `sluice serve` would (parse, then finish), which must be valid. */
#ifndef SLUICE_UNITCONF_H
#define SLUICE_UNITCONF_H

#include <string.h>

#include "config.h"

/* The configuration `text` (a cmocka failure when it is not valid); the
 * caller unrefs it. */
static struct config *
load(const char *text)
{
	struct diag d = { NULL, 0 };
	struct config *c = config_new("/etc/sluice/sluice.conf");

	assert_int_equal(config_parse(c, text, strlen(text), &d), 0);
	assert_int_equal(config_finish(c, &d), 0);
	diag_free(&d);
	return c;
}

#endif
