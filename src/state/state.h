/*
 * state.h - the relay service's state: tenants, their accounts, API keys,
 * sender domains, DKIM keys and connectors, kept in one SQLite database
 * (WAL mode) that ferryd reads and ferryctl edits. Nothing is cached in
 * ferryd: each lookup reads the database, so a suspension or a revoked key
 * takes effect on the next command (reads in WAL mode are microseconds).
 * With the state on PostgreSQL and counters on Redis, the identity at MAIL
 * and the suppressions at RCPT are cached in Redis instead, under a
 * generation each change moves on (state_cache.h): the same holds.
 * Counters (rate limits, warm-up caps) are not here: see counters.h.
 *
 * Threads: every thread gets its own connection (opened on first use), so
 * any thread may call any function. Functions return 0/1 for answers and
 * -1 on a database error (the caller answers 4xx: try again later).
 *
 * SECURITY: the database holds argon2id password hashes and SHA-256 hashes
 * of API keys (never a key itself). It is created mode 0600; state_open
 * refuses a file readable by group or world. Every query binds its values;
 * no text from a client is ever part of SQL.
 */
#ifndef FERRY_STATE_STATE_H
#define FERRY_STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#define STATE_NAME_MAX   64     /* tenant, account, connector, pool names */
#define STATE_DOMAIN_MAX 253

/* An API key as handed out: "fy_" + 12 hex of prefix (the key's public
 * id) + "_" + 43 base64url of 32 random octets. */
#define STATE_KEY_PREFIX_LEN 15   /* "fy_" + 12 */
#define STATE_KEY_TEXT_MAX   64

struct state;

/* Limits of a tenant, an account or a connector; 0 means no limit. */
struct state_limits {
	long long per_minute, per_hour, per_day;   /* messages */
	long long rcpts;                            /* recipients per message */
};

enum state_ident_kind {
	STATE_IDENT_NONE = 0,     /* not a tenant's session */
	STATE_IDENT_ACCOUNT,      /* SMTP AUTH with an account's password */
	STATE_IDENT_KEY,          /* SMTP AUTH with an API key as password */
	STATE_IDENT_CONNECTOR,    /* client address in a connector's network */
};

/* Who a session sends as. Copied by value; refreshed with
 * state_ident_refresh() at each MAIL so a suspension applies at once. */
struct state_ident {
	enum state_ident_kind kind;
	long long  tenant_id;
	char       tenant[STATE_NAME_MAX + 1];
	bool       suspended;
	char       suspend_reason[128];
	long long  subject_id;                  /* account, key or connector id */
	char       subject[STATE_NAME_MAX + 1]; /* account or connector name, key prefix */
	char       pool[STATE_NAME_MAX + 1];    /* "" : none (the kernel or route picks) */
	struct state_limits tenant_limits, subject_limits;
};

/* Open (creating the file and schema if needed) the database at path. On
 * error NULL with a message naming the file in err. */
struct state *state_open(const char *path, char *err, size_t errlen);
void state_close(struct state *st);
/* Open a new connection the way each thread does and read from it: 0, or
 * -1 with the reason in err (ferryd runs it once, after dropping root). */
int state_check(const struct state *st, char *err, size_t errlen);
const char *state_path(const struct state *st);
/* Where ferryctl puts tenants' DKIM keys (dkim_key_dir); NULL, the
 * default: dkim/ beside a SQLite database. PostgreSQL keeps only the
 * paths, never a private key: every node reads the same directory. */
void state_key_dir_set(struct state *st, const char *dir);
const char *state_key_dir(const struct state *st);
/* A file path recorded in the database (a DKIM key, absolute, under the
 * database's directory) as this process reaches it: through the path the
 * database was opened by, which ferryd names relative to its spool (the
 * run user may not search the spool's parents). */
void state_file_path(const struct state *st, const char *stored, char *out, size_t outlen);

/* SMTP AUTH: user + password. A password of the API key form is checked as
 * a key (the user name must then be the tenant's name or "apikey");
 * anything else as an account's argon2id password (slow: call on the auth
 * pool, never on an event loop). 1 ok (id filled), 0 bad, -1 error. */
int state_auth(struct state *st, const char *user, const char *pass, size_t passlen,
    struct state_ident *id);

/* The connector whose network holds sa (most specific prefix wins):
 * 1 found (id filled), 0 none, -1 error. */
int state_connector_match(struct state *st, const struct sockaddr *sa, struct state_ident *id);

/* Re-read the tenant's suspension, pool and limits. 1 ok, 0 the tenant or
 * subject is gone (or the key revoked), -1 error. */
int state_ident_refresh(struct state *st, struct state_ident *id);

/* The tenant itself as a sending identity (the HTTP API: the request
 * names a tenant, not an account or connector): kind KEY, subject_id 0
 * (no subject windows), read fresh. 1 ok, 0 no such tenant, -1 error. */
int state_ident_tenant(struct state *st, long long tenant_id, struct state_ident *id);

/* May this identity send as domain (lowercase, no trailing dot)? A domain
 * added with subdomains allowed also covers its subdomains; a connector
 * restricted to some domains covers only those. 1 yes, 0 no, -1 error. */
int state_sender_allowed(struct state *st, const struct state_ident *id, const char *domain);

/* A tenant by id (for delivery: the queue file records the tenant id). */
struct state_tenant {
	long long id;
	char      name[STATE_NAME_MAX + 1];
	bool      suspended;
	char      pool[STATE_NAME_MAX + 1];
	char      bounce_domain[STATE_DOMAIN_MAX + 1];   /* "" : none */
	struct state_limits limits;
	long long weight;          /* its share of a busy destination against other tenants' (1-100) */
};
/* 1 found, 0 no such tenant, -1 error. */
int state_tenant_by_id(struct state *st, long long id, struct state_tenant *t);
int state_tenant_by_name(struct state *st, const char *name, struct state_tenant *t);

/* DKIM keys that sign mail of domain for tenant_id: the keys of the
 * tenant's domain that is domain or (if subdomains are allowed) its closest
 * parent. Calls fn for each signing key; returns the number, or -1. */
typedef void (*state_dkim_fn)(void *arg, const char *domain, const char *selector,
    const char *algo, const char *path);
int state_dkim_keys(struct state *st, long long tenant_id, const char *domain,
    state_dkim_fn fn, void *arg);

/* The installation's secret for return-path tokens (32 octets, made with
 * the database). 0 or -1. */
int state_verp_secret(struct state *st, unsigned char out[32]);

/* One attributed bounce (table bounces); text fields with their lengths. */
struct state_bounce {
	long long   tenant_id;
	char        queue_id[17];      /* upper-case, as in the spool */
	unsigned    rcpt_index;
	const char *rcpt;
	size_t      rcpt_len;
};

/* Record n bounces of one message from sender (sender_len octets) sent by
 * client, in one transaction committed with synchronous=FULL (on stable
 * storage before the caller says 250). 0 or -1. */
int state_bounces_record(struct state *st, time_t now, const struct state_bounce *b, size_t n,
    const char *sender, size_t sender_len, const char *client);

/* The tenant whose bounce domain is domain: 1 found, 0 none, -1 error. */
int state_tenant_by_bounce_domain(struct state *st, const char *domain, struct state_tenant *t);

/* Invalidation: every write of src/state/ (and src/reputation/'s
 * enforcement) that can change a cached answer (state_cache.h) calls
 * fn(arg, tenant_id) after its commit, on the writer's thread. One hook per
 * state; NULL removes it. Set it before the threads start. */
typedef void (*state_change_fn)(void *arg, long long tenant_id);
void state_change_hook_set(struct state *st, state_change_fn fn, void *arg);

/* The connection for this thread, for the files of src/state/ (and tests). */
struct db *state_db(struct state *st);

/* state_spam.c: a tenant's answer to a message a content filter refused
 * as spam (tenants.spam_action). */
enum state_spam_action { STATE_SPAM_REJECT, STATE_SPAM_HOLD, STATE_SPAM_HEADER };
const char *state_spam_action_name(enum state_spam_action a);
int state_spam_action_parse(const char *s, enum state_spam_action *a);
/* 1 found (*a set), 0 no such tenant (*a reject), -1 error (*a reject). */
int state_tenant_spam_action(struct state *st, long long tenant_id, enum state_spam_action *a);
/* 1 set, 0 no such tenant, -1 error. */
int state_tenant_spam_action_set(struct state *st, const char *name, enum state_spam_action a);

#endif
