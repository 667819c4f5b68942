/* SPDX-License-Identifier: MIT */
/*
 * The sandbox.
 *
 * Design. The launcher clones a child into new user, network, PID and mount
 * namespaces, maps its own uid and gid into the user namespace, and lets it
 * go. The child immediately re-executes sluice (`sluice __sandbox ...`) with
 * the command's prepared environment, so the sandbox starts from a fresh
 * memory image that never held the launcher's secrets (upstream credentials
 * live only in the launcher). That process is PID 1 of the new PID namespace:
 * it mounts a private /proc (the launcher is not visible from inside), brings
 * up loopback, creates the proxy's listening sockets on 127.0.0.1:PORT and
 * [::1]:PORT, and hands them to the launcher over a socketpair with
 * SCM_RIGHTS. The launcher, still in the host's namespaces, accepts on them;
 * no proxy process or bridge socket exists inside. PID 1 then forks the
 * command, which hardens itself (sandbox_harden) and execs.
 *
 * PID 1 stays as a small init: a namespace's init only receives signals it
 * handles, so the command itself cannot be PID 1 and still be stopped by
 * SIGTERM. It forwards signals sent by a process (terminal-generated ones
 * already reach the command through the foreground process group), reaps
 * orphans, and exits with the command's status. When PID 1 exits the kernel
 * kills everything left inside. If the launcher dies, the control socket
 * reaches EOF (and PR_SET_PDEATHSIG fires): init kills everything and exits.
 *
 * What this does not isolate: the filesystem (the command sees the host's
 * files with the user's rights), other IPC namespaces, and resource usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

#define SANDBOX_EXIT_FAIL	125

/* Inside: set once the listeners went out, after which the launcher no
 * longer reads the control socket and errors go to stderr instead. */
static bool sandbox_handed_over;

/* Signals the init passes on to the command when a process sent them. */
static const int sandbox_forwarded[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
};

static int
sandbox_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int saved;

	if (fd == -1)
		return -1;
	n = write(fd, text, strlen(text));
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Map the launcher's user into the namespace: root keeps every id, an
 * ordinary user is mapped to itself (and may not use setgroups). */
static int
sandbox_map_ids(pid_t pid, char *err, size_t errlen)
{
	char path[64], map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (uid == 0) {
		snprintf(map, sizeof(map), "0 0 4294967295\n");
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		if (sandbox_write_file(path, map) == -1)
			goto fail;
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		if (sandbox_write_file(path, map) == -1)
			goto fail;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	if (sandbox_write_file(path, "deny\n") == -1 && errno != ENOENT)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (sandbox_write_file(path, map) == -1)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (sandbox_write_file(path, map) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot map user and group ids into the "
	    "sandbox (%s: %s)", path, strerror(errno));
	return -1;
}

/* An unprivileged user is not uid 0 inside, so execve would drop the
 * capabilities the init needs to mount /proc and bring up loopback: carry
 * exactly those across it as ambient capabilities. The command drops them
 * again (sandbox_harden). */
static void
sandbox_keep_caps(void)
{
	static const int keep[] = {
		CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_SETPCAP,
	};
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	size_t i;

	if (syscall(SYS_capget, &hdr, data) == -1)
		return;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		data[keep[i] / 32].inheritable |= 1u << (keep[i] % 32);
	if (syscall(SYS_capset, &hdr, data) == -1)
		return;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep[i], 0, 0);
}

static void
sandbox_refused(int e, char *err, size_t errlen)
{
	const char *how;

	switch (e) {
	case ENOSPC:
		how = "no more user namespaces may be created: raise the "
		    "limit (sysctl user.max_user_namespaces, 0 here or used "
		    "up)";
		break;
	case EINVAL:
		how = "this kernel lacks user, network, PID or mount "
		    "namespaces (CONFIG_USER_NS and friends)";
		break;
	default:
		how = "unprivileged user namespaces are not allowed here: "
		    "enable them (sysctl kernel.unprivileged_userns_clone=1; "
		    "on Ubuntu, kernel.apparmor_restrict_unprivileged_userns=0 "
		    "or an AppArmor profile that permits userns for sluice; in "
		    "a container, a seccomp/AppArmor profile that permits "
		    "unshare), or run as root";
		break;
	}
	snprintf(err, errlen, "cannot create the sandbox's namespaces "
	    "(clone: %s): %s. sluice will not run the command unconfined; "
	    "--no-isolate is for trusted code only", strerror(e), how);
}

/* Receive the listeners, or an error text, from the sandbox's init. */
static int
sandbox_receive(int ctl, int *fds, size_t *nfds, char *err, size_t errlen)
{
	char text[512], cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAX_LISTENERS)];
	struct iovec iov = { text, sizeof(text) - 1 };
	struct msghdr m;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	do
		n = recvmsg(ctl, &m, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		snprintf(err, errlen, "the sandbox failed to start");
		return -1;
	}
	text[n] = '\0';
	*nfds = 0;
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm)) {
		size_t i, k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && *nfds < SANDBOX_MAX_LISTENERS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
	}
	if (strcmp(text, "ok") != 0 || *nfds == 0) {
		while (*nfds > 0)
			close(fds[--*nfds]);
		snprintf(err, errlen, "%s", text);
		return -1;
	}
	return 0;
}

pid_t
sandbox_spawn(const struct sandbox_opts *o, int *fds, size_t *nfds, int *ctl,
    char *err, size_t errlen)
{
	char fdarg[16], portarg[16], flagarg[16], **argv, ready;
	size_t argc = 0, i;
	int sp[2], exe, status;
	pid_t pid;

	*ctl = -1;
	for (i = 0; o->sb_argv[i] != NULL; i++)
		argc++;
	if ((argv = calloc(argc + 7, sizeof(*argv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((exe = open("/proc/self/exe", O_PATH | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot find our own executable "
		    "(/proc/self/exe: %s)", strerror(errno));
		free(argv);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close(exe);
		free(argv);
		return -1;
	}
	/* The child's end stays open across exec as a known number. */
	snprintf(fdarg, sizeof(fdarg), "%d", sp[1]);
	snprintf(portarg, sizeof(portarg), "%u", (unsigned)o->sb_port);
	snprintf(flagarg, sizeof(flagarg), "%s", o->sb_allow_unix ? "unix" :
	    "-");
	argv[0] = (char *)"sluice";
	argv[1] = (char *)"__sandbox";
	argv[2] = fdarg;
	argv[3] = portarg;
	argv[4] = flagarg;
	argv[5] = (char *)"--";
	for (i = 0; i < argc; i++)
		argv[6 + i] = o->sb_argv[i];

	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET |
	    CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == -1) {
		sandbox_refused(errno, err, errlen);
		goto fail;
	}
	if (pid == 0) {
		char go;

		close(sp[0]);
		/* The launcher is not dumpable, and neither are we yet: then
		 * our /proc files belong to root and an unprivileged launcher
		 * could not write our id maps. The secrets this memory might
		 * hold are gone at the execveat below, moments from now. */
		prctl(PR_SET_DUMPABLE, 1);
		if (write(sp[1], "r", 1) != 1)
			_exit(SANDBOX_EXIT_FAIL);
		/* Wait until the launcher has written our id maps. */
		if (read(sp[1], &go, 1) != 1)
			_exit(SANDBOX_EXIT_FAIL);
		if (fcntl(sp[1], F_SETFD, 0) == -1)
			_exit(SANDBOX_EXIT_FAIL);
		sandbox_keep_caps();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		syscall(SYS_execveat, exe, "", argv, o->sb_envp, AT_EMPTY_PATH);
		_exit(SANDBOX_EXIT_FAIL);
	}
	close(sp[1]);
	sp[1] = -1;
	if (read(sp[0], &ready, 1) != 1 ||
	    sandbox_map_ids(pid, err, errlen) == -1 ||
	    write(sp[0], "g", 1) != 1 ||
	    sandbox_receive(sp[0], fds, nfds, err, errlen) == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		goto fail;
	}
	close(exe);
	free(argv);
	*ctl = sp[0];
	return pid;
fail:
	close(sp[0]);
	if (sp[1] != -1)
		close(sp[1]);
	close(exe);
	free(argv);
	return -1;
}

/* ---- inside: PID 1 ---- */

/* Report "what: strerror(errno)" to the launcher and exit. */
static void __attribute__((noreturn))
sandbox_die(int ctl, const char *what)
{
	char msg[512];
	int e = errno;

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
	if (sandbox_handed_over)
		dprintf(STDERR_FILENO, "sluice: %s\n", msg);
	else
		(void)!send(ctl, msg, strlen(msg), MSG_NOSIGNAL);
	_exit(SANDBOX_EXIT_FAIL);
}

static int
sandbox_loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
		goto fail;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

static int
sandbox_listener(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 1024) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
sandbox_send_fds(int ctl, const int *fds, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAX_LISTENERS)];
	struct iovec iov = { (void *)"ok", 2 };
	struct msghdr m;
	struct cmsghdr *cm;

	memset(&m, 0, sizeof(m));
	memset(cbuf, 0, sizeof(cbuf));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	return sendmsg(ctl, &m, MSG_NOSIGNAL) == -1 ? -1 : 0;
}

int
sandbox_harden(bool allow_unix, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	scmp_filter_ctx sc;
	int cap, r;

	if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) ==
	    -1) {
		int fd;

		for (fd = 3; fd < 65536; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	for (cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL && errno != EPERM)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1) {
		snprintf(err, errlen, "dropping capabilities: %s",
		    strerror(errno));
		return -1;
	}
	if ((sc = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	r = 0;
	/* A filesystem socket (a Docker or X11 socket, say) is a way out
	 * that needs no network: refuse creating AF_UNIX sockets. */
	if (!allow_unix)
		r |= seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	r |= seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(io_uring_setup), 0);
	r |= seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(io_uring_enter), 0);
	r |= seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(io_uring_register), 0);
	if (r != 0 || (r = seccomp_load(sc)) != 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-r));
		seccomp_release(sc);
		return -1;
	}
	seccomp_release(sc);
	return 0;
}

/* The command's side of the fork: harden, exec, report failure. */
static void __attribute__((noreturn))
sandbox_exec_command(char **argv, bool allow_unix, int report)
{
	char err[256];
	sigset_t none;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sandbox_harden(allow_unix, err, sizeof(err)) == -1) {
		dprintf(STDERR_FILENO, "sluice: %s\n", err);
		e = -1;
		(void)!write(report, &e, sizeof(e));
		_exit(SANDBOX_EXIT_FAIL);
	}
	execvp(argv[0], argv);
	e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);
}

void
sandbox_init_main(int argc, char **argv)
{
	int ctl, fds[SANDBOX_MAX_LISTENERS], report[2], sfd, e, status;
	size_t nfds = 0, i;
	bool allow_unix;
	struct pollfd pfd[2];
	unsigned long port;
	char **cmd, *end;
	sigset_t set;
	pid_t child;
	ssize_t n;

	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "sluice: __sandbox is internal to sluice run\n");
		_exit(SANDBOX_EXIT_FAIL);
	}
	ctl = (int)strtol(argv[1], &end, 10);
	if (*end != '\0' || fcntl(ctl, F_SETFD, FD_CLOEXEC) == -1) {
		fprintf(stderr, "sluice: __sandbox is internal to sluice run\n");
		_exit(SANDBOX_EXIT_FAIL);
	}
	port = strtoul(argv[2], &end, 10);
	allow_unix = strcmp(argv[3], "unix") == 0;
	cmd = argv + 5;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Nothing inside may read this process's memory. */
	prctl(PR_SET_DUMPABLE, 0);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		sandbox_die(ctl, "cannot make mounts private");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL) == -1)
		sandbox_die(ctl, "cannot mount a private /proc (in a "
		    "container, masked /proc paths forbid it)");
	if (sandbox_loopback_up() == -1)
		sandbox_die(ctl, "cannot bring up loopback");
	if ((fds[nfds] = sandbox_listener(AF_INET, (uint16_t)port)) == -1)
		sandbox_die(ctl, "cannot listen on 127.0.0.1 in the sandbox");
	nfds++;
	/* IPv6 may be disabled on this host; IPv4 is enough then. */
	if ((fds[nfds] = sandbox_listener(AF_INET6, (uint16_t)port)) != -1)
		nfds++;
	if (sandbox_send_fds(ctl, fds, nfds) == -1)
		sandbox_die(ctl, "cannot pass the listeners out");
	sandbox_handed_over = true;
	for (i = 0; i < nfds; i++)
		close(fds[i]);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (i = 0; i < sizeof(sandbox_forwarded) / sizeof(int); i++)
		sigaddset(&set, sandbox_forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1 ||
	    pipe2(report, O_CLOEXEC) == -1)
		sandbox_die(ctl, "cannot set up the sandbox's init");
	if ((child = fork()) == -1)
		sandbox_die(ctl, "cannot start the command");
	if (child == 0)
		sandbox_exec_command(cmd, allow_unix, report[1]);
	close(report[1]);
	do
		n = read(report[0], &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(child, &status, 0);
		if (e != -1)
			fprintf(stderr, "sluice: cannot run %s: %s\n", cmd[0],
			    strerror(e));
		_exit(e == -1 ? SANDBOX_EXIT_FAIL : e == ENOENT ? 127 : 126);
	}

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = ctl;
	pfd[1].events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* The launcher is gone: so is the sandbox. */
			kill(-1, SIGKILL);
			_exit(SANDBOX_EXIT_FAIL);
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			/* Terminal signals reach the command directly. */
			if (si.ssi_code != SI_KERNEL)
				kill(child, (int)si.ssi_signo);
			continue;
		}
		for (;;) {
			pid_t p = waitpid(-1, &status, WNOHANG);

			if (p <= 0)
				break;
			if (p != child)
				continue;
			if (WIFSIGNALED(status))
				_exit(128 + WTERMSIG(status));
			_exit(WEXITSTATUS(status));
		}
	}
	kill(-1, SIGKILL);
	_exit(SANDBOX_EXIT_FAIL);
}
