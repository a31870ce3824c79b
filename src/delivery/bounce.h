/*
 * bounce.h - building delivery status notifications (RFC 3464, multipart/report RFC
 * 6522) for failed, delayed and (NOTIFY=SUCCESS) delivered recipients.
 * STANDARDS: RFC 3461 (NOTIFY, RET, ENVID, ORCPT), RFC 3464, RFC 6522,
 * RFC 3463 status codes, RFC 5322 message format, RFC 6533 for SMTPUTF8.
 * SECURITY: every text that came from a peer (diagnostic replies, addresses)
 * is placed in a header field only after removing CR, LF and other control
 * characters; lines are folded below 998 octets.
 */
#ifndef FERRY_DELIVERY_BOUNCE_H
#define FERRY_DELIVERY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum bounce_action { BOUNCE_FAILED, BOUNCE_DELAYED, BOUNCE_DELIVERED, BOUNCE_RELAYED };

struct bounce_rcpt {
	const char        *addr;         /* final recipient */
	const char        *orcpt;        /* "rfc822;xtext" as received, or NULL */
	enum bounce_action action;
	const char        *status;       /* "5.1.1" */
	const char        *remote_mta;   /* host name of the peer, or NULL */
	const char        *diagnostic;   /* "smtp; 550 5.1.1 user unknown", or NULL */
	time_t             last_attempt;
	time_t             will_retry_until;  /* for delayed, else 0 */
};

struct bounce_info {
	const char        *reporting_mta;  /* our hostname */
	const char        *postmaster;     /* From: address, "MAILER-DAEMON@host" */
	const char        *to;             /* the original envelope sender */
	const char        *queue_id;       /* original message's queue id */
	const char        *envid;          /* original ENVID or NULL */
	time_t             arrival;
	bool               return_full;    /* whole content, else headers only; the
	                                      caller applies RFC 3461's defaults */
	const struct bounce_rcpt *rcpts;
	size_t             nrcpts;
	int                content_fd;     /* original content, CRLF lines */
	off_t              content_off;
	uint64_t           content_len;
	uint64_t           max_return;     /* cap on returned content, octets: a larger
	                                      message returns its headers; 0: none */
};

/* Build the whole DSN message (headers + body, CRLF lines) into a malloc'd
 * buffer; *out and *outlen receive it. Returns 0 or -1. */
int bounce_build(const struct bounce_info *b, char **out, size_t *outlen);

#endif
