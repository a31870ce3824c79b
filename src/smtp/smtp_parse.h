/*
 * smtp_parse.h - parsers for SMTP command lines (smtp_parse.c), paths
 * (smtp_parse_path.c), MAIL/RCPT parameters (smtp_parse_param.c) and the
 * DSN parameters and xtext (smtp_parse_dsn.c).
 * STANDARDS: RFC 5321 (4.1.1, 4.1.2, 4.5.3), RFC 1870 SIZE, RFC 6152 8BITMIME,
 * RFC 3461 DSN (RET, ENVID, NOTIFY, ORCPT, xtext), RFC 6531 SMTPUTF8,
 * RFC 4954 AUTH= parameter, RFC 3030 BDAT.
 * SECURITY: every input is remote and hostile; inputs carry explicit lengths
 * and are never assumed NUL-terminated. Nothing here allocates.
 *
 * Errors are returned as a complete SMTP reply line without CRLF
 * ("501 5.1.7 Bad sender address syntax"), a static string; NULL means OK.
 */
#ifndef FERRY_SMTP_PARSE_H
#define FERRY_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/smtp_kinds.h"

/* RFC 5321 4.5.3.1 limits. */
#define SMTP_LOCAL_MAX   64
#define SMTP_DOMAIN_MAX  255
#define SMTP_PATH_MAX    256   /* mailbox without the angle brackets */
#define SMTP_CMDLINE_MAX 512   /* including CRLF */
#define SMTP_ENVID_MAX   100   /* RFC 3461 4.4, decoded */
#define SMTP_ORCPT_MAX   500   /* RFC 3461 4.2, as received (xtext) */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP,
	SMTP_VERB_QUIT, SMTP_VERB_HELP, SMTP_VERB_VRFY, SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS, SMTP_VERB_AUTH,
};

/* A command line split into verb and argument. arg points into the input
 * line (valid as long as the line is); arglen excludes the separating space. */
struct smtp_cmd {
	enum smtp_verb verb;
	const char    *arg;
	size_t         arglen;
};

/* Split a command line (CRLF already removed) into verb and argument.
 * Verbs are case-insensitive; "MAIL FROM:" and "RCPT TO:" keep everything
 * after the verb word in arg (e.g. "FROM:<a@b> SIZE=10"). Returns NULL or a
 * reply: 500 5.5.2 for an unknown verb or a line with NUL or 8-bit bytes in
 * the verb. Does not judge the argument. */
const char *smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);

/* A parsed mailbox (or the null path). addr is NUL-terminated, the source
 * route (if any) is stripped, the domain is lowercased (ASCII only), the
 * local part is kept exactly as sent (quoted form included). */
struct smtp_path {
	char   addr[SMTP_PATH_MAX + 1];
	size_t len;        /* 0 for the null path <> */
	size_t at;         /* index of the '@' separating local part and domain */
	bool   utf8;       /* contains octets >= 0x80 (needs SMTPUTF8) */
	bool   literal;    /* domain is an address literal [..] */
};

/* Parse "<path>" at the start of s. allow_null accepts "<>" (reverse-path).
 * A postmaster recipient without domain, "<Postmaster>" (RFC 5321 4.1.1.3),
 * is accepted when allow_postmaster is true, returned with at == len.
 * On success *consumed is the number of bytes used (up to and including '>').
 * Errors: 501 5.1.3 (bad syntax / address), 501 5.1.7 / 5.1.3 as fits,
 * 553 5.1.3 for over-long parts. UTF-8 must be well-formed (RFC 3629). */
const char *smtp_path_parse(const char *s, size_t len, bool allow_null,
    bool allow_postmaster, struct smtp_path *out, size_t *consumed);

/* MAIL FROM parameters. envid holds the xtext-decoded ENVID. */
struct smtp_mail_params {
	uint64_t       size;      /* SIZE=, 0 when absent */
	bool           has_size;
	enum smtp_body body;
	bool           smtputf8;
	enum smtp_ret  ret;
	char           envid[SMTP_ENVID_MAX + 1];
	bool           has_envid;
	char           auth[SMTP_PATH_MAX + 1]; /* AUTH= decoded, "" for <> */
	bool           has_auth;
};

/* RCPT TO parameters. orcpt keeps "addr-type;xtext" as received. */
struct smtp_rcpt_params {
	unsigned notify;          /* SMTP_NOTIFY_* bits, 0 when absent */
	char     orcpt[SMTP_ORCPT_MAX + 1];
	bool     has_orcpt;
};

/* Which extensions the session advertised/allows; a parameter for an
 * extension that is off is refused with 555 5.5.4. */
struct smtp_ext {
	bool size, eightbitmime, smtputf8, dsn, auth, binarymime;
};

/* Parse the argument of "MAIL" ("FROM:<path> params...") and of "RCPT"
 * ("TO:<path> params..."). Spaces around ':' are tolerated ("FROM: <a@b>")
 * as Postfix does. Unknown or repeated parameters: 555 5.5.4; bad values:
 * 501 5.5.4; missing "FROM:" / "TO:": 501 5.5.2. */
const char *smtp_mail_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_mail_params *p);
const char *smtp_rcpt_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_rcpt_params *p);

/* Parse the BDAT argument: "<size> [LAST]". size must fit in uint64_t. */
const char *smtp_bdat_parse(const char *arg, size_t len, uint64_t *size, bool *last);

/* Decode RFC 3461 xtext into out (NUL-terminated). Returns decoded length or
 * -1 for malformed xtext or when it does not fit outsz-1 bytes. */
long smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz);

/* Encode into xtext; returns encoded length or -1 if it does not fit. */
long smtp_xtext_encode(const char *in, size_t len, char *out, size_t outsz);

/* Validate a HELO/EHLO argument: a domain or address literal, ASCII, no
 * spaces; returns NULL or "501 5.5.4 ..." reply. Empty: 501 5.5.4. */
const char *smtp_helo_check(const char *arg, size_t len);

#endif
