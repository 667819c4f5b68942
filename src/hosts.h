/* SPDX-License-Identifier: MIT */
/* A hosts_file (the /etc/hosts format): names mapped to addresses, consulted
 * before DNS. Parsing does no I/O. */
#ifndef SLUICE_HOSTS_H
#define SLUICE_HOSTS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "strmap.h"

struct hosts_addr {
	int		ha_family;
	uint8_t		ha_bytes[16];
	size_t		ha_next;	/* next address of the same name, or 0 */
};

struct hostsdb {
	struct strmap		 hd_map;	/* name -> index of first addr */
	struct hosts_addr	*hd_addrs;	/* index 0 unused */
	size_t			 hd_count;
};

/* Initialise an empty table. */
void hosts_init(struct hostsdb *db);

/* Release what the table owns. */
void hosts_free(struct hostsdb *db);

/* Parse one line "ADDRESS NAME [ALIAS...]" (comments after '#'). Names are
 * canonicalised like request hosts. Returns 0, or -1 with a reason in `err`. */
int hosts_parse_line(struct hostsdb *db, const char *line, size_t len,
    char *err, size_t errlen);

/* Fill up to `max` addresses of the canonical `name` into `out`, with `port`.
 * Returns how many (0 when the name is not in the table). */
size_t hosts_lookup(const struct hostsdb *db, const char *name, uint16_t port,
    struct sockaddr_storage *out, size_t max);

#endif
