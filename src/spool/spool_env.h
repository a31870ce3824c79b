/*
 * spool_env.h - reading a queued message back: its envelope, the state of
 * each recipient, and where its content lies. Used by the queue manager,
 * delivery and ferryctl. Recipient states are changed in place: the type
 * octet of a recipient record becomes delivered or failed (spool_rec.h), as
 * Postfix marks done recipients in its queue files.
 */
#ifndef FERRY_SPOOL_ENV_H
#define FERRY_SPOOL_ENV_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "spool/spool.h"
#include "util/smtp_kinds.h"

#define SPOOL_RCPT_PENDING   SPOOL_REC_RCPT
#define SPOOL_RCPT_DELIVERED SPOOL_REC_DELIVERED
#define SPOOL_RCPT_FAILED    SPOOL_REC_FAILED

struct spool_rcpt {
	char    *addr;
	unsigned notify;     /* SMTP_NOTIFY_* bits, 0 when none */
	char    *orcpt;      /* NULL when absent */
	char     state;      /* SPOOL_RCPT_* */
	off_t    state_off;  /* file offset of the record's type octet */
};

struct spool_env {
	char      id[SPOOL_ID_LEN + 1];
	time_t    arrival;
	char     *sender;                /* "" for <> */
	struct spool_rcpt *rcpts;
	size_t    nrcpts;
	char     *envid;                 /* NULL when absent */
	enum smtp_ret  ret;
	enum smtp_body body;
	bool      smtputf8;
	char     *auth;                  /* NULL when absent */
	char     *client_addr, *helo;
	enum spool_dsn dsn_kind;         /* made by ferry: a bounce or a double bounce */
	char     *source;                /* outbound source from the listener, or NULL */
	long long tenant_id;             /* the tenant it was sent as, 0 none */
	char     *pool;                  /* IP pool name, or NULL */
	char     *hold_reason;           /* why it was held at arrival, or NULL */
	bool      warned;                /* a delay warning went out */
	off_t     warn_off;              /* offset of the warning record's type octet, 0 if none */
	off_t     content_off;
	uint64_t  content_len;
	off_t     file_size;
};

/* Parse the file open on fd. Returns 0, or -1 when it is not a complete,
 * well-formed spool file. */
int  spool_env_parse(int fd, struct spool_env *env);
void spool_env_free(struct spool_env *env);

/* A fresh handle for listing a spool directory (queue/, hold/...): never a
 * dup() of the spool's own descriptor, which would share the read offset
 * an earlier listing left at the end. NULL + errno. */
DIR *spool_dir_list(int dirfd);
/* Open queue/ID (or hold/ID when held) read-write. -1 + errno. */
int spool_queue_open(struct spool *s, const char *id, bool held);
/* Mark a recipient's final state (no flush: see spool_queue_sync). */
int spool_rcpt_mark(int fd, const struct spool_rcpt *r, char state);
/* Mark the delay warning sent; the file has one due (warn_off > 0). No flush. */
int spool_warn_mark(int fd, const struct spool_env *env);
/* The message is finished: remove it from queue/ (or hold/). */
int spool_queue_remove(struct spool *s, const char *id, bool held);
/* Move between queue/ and hold/ (fsyncs both directories). */
int spool_queue_hold(struct spool *s, const char *id, bool hold);
/* Directory fds, for listing. */
int spool_queue_dirfd(struct spool *s, bool held);
/* Record the next attempt time as the file's mtime (survives restarts). */
int spool_queue_touch(int fd, time_t next_try);
/* The mtime of a file in hold/ for its tenant's suspension (set before the
 * move): ferryd's start puts such mail back in the queue, where it is held
 * again if the tenant is still suspended. Any other mtime there: held by
 * the operator, until released. */
#define SPOOL_HOLD_TENANT_MTIME ((time_t)1)
/* Set the mtime of queue/ID (or hold/ID) by name; an operator's hold
 * stamps the time of the hold, so it is never taken for the mark above. */
int spool_queue_stamp(struct spool *s, const char *id, bool held, time_t t);

#endif
