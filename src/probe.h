/* SPDX-License-Identifier: MIT */
/* `sluice probe URL`: walk every hop from this machine to URL through the
 * proxy (environment, direct route, the proxy's name, TCP, TLS,
 * authentication, its verdict, the destination, its TLS, an HTTP HEAD),
 * name the first hop that fails and the fix in one sentence. */
#ifndef SLUICE_PROBE_H
#define SLUICE_PROBE_H

/* Entry point (argv[0] is "probe"). Returns the exit status: 0 when every
 * hop works, 10 + the failing hop's number (see probe's --help), 2 on a
 * usage error. */
int probe_main(int argc, char **argv);

#endif
