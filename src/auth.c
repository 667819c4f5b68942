/* SPDX-License-Identifier: MIT */
/*
 * Basic authentication. Password hashes (bcrypt, SHA-crypt, yescrypt) cost
 * milliseconds by design, so they run on a few worker threads; the loop only
 * decodes the header and consults the cache. The cache is keyed by an HMAC of
 * the header value under a random per-process key, never the plaintext, and
 * an entry is only valid for the configuration generation that produced it,
 * so a new users file invalidates everything at once.
 *
 * Known weakness: failed verifications are not cached or rate-limited, so a
 * client hammering wrong passwords keeps the workers busy.
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "b64.h"
#include "config.h"
#include "ev.h"
#include "log.h"

#define AUTH_CACHE_SLOTS	4096	/* power of two */
#define AUTH_CACHE_TTL_SEC	300
#define AUTH_MAX_CRED		1024

struct auth_cache_entry {
	uint8_t		ce_digest[32];
	uint64_t	ce_gen;		/* 0 = empty */
	time_t		ce_expiry;
	size_t		ce_user;	/* index into the userdb's entries */
};

struct auth_job {
	struct auth_job		*j_next;
	struct config		*j_cfg;		/* reference held */
	struct auth_mailbox	*j_mb;
	auth_done_cb		*j_cb;		/* NULL once cancelled */
	void			*j_arg;
	uint8_t			 j_digest[32];
	enum auth_result	 j_result;
	size_t			 j_user;
	size_t			 j_credlen;
	char			 j_cred[AUTH_MAX_CRED];	/* user:password */
};

struct auth_mailbox {
	struct ev_io		 mb_io;
	int			 mb_fd;		/* eventfd */
	pthread_mutex_t		 mb_lock;
	struct auth_job		*mb_done;
};

static struct {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct auth_job		*head, **tail;
	bool			 stop;
	pthread_t		*threads;
	unsigned		 nthreads;
	uint8_t			 key[32];
	pthread_mutex_t		 cache_lock;
	struct auth_cache_entry	*cache;
} auth = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.cache_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* A valid bcrypt hash of a random string, verified against when the user is
 * unknown so that unknown and known users take the same time. */
static char auth_dummy_hash[CRYPT_OUTPUT_SIZE];

static void
auth_digest(const char *s, size_t len, uint8_t out[32])
{
	unsigned int olen = 32;

	HMAC(EVP_sha256(), auth.key, sizeof(auth.key), (const uint8_t *)s, len,
	    out, &olen);
}


int
auth_decode_basic(const char *hdr, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (len < 6 || strncasecmp(hdr, "basic", 5) != 0 ||
	    (hdr[5] != ' ' && hdr[5] != '\t'))
		return -1;
	for (i = 5; i < len && (hdr[i] == ' ' || hdr[i] == '\t'); i++)
		;
	while (len > i && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
		len--;
	return b64_decode(hdr + i, len - i, out, outlen);
}

static struct auth_cache_entry *
auth_cache_slot(const uint8_t digest[32])
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return &auth.cache[h & (AUTH_CACHE_SLOTS - 1)];
}

/* Look a digest up; returns the user index + 1, or 0. */
static size_t
auth_cache_get(const uint8_t digest[32], uint64_t gen)
{
	struct auth_cache_entry *e;
	size_t user = 0;
	time_t now = time(NULL);

	pthread_mutex_lock(&auth.cache_lock);
	e = auth_cache_slot(digest);
	if (e->ce_gen == gen && e->ce_expiry > now &&
	    CRYPTO_memcmp(e->ce_digest, digest, 32) == 0)
		user = e->ce_user + 1;
	pthread_mutex_unlock(&auth.cache_lock);
	return user;
}

static void
auth_cache_put(const uint8_t digest[32], uint64_t gen, size_t user)
{
	struct auth_cache_entry *e;

	pthread_mutex_lock(&auth.cache_lock);
	e = auth_cache_slot(digest);
	memcpy(e->ce_digest, digest, 32);
	e->ce_gen = gen;
	e->ce_expiry = time(NULL) + AUTH_CACHE_TTL_SEC;
	e->ce_user = user;
	pthread_mutex_unlock(&auth.cache_lock);
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
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return;
	e = colon ? userdb_find(db, j->j_cred, (size_t)(colon - j->j_cred)) :
	    NULL;
	if (e == NULL) {
		/* Same work as a real check: no user-name oracle by timing. */
		(void)crypt_rn(colon ? colon + 1 : "", auth_dummy_hash, cd,
		    sizeof(*cd));
	}
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

static void *
auth_worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct auth_job *j;
		uint64_t one = 1;

		pthread_mutex_lock(&auth.lock);
		while (auth.head == NULL && !auth.stop)
			pthread_cond_wait(&auth.cond, &auth.lock);
		if (auth.stop) {
			pthread_mutex_unlock(&auth.lock);
			return NULL;
		}
		j = auth.head;
		if ((auth.head = j->j_next) == NULL)
			auth.tail = &auth.head;
		pthread_mutex_unlock(&auth.lock);

		auth_verify(j);
		explicit_bzero(j->j_cred, sizeof(j->j_cred));

		pthread_mutex_lock(&j->j_mb->mb_lock);
		j->j_next = j->j_mb->mb_done;
		j->j_mb->mb_done = j;
		pthread_mutex_unlock(&j->j_mb->mb_lock);
		(void)!write(j->j_mb->mb_fd, &one, sizeof(one));
	}
}

int
auth_init(unsigned nthreads)
{
	struct crypt_data *cd;
	char salt[64], rnd[16];
	sigset_t all, old;
	unsigned i;

	if (getrandom(auth.key, sizeof(auth.key), 0) != sizeof(auth.key))
		return -1;
	auth.cache = calloc(AUTH_CACHE_SLOTS, sizeof(*auth.cache));
	if (auth.cache == NULL)
		return -1;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -1;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	if (crypt_gensalt_rn("$2b$", 5, NULL, 0, salt, sizeof(salt)) == NULL ||
	    crypt_rn("sluice-dummy", salt, cd, sizeof(*cd)) == NULL) {
		free(cd);
		errno = EINVAL;
		return -1;
	}
	snprintf(auth_dummy_hash, sizeof(auth_dummy_hash), "%s", cd->output);
	free(cd);
	auth.tail = &auth.head;
	auth.stop = false;
	auth.threads = calloc(nthreads, sizeof(*auth.threads));
	if (auth.threads == NULL)
		return -1;
	/* Workers never take signals: they belong to the loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		int e = pthread_create(&auth.threads[i], NULL, auth_worker, NULL);

		if (e != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = e;
			return -1;
		}
		auth.nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void
auth_shutdown(void)
{
	unsigned i;

	pthread_mutex_lock(&auth.lock);
	auth.stop = true;
	pthread_cond_broadcast(&auth.cond);
	pthread_mutex_unlock(&auth.lock);
	for (i = 0; i < auth.nthreads; i++)
		pthread_join(auth.threads[i], NULL);
	while (auth.head != NULL) {
		struct auth_job *j = auth.head;

		auth.head = j->j_next;
		explicit_bzero(j->j_cred, sizeof(j->j_cred));
		config_unref(j->j_cfg);
		free(j);
	}
	auth.tail = &auth.head;
	free(auth.threads);
	auth.threads = NULL;
	auth.nthreads = 0;
	if (auth.cache != NULL)
		explicit_bzero(auth.cache, AUTH_CACHE_SLOTS * sizeof(*auth.cache));
	free(auth.cache);
	auth.cache = NULL;
	explicit_bzero(auth.key, sizeof(auth.key));
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
		if (j->j_result == AUTH_OK) {
			auth_cache_put(j->j_digest, j->j_cfg->c_generation,
			    j->j_user);
			user = j->j_cfg->c_users.d_entries[j->j_user].u_name;
		}
		if (j->j_cb != NULL)
			j->j_cb(j->j_arg, j->j_result, user);
		config_unref(j->j_cfg);
		free(j);
	}
}

struct auth_mailbox *
auth_mailbox_new(struct ev_loop *loop)
{
	struct auth_mailbox *mb = calloc(1, sizeof(*mb));

	if (mb == NULL)
		return NULL;
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

enum auth_result
auth_check(struct config *cfg, const char *hdr, size_t len,
    struct auth_mailbox *mb, auth_done_cb *cb, void *arg, const char **user,
    struct auth_job **jobp)
{
	struct auth_job *j;
	uint8_t digest[32];
	size_t u;
	int n;

	*user = NULL;
	*jobp = NULL;
	if (hdr == NULL)
		return AUTH_MISSING;
	if (len >= AUTH_MAX_CRED * 2)
		return AUTH_FAILED;
	auth_digest(hdr, len, digest);
	if ((u = auth_cache_get(digest, cfg->c_generation)) != 0) {
		*user = cfg->c_users.d_entries[u - 1].u_name;
		return AUTH_OK;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return AUTH_FAILED;
	n = auth_decode_basic(hdr, len, j->j_cred, sizeof(j->j_cred));
	if (n <= 0 || memchr(j->j_cred, ':', (size_t)n) == NULL) {
		explicit_bzero(j->j_cred, sizeof(j->j_cred));
		free(j);
		return AUTH_FAILED;
	}
	j->j_credlen = (size_t)n;
	j->j_cfg = config_ref(cfg);
	j->j_mb = mb;
	j->j_cb = cb;
	j->j_arg = arg;
	memcpy(j->j_digest, digest, sizeof(digest));
	pthread_mutex_lock(&auth.lock);
	*auth.tail = j;
	auth.tail = &j->j_next;
	pthread_cond_signal(&auth.cond);
	pthread_mutex_unlock(&auth.lock);
	*jobp = j;
	return AUTH_PENDING;
}

void
auth_cancel(struct auth_job *job)
{
	job->j_cb = NULL;
	job->j_arg = NULL;
}
