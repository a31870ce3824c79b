/*
 * smtp_session.h - one inbound SMTP connection (smtp_session.c) and its
 * mail transaction. A session belongs to the worker thread that accepted
 * it; only that thread touches it, except the completion hand-offs from the
 * committer and auth threads, which go through event_active().
 */
#ifndef FERRY_SMTP_SESSION_H
#define FERRY_SMTP_SESSION_H

struct worker_proto;

/* Inbound SMTP as a protocol the workers serve: ferryd passes it to
 * server_workers_start(). */
extern const struct worker_proto smtp_proto;

#endif
