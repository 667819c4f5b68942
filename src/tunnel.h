/* SPDX-License-Identifier: MIT */
/* `sluice tunnel HOST PORT`: connect stdin/stdout to HOST:PORT through the
 * HTTP proxy named by $https_proxy (CONNECT), for ssh's ProxyCommand. */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H

/* Entry point (argv[0] is "tunnel"). Returns an exit status: 0 when both
 * directions ended, 1 on errors, 2 on usage errors. */
int tunnel_main(int argc, char **argv);

#endif
