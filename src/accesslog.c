/* SPDX-License-Identifier: MIT */
/* The access log: formatting records (pure and bounded, every text field
 * escaped so that no input can add a field or a line, and cut with a marker
 * instead of ever dropping the record), and writing them on a thread of the
 * log's own so that a slow or failing destination never stalls a worker.
 *
 * Writing. There is one struct accesslog per worker loop, each with a writer
 * thread. The loop formats lines into a staging buffer and, at the end of
 * each event batch, hands them over as one chunk on a queue (a mutex and a
 * condition variable); the writer writes the chunks in order. A reopen is a
 * chunk too, so lines written before it go to the old file and lines after
 * it to the new one, and the loop never waits for the old file. The queue is
 * bounded (ACCESSLOG_QUEUE_MAX bytes per log): when the destination does not
 * keep up (a pipe nobody reads), further batches are dropped and counted.
 * To anything but a regular file a write is at most PIPE_BUF bytes and ends
 * at a line end, so workers sharing a pipe on stdout never interleave partial
 * lines; a regular file gets a whole chunk per write, which the kernel keeps
 * whole too (O_APPEND, or the one file offset of a shared stdout).
 *
 * Losses are counted per process, not per log: every worker writes to the
 * same destination, and the operator wants one message when an episode starts
 * (a write error with its errno, or the queue overflowing), one when writing
 * works again with the number of lines lost in between, and the count of any
 * still unreported when the log is closed. Nothing is dropped silently.
 *
 * Closing writes out what is queued, waiting for the writer a bounded time.
 * A writer blocked in write(2) on a pipe nobody reads cannot be interrupted
 * without a signal handler (pthread_cancel unwinds through code that does
 * not expect it, and sanitizers object): close then leaves it behind, blocked,
 * with the log's memory and descriptors, which it frees itself if it is ever
 * unblocked; the lines it still held are reported as lost. Known weakness:
 * the first open of a FIFO waits for a reader, as open(2) does (nothing is
 * served yet then); a reopen does not wait, it fails with ENXIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "ev.h"
#include "log.h"
#include "utf8.h"

#define ACCESSLOG_BATCH		 (64 * 1024)	/* staged per event batch */
#define ACCESSLOG_QUEUE_MAX	 (4 * 1024 * 1024) /* waiting, per log */
#define ACCESSLOG_CLOSE_MS	 2000u
#define ACCESSLOG_CLOSE_AGAIN_MS 100u		/* just after a close gave up */
#define ACCESSLOG_CUT_LEN	 (sizeof(ACCESSLOG_CUT) - 1)
#define ACCESSLOG_ESC_MAX	 12	/* longest escape: a surrogate pair */

_Static_assert(ACCESSLOG_LINE_MAX <= PIPE_BUF,
    "a line must fit in one atomic write to a pipe");
/* Nine text fields from outside (eight at ACCESSLOG_FIELD_MAX, the URL at
 * its own limit) with their quotes, and less than 512 bytes of names,
 * separators, numbers and our own short words (test_accesslog.c formats the
 * worst case): no line is ever cut. */
_Static_assert(8 * (ACCESSLOG_FIELD_MAX + 2) + ACCESSLOG_URL_MAX + 2 + 512 <
    ACCESSLOG_LINE_MAX, "the longest record must fit in a line");
_Static_assert(ACCESSLOG_FIELD_MAX >= ACCESSLOG_CUT_LEN + ACCESSLOG_ESC_MAX,
    "a cut field must keep some of its text");
_Static_assert(ACCESSLOG_BATCH >= 2 * ACCESSLOG_LINE_MAX, "batch too small");

/* ---- formatting ---- */

/* A line being built in a caller's buffer; never written past o_cap. */
struct accesslog_out {
	char	*o_buf;
	size_t	 o_len;
	size_t	 o_cap;
};

enum accesslog_esc {
	ACCESSLOG_ESC_SQUID = 0,
	ACCESSLOG_ESC_SQUID_URL,	/* '%' kept: the URL is %-encoded */
	ACCESSLOG_ESC_JSON,
};

static void
accesslog_put(struct accesslog_out *o, const char *s, size_t n)
{
	if (n > o->o_cap - o->o_len)
		n = o->o_cap - o->o_len;
	memcpy(o->o_buf + o->o_len, s, n);
	o->o_len += n;
}

static void accesslog_putf(struct accesslog_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
accesslog_putf(struct accesslog_out *o, const char *fmt, ...)
{
	size_t room = o->o_cap - o->o_len;
	va_list ap;
	int n;

	/* o_buf has a byte beyond o_cap for vsnprintf's NUL. */
	va_start(ap, fmt);
	n = vsnprintf(o->o_buf + o->o_len, room + 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->o_len += (size_t)n > room ? room : (size_t)n;
}

/* "\uXXXX" (lower-case hex, as JSON encoders write it) into `e`. */
static size_t
accesslog_json_u(char *e, unsigned long u)
{
	static const char hex[] = "0123456789abcdef";

	e[0] = '\\';
	e[1] = 'u';
	e[2] = hex[(u >> 12) & 15];
	e[3] = hex[(u >> 8) & 15];
	e[4] = hex[(u >> 4) & 15];
	e[5] = hex[u & 15];
	return 6;
}

/* Escape the character at `s` (NUL-terminated, not at its end) into `e`
 * (ACCESSLOG_ESC_MAX bytes). Returns the escape's length; *used is the
 * number of input bytes it stands for. */
static size_t
accesslog_escape(enum accesslog_esc how, const unsigned char *s, char *e,
    size_t *used)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c = s[0];
	long cp;

	*used = 1;
	if (how != ACCESSLOG_ESC_JSON) {
		if (c > ' ' && c < 0x7f && (c != '%' ||
		    how == ACCESSLOG_ESC_SQUID_URL)) {
			e[0] = (char)c;
			return 1;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		return 3;
	}
	if (c == '"' || c == '\\') {
		e[0] = '\\';
		e[1] = (char)c;
		return 2;
	}
	if (c >= ' ' && c < 0x7f) {
		e[0] = (char)c;
		return 1;
	}
	if (c < 0x80)
		return accesslog_json_u(e, c);
	/* Non-ASCII: the code point, so the line stays ASCII (no terminal
	 * tricks) and decodes to the original text; a byte that is not
	 * valid UTF-8 cannot be put into JSON and becomes U+FFFD. */
	if ((cp = utf8_decode(s, strnlen((const char *)s, 4), used)) < 0)
		return accesslog_json_u(e, 0xfffd);
	if (cp < 0x10000)
		return accesslog_json_u(e, (unsigned long)cp);
	cp -= 0x10000;
	accesslog_json_u(e, 0xd800 + ((unsigned long)cp >> 10));
	accesslog_json_u(e + 6, 0xdc00 + ((unsigned long)cp & 0x3ff));
	return 12;
}

/* Append `s` escaped, at most `max` bytes: when the whole would be longer,
 * the longest prefix of whole escapes that leaves room for ACCESSLOG_CUT,
 * then the marker. */
static void
accesslog_text(struct accesslog_out *o, enum accesslog_esc how,
    const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = o->o_len, keep = 0, used, n;
	char e[ACCESSLOG_ESC_MAX];

	for (; *p != '\0'; p += used) {
		n = accesslog_escape(how, p, e, &used);
		if (o->o_len - start + n > max) {
			o->o_len = start + keep;
			accesslog_put(o, ACCESSLOG_CUT, ACCESSLOG_CUT_LEN);
			return;
		}
		accesslog_put(o, e, n);
		if (o->o_len - start + ACCESSLOG_CUT_LEN <= max)
			keep = o->o_len - start;
	}
}

/* A Squid field: "-" when NULL or empty. */
static void
accesslog_squid_field(struct accesslog_out *o, const char *s, bool url)
{
	if (s == NULL || *s == '\0')
		accesslog_put(o, "-", 1);
	else if (url)
		accesslog_text(o, ACCESSLOG_ESC_SQUID_URL, s,
		    ACCESSLOG_URL_MAX);
	else
		accesslog_text(o, ACCESSLOG_ESC_SQUID, s, ACCESSLOG_FIELD_MAX);
}

/* `name` (a JSON member name with its colon, and the comma before it when
 * not the first), then `s` as a JSON string, or null. */
static void
accesslog_json_member(struct accesslog_out *o, const char *name,
    const char *s, size_t max)
{
	accesslog_put(o, name, strlen(name));
	if (s == NULL) {
		accesslog_put(o, "null", 4);
		return;
	}
	accesslog_put(o, "\"", 1);
	accesslog_text(o, ACCESSLOG_ESC_JSON, s, max);
	accesslog_put(o, "\"", 1);
}

/* Terminate a line built with room for "\n" and NUL beyond o_cap. */
static size_t
accesslog_end(struct accesslog_out *o)
{
	o->o_buf[o->o_len++] = '\n';
	o->o_buf[o->o_len] = '\0';
	return o->o_len;
}

size_t
accesslog_format_squid(const struct logrec *r, char *buf, size_t len)
{
	struct accesslog_out o = { buf, 0, ACCESSLOG_LINE_MAX - 2 };

	if (len < ACCESSLOG_LINE_MAX)
		return 0;
	accesslog_putf(&o, "%lld.%03u %6llu ", (long long)r->lr_sec,
	    r->lr_msec % 1000, (unsigned long long)r->lr_elapsed_ms);
	accesslog_squid_field(&o, r->lr_client, false);
	accesslog_put(&o, " ", 1);
	accesslog_squid_field(&o, r->lr_tag, false);
	accesslog_putf(&o, "/%03d %llu ", r->lr_status,
	    (unsigned long long)r->lr_bytes);
	accesslog_squid_field(&o, r->lr_method, false);
	accesslog_put(&o, " ", 1);
	accesslog_squid_field(&o, r->lr_url, true);
	accesslog_put(&o, " ", 1);
	accesslog_squid_field(&o, r->lr_user, false);
	accesslog_putf(&o, " %s/", r->lr_peer == NULL ? "HIER_NONE" :
	    r->lr_parent ? "FIRSTUP_PARENT" : "HIER_DIRECT");
	accesslog_squid_field(&o, r->lr_peer, false);
	accesslog_put(&o, " ", 1);
	accesslog_squid_field(&o, r->lr_mime, false);
	if (r->lr_policy != NULL) {
		accesslog_put(&o, " policy:", 8);
		accesslog_squid_field(&o, r->lr_policy, false);
	}
	if (r->lr_report != NULL) {
		accesslog_put(&o, " report:", 8);
		accesslog_squid_field(&o, r->lr_report, false);
	}
	if (r->lr_reason != NULL) {
		accesslog_put(&o, " ", 1);
		accesslog_squid_field(&o, r->lr_reason, false);
	}
	return accesslog_end(&o);
}

size_t
accesslog_format_json(const struct logrec *r, char *buf, size_t len)
{
	struct accesslog_out o = { buf, 0, ACCESSLOG_LINE_MAX - 2 };
	const size_t f = ACCESSLOG_FIELD_MAX;

	if (len < ACCESSLOG_LINE_MAX)
		return 0;
	accesslog_putf(&o, "{\"ts\":%lld.%03u", (long long)r->lr_sec,
	    r->lr_msec % 1000);
	accesslog_json_member(&o, ",\"client\":", r->lr_client, f);
	accesslog_json_member(&o, ",\"user\":", r->lr_user, f);
	accesslog_json_member(&o, ",\"method\":", r->lr_method, f);
	accesslog_json_member(&o, ",\"url\":", r->lr_url, ACCESSLOG_URL_MAX);
	accesslog_json_member(&o, ",\"host\":", r->lr_host, f);
	accesslog_putf(&o, ",\"port\":%u,\"decision\":\"%s\"", r->lr_port,
	    r->lr_decision ? r->lr_decision : "allowed");
	accesslog_json_member(&o, ",\"reason\":", r->lr_reason, f);
	accesslog_putf(&o, ",\"status\":%d,\"bytes_to_client\":%llu,"
	    "\"bytes_from_client\":%llu,\"duration_ms\":%llu", r->lr_status,
	    (unsigned long long)r->lr_bytes,
	    (unsigned long long)r->lr_bytes_up,
	    (unsigned long long)r->lr_elapsed_ms);
	if (r->lr_dns_ms >= 0)
		accesslog_putf(&o, ",\"dns_ms\":%lld", (long long)r->lr_dns_ms);
	else
		accesslog_putf(&o, ",\"dns_ms\":null");
	if (r->lr_connect_ms >= 0)
		accesslog_putf(&o, ",\"connect_ms\":%lld",
		    (long long)r->lr_connect_ms);
	else
		accesslog_putf(&o, ",\"connect_ms\":null");
	accesslog_json_member(&o, ",\"upstream\":", r->lr_peer, f);
	accesslog_json_member(&o, ",\"mime\":", r->lr_mime, f);
	accesslog_json_member(&o, ",\"tls\":", r->lr_tls, f);
	accesslog_json_member(&o, ",\"auth\":", r->lr_auth, f);
	accesslog_json_member(&o, ",\"policy\":", r->lr_policy != NULL ?
	    r->lr_policy : "default", f);
	accesslog_json_member(&o, ",\"report\":", r->lr_report, f);
	accesslog_json_member(&o, ",\"sni\":", r->lr_sni, f);
	accesslog_put(&o, "}", 1);
	return accesslog_end(&o);
}

/* ---- writing ---- */

/* A batch of lines, or a switch to another destination (a reopen). */
struct accesslog_chunk {
	struct accesslog_chunk	*ch_next;
	size_t			 ch_len;	/* bytes of lines in ch_data */
	size_t			 ch_lines;
	bool			 ch_switch;
	bool			 ch_owned;	/* a switch: ch_fd is ours */
	int			 ch_fd;		/* a switch: from now on */
	char			 ch_data[];
};

struct accesslog {
	/* The loop thread's. */
	struct ev_loop		*al_loop;
	struct ev_defer		 al_defer;
	bool			 al_on;		/* not "off": al_started */
	bool			 al_json;
	bool			 al_started;	/* al_thread runs */
	pthread_t		 al_thread;
	size_t			 al_len;	/* staged in al_buf */
	size_t			 al_lines;
	/* Shared with the writer, under al_lock. */
	pthread_mutex_t		 al_lock;
	pthread_cond_t		 al_wake;	/* work for the writer, or stop */
	pthread_cond_t		 al_exit;	/* the writer is done */
	struct accesslog_chunk	*al_head;
	struct accesslog_chunk	**al_tail;
	size_t			 al_queued;	/* bytes queued or being written */
	bool			 al_stop;
	bool			 al_done;	/* the writer is past its loop */
	bool			 al_abandoned;	/* by close: the writer frees */
	/* The writer's while it runs (the loop's before, the closer's
	 * after). */
	int			 al_fd;		/* -1 when off */
	bool			 al_owned;	/* close al_fd at the end */
	bool			 al_whole;	/* a regular file: no PIPE_BUF cut */
	struct accesslog_chunk	*al_cur;	/* being written */
	size_t			 al_off;	/* written of al_cur (al_lock) */
	char			 al_buf[ACCESSLOG_BATCH];
};

/* Losses, per process (see the top of the file). */
static struct {
	pthread_mutex_t		 lock;
	bool			 failing;	/* a write error was reported */
	bool			 behind;	/* a full queue was reported */
	atomic_bool		 active;	/* either; read without the lock */
	unsigned long long	 lost;		/* lines, since last reported */
	unsigned long long	 lost_total;	/* lines, since the start */
	struct timespec		 gave_up;	/* a close gave up waiting */
} accesslog_ep = { .lock = PTHREAD_MUTEX_INITIALIZER };

enum accesslog_loss {
	ACCESSLOG_LOSS_WRITE = 0,	/* write(2) failed */
	ACCESSLOG_LOSS_FULL,		/* the queue was full */
	ACCESSLOG_LOSS_NOMEM,		/* no memory to queue them */
	ACCESSLOG_LOSS_CLOSE,		/* not written when the log closed */
};

static size_t
accesslog_count_lines(const char *p, size_t len)
{
	const char *end = p + len, *nl;
	size_t n = 0;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p = nl + 1;
	}
	return n;
}

/* Count `n` lost lines; the first loss of an episode of its kind is reported
 * (`err` for a write error, `queued` bytes for a full queue). */
static void
accesslog_lose(size_t n, enum accesslog_loss why, int err, size_t queued)
{
	bool say = false;

	if (n == 0)
		return;
	pthread_mutex_lock(&accesslog_ep.lock);
	accesslog_ep.lost += n;
	accesslog_ep.lost_total += n;
	if (why == ACCESSLOG_LOSS_WRITE) {
		say = !accesslog_ep.failing;
		accesslog_ep.failing = true;
	} else if (why != ACCESSLOG_LOSS_CLOSE) {
		say = !accesslog_ep.behind;
		accesslog_ep.behind = true;
	}
	atomic_store_explicit(&accesslog_ep.active, accesslog_ep.failing ||
	    accesslog_ep.behind, memory_order_relaxed);
	pthread_mutex_unlock(&accesslog_ep.lock);
	if (!say)
		return;
	switch (why) {
	case ACCESSLOG_LOSS_WRITE:
		errno = err;
		log_warn("access log: write");
		break;
	case ACCESSLOG_LOSS_FULL:
		log_warnx("access log: %zu KiB are waiting to be written; "
		    "dropping lines until the log catches up", queued / 1024);
		break;
	case ACCESSLOG_LOSS_NOMEM:
		errno = err;
		log_warn("access log: queueing lines");
		break;
	case ACCESSLOG_LOSS_CLOSE:
		break;
	}
}

unsigned long long
accesslog_lost_total(void)
{
	unsigned long long n;

	pthread_mutex_lock(&accesslog_ep.lock);
	n = accesslog_ep.lost_total;
	pthread_mutex_unlock(&accesslog_ep.lock);
	return n;
}

static void
accesslog_say_lost(const char *what, unsigned long long n)
{
	log_warnx("access log: %s%llu line%s lost", what, n,
	    n == 1 ? " was" : "s were");
}

/* A writer wrote all it had: an episode of losses, if any, is over. */
static void
accesslog_recovered(void)
{
	unsigned long long n;

	/* Once per batch per worker: no lock unless there is news. */
	if (!atomic_load_explicit(&accesslog_ep.active, memory_order_relaxed))
		return;
	pthread_mutex_lock(&accesslog_ep.lock);
	if (!accesslog_ep.failing && !accesslog_ep.behind) {
		pthread_mutex_unlock(&accesslog_ep.lock);
		return;
	}
	n = accesslog_ep.lost;
	accesslog_ep.lost = 0;
	accesslog_ep.failing = accesslog_ep.behind = false;
	atomic_store_explicit(&accesslog_ep.active, false, memory_order_relaxed);
	pthread_mutex_unlock(&accesslog_ep.lock);
	accesslog_say_lost("writing again, ", n);
}

/* Report losses nobody has reported yet (when a log closes). */
static void
accesslog_report_lost(void)
{
	unsigned long long n;

	pthread_mutex_lock(&accesslog_ep.lock);
	n = accesslog_ep.lost;
	accesslog_ep.lost = 0;
	accesslog_ep.failing = accesslog_ep.behind = false;
	atomic_store_explicit(&accesslog_ep.active, false, memory_order_relaxed);
	pthread_mutex_unlock(&accesslog_ep.lock);
	if (n > 0)
		accesslog_say_lost("", n);
}

static bool
accesslog_regular(int fd)
{
	struct stat st;

	return fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Write al_cur. Returns 0 when written, 1 when the log was abandoned
 * meanwhile (by accesslog_close), or -1 with errno when the rest (from
 * al_off) cannot be written. */
static int
accesslog_put_chunk(struct accesslog *al)
{
	struct accesslog_chunk *ch = al->al_cur;
	size_t off = 0;
	bool abandoned;

	while (off < ch->ch_len) {
		const char *p = ch->ch_data + off;
		size_t n = ch->ch_len - off;
		ssize_t w;

		if (!al->al_whole && n > PIPE_BUF) {
			const char *nl = memrchr(p, '\n', PIPE_BUF);

			n = nl != NULL ? (size_t)(nl - p) + 1 : PIPE_BUF;
		}
		if ((w = write(al->al_fd, p, n)) == -1) {
			if (errno == EAGAIN) {
				/* Someone made a shared stdout
				 * non-blocking. */
				struct pollfd pfd = { al->al_fd, POLLOUT, 0 };

				(void)poll(&pfd, 1, -1);
			} else if (errno != EINTR)
				return -1;
			continue;
		}
		if (w == 0) {
			errno = EIO;	/* no progress: never spin */
			return -1;
		}
		off += (size_t)w;
		pthread_mutex_lock(&al->al_lock);
		al->al_off = off;
		abandoned = al->al_abandoned;
		pthread_mutex_unlock(&al->al_lock);
		if (abandoned)
			return 1;
	}
	return 0;
}

static void
accesslog_switch(struct accesslog *al, struct accesslog_chunk *ch)
{
	if (al->al_owned)
		close(al->al_fd);
	al->al_fd = ch->ch_fd;
	al->al_owned = ch->ch_owned;
	ch->ch_fd = -1;
	ch->ch_owned = false;
	al->al_whole = accesslog_regular(al->al_fd);
}

/* Release `al` and all it holds; its writer is gone (or is the caller). */
static void
accesslog_free(struct accesslog *al)
{
	struct accesslog_chunk *ch;

	free(al->al_cur);
	al->al_cur = NULL;
	while ((ch = al->al_head) != NULL) {
		al->al_head = ch->ch_next;
		if (ch->ch_switch && ch->ch_owned)
			close(ch->ch_fd);
		free(ch);
	}
	if (al->al_owned)
		close(al->al_fd);
	al->al_fd = -1;
	pthread_cond_destroy(&al->al_exit);
	pthread_cond_destroy(&al->al_wake);
	pthread_mutex_destroy(&al->al_lock);
	free(al);
}

static void *
accesslog_writer(void *arg)
{
	struct accesslog *al = arg;
	struct accesslog_chunk *ch;
	bool abandoned;

	pthread_mutex_lock(&al->al_lock);
	for (;;) {
		size_t lost = 0;
		bool empty, was_switch;
		int rc = 0, err = 0;

		while (al->al_head == NULL && !al->al_stop)
			pthread_cond_wait(&al->al_wake, &al->al_lock);
		if (al->al_abandoned || (ch = al->al_head) == NULL)
			break;
		if ((al->al_head = ch->ch_next) == NULL)
			al->al_tail = &al->al_head;
		al->al_cur = ch;
		al->al_off = 0;
		pthread_mutex_unlock(&al->al_lock);

		if ((was_switch = ch->ch_switch))
			accesslog_switch(al, ch);
		else if ((rc = accesslog_put_chunk(al)) == -1)
			err = errno;

		pthread_mutex_lock(&al->al_lock);
		if (al->al_abandoned)
			break;		/* al_cur is counted and freed */
		if (rc == -1)
			lost = accesslog_count_lines(ch->ch_data + al->al_off,
			    ch->ch_len - al->al_off);
		al->al_cur = NULL;
		al->al_queued -= ch->ch_len;
		empty = al->al_head == NULL;
		pthread_mutex_unlock(&al->al_lock);
		free(ch);
		if (rc == -1)
			accesslog_lose(lost, ACCESSLOG_LOSS_WRITE, err, 0);
		else if (empty && !was_switch)
			accesslog_recovered();
		pthread_mutex_lock(&al->al_lock);
	}
	al->al_done = true;
	abandoned = al->al_abandoned;
	pthread_cond_broadcast(&al->al_exit);
	pthread_mutex_unlock(&al->al_lock);
	/* Abandoned, the log is the writer's to free. */
	if (abandoned)
		accesslog_free(al);
	return NULL;
}

/* Queue `ch` for the writer; call with al_lock held. */
static void
accesslog_enqueue(struct accesslog *al, struct accesslog_chunk *ch)
{
	ch->ch_next = NULL;
	*al->al_tail = ch;
	al->al_tail = &ch->ch_next;
	al->al_queued += ch->ch_len;
	pthread_cond_signal(&al->al_wake);
}

/* Give `fd` to a new writer thread. Returns 0, or -1 with errno (and `fd`
 * still the caller's). */
static int
accesslog_start(struct accesslog *al, int fd, bool owned)
{
	sigset_t all, old;
	int e;

	al->al_fd = fd;
	al->al_owned = owned;
	al->al_whole = accesslog_regular(fd);
	/* The writer never takes signals: they belong to the signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&al->al_thread, NULL, accesslog_writer, al);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		al->al_fd = -1;
		al->al_owned = false;
		errno = e;
		return -1;
	}
	al->al_started = al->al_on = true;
	return 0;
}

/* Open what `path` names: *fd -1 for off (NULL), stdout (not *owned), or the
 * file, with `flags` while opening. Returns 0 or -1 with errno. */
static int
accesslog_open_path(const char *path, int flags, int *fd, bool *owned)
{
	int fl;

	*fd = -1;
	*owned = false;
	if (path == NULL)
		return 0;
	if (strcmp(path, "stdout") == 0) {
		*fd = STDOUT_FILENO;
		return 0;
	}
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | flags,
	    0640);
	if (*fd == -1)
		return -1;
	*owned = true;
	/* O_NONBLOCK was for the open only: the writer may block. */
	if ((flags & O_NONBLOCK) && ((fl = fcntl(*fd, F_GETFL)) == -1 ||
	    fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) == -1)) {
		int e = errno;

		close(*fd);
		*fd = -1;
		*owned = false;
		errno = e;
		return -1;
	}
	return 0;
}

struct accesslog *
accesslog_open(struct ev_loop *loop, const char *path)
{
	struct accesslog *al = NULL;
	pthread_condattr_t ca;
	bool owned;
	int fd, e;

	if (accesslog_open_path(path, 0, &fd, &owned) == -1)
		return NULL;
	if ((al = calloc(1, sizeof(*al))) == NULL)
		goto fail;
	al->al_loop = loop;
	al->al_fd = -1;
	al->al_tail = &al->al_head;
	pthread_mutex_init(&al->al_lock, NULL);
	pthread_cond_init(&al->al_wake, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&al->al_exit, &ca);
	pthread_condattr_destroy(&ca);
	if (fd != -1 && accesslog_start(al, fd, owned) == -1)
		goto fail;
	return al;
fail:
	e = errno;
	if (al != NULL)
		accesslog_free(al);	/* not al_fd: still ours */
	if (owned)
		close(fd);
	errno = e;
	return NULL;
}

void
accesslog_set_json(struct accesslog *al, bool json)
{
	al->al_json = json;
}

void
accesslog_flush(struct accesslog *al)
{
	struct accesslog_chunk *ch;
	size_t queued;

	if (al->al_len == 0)
		return;
	if ((ch = malloc(sizeof(*ch) + al->al_len)) == NULL) {
		accesslog_lose(al->al_lines, ACCESSLOG_LOSS_NOMEM, errno, 0);
		goto out;
	}
	memset(ch, 0, sizeof(*ch));
	ch->ch_fd = -1;
	ch->ch_len = al->al_len;
	ch->ch_lines = al->al_lines;
	memcpy(ch->ch_data, al->al_buf, al->al_len);
	pthread_mutex_lock(&al->al_lock);
	if ((queued = al->al_queued) + ch->ch_len > ACCESSLOG_QUEUE_MAX) {
		pthread_mutex_unlock(&al->al_lock);
		free(ch);
		accesslog_lose(al->al_lines, ACCESSLOG_LOSS_FULL, 0, queued);
		goto out;
	}
	accesslog_enqueue(al, ch);
	pthread_mutex_unlock(&al->al_lock);
out:
	al->al_len = 0;
	al->al_lines = 0;
}

static void
accesslog_deferred(struct ev_loop *loop, void *arg)
{
	(void)loop;
	accesslog_flush(arg);
}

void
accesslog_write(struct accesslog *al, const struct logrec *r)
{
	size_t n;

	if (!al->al_on)
		return;
	if (sizeof(al->al_buf) - al->al_len < ACCESSLOG_LINE_MAX)
		accesslog_flush(al);
	n = al->al_json ?
	    accesslog_format_json(r, al->al_buf + al->al_len,
	    ACCESSLOG_LINE_MAX) :
	    accesslog_format_squid(r, al->al_buf + al->al_len,
	    ACCESSLOG_LINE_MAX);
	al->al_len += n;
	al->al_lines++;
	ev_defer(al->al_loop, &al->al_defer, accesslog_deferred, al);
}

int
accesslog_reopen(struct accesslog *al, const char *path)
{
	struct accesslog_chunk *ch;
	bool owned;
	int fd, e;

	/* Non-blocking: a FIFO without a reader fails (ENXIO) rather than
	 * stall the loop until one comes. */
	if (accesslog_open_path(path, O_NONBLOCK, &fd, &owned) == -1)
		return -1;
	if (!al->al_started) {
		if (fd == -1 || accesslog_start(al, fd, owned) == 0)
			return 0;
		goto fail;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		goto fail;
	ch->ch_switch = true;
	ch->ch_fd = fd;
	ch->ch_owned = owned;
	/* What this batch wrote so far belongs to the old file. */
	accesslog_flush(al);
	pthread_mutex_lock(&al->al_lock);
	accesslog_enqueue(al, ch);
	pthread_mutex_unlock(&al->al_lock);
	al->al_on = fd != -1;
	return 0;
fail:
	e = errno;
	if (owned)
		close(fd);
	errno = e;
	return -1;
}

static uint64_t
accesslog_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

/* Tell the writer to finish what is queued and wait for it to exit, at most
 * a bounded time. Returns whether it did; if not, the log is abandoned to
 * the writer (which frees it if it ever gets unstuck), *lost is the number
 * of lines not written, and `al` must not be touched again. *waited_ms is
 * the bound. */
static bool
accesslog_stop(struct accesslog *al, unsigned *waited_ms, size_t *lost)
{
	struct accesslog_chunk *ch;
	struct timespec now, until;
	unsigned ms = ACCESSLOG_CLOSE_MS;
	bool done;
	int e = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Workers close one after another: once one gave up on a stuck
	 * destination, the others do not each wait as long again. */
	pthread_mutex_lock(&accesslog_ep.lock);
	if (accesslog_ep.gave_up.tv_sec != 0 && accesslog_ms(&now) -
	    accesslog_ms(&accesslog_ep.gave_up) < 5000)
		ms = ACCESSLOG_CLOSE_AGAIN_MS;
	pthread_mutex_unlock(&accesslog_ep.lock);
	*waited_ms = ms;
	*lost = 0;
	until.tv_sec = now.tv_sec + ms / 1000;
	until.tv_nsec = now.tv_nsec + (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}

	pthread_mutex_lock(&al->al_lock);
	al->al_stop = true;
	pthread_cond_signal(&al->al_wake);
	while (!al->al_done && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&al->al_exit, &al->al_lock, &until);
	if (!(done = al->al_done)) {
		/* Blocked in write(2) on a pipe nobody reads, most likely:
		 * nothing can interrupt it short of a signal handler. */
		al->al_abandoned = true;
		if ((ch = al->al_cur) != NULL)
			*lost += accesslog_count_lines(ch->ch_data +
			    al->al_off, ch->ch_len - al->al_off);
		for (ch = al->al_head; ch != NULL; ch = ch->ch_next)
			*lost += ch->ch_lines;
	}
	pthread_mutex_unlock(&al->al_lock);
	if (!done) {
		pthread_mutex_lock(&accesslog_ep.lock);
		clock_gettime(CLOCK_MONOTONIC, &accesslog_ep.gave_up);
		pthread_mutex_unlock(&accesslog_ep.lock);
	}
	return done;
}

void
accesslog_close(struct accesslog *al)
{
	pthread_t writer;
	unsigned waited;
	size_t lost;

	if (al == NULL)
		return;
	if (!al->al_started) {
		accesslog_free(al);
		return;
	}
	accesslog_flush(al);
	writer = al->al_thread;
	if (accesslog_stop(al, &waited, &lost)) {
		pthread_join(writer, NULL);
		accesslog_free(al);
	} else {
		pthread_detach(writer);
		log_warnx("access log: gave up waiting for the log after %u ms",
		    waited);
		accesslog_lose(lost, ACCESSLOG_LOSS_CLOSE, 0, 0);
	}
	accesslog_report_lost();
}
