/* SPDX-License-Identifier: MIT */
/* The sandbox of `sluice run`: the command runs in new user, network, PID
 * and mount namespaces whose only network is loopback, where the only thing
 * listening is the proxy, served from outside. */
#ifndef SLUICE_SANDBOX_H
#define SLUICE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SANDBOX_MAX_LISTENERS 2

struct sandbox_opts {
	uint16_t	  sb_port;		/* proxy port inside */
	bool		  sb_allow_unix;	/* permit AF_UNIX sockets */
	char		**sb_argv;		/* the command */
	char		**sb_envp;		/* its whole environment */
};

/* Launcher side: create the namespaces and start the sandbox's init, which
 * makes the proxy's listening sockets inside and runs the command. Fills
 * `fds` with those sockets (`*nfds` of them) and `*ctl` with the control
 * socket whose closing tells the sandbox the launcher is gone. Returns the
 * init's pid, or -1 with a message in `err` (nothing is left running). */
pid_t sandbox_spawn(const struct sandbox_opts *o, int *fds, size_t *nfds,
    int *ctl, char *err, size_t errlen);

/* The sandbox's PID 1, entered by re-executing sluice as
 * `sluice __sandbox CTLFD PORT FLAGS -- CMD...`. Sets up the inside, runs
 * the command hardened, forwards signals and reaps; exits with the
 * command's status (128+N when killed by signal N, 126/127 when it could not
 * be run, 125 on sandbox failures). Never returns. */
void sandbox_init_main(int argc, char **argv) __attribute__((noreturn));

/* Apply the hardening that every sandboxed command gets, in the process
 * about to exec it: descriptors above 2 closed on exec, no new privileges,
 * no capabilities, and a seccomp filter refusing AF_UNIX sockets (unless
 * `allow_unix`) and io_uring. Returns 0 or -1 with a message in `err`. */
int sandbox_harden(bool allow_unix, char *err, size_t errlen);

#endif
