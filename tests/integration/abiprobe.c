/* SPDX-License-Identifier: MIT */
/*
 * abiprobe: one system call through the other entry points of an x86_64
 * kernel, for test_run_escape.py (which compiles it with `cc`). A seccomp
 * filter written for x86_64 system call numbers must not let these through:
 * the i386 entry point (int $0x80, with its own numbering: socket is 359,
 * getpid 20) and the x32 one (the x86_64 numbers with bit 30 set).
 *
 *   abiprobe i386-socket FAMILY   socket(FAMILY, SOCK_STREAM, 0) through int $0x80
 *   abiprobe x32-socket FAMILY    socket(FAMILY, SOCK_STREAM, 0) as syscall 0x40000000 | 41
 *   abiprobe i386-getpid          getpid() through int $0x80
 *   abiprobe x32-getpid           getpid() as syscall 0x40000000 | 39
 *
 * Prints "ok N" (what the call returned) or "error ENAME" and exits 0, so a
 * run that prints nothing and dies of SIGSYS was stopped at the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define I386_NR_GETPID		20
#define I386_NR_SOCKET		359
#define X32_SYSCALL_BIT		0x40000000L
#define X86_64_NR_GETPID	39
#define X86_64_NR_SOCKET	41

static long
i386_syscall3(long nr, long a, long b, long c)
{
	long r;

	/* The i386 ABI: number in eax, arguments in ebx, ecx, edx; the
	 * 64-bit kernel's int $0x80 path may clobber r8-r11. */
	__asm__ volatile ("int $0x80"
	    : "=a" (r)
	    : "a" (nr), "b" (a), "c" (b), "d" (c)
	    : "r8", "r9", "r10", "r11", "memory", "cc");
	return (long)(int)r;	/* a 32-bit result: -4095..-1 is -errno */
}

static int
report(long r)
{
	if (r < 0 && r > -4096) {
		const char *name = strerrorname_np((int)-r);

		printf("error %s\n", name != NULL ? name : "E?");
	} else
		printf("ok %ld\n", r);
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	long family = argc > 2 ? strtol(argv[2], NULL, 0) : 0;
	long r;

	if (strcmp(what, "i386-socket") == 0 && argc == 3)
		return report(i386_syscall3(I386_NR_SOCKET, family, SOCK_STREAM,
		    0));
	if (strcmp(what, "i386-getpid") == 0 && argc == 2)
		return report(i386_syscall3(I386_NR_GETPID, 0, 0, 0));
	if (strcmp(what, "x32-socket") == 0 && argc == 3) {
		r = syscall(X32_SYSCALL_BIT | X86_64_NR_SOCKET, family,
		    SOCK_STREAM, 0);
		return report(r == -1 ? -(long)errno : r);
	}
	if (strcmp(what, "x32-getpid") == 0 && argc == 2) {
		r = syscall(X32_SYSCALL_BIT | X86_64_NR_GETPID);
		return report(r == -1 ? -(long)errno : r);
	}
	fprintf(stderr, "usage: abiprobe i386-socket FAMILY | x32-socket FAMILY | "
	    "i386-getpid | x32-getpid\n");
	return 2;
}
