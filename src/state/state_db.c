/*
 * state_db.c - the state database: opening it, its schema, and one SQLite
 * connection per thread (SQLite connections must not be shared between
 * threads without its own mutex; one each keeps readers from waiting on
 * each other, and WAL lets them read while ferryctl writes).
 * SECURITY: the file is created 0600 and refused when group or world may
 * read it (it holds password and key hashes). A relative path stays
 * relative (see state_vfs_full_pathname): ferryd opens it from its spool directory
 * after dropping root, through parents the run user may not search.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/state.h"
#include "db/db.h"
#include "state/state_internal.h"
#include "util/xmalloc.h"

struct state {
	char         *path;
	char         *dir_real;   /* path's directory, links resolved; NULL if unknown */
	char         *key_dir;    /* dkim_key_dir, or NULL */
	char         *key_dir_real;   /* the same, links resolved (as ferryctl records keys) */
	pthread_key_t tls_key;
	/* The return-path secret, made with the database and never changed:
	 * read once at open (read-only afterwards, so any thread may copy it)
	 * rather than per tenant message, return-path RCPT and attempt. */
	bool          verp_ok;
	unsigned char verp[32];
	/* state_change_hook_set / state_cache_attach: set before the threads start */
	state_change_fn    change_fn;
	void              *change_arg;
	struct state_cache *cache;
};

static int state_verp_secret_read(struct state *st, unsigned char out[32]);

/* Version 1. Limits: 0 = none. Times are Unix seconds. */
static const char state_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    /* AUTOINCREMENT: a tenant id is never given twice (rows keyed by it
     * outlive no tenant, see adm_tenant_id_next; databases made before
     * keep their table and rely on meta 'tenant_id_max' alone) */
    "CREATE TABLE IF NOT EXISTS tenants("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL,"
    " suspended INTEGER NOT NULL DEFAULT 0, suspend_reason TEXT NOT NULL DEFAULT '',"
    " pool TEXT NOT NULL DEFAULT '', bounce_domain TEXT NOT NULL DEFAULT '',"
    " per_minute INTEGER NOT NULL DEFAULT 0, per_hour INTEGER NOT NULL DEFAULT 0,"
    " per_day INTEGER NOT NULL DEFAULT 0, rcpts INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, weight INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS accounts("
    " id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " name TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,"
    " per_minute INTEGER NOT NULL DEFAULT 0, per_hour INTEGER NOT NULL DEFAULT 0,"
    " per_day INTEGER NOT NULL DEFAULT 0, rcpts INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS api_keys("
    " id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " prefix TEXT UNIQUE NOT NULL, hash BLOB NOT NULL, label TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS domains("
    " id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " name TEXT UNIQUE NOT NULL, subdomains INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dkim_keys("
    " id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,"
    " selector TEXT NOT NULL, algo TEXT NOT NULL, path TEXT NOT NULL,"
    " signing INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL,"
    " UNIQUE(domain_id, selector));"
    "CREATE TABLE IF NOT EXISTS connectors("
    " id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " name TEXT UNIQUE NOT NULL, network TEXT NOT NULL, domains TEXT NOT NULL DEFAULT '',"
    " pool TEXT NOT NULL DEFAULT '',"
    " per_minute INTEGER NOT NULL DEFAULT 0, per_hour INTEGER NOT NULL DEFAULT 0,"
    " per_day INTEGER NOT NULL DEFAULT 0, rcpts INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters("
    " key TEXT NOT NULL, period INTEGER NOT NULL, window INTEGER NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY(key, period));"
    "CREATE TABLE IF NOT EXISTS warmup(addr TEXT PRIMARY KEY, first_day INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bounces("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, tenant_id INTEGER NOT NULL,"
    " queue_id TEXT NOT NULL, rcpt_index INTEGER NOT NULL, rcpt TEXT NOT NULL DEFAULT '',"
    " sender TEXT NOT NULL DEFAULT '', client TEXT NOT NULL DEFAULT '');"
    /* events (events.h). AUTOINCREMENT: an id is never given twice, even
     * after the newest rows are deleted (a tenant removed, the prune), so
     * a webhook's cursor "id > N" never skips a new event; databases made
     * before are rebuilt so (state_events_autoincrement). */
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, tenant_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " queue_id TEXT NOT NULL DEFAULT '', rcpt_index INTEGER NOT NULL DEFAULT -1,"
    " rcpt TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', hard INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',"
    " report_id TEXT NOT NULL DEFAULT '');"
    /* reputation windows (src/reputation/): counts per 5-minute bucket */
    "CREATE TABLE IF NOT EXISTS reputation("
    " tenant_id INTEGER NOT NULL, metric TEXT NOT NULL, bucket INTEGER NOT NULL,"
    " count INTEGER NOT NULL, PRIMARY KEY(tenant_id, metric, bucket)) WITHOUT ROWID;"
    /* Suppression lists (state_suppress.c): addr lowercased whole, reason
     * hard-bounce|soft-bounce|complaint|unsubscribe|manual, expires 0 never,
     * cause the event that caused it; soft failures counted until a
     * threshold. Keyed (tenant, addr) without rowid: the RCPT lookup is one
     * b-tree descent. */
    "CREATE TABLE IF NOT EXISTS suppressions("
    " tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " addr TEXT NOT NULL, reason TEXT NOT NULL, time INTEGER NOT NULL,"
    " expires INTEGER NOT NULL DEFAULT 0, cause TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(tenant_id, addr)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS soft_failures("
    " tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " addr TEXT NOT NULL, count INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,"
    " PRIMARY KEY(tenant_id, addr)) WITHOUT ROWID;"
    /* Webhooks (src/webhook/): a tenant's endpoints. secret signs each POST
     * (kept as text: the HMAC needs it); events is a comma list of kinds,
     * "" for all; cursor the last event id delivered (a 2xx), failures,
     * next_try, failing_since (first failure of the current batch) and
     * last_error the retry state, so a restart resumes where it stopped.
     * AUTOINCREMENT: an id is never given twice (the sender keys its
     * in-memory state by id). */
    "CREATE TABLE IF NOT EXISTS webhooks("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL, secret TEXT NOT NULL, events TEXT NOT NULL DEFAULT '',"
    " cursor INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,"
    " failing_since INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS webhooks_tenant ON webhooks(tenant_id);"
    /* Delivery statistics (src/analytics/): counts per tenant x hour x
     * destination domain x source address, and bounces per category with
     * the latest reply as a sample; upserts add, kept ANALYTICS_KEEP. Keyed
     * tenant first, then hour: a tenant's window is one range scan; the
     * hour indexes serve "every tenant" and the prune. */
    "CREATE TABLE IF NOT EXISTS stats_hourly("
    " tenant_id INTEGER NOT NULL, hour INTEGER NOT NULL, domain TEXT NOT NULL, source_ip TEXT NOT NULL,"
    " sent INTEGER NOT NULL DEFAULT 0, delivered INTEGER NOT NULL DEFAULT 0,"
    " deferred INTEGER NOT NULL DEFAULT 0, bounced INTEGER NOT NULL DEFAULT 0,"
    " expired INTEGER NOT NULL DEFAULT 0, complained INTEGER NOT NULL DEFAULT 0,"
    " suppressed INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(tenant_id, hour, domain, source_ip)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS stats_hourly_hour ON stats_hourly(hour);"
    "CREATE TABLE IF NOT EXISTS stats_bounces("
    " tenant_id INTEGER NOT NULL, hour INTEGER NOT NULL, domain TEXT NOT NULL, category TEXT NOT NULL,"
    " count INTEGER NOT NULL DEFAULT 0, sample_reply TEXT NOT NULL DEFAULT '',"
    " sample_status TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(tenant_id, hour, domain, category)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS stats_bounces_hour ON stats_bounces(hour);"
    /* The nodes sharing this state (src/cluster/): each writes its row
     * every few seconds; `ferryctl cluster status` reads them. */
    "CREATE TABLE IF NOT EXISTS nodes(name TEXT PRIMARY KEY, version TEXT NOT NULL DEFAULT '',"
    " started INTEGER NOT NULL DEFAULT 0, heartbeat INTEGER NOT NULL DEFAULT 0,"
    " queue_messages INTEGER NOT NULL DEFAULT 0, queue_recipients INTEGER NOT NULL DEFAULT 0,"
    " listen TEXT NOT NULL DEFAULT '');";

static sqlite3_vfs state_vfs, *state_vfs_base;
static pthread_once_t state_vfs_once = PTHREAD_ONCE_INIT;

/* SQLite's unix VFS makes every name absolute from getcwd() and lstat()s
 * each component: a relative name then fails with "unable to open" for a
 * user who may not search a parent of the working directory (ferryd after
 * the privilege drop under a 0700 /root). This VFS is the default one with
 * relative names kept relative; journal, WAL and -shm names follow. */
static int
state_vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int nout, char *out)
{
	size_t len = strlen(name);

	(void)vfs;
	if (name[0] == '/')
		return state_vfs_base->xFullPathname(state_vfs_base, name, nout, out);
	if (nout <= 0 || len >= (size_t)nout)
		return SQLITE_CANTOPEN;
	memcpy(out, name, len + 1);
	return DB_OK;
}

static void
state_vfs_register(void)
{
	state_vfs_base = sqlite3_vfs_find(NULL);
	state_vfs = *state_vfs_base;
	state_vfs.zName = "ferry-relative";
	state_vfs.pNext = NULL;
	state_vfs.xFullPathname = state_vfs_full_pathname;
	sqlite3_vfs_register(&state_vfs, 0);
}

/* Close a thread's connection with the statements state_prepare kept. */
static void
state_conn_free(void *p)
{
	db_close(p);
}

static int
state_err(char *err, size_t errlen, const char *path, const char *what, struct db *db)
{
	snprintf(err, errlen, "%s: %s: %s", path, what,
	    db != NULL ? db_errmsg(db) : strerror(errno));
	return -1;
}

/* A new SQLite connection with the settings every user of the file needs. */
static sqlite3 *
state_sqlite_connect(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc;

	pthread_once(&state_vfs_once, state_vfs_register);
	rc = sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	    state_vfs.zName);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path, db != NULL ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close_v2(db);
		return NULL;
	}
	/* busy_timeout: ferryctl and ferryd's threads write the same file;
	 * synchronous=NORMAL in WAL keeps every commit durable against a crash
	 * of the process (the state is not mail: a power loss may lose the
	 * last second of counters, never corrupt the file). */
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	    " PRAGMA foreign_keys=ON;", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot set up: %s", path, sqlite3_errmsg(db));
		sqlite3_close_v2(db);
		return NULL;
	}
	return db;
}

/* A new connection: PostgreSQL for a postgresql:// location (the server
 * keeps its own settings), else the SQLite file. */
struct db *
state_db_connect(const char *path, char *err, size_t errlen)
{
	sqlite3 *h;
	struct db *db;

	if (db_is_pg_uri(path))
		return db_pg_connect(path, err, errlen);
	if ((h = state_sqlite_connect(path, err, errlen)) == NULL)
		return NULL;
	if ((db = db_sqlite_wrap(h)) == NULL) {
		sqlite3_close_v2(h);
		snprintf(err, errlen, "%s: no memory", path);
	}
	return db;
}

/* Create the file 0600 (SQLite would use the umask) and refuse a file
 * others may read. An existing file is only lstat()ed, never opened: a
 * close(2) of any descriptor of the file drops every POSIX lock this
 * process holds on it, so opening it here while other connections of the
 * process are live (a module opening the state after start) would take
 * away their WAL read locks, and with them the snapshot they read. */
static int
state_file_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return state_err(err, errlen, path, "cannot stat", NULL);
		/* new: no connection can hold a lock on it yet */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno != EEXIST)
			return state_err(err, errlen, path, "cannot create", NULL);
		if (fd >= 0)
			close(fd);
		if (lstat(path, &st) != 0)
			return state_err(err, errlen, path, "cannot stat", NULL);
	}
	if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (a link?): refused", path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: readable by group or others (mode %04o): "
		    "it holds password hashes; chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Columns added to tenants since a database was made, each added when
 * missing: a tenant's delivery weight; its reputation enforcement (state
 * 0 none, 1 throttled, 2 review, 3 suspended; reason, time, last resume)
 * and threshold overrides (-1: the global abuse_* value; rates in ppm). */
static const char *const state_tenant_columns[][2] = {
	{ "weight", "weight INTEGER NOT NULL DEFAULT 1" },
	/* suppressed recipients: reject|drop (src/state/state_suppress.c) */
	{ "suppress_mode", "suppress_mode TEXT NOT NULL DEFAULT 'reject'" },
	/* a content filter's spam verdict: reject|hold|header (milter) */
	{ "spam_action", "spam_action TEXT NOT NULL DEFAULT 'reject'" },
	/* reputation (src/reputation/rep_enforce.c) */
	{ "enforce_state", "enforce_state INTEGER NOT NULL DEFAULT 0" },
	{ "enforce_reason", "enforce_reason TEXT NOT NULL DEFAULT ''" },
	{ "enforce_time", "enforce_time INTEGER NOT NULL DEFAULT 0" },
	{ "enforce_resumed", "enforce_resumed INTEGER NOT NULL DEFAULT 0" },
	{ "rep_min_volume", "rep_min_volume INTEGER NOT NULL DEFAULT -1" },
	{ "rep_complaint_throttle", "rep_complaint_throttle INTEGER NOT NULL DEFAULT -1" },
	{ "rep_complaint_suspend", "rep_complaint_suspend INTEGER NOT NULL DEFAULT -1" },
	{ "rep_hard_throttle", "rep_hard_throttle INTEGER NOT NULL DEFAULT -1" },
	{ "rep_unknown_throttle", "rep_unknown_throttle INTEGER NOT NULL DEFAULT -1" },
	{ "rep_spike_factor", "rep_spike_factor INTEGER NOT NULL DEFAULT -1" },
	{ "rep_spike_min", "rep_spike_min INTEGER NOT NULL DEFAULT -1" },
	{ "rep_throttle_rate", "rep_throttle_rate INTEGER NOT NULL DEFAULT -1" },
	/* one-click unsubscribe headers on its mail (src/state/unsub.c) */
	{ "unsubscribe", "unsubscribe INTEGER NOT NULL DEFAULT 0" },
};

/* Columns added to events since a database was made (issue 11: the
 * delivery fields of every outcome). */
static const char *const state_event_columns[][2] = {
	{ "message_id", "message_id TEXT NOT NULL DEFAULT ''" },
	{ "sender", "sender TEXT NOT NULL DEFAULT ''" },
	{ "source_ip", "source_ip TEXT NOT NULL DEFAULT ''" },
	{ "site", "site TEXT NOT NULL DEFAULT ''" },
	{ "code", "code INTEGER NOT NULL DEFAULT 0" },
	{ "attempt", "attempt INTEGER NOT NULL DEFAULT 0" },
	{ "delay", "delay INTEGER NOT NULL DEFAULT 0" },
	{ "size", "size INTEGER NOT NULL DEFAULT 0" },
	/* issue 12: which node of a cluster wrote it */
	{ "node", "node TEXT NOT NULL DEFAULT ''" },
};

/* Columns added to stats_hourly (issue 12: the node that counted). */
static const char *const state_stats_columns[][2] = {
	{ "node", "node TEXT NOT NULL DEFAULT ''" },
};

static const char state_events_indexes[] =
    "CREATE INDEX IF NOT EXISTS events_tenant ON events(tenant_id, id);"
    "CREATE INDEX IF NOT EXISTS events_message ON events(queue_id) WHERE queue_id != '';"
    "CREATE INDEX IF NOT EXISTS events_time ON events(time);"
    /* the API's searches */
    /* lower(): the same text runs on PostgreSQL (no NOCASE there) */
    "DROP INDEX IF EXISTS events_rcpt;"
    "CREATE INDEX IF NOT EXISTS events_rcpt_lower ON events(lower(rcpt)) WHERE rcpt != '';"
    "CREATE INDEX IF NOT EXISTS events_msgid ON events(message_id) WHERE message_id != '';";

/* A database made before events had AUTOINCREMENT: the table rebuilt with
 * it (same columns, same rows and ids; the sequence starts at the highest
 * id). Within the schema transaction. 0 or -1. */
static int
state_events_autoincrement(struct db *db)
{
	struct db_stmt *stmt = NULL;
	char *create = NULL, *at;
	int rc = -1;

	if (db_prepare(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events';", &stmt) != DB_OK)
		return -1;
	if (db_step(stmt) == DB_ROW && db_column_text(stmt, 0) != NULL)
		create = sqlite3_mprintf("%s", (const char *)db_column_text(stmt, 0));
	db_finalize(stmt);
	if (create == NULL)
		return -1;
	if (strstr(create, "AUTOINCREMENT") != NULL) {
		sqlite3_free(create);
		return 0;
	}
	if ((at = strstr(create, "id INTEGER PRIMARY KEY,")) != NULL) {
		char *fixed = sqlite3_mprintf("%.*sid INTEGER PRIMARY KEY AUTOINCREMENT,%s", (int)(at - create),
		    create, at + strlen("id INTEGER PRIMARY KEY,"));
		char *sql = sqlite3_mprintf("DROP INDEX IF EXISTS events_tenant; DROP INDEX IF EXISTS events_message;"
		    " DROP INDEX IF EXISTS events_time; DROP INDEX IF EXISTS events_rcpt;"
		    " DROP INDEX IF EXISTS events_msgid; ALTER TABLE events RENAME TO events_old; %s;"
		    " INSERT INTO events SELECT * FROM events_old; DROP TABLE events_old;"
		    /* the kinds' names before issue 11 */
		    " UPDATE events SET kind = 'bounced' WHERE kind = 'bounce';"
		    " UPDATE events SET kind = 'complained' WHERE kind = 'complaint';"
		    /* never below an id a webhook cursor has seen (newest rows pruned) */
		    " INSERT INTO sqlite_sequence(name, seq) SELECT 'events', 0"
		    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');"
		    " UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(cursor), 0) FROM webhooks))"
		    "  WHERE name = 'events';", fixed);
		rc = sql != NULL && db_exec(db, sql) == DB_OK ? 0 : -1;
		sqlite3_free(sql);
		sqlite3_free(fixed);
	}
	sqlite3_free(create);
	return rc;
}

/* Add each of n columns of table that is missing. */
static int
state_columns_add(struct db *db, const char *table, const char *const cols[][2], size_t n)
{
	struct db_stmt *probe = NULL;
	char sql[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s LIMIT 0;", cols[i][0], table);
		if (db_prepare(db, sql, &probe) == DB_OK) {
			db_finalize(probe);
			continue;
		}
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s;", table, cols[i][1]);
		if (db_exec(db, sql) != DB_OK)
			return -1;
	}
	return 0;
}

static int
state_schema_upgrade(struct db *db)
{
	if (state_columns_add(db, "tenants", state_tenant_columns,
	    sizeof(state_tenant_columns) / sizeof(state_tenant_columns[0])) != 0)
		return -1;
	if (state_columns_add(db, "stats_hourly", state_stats_columns,
	    sizeof(state_stats_columns) / sizeof(state_stats_columns[0])) != 0)
		return -1;
	if (state_columns_add(db, "events", state_event_columns,
	    sizeof(state_event_columns) / sizeof(state_event_columns[0])) != 0)
		return -1;
	if (state_events_autoincrement(db) != 0)
		return -1;
	/* after the columns exist (and after a rebuild, which drops them) */
	return db_exec(db, state_events_indexes) == DB_OK ? 0 : -1;
}

/* SQLite: the schema made or brought up to date in place (the embedded
 * default needs no migrate step). PostgreSQL: the versioned migrations,
 * under an advisory lock, so the first node up (or `ferryctl db migrate`)
 * applies them and the others wait. Then the installation's secret. */
static int
state_schema_create(struct db *db, const char *path, char *err, size_t errlen)
{
	unsigned char secret[32];
	struct db_stmt *stmt = NULL;
	int rc, from, to;

	if (db_dialect(db) == DB_PG) {
		if (db_pg_migrate(db, &from, &to, err, errlen) != 0)
			return -1;
	} else if (db_exec(db, "BEGIN IMMEDIATE;") != DB_OK || db_exec(db, state_schema) != DB_OK ||
	    state_schema_upgrade(db) != 0 || db_exec(db, "COMMIT;") != DB_OK)
		goto fail;
	randombytes_buf(secret, sizeof(secret));
	if (db_prepare(db, "INSERT OR IGNORE INTO meta(key, value) VALUES ('verp_secret', ?1);", &stmt) != DB_OK)
		goto fail;
	db_bind_blob(stmt, 1, secret, sizeof(secret));
	rc = db_step(stmt);
	db_finalize(stmt);
	sodium_memzero(secret, sizeof(secret));
	if (rc != DB_DONE)
		goto fail;
	return 0;
fail:
	state_err(err, errlen, path, "cannot create the schema", db);
	db_exec(db, "ROLLBACK;");
	return -1;
}

/* The directory of path with links resolved, as ferryctl records key
 * paths under it (see dkg_place). */
static char *
state_dir_real(const char *path)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return realpath(dir, real) != NULL ? xstrdup(real) : NULL;
}

void
state_file_path(const struct state *st, const char *stored, char *out, size_t outlen)
{
	size_t n = st->dir_real != NULL ? strlen(st->dir_real) : 0;
	size_t k = st->key_dir_real != NULL ? strlen(st->key_dir_real) : 0;
	const char *slash = strrchr(st->path, '/');

	/* a key under dkim_key_dir: reached through the name this process
	 * was given for it (ferryd's is relative to its spool) */
	if (k > 1 && strncmp(stored, st->key_dir_real, k) == 0 && stored[k] == '/') {
		snprintf(out, outlen, "%s%s", st->key_dir, stored + k);
		return;
	}

	if (n > 1 && strncmp(stored, st->dir_real, n) == 0 && stored[n] == '/')
		snprintf(out, outlen, "%.*s%s", slash == NULL ? 0 : (int)(slash - st->path + 1),
		    st->path, stored + n + 1);
	else
		snprintf(out, outlen, "%s", stored);
}

struct state *
state_open(const char *path, char *err, size_t errlen)
{
	struct state *st;
	struct db *db;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium: cannot initialise");
		return NULL;
	}
	if (!db_is_pg_uri(path) && state_file_check(path, err, errlen) != 0)
		return NULL;
	db = state_db_connect(path, err, errlen);
	if (db == NULL)
		return NULL;
	if (state_schema_create(db, path, err, errlen) != 0) {
		db_close(db);
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->dir_real = db_is_pg_uri(path) ? NULL : state_dir_real(path);
	if (pthread_key_create(&st->tls_key, state_conn_free) != 0) {
		db_close(db);
		free(st->path);
		free(st->dir_real);
		free(st);
		snprintf(err, errlen, "%s: no thread key", path);
		return NULL;
	}
	pthread_setspecific(st->tls_key, db);
	st->verp_ok = state_verp_secret_read(st, st->verp) == 0;
	return st;
}

void
state_close(struct state *st)
{
	struct db *db;

	if (st == NULL)
		return;
	/* Only this thread's connection can be closed here; other threads'
	 * close when they exit (the key's destructor). */
	db = pthread_getspecific(st->tls_key);
	if (db != NULL) {
		pthread_setspecific(st->tls_key, NULL);
		state_conn_free(db);
	}
	sodium_memzero(st->verp, sizeof(st->verp));
	free(st->path);
	free(st->dir_real);
	free(st->key_dir);
	free(st->key_dir_real);
	free(st);
}

int
state_check(const struct state *st, char *err, size_t errlen)
{
	struct db *db = state_db_connect(st->path, err, errlen);
	struct db_stmt *stmt = NULL;
	int rc;

	if (db == NULL)
		return -1;
	rc = db_prepare(db, "SELECT count(*) FROM meta;", &stmt);
	if (rc == DB_OK)
		rc = db_step(stmt);
	if (rc != DB_ROW)
		state_err(err, errlen, st->path, "cannot read", db);
	db_finalize(stmt);
	db_close(db);
	return rc == DB_ROW ? 0 : -1;
}

const char *
state_path(const struct state *st)
{
	return st->path;
}

void
state_key_dir_set(struct state *st, const char *dir)
{
	char real[PATH_MAX];

	free(st->key_dir);
	free(st->key_dir_real);
	st->key_dir = dir != NULL ? xstrdup(dir) : NULL;
	st->key_dir_real = dir != NULL && realpath(dir, real) != NULL ? xstrdup(real) : NULL;
}

const char *
state_key_dir(const struct state *st)
{
	return st->key_dir;
}

struct db *
state_db(struct state *st)
{
	char err[512];
	struct db *db = pthread_getspecific(st->tls_key);

	if (db != NULL)
		return db;
	db = state_db_connect(st->path, err, sizeof(err));
	if (db != NULL)
		pthread_setspecific(st->tls_key, db);
	return db;
}

struct db_stmt *
state_prepare(struct state *st, const char *sql)
{
	/* The same dozen statements run for every message: each stays
	 * prepared on its thread's connection once made, and is found again by
	 * its text (preparing the joins cost more than the queries). */
	return db_cached(state_db(st), sql);
}

void
state_stmt_done(struct db_stmt *stmt)
{
	db_stmt_done(stmt);
}

void
state_text_copy(char *dst, size_t size, struct db_stmt *stmt, int col)
{
	const unsigned char *t = db_column_text(stmt, col);

	snprintf(dst, size, "%s", t != NULL ? (const char *)t : "");
}

void
state_limits_read(struct state_limits *l, struct db_stmt *stmt, int col)
{
	l->per_minute = db_column_int64(stmt, col);
	l->per_hour = db_column_int64(stmt, col + 1);
	l->per_day = db_column_int64(stmt, col + 2);
	l->rcpts = db_column_int64(stmt, col + 3);
}

int
state_verp_secret(struct state *st, unsigned char out[32])
{
	if (st->verp_ok) {
		memcpy(out, st->verp, sizeof(st->verp));
		return 0;
	}
	return state_verp_secret_read(st, out);
}

static int
state_verp_secret_read(struct state *st, unsigned char out[32])
{
	struct db_stmt *stmt = state_prepare(st, "SELECT value FROM meta WHERE key = 'verp_secret';");
	int rc = -1;

	if (stmt == NULL)
		return -1;
	if (db_step(stmt) == DB_ROW && db_column_bytes(stmt, 0) == 32) {
		memcpy(out, db_column_blob(stmt, 0), 32);
		rc = 0;
	}
	state_stmt_done(stmt);
	return rc;
}

static int
state_bounces_insert(struct state *st, time_t now, const struct state_bounce *b, size_t n,
    const char *sender, size_t sender_len, const char *client)
{
	struct db_stmt *stmt = state_prepare(st, "INSERT INTO bounces(time, tenant_id, queue_id,"
	    " rcpt_index, rcpt, sender, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7);");
	int rc = DB_DONE;

	if (stmt == NULL)
		return -1;
	for (size_t i = 0; i < n && rc == DB_DONE; i++) {
		db_bind_int64(stmt, 1, (long long)now);
		db_bind_int64(stmt, 2, b[i].tenant_id);
		db_bind_text(stmt, 3, b[i].queue_id, -1);
		db_bind_int64(stmt, 4, b[i].rcpt_index);
		db_bind_text(stmt, 5, b[i].rcpt, (int)b[i].rcpt_len);
		db_bind_text(stmt, 6, sender, (int)sender_len);
		db_bind_text(stmt, 7, client, -1);
		rc = db_step(stmt);
		state_stmt_done(stmt);
	}
	return rc == DB_DONE ? 0 : -1;
}

int
state_bounces_record(struct state *st, time_t now, const struct state_bounce *b, size_t n,
    const char *sender, size_t sender_len, const char *client)
{
	struct db *db = state_db(st);
	int rc = -1;

	if (db == NULL || db_exec(db, "PRAGMA synchronous=FULL;") != DB_OK)
		return -1;
	if (db_exec(db, "BEGIN IMMEDIATE;") == DB_OK) {
		if (state_bounces_insert(st, now, b, n, sender, sender_len, client) == 0 &&
		    db_exec(db, "COMMIT;") == DB_OK)
			rc = 0;
		else
			db_exec(db, "ROLLBACK;");
	}
	db_exec(db, "PRAGMA synchronous=NORMAL;");
	return rc;
}

void
state_change_hook_set(struct state *st, state_change_fn fn, void *arg)
{
	st->change_fn = fn;
	st->change_arg = arg;
}

void
state_changed(struct state *st, long long tenant_id)
{
	if (st->change_fn != NULL && tenant_id > 0)
		st->change_fn(st->change_arg, tenant_id);
}

int
state_changed_if(struct state *st, long long tenant_id, int rc)
{
	if (rc == 0)
		state_changed(st, tenant_id);
	return rc;
}

struct state_cache *
state_cache_of(const struct state *st)
{
	return st->cache;
}

void
state_cache_attach(struct state *st, struct state_cache *c)
{
	st->cache = c;
}
