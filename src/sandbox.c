/* SPDX-License-Identifier: MIT */
/*
 * The sandbox.
 *
 * Design. The launcher clones a child into new user, network, PID, mount, IPC
 * and cgroup namespaces, maps its own uid and gid into the user namespace,
 * and lets it go. The child immediately re-executes sluice (`sluice __sandbox ...`) with
 * the command's prepared environment, so the sandbox starts from a fresh
 * memory image that never held the launcher's secrets (upstream credentials
 * live only in the launcher). That process is PID 1 of the new PID namespace:
 * it leaves the launcher's session, mounts a private /proc (the launcher is
 * not visible from inside) and a private devpts (the user's other terminals
 * are not either), covers every credential file the launcher named (an
 * empty read-only tmpfs over a directory, /dev/null over a file), brings up
 * loopback, creates the proxy's listening sockets on 127.0.0.1:PORT and
 * [::1]:PORT and, when the launcher has a terminal, a pseudo-terminal, and
 * hands them to the launcher over a socketpair with SCM_RIGHTS. The
 * launcher, still in the host's namespaces, accepts on the sockets and
 * relays the terminal; no proxy process or bridge socket exists inside.
 * Once the launcher says "start", PID 1 forks the command, which starts a
 * session of its own (with the pseudo-terminal as its controlling terminal,
 * if any), hardens itself (sandbox_harden) and execs.
 *
 * Terminal. The command never holds the caller's terminal: a process that
 * shares it can push keystrokes into it (TIOCSTI) that the caller's shell
 * runs after the sandbox is gone, or read what the user types elsewhere.
 * Like container runtimes with `-t`, the command gets its own terminal and
 * the launcher relays (ttyrelay.c): job control, Ctrl-C, window size and
 * full-screen programs work inside. The trade-off: keys like Ctrl-Z act on
 * the command inside, not on `sluice run` itself. The seccomp filter refuses
 * TIOCSTI as well, for any terminal the command might still open.
 *
 * PID 1 stays as a small init: a namespace's init only receives signals it
 * handles, so the command itself cannot be PID 1 and still be stopped by
 * SIGTERM. It forwards signals sent by a process (the launcher passes on
 * terminal-generated ones), answers the seccomp filter's notifications
 * (sysfilter.c: refuse, and say once what was refused), reaps orphans, and
 * exits with the command's status. When PID 1 exits the kernel kills
 * everything left inside, daemons included. If the launcher dies, the
 * control socket reaches EOF (and PR_SET_PDEATHSIG fires): init kills
 * everything and exits.
 *
 * Root. A root launcher maps uid 0 to itself, so that root's command can
 * use root's files; but uid 0 is also what the kernel checks on its own
 * objects (sysctls, cgroupfs, device nodes, keyrings). Hence the read-only
 * kernel knobs, the /dev with only harmless devices, no cgroup namespaces
 * and no keyrings: each was a way for root's command to reach the host.
 *
 * What this does not isolate: the filesystem (the command sees the host's
 * files with the user's rights, except the credential files), and resource
 * usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "sysfilter.h"

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
		how = "this kernel lacks user, network, PID, mount, IPC or cgroup "
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

/* Receive one message from `sock`: its bytes into `buf` (`len` at most)
 * and the descriptors it carries into `fds` (`max` at most, *nfds of them;
 * any beyond are closed). Returns the message's length, 0 at EOF, or -1. */
static ssize_t
sandbox_recv_fds(int sock, void *buf, size_t len, int *fds, size_t max,
    size_t *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAX_FDS)];
	struct iovec iov = { buf, len };
	struct msghdr m;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	*nfds = 0;
	if (n <= 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm)) {
		size_t i, k;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/* Receive the listeners (and the terminal), or an error text, from the
 * sandbox's init; at least `min` descriptors. */
static int
sandbox_receive(int ctl, int *fds, size_t *nfds, size_t min, char *err,
    size_t errlen)
{
	char text[512];
	ssize_t n;

	if ((n = sandbox_recv_fds(ctl, text, sizeof(text) - 1, fds,
	    SANDBOX_MAX_FDS, nfds)) <= 0) {
		snprintf(err, errlen, "the sandbox failed to start");
		return -1;
	}
	text[n] = '\0';
	if (strcmp(text, "ok") != 0 || *nfds < min) {
		while (*nfds > 0)
			close(fds[--*nfds]);
		snprintf(err, errlen, "%s", text);
		return -1;
	}
	return 0;
}

/* The arguments of `sluice __sandbox` as text; they must live until the
 * clone's exec. */
struct sandbox_argtext {
	char	at_fd[16];
	char	at_port[16];
	char	at_flags[16];
	char	at_tty[8];
};

/* Fill `argv` (zeroed, with room for the command, the masks and 8 more)
 * with the init's command line: the child's end of the control socket,
 * which stays open across exec as a known number, the port, the flags,
 * which of 0-2 are terminals, the files to cover, "--" and the command.
 * sandbox_init_args reads it back. */
static void
sandbox_init_argv(const struct sandbox_opts *o, int ctlfd,
    struct sandbox_argtext *t, char **argv)
{
	size_t i, k = 0;

	snprintf(t->at_fd, sizeof(t->at_fd), "%d", ctlfd);
	snprintf(t->at_port, sizeof(t->at_port), "%u", (unsigned)o->sb_port);
	snprintf(t->at_flags, sizeof(t->at_flags), "%s%s%s",
	    o->sb_allow_unix ? "unix," : "", o->sb_quiet ? "quiet," : "", "-");
	snprintf(t->at_tty, sizeof(t->at_tty), "%u", o->sb_tty & 7u);
	argv[k++] = (char *)"sluice";
	argv[k++] = (char *)"__sandbox";
	argv[k++] = t->at_fd;
	argv[k++] = t->at_port;
	argv[k++] = t->at_flags;
	argv[k++] = t->at_tty;
	for (i = 0; i < o->sb_nmasks; i++)
		argv[k++] = (char *)o->sb_masks[i];
	argv[k++] = (char *)"--";
	for (i = 0; o->sb_argv[i] != NULL; i++)
		argv[k++] = o->sb_argv[i];
}

/* The cloned child, still running the launcher's image: wait until the
 * launcher has mapped our ids, keep the capabilities the init needs, and
 * re-execute as the sandbox's init (which never returns here). */
static void __attribute__((noreturn))
sandbox_child(int sock, int exe, char **argv, char **envp)
{
	char go;

	/* The launcher is not dumpable, and neither are we yet: then
	 * our /proc files belong to root and an unprivileged launcher
	 * could not write our id maps. The secrets this memory might
	 * hold are gone at the execveat below, moments from now. */
	prctl(PR_SET_DUMPABLE, 1);
	if (write(sock, "r", 1) != 1)
		_exit(SANDBOX_EXIT_FAIL);
	/* Wait until the launcher has written our id maps. */
	if (read(sock, &go, 1) != 1)
		_exit(SANDBOX_EXIT_FAIL);
	if (fcntl(sock, F_SETFD, 0) == -1)
		_exit(SANDBOX_EXIT_FAIL);
	sandbox_keep_caps();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL);	/* the launcher's, not the command's */
	syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
	_exit(SANDBOX_EXIT_FAIL);
}

/* The launcher's half of the start-up: wait until the child can be
 * mapped, map its ids, let it go, and receive what its init made. On
 * failure the child is killed and reaped: nothing half-started is left. */
static int
sandbox_handshake(pid_t pid, int sock, const struct sandbox_opts *o,
    int *fds, size_t *nfds, char *err, size_t errlen)
{
	char ready;
	int status;

	if (read(sock, &ready, 1) != 1 ||
	    sandbox_map_ids(pid, err, errlen) == -1 ||
	    write(sock, "g", 1) != 1 ||
	    sandbox_receive(sock, fds, nfds, o->sb_tty != 0 ? 2 : 1, err,
	    errlen) == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return 0;
}

pid_t
sandbox_spawn(const struct sandbox_opts *o, int *fds, size_t *nfds, int *pty,
    int *ctl, char *err, size_t errlen)
{
	struct sandbox_argtext text;
	size_t argc = 0, i;
	char **argv;
	int sp[2], exe;
	pid_t pid;

	*ctl = -1;
	*pty = -1;
	for (i = 0; o->sb_argv[i] != NULL; i++)
		argc++;
	if ((argv = calloc(argc + o->sb_nmasks + 8, sizeof(*argv))) == NULL) {
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
	sandbox_init_argv(o, sp[1], &text, argv);
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET |
	    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWCGROUP |
	    SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == -1) {
		sandbox_refused(errno, err, errlen);
		goto fail;
	}
	if (pid == 0) {
		close(sp[0]);
		sandbox_child(sp[1], exe, argv, o->sb_envp);
	}
	close(sp[1]);
	sp[1] = -1;
	if (sandbox_handshake(pid, sp[0], o, fds, nfds, err, errlen) == -1)
		goto fail;
	/* The terminal, when asked for, comes after the listeners. */
	if (o->sb_tty != 0)
		*pty = fds[--*nfds];
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

int
sandbox_start(int ctl)
{
	return write(ctl, "s", 1) == 1 ? 0 : -1;
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

/* Send `text` with descriptors `fds` (`n`, at most SANDBOX_MAX_FDS). */
static int
sandbox_send_fds(int sock, const char *text, const int *fds, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAX_FDS)];
	struct iovec iov = { (void *)text, strlen(text) };
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
	return sendmsg(sock, &m, MSG_NOSIGNAL) == -1 ? -1 : 0;
}

/* Cover one credential file or directory named by the launcher. A path
 * that does not exist has nothing to hide.
 *
 * A file is covered where it is now: one renamed over it later (rotation)
 * would be readable. A Kubernetes secret volume rotates exactly that way
 * (its "..data" link is swapped), and holds nothing but secrets, so a file
 * in one is hidden with its whole directory. */
static void
sandbox_mask(int ctl, const char *path)
{
	char what[PATH_MAX + 64], dir[PATH_MAX];
	struct stat st;
	char *slash;
	int r;

	if (stat(path, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return;
		snprintf(what, sizeof(what), "cannot hide the credential "
		    "file %s", path);
		sandbox_die(ctl, what);
	}
	if (!S_ISDIR(st.st_mode) && snprintf(dir, sizeof(dir), "%s", path) <
	    (int)sizeof(dir) && (slash = strrchr(dir, '/')) != NULL &&
	    slash != dir) {
		struct stat data;

		*slash = '\0';
		if (fstatat(AT_FDCWD, dir, &data, 0) == 0 &&
		    S_ISDIR(data.st_mode) && snprintf(what, sizeof(what),
		    "%s/..data", dir) > 0 && lstat(what, &data) == 0) {
			path = dir;
			st.st_mode = S_IFDIR;
		}
	}
	if (S_ISDIR(st.st_mode))
		r = mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID |
		    MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=0555");
	else
		r = mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (r == -1) {
		snprintf(what, sizeof(what), "cannot hide the credential "
		    "%s %s", S_ISDIR(st.st_mode) ? "directory" : "file", path);
		sandbox_die(ctl, what);
	}
}

/* Make `path` (and every mount below it) read-only. Paths that do not
 * exist are skipped. Returns 0 or -1. */
static int
sandbox_readonly(const char *path)
{
	struct mount_attr attr;
	struct statvfs sv;

	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) == -1)
		return errno == ENOENT ? 0 : -1;
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY;
	if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &attr,
	    sizeof(attr)) == 0)
		return 0;
	/* Before Linux 5.12: the top mount only, keeping the flags a user
	 * namespace may not drop. */
	if (statvfs(path, &sv) == -1)
		return -1;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
	    (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) |
	    (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
	    (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0), NULL);
}

/* The devices a sandboxed command gets, bound from the host's /dev into a
 * fresh one; GPUs when the machine has them (they are made for unprivileged
 * use, and agents run models). Everything else stays out: consoles and
 * serial lines (readable terminals), loop-control, kmsg, kvm, fuse, tun,
 * vsock... a root launcher's uid 0 would otherwise reach them all. */
static const char *const sandbox_devices[] = {
	"null", "zero", "full", "random", "urandom", "tty",
};

static bool
sandbox_gpu_device(const char *name)
{
	return strncmp(name, "nvidia", 6) == 0 || strcmp(name, "dri") == 0;
}

/* Bind the host's /dev entry `name` (held open as `fd`) into the new /dev. */
static int
sandbox_bind_device(int fd, const char *name, bool dir)
{
	char src[64], dst[PATH_MAX];
	int t;

	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	snprintf(dst, sizeof(dst), "/dev/%s", name);
	if (dir ? mkdir(dst, 0755) == -1 :
	    (t = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == -1)
		return -1;
	if (!dir)
		close(t);
	return mount(src, dst, NULL, MS_BIND | MS_REC, NULL);
}

/* A device kept for the new /dev, held open while the tmpfs covers the
 * host's. */
struct sandbox_devkeep {
	int	dk_fd;
	char	dk_name[NAME_MAX + 1];
	bool	dk_dir;
};

/* Open the devices the sandbox keeps, and the GPUs present, before /dev is
 * covered. Returns how many (at most `max`); those missing are skipped. */
static size_t
sandbox_dev_open(struct sandbox_devkeep *keep, size_t max)
{
	struct dirent *de;
	size_t n = 0, i;
	DIR *d;

	for (i = 0; i < sizeof(sandbox_devices) / sizeof(char *); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/%s", sandbox_devices[i]);
		if ((keep[n].dk_fd = open(path, O_PATH | O_CLOEXEC)) == -1)
			continue;
		snprintf(keep[n].dk_name, sizeof(keep[n].dk_name), "%s",
		    sandbox_devices[i]);
		keep[n].dk_dir = false;
		n++;
	}
	if ((d = opendir("/dev")) != NULL) {
		while ((de = readdir(d)) != NULL && n < max)
			if (sandbox_gpu_device(de->d_name) &&
			    (keep[n].dk_fd = openat(dirfd(d), de->d_name,
			    O_PATH | O_CLOEXEC)) != -1) {
				snprintf(keep[n].dk_name,
				    sizeof(keep[n].dk_name), "%s", de->d_name);
				keep[n].dk_dir = de->d_type == DT_DIR;
				n++;
			}
		closedir(d);
	}
	return n;
}

/* Fill the fresh /dev: the kept devices (closing them), the usual links,
 * a devpts instance and /dev/shm. Any failure is fatal: a /dev half made
 * is no /dev to run a command in. */
static void
sandbox_dev_fill(int ctl, struct sandbox_devkeep *keep, size_t n)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" }, { "pts/ptmx", "/dev/ptmx" },
	};
	size_t i;

	for (i = 0; i < n; i++) {
		if (sandbox_bind_device(keep[i].dk_fd, keep[i].dk_name,
		    keep[i].dk_dir) == -1) {
			char what[128];

			snprintf(what, sizeof(what), "cannot put /dev/%s into "
			    "the sandbox", keep[i].dk_name);
			sandbox_die(ctl, what);
		}
		close(keep[i].dk_fd);
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) == -1)
			sandbox_die(ctl, "cannot fill the sandbox's /dev");
	if (mkdir("/dev/pts", 0755) == -1 || mkdir("/dev/shm", 01777) == -1 ||
	    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	    "newinstance,ptmxmode=0666,mode=0620") == -1 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=01777") == -1)
		sandbox_die(ctl, "cannot mount the sandbox's /dev/pts and "
		    "/dev/shm");
}

/* Replace /dev with a tmpfs holding only the devices above, its own
 * devpts and an empty /dev/shm. Where that is refused (a container that
 * forbids it), fall back to the host's /dev with a private devpts. */
static void
sandbox_dev(int ctl)
{
	struct sandbox_devkeep keep[64];
	struct mount_attr attr;
	size_t n, i;

	n = sandbox_dev_open(keep, sizeof(keep) / sizeof(keep[0]));
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
	    "mode=0755,size=64k") == -1) {
		for (i = 0; i < n; i++)
			close(keep[i].dk_fd);
		(void)mount("devpts", "/dev/pts", "devpts", MS_NOSUID |
		    MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
		return;
	}
	sandbox_dev_fill(ctl, keep, n);
	/* Nothing new appears in /dev itself. */
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY;
	(void)mount_setattr(AT_FDCWD, "/dev", 0, &attr, sizeof(attr));
}

/* The sandbox's view of the filesystem: its own /proc and devpts, the
 * kernel's knobs read-only, the host's other terminals and the credential
 * files covered. */
static void
sandbox_mounts(int ctl, char **masks, size_t nmasks)
{
	/* Root inside is root for file permissions (the ids map one to
	 * one), and writing a sysctl checks nothing more: with
	 * kernel.core_pattern alone the command could have the kernel run a
	 * program of its choice as real root outside. Read-only, as
	 * container runtimes make them. */
	static const char *const readonly[] = {
		"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
		"/proc/fs", "/sys",
	};
	/* What the host's kernel tells about other users and itself: the
	 * keyrings' names, timers, the kernel's memory. */
	static const char *const hidden[] = {
		"/proc/keys", "/proc/key-users", "/proc/kcore",
		"/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats",
	};
	char what[64];
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		sandbox_die(ctl, "cannot make mounts private");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL) == -1)
		sandbox_die(ctl, "cannot mount a private /proc (in a "
		    "container, masked /proc paths forbid it)");
	for (i = 0; i < sizeof(readonly) / sizeof(readonly[0]); i++)
		if (sandbox_readonly(readonly[i]) == -1) {
			snprintf(what, sizeof(what), "cannot make %s "
			    "read-only", readonly[i]);
			sandbox_die(ctl, what);
		}
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (mount("/dev/null", hidden[i], NULL, MS_BIND, NULL) == -1 &&
		    errno != ENOENT) {
			snprintf(what, sizeof(what), "cannot hide %s",
			    hidden[i]);
			sandbox_die(ctl, what);
		}
	/* A /dev of our own, with a devpts instance of our own: the user's
	 * terminals and the host's devices are not in it, and /dev/ptmx
	 * makes terminals in this instance. The seccomp filter refuses
	 * TIOCSTI on whatever terminal is opened anyway. */
	sandbox_dev(ctl);
	for (i = 0; i < nmasks; i++)
		sandbox_mask(ctl, masks[i]);
}

/* A pseudo-terminal in the sandbox's devpts. Returns the master, with the
 * slave (not our controlling terminal) in *slave, or -1. */
static int
sandbox_open_pty(int *slave)
{
	int master;

	if ((master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	if (unlockpt(master) == -1 ||
	    (*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		close(master);
		return -1;
	}
	return master;
}

int
sandbox_harden(bool allow_unix, int *notify_fd, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int cap;

	*notify_fd = -1;
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
	return sysfilter_load(allow_unix, notify_fd, err, errlen);
}

/* The command's side of the fork: a session of its own (with the
 * sandbox's terminal, if any, on the descriptors in `tty`), harden, exec,
 * report failure as an errno on `report` (-1: hardening failed). */
static void __attribute__((noreturn))
sandbox_exec_command(char **argv, bool allow_unix, unsigned tty, int slave,
    int report)
{
	char err[256];
	sigset_t none;
	int e = -1, fd, nfd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() == -1) {
		snprintf(err, sizeof(err), "setsid: %s", strerror(errno));
		goto fail;
	}
	if (slave != -1) {
		if (ioctl(slave, TIOCSCTTY, 0) == -1) {
			snprintf(err, sizeof(err), "cannot give the command "
			    "its terminal: %s", strerror(errno));
			goto fail;
		}
		for (fd = 0; fd <= 2; fd++)
			if ((tty & (1u << fd)) && dup2(slave, fd) == -1) {
				snprintf(err, sizeof(err), "dup2: %s",
				    strerror(errno));
				goto fail;
			}
		close(slave);
	}
	if (sandbox_harden(allow_unix, &nfd, err, sizeof(err)) == -1)
		goto fail;
	if (sandbox_send_fds(report, "n", &nfd, 1) == -1) {
		snprintf(err, sizeof(err), "cannot pass the seccomp listener: "
		    "%s", strerror(errno));
		goto fail;
	}
	close(nfd);
	execvp(argv[0], argv);
	e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);
fail:
	dprintf(STDERR_FILENO, "sluice: %s\n", err);
	(void)!write(report, &e, sizeof(e));
	_exit(SANDBOX_EXIT_FAIL);
}

/* Follow the command to its exec: collect the filter's listener, then EOF
 * (exec happened: returns 0) or an errno (-1 for a hardening failure) in
 * *e (returns -1). */
static int
sandbox_await_exec(int report, int *notify_fd, int *e)
{
	union { int err; char text[8]; } msg;
	size_t nfds;
	ssize_t n;
	int fd;

	for (;;) {
		if ((n = sandbox_recv_fds(report, &msg, sizeof(msg), &fd, 1,
		    &nfds)) <= 0)
			return 0;
		if (nfds == 1) {
			if (*notify_fd != -1)
				close(*notify_fd);
			*notify_fd = fd;
			continue;
		}
		if (n == (ssize_t)sizeof(int)) {
			*e = msg.err;
			return -1;
		}
	}
}

/* "unix,quiet,-" and the like. */
static bool
sandbox_flag(const char *flags, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = flags; (p = strstr(p, name)) != NULL; p += n)
		if ((p == flags || p[-1] == ',') && p[n] == ',')
			return true;
	return false;
}

/* What sandbox_spawn told the init on its command line. */
struct sandbox_init_args {
	int		 ia_ctl;	/* the control socket */
	unsigned long	 ia_port;
	bool		 ia_allow_unix;
	bool		 ia_quiet;
	unsigned	 ia_tty;	/* which of 0-2 are terminals */
	char		**ia_masks;	/* credential files to cover */
	size_t		 ia_nmasks;
	char		**ia_cmd;
};

/* Read back the command line sandbox_init_argv wrote. Anything else was not
 * started by sluice run: say so and exit. */
static void
sandbox_init_args(int argc, char **argv, struct sandbox_init_args *a)
{
	size_t nmasks;
	char *end;

	for (nmasks = 0; 6 + nmasks < (size_t)argc &&
	    strcmp(argv[5 + nmasks], "--") != 0; nmasks++)
		;
	if (argc < 7 || 6 + nmasks >= (size_t)argc) {
		fprintf(stderr, "sluice: __sandbox is internal to sluice run\n");
		_exit(SANDBOX_EXIT_FAIL);
	}
	a->ia_ctl = (int)strtol(argv[1], &end, 10);
	if (*end != '\0' || fcntl(a->ia_ctl, F_SETFD, FD_CLOEXEC) == -1) {
		fprintf(stderr, "sluice: __sandbox is internal to sluice run\n");
		_exit(SANDBOX_EXIT_FAIL);
	}
	a->ia_port = strtoul(argv[2], &end, 10);
	a->ia_allow_unix = sandbox_flag(argv[3], "unix");
	a->ia_quiet = sandbox_flag(argv[3], "quiet");
	a->ia_tty = (unsigned)strtoul(argv[4], &end, 10) & 7u;
	a->ia_masks = argv + 5;
	a->ia_nmasks = nmasks;
	a->ia_cmd = argv + 6 + nmasks;
}

/* Make what the launcher serves from outside (loopback up, the proxy's
 * listeners on it, the terminal if asked for) and hand it over; from here
 * on errors go to stderr. Returns the terminal's slave, or -1. */
static int
sandbox_hand_over(int ctl, unsigned long port, unsigned tty)
{
	int fds[SANDBOX_MAX_FDS], master, slave = -1;
	size_t nfds = 0, i;

	if (sandbox_loopback_up() == -1)
		sandbox_die(ctl, "cannot bring up loopback");
	if ((fds[nfds] = sandbox_listener(AF_INET, (uint16_t)port)) == -1)
		sandbox_die(ctl, "cannot listen on 127.0.0.1 in the sandbox");
	nfds++;
	/* IPv6 may be disabled on this host; IPv4 is enough then. */
	if ((fds[nfds] = sandbox_listener(AF_INET6, (uint16_t)port)) != -1)
		nfds++;
	if (tty != 0) {
		if ((master = sandbox_open_pty(&slave)) == -1)
			sandbox_die(ctl, "cannot make the sandbox's terminal");
		fds[nfds++] = master;
	}
	if (sandbox_send_fds(ctl, "ok", fds, nfds) == -1)
		sandbox_die(ctl, "cannot pass the listeners out");
	sandbox_handed_over = true;
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return slave;
}

/* The launcher sets the terminal up, then says go; without it (the
 * launcher died) the command never starts. */
static void
sandbox_await_go(int ctl)
{
	ssize_t n;
	char go;

	do
		n = read(ctl, &go, 1);
	while (n == -1 && errno == EINTR);
	if (n != 1)
		_exit(SANDBOX_EXIT_FAIL);
}

/* The signals the init handles (SIGCHLD and those it forwards) arrive
 * through a signalfd, so the loop reads them in order with everything
 * else. Returns the signalfd. */
static int
sandbox_init_signals(int ctl)
{
	sigset_t set;
	size_t i;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (i = 0; i < sizeof(sandbox_forwarded) / sizeof(int); i++)
		sigaddset(&set, sandbox_forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1)
		sandbox_die(ctl, "cannot set up the sandbox's init");
	return sfd;
}

/* Fork the command and follow it to its exec: when it cannot start, the
 * init exits with its status (127 not found, 126 not runnable). Returns the
 * command's pid, with the filter's listener in *notify_fd. */
static pid_t
sandbox_start_command(int ctl, const struct sandbox_init_args *a, int slave,
    int *notify_fd)
{
	int report[2], e, status;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report) == -1)
		sandbox_die(ctl, "cannot set up the sandbox's init");
	if ((child = fork()) == -1)
		sandbox_die(ctl, "cannot start the command");
	if (child == 0)
		sandbox_exec_command(a->ia_cmd, a->ia_allow_unix, a->ia_tty,
		    slave, report[1]);
	close(report[1]);
	/* Our own messages (refusals) go where the command's stderr goes. */
	if (slave != -1) {
		if (a->ia_tty & 4u)
			dup2(slave, STDERR_FILENO);
		close(slave);
	}
	e = 0;
	if (sandbox_await_exec(report[0], notify_fd, &e) == -1) {
		close(report[0]);
		waitpid(child, &status, 0);
		if (e != -1)
			fprintf(stderr, "sluice: cannot run %s: %s\n",
			    a->ia_cmd[0], strerror(e));
		_exit(e == -1 ? SANDBOX_EXIT_FAIL : e == ENOENT ? 127 : 126);
	}
	close(report[0]);
	return child;
}

/* Reap every process that has exited (orphans are ours too); when the
 * command is among them, exit with its status. */
static void
sandbox_reap(pid_t child)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p != child)
			continue;
		if (WIFSIGNALED(status))
			_exit(128 + WTERMSIG(status));
		_exit(WEXITSTATUS(status));
	}
}

/* Act on one signal from the signalfd: SIGCHLD reaps, and a signal that a
 * process sent goes on to the command. */
static void
sandbox_on_signal(int sfd, pid_t child)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo != SIGCHLD) {
		/* Only what the launcher (or another process) sent. */
		if (si.ssi_code != SI_KERNEL)
			kill(child, (int)si.ssi_signo);
		return;
	}
	sandbox_reap(child);
}

/* The init's life while the command runs: signals, the filter's
 * notifications, and the launcher's end of the control socket, until the
 * command exits (its status is ours) or the launcher goes (everything
 * inside is killed). */
static void __attribute__((noreturn))
sandbox_init_loop(int ctl, int sfd, int notify_fd, pid_t child,
    struct sysfilter_seen *seen)
{
	struct pollfd pfd[3];

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = ctl;
	pfd[1].events = POLLIN;
	pfd[2].fd = notify_fd;
	pfd[2].events = POLLIN;
	for (;;) {
		if (poll(pfd, 3, -1) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* The launcher is gone: so is the sandbox. */
			kill(-1, SIGKILL);
			_exit(SANDBOX_EXIT_FAIL);
		}
		if (pfd[2].revents & POLLIN) {
			if (sysfilter_answer(notify_fd, seen) == -1)
				pfd[2].fd = -1;
		} else if (pfd[2].revents & (POLLHUP | POLLERR))
			pfd[2].fd = -1;	/* no filtered process is left */
		if (pfd[0].revents & POLLIN)
			sandbox_on_signal(sfd, child);
	}
	kill(-1, SIGKILL);
	_exit(SANDBOX_EXIT_FAIL);
}

void
sandbox_init_main(int argc, char **argv)
{
	struct sandbox_init_args a;
	struct sysfilter_seen seen;
	int sfd, slave, notify_fd = -1;
	pid_t child;

	sandbox_init_args(argc, argv, &a);
	memset(&seen, 0, sizeof(seen));
	seen.fs_quiet = a.ia_quiet;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Nothing inside may read this process's memory. */
	prctl(PR_SET_DUMPABLE, 0);
	/* Out of the caller's session: its terminal is not ours. */
	(void)setsid();

	sandbox_mounts(a.ia_ctl, a.ia_masks, a.ia_nmasks);
	slave = sandbox_hand_over(a.ia_ctl, a.ia_port, a.ia_tty);
	sandbox_await_go(a.ia_ctl);
	sfd = sandbox_init_signals(a.ia_ctl);
	child = sandbox_start_command(a.ia_ctl, &a, slave, &notify_fd);
	sandbox_init_loop(a.ia_ctl, sfd, notify_fd, child, &seen);
}
