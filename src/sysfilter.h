/* SPDX-License-Identifier: MIT */
/* The sandboxed command's system-call filter (seccomp) and the reporter that
 * tells the user, once per kind, what the filter refused. */
#ifndef SLUICE_SYSFILTER_H
#define SLUICE_SYSFILTER_H

#include <stdbool.h>
#include <stdint.h>

/* What the reporter has said so far in this run, so each kind of refusal is
 * reported once. */
struct sysfilter_seen {
	uint64_t	 fs_families;	/* bit N: socket family N reported */
	bool		 fs_other;	/* a family >= 64 reported */
	bool		 fs_tiocsti;
	bool		 fs_tioclinux;
	bool		 fs_quiet;	/* refuse, but say nothing (-q) */
};

/* Load the filter into the calling process (PR_SET_NO_NEW_PRIVS must be
 * set). It refuses with EPERM: socket() for every family but AF_INET,
 * AF_INET6, AF_NETLINK (and AF_UNIX when `allow_unix`); socketpair() for
 * the same families plus connected AF_UNIX pairs (stream, seqpacket);
 * ioctl TIOCSTI and TIOCLINUX; io_uring; new cgroup namespaces; the
 * kernel keyrings (clone3 fails with ENOSYS, so that clone is used).
 * Calls from the i386 and x32 entry points kill the process. The refusals
 * other than io_uring go through a user-notification listener: its
 * descriptor (close-on-exec) is stored in `*notify_fd`, and whoever holds it
 * must answer with sysfilter_answer, or the calls fail with ENOSYS once it
 * is closed. Returns 0, or -1 with a message in `err`. */
int sysfilter_load(bool allow_unix, int *notify_fd, char *err, size_t errlen);

/* Supervisor side: take one pending notification from `notify_fd`, answer
 * it with EPERM, and print "sluice: denied socket AF_VSOCK (...)" (or the
 * ioctl) on stderr the first time that kind is seen. Returns 0, or -1 when
 * the listener is unusable (every filtered process is gone). */
int sysfilter_answer(int notify_fd, struct sysfilter_seen *seen);

/* The name of socket family `family` ("AF_VSOCK"), or NULL if unknown. */
const char *sysfilter_family_name(uint64_t family);

#endif
