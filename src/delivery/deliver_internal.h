/* deliver_internal.h - shared by the files of src/delivery/deliver*.c. */
#ifndef FERRY_DELIVERY_INTERNAL_H
#define FERRY_DELIVERY_INTERNAL_H

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "delivery/deliver.h"
#include "delivery/mta_client.h"
#include "dns/dns.h"
#include "net/server_snap.h"
#include "spool/spool_env.h"
#include "state/counters.h"
#include "state/state.h"

/* What happened to one recipient in this attempt. */
struct rcpt_result {
	struct spool_rcpt *r;
	const struct spool_rcpt *env_rcpt; /* the envelope recipient r stands for (an alias
	                                      target's: the alias), NULL: r itself */
	char               state;        /* SPOOL_RCPT_*: pending, delivered, failed */
	bool               attempted;    /* touched in this attempt */
	bool               relayed;      /* handed to another MTA (for DSN Action) */
	bool               dsn_passed;   /* the peer speaks DSN: success notices are its job (RFC 3461 4.1) */
	struct mta_reply   reply;        /* final reply or local reason */
	char               relay[300];   /* "host[addr]:port", "maildir", ... */
	time_t             retry_at;     /* deferred for a known time (warm-up, provider rate); 0: backoff */
	bool               no_expire;    /* deferred only by a warm-up cap: never bounced for age */
	const char        *reason;       /* static log word for such a deferral, or NULL */
};

/* The message's tenant as delivery needs it (read once per attempt). */
struct deliver_tenant {
	bool                found;        /* env->tenant_id names a tenant */
	struct state_tenant t;
	const char         *pool;         /* the message's IP pool name, or NULL */
	bool                verp;         /* return path b+TOKEN@bounce domain per recipient */
	unsigned char       secret[32];   /* for the VERP tokens */
};

struct deliver_ctx {
	const struct deliver_handles *h;
	struct qmgr         *q;
	struct dns_resolver *dns;
	char                *dns_key;     /* dns_servers the resolver was made for */
	SSL_CTX             *tls;         /* client context (deliver_tls_ctx), or NULL */
	char                *tls_key;     /* tls_ca_file it trusts ("" the system's) */
	time_t               tls_mtime;   /* and that file's mtime: reloaded when it changes */
	struct mta_conn     *conn;        /* cached connection, or NULL */
	char                 conn_key[600];
	long long            conn_msgs;
	/* The destination whose concurrency slot this thread holds: taken for a
	 * delivery and kept while its connection stays cached, so idle cached
	 * connections count against destination_concurrency too. */
	char                 slot_dest[300];
	char                *dkim;        /* this message's DKIM-Signature header(s) */
	bool                 dkim_done;   /* dkim is made (or cannot be) */
	struct deliver_tenant tenant;     /* this message's tenant (deliver_message) */
};

/* The outbound TLS context for c's tls_ca_file, made again when that
 * option or the file changes; NULL (logged) when the CAs cannot be loaded. */
SSL_CTX *deliver_tls_ctx(struct deliver_ctx *d, const struct conf *c);

/* deliver_pool.c: IP pools, warm-up caps and provider limits. */
struct pool_pick {
	const struct conf_pool_addr *addr;   /* the source address chosen */
	char key[COUNTER_KEY_MAX];           /* its warm-up counter, to give back */
	time_t taken;                        /* when counted (a give-back goes to that day) */
};
/* The pool a message leaves from: NULL with *unknown false (none: the
 * usual source choice), the pool, or NULL with *unknown true and why set
 * (a name the configuration lacks: defer, never the wrong address). */
const struct conf_pool *deliver_pool_of(const struct conf *c, const struct spool_env *env,
    const struct deliver_tenant *t, bool *unknown, struct mta_reply *why);
/* Choose a source address with warm-up room and count one transaction on
 * it. 0: pick filled; -1: why and retry_at set (every address capped, or
 * the counters failed). */
int deliver_pool_pick(struct deliver_ctx *d, const struct conf_pool *pool, const struct spool_env *env,
    struct pool_pick *pick, struct mta_reply *why, time_t *retry_at);
/* The transaction did not reach the peer's acceptance: uncount it. */
void deliver_pool_giveback(struct deliver_ctx *d, const struct pool_pick *pick);
/* Count one message against a provider's rate at time now; -1: why and
 * retry_at set. The give-back names the same now (its minute only). */
int deliver_provider_take(struct deliver_ctx *d, const struct conf_provider *pr, time_t now,
    struct mta_reply *why, time_t *retry_at);
void deliver_provider_giveback(struct deliver_ctx *d, const struct conf_provider *pr, time_t taken);
/* The first UTC midnight after now. */
time_t deliver_next_midnight(time_t now);

/* deliver_dkim.c: the DKIM-Signature header(s) of the message being
 * delivered, made at most once per message (NULL: none applies). */
const char *deliver_dkim_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd);
void deliver_dkim_reset(struct deliver_ctx *d);

/* Close the cached connection (the destination slot stays held). */
void deliver_conn_close(struct deliver_ctx *d);
/* deliver_tenant.c: read the tenant of env into d->tenant; 1: the tenant
 * is suspended (the caller holds the message), 0 go on, -1 state error. */
int deliver_tenant_load(struct deliver_ctx *d, const struct spool_env *env);

/* deliver.c: write down (synced) the recipients of g a peer took, when
 * another transaction of the attempt follows: a crash before the attempt
 * ends then sends again only those not delivered. (A success notice
 * (NOTIFY=SUCCESS) is made at the attempt's end; a crash before loses it.) */
void deliver_progress_save(const struct spool_env *env, int fd, struct rcpt_result *const *g, size_t n);

/* Give a destination slot back (deliver_remote.c). */
void deliver_dest_release(const char *key);

/* deliver_remote.c: one group of recipients of one domain. */
void deliver_remote(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, const struct spool_env *env, int fd, struct rcpt_result **group, size_t n);
/* deliver_local.c: hosted recipients (Maildir, aliases). */
void deliver_local(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result *rr);
/* deliver_dsn.c: notifications; returns 0 when queued (or not needed). */
int deliver_dsn_send(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result *res, size_t n, int kind);

#define DSN_FAILURES  1
#define DSN_DELAYS    2
#define DSN_SUCCESSES 3


#endif
