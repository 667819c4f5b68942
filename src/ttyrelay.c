/* SPDX-License-Identifier: MIT */
/*
 * The launcher's side of the sandbox's terminal.
 *
 * The command runs on a pseudo-terminal made inside the sandbox, never on
 * the user's (see sandbox.c for why). This relays bytes between the two
 * through the launcher's event loop, the way a container runtime's `-t`
 * does: keys go in raw, so Ctrl-C, Ctrl-Z and line editing are handled by
 * the terminal inside, where they reach the command's foreground process
 * group; output comes back as it is; a resize is copied across.
 *
 * The user's terminal is opened afresh through /proc/self/fd rather than
 * used through descriptors 0-2: O_NONBLOCK on a new open file description
 * is ours alone, whereas setting it on the inherited one would also change
 * it for the shell and every other process sharing that terminal.
 * Output processing (OPOST) is turned off with the rest of raw mode,
 * because full-screen programs inside rely on it being done once, inside;
 * the launcher's own messages then end lines with "\r\n" (log_crlf).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ttyrelay.h"

/* At exit, how long to wait for the command's last output. */
#define TTYRELAY_DRAIN_MS	1000

unsigned
ttyrelay_terminals(void)
{
	unsigned m = 0;
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (isatty(fd))
			m |= 1u << fd;
	return m;
}

void
ttyrelay_init(struct ttyrelay *tr)
{
	memset(tr, 0, sizeof(*tr));
	tr->tr_master = tr->tr_in = tr->tr_out = tr->tr_modes = -1;
}

/* A new open file description of the terminal on `fd`. */
static int
ttyrelay_reopen(int fd)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

/* user -> buffer: read the user's keys while there is room, first moving
 * what is still unwritten to the front. Returns true on progress. */
static bool
ttyrelay_read_in(struct ttyrelay *tr)
{
	ssize_t n;

	if (tr->tr_in == -1 || !tr->tr_can_read_in ||
	    tr->tr_up_len >= sizeof(tr->tr_up))
		return false;
	if (tr->tr_up_off > 0 && tr->tr_up_len > 0)
		memmove(tr->tr_up, tr->tr_up + tr->tr_up_off, tr->tr_up_len);
	tr->tr_up_off = 0;
	n = read(tr->tr_in, tr->tr_up + tr->tr_up_len,
	    sizeof(tr->tr_up) - tr->tr_up_len);
	if (n > 0) {
		tr->tr_up_len += (size_t)n;
		return true;
	}
	if (n == -1 && errno == EAGAIN)
		tr->tr_can_read_in = false;
	else if (n == -1 && errno == EINTR)
		return true;
	else {
		/* The user's terminal hung up. */
		ev_io_del(tr->tr_loop, &tr->tr_in_io);
		tr->tr_can_read_in = false;
	}
	return false;
}

/* buffer -> command: write the keys to the sandbox's terminal. Returns
 * true on progress. */
static bool
ttyrelay_write_master(struct ttyrelay *tr)
{
	ssize_t n;

	if (tr->tr_master == -1 || tr->tr_up_len == 0 ||
	    !tr->tr_can_write_master)
		return false;
	n = write(tr->tr_master, tr->tr_up + tr->tr_up_off, tr->tr_up_len);
	if (n > 0) {
		tr->tr_up_off += (size_t)n;
		tr->tr_up_len -= (size_t)n;
		return true;
	}
	if (n == -1 && errno == EAGAIN)
		tr->tr_can_write_master = false;
	else if (!(n == -1 && errno == EINTR))
		tr->tr_up_len = 0;	/* nobody inside */
	return false;
}

/* command -> buffer: read the command's output while there is room.
 * Returns true on progress. */
static bool
ttyrelay_read_master(struct ttyrelay *tr)
{
	ssize_t n;

	if (tr->tr_master == -1 || !tr->tr_can_read_master ||
	    tr->tr_down_len >= sizeof(tr->tr_down))
		return false;
	if (tr->tr_down_off > 0 && tr->tr_down_len > 0)
		memmove(tr->tr_down, tr->tr_down + tr->tr_down_off,
		    tr->tr_down_len);
	tr->tr_down_off = 0;
	n = read(tr->tr_master, tr->tr_down + tr->tr_down_len,
	    sizeof(tr->tr_down) - tr->tr_down_len);
	if (n > 0) {
		tr->tr_down_len += (size_t)n;
		return true;
	}
	if (n == -1 && errno == EINTR)
		return true;
	/* EAGAIN, or EIO: every process inside has closed the terminal (and
	 * an edge comes when one writes again). */
	tr->tr_can_read_master = false;
	return false;
}

/* buffer -> user: write the output to the user's terminal, or discard it
 * once that is gone. Returns true on progress. */
static bool
ttyrelay_write_out(struct ttyrelay *tr)
{
	ssize_t n;

	if (tr->tr_down_len == 0 || !tr->tr_can_write_out)
		return false;
	if (tr->tr_out == -1)
		n = (ssize_t)tr->tr_down_len;	/* discard */
	else
		n = write(tr->tr_out, tr->tr_down + tr->tr_down_off,
		    tr->tr_down_len);
	if (n > 0) {
		tr->tr_down_off += (size_t)n;
		tr->tr_down_len -= (size_t)n;
		return true;
	}
	if (n == -1 && errno == EAGAIN)
		tr->tr_can_write_out = false;
	else if (!(n == -1 && errno == EINTR)) {
		/* The user's terminal is gone: drop output rather than stall
		 * the command. */
		ev_io_del(tr->tr_loop, &tr->tr_out_io);
		close(tr->tr_out);
		tr->tr_out = -1;
	}
	return false;
}

/* Move whatever can move without blocking, in both directions: every step
 * runs on each round, so one direction never starves the other. */
static void
ttyrelay_pump(struct ttyrelay *tr)
{
	bool progress;

	do {
		progress = ttyrelay_read_in(tr);
		progress |= ttyrelay_write_master(tr);
		progress |= ttyrelay_read_master(tr);
		progress |= ttyrelay_write_out(tr);
	} while (progress);
}

static void
ttyrelay_on_master(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct ttyrelay *tr = arg;

	(void)loop;
	(void)fd;
	if (events & (EV_READ | EV_ERROR))
		tr->tr_can_read_master = true;
	if (events & (EV_WRITE | EV_ERROR))
		tr->tr_can_write_master = true;
	ttyrelay_pump(tr);
}

static void
ttyrelay_on_in(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct ttyrelay *tr = arg;

	(void)loop;
	(void)fd;
	(void)events;
	tr->tr_can_read_in = true;
	ttyrelay_pump(tr);
}

static void
ttyrelay_on_out(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct ttyrelay *tr = arg;

	(void)loop;
	(void)fd;
	(void)events;
	tr->tr_can_write_out = true;
	ttyrelay_pump(tr);
}

/* Raw input, no output processing; signals keys and flow control go to
 * the terminal inside. */
static int
ttyrelay_raw(struct ttyrelay *tr, int fd)
{
	struct termios raw;

	if (tcgetattr(fd, &tr->tr_saved) == -1)
		return -1;
	raw = tr->tr_saved;
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
	    IGNCR | ICRNL | IXON | IXOFF);
	raw.c_oflag &= ~(tcflag_t)OPOST;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSADRAIN, &raw) == -1)
		return -1;
	tr->tr_modes = fd;
	tr->tr_raw = true;
	log_crlf(true);
	return 0;
}

int
ttyrelay_start(struct ttyrelay *tr, struct ev_loop *loop, int master)
{
	struct termios modes;
	struct winsize ws;
	unsigned m = ttyrelay_terminals();
	int fd, flags;

	tr->tr_master = master;
	tr->tr_loop = loop;
	if ((flags = fcntl(master, F_GETFL)) == -1 ||
	    fcntl(master, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	/* Output goes to the first of stdout, stderr, stdin that is the
	 * terminal; keys come from stdin if it is, while we are in the
	 * terminal's foreground (a background job must not read it). */
	for (fd = 1; fd <= 3 && tr->tr_out == -1; fd++)
		if (m & (1u << (fd % 3)))
			tr->tr_out = ttyrelay_reopen(fd % 3);
	if ((m & 1u) && tcgetpgrp(STDIN_FILENO) == getpgrp())
		tr->tr_in = ttyrelay_reopen(STDIN_FILENO);
	fd = tr->tr_in != -1 ? STDIN_FILENO : (m & 2u) ? 1 : (m & 4u) ? 2 : 0;
	if (tcgetattr(fd, &modes) == 0)
		(void)tcsetattr(master, TCSANOW, &modes);
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(master, TIOCSWINSZ, &ws);
	if (tr->tr_in != -1 && ttyrelay_raw(tr, STDIN_FILENO) == -1) {
		close(tr->tr_in);
		tr->tr_in = -1;
	}
	tr->tr_can_write_out = true;
	tr->tr_can_write_master = true;
	if (ev_io_add(loop, &tr->tr_master_io, master, EV_READ | EV_WRITE,
	    ttyrelay_on_master, tr) == -1)
		return -1;
	if (tr->tr_in != -1 && ev_io_add(loop, &tr->tr_in_io, tr->tr_in,
	    EV_READ, ttyrelay_on_in, tr) == -1)
		return -1;
	if (tr->tr_out != -1 && ev_io_add(loop, &tr->tr_out_io, tr->tr_out,
	    EV_WRITE, ttyrelay_on_out, tr) == -1)
		return -1;
	return 0;
}

void
ttyrelay_resize(struct ttyrelay *tr)
{
	struct winsize ws;

	if (tr->tr_master == -1)
		return;
	if (ioctl(tr->tr_modes != -1 ? tr->tr_modes : tr->tr_out, TIOCGWINSZ,
	    &ws) == 0)
		(void)ioctl(tr->tr_master, TIOCSWINSZ, &ws);
}

static uint64_t
ttyrelay_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Write all of `buf` to the user's terminal, waiting until `deadline` at
 * most; on failure the rest is dropped. */
static void
ttyrelay_write_all(struct ttyrelay *tr, const char *buf, size_t len,
    uint64_t deadline)
{
	struct pollfd p;
	size_t off = 0;
	uint64_t now;
	ssize_t w;

	while (tr->tr_out != -1 && off < len) {
		w = write(tr->tr_out, buf + off, len - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (!(w == -1 && errno == EAGAIN) ||
		    (now = ttyrelay_ms()) >= deadline)
			return;
		p.fd = tr->tr_out;
		p.events = POLLOUT;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			return;
	}
}

void
ttyrelay_finish(struct ttyrelay *tr)
{
	uint64_t deadline = ttyrelay_ms() + TTYRELAY_DRAIN_MS, now;
	char buf[4096];
	struct pollfd p;
	ssize_t n;

	/* What the loop still holds came first; then what is left in the
	 * terminal (everything inside is gone, so it reads out, then EIO). */
	ttyrelay_write_all(tr, tr->tr_down + tr->tr_down_off, tr->tr_down_len,
	    deadline);
	tr->tr_down_len = 0;
	while (tr->tr_master != -1) {
		n = read(tr->tr_master, buf, sizeof(buf));
		if (n > 0) {
			ttyrelay_write_all(tr, buf, (size_t)n, deadline);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (!(n == -1 && errno == EAGAIN) ||
		    (now = ttyrelay_ms()) >= deadline)
			break;
		p.fd = tr->tr_master;
		p.events = POLLIN;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			break;
	}
	/* TCSAFLUSH: input not yet read was meant for the command (typed
	 * for it, or a terminal's answer to a query it printed last); the
	 * caller's shell must not read it. */
	if (tr->tr_raw) {
		(void)tcsetattr(tr->tr_modes, TCSAFLUSH, &tr->tr_saved);
		tr->tr_raw = false;
		log_crlf(false);
	}
	if (tr->tr_master != -1)
		close(tr->tr_master);
	if (tr->tr_in != -1)
		close(tr->tr_in);
	if (tr->tr_out != -1)
		close(tr->tr_out);
	tr->tr_master = tr->tr_in = tr->tr_out = tr->tr_modes = -1;
}
