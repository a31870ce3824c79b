/*
 * smtp_session.h - one inbound SMTP connection (smtp_session.c) and its
 * mail transaction. A session belongs to the worker thread that accepted
 * it; only that thread touches it, except the completion hand-offs from the
 * committer and auth threads, which go through event_active().
 */
#ifndef FERRY_SMTP_SESSION_H
#define FERRY_SMTP_SESSION_H

struct worker_proto;
struct spool;
struct auth_store;
struct state;
struct counters;
struct qmgr;
struct server_snaps;
struct rep;

/* What inbound SMTP uses of the daemon, and nothing else. */
struct smtp_handles {
	struct spool      *spool;     /* where messages are committed */
	struct auth_store *auth;      /* AUTH verification */
	struct state      *state;     /* tenants, connectors; NULL: none */
	struct counters   *counters;  /* tenants' rate limits */
	struct qmgr       *qmgr;      /* told of each new message; may be NULL */
	struct server_snaps *snaps;   /* the configuration a session starts with */
	struct rep        *rep;       /* tenants' reputation and enforcement; NULL: none */
};

/* Inbound SMTP as a protocol the workers serve: ferryd passes it with a
 * struct smtp_handles (which must outlive the workers) to
 * server_workers_start(). */
extern const struct worker_proto smtp_proto;

#endif
