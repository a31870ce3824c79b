/* deliver_internal.h - shared by the files of src/delivery/deliver*.c. */
#ifndef FERRY_DELIVERY_INTERNAL_H
#define FERRY_DELIVERY_INTERNAL_H

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "delivery/deliver.h"
#include "delivery/mta_client.h"
#include "dns/dns.h"
#include "net/server.h"
#include "spool/spool_env.h"

/* What happened to one recipient in this attempt. */
struct rcpt_result {
	struct spool_rcpt *r;
	char               state;        /* SPOOL_RCPT_*: pending, delivered, failed */
	bool               attempted;    /* touched in this attempt */
	bool               relayed;      /* handed to another MTA (for DSN Action) */
	bool               dsn_passed;   /* the peer speaks DSN: success notices are its job (RFC 3461 4.1) */
	struct mta_reply   reply;        /* final reply or local reason */
	char               relay[300];   /* "host[addr]:port", "maildir", ... */
};

struct deliver_ctx {
	struct server       *srv;
	struct qmgr         *q;
	struct dns_resolver *dns;
	char                *dns_key;     /* dns_servers the resolver was made for */
	SSL_CTX             *tls;         /* client context */
	struct mta_conn     *conn;        /* cached connection, or NULL */
	char                 conn_key[300];
	long long            conn_msgs;
	/* The destination whose concurrency slot this thread holds: taken for a
	 * delivery and kept while its connection stays cached, so idle cached
	 * connections count against destination_concurrency too. */
	char                 slot_dest[300];
	char                *dkim;        /* this message's DKIM-Signature header(s) */
	bool                 dkim_done;   /* dkim is made (or cannot be) */
};

/* deliver_dkim.c: the DKIM-Signature header(s) of the message being
 * delivered, made at most once per message (NULL: none applies). */
const char *deliver_dkim_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd);
void deliver_dkim_reset(struct deliver_ctx *d);

/* Close the cached connection (the destination slot stays held). */
void deliver_conn_close(struct deliver_ctx *d);
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
