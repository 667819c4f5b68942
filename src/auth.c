/* SPDX-License-Identifier: MIT */
/*
 * Basic authentication. Password hashes (bcrypt, SHA-crypt, yescrypt) cost
 * milliseconds by design, so they run on a few worker threads; the loop only
 * decodes the header and consults the caches. The caches are keyed by an
 * HMAC of the header value under a random per-process key, never the
 * plaintext, and an entry is only valid for the configuration generation
 * that produced it, so a new users file invalidates everything at once.
 *
 * Hashing is the one resource a client can make the proxy spend at will, so
 * it is rationed:
 *   - answers are cached, right ones for 5 minutes and wrong ones for 30
 *     seconds, so repeating a password costs nothing after the first check;
 *   - a check identical to one in flight (a burst of connections with the
 *     same credentials) waits for that one's answer instead of hashing;
 *   - each client address (IPv6: its /64) has a token bucket of hash work,
 *     auth_rate N/s burst M; beyond it the answer is an immediate 429;
 *   - at most AUTH_MAX_QUEUE checks wait, beyond which the answer is 503;
 *   - the waiting checks are queued per client address and the workers
 *     take the addresses in turn, so an address's checks wait behind at
 *     most one check of each other address, however many it queued (a
 *     rate of expensive hashes would otherwise keep the workers busy for
 *     everyone: the rate counts checks, not their cost);
 *   - a check whose connection has gone is dropped before it is hashed.
 * So one address flooding wrong passwords gets at most its burst and rate
 * of hashes, and everyone else's checks are taken in turn with its own.
 *
 * An unknown user is checked against the hash of a real user picked by an
 * HMAC of the name: the same scheme and cost as real checks, so timing does
 * not tell which names exist.
 */
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "basic.h"
#include "config.h"
#include "ev.h"
#include "log.h"

#define AUTH_CACHE_SLOTS	4096	/* power of two */
#define AUTH_CACHE_TTL_SEC	300
#define AUTH_FAIL_TTL_SEC	30
#define AUTH_MAX_CRED		1024
#define AUTH_MAX_QUEUE		512	/* checks waiting for a worker */
#define AUTH_BUCKETS		4096	/* client addresses tracked; power of 2 */
#define AUTH_BUCKET_PROBE	8

struct auth_cache_entry {
	uint8_t		ce_digest[32];
	uint64_t	ce_gen;		/* 0 = empty */
	time_t		ce_expiry;
	size_t		ce_user;	/* index into the userdb's entries */
};

struct auth_job {
	struct auth_job		*j_next;	/* queue, then mailbox */
	struct auth_job		*j_inflight;	/* leaders in flight */
	struct auth_job		*j_followers;	/* waiting on this answer */
	struct config		*j_cfg;		/* reference held */
	struct auth_mailbox	*j_mb;
	auth_done_cb		*j_cb;		/* NULL once cancelled */
	void			*j_arg;
	atomic_bool		 j_cancelled;
	uint8_t			 j_digest[32];
	enum auth_result	 j_result;
	size_t			 j_user;
	size_t			 j_credlen;
	char			 j_cred[AUTH_MAX_CRED];	/* user:password */
};

struct auth_mailbox {
	struct auth_pool	*mb_pool;
	struct ev_io		 mb_io;
	int			 mb_fd;		/* eventfd */
	pthread_mutex_t		 mb_lock;
	struct auth_job		*mb_done;
};

/* The checks of one client address waiting for a worker; the addresses
 * with checks waiting form a ring the workers go round. */
struct auth_flow {
	uint8_t		 f_key[16];
	struct auth_job	*f_head, **f_tail;
	struct auth_flow *f_next;
};

/* Hash work left to a client address (IPv4, or an IPv6 /64). */
struct auth_bucket {
	uint8_t		b_key[16];
	uint64_t	b_last_ms;	/* 0 = empty */
	uint64_t	b_milli;	/* tokens * 1000 */
};

/* The hashing threads and everything they share. One per `serve` or `run`,
 * shared by all its workers (each has its own mailbox). */
struct auth_pool {
	pthread_mutex_t		 lock;		/* queue, in-flight, buckets */
	pthread_cond_t		 cond;
	struct auth_flow	*flows, **flows_tail;	/* the ring */
	size_t			 queued;
	struct auth_job		*inflight;
	bool			 stop;
	pthread_t		*threads;
	unsigned		 nthreads;
	uint8_t			 key[32];	/* of the cache digests */
	/* HMAC-SHA256 keyed once with `key`: re-initialising it per digest
	 * costs a fifth of HMAC()'s one-shot, which fetches the algorithm
	 * and sets the key every time (issue 17). NULL: use HMAC(). */
	pthread_mutex_t		 mac_lock;
	EVP_MAC_CTX		*mac;
	pthread_mutex_t		 cache_lock;
	struct auth_cache_entry	*cache;		/* right answers */
	struct auth_cache_entry	*failed;	/* wrong ones */
	struct auth_bucket	*buckets;
	/* A valid bcrypt hash of a random string, for an unknown user when
	 * the users file is empty. */
	char			 dummy_hash[CRYPT_OUTPUT_SIZE];
};

static void
auth_digest(struct auth_pool *ap, const char *s, size_t len, uint8_t out[32])
{
	unsigned int olen = 32;
	size_t got = 0;
	bool ok;

	if (ap->mac != NULL) {
		pthread_mutex_lock(&ap->mac_lock);
		ok = EVP_MAC_init(ap->mac, NULL, 0, NULL) == 1 &&
		    EVP_MAC_update(ap->mac, (const uint8_t *)s, len) == 1 &&
		    EVP_MAC_final(ap->mac, out, &got, 32) == 1 && got == 32;
		pthread_mutex_unlock(&ap->mac_lock);
		if (ok)
			return;
	}
	HMAC(EVP_sha256(), ap->key, sizeof(ap->key), (const uint8_t *)s, len,
	    out, &olen);
}

/* Key ap->mac with ap->key; without it auth_digest uses HMAC(), which gives
 * the same digests, slower. */
static void
auth_mac_setup(struct auth_pool *ap)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac;

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return;
	if ((ap->mac = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(ap->mac, ap->key, sizeof(ap->key), params) != 1) {
		EVP_MAC_CTX_free(ap->mac);
		ap->mac = NULL;
	}
	EVP_MAC_free(mac);
}

static uint64_t
auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct auth_cache_entry *
auth_cache_slot(struct auth_cache_entry *table, const uint8_t digest[32])
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return &table[h & (AUTH_CACHE_SLOTS - 1)];
}

/* Look a digest up in `table`; returns the user index + 1, or 0. */
static size_t
auth_cache_get(struct auth_pool *ap, struct auth_cache_entry *table, const uint8_t digest[32],
    uint64_t gen)
{
	struct auth_cache_entry *e;
	size_t user = 0;
	time_t now = time(NULL);

	pthread_mutex_lock(&ap->cache_lock);
	e = auth_cache_slot(table, digest);
	if (e->ce_gen == gen && e->ce_expiry > now &&
	    CRYPTO_memcmp(e->ce_digest, digest, 32) == 0)
		user = e->ce_user + 1;
	pthread_mutex_unlock(&ap->cache_lock);
	return user;
}

static void
auth_cache_put(struct auth_pool *ap, struct auth_cache_entry *table, const uint8_t digest[32],
    uint64_t gen, size_t user, int ttl)
{
	struct auth_cache_entry *e;

	pthread_mutex_lock(&ap->cache_lock);
	e = auth_cache_slot(table, digest);
	memcpy(e->ce_digest, digest, 32);
	e->ce_gen = gen;
	e->ce_expiry = time(NULL) + ttl;
	e->ce_user = user;
	pthread_mutex_unlock(&ap->cache_lock);
}

/* The bucket key of a client address: IPv4 (also v4-mapped) whole, IPv6
 * by its /64, which one host usually holds entirely. */
static void
auth_bucket_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8);
		}
	}
}

/* Take one hash from the bucket of `from`. Caller holds ap->lock.
 * Returns false when the address has spent its budget. A full table
 * recycles the least recently used slot near the key's home. */
static bool
auth_bucket_take(struct auth_pool *ap, const struct sockaddr *from,
    const struct config *cfg)
{
	struct auth_bucket *b = NULL, *oldest = NULL;
	uint8_t key[16];
	uint64_t now = auth_now_ms(), cap, h = 1469598103934665603ull;
	size_t i, slot;

	auth_bucket_key(from, key);
	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	for (i = 0; i < AUTH_BUCKET_PROBE; i++) {
		slot = (size_t)(h + i) & (AUTH_BUCKETS - 1);
		if (ap->buckets[slot].b_last_ms != 0 &&
		    memcmp(ap->buckets[slot].b_key, key, 16) == 0) {
			b = &ap->buckets[slot];
			break;
		}
		if (oldest == NULL ||
		    ap->buckets[slot].b_last_ms < oldest->b_last_ms)
			oldest = &ap->buckets[slot];
	}
	cap = (uint64_t)cfg->c_auth_burst * 1000;
	if (b == NULL) {
		b = oldest;
		memcpy(b->b_key, key, 16);
		b->b_milli = cap;
	} else {
		b->b_milli += (now - b->b_last_ms) * cfg->c_auth_rate;
		if (b->b_milli > cap)
			b->b_milli = cap;
	}
	b->b_last_ms = now != 0 ? now : 1;
	if (b->b_milli < 1000)
		return false;
	b->b_milli -= 1000;
	return true;
}

/* The hash to check an unknown user's password against: a real user's,
 * chosen by an HMAC of the name, so the work is that of a real check. */
static const char *
auth_stand_in(struct auth_pool *ap, const struct userdb *db,
    const char *name, size_t len)
{
	uint8_t d[32];
	uint64_t h;

	if (db->d_count == 0)
		return ap->dummy_hash;
	auth_digest(ap, name, len, d);
	memcpy(&h, d, sizeof(h));
	return db->d_entries[1 + h % db->d_count].u_hash;
}

/* Queue `j` behind the other checks of its client address (a new address
 * joins the end of the ring). Caller holds ap->lock. Returns 0, or -1
 * when out of memory. */
static int
auth_flow_push(struct auth_pool *ap, const struct sockaddr *from,
    struct auth_job *j)
{
	struct auth_flow *f;
	uint8_t key[16];

	auth_bucket_key(from, key);
	for (f = ap->flows; f != NULL; f = f->f_next)
		if (memcmp(f->f_key, key, sizeof(key)) == 0)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return -1;
		memcpy(f->f_key, key, sizeof(key));
		f->f_tail = &f->f_head;
		*ap->flows_tail = f;
		ap->flows_tail = &f->f_next;
	}
	j->j_next = NULL;
	*f->f_tail = j;
	f->f_tail = &j->j_next;
	return 0;
}

/* The next check to hash: the first of the address at the head of the
 * ring, which then goes to the end (or leaves it, when it has no more).
 * Caller holds ap->lock; the ring is not empty. */
static struct auth_job *
auth_flow_pop(struct auth_pool *ap)
{
	struct auth_flow *f = ap->flows;
	struct auth_job *j = f->f_head;

	if ((f->f_head = j->j_next) == NULL)
		f->f_tail = &f->f_head;
	if ((ap->flows = f->f_next) == NULL)
		ap->flows_tail = &ap->flows;
	f->f_next = NULL;
	if (f->f_head != NULL) {
		*ap->flows_tail = f;
		ap->flows_tail = &f->f_next;
	} else
		free(f);
	j->j_next = NULL;
	return j;
}

/* Runs on a worker: verify job->j_cred against the users of j_cfg. */
static void
auth_verify(struct auth_job *j)
{
	const struct userdb *db = &j->j_cfg->c_users;
	const struct user_entry *e;
	struct crypt_data *cd;
	char *colon = memchr(j->j_cred, ':', j->j_credlen);
	bool ok = false;

	j->j_result = AUTH_FAILED;
	if (colon == NULL || (cd = calloc(1, sizeof(*cd))) == NULL)
		return;
	e = userdb_find(db, j->j_cred, (size_t)(colon - j->j_cred));
	if (e == NULL)
		(void)crypt_rn(colon + 1, auth_stand_in(j->j_mb->mb_pool, db, j->j_cred,
		    (size_t)(colon - j->j_cred)), cd, sizeof(*cd));
	for (; e != NULL && !ok; e = e->u_next ? &db->d_entries[e->u_next] :
	    NULL) {
		const char *h = crypt_rn(colon + 1, e->u_hash, cd, sizeof(*cd));
		size_t hl = strlen(e->u_hash);

		if (h != NULL && strlen(h) == hl &&
		    CRYPTO_memcmp(h, e->u_hash, hl) == 0) {
			ok = true;
			j->j_user = (size_t)(e - db->d_entries);
			j->j_result = AUTH_OK;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
}

/* Hand a finished job to its loop. */
static void
auth_post(struct auth_job *j)
{
	uint64_t one = 1;

	pthread_mutex_lock(&j->j_mb->mb_lock);
	j->j_next = j->j_mb->mb_done;
	j->j_mb->mb_done = j;
	pthread_mutex_unlock(&j->j_mb->mb_lock);
	(void)!write(j->j_mb->mb_fd, &one, sizeof(one));
}

/* Is anyone still waiting for this leader's answer? Caller holds
 * ap->lock. */
static bool
auth_wanted(const struct auth_job *j)
{
	const struct auth_job *f;

	if (!atomic_load(&j->j_cancelled))
		return true;
	for (f = j->j_followers; f != NULL; f = f->j_next)
		if (!atomic_load(&f->j_cancelled))
			return true;
	return false;
}

static void *
auth_worker(void *arg)
{
	struct auth_pool *ap = arg;

	for (;;) {
		struct auth_job *j, *f, **pp;
		bool wanted;

		pthread_mutex_lock(&ap->lock);
		while (ap->flows == NULL && !ap->stop)
			pthread_cond_wait(&ap->cond, &ap->lock);
		if (ap->stop) {
			pthread_mutex_unlock(&ap->lock);
			return NULL;
		}
		j = auth_flow_pop(ap);
		ap->queued--;
		wanted = auth_wanted(j);
		pthread_mutex_unlock(&ap->lock);

		j->j_result = AUTH_FAILED;
		if (wanted) {
			auth_verify(j);
			if (j->j_result == AUTH_OK)
				auth_cache_put(ap, ap->cache, j->j_digest,
				    j->j_cfg->c_generation, j->j_user,
				    AUTH_CACHE_TTL_SEC);
			else
				auth_cache_put(ap, ap->failed, j->j_digest,
				    j->j_cfg->c_generation, 0,
				    AUTH_FAIL_TTL_SEC);
		}
		explicit_bzero(j->j_cred, sizeof(j->j_cred));

		/* Out of flight: later identical checks hit the cache. */
		pthread_mutex_lock(&ap->lock);
		for (pp = &ap->inflight; *pp != NULL; pp = &(*pp)->j_inflight)
			if (*pp == j) {
				*pp = j->j_inflight;
				break;
			}
		f = j->j_followers;
		j->j_followers = NULL;
		pthread_mutex_unlock(&ap->lock);
		while (f != NULL) {
			struct auth_job *next = f->j_next;

			f->j_result = j->j_result;
			f->j_user = j->j_user;
			auth_post(f);
			f = next;
		}
		auth_post(j);
	}
}

/* The parts of a pool that are not threads: keys, caches, buckets and the
 * stand-in hash. Returns 0 or -1 with errno. */
static int
auth_pool_setup(struct auth_pool *ap)
{
	struct crypt_data *cd;
	char salt[64];

	pthread_mutex_init(&ap->lock, NULL);
	pthread_cond_init(&ap->cond, NULL);
	pthread_mutex_init(&ap->cache_lock, NULL);
	pthread_mutex_init(&ap->mac_lock, NULL);
	ap->flows_tail = &ap->flows;
	if (getrandom(ap->key, sizeof(ap->key), 0) != sizeof(ap->key))
		return -1;
	auth_mac_setup(ap);
	ap->cache = calloc(AUTH_CACHE_SLOTS, sizeof(*ap->cache));
	ap->failed = calloc(AUTH_CACHE_SLOTS, sizeof(*ap->failed));
	ap->buckets = calloc(AUTH_BUCKETS, sizeof(*ap->buckets));
	if (ap->cache == NULL || ap->failed == NULL || ap->buckets == NULL)
		return -1;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	if (crypt_gensalt_rn("$2b$", 5, NULL, 0, salt, sizeof(salt)) == NULL ||
	    crypt_rn("sluice-dummy", salt, cd, sizeof(*cd)) == NULL) {
		free(cd);
		errno = EINVAL;
		return -1;
	}
	snprintf(ap->dummy_hash, sizeof(ap->dummy_hash), "%s", cd->output);
	free(cd);
	return 0;
}

/* Start `nthreads` hashing threads, which never take signals (they belong
 * to the loop's signalfd). Returns 0 or -1 with errno. */
static int
auth_pool_start(struct auth_pool *ap, unsigned nthreads)
{
	sigset_t all, old;
	unsigned i;
	int e = 0;

	if ((ap->threads = calloc(nthreads, sizeof(*ap->threads))) == NULL)
		return -1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads && e == 0; i++)
		if ((e = pthread_create(&ap->threads[i], NULL, auth_worker,
		    ap)) == 0)
			ap->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return e == 0 ? 0 : -1;
}

struct auth_pool *
auth_pool_new(unsigned nthreads)
{
	struct auth_pool *ap = calloc(1, sizeof(*ap));
	int e;

	if (ap == NULL)
		return NULL;
	if (auth_pool_setup(ap) == -1 || auth_pool_start(ap, nthreads) == -1) {
		e = errno;
		auth_pool_free(ap);
		errno = e;
		return NULL;
	}
	return ap;
}

/* Checks nobody will hash any more (the threads have stopped). */
static void
auth_pool_drop_queue(struct auth_pool *ap)
{
	while (ap->flows != NULL) {
		struct auth_job *j = auth_flow_pop(ap), *f;

		while ((f = j->j_followers) != NULL) {
			j->j_followers = f->j_next;
			config_unref(f->j_cfg);
			free(f);
		}
		explicit_bzero(j->j_cred, sizeof(j->j_cred));
		config_unref(j->j_cfg);
		free(j);
	}
}

void
auth_pool_free(struct auth_pool *ap)
{
	unsigned i;

	if (ap == NULL)
		return;
	pthread_mutex_lock(&ap->lock);
	ap->stop = true;
	pthread_cond_broadcast(&ap->cond);
	pthread_mutex_unlock(&ap->lock);
	for (i = 0; i < ap->nthreads; i++)
		pthread_join(ap->threads[i], NULL);
	auth_pool_drop_queue(ap);
	free(ap->threads);
	if (ap->cache != NULL)
		explicit_bzero(ap->cache, AUTH_CACHE_SLOTS * sizeof(*ap->cache));
	if (ap->failed != NULL)
		explicit_bzero(ap->failed, AUTH_CACHE_SLOTS *
		    sizeof(*ap->failed));
	free(ap->cache);
	free(ap->failed);
	free(ap->buckets);
	pthread_mutex_destroy(&ap->lock);
	pthread_cond_destroy(&ap->cond);
	pthread_mutex_destroy(&ap->cache_lock);
	EVP_MAC_CTX_free(ap->mac);
	pthread_mutex_destroy(&ap->mac_lock);
	explicit_bzero(ap, sizeof(*ap));
	free(ap);
}

static void
auth_mailbox_ready(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct auth_mailbox *mb = arg;
	struct auth_job *list, *j;
	uint64_t n;

	(void)loop;
	(void)events;
	while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	pthread_mutex_lock(&mb->mb_lock);
	list = mb->mb_done;
	mb->mb_done = NULL;
	pthread_mutex_unlock(&mb->mb_lock);
	while ((j = list) != NULL) {
		const char *user = NULL;

		list = j->j_next;
		if (j->j_result == AUTH_OK)
			user = j->j_cfg->c_users.d_entries[j->j_user].u_name;
		if (j->j_cb != NULL)
			j->j_cb(j->j_arg, j->j_result, user);
		config_unref(j->j_cfg);
		free(j);
	}
}

struct auth_mailbox *
auth_mailbox_new(struct auth_pool *ap, struct ev_loop *loop)
{
	struct auth_mailbox *mb = calloc(1, sizeof(*mb));

	if (mb == NULL)
		return NULL;
	mb->mb_pool = ap;
	if ((mb->mb_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(mb);
		return NULL;
	}
	pthread_mutex_init(&mb->mb_lock, NULL);
	if (ev_io_add(loop, &mb->mb_io, mb->mb_fd, EV_READ, auth_mailbox_ready,
	    mb) == -1) {
		close(mb->mb_fd);
		free(mb);
		return NULL;
	}
	return mb;
}

void
auth_mailbox_free(struct auth_mailbox *mb)
{
	if (mb == NULL)
		return;
	while (mb->mb_done != NULL) {
		struct auth_job *j = mb->mb_done;

		mb->mb_done = j->j_next;
		config_unref(j->j_cfg);
		free(j);
	}
	close(mb->mb_fd);
	pthread_mutex_destroy(&mb->mb_lock);
	free(mb);
}

/* Decode the Basic header `hdr` into j_cred. Returns AUTH_PENDING when it
 * holds "user:password" (its length then in j_credlen), else AUTH_AMBIGUOUS
 * or AUTH_FAILED. */
static enum auth_result
auth_decode(struct auth_job *j, const char *hdr, size_t len)
{
	int n = basic_decode(hdr, len, j->j_cred, sizeof(j->j_cred));

	if (n > 0 && basic_ambiguous(j->j_cred, (size_t)n))
		return AUTH_AMBIGUOUS;
	if (n <= 0 || memchr(j->j_cred, ':', (size_t)n) == NULL)
		return AUTH_FAILED;
	j->j_credlen = (size_t)n;
	return AUTH_PENDING;
}

/* What the caches remember of `digest` under `cfg`'s generation: AUTH_OK
 * with the user in *user, AUTH_FAILED, or AUTH_PENDING when neither knows
 * and a hash must be computed. */
static enum auth_result
auth_cached(struct auth_pool *ap, const struct config *cfg, const uint8_t digest[32],
    const char **user)
{
	size_t u;

	if ((u = auth_cache_get(ap, ap->cache, digest, cfg->c_generation)) != 0) {
		*user = cfg->c_users.d_entries[u - 1].u_name;
		return AUTH_OK;
	}
	if (auth_cache_get(ap, ap->failed, digest, cfg->c_generation) != 0)
		return AUTH_FAILED;
	return AUTH_PENDING;
}

/* The check in flight that asks the same question (same digest, same
 * generation), or NULL. Caller holds ap->lock. */
static struct auth_job *
auth_inflight_find(struct auth_pool *ap, const uint8_t digest[32],
    uint64_t gen)
{
	struct auth_job *leader;

	for (leader = ap->inflight; leader != NULL;
	    leader = leader->j_inflight)
		if (leader->j_cfg->c_generation == gen &&
		    CRYPTO_memcmp(leader->j_digest, digest, 32) == 0)
			break;
	return leader;
}

/* Hand `j` to the workers, under ap->lock (taken and released here): as a
 * follower of the same question in flight, or queued behind its address's
 * checks while the address has hash work left and the queue has room.
 * Returns AUTH_PENDING (`j` now belongs to the queue), or AUTH_THROTTLED or
 * AUTH_BUSY (`j` is still the caller's). */
static enum auth_result
auth_enqueue(struct auth_pool *ap, struct auth_job *j,
    const struct sockaddr *from,
    const struct config *cfg)
{
	enum auth_result r = AUTH_PENDING;
	struct auth_job *leader;

	pthread_mutex_lock(&ap->lock);
	leader = auth_inflight_find(ap, j->j_digest, cfg->c_generation);
	if (leader != NULL) {
		/* The same question is being answered: wait for it. */
		explicit_bzero(j->j_cred, sizeof(j->j_cred));
		j->j_next = leader->j_followers;
		leader->j_followers = j;
	} else if (!auth_bucket_take(ap, from, cfg))
		r = AUTH_THROTTLED;
	else if (ap->queued >= AUTH_MAX_QUEUE ||
	    auth_flow_push(ap, from, j) == -1)
		r = AUTH_BUSY;
	else {
		ap->queued++;
		j->j_inflight = ap->inflight;
		ap->inflight = j;
		pthread_cond_signal(&ap->cond);
	}
	pthread_mutex_unlock(&ap->lock);
	return r;
}

enum auth_result
auth_check(struct config *cfg, const char *hdr, size_t len,
    const struct sockaddr *from, struct auth_mailbox *mb, auth_done_cb *cb,
    void *arg, const char **user, struct auth_job **jobp)
{
	struct auth_pool *ap = mb->mb_pool;
	struct auth_job *j;
	enum auth_result r;
	uint8_t digest[32];

	*user = NULL;
	*jobp = NULL;
	if (hdr == NULL)
		return AUTH_MISSING;
	if (len >= AUTH_MAX_CRED * 2)
		return AUTH_FAILED;
	/* A cached answer needs neither a job nor the header decoded: only
	 * a header that decoded can have been checked and cached. */
	auth_digest(ap, hdr, len, digest);
	if ((r = auth_cached(ap, cfg, digest, user)) != AUTH_PENDING)
		return r;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return AUTH_BUSY;
	memcpy(j->j_digest, digest, sizeof(digest));
	if ((r = auth_decode(j, hdr, len)) != AUTH_PENDING)
		goto done;
	j->j_cfg = config_ref(cfg);
	j->j_mb = mb;
	j->j_cb = cb;
	j->j_arg = arg;
	if ((r = auth_enqueue(ap, j, from, cfg)) == AUTH_PENDING) {
		*jobp = j;
		return r;
	}
	config_unref(j->j_cfg);
done:
	explicit_bzero(j->j_cred, sizeof(j->j_cred));
	free(j);
	return r;
}

void
auth_cancel(struct auth_job *job)
{
	job->j_cb = NULL;
	job->j_arg = NULL;
	atomic_store(&job->j_cancelled, true);
}
