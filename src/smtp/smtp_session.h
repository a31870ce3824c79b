/*
 * smtp_session.h - one inbound SMTP connection (smtp_session.c) and its
 * mail transaction. A session belongs to the worker thread that accepted
 * it; only that thread touches it, except the completion hand-offs from the
 * committer and auth threads, which go through event_active().
 */
#ifndef FERRY_SMTP_SESSION_H
#define FERRY_SMTP_SESSION_H

#include <sys/socket.h>

#include "conf/conf.h"

struct worker;
struct smtp_session;

/* Start a session on an accepted, non-blocking socket. */
void smtp_session_start(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen, enum conf_role role, size_t listener);

/* Graceful stop: an idle session is told 421 and closed now; one in a
 * transaction is closed right after the transaction's final reply. */
void smtp_session_shutdown(struct smtp_session *s);
/* Deadline passed: close now (an unacknowledged message is dropped; an
 * acknowledged one is already durable). */
void smtp_session_abort(struct smtp_session *s);

/* Worker list links. */
struct smtp_session *smtp_session_next(struct smtp_session *s);

#endif
