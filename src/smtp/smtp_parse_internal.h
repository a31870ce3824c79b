/*
 * smtp_parse_internal.h - what the files of the SMTP command parsers share:
 * ASCII character classes, the replies more than one of them gives, the
 * ESMTP parameter token and the RFC 3461 parameter handlers. Not for use
 * outside smtp_parse*.c; the interface is smtp_parse.h.
 */
#ifndef FERRY_SMTP_PARSE_INTERNAL_H
#define FERRY_SMTP_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/smtp_parse.h"

#define SMTP_E_SENDER     "501 5.1.7 Bad sender address syntax"
#define SMTP_E_RECIPIENT  "501 5.1.3 Bad recipient address syntax"
#define SMTP_E_MAIL_PARAM "555 5.5.4 Unsupported MAIL parameter"
#define SMTP_E_RCPT_PARAM "555 5.5.4 Unsupported RCPT parameter"

/* One "keyword[=value]" token of Mail-parameters / Rcpt-parameters. */
struct smtp_param {
	const char *key;
	size_t      keylen;
	const char *val;
	size_t      vallen;
	bool        hasval;
};

enum smtp_num { SMTP_NUM_OK, SMTP_NUM_BAD, SMTP_NUM_BIG };

/* ASCII-only case folding: the locale must never change what we accept. */
static inline char
smtp_ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII letter or digit, whatever the locale says. */
static inline bool
smtp_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5321 4.1.2 atext (RFC 5322 3.2.3), ASCII part. */
static inline bool
smtp_is_atext(unsigned char c)
{
	return smtp_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* s[0..len) equals word, ASCII case-insensitively, and has its length. */
static inline bool
smtp_word_eq(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || smtp_ascii_lower(s[i]) != smtp_ascii_lower(word[i]))
			return false;
	return word[i] == '\0';
}

/* Every decoded octet within [lo, hi]. */
static inline bool
smtp_bytes_within(const char *s, size_t len, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			return false;
	return true;
}

/* smtp_parse.c: decimal digits only; SMTP_NUM_BIG past UINT64_MAX. */
enum smtp_num smtp_u64_parse(const char *s, size_t len, uint64_t *out);

/* smtp_parse_dsn.c: the RFC 3461 parameters, taken as smtp_parse_param.c's
 * tables dispatch them. Each returns NULL or a reply. */
const char *smtp_mail_ret(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p);
const char *smtp_mail_envid(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p);
const char *smtp_rcpt_notify(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_rcpt_params *p);
const char *smtp_rcpt_orcpt(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_rcpt_params *p);

#endif
