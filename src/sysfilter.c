/* SPDX-License-Identifier: MIT */
/*
 * The sandboxed command's system-call filter, and the reporter of what it
 * refused.
 *
 * The network namespace already confines IP; the filter closes what a
 * network namespace does not cover. Socket families are an allowlist, not a
 * denylist: AF_VSOCK reaches the hypervisor and AF_UNIX the host's
 * filesystem sockets (Docker, X11) whatever the namespace, and the other
 * families only widen the kernel's attack surface. AF_NETLINK stays, since
 * glibc's resolver and `ip` use it and it only sees the private namespace.
 * socketpair(AF_UNIX, SOCK_STREAM or SOCK_SEQPACKET) stays too: a connected
 * pair reaches nothing outside, and asyncio's and libuv's event loops
 * cannot start without one. A datagram pair is refused like a socket: one
 * end can be bound to a path and sent to any datagram socket (/dev/log). TIOCSTI
 * and TIOCLINUX would push keystrokes into a terminal that a shell outside
 * the sandbox reads later.
 *
 * Refusals go through seccomp's user notification rather than a plain
 * SCMP_ACT_ERRNO so that the sandbox's init can answer EPERM *and* tell the
 * user, once per kind, what was refused and how to allow it; a silent EPERM
 * leaves people guessing. Only refused calls take that detour, so allowed
 * calls cost nothing extra. If the listener is gone, the kernel fails the
 * call with ENOSYS: still refused.
 *
 * Comparisons are on the whole 64-bit register: the kernel truncates the
 * family to an int, so a value with high bits set is refused even when its
 * low half names an allowed family, never the other way round. ioctl's
 * request is an unsigned int in the kernel, so only its low half is compared.
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysfilter.h"

/* Families allowed to socket() at all, as a bit mask of family numbers;
 * the highest one bounds the rules. */
#define SYSFILTER_IP		((1u << AF_INET) | (1u << AF_INET6) | \
				    (1u << AF_NETLINK))
#define SYSFILTER_MAX_FAMILY	AF_NETLINK

static const char *const sysfilter_families[] = {
	"AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK",
	"AF_NETROM", "AF_BRIDGE", "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE",
	"AF_DECnet", "AF_NETBEUI", "AF_SECURITY", "AF_KEY", "AF_NETLINK",
	"AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC", "AF_RDS", "AF_SNA",
	"AF_IRDA", "AF_PPPOX", "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS",
	"AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC", "AF_ISDN",
	"AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC",
	"AF_VSOCK", "AF_KCM", "AF_QIPCRTR", "AF_SMC", "AF_XDP", "AF_MCTP",
};

const char *
sysfilter_family_name(uint64_t family)
{
	if (family >= sizeof(sysfilter_families) / sizeof(char *))
		return NULL;
	return sysfilter_families[family];
}

/* Send `nr` to the listener unless its first argument is in `allowed`.
 * Returns 0, or libseccomp's first error (-errno). */
static int
sysfilter_families_rule(scmp_filter_ctx sc, int nr, unsigned allowed)
{
	unsigned f;
	int r;

	r = seccomp_rule_add(sc, SCMP_ACT_NOTIFY, nr, 1,
	    SCMP_A0(SCMP_CMP_GT, SYSFILTER_MAX_FAMILY));
	for (f = 0; f <= SYSFILTER_MAX_FAMILY && r == 0; f++)
		if (!(allowed & (1u << f)))
			r = seccomp_rule_add(sc, SCMP_ACT_NOTIFY, nr, 1,
			    SCMP_A0(SCMP_CMP_EQ, f));
	return r;
}

/* The socket rules: families outside the allowlist, and (unless AF_UNIX is
 * allowed) datagram pairs, go to the listener. Returns 0, or libseccomp's
 * first error. */
static int
sysfilter_socket_rules(scmp_filter_ctx sc, bool allow_unix)
{
	unsigned sockets = SYSFILTER_IP | (allow_unix ? 1u << AF_UNIX : 0);
	unsigned t;
	int r;

	if ((r = sysfilter_families_rule(sc, SCMP_SYS(socket), sockets)) != 0 ||
	    (r = sysfilter_families_rule(sc, SCMP_SYS(socketpair), sockets |
	    1u << AF_UNIX)) != 0 || allow_unix)
		return r;
	/* A datagram end of a pair can still be bound to a path, connected
	 * or sent to anywhere: only connected stream and seqpacket pairs
	 * stay anonymous. The type's low four bits are the type proper. */
	for (t = 0; t < 16 && r == 0; t++)
		if (t != SOCK_STREAM && t != SOCK_SEQPACKET)
			r = seccomp_rule_add(sc, SCMP_ACT_NOTIFY,
			    SCMP_SYS(socketpair), 2,
			    SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
			    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, t));
	return r;
}

/* Refused outright, with no report: ways out of the namespaces that the
 * command has no business using. */
static const struct sysfilter_refusal {
	int	sr_nr;
	int	sr_errno;
	bool	sr_newcgroup;	/* only with CLONE_NEWCGROUP in the flags */
} sysfilter_refusals[] = {
	/* A cgroup namespace of its own would let a nested user namespace
	 * mount cgroupfs, where a root launcher's uid 0 may write the host's
	 * cgroup settings. clone3 hides its flags in memory the filter cannot
	 * read: ENOSYS makes the C library fall back to clone. */
	{ SCMP_SYS(unshare), EPERM, true },
	{ SCMP_SYS(clone), EPERM, true },
	{ SCMP_SYS(clone3), ENOSYS, false },
	/* The kernel keyrings are the user's (and a root launcher's are
	 * root's), whatever the namespace. */
	{ SCMP_SYS(keyctl), EPERM, false },
	{ SCMP_SYS(add_key), EPERM, false },
	{ SCMP_SYS(request_key), EPERM, false },
	{ SCMP_SYS(io_uring_setup), EPERM, false },
	{ SCMP_SYS(io_uring_enter), EPERM, false },
	{ SCMP_SYS(io_uring_register), EPERM, false },
};

/* Add the refusals. Returns 0, or libseccomp's first error. */
static int
sysfilter_refused_rules(scmp_filter_ctx sc)
{
	size_t i, n = sizeof(sysfilter_refusals) / sizeof(sysfilter_refusals[0]);
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		const struct sysfilter_refusal *sr = &sysfilter_refusals[i];

		if (sr->sr_newcgroup)
			r = seccomp_rule_add(sc, SCMP_ACT_ERRNO(sr->sr_errno),
			    sr->sr_nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
			    CLONE_NEWCGROUP, CLONE_NEWCGROUP));
		else
			r = seccomp_rule_add(sc, SCMP_ACT_ERRNO(sr->sr_errno),
			    sr->sr_nr, 0);
	}
	return r;
}

int
sysfilter_load(bool allow_unix, int *notify_fd, char *err, size_t errlen)
{
	scmp_filter_ctx sc;
	int r;

	*notify_fd = -1;
	if ((sc = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* The i386 and x32 entry points have their own syscall numbers and
	 * would bypass every rule below: a call through them kills. */
	if ((r = seccomp_attr_set(sc, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) == 0 &&
	    (r = sysfilter_socket_rules(sc, allow_unix)) == 0 &&
	    (r = seccomp_rule_add(sc, SCMP_ACT_NOTIFY, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI))) == 0 &&
	    (r = seccomp_rule_add(sc, SCMP_ACT_NOTIFY, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX))) == 0)
		r = sysfilter_refused_rules(sc);
	/* libseccomp's errors are -errno: the first one says what failed. */
	if (r != 0 || (r = seccomp_load(sc)) != 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-r));
		seccomp_release(sc);
		return -1;
	}
	if ((*notify_fd = seccomp_notify_fd(sc)) < 0) {
		snprintf(err, errlen, "seccomp notification listener: %s",
		    strerror(-*notify_fd));
		*notify_fd = -1;
		seccomp_release(sc);
		return -1;
	}
	seccomp_release(sc);
	return 0;
}

/* Say once what was refused. */
static void
sysfilter_report(const struct seccomp_notif *req, struct sysfilter_seen *s)
{
	char msg[200], num[32];
	const char *what, *why;
	uint64_t family = req->data.args[0];
	bool *flag = NULL;
	int n;

	if (req->data.nr == SCMP_SYS(ioctl)) {
		if ((unsigned)req->data.args[1] == TIOCSTI) {
			flag = &s->fs_tiocsti;
			n = snprintf(msg, sizeof(msg), "sluice: denied ioctl "
			    "TIOCSTI (typing into a terminal is refused in the "
			    "sandbox)\n");
		} else {
			flag = &s->fs_tioclinux;
			n = snprintf(msg, sizeof(msg), "sluice: denied ioctl "
			    "TIOCLINUX (console control is refused in the "
			    "sandbox)\n");
		}
		if (*flag)
			return;
	} else {
		if (family < 64) {
			if (s->fs_families & (1ull << family))
				return;
			s->fs_families |= 1ull << family;
		} else {
			if (s->fs_other)
				return;
			s->fs_other = true;
		}
		if ((what = sysfilter_family_name(family)) == NULL) {
			snprintf(num, sizeof(num), "AF_%llu",
			    (unsigned long long)family);
			what = num;
		}
		why = family == AF_UNIX ? "local sockets are off in the "
		    "sandbox; --allow-unix-sockets allows them" : "only IP "
		    "sockets can reach the proxy";
		if (family == AF_UNIX && req->data.nr == SCMP_SYS(socketpair))
			why = "a datagram pair can reach the host's sockets; "
			    "--allow-unix-sockets allows it";
		n = snprintf(msg, sizeof(msg), "sluice: denied %s %s (%s)\n",
		    req->data.nr == SCMP_SYS(socketpair) ? "socketpair" :
		    "socket", what, why);
	}
	if (flag != NULL)
		*flag = true;
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)!write(STDERR_FILENO, msg, (size_t)n);
}

int
sysfilter_answer(int notify_fd, struct sysfilter_seen *seen)
{
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	int r;

	if (seccomp_notify_alloc(&req, &resp) != 0)
		return -1;
	r = seccomp_notify_receive(notify_fd, req);
	if (r == -ENOENT || r == -EINTR) {
		/* The caller died, or a signal interrupted its call. */
		seccomp_notify_free(req, resp);
		return 0;
	}
	if (r != 0) {
		seccomp_notify_free(req, resp);
		return -1;
	}
	/* Say it before answering, so the line comes before whatever the
	 * command prints about its failed call. */
	if (!seen->fs_quiet)
		sysfilter_report(req, seen);
	resp->id = req->id;
	resp->val = 0;
	resp->error = -EPERM;
	resp->flags = 0;
	(void)seccomp_notify_respond(notify_fd, resp);
	seccomp_notify_free(req, resp);
	return 0;
}
