/*
 * sendmail_compose.h - the header fields ferry-sendmail adds to a message
 * that lacks them, as Postfix's cleanup does for its sendmail: From:,
 * Date:, Message-ID:. ferryd adds only its Received: line.
 * STANDARDS: RFC 5322 3.3 (date-time), 3.4 (mailbox), 3.6.4 (msg-id);
 * RFC 2047 (encoded words for a non-ASCII full name).
 * SECURITY: the full name comes from -F, often from a web form: control
 * characters become spaces, so it cannot add a header line.
 */
#ifndef FERRY_SENDMAIL_COMPOSE_H
#define FERRY_SENDMAIL_COMPOSE_H

#include <time.h>

/* "From: addr" or, with a full name (may be NULL), "From: Name <addr>".
 * addr is a validated path. Returns a string the caller frees, no CRLF. */
char *sendmail_compose_from(const char *fullname, const char *addr);

/* "Date: Tue, 07 Jan 2025 10:00:00 +0100", local time. */
char *sendmail_compose_date(time_t now);

/* "Message-ID: <20250107090000.5f3a9c0e12d4b7a1@host>"; a host name with
 * characters a msg-id cannot hold is replaced by "localhost". */
char *sendmail_compose_message_id(const char *hostname, time_t now);

#endif
