/*
 * smtp_kinds.h - the values of the SMTP parameters a message carries from
 * MAIL and RCPT through the spool to delivery and the control socket: BODY
 * (RFC 6152, RFC 3030), RET and NOTIFY (RFC 3461). Defined once, so a value
 * means the same to the parser, the spool file and the outbound client.
 */
#ifndef FERRY_UTIL_SMTP_KINDS_H
#define FERRY_UTIL_SMTP_KINDS_H

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret  { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* NOTIFY is a set: a recipient's notify holds these bits, 0 when absent. */
enum smtp_notify {
	SMTP_NOTIFY_NEVER   = 0x1,
	SMTP_NOTIFY_SUCCESS = 0x2,
	SMTP_NOTIFY_FAILURE = 0x4,
	SMTP_NOTIFY_DELAY   = 0x8,
};

/* The keyword ("8BITMIME", "HDRS"), or NULL for NONE. */
const char *smtp_body_name(enum smtp_body body);
const char *smtp_ret_name(enum smtp_ret ret);
/* Back from the keyword as written by smtp_*_name; NONE when unknown. */
enum smtp_body smtp_body_from_name(const char *name);
enum smtp_ret  smtp_ret_from_name(const char *name);

#endif
