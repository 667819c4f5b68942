/* SPDX-License-Identifier: MIT */
/* The launcher's side of the sandbox's terminal: the command has a
 * pseudo-terminal of its own (sandbox.c), and this relays between it and
 * the user's terminal, with raw input, window size and the user's terminal
 * modes restored at the end. */
#ifndef SLUICE_TTYRELAY_H
#define SLUICE_TTYRELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

#include "ev.h"

#define TTYRELAY_BUF	16384

struct ttyrelay {
	int		 tr_master;	/* the sandbox's terminal, or -1 */
	int		 tr_in;		/* the user's terminal, to read; or -1 */
	int		 tr_out;	/* the user's terminal, to write; or -1 */
	int		 tr_modes;	/* the descriptor whose modes we changed */
	struct termios	 tr_saved;
	bool		 tr_raw;
	struct ev_io	 tr_master_io;
	struct ev_io	 tr_in_io;
	struct ev_io	 tr_out_io;
	struct ev_loop	*tr_loop;
	bool		 tr_can_read_master, tr_can_write_master;
	bool		 tr_can_read_in, tr_can_write_out;
	size_t		 tr_down_off, tr_down_len;	/* master -> user */
	size_t		 tr_up_off, tr_up_len;		/* user -> master */
	char		 tr_down[TTYRELAY_BUF];
	char		 tr_up[4096];
};

/* Reset `tr` to a relay that holds nothing. */
void ttyrelay_init(struct ttyrelay *tr);

/* Which of descriptors 0, 1 and 2 are terminals (bit N for fd N). */
unsigned ttyrelay_terminals(void);

/* Start relaying between the user's terminal and `master` (taken over; it
 * is closed by ttyrelay_finish, also on failure). The sandbox's terminal
 * gets the user's modes and window size; when stdin is the terminal and we
 * are in its foreground, the user's terminal goes raw until
 * ttyrelay_finish. Returns 0, or -1 with errno. */
int ttyrelay_start(struct ttyrelay *tr, struct ev_loop *loop, int master);

/* The user's window changed size (SIGWINCH): pass it on. */
void ttyrelay_resize(struct ttyrelay *tr);

/* The command has exited: copy what it wrote last (waiting at most a
 * moment), restore the user's terminal modes, close everything. Safe on a
 * relay that never started (tr_master == -1 and nothing open). */
void ttyrelay_finish(struct ttyrelay *tr);

#endif
