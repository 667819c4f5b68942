/* SPDX-License-Identifier: MIT */
/*
 * Operating `sluice serve`.
 *
 * Reload. SIGHUP, or a change on disk to the configuration file, its users
 * file, an allow_file or a hosts_file (watched through their directories with
 * inotify, so editors that save by rename are seen too), loads everything
 * into a new configuration and validates it fully before anything changes. An
 * invalid file changes nothing: its errors are logged with file and line and
 * the running configuration stays. A valid one is swapped in: new connections
 * and new requests use it, open tunnels and exchanges finish under the
 * reference they hold, and a configuration is freed with its last user.
 * Listeners are opened and closed to match; connections they accepted carry
 * on. Verified credentials are cached per configuration, so a removed or
 * changed password stops working at the swap.
 *
 * Threads. The main thread is the control thread: a small event loop of its
 * own owns the signalfd, inotify, the reload debounce and the drain timer,
 * and serves no connection. The `workers` event loops, each on a thread of
 * its own, are alike: the control thread binds their listening sockets,
 * posts them messages (proxy_post) and, before it says that something is
 * done, waits for every one to acknowledge (proxy_sync, on eventfds). A
 * worker that does not answer within SERVE_ACK_MS, or a listener it failed
 * to take over, is named on stderr.
 *
 * Signals arrive through a signalfd. SIGUSR1 reopens the access log
 * (logrotate). SIGTERM/SIGINT stop accepting and give open connections up to
 * shutdown_grace to finish; a second one exits at once.
 *
 * Privileges. With `user`/`group`, listeners are bound and the log opened
 * first, then privileges are dropped for good; later reloads run as that
 * user (so they cannot bind privileged ports, and the files must be
 * readable by it). The process is never dumpable: it holds password hashes,
 * credentials in flight and the cache key.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "admin.h"
#include "auth.h"
#include "config.h"
#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "serve.h"
#include "strmap.h"
#include "tally.h"
#include "version.h"

#define SERVE_DEBOUNCE_MS	200
#define SERVE_DRAIN_POLL_MS	100
#define SERVE_ACK_MS		2000	/* a worker answers within it */
#define SERVE_MAX_WATCH		64

struct serve_watch {
	int	 sw_wd;
	char	*sw_dir;
	char	*sw_names[SERVE_MAX_WATCH];	/* basenames that matter */
	size_t	 sw_nnames;
};

/* A listening address as the control thread knows it: every worker has a
 * socket of its own there (SO_REUSEPORT, unless there is one worker). */
struct serve_listener {
	struct sockaddr_storage	 sl_addr;	/* as configured */
	struct sockaddr_storage	 sl_bound;	/* as bound (port 0 resolved) */
	bool			 sl_used;
};

struct serve {
	struct ev_loop		*sv_loop;	/* the control thread's */
	struct config		*sv_cfg;	/* current (our reference) */
	struct proxy		*sv_workers[PROXY_MAX_WORKERS];
	pthread_t		 sv_threads[PROXY_MAX_WORKERS];
	unsigned		 sv_nworkers;
	struct auth_pool	*sv_auth;	/* the hashing threads, shared */
	struct tally		*sv_tunnels;	/* open tunnels per identity */
	unsigned		 sv_started;	/* worker threads running */
	struct serve_listener	 sv_listeners[PROXY_MAX_LISTENERS];
	const char		*sv_path;
	struct ev_io		 sv_sigio;
	int			 sv_sigfd;
	struct ev_io		 sv_inio;
	int			 sv_infd;
	struct serve_watch	 sv_watch[SERVE_MAX_WATCH];
	size_t			 sv_nwatch;
	struct ev_timer		 sv_debounce;
	struct ev_timer		 sv_drain;
	struct ev_timer		 sv_delay;	/* shutdown_delay */
	const char		*sv_stop_sig;
	uint64_t		 sv_deadline;
	bool			 sv_stopping;
	struct admin		*sv_admin;	/* admin_listen, or NULL */
	char			 sv_admin_bound[INET6_ADDRSTRLEN + 8];
	bool			 sv_admin_public;	/* bound for other
							 * machines */
	struct admin_facts	 sv_facts;	/* what its pages show */
	struct stats		*sv_stats[PROXY_MAX_WORKERS];
	char			 sv_lnames[PROXY_MAX_LISTENERS][INET6_ADDRSTRLEN + 16];
	const char		*sv_lname[PROXY_MAX_LISTENERS];
};

/* systemd's notification protocol: one datagram to $NOTIFY_SOCKET. Written
 * by hand because libsystemd would be a dependency for four lines. */
static void
serve_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)!sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	close(fd);
}

/* Split `path` into its directory and base name (new strings). */
static void
serve_split(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*dir = xstrdup(".");
		*base = xstrdup(path);
	} else {
		*dir = slash == path ? xstrdup("/") :
		    xstrndup(path, (size_t)(slash - path));
		*base = xstrdup(slash + 1);
	}
}

static void
serve_unwatch(struct serve *sv)
{
	size_t i, j;

	for (i = 0; i < sv->sv_nwatch; i++) {
		struct serve_watch *w = &sv->sv_watch[i];

		inotify_rm_watch(sv->sv_infd, w->sw_wd);
		free(w->sw_dir);
		for (j = 0; j < w->sw_nnames; j++)
			free(w->sw_names[j]);
	}
	sv->sv_nwatch = 0;
}

/* `base` in `dir` is a symlink through another entry of the same directory
 * (Kubernetes projects a ConfigMap or Secret as `sluice.conf ->
 * ..data/sluice.conf`, and an update renames a new `..data` over the old):
 * that entry's name, a new string, or NULL. */
static char *
serve_link_entry(const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	char *slash;

	if (n <= 0 || target[0] == '/')
		return NULL;
	target[n] = '\0';
	if ((slash = strchr(target, '/')) == NULL)
		return NULL;
	*slash = '\0';
	if (strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
		return NULL;
	return xstrdup(target);
}

static void
serve_watch_file(struct serve *sv, const char *path)
{
	struct serve_watch *w = NULL;
	char *dir, *base, *via = serve_link_entry(path);
	size_t i;

	serve_split(path, &dir, &base);
	for (i = 0; i < sv->sv_nwatch; i++)
		if (strcmp(sv->sv_watch[i].sw_dir, dir) == 0)
			w = &sv->sv_watch[i];
	if (w == NULL && sv->sv_nwatch < SERVE_MAX_WATCH) {
		int wd = inotify_add_watch(sv->sv_infd, dir, IN_CLOSE_WRITE |
		    IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);

		if (wd == -1)
			log_warn("cannot watch %s for changes", dir);
		else {
			w = &sv->sv_watch[sv->sv_nwatch++];
			w->sw_wd = wd;
			w->sw_dir = dir;
			w->sw_nnames = 0;
			dir = NULL;
		}
	}
	if (w != NULL && w->sw_nnames < SERVE_MAX_WATCH) {
		w->sw_names[w->sw_nnames++] = base;
		base = NULL;
	}
	if (w != NULL && via != NULL && w->sw_nnames < SERVE_MAX_WATCH) {
		w->sw_names[w->sw_nnames++] = via;
		via = NULL;
	}
	free(via);
	free(dir);
	free(base);
}

/* Watch every file the current configuration was built from. */
static void
serve_watch_all(struct serve *sv)
{
	const struct config *c = sv->sv_cfg;
	size_t i, j;

	if (sv->sv_infd == -1)
		return;
	/* Keep the directory watches (removing and re-adding them would open
	 * a window in which a change goes unseen); renew the names only. */
	for (i = 0; i < sv->sv_nwatch; i++) {
		struct serve_watch *w = &sv->sv_watch[i];

		while (w->sw_nnames > 0)
			free(w->sw_names[--w->sw_nnames]);
	}
	serve_watch_file(sv, sv->sv_path);
	if (c->c_have_users)
		serve_watch_file(sv, c->c_users_file.r_path);
	if (c->c_admin_users_file.r_path != NULL)
		serve_watch_file(sv, c->c_admin_users_file.r_path);
	for (j = 0; j < c->c_npolicies; j++) {
		const struct policy *p = c->c_policies[j];

		for (i = 0; i < p->p_nallow_files; i++)
			serve_watch_file(sv, p->p_allow_files[i].r_path);
		for (i = 0; i < p->p_ndeny_files; i++)
			serve_watch_file(sv, p->p_deny_files[i].r_path);
	}
	for (i = 0; i < c->c_nhosts_files; i++)
		serve_watch_file(sv, c->c_hosts_files[i].r_path);
	/* A renewed certificate (certbot's deploy hook, or a plain copy)
	 * reloads like any other file the configuration names. */
	if (c->c_tls_cert.r_path != NULL)
		serve_watch_file(sv, c->c_tls_cert.r_path);
	if (c->c_tls_key.r_path != NULL)
		serve_watch_file(sv, c->c_tls_key.r_path);
	if (c->c_tls_client_ca.r_path != NULL)
		serve_watch_file(sv, c->c_tls_client_ca.r_path);
	if (c->c_tls_crl.r_path != NULL)
		serve_watch_file(sv, c->c_tls_crl.r_path);
}

/* How many of `a`'s strings are not in `b`. */
static size_t
serve_missing(char *const *a, size_t na, char *const *b, size_t nb)
{
	struct strmap m;
	size_t i, n = 0;
	bool created;

	strmap_init(&m);
	for (i = 0; i < nb; i++)
		if (strmap_put(&m, b[i], strlen(b[i]), &created) == NULL)
			break;
	for (i = 0; i < na; i++)
		if (strmap_get(&m, a[i], strlen(a[i])) == NULL)
			n++;
	strmap_free(&m);
	return n;
}

/* The user names and hashes of a users database, as string lists. */
static char **
serve_user_keys(const struct userdb *db, bool hashes)
{
	char **v = xcalloc(db->d_count + 1, sizeof(*v));
	size_t i;

	for (i = 1; i <= db->d_count; i++)
		v[i - 1] = hashes ? db->d_entries[i].u_hash :
		    db->d_entries[i].u_name;
	return v;
}

/* Post a message without a descriptor to every worker; `cfg` (not passed
 * on: each worker gets a reference of its own) for PROXY_MSG_CONFIG. */
static void
serve_post_all(struct serve *sv, enum proxy_msg_kind kind, struct config *cfg,
    const struct sockaddr_storage *addr, const char *what)
{
	unsigned w;

	for (w = 0; w < sv->sv_nworkers; w++) {
		struct config *ref = cfg != NULL ? config_ref(cfg) : NULL;

		if (proxy_post(sv->sv_workers[w], kind, ref, -1, addr) == -1) {
			log_warn("%s: posting to worker %u", what, w + 1);
			if (ref != NULL)
				config_unref(ref);
		}
	}
}

static bool
serve_streq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The policy of `c` named like `p` (the default for the default), or
 * NULL. */
static const struct policy *
serve_same_policy(const struct config *c, const struct policy *p)
{
	size_t i;

	for (i = 0; i < c->c_npolicies; i++)
		if (serve_streq(c->c_policies[i]->p_name, p->p_name))
			return c->c_policies[i];
	return NULL;
}

/* Allow and deny patterns added (`*add`) and removed (`*del`) from `o` to
 * `n`, policy by policy (a policy that came or went counts whole). */
static void
serve_pattern_diff(const struct config *o, const struct config *n,
    size_t *add, size_t *del)
{
	static const struct patterns none;
	const struct config *cfg[2] = { n, o };
	size_t side, i, k;

	*add = *del = 0;
	for (side = 0; side < 2; side++)
		for (i = 0; i < cfg[side]->c_npolicies; i++) {
			const struct policy *p = cfg[side]->c_policies[i];
			const struct policy *q = serve_same_policy(cfg[!side], p);
			const struct patterns *mine[2] = { &p->p_allow,
			    &p->p_deny };
			const struct patterns *theirs[2] = {
			    q ? &q->p_allow : &none, q ? &q->p_deny : &none };

			for (k = 0; k < 2; k++)
				*(side == 0 ? add : del) += serve_missing(
				    mine[k]->p_list, mine[k]->p_count,
				    theirs[k]->p_list, theirs[k]->p_count);
		}
}

/* Log what a reload changes, e.g. "reload: +1 pattern, -0 users". */
static void
serve_log_diff(const struct config *o, const struct config *n, size_t add_l,
    size_t del_l)
{
	char **ou = serve_user_keys(&o->c_users, false);
	char **nu = serve_user_keys(&n->c_users, false);
	char **oh = serve_user_keys(&o->c_users, true);
	char **nh = serve_user_keys(&n->c_users, true);
	size_t addp, delp;
	size_t addu = serve_missing(nu, n->c_users.d_count, ou,
	    o->c_users.d_count);
	size_t delu = serve_missing(ou, o->c_users.d_count, nu,
	    n->c_users.d_count);
	size_t addh = serve_missing(nh, n->c_users.d_count, oh,
	    o->c_users.d_count);
	size_t delh = serve_missing(oh, o->c_users.d_count, nh,
	    n->c_users.d_count);

	serve_pattern_diff(o, n, &addp, &delp);
	log_info("reload: +%zu pattern%s, -%zu pattern%s, +%zu user%s, "
	    "-%zu user%s, +%zu hash%s, -%zu hash%s, +%zu listener%s, "
	    "-%zu listener%s", addp, addp == 1 ? "" : "s", delp,
	    delp == 1 ? "" : "s", addu, addu == 1 ? "" : "s", delu,
	    delu == 1 ? "" : "s", addh, addh == 1 ? "" : "es", delh,
	    delh == 1 ? "" : "es", add_l, add_l == 1 ? "" : "s", del_l,
	    del_l == 1 ? "" : "s");
	free(ou);
	free(nu);
	free(oh);
	free(nh);
}

/* Wait until every worker has applied what was posted to it. A worker that
 * does not get there within SERVE_ACK_MS, or failed to take over a listener,
 * is named: what the caller prints next would not be true for it. Returns 0
 * or -1. */
static int
serve_sync_all(struct serve *sv, const char *what)
{
	struct proxy_ack acks[PROXY_MAX_WORKERS];
	unsigned w;

	if (proxy_sync(sv->sv_workers, sv->sv_nworkers, SERVE_ACK_MS, acks) ==
	    0)
		return 0;
	for (w = 0; w < sv->sv_nworkers; w++) {
		if (!acks[w].pa_acked)
			log_warnx("%s: worker %u did not acknowledge within "
			    "%us; what follows may not hold for it yet", what,
			    w + 1, SERVE_ACK_MS / 1000);
		else if (acks[w].pa_failed > 0)
			log_warnx("%s: worker %u could not take over %u "
			    "listener%s and does not accept there", what,
			    w + 1, acks[w].pa_failed,
			    acks[w].pa_failed == 1 ? "" : "s");
	}
	return -1;
}

/* Append ", what" to the list in `buf`. */
static void
serve_note(char *buf, size_t len, const char *what)
{
	size_t o = strlen(buf);

	snprintf(buf + o, len - o, "%s%s", o ? ", " : "", what);
}

static void
serve_note_ms(char *buf, size_t len, const char *name, unsigned a, unsigned b)
{
	char t[96];

	if (a == b)
		return;
	snprintf(t, sizeof(t), "%s %u%s -> %u%s", name,
	    a % 1000 ? a : a / 1000, a % 1000 ? "ms" : "s",
	    b % 1000 ? b : b / 1000, b % 1000 ? "ms" : "s");
	serve_note(buf, len, t);
}

/* Do `a` and `b` hold different users or passwords? With as many entries
 * in both, every user of `a` having the same hashes in `b` leaves room for
 * no other user in `b`. */
static bool
serve_users_differ(const struct userdb *a, const struct userdb *b)
{
	size_t i;

	if (a->d_count != b->d_count)
		return true;
	for (i = 1; i <= a->d_count; i++)
		if (!userdb_same_user(a, b, a->d_entries[i].u_name))
			return true;
	return false;
}

/* The listener-side settings a reload changed (who may send PROXY headers,
 * the admin listener's users, which tunnels are checked for a server
 * name), noted into `buf`. */
static void
serve_note_edges(char *buf, size_t len, const struct config *o,
    const struct config *n)
{
	static const struct userdb none;
	bool pp = o->c_npp_from != n->c_npp_from;
	size_t i;

	for (i = 0; !pp && i < n->c_npp_from; i++)
		pp = memcmp(&o->c_pp_from[i], &n->c_pp_from[i],
		    sizeof(n->c_pp_from[i])) != 0;
	if (pp)
		serve_note(buf, len, "proxy_protocol_from");
	if (!serve_streq(o->c_admin_users_file.r_path,
	    n->c_admin_users_file.r_path) || serve_users_differ(
	    o->c_admin ? &o->c_admin->c_users : &none,
	    n->c_admin ? &n->c_admin->c_users : &none))
		serve_note(buf, len, "admin_users");
	if (memcmp(o->c_sni_ports, n->c_sni_ports, CONFIG_PORTS_BYTES) != 0)
		serve_note(buf, len, "sni_ports");
	if (o->c_allow_ech != n->c_allow_ech)
		serve_note(buf, len, "allow_ech");
}

/* The settings a reload changed besides patterns, users and listeners, in
 * one line ("reload: also changed connect_ports, dns_server (now the
 * system's), ..."), so an operator sees every effect of an edit. */
static void
serve_log_settings(const struct config *o, const struct config *n)
{
	const struct policy *op = config_default_policy(o);
	const struct policy *np = config_default_policy(n);
	char buf[1024] = "";
	size_t i;
	bool cidrs = op->p_ncidrs != np->p_ncidrs, hosts = o->c_nhosts_files !=
	    n->c_nhosts_files;

	if (memcmp(op->p_connect_ports, np->p_connect_ports,
	    CONFIG_PORTS_BYTES) != 0)
		serve_note(buf, sizeof(buf), "connect_ports");
	if (memcmp(op->p_http_ports, np->p_http_ports, CONFIG_PORTS_BYTES) != 0)
		serve_note(buf, sizeof(buf), "http_ports");
	for (i = 0; !cidrs && i < np->p_ncidrs; i++)
		cidrs = memcmp(&op->p_cidrs[i], &np->p_cidrs[i],
		    sizeof(np->p_cidrs[i])) != 0;
	if (cidrs)
		serve_note(buf, sizeof(buf), "allow_cidr");
	for (i = 0; !hosts && i < n->c_nhosts_files; i++)
		hosts = !serve_streq(o->c_hosts_files[i].r_path,
		    n->c_hosts_files[i].r_path);
	if (hosts)
		serve_note(buf, sizeof(buf), "hosts_file");
	if (!serve_streq(o->c_dns_servers, n->c_dns_servers))
		serve_note(buf, sizeof(buf), n->c_dns_servers == NULL ?
		    "dns_server (now the system's resolvers)" : "dns_server");
	if (!serve_streq(o->c_access_log, n->c_access_log) ||
	    o->c_log_json != n->c_log_json)
		serve_note(buf, sizeof(buf), "access_log");
	serve_note_ms(buf, sizeof(buf), "connect_timeout",
	    o->c_connect_timeout_ms, n->c_connect_timeout_ms);
	serve_note_ms(buf, sizeof(buf), "dns_timeout", o->c_dns_timeout_ms,
	    n->c_dns_timeout_ms);
	serve_note_ms(buf, sizeof(buf), "idle_timeout", o->c_idle_timeout_ms,
	    n->c_idle_timeout_ms);
	serve_note_ms(buf, sizeof(buf), "header_timeout",
	    o->c_header_timeout_ms, n->c_header_timeout_ms);
	serve_note_ms(buf, sizeof(buf), "shutdown_grace",
	    o->c_shutdown_grace_ms, n->c_shutdown_grace_ms);
	if (o->c_max_connections != n->c_max_connections)
		serve_note(buf, sizeof(buf), "max_connections");
	if (o->c_auth_rate != n->c_auth_rate ||
	    o->c_auth_burst != n->c_auth_burst)
		serve_note(buf, sizeof(buf), "auth_rate");
	if (o->c_via != n->c_via || o->c_forwarded_for != n->c_forwarded_for)
		serve_note(buf, sizeof(buf), "via/forwarded_for");
	serve_note_ms(buf, sizeof(buf), "shutdown_delay",
	    o->c_shutdown_delay_ms, n->c_shutdown_delay_ms);
	serve_note_edges(buf, sizeof(buf), o, n);
	if (buf[0] != '\0')
		log_info("reload: also changed %s", buf);
}

static bool
serve_same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	return a->ss_family == b->sa_family &&
	    memcmp(a, b, addr_len(b)) == 0;
}

/* The listener on configured address `a`, or a free slot for `a` NULL;
 * NULL when there is none. */
static struct serve_listener *
serve_find(struct serve *sv, const struct sockaddr *a)
{
	size_t i;

	for (i = 0; i < PROXY_MAX_LISTENERS; i++) {
		struct serve_listener *sl = &sv->sv_listeners[i];

		if (a == NULL ? !sl->sl_used : sl->sl_used &&
		    serve_same_addr(&sl->sl_addr, a))
			return sl;
	}
	return NULL;
}

/* Give each worker its socket on `cl`: directly while the workers have not
 * started, by message after. Returns 0 or -1 (reported); `fds` are taken
 * over (closed, or set to -1 once handed over). */
static int
serve_hand_over(struct serve *sv, const struct config_listen *cl, int *fds)
{
	unsigned w;
	int fd;

	for (w = 0; w < sv->sv_nworkers; w++) {
		fd = fds[w];
		fds[w] = -1;
		if (sv->sv_started == 0) {
			if (proxy_adopt_listener(sv->sv_workers[w], fd,
			    &cl->l_addr) == NULL)
				return -1;
		} else if (proxy_post(sv->sv_workers[w], PROXY_MSG_ADOPT, NULL,
		    fd, &cl->l_addr) == -1) {
			log_warn("listen: handing a socket to worker %u",
			    w + 1);
			close(fd);
		}
	}
	return 0;
}

/* Listen on `cl` in every worker: one SO_REUSEPORT socket each, all on the
 * port the first one got (which matters for port 0), all bound here before
 * any is handed over. Returns 0 or -1 (reported). */
static int
serve_listen_everywhere(struct serve *sv, const struct config_listen *cl)
{
	struct serve_listener *sl = serve_find(sv, NULL);
	int fds[PROXY_MAX_WORKERS];
	socklen_t blen = sizeof(sl->sl_bound);
	bool many = sv->sv_nworkers > 1;
	char a[INET6_ADDRSTRLEN + 8];
	uint16_t port = 0;
	unsigned n, i;
	int rc = -1;

	addr_format((const struct sockaddr *)&cl->l_addr, a, sizeof(a));
	if (sl == NULL) {
		errno = EMFILE;
		log_warn("listen %s", a);
		return -1;
	}
	/* One owner per address: a second sluice fails here, as Squid
	 * does, instead of sharing connections with this one. */
	if (many && proxy_claim(cl, &port) == -1)
		return -1;
	for (n = 0; n < sv->sv_nworkers; n++) {
		if ((fds[n] = proxy_bind(cl, many, port)) == -1)
			goto out;
		if (n == 0 && getsockname(fds[0], (struct sockaddr *)
		    &sl->sl_bound, &blen) == -1) {
			log_warn("listen %s: getsockname", a);
			n++;
			goto out;
		}
		port = addr_port((struct sockaddr *)&sl->sl_bound);
	}
	if ((rc = serve_hand_over(sv, cl, fds)) == 0) {
		sl->sl_addr = cl->l_addr;
		sl->sl_used = true;
	}
	if (rc == 0 && sv->sv_started > 0) {
		addr_format((struct sockaddr *)&sl->sl_bound, a, sizeof(a));
		log_info("listening on %s", a);
	}
out:
	for (i = 0; i < n; i++)
		if (fds[i] != -1)
			close(fds[i]);
	return rc;
}

/* Print "listening on ADDR:PORT" for every listener. */
static void
serve_announce(struct serve *sv)
{
	char a[INET6_ADDRSTRLEN + 8];
	size_t i;

	for (i = 0; i < PROXY_MAX_LISTENERS; i++)
		if (sv->sv_listeners[i].sl_used) {
			addr_format((struct sockaddr *)
			    &sv->sv_listeners[i].sl_bound, a, sizeof(a));
			log_info("listening on %s", a);
		}
}

/* Close every listener in every worker and say so once they all have. */
static void
serve_unlisten_all(struct serve *sv, const char *what)
{
	size_t i;

	serve_post_all(sv, PROXY_MSG_STOP_ACCEPTING, NULL, NULL, what);
	(void)serve_sync_all(sv, what);
	for (i = 0; i < PROXY_MAX_LISTENERS; i++) {
		struct serve_listener *sl = &sv->sv_listeners[i];
		char a[INET6_ADDRSTRLEN + 8];

		if (!sl->sl_used)
			continue;
		sl->sl_used = false;
		addr_format((struct sockaddr *)&sl->sl_bound, a, sizeof(a));
		log_info("no longer listening on %s", a);
	}
}

/* Open and close listeners in every worker to match `n`, counting what
 * changed. Closing is waited for, so that "no longer listening" is true
 * when it is printed. */
static void
serve_relisten(struct serve *sv, const struct config *n, size_t *added,
    size_t *removed)
{
	struct sockaddr_storage gone[PROXY_MAX_LISTENERS];
	char a[INET6_ADDRSTRLEN + 8];
	size_t i, j;

	*added = *removed = 0;
	for (i = 0; i < PROXY_MAX_LISTENERS; i++) {
		struct serve_listener *sl = &sv->sv_listeners[i];
		bool keep = false;

		for (j = 0; j < n->c_nlisten && sl->sl_used && !keep; j++)
			keep = serve_same_addr(&sl->sl_addr,
			    (const struct sockaddr *)&n->c_listen[j].l_addr);
		if (!sl->sl_used || keep)
			continue;
		serve_post_all(sv, PROXY_MSG_UNLISTEN, NULL, &sl->sl_addr,
		    "reload");
		gone[(*removed)++] = sl->sl_bound;
		sl->sl_used = false;
	}
	if (*removed > 0)
		(void)serve_sync_all(sv, "reload");
	for (i = 0; i < *removed; i++) {
		addr_format((struct sockaddr *)&gone[i], a, sizeof(a));
		log_info("no longer listening on %s", a);
	}
	for (j = 0; j < n->c_nlisten; j++)
		if (serve_find(sv, (const struct sockaddr *)
		    &n->c_listen[j].l_addr) == NULL &&
		    serve_listen_everywhere(sv, &n->c_listen[j]) == 0)
			(*added)++;
}

/* The listeners as bound, for the status page. */
static void
serve_facts_listeners(struct serve *sv)
{
	const struct config *c = sv->sv_cfg;
	size_t i, j, n = 0;

	for (i = 0; i < PROXY_MAX_LISTENERS; i++) {
		const struct serve_listener *sl = &sv->sv_listeners[i];
		bool tls = false;

		if (!sl->sl_used)
			continue;
		for (j = 0; j < c->c_nlisten; j++)
			if (serve_same_addr(&sl->sl_addr, (const struct sockaddr *)
			    &c->c_listen[j].l_addr))
				tls = c->c_listen[j].l_tls;
		addr_format((const struct sockaddr *)&sl->sl_bound,
		    sv->sv_lnames[n], sizeof(sv->sv_lnames[n]) - 4);
		if (tls)
			strcat(sv->sv_lnames[n], " tls");
		sv->sv_lname[n] = sv->sv_lnames[n];
		n++;
	}
	sv->sv_facts.af_listeners = sv->sv_lname;
	sv->sv_facts.af_nlisteners = n;
}

/* Would `n` leave the running admin listener, bound for other machines,
 * without admin_users? (admin_listen itself changes only at a restart, so
 * the new file's own line proves nothing.) Says so and returns true. */
static bool
serve_admin_unguarded(const struct serve *sv, const struct config *n,
    const char *why)
{
	/* Judged by the listener running, not by any file's admin_listen
	 * line: an earlier reload may have changed that line already. */
	if (sv->sv_admin == NULL || n->c_admin != NULL ||
	    !sv->sv_admin_public)
		return false;
	log_warnx("reload (%s) failed: %s: the admin listener on %s, which "
	    "other machines reach, would have no admin_users; keep "
	    "admin_users (admin_listen changes take effect at the next "
	    "restart)", why, n->c_path, sv->sv_admin_bound);
	log_warnx("reload: the previous configuration stays in force");
	return true;
}

/* A configuration was applied: what the admin pages say of it. */
static void
serve_facts_loaded(struct serve *sv)
{
	unsigned msec;

	serve_facts_listeners(sv);
	sv->sv_facts.af_cfg = sv->sv_cfg;
	sv->sv_facts.af_generation++;
	ev_wallclock(sv->sv_loop, &sv->sv_facts.af_loaded, &msec);
}

static void
serve_reload(struct serve *sv, const char *why)
{
	struct config *o = sv->sv_cfg, *n;
	struct diag d = { NULL, 0 };
	size_t added, removed, i;
	char names[128];

	serve_notify("RELOADING=1");
	if ((n = config_load(sv->sv_path, &d)) == NULL) {
		for (i = 0; i < d.d_count; i++)
			log_warnx("reload (%s) failed: %s", why, d.d_msgs[i]);
		log_warnx("reload: the previous configuration stays in force");
		sv->sv_facts.af_reloads_failed++;
		diag_free(&d);
		serve_notify("READY=1");
		serve_watch_all(sv);
		return;
	}
	if (serve_admin_unguarded(sv, n, why)) {
		config_unref(n);
		sv->sv_facts.af_reloads_failed++;
		serve_notify("READY=1");
		serve_watch_all(sv);
		return;
	}
	if (config_restart_changed(o, n, names, sizeof(names)))
		log_warnx("reload: %s take effect at the next restart", names);
	if (config_check_members(n, &d) > 0)
		for (i = 0; i < d.d_count; i++)
			log_warnx("reload: %s", d.d_msgs[i]);
	diag_free(&d);
	serve_relisten(sv, n, &added, &removed);
	/* Every worker swaps on its own thread (each gets a reference), and
	 * all have, listeners included, before the summary says so. */
	serve_post_all(sv, PROXY_MSG_CONFIG, n, NULL, "reload");
	(void)serve_sync_all(sv, "reload");
	serve_log_diff(o, n, added, removed);
	serve_log_settings(o, n);
	sv->sv_cfg = n;
	config_unref(o);
	serve_facts_loaded(sv);
	sv->sv_facts.af_reloads_ok++;
	serve_watch_all(sv);
	serve_notify("READY=1");
}

static void
serve_debounced(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	serve_reload(arg, "files changed");
}

static void
serve_inotify(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct serve *sv = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ie = (struct inotify_event *)p;
			size_t i, j;

			for (i = 0; i < sv->sv_nwatch && ie->len > 0; i++) {
				struct serve_watch *w = &sv->sv_watch[i];

				if (w->sw_wd != ie->wd)
					continue;
				for (j = 0; j < w->sw_nnames; j++)
					if (strcmp(w->sw_names[j], ie->name) == 0)
						relevant = true;
			}
			p += sizeof(*ie) + ie->len;
		}
	}
	/* Editors write in several steps: reload once they are done. */
	if (relevant && !sv->sv_stopping)
		ev_timer_set(loop, &sv->sv_debounce, SERVE_DEBOUNCE_MS,
		    serve_debounced, sv);
}

static void
serve_drain(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct serve *sv = arg;

	(void)t;
	if (proxy_connections() == 0 || ev_now(loop) >= sv->sv_deadline) {
		unsigned left = proxy_connections();

		if (left > 0)
			log_info("shutdown: closing %u connection%s after "
			    "shutdown_grace", left, left == 1 ? "" : "s");
		ev_stop(loop);
		return;
	}
	ev_timer_set(loop, &sv->sv_drain, SERVE_DRAIN_POLL_MS, serve_drain, sv);
}

/* The listeners close and open connections get shutdown_grace. */
static void
serve_stop_accepting(struct serve *sv, const char *sig)
{
	unsigned open, ms;

	serve_unlisten_all(sv, "stop accepting");
	serve_facts_listeners(sv);
	open = proxy_connections();
	ms = sv->sv_cfg->c_shutdown_grace_ms;
	if (open == 0)
		log_info("%s: no longer accepting; no connection is open, "
		    "stopping", sig);
	else
		log_info("%s: no longer accepting; waiting up to %u%s for %u "
		    "open connection%s to finish (shutdown_grace)", sig,
		    ms % 1000 == 0 ? ms / 1000 : ms, ms % 1000 == 0 ? "s" : "ms",
		    open, open == 1 ? "" : "s");
	sv->sv_deadline = ev_now(sv->sv_loop) + ms;
	serve_drain(sv->sv_loop, &sv->sv_drain, sv);
}

static void
serve_delayed(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct serve *sv = arg;

	(void)loop;
	(void)t;
	serve_stop_accepting(sv, sv->sv_stop_sig);
}

/* SIGTERM or SIGINT: /healthz says 503 from now on; the listeners close
 * after shutdown_delay (so that a load balancer polling /healthz stops
 * sending first), then open connections get shutdown_grace. A second
 * signal exits at once. */
static void
serve_stop(struct serve *sv, const char *sig)
{
	unsigned ms = sv->sv_cfg->c_shutdown_delay_ms;

	if (sv->sv_stopping) {
		log_info("%s again: exiting now", sig);
		ev_stop(sv->sv_loop);
		return;
	}
	sv->sv_stopping = true;
	sv->sv_stop_sig = sig;
	sv->sv_facts.af_draining = true;
	serve_notify("STOPPING=1");
	ev_timer_stop(sv->sv_loop, &sv->sv_debounce);
	if (ms == 0) {
		serve_stop_accepting(sv, sig);
		return;
	}
	log_info("%s: draining: /healthz answers 503; still accepting for "
	    "%u%s (shutdown_delay)", sig, ms % 1000 == 0 ? ms / 1000 : ms,
	    ms % 1000 == 0 ? "s" : "ms");
	ev_timer_set(sv->sv_loop, &sv->sv_delay, ms, serve_delayed, sv);
}

static void
serve_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct serve *sv = arg;
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
			serve_stop(sv, "SIGINT");
			break;
		case SIGTERM:
			serve_stop(sv, "SIGTERM");
			break;
		case SIGHUP:
			if (!sv->sv_stopping)
				serve_reload(sv, "SIGHUP");
			break;
		case SIGUSR1:
			/* Each worker reopens its own log and says if it
			 * cannot. */
			serve_post_all(sv, PROXY_MSG_REOPEN, NULL, NULL,
			    "log reopen");
			(void)serve_sync_all(sv, "log reopen");
			break;
		}
	}
}

/* Give up root for the configured user and group, for good. */
static int
serve_drop_privileges(const struct config *c)
{
	struct passwd *pw = NULL;
	struct group *gr;
	uid_t uid;
	gid_t gid;

	if (c->c_user == NULL && c->c_group == NULL)
		return 0;
	if (c->c_user != NULL && (pw = getpwnam(c->c_user)) == NULL) {
		log_warnx("user %s: no such user", c->c_user);
		return -1;
	}
	uid = pw ? pw->pw_uid : getuid();
	gid = pw ? pw->pw_gid : getgid();
	if (c->c_group != NULL) {
		if ((gr = getgrnam(c->c_group)) == NULL) {
			log_warnx("group %s: no such group", c->c_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (uid == getuid() && uid == geteuid() && gid == getgid() &&
	    gid == getegid())
		return 0;	/* already that user, as under systemd's User= */
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		if (errno == EPERM && geteuid() != 0)
			log_warnx("dropping privileges to %s/%s: only root can "
			    "switch users, and sluice runs as uid %u (start it "
			    "as root, or leave user and group out)", c->c_user ?
			    c->c_user : "-", c->c_group ? c->c_group : "-",
			    (unsigned)geteuid());
		else
			log_warn("dropping privileges to %s/%s", c->c_user ?
			    c->c_user : "-", c->c_group ? c->c_group : "-");
		return -1;
	}
	if (uid != 0 && setuid(0) != -1) {
		log_warnx("privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

/* A worker thread: its loop until PROXY_MSG_STOP. Returns NULL, or `arg`
 * when the loop failed. */
static void *
serve_worker(void *arg)
{
	struct proxy *px = arg;

	if (proxy_run(px) == -1) {
		log_warn("event loop");
		return arg;
	}
	return NULL;
}

/* Block the signals handled here in every thread to come (so that they
 * reach only the signalfd), and set up the control loop: the signalfd and,
 * when it can, inotify. Before any thread exists. Returns 0 or -1. */
static int
serve_control_init(struct serve *sv)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((sv->sv_loop = ev_loop_new()) == NULL) {
		log_warn("event loop");
		return -1;
	}
	if ((sv->sv_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) ==
	    -1 || ev_io_add(sv->sv_loop, &sv->sv_sigio, sv->sv_sigfd, EV_READ,
	    serve_signal, sv) == -1)
		fatal("signalfd");
	if ((sv->sv_infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    ev_io_add(sv->sv_loop, &sv->sv_inio, sv->sv_infd, EV_READ,
	    serve_inotify, sv) == -1) {
		log_warn("inotify: files will be reloaded on SIGHUP only");
		if (sv->sv_infd != -1)
			close(sv->sv_infd);
		sv->sv_infd = -1;
	}
	return 0;
}

/* Set up the `workers` loops, each with a configuration reference of its
 * own. They stay quiet about listeners: the control thread speaks for all.
 * Returns 0 or -1 (reported). */
static int
serve_workers_new(struct serve *sv)
{
	const struct config *c = sv->sv_cfg;
	char err[256];
	unsigned w;

	sv->sv_nworkers = c->c_workers ? c->c_workers : proxy_cpus();
	if (sv->sv_nworkers > PROXY_MAX_WORKERS)
		sv->sv_nworkers = PROXY_MAX_WORKERS;
	for (w = 0; w < sv->sv_nworkers; w++) {
		if ((sv->sv_workers[w] = proxy_new(config_ref(sv->sv_cfg),
		    sv->sv_auth, sv->sv_tunnels, err, sizeof(err))) == NULL) {
			log_warnx("%s", err);
			return -1;
		}
		sv->sv_workers[w]->px_quiet = true;
	}
	return 0;
}

/* Start a thread per worker, named "worker N" (as in log lines, and for
 * top -H). Returns 0 or -1 (reported). */
static int
serve_workers_start(struct serve *sv)
{
	char name[24];	/* "worker 64" fits in the 16 bytes allowed */
	int e;

	for (; sv->sv_started < sv->sv_nworkers; sv->sv_started++) {
		unsigned w = sv->sv_started;

		e = pthread_create(&sv->sv_threads[w], NULL, serve_worker,
		    sv->sv_workers[w]);
		if (e != 0) {
			errno = e;
			log_warn("starting worker %u", w + 1);
			return -1;
		}
		snprintf(name, sizeof(name), "worker %u", w + 1);
		(void)pthread_setname_np(sv->sv_threads[w], name);
	}
	return 0;
}

/* Stop and join the worker threads, then release everything, in the order
 * connections need: they cancel their auth jobs before the auth threads
 * stop, and mailboxes are freed after. Returns 0, or -1 if a worker's loop
 * had failed. */
static int
serve_cleanup(struct serve *sv)
{
	void *failed;
	unsigned w;
	int rc = 0, e;

	for (w = 0; w < sv->sv_started; w++)
		if (proxy_post(sv->sv_workers[w], PROXY_MSG_STOP, NULL, -1,
		    NULL) == -1)
			log_warn("stopping worker %u", w + 1);
	for (w = 0; w < sv->sv_started; w++) {
		if ((e = pthread_join(sv->sv_threads[w], &failed)) != 0) {
			errno = e;
			log_warn("joining worker %u", w + 1);
		}
		if (e != 0 || failed != NULL)
			rc = -1;
	}
	if (sv->sv_loop != NULL) {
		ev_timer_stop(sv->sv_loop, &sv->sv_debounce);
		ev_timer_stop(sv->sv_loop, &sv->sv_drain);
		ev_timer_stop(sv->sv_loop, &sv->sv_delay);
	}
	admin_close_all(sv->sv_admin);
	if (sv->sv_infd != -1) {
		serve_unwatch(sv);
		close(sv->sv_infd);
	}
	for (w = 0; w < sv->sv_nworkers; w++)
		if (sv->sv_workers[w] != NULL)
			proxy_close_all(sv->sv_workers[w]);
	auth_pool_free(sv->sv_auth);
	admin_free(sv->sv_admin);
	for (w = 0; w < sv->sv_nworkers; w++)
		proxy_free(sv->sv_workers[w]);
	tally_free(sv->sv_tunnels);
	if (sv->sv_sigfd != -1)
		close(sv->sv_sigfd);
	ev_loop_free(sv->sv_loop);
	config_unref(sv->sv_cfg);
	return rc;
}

/* admin_listen: bind it (before privileges are dropped) and serve it on
 * the control loop. Returns 0 or -1 (reported). */
static int
serve_admin_start(struct serve *sv)
{
	const struct config *c = sv->sv_cfg;
	struct config_listen cl = { .l_addr = c->c_admin_addr,
	    .l_len = c->c_admin_len, .l_line = c->c_admin_line };
	struct admin_facts *f = &sv->sv_facts;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char a[INET6_ADDRSTRLEN + 8];
	unsigned w, msec;
	int fd;

	for (w = 0; w < sv->sv_nworkers; w++)
		sv->sv_stats[w] = sv->sv_workers[w]->px_stats;
	f->af_stats = sv->sv_stats;
	f->af_nstats = sv->sv_nworkers;
	f->af_version = SLUICE_VERSION;
	f->af_started_ms = ev_now(sv->sv_loop);
	ev_wallclock(sv->sv_loop, &f->af_started, &msec);
	serve_facts_loaded(sv);
	if (c->c_admin_listen == NULL)
		return 0;
	if ((fd = proxy_bind(&cl, false, 0)) == -1) {
		log_warnx("admin_listen %s: cannot listen there (the line "
		    "above says why)", c->c_admin_listen);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == -1 ||
	    (sv->sv_admin = admin_new(sv->sv_loop, fd, !addr_is_loopback(
	    (struct sockaddr *)&bound), &sv->sv_facts, sv->sv_auth)) == NULL) {
		log_warn("admin_listen %s", c->c_admin_listen);
		close(fd);
		return -1;
	}
	addr_format((struct sockaddr *)&bound, a, sizeof(a));
	snprintf(sv->sv_admin_bound, sizeof(sv->sv_admin_bound), "%s", a);
	sv->sv_admin_public = !addr_is_loopback((struct sockaddr *)&bound);
	log_info("admin listener on %s (/metrics, /healthz, /status%s)", a,
	    c->c_admin != NULL ? "; Basic auth from admin_users" : "");
	return 0;
}

int
serve_main(const char *path)
{
	struct serve sv;
	struct diag d = { NULL, 0 };
	size_t i;
	int rc = 1;

	memset(&sv, 0, sizeof(sv));
	sv.sv_path = path;
	sv.sv_sigfd = sv.sv_infd = -1;
	/* Password hashes, credentials in flight and the cache key live
	 * here: no core dumps, no ptrace by the same user. */
	prctl(PR_SET_DUMPABLE, 0);
	if ((sv.sv_cfg = config_load(path, &d)) == NULL ||
	    config_check_members(sv.sv_cfg, &d) > 0) {
		diag_print(&d, stderr);
		diag_free(&d);
		config_unref(sv.sv_cfg);
		return 1;
	}
	if (serve_control_init(&sv) == -1)
		goto out;
	if ((sv.sv_tunnels = tally_new()) == NULL)
		fatal("tunnel counts");
	if ((sv.sv_auth = proxy_auth_pool()) == NULL)
		fatal("authentication workers");
	if (serve_workers_new(&sv) == -1)
		goto out;
	/* Watch before announcing anything, so no change is missed; announce
	 * once privileges are dropped, so "listening" means fully started. */
	serve_watch_all(&sv);
	for (i = 0; i < sv.sv_cfg->c_nlisten; i++)
		if (serve_listen_everywhere(&sv, &sv.sv_cfg->c_listen[i]) == -1)
			goto out;
	if (serve_admin_start(&sv) == -1 ||
	    serve_drop_privileges(sv.sv_cfg) == -1)
		goto out;
	prctl(PR_SET_DUMPABLE, 0);
	if (serve_workers_start(&sv) == -1)
		goto out;
	serve_announce(&sv);
	serve_notify("READY=1");
	if (ev_run(sv.sv_loop) == -1)
		log_warn("event loop");
	else
		rc = 0;
out:
	if (serve_cleanup(&sv) == -1)
		rc = 1;
	return rc;
}
