/*
 * sendmail_smtp.h - ferry-sendmail's SMTP client: one transaction over
 * ferryd's local submission socket (role "local", trusted to relay).
 * STANDARDS: RFC 5321 (4.1, 4.2 replies, 4.5.2 transparency, 4.5.3.2
 * timeouts), RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461
 * DSN (NOTIFY, RET, ENVID), RFC 3463 (enhanced codes, read for exit codes).
 * SECURITY: ferryd's replies are parsed strictly; a malformed or unexpected
 * one ends the session with EX_TEMPFAIL, never an assumption of success.
 */
#ifndef FERRY_SENDMAIL_SMTP_H
#define FERRY_SENDMAIL_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sendmail/sendmail_msg.h"

struct sendmail_env {
	const char  *sender;        /* validated; "" for the null sender */
	char *const *rcpts;         /* validated forward-paths */
	size_t       nrcpts;
	bool         smtputf8;      /* some address is not ASCII */
	const char  *notify;        /* -N as "SUCCESS,FAILURE", or NULL */
	const char  *ret;           /* -R as "FULL" or "HDRS", or NULL */
	const char  *envid;         /* -V, already xtext, or NULL */
	bool         verbose;       /* -v: the dialogue on stderr */
};

/* Hand the message to ferryd at socket_path. Every recipient is accepted
 * or the message is not queued at all (a refused RCPT ends the
 * transaction after all of them were tried, so each problem is reported
 * at once). Errors go to stderr with ferryd's reply. Returns EX_OK or a
 * sysexits code. */
int sendmail_smtp_submit(const char *socket_path, const struct sendmail_env *env,
    struct sendmail_msg *m);

#endif
