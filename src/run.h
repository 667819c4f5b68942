/* SPDX-License-Identifier: MIT */
/* `sluice run`: run a command whose only way out is an embedded proxy. */
#ifndef SLUICE_RUN_H
#define SLUICE_RUN_H

/* Entry point for `sluice run [OPTIONS] -- CMD...` (argv[0] is "run").
 * Returns the command's exit status, or 125 for sluice's own failures and 2
 * for usage errors. */
int run_main(int argc, char **argv);

#endif
