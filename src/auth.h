/* SPDX-License-Identifier: MIT */
/* Proxy authentication (Basic): header decoding, a cache of verified
 * credentials, and a small thread pool that runs the deliberately slow
 * password hashes off the event-loop thread. */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct sockaddr;
struct ev_loop;
struct auth_job;
struct auth_mailbox;

enum auth_result {
	AUTH_OK = 0,		/* user verified (from cache or just now) */
	AUTH_MISSING = 1,	/* no Proxy-Authorization header */
	AUTH_FAILED = 2,	/* malformed, unknown user or wrong password */
	AUTH_PENDING = 3,	/* a worker is verifying; callback follows */
	AUTH_AMBIGUOUS = 4,	/* control bytes in the credentials: a 400 */
	AUTH_THROTTLED = 5,	/* the address's hashing budget is spent */
	AUTH_BUSY = 6,		/* too many checks are waiting already */
};

/* Called on the loop thread when a pending verification ends. `user` is
 * borrowed from the configuration the check ran against. */
typedef void auth_done_cb(void *arg, enum auth_result r, const char *user);

/* The hashing threads, the caches of right and wrong answers (keyed by an
 * HMAC under the pool's own random key) and the auth_rate buckets: one pool
 * per `serve` or `run`, shared by its workers. */
struct auth_pool;

/* Start a pool of `nthreads` verification threads. Returns NULL with errno
 * set. */
struct auth_pool *auth_pool_new(unsigned nthreads);

/* Stop the threads, drop the checks still queued and wipe the caches and
 * the key. Call after every connection using it has cancelled its checks
 * (proxy_close_all) and before the mailboxes are freed. NULL is a no-op. */
void auth_pool_free(struct auth_pool *ap);

/* Create the completion mailbox of one event loop (an eventfd it watches)
 * for checks run by `ap`. Returns NULL with errno set. */
struct auth_mailbox *auth_mailbox_new(struct auth_pool *ap,
    struct ev_loop *loop);

/* Free a mailbox; no job may still be pending on it. */
void auth_mailbox_free(struct auth_mailbox *mb);

/* Check the Proxy-Authorization value `hdr` (`len` bytes, NULL when absent)
 * from a client at `from` against `cfg`. Returns AUTH_OK with *user set
 * (borrowed from `cfg`), AUTH_MISSING, AUTH_FAILED, AUTH_AMBIGUOUS,
 * AUTH_THROTTLED (`from` spent its auth_rate; nothing is hashed), AUTH_BUSY,
 * or AUTH_PENDING with *job set: then `cb(arg)` runs later on the loop
 * thread of `mb`, unless auth_cancel(*job) is called first. Cached answers
 * (right for 5 minutes, wrong for 30 seconds) are never throttled, and a
 * check identical to one already running waits for its answer instead of
 * hashing again. The header bytes are copied and wiped after use. */
enum auth_result auth_check(struct config *cfg, const char *hdr, size_t len,
    const struct sockaddr *from, struct auth_mailbox *mb, auth_done_cb *cb,
    void *arg, const char **user, struct auth_job **job);

/* Forget the callback of a pending job (its owner is going away); a job
 * nobody waits for any more is dropped before it is hashed. Must run on the
 * loop thread that owns the mailbox. */
void auth_cancel(struct auth_job *job);

#endif
