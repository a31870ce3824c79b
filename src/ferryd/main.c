/*
 * ferryd - the ferry mail daemon: start-up, privilege drop, signals.
 * Everything else lives in its subsystem; this file wires them together.
 * SECURITY: runs as root only to bind ports and open the spool, log and key
 * files, then drops to the configured user for good.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "auth/auth_store.h"
#include "auth/auth_users.h"
#include "cluster/node.h"
#include "conf/conf.h"
#include "control/control.h"
#include "db/db.h"
#include "state/events.h"
#include "delivery/deliver.h"
#include "metrics/metrics.h"
#include "ferryd/ferryd.h"
#include "ferryd/ferryd_notify.h"
#include "ferryd/ferryd_spool.h"
#include "http/http.h"
#include "queue/qmgr.h"
#include "net/server.h"
#include "net/tls.h"
#include "policy/sender.h"
#include "smtp/smtp_session.h"
#include "spool/spool.h"
#include "state/counters_open.h"
#include "state/state_cache.h"
#include "reputation/rep.h"
#include "state/state.h"
#include "events/outbox.h"
#include "analytics/analytics.h"
#include "util/log.h"
#include "util/version.h"
#include "webhook/webhook_sender.h"

struct ferryd_opts {
	const char *conf_path;
	bool        check_only;
};

static void
ferryd_usage(FILE *f)
{
	fprintf(f, "usage: ferryd [-c FILE] [-t]\n"
	    "  -c FILE  configuration file (default: the embedded default, see docs/configuration.md)\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version\n");
}

static void
ferryd_opts_parse(int argc, char **argv, struct ferryd_opts *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:thV")) != -1) {
		switch (ch) {
		case 'c': o->conf_path = optarg; break;
		case 't': o->check_only = true; break;
		case 'V': printf("ferryd %s\n", FERRY_VERSION); exit(0);
		case 'h': ferryd_usage(stdout); exit(0);
		default:  ferryd_usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		ferryd_usage(stderr);
		exit(2);
	}
}

/* NULL with "FILE:LINE: cause" in err. */
static struct conf *
ferryd_conf_load(const char *path, char *err, size_t errlen)
{
	struct conf *c = conf_load(path, err, errlen);

	if (c == NULL || conf_check(c, err, errlen) < 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* A file named by option failed to load: name the line that named it. */
static void
ferryd_check_warn(const struct conf *c, const char *option, const char *err)
{
	int line = conf_option_line(c, option);

	if (line > 0)
		fprintf(stderr, "ferryd: %s:%d: %s: %s\n", c->path, line, option, err);
	else
		fprintf(stderr, "ferryd: %s\n", err);
}

/* -t: everything that can be checked without binding or writing. */
static int
ferryd_check(struct conf *c)
{
	char err[1024];
	SSL_CTX *ctx;
	struct auth_users *u;

	if (!c->tls_generate || access(c->tls_key, F_OK) == 0) {
		ctx = tls_server_ctx_new(c->tls_cert, c->tls_key, err, sizeof(err));
		if (ctx == NULL) {
			size_t n = strlen(c->tls_key);
			/* tls.c's messages start with the file concerned */
			ferryd_check_warn(c, strncmp(err, c->tls_key, n) == 0 && err[n] == ':' ?
			    "tls_key" : "tls_cert", err);
			return 1;
		}
		SSL_CTX_free(ctx);
	}
	u = auth_users_load(c->users_file, err, sizeof(err));
	if (u == NULL) {
		ferryd_check_warn(c, "users_file", err);
		return 1;
	}
	auth_users_free(u);
	printf("ferryd: configuration %s is valid\n", c->path ? c->path : "(embedded default)");
	return 0;
}

struct ferryd_ids {
	uid_t uid;
	gid_t gid;
	const char *name;
};

static struct ferryd_ids
ferryd_run_user(const struct conf *c)
{
	struct ferryd_ids ids = { (uid_t)-1, (gid_t)-1, NULL };
	struct passwd *pw;

	if (geteuid() != 0 || c->run_user == NULL)
		return ids;
	pw = getpwnam(c->run_user);
	if (pw == NULL && c->run_user_default) {
		log_warn("event=config-warning reason=\"user ferry does not exist, running as nobody\"");
		pw = getpwnam("nobody");
	}
	if (pw == NULL)
		log_fatal("event=fatal reason=\"user %s does not exist\" hint=\"useradd --system %s, "
		    "or set 'user' in the configuration\"", c->run_user, c->run_user);
	ids.uid = pw->pw_uid;
	ids.gid = pw->pw_gid;
	ids.name = c->run_user;
	return ids;
}

static void
ferryd_privileges_drop(const struct ferryd_ids *ids)
{
	if (ids->uid == (uid_t)-1)
		return;
	if (setgroups(0, NULL) < 0 || setgid(ids->gid) < 0 || setuid(ids->uid) < 0)
		log_fatal("event=fatal reason=\"cannot drop privileges: %s\"", strerror(errno));
	if (ids->uid != 0 && setuid(0) == 0)
		log_fatal("event=fatal reason=\"privileges could be regained\"");
}

/* The users file must exist and be readable by the run user, so that
 * ferryd can re-read it after dropping root. */
static void
ferryd_users_file_prepare(const struct conf *c, const struct ferryd_ids *ids)
{
	int fd = open(c->users_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	if (fd < 0)
		return;
	if (ids->uid != (uid_t)-1 && fchown(fd, ids->uid, ids->gid) < 0)
		log_warn("event=users-file-chown-failed file=%s error=\"%s\"", c->users_file, strerror(errno));
	close(fd);
}

/* The state database is created as root and given to the run user, who
 * opens it again from every thread after privileges are dropped. */
static void
ferryd_state_open(struct ferryd *srv, const struct conf *c, const struct ferryd_ids *ids)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char err[1024], path[4096];

	srv->state = state_open(c->state_db, err, sizeof(err));
	if (srv->state == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	for (size_t i = 0; ids->uid != (uid_t)-1 && !db_is_pg_uri(c->state_db) && i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", c->state_db, suffix[i]);
		/* the run user owns the spool: a link there is never followed */
		if (fchownat(AT_FDCWD, path, ids->uid, ids->gid, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno != ENOENT)
			log_warn("event=state-chown-failed file=%s error=\"%s\"", path, strerror(errno));
	}
	/* the shared key directory exists (owned by the run user, whom
	 * ferryctl then gives the keys) before its real name is taken */
	if (c->dkim_key_dir != NULL && mkdir(c->dkim_key_dir, 0700) == 0 && ids->uid != (uid_t)-1 &&
	    chown(c->dkim_key_dir, ids->uid, ids->gid) != 0)
		log_warn("event=dkim-dir-chown-failed dir=%s error=\"%s\"", c->dkim_key_dir, strerror(errno));
	state_key_dir_set(srv->state, c->dkim_key_dir);
	srv->counters = counters_open(c, err, sizeof(err));
	if (srv->counters == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
}

/* The state cache in the counters' Redis (src/state/state_cache.h): only
 * for state on PostgreSQL (SQLite's reads are local already) with counters
 * on Redis, before the threads that write the state start. */
static void
ferryd_state_cache_open(struct ferryd *srv, const struct conf *c)
{
	if (!c->state_cache || !db_is_pg_uri(c->state_db) || !counters_conf_shared(c))
		return;
	srv->state_cache = state_cache_open(srv->state, srv->counters);
	if (srv->state_cache == NULL)
		log_error("event=state-cache-unavailable effect=\"every lookup reads the database\"");
}

/* The reputation windows, after the privilege drop (its thread opens the
 * state database as the run user, like every other thread). */
static void
ferryd_rep_open(struct ferryd *srv, const struct conf *c)
{
	struct rep_limits l;
	char err[1024];

	rep_limits_from_conf(&l, c);
	srv->rep = rep_open(c->state_db, srv->state, &l, err, sizeof(err));
	if (srv->rep == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	rep_autoeval(srv->rep, true);
}

/* The delivery statistics (src/analytics/): counted from every event the
 * outbox sees, written by their own thread. Statistics are not mail: when
 * they cannot start ferryd runs without them. */
static void
ferryd_analytics_open(struct ferryd *srv, const struct conf *c)
{
	char err[1024];

	srv->analytics = analytics_open(c->state_db, true, err, sizeof(err));
	if (srv->analytics == NULL)
		log_error("event=stats-unavailable error=\"%s\"", err);
	else if (outbox_observe(analytics_event_note, srv->analytics) != 0) {
		log_error("event=stats-unavailable error=\"no room for another events observer\"");
		analytics_close(srv->analytics);
		srv->analytics = NULL;
	}
}

static SSL_CTX *
ferryd_tls_load(const struct conf *c, const struct ferryd_ids *ids)
{
	char err[1024];
	SSL_CTX *ctx;

	deliver_routes_tls_warn(c);
	if (c->tls_generate &&
	    tls_selfsigned_ensure(c->tls_cert, c->tls_key, c->hostname, ids->uid, ids->gid,
	    err, sizeof(err)) < 0) {
		log_error("event=tls-unavailable error=\"%s\"", err);
		return NULL;
	}
	ctx = tls_server_ctx_new(c->tls_cert, c->tls_key, err, sizeof(err));
	if (ctx == NULL)
		log_error("event=tls-unavailable error=\"%s\" effect=\"no STARTTLS, no AUTH, no port 465\"", err);
	return ctx;
}

static void
ferryd_fd_limit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Also on reload: the format and syslog follow the configuration. */
static void
ferryd_log_format(const struct conf *c)
{
	log_set_format(c->log_json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	log_set_syslog(c->log_syslog);
}

static void
ferryd_log_setup(const struct conf *c, const struct ferryd_ids *ids)
{
	if (log_open("ferryd", c->log_file) < 0) {
		if (errno == ELOOP)    /* root opens it, maybe where the run user writes */
			log_fatal("event=fatal reason=\"log file %s is a symbolic link, refused\"",
			    c->log_file);
		log_fatal("event=fatal reason=\"cannot open log file %s: %s\"", c->log_file, strerror(errno));
	}
	if (ids->uid != (uid_t)-1 && log_chown(ids->uid, ids->gid) < 0)
		log_warn("event=log-chown-failed file=%s error=\"%s\"", c->log_file, strerror(errno));
	if (c->log_level != NULL && strcmp(c->log_level, "debug") == 0)
		log_set_level(LOG_DEBUG);
	ferryd_log_format(c);
}

/* A certificate that cannot be read on reload keeps the running one:
 * a reload never turns TLS off by accident. */
static SSL_CTX *
ferryd_tls_reload(struct ferryd *srv, const struct conf *c, const struct ferryd_ids *ids)
{
	SSL_CTX *ctx = ferryd_tls_load(c, ids);
	struct server_snap *old;

	if (ctx != NULL)
		return ctx;
	old = server_snap_get(&srv->snaps);
	if (old->tls != NULL && SSL_CTX_up_ref(old->tls) == 1) {
		ctx = old->tls;
		log_warn("event=reload-warning reason=\"keeping the running TLS certificate\"");
	}
	server_snap_put(old);
	return ctx;
}

/* The option of c that only a restart can apply, or NULL. Half of a new
 * spool_dir would follow a reload (users_file, maildir_root, TLS files
 * under it) while the queue, lock and sockets stay: refuse the whole of
 * it instead, as Postfix says "requires restart" for such settings. */
static const char *
ferryd_reload_restart_needed(struct ferryd *srv, const struct conf *c)
{
	struct server_snap *run = server_snap_get(&srv->snaps);
	const char *name = conf_restart_needed(run->conf, c);

	server_snap_put(run);
	return name;
}

/* The node's name is fixed at start (events and the nodes table carry
 * it); a reload that changes it, or the hostname it defaults to, applies
 * the rest and says so, as for listeners. */
static void
ferryd_reload_node_warn(struct ferryd *srv, const struct conf *c)
{
	struct server_snap *run = server_snap_get(&srv->snaps);

	if (strcmp(run->conf->node_name, c->node_name) != 0)
		log_warn("event=reload-warning reason=\"node_name changes need a restart\""
		    " action=\"keeping the running name\" name=%s", run->conf->node_name);
	server_snap_put(run);
}

/* The counters backend is opened once (its connections, its fallback):
 * a changed counters or counters_failure waits for a restart. The URI is
 * not logged: it may hold a password. */
static const char *
ferryd_counters_name(const struct conf *c)
{
	return counters_conf_shared(c) ? c->counters : "local";
}

static void
ferryd_reload_counters_check(struct ferryd *srv, const struct conf *c)
{
	struct server_snap *run = server_snap_get(&srv->snaps);
	bool same = strcmp(ferryd_counters_name(run->conf), ferryd_counters_name(c)) == 0 &&
	    run->conf->counters_fail_open == c->counters_fail_open;

	server_snap_put(run);
	if (!same)
		log_warn("event=reload-warning reason=\"counters and counters_failure changes need a restart\""
		    " action=\"keeping the running counters\"");
}

/* The webhook sender's options (also on reload). */
static void
ferryd_webhooks_set(const struct conf *c)
{
	struct webhook_opts o;

	webhook_opts_from_conf(&o, c);
	webhook_sender_set(&o);
}

/* After the privilege drop (its thread opens the state database as the
 * run user) and after the outbox, whose commits wake it. */
static void
ferryd_webhooks_start(struct ferryd *srv, const struct conf *c)
{
	struct webhook_opts o;
	char err[1024];

	webhook_opts_from_conf(&o, c);
	if (webhook_sender_start(srv->state, &o, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
}

static void
ferryd_reload(struct ferryd *srv, const char *path, const struct ferryd_ids *ids,
    const struct ferryd_spool *fs)
{
	char err[1024];
	struct conf *c = ferryd_spool_conf_load(fs, err, sizeof(err));
	const char *fixed;
	SSL_CTX *ctx;

	if (c == NULL) {
		log_error("event=reload-failed reason=\"configuration has errors\" error=\"%s\" "
		    "action=\"keeping the running configuration\"", err);
		return;
	}
	if ((fixed = ferryd_reload_restart_needed(srv, c)) != NULL) {
		log_error("event=reload-failed reason=\"%s changed: restart needed\" "
		    "action=\"keeping the running configuration\"", fixed);
		conf_free(c);
		return;
	}
	if (log_open(NULL, c->log_file) < 0)
		log_error("event=log-reopen-failed file=%s error=\"%s\"", c->log_file, strerror(errno));
	ferryd_log_format(c);
	ctx = ferryd_tls_reload(srv, c, ids);
	auth_store_reload(srv->auth, c->users_file);
	http_reload(srv->http, c);
	if (c->nlisteners != srv->server.nlisteners)
		log_warn("event=reload-warning reason=\"listener changes need a restart\"");
	ferryd_reload_node_warn(srv, c);
	ferryd_reload_counters_check(srv, c);
	if (srv->rep != NULL) {
		struct rep_limits l;
		rep_limits_from_conf(&l, c);
		rep_limits_set(srv->rep, &l);
	}
	server_snap_set(&srv->snaps, c, ctx);
	ferryd_webhooks_set(c);
	if (srv->qmgr != NULL)
		qmgr_conf_changed(srv->qmgr);   /* delivery on, new limits: now, not at the next tick */
	log_info("event=reloaded config=%s", path ? path : "(embedded)");
}

static int
ferryd_signals_wait(struct ferryd *srv, const char *path, const struct ferryd_ids *ids,
    const struct ferryd_spool *fs)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			ferryd_notify_reloading();
			ferryd_reload(srv, path, ids, fs);
			ferryd_notify_ready("accepting mail (configuration reloaded)");
			continue;
		}
		ferryd_notify_stopping();
		log_info("event=shutdown signal=%s", sig == SIGTERM ? "TERM" : "INT");
		return 0;
	}
}

static void
ferryd_signals_block(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The HTTP API gets the daemon's handles it uses, not the whole context. */
static void
ferryd_http_start(struct ferryd *srv, const struct conf *c)
{
	struct http_handles h = { .state = srv->state, .spool = srv->spool, .qmgr = srv->qmgr,
	    .rep = srv->rep, .counters = srv->counters, .snaps = &srv->snaps };
	char err[1024];

	if (http_start(srv->http, &h, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
	for (size_t i = 0; i < c->nhttp_listeners; i++)
		log_info("event=listening listener=%s address=%s threads=%lld",
		    conf_role_name(c->http_listeners[i].role), c->http_listeners[i].text, c->http_threads);
}

/* Delivery gets the daemon's handles it uses, not the whole context. */
static struct deliver_handles
ferryd_deliver_handles(struct ferryd *srv)
{
	return (struct deliver_handles){ .spool = srv->spool, .state = srv->state,
	    .counters = srv->counters, .snaps = &srv->snaps, .rep = srv->rep };
}

/* Inbound SMTP gets the daemon's handles it uses, not the whole context. */
static struct smtp_handles
ferryd_smtp_handles(struct ferryd *srv)
{
	return (struct smtp_handles){ .spool = srv->spool, .auth = srv->auth,
	    .state = srv->state, .counters = srv->counters, .qmgr = srv->qmgr,
	    .snaps = &srv->snaps, .rep = srv->rep };
}

static size_t
ferryd_worker_count(const struct conf *c)
{
	long n = c->workers > 0 ? (long)c->workers : sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (size_t)n : 1;
}

int
main(int argc, char **argv)
{
	struct ferryd_opts o = { 0 };
	struct ferryd srv = { 0 };
	struct smtp_handles smtp;
	struct deliver_handles delivery;
	struct ferryd_ids ids;
	struct ferryd_spool fs;
	struct conf *c;
	struct control *ctl;
	struct node *node;
	SSL_CTX *ctx;
	char err[1024];
	size_t nworkers;
	long queued;

	ferryd_opts_parse(argc, argv, &o);
	log_open("ferryd", NULL);
	if ((c = ferryd_conf_load(o.conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ferryd: %s\n", err);
		return 1;
	}
	if (o.check_only) {
		int rc = ferryd_check(c);
		conf_free(c);
		return rc;
	}
	ferryd_signals_block();
	ferryd_fd_limit_raise();
	ids = ferryd_run_user(c);
	ferryd_log_setup(c, &ids);
	webhook_sender_init();        /* before other threads and the outbox */
	pthread_mutex_init(&srv.snaps.lock, NULL);
	server_init(&srv.server, &srv.snaps);
	srv.spool = spool_open(c->spool_dir, ids.uid, ids.gid, c->spool_syncfs, err, sizeof(err));
	if (srv.spool == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	ferryd_spool_enter(&fs, c->spool_dir, o.conf_path);
	ferryd_spool_rebase(&fs, c);
	o.conf_path = fs.conf_path;
	ferryd_users_file_prepare(c, &ids);
	ctx = ferryd_tls_load(c, &ids);
	srv.auth = auth_store_new(c->users_file, 2, err, sizeof(err));
	if (srv.auth == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	ferryd_state_open(&srv, c, &ids);
	auth_store_set_state(srv.auth, srv.state);
	metrics_init(FERRY_VERSION, srv.state);   /* tenant names for the metrics */
	outbox_observe(metrics_event_note, NULL);  /* counters by tenant and category, latency */
	sender_init();
	spool_recover(srv.spool);
	nworkers = ferryd_worker_count(c);
	if ((srv.http = http_listen(c, ids.uid, ids.gid, err, sizeof(err))) == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	if (server_listen(&srv.server, c, nworkers, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
	ctl = control_open(c->control_socket, ids.uid, ids.gid, err, sizeof(err));
	if (ctl == NULL)
		log_fatal("event=fatal reason=\"%s\"", err);
	ferryd_privileges_drop(&ids);
	ferryd_spool_check(&fs, c, srv.state, ctx != NULL);
	ferryd_state_cache_open(&srv, c);
	ferryd_rep_open(&srv, c);
	ferryd_analytics_open(&srv, c);    /* an observer: registered before the outbox starts */
	/* events of every outcome (webhooks, API, metrics read them) */
	state_events_node_set(c->node_name);
	if (srv.state != NULL && outbox_start(c->state_db, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"%s\"", err);
	ferryd_webhooks_start(&srv, c);
	if (spool_committer_start(srv.spool) < 0)
		log_fatal("event=fatal reason=\"cannot start the spool committer\"");
	server_snap_set(&srv.snaps, c, ctx);
	delivery = ferryd_deliver_handles(&srv);
	delivery.counters_remote = counters_conf_shared(c);
	srv.qmgr = qmgr_new(&delivery);
	queued = qmgr_load(srv.qmgr);
	if (qmgr_start(srv.qmgr, (int)c->delivery_threads) < 0 || control_start(ctl, srv.qmgr) < 0)
		log_fatal("event=fatal reason=\"cannot start the queue manager\"");
	/* the heartbeat reads the queue's counts; it is news, not a gate */
	if ((node = node_heartbeat_start(srv.state, srv.qmgr, c)) == NULL)
		log_error("event=node-heartbeat-failed name=%s error=\"cannot start its thread\"", c->node_name);
	smtp = ferryd_smtp_handles(&srv);
	if (server_workers_start(&srv.server, &smtp_proto, &smtp) < 0)
		log_fatal("event=fatal reason=\"cannot start workers\"");
	for (size_t i = 0; i < c->nlisteners; i++)
		log_info("event=listening listener=%s address=%s", conf_role_name(c->listeners[i].role),
		    c->listeners[i].text);
	ferryd_http_start(&srv, c);
	log_info("event=started version=%s config=%s spool=%s queued=%ld workers=%zu user=%s tls=%s",
	    FERRY_VERSION, o.conf_path ? o.conf_path : "(embedded)", fs.spool, queued, nworkers,
	    ids.name ? ids.name : "(unchanged)", ctx ? "yes" : "no");
	ferryd_notify_ready("accepting mail, %ld queued at start", queued);
	ferryd_signals_wait(&srv, o.conf_path, &ids, &fs);
	node_heartbeat_stop(node);    /* first: it reads the queue and the state */
	http_free(srv.http);          /* its handlers use everything below */
	server_workers_stop(&srv.server);
	control_stop(ctl);
	qmgr_stop(srv.qmgr);          /* deliveries in progress finish first */
	spool_committer_stop(srv.spool);
	webhook_sender_stop();         /* before the state closes; in-flight POSTs are sent again */
	auth_store_free(srv.auth);     /* its threads use the state */
	rep_close(srv.rep);            /* after SMTP and delivery, which note into it */
	state_cache_close(srv.state_cache);   /* after every user of the state but the outbox's */
	counters_close(srv.counters);
	outbox_stop();                 /* last: every module above emits events */
	analytics_close(srv.analytics);  /* after the outbox: its last events count */
	state_close(srv.state);
	server_workers_free(&srv.server);
	sender_shutdown();
	spool_close(srv.spool);
	qmgr_free(srv.qmgr);
	server_free(&srv.server);
	server_snap_put(srv.snaps.cur);
	log_info("event=stopped");
	ferryd_spool_leave(&fs);
	return 0;
}
