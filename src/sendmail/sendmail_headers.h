/*
 * sendmail_headers.h - the header section of a message given to
 * ferry-sendmail: fields kept as written, recipients for -t, Bcc: removal,
 * and the address-list parser shared with command-line recipients.
 * STANDARDS: RFC 5322 2.2 (fields, folding), 3.4 (address lists, groups),
 * 3.6.3 (destination fields), 3.6.6 (Resent- fields); RFC 5321 4.1.2 paths.
 * SECURITY: header text is whatever the invoking program wrote, often from
 * a web form. Every address that leaves this file passed the path validator
 * ferryd itself uses (smtp_path_parse), so no CR, LF, space or bracket can
 * reach an SMTP command line.
 */
#ifndef FERRY_SENDMAIL_HEADERS_H
#define FERRY_SENDMAIL_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#define SENDMAIL_HDR_MAX   (1024 * 1024)   /* the whole header section, line ends included */
#define SENDMAIL_RCPT_MAX  100000          /* the largest max_recipients ferry.conf allows */

/* One header field. text is "Name: value" exactly as read, its physical
 * lines joined by CRLF (input CRs were dropped, so every CRLF in text is a
 * fold), without a final CRLF. */
struct sendmail_field {
	char  *text;
	size_t len, cap;
	size_t namelen;
	bool   removed;
};

struct sendmail_headers {
	struct sendmail_field *v;
	size_t                 n, cap;
	size_t                 bytes;   /* counted against SENDMAIL_HDR_MAX */
};

enum sendmail_hdr_add {
	SENDMAIL_HDR_ADDED,        /* a new field or a continuation line */
	SENDMAIL_HDR_NOT_HEADER,   /* the line starts the body; nothing was added */
	SENDMAIL_HDR_TOO_BIG,      /* the header section would exceed SENDMAIL_HDR_MAX */
};

/* Add one input line (without line end, non-empty). */
enum sendmail_hdr_add sendmail_headers_line_add(struct sendmail_headers *h, const char *line, size_t len);

/* Whether a line could belong to the header section: "name:" or, after a
 * field, a continuation line. line may be only the start of a long line. */
bool sendmail_headers_line_is_header(const struct sendmail_headers *h, const char *line, size_t len);

/* Whether a field named name (case-insensitive) is present and not removed. */
bool sendmail_headers_has(const struct sendmail_headers *h, const char *name);

/* Mark every field named name removed; returns how many. */
size_t sendmail_headers_remove(struct sendmail_headers *h, const char *name);

/* The unfolded value of a field (after the colon): a new string the caller
 * frees; *len is its length. */
char *sendmail_field_value(const struct sendmail_field *f, size_t *len);

void sendmail_headers_free(struct sendmail_headers *h);

/* Recipients in order of appearance; each a validated forward-path as
 * smtp_path_parse returns it (domain lowercased). */
struct sendmail_rcpts {
	char  **v;
	size_t  n, cap;
	bool    utf8;      /* some address needs SMTPUTF8 */
};

/* Parse an RFC 5322 address-list: a To: value or a command-line argument.
 * Display names, comments, groups and source routes are dropped. An
 * address without '@' gets "@domain" (domain NULL: it is refused). Returns
 * 0, or -1 with the reason in err; addresses before the bad one may
 * have been appended, and the caller is expected to give up on the list. */
int sendmail_addrlist_parse(const char *s, size_t len, const char *domain,
    struct sendmail_rcpts *out, char *err, size_t errlen);

/* -t: the recipients in To:, Cc: and Bcc:, or in Resent-To:, Resent-Cc:
 * and Resent-Bcc: when the message has any of those (RFC 5322 3.6.6).
 * Returns 0 or -1 with "Field: reason" in err. */
int sendmail_headers_rcpts(const struct sendmail_headers *h, const char *domain,
    struct sendmail_rcpts *out, char *err, size_t errlen);

/* Remove Bcc: and Resent-Bcc:. Done for every message, with or without -t:
 * a blind copy's point is that nobody sees it. */
void sendmail_headers_bcc_remove(struct sendmail_headers *h);

/* Drop repeated addresses (the first one stays, order is kept). Local
 * parts compare exactly, domains are already lowercase. */
void sendmail_rcpts_dedup(struct sendmail_rcpts *r);
void sendmail_rcpts_free(struct sendmail_rcpts *r);

#endif
