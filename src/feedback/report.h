/*
 * report.h - what comes back to a tenant's return path or complaint
 * address, read into one structure: RFC 3464 delivery status notifications
 * (and RFC 6533's global ones), the common non-standard bounces (qmail,
 * Exim, Postfix, Gmail-, Yahoo- and Microsoft-like, a generic fallback),
 * ARF complaints (RFC 5965, and Microsoft JMRP-like ones) and auto-replies
 * (RFC 3834), which are never bounces.
 * STANDARDS: RFC 3464, RFC 3462/6522 (multipart/report), RFC 3463, RFC 6533,
 * RFC 5965, RFC 3834, RFC 5322.
 * SECURITY: the message comes from anyone on the Internet. Every field is
 * bounded and copied with checked truncation (control characters become
 * spaces); nothing in it is believed beyond what the caller checks (the
 * return-path token and X-Ferry-Ref are only candidates until their MAC
 * is verified by the caller).
 */
#ifndef FERRY_FEEDBACK_REPORT_H
#define FERRY_FEEDBACK_REPORT_H

#include <stddef.h>

#define REPORT_ADDR_MAX  320
#define REPORT_TEXT_MAX  512
#define REPORT_RCPTS_MAX 1000               /* recipients kept from one report */
#define REPORT_INPUT_MAX (16 * 1024 * 1024) /* octets of the message read */

enum report_kind {
	REPORT_UNKNOWN = 0,
	REPORT_DSN,         /* RFC 3464 / RFC 6533 */
	REPORT_BOUNCE,      /* non-standard bounce */
	REPORT_ARF,         /* RFC 5965 complaint, or JMRP-like */
	REPORT_AUTOREPLY,   /* out-of-office and other RFC 3834 responses */
};

struct report_rcpt {
	char addr[REPORT_ADDR_MAX + 1];       /* Final-Recipient (type stripped), or the address in the text */
	char orig_addr[REPORT_ADDR_MAX + 1];  /* Original-Recipient, "" if none */
	char action[16];                      /* failed|delayed|delivered|relayed|expanded, lowercase */
	char status[16];                      /* "5.1.1" (RFC 3463), "" if none */
	int  code;                            /* SMTP reply code, 0 if none */
	char diagnostic[REPORT_TEXT_MAX + 1]; /* Diagnostic-Code text (type stripped), or the reason text */
};

struct report {
	enum report_kind kind;
	char format[24];   /* "rfc3464", "qmail", "exim", "postfix", "gmail", "yahoo", "microsoft",
	                    * "generic", "arf", "autoreply", "" */
	struct report_rcpt *rcpts;   /* DSN/bounce recipients, at most REPORT_RCPTS_MAX */
	size_t nrcpts;
	/* ARF (RFC 5965) fields */
	char feedback_type[32], user_agent[128], source_ip[64], arrival_date[64], reported_domain[256];
	char original_rcpt[REPORT_ADDR_MAX + 1];     /* Original-Rcpt-To */
	char original_from[REPORT_ADDR_MAX + 1];     /* Original-Mail-From */
	/* from the original message the report carries (message/rfc822,
	 * text/rfc822-headers, or inline after the bounce's text) */
	char orig_return_path[REPORT_ADDR_MAX + 1];  /* Return-Path: address without <> */
	char orig_ref[128];                          /* X-Ferry-Ref: value, trimmed */
	char orig_message_id[256];                   /* Message-ID: value as written (with <>) */
	char orig_to[REPORT_ADDR_MAX + 1], orig_from[REPORT_ADDR_MAX + 1];   /* first address of each */
	char subject[256];                           /* the report's own Subject, decoded (UTF-8) */
	char autoreply_why[64];                      /* REPORT_AUTOREPLY: the signal, "Auto-Submitted: auto-replied" */
};

/* Parse one message (len octets, CRLF or LF lines; only the first
 * REPORT_INPUT_MAX are read). Always fills *out (kind REPORT_UNKNOWN when
 * nothing fits); returns 0, or -1 when the input is not a message at all
 * (nothing GMime can read as a header). report_free releases out->rcpts,
 * also after -1. Thread-safe (GMime is set up once, by sender_init). */
int report_parse(const char *msg, size_t len, struct report *out);
void report_free(struct report *r);
const char *report_kind_name(enum report_kind k);

#endif
