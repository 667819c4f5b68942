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
#define SANDBOX_MAX_FDS (SANDBOX_MAX_LISTENERS + 1)

struct sandbox_opts {
	uint16_t	  sb_port;		/* proxy port inside */
	bool		  sb_allow_unix;	/* permit AF_UNIX sockets */
	bool		  sb_quiet;		/* do not report refusals */
	unsigned	  sb_tty;		/* bit N: fd N gets the terminal */
	char		**sb_argv;		/* the command */
	char		**sb_envp;		/* its whole environment */
	const char	**sb_masks;		/* credential files to cover */
	size_t		  sb_nmasks;
};

/* Launcher side: create the namespaces and start the sandbox's init, which
 * makes the proxy's listening sockets inside (and a pseudo-terminal when
 * `sb_tty` is not 0). Fills `fds` with those sockets (`*nfds` of them,
 * SANDBOX_MAX_LISTENERS at most), `*pty` with the terminal's master side or
 * -1, and `*ctl` with the control socket whose closing tells the sandbox the
 * launcher is gone. The command starts only at sandbox_start. Returns the
 * init's pid, or -1 with a message in `err` (nothing is left running). */
pid_t sandbox_spawn(const struct sandbox_opts *o, int *fds, size_t *nfds,
    int *pty, int *ctl, char *err, size_t errlen);

/* Let the sandbox's init start the command (once the launcher serves the
 * listeners and has set the terminal up). Returns 0 or -1 with errno. */
int sandbox_start(int ctl);

/* The sandbox's PID 1, entered by re-executing sluice as
 * `sluice __sandbox CTLFD PORT FLAGS TTY [MASK...] -- CMD...`. Sets up the inside, runs
 * the command hardened, forwards signals and reaps; exits with the
 * command's status (128+N when killed by signal N, 126/127 when it could not
 * be run, 125 on sandbox failures). Never returns. */
void sandbox_init_main(int argc, char **argv) __attribute__((noreturn));

/* Apply the hardening that every sandboxed command gets, in the process
 * about to exec it: descriptors above 2 closed on exec, no new privileges,
 * no capabilities, and the seccomp filter of sysfilter.c, whose listener
 * is stored in `*notify_fd`. Returns 0 or -1 with a message in `err`. */
int sandbox_harden(bool allow_unix, int *notify_fd, char *err,
    size_t errlen);

#endif
