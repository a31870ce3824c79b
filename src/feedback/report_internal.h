/*
 * report_internal.h - what the files of the report parser share: bounded
 * line and field cursors over normalised text (LF lines, no CR, no NUL),
 * checked copies, and each format's entry point. Not for other folders.
 */
#ifndef FERRY_FEEDBACK_REPORT_INTERNAL_H
#define FERRY_FEEDBACK_REPORT_INTERNAL_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>

#include "feedback/report.h"

#define REPORT_SCAN_MAX  (1024 * 1024)   /* octets of one decoded part looked at */
#define REPORT_FIELD_MAX 1024            /* an unfolded field value kept */

/* A position in normalised text. */
struct report_cursor {
	const char *p;
	size_t      len;
	size_t      off;
};

/* One "Name: value" field, unfolded (each fold becomes one space), or a
 * blank line (blank true: groups of fields end there). A line without a
 * colon gives an empty name. */
struct report_field {
	bool   blank;
	char   name[64];
	char   value[REPORT_FIELD_MAX + 1];
	size_t vlen;   /* strlen(value), so a long fold costs no rescans */
};

/* The prose of a non-standard bounce and what the report's own header says. */
struct report_body {
	const char *text;                       /* LF lines, up to the original's headers */
	size_t      len;
	char x_failed[REPORT_TEXT_MAX + 1];     /* X-Failed-Recipients */
	char self[3][REPORT_ADDR_MAX + 1];      /* the report's own recipients and the original's sender:
	                                         * never a bounced address */
	bool null_sender;                       /* Return-Path <>, MAILER-DAEMON, or a bounce's subject */
	const char *subject;
};

/* The parts of a report that matter, found by report_mime_find (borrowed
 * from the message: valid while it lives). */
struct report_parts {
	GMimeObject *dsn;        /* message/delivery-status, message/global-delivery-status */
	GMimeObject *feedback;   /* message/feedback-report */
	GMimeObject *orig_msg;   /* message/rfc822 or message/global, parsed */
	GMimeObject *orig_hdrs;  /* text/rfc822-headers and kin, or an unparsed message/rfc822 */
	GMimeObject *text;       /* the first inline text/plain */
	GMimeObject *html;       /* the first inline text/html */
	size_t       visited;
};

/* report_mime.c */
void report_mime_find(GMimeObject *obj, unsigned depth, struct report_parts *parts);
char *report_mime_text(GMimeObject *obj, bool html, size_t *n);
GMimeMessage *report_mime_read(const char *msg, size_t len);

/* report_text.c */
char *report_text_normalise(const char *p, size_t len, size_t *outlen);
char *report_html_strip(const char *p, size_t len, size_t *outlen);
bool report_line_next(struct report_cursor *c, const char **line, size_t *n);
bool report_field_next(struct report_cursor *c, struct report_field *f);
bool report_line_blank(const char *line, size_t n);
const char *report_memcasemem(const char *h, size_t hn, const char *needle);
bool report_prefix(const char *line, size_t n, const char *prefix);

/* report_copy.c */
void report_copy(char *dst, size_t dstsz, const char *src, size_t n);
void report_copy_str(char *dst, size_t dstsz, const char *src);
void report_addr_copy(char *dst, size_t dstsz, const char *src, size_t n);
const char *report_type_strip(const char *v);
bool report_addr_find(const char *s, size_t n, size_t *start, size_t *alen);
void report_smtp_scan(const char *s, size_t n, int *code, char *status, size_t statussz);
struct report_rcpt *report_rcpt_add(struct report *r);

/* report_orig.c */
void report_orig_scan(const char *text, size_t len, struct report *r, char *hmxmr, size_t hmxmrsz);
size_t report_orig_inline_start(const char *text, size_t len);

/* report_dsn.c, report_arf.c */
void report_dsn_parse(const char *text, size_t len, struct report *r);
void report_arf_parse(const char *text, size_t len, struct report *r);

/* report_bounce.c, report_bounce_mua.c: true when the format was recognised
 * and gave at least one recipient. */
bool report_bounce_parse(const struct report_body *b, struct report *r);
bool report_bounce_angle(const struct report_body *b, struct report *r, const char *format);
bool report_bounce_exim(const struct report_body *b, struct report *r, const char *format);
bool report_bounce_gmail(const struct report_body *b, struct report *r, const char *format);
bool report_bounce_microsoft(const struct report_body *b, struct report *r, const char *format);
bool report_bounce_generic(const struct report_body *b, struct report *r);
bool report_bounce_self(const struct report_body *b, const char *addr);
void report_bounce_add(const struct report_body *b, struct report *r, const char *addr, size_t alen,
    const char *why, size_t whylen, const char *action);

/* report_auto.c */
bool report_auto_detect(GMimeObject *top, const char *subject, char *why, size_t whysz);
bool report_subject_bounce(const char *subject);

#endif
