/* deliver_internal.h - shared by the files of src/delivery/deliver*.c. */
#ifndef FERRY_DELIVERY_INTERNAL_H
#define FERRY_DELIVERY_INTERNAL_H

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "dkim/dkim.h"
#include "delivery/deliver.h"
#include "delivery/mta_client.h"
#include "dns/dns.h"
#include "net/server_snap.h"
#include "spool/spool_env.h"
#include "state/counters.h"
#include "state/state.h"
#include "delivery/site.h"

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
	bool               suspended;    /* not tried: its site is suspended by the operator */
	const char        *reason;       /* static log word for such a deferral, or NULL */
	bool               expired;      /* failed for its age (max_queue_lifetime) */
	char               source_ip[48];   /* the local address of the transaction, "" default */
	char               site[256];    /* the destination site (cut), "" local */
};

/* The message's tenant as delivery needs it (read once per attempt). */
struct deliver_tenant {
	bool                found;        /* env->tenant_id names a tenant */
	struct state_tenant t;
	const char         *pool;         /* the message's IP pool name, or NULL */
	bool                verp;         /* return path b+TOKEN@bounce domain per recipient */
	unsigned char       secret[32];   /* for the VERP and unsubscribe tokens */
	bool                unsub;        /* one-click unsubscribe headers wanted (unsub.h) */
};

/* What every delivery on the outbound loop shares (loop thread only). */
struct deliver_shared {
	struct event_base   *base;
	struct site_table   *sites;       /* ready queues per source x site */
	struct dns_resolver *dns;
	char                *dns_key;     /* dns_servers the resolver was made for */
	struct dns_resolver *old_dns[8];  /* replaced ones: lookups may still run on them */
	size_t               nold_dns;
	SSL_CTX             *tls;         /* client context (deliver_tls_ctx), or NULL */
	char                *tls_key;     /* tls_ca_file it trusts ("" the system's) */
	time_t               tls_mtime;   /* and that file's mtime: reloaded when it changes */
};

/* One delivery attempt of one message (a coroutine of the outbound loop). */
struct deliver_ctx {
	const struct deliver_handles *h;
	struct deliver_shared *sh;
	char                *dkim;        /* this message's DKIM-Signature header(s) */
	bool                 dkim_done;   /* dkim is made (or cannot be) */
	struct dkim_prep    *unsub_prep;  /* set: List-Unsubscribe headers and DKIM per recipient */
	struct deliver_tenant tenant;     /* this message's tenant (deliver_message) */
	void               **load_token;  /* its count against its site (deliver_engine_run) */
};

/* Alias expansion (deliver_local.c): what a hosted recipient becomes. */
enum deliver_leaf_kind { DELIVER_LEAF_MAILDIR, DELIVER_LEAF_REMOTE, DELIVER_LEAF_FAILED };

struct deliver_leaf {
	size_t                 rr;        /* the recipient (index in the results) it stands for */
	enum deliver_leaf_kind kind;
	char                   addr[320];
	struct spool_rcpt      sr;        /* addr as a recipient, for deliver_remote */
	struct rcpt_result     res;       /* its outcome */
};

struct deliver_leaves {
	struct deliver_leaf *v;
	size_t               n, cap;
};

void deliver_local_expand(const struct conf *c, struct rcpt_result *res, size_t rr, struct deliver_leaves *lv);
/* Deliver the Maildir leaves (blocking: a worker thread's job). */
void deliver_local_maildirs(const struct conf *c, const struct spool_env *env, int fd, struct deliver_leaves *lv);
/* Each recipient gets the worst outcome of its leaves. */
void deliver_local_merge(struct rcpt_result *res, struct deliver_leaves *lv);
void deliver_leaves_free(struct deliver_leaves *lv);

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

/* deliver_unsub.c: the header lines sent before the content to recipient
 * r when d->unsub_prep is set: DKIM-Signature(s) covering List-Unsubscribe
 * and List-Unsubscribe-Post (RFC 8058 4), then those two. malloc'd; NULL
 * when nothing can be made. */
char *deliver_unsub_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    const struct rcpt_result *r);

/* deliver_tenant.c: read the tenant of env into d->tenant; 1: the tenant
 * is suspended (the caller holds the message), 0 go on, -1 state error. */
/* deliver_feedback.c: the feedback loop (feedback.h). A report in the
 * queue is processed, its recipients' results set (250, or 451 to retry). */
void deliver_report(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    struct rcpt_result *res);
/* The outcomes of an attempt as events (outbox); a tenant's permanent
 * failures classified, suppressed and counted by the feedback loop. */
void deliver_feedback_outcomes(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int attempts, const struct rcpt_result *res, size_t n);

int deliver_tenant_load(struct deliver_ctx *d, const struct spool_env *env);
/* Its delivery weight (1 for mail of no tenant). */
int deliver_tenant_weight(const struct deliver_ctx *d);

/* deliver.c: one attempt of message id (a coroutine of the outbound loop;
 * blocking steps go to its workers). */
void deliver_message(struct deliver_ctx *d, const char *id, int attempts, bool warned,
    struct deliver_outcome *out);

/* deliver.c: write down (synced) the recipients of g a peer took, when
 * another transaction of the attempt follows: a crash before the attempt
 * ends then sends again only those not delivered. (A success notice
 * (NOTIFY=SUCCESS) is made at the attempt's end; a crash before loses it.) */
void deliver_progress_save(struct deliver_ctx *d, const struct spool_env *env, int fd, struct rcpt_result *const *g, size_t n);

/* deliver_hop.c: where a group goes next. */
struct hop_plan {
	struct dns_host hosts[DNS_HOSTS_MAX];
	size_t          nhosts;
	int             port;
	bool            lmtp;
	const char     *unix_path;
	enum mta_tls    tls;
	const char     *auth_user, *auth_pass;
	bool            auth_unverified;  /* tls_verify=no */
	const char     *source;
	const char     *helo;         /* EHLO name for source (pool address), NULL: hostname */
	const char     *sender;       /* MAIL FROM of this transaction (VERP), NULL: the envelope's */
	const char     *dkim;         /* DKIM-Signature header(s) to send, or NULL */
	const char     *domain;
	const struct conf_pool     *pool;       /* source addresses to choose from, or NULL */
	const struct conf_provider *provider;   /* limits shared with other domains, or NULL */
	char            site[SITE_NAME_MAX];    /* the destination site (hop_site_name) */
	struct site_lease *lease;                /* the slot of the transaction under way */
};

/* Plan the hops for domain (MX lookup parks the coroutine); -1 with why. */
int hop_plan_make(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, struct hop_plan *p, struct mta_reply *why);
/* RFC 5321 5.1: drop ferry itself and worse MX hosts; -1 (5.4.6) when it is the best. */
int hop_drop_self(const struct conf *c, struct hop_plan *p, const char *domain, struct mta_reply *why);
/* The provider whose limits apply, or NULL. */
const struct conf_provider *hop_provider(const struct conf *c, const struct conf_route *route,
    const struct hop_plan *p);
/* The site name of the plan (site.h). */
void hop_site_name(const struct conf_route *route, const struct hop_plan *p, char *out, size_t outsz);

/* deliver_remote.c: one group of recipients of one domain. */
void deliver_remote(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, const struct spool_env *env, int fd, struct rcpt_result **group, size_t n);
/* deliver_dsn.c: notifications; returns 0 when queued (or not needed). */
int deliver_dsn_send(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result *res, size_t n, int kind);

#define DSN_FAILURES  1
#define DSN_DELAYS    2
#define DSN_SUCCESSES 3


#endif
