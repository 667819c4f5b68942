/* SPDX-License-Identifier: MIT */
/* Operating `sluice serve`: signals, live reload, privilege drop, systemd
 * readiness. */
#ifndef SLUICE_SERVE_H
#define SLUICE_SERVE_H

/* Run `sluice serve` with the configuration at `path` until stopped.
 * Returns the process exit code (0, or 1 on a start-up error). */
int serve_main(const char *path);

#endif
