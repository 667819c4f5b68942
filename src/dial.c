/* SPDX-License-Identifier: MIT */
/* Address selection and dialling; see dial.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "dial.h"
#include "host.h"
#include "policy.h"

size_t
dial_select(struct dial *d, const struct policy *p,
    const struct sockaddr_storage *addrs, size_t n, char *why, size_t whylen)
{
	const char *cls = NULL, *first_cls = NULL;
	char first[INET6_ADDRSTRLEN] = "";
	size_t i;

	d->d_naddrs = d->d_next = 0;
	d->d_last_errno = 0;
	for (i = 0; i < n && i < DNS_MAX_ADDRS; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i];

		if (policy_check_addr(p, sa, &cls)) {
			d->d_addrs[d->d_naddrs] = addrs[i];
			addr_unmap((struct sockaddr *)&d->d_addrs[d->d_naddrs]);
			d->d_naddrs++;
		} else if (first_cls == NULL) {
			first_cls = cls;
			addr_format_ip(sa, first, sizeof(first));
		}
	}
	if (d->d_naddrs == 0)
		snprintf(why, whylen, "it resolves only to refused addresses "
		    "(%s %s)", first_cls ? first_cls : "?", first);
	return d->d_naddrs;
}

void
dial_use(struct dial *d, const struct sockaddr_storage *addrs, size_t n)
{
	if (n > DNS_MAX_ADDRS)
		n = DNS_MAX_ADDRS;
	memcpy(d->d_addrs, addrs, n * sizeof(addrs[0]));
	d->d_naddrs = n;
	d->d_next = 0;
	d->d_last_errno = 0;
}

void
dial_literal(const struct host *h, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (h->h_kind == HOST_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = h->h_ip.v4;
		sin->sin_port = htons(h->h_port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = h->h_ip.v6;
		s6->sin6_port = htons(h->h_port);
	}
}

int
dial_next(struct dial *d, const struct sockaddr **sap)
{
	while (d->d_next < d->d_naddrs) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&d->d_addrs[d->d_next++];
		int fd, one = 1;

		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd == -1) {
			d->d_last_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, sa, addr_len(sa)) == -1 &&
		    errno != EINPROGRESS) {
			d->d_last_errno = errno;
			close(fd);
			continue;
		}
		*sap = sa;
		return fd;
	}
	return -1;
}

void
dial_failed(struct dial *d, int err)
{
	d->d_last_errno = err;
}

void
dial_failure(const struct dial *d, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN + 8] = "?";

	if (d->d_naddrs > 0)
		addr_format((const struct sockaddr *)&d->d_addrs[d->d_naddrs -
		    1], a, sizeof(a));
	snprintf(buf, len, "%s (%s)", strerror(d->d_last_errno ?
	    d->d_last_errno : ECONNREFUSED), a);
}
