/*
 * inject_json.h - messages handed to ferry over the HTTP API (POST
 * /v1/messages), turned into an RFC 5322 message and its envelope: a JSON
 * description built into MIME with GMime (inject_json.c), or a raw message
 * whose envelope comes from the query or its header (inject_raw.c).
 * STANDARDS: RFC 5322 (header fields, 2.1.1 line length), RFC 2045-2047
 * (MIME, encoded words), RFC 2046 5.1.4 (multipart/alternative), RFC 2387
 * (multipart/related), RFC 2183 (Content-Disposition), RFC 2392 (cid:).
 * SECURITY: everything in the request is the client's. Addresses pass
 * SMTP's own path parser (smtp_path_parse), never a looser one; header
 * names and values holding CR, LF or NUL are refused, not cleaned; every
 * field, list and the whole message are bounded. Bcc recipients are
 * envelope recipients only: no Bcc: field is ever written.
 */
#ifndef FERRY_INJECT_INJECT_JSON_H
#define FERRY_INJECT_INJECT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "smtp/smtp_parse.h"

#define INJECT_RCPTS_MAX     1000   /* to + cc + bcc (the tenant's own limit may be lower) */
#define INJECT_HEADERS_MAX   100    /* entries of "headers" */
#define INJECT_ATTACH_MAX    100
#define INJECT_NAME_MAX      200    /* display names, file names */
#define INJECT_HVALUE_MAX    998    /* a header value (RFC 5322 2.1.1 line length) */
#define INJECT_HNAME_MAX     76
#define INJECT_MSGID_MAX     250

/* How the build went: OK, or the request's fault (400), or too big (413). */
enum inject_status { INJECT_OK, INJECT_BAD, INJECT_TOO_BIG };

struct inject_opts {
	const char *hostname;      /* the right side of generated Message-IDs */
	size_t      max_size;      /* the message's octets (message_size_limit) */
	size_t      max_line;      /* a raw message's line, CRLF excluded */
};

/* A message ready for the spool. */
struct inject_msg {
	char    from[SMTP_PATH_MAX + 1];     /* envelope sender ("" for <>) */
	char  **rcpts;                       /* to, cc, bcc: distinct, in order */
	size_t  nrcpts;
	char   *data;                        /* the message, CRLF lines, no dot-stuffing */
	size_t  len;
	char    message_id[INJECT_MSGID_MAX + 3];   /* with its angle brackets */
};

/* GMime's set-up (once per process; any thread). */
void inject_init(void);

/* Build from a JSON request object. On INJECT_BAD/TOO_BIG err says why,
 * naming the field ("to[2]: ..."); out is then empty. */
enum inject_status inject_json_build(const json_t *req, const struct inject_opts *o,
    struct inject_msg *out, char *err, size_t errlen);

/* The same from len octets of JSON text (the fuzz target's way in). */
enum inject_status inject_json_build_text(const char *text, size_t len, const struct inject_opts *o,
    struct inject_msg *out, char *err, size_t errlen);

/* A raw RFC 5322 message (LF or CRLF lines). from: the envelope sender
 * (NULL: the From: field's address); to: a comma list of recipients (NULL:
 * the To:, Cc: and Bcc: fields'). Bcc: and Resent-Bcc: fields are always
 * removed; Date: and Message-ID: are added when missing. */
enum inject_status inject_raw_build(const char *raw, size_t len, const char *from, const char *to,
    const struct inject_opts *o, struct inject_msg *out, char *err, size_t errlen);

void inject_msg_free(struct inject_msg *m);

/* inject_addr.c: one mailbox "local@domain" as SMTP would take it in a
 * path: 0 and the address in out, or -1 with the reason in err. ASCII
 * only (non-ASCII needs SMTPUTF8, which the API does not offer). */
int inject_addr_parse(const char *s, char out[SMTP_PATH_MAX + 1], char *err, size_t errlen);
/* Add addr to m's recipients unless already there (case-insensitive);
 * -1 past INJECT_RCPTS_MAX. */
int inject_rcpt_add(struct inject_msg *m, const char *addr);
/* A header field name (ftext, RFC 5322 3.6.8) and an unstructured value
 * without CR, LF or NUL, both bounded: NULL, or why not. */
const char *inject_header_check(const char *name, const char *value);
/* "<id>" from id or "<id>": dot-atom-ish left and right of one '@',
 * printable, no spaces: 0 and out filled, or -1. */
int inject_msgid_parse(const char *id, char out[INJECT_MSGID_MAX + 3]);
/* A fresh "<RANDOM@hostname>". */
void inject_msgid_new(const char *hostname, char out[INJECT_MSGID_MAX + 3]);

#endif
