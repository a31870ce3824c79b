/*
 * mta_reply.h - reading what a peer mail server answers: one strict parser
 * of SMTP replies and of EHLO keywords, for the outbound client (delivery/)
 * and for ferry-sendmail talking to ferryd.
 * STANDARDS: RFC 5321 4.2 (reply syntax, multi-line replies), RFC 3463
 * (enhanced codes), RFC 1870 (SIZE), RFC 4954 (AUTH).
 * SECURITY: replies are untrusted (CVE-2020-8794 was a multi-line reply
 * trick): every line must carry the same three-digit code; NUL, bare CR,
 * overlong lines or too many lines make the whole reply malformed.
 */
#ifndef FERRY_UTIL_MTA_REPLY_H
#define FERRY_UTIL_MTA_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTA_TEXT_MAX  512
#define MTA_LINE_MAX  2048    /* longer reply lines are malformed */
#define MTA_LINES_MAX 100     /* longer replies are malformed */

/* A peer's reply, or a local failure presented as one (code 4xx/5xx). */
struct mta_reply {
	int  code;                  /* 250, 451, 550...; 0 before any reply */
	bool local;                 /* made by ferry (mta_reply_set), not a peer's words:
	                             * traffic shaping never reacts to it */
	char text[MTA_TEXT_MAX];    /* the lines' text incl. enhanced code, printable */
};

/* Extensions the peer announced in its EHLO reply. */
struct mta_caps {
	bool     pipelining, eightbit, smtputf8, dsn, starttls, auth_plain;
	bool     has_size;
	uint64_t size;            /* 0 = no fixed limit announced */
};

/* How closely a reply must follow RFC 5321 4.2's grammar. */
enum mta_reply_mode {
	MTA_REPLY_TOLERANT,   /* a remote peer, read as Postfix does: bare LF ends a line, any 2nd digit */
	MTA_REPLY_STRICT,     /* ferryd, which we wrote: CRLF only, 2nd digit 0-5 */
};

/* r = a local failure presented as a reply ("4.4.1 text" after the code). */
void mta_reply_set(struct mta_reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parse one complete (possibly multi-line) reply at the start of buf, which
 * may hold more: returns the octets it used, 0 if it is not complete yet,
 * -1 if malformed. The lines' text is joined by spaces, a repeated enhanced
 * code dropped. */
long mta_reply_parse(const char *buf, size_t len, enum mta_reply_mode mode, struct mta_reply *r);

/* The enhanced status code (RFC 3463) at the start of a reply's text
 * ("5.1.1 ...", after an optional "550 "): into out (size >= 12), true;
 * false when there is none. Bounded: 1 digit, 1-3, 1-3. */
bool mta_reply_status(const char *text, char *out, size_t outsz);

/* Fill caps from an EHLO/LHLO reply's octets (already checked by mta_reply_parse). */
void mta_caps_parse(const char *raw, size_t len, struct mta_caps *caps);

#endif
