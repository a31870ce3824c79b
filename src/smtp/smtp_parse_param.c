/*
 * smtp_parse_param.c - the arguments of MAIL ("FROM:" reverse-path
 * [Mail-parameters]) and RCPT ("TO:" forward-path [Rcpt-parameters]): the
 * esmtp-keyword[=esmtp-value] tokens and a table of parameters for each
 * command. SIZE, BODY, SMTPUTF8 and AUTH= are taken here; the DSN
 * parameters in smtp_parse_dsn.c.
 * STANDARDS: RFC 5321 4.1.1.2, 4.1.1.3 and 4.1.2; RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 3030 BINARYMIME, RFC 6531 3.4 SMTPUTF8, RFC 4954 5 AUTH=.
 * SECURITY: the argument is the remote client's; an unknown, repeated or
 * switched-off parameter is refused, never ignored.
 */
#include "smtp/smtp_parse_internal.h"

#define SMTP_SIZE_DIGITS 20 /* RFC 1870: size-value = 1*20DIGIT */

#define SMTP_E_MAIL       "501 5.5.2 Syntax: MAIL FROM:<address>"
#define SMTP_E_RCPT       "501 5.5.2 Syntax: RCPT TO:<address>"
#define SMTP_E_PARAM      "501 5.5.4 Bad parameter syntax"
#define SMTP_E_REPEAT     "555 5.5.4 Repeated parameter"
#define SMTP_E_SIZE       "501 5.5.4 Bad SIZE value"
#define SMTP_E_SIZE_BIG   "552 5.3.4 Message size exceeds fixed limit"
#define SMTP_E_BODY       "501 5.5.4 Bad BODY value"
#define SMTP_E_BODY_OFF   "555 5.5.4 Unsupported BODY value"
#define SMTP_E_SMTPUTF8   "501 5.5.4 SMTPUTF8 takes no value"
#define SMTP_E_AUTH       "501 5.5.4 Bad AUTH value"

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool
smtp_keyword_valid(const char *s, size_t len)
{
	if (len == 0 || !smtp_is_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!smtp_is_alnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126); none of our parameters takes the
 * RFC 6531 UTF-8 extension of it. */
static bool
smtp_value_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == '=')
			return false;
	return true;
}

/* Take the next parameter at *pos. Returns 1 when one was taken, 0 at the
 * end, -1 on bad syntax. Runs of spaces are tolerated, as Postfix does. */
static int
smtp_param_next(const char *s, size_t len, size_t *pos, struct smtp_param *prm)
{
	size_t start, end, eq;

	while (*pos < len && s[*pos] == ' ')
		(*pos)++;
	if (*pos == len)
		return 0;
	start = *pos;
	for (end = start; end < len && s[end] != ' '; end++)
		continue;
	for (eq = start; eq < end && s[eq] != '='; eq++)
		continue;
	*pos = end;
	prm->key = s + start;
	prm->keylen = eq - start;
	prm->hasval = eq < end;
	prm->val = prm->hasval ? s + eq + 1 : NULL;
	prm->vallen = prm->hasval ? end - eq - 1 : 0;
	if (!smtp_keyword_valid(prm->key, prm->keylen))
		return -1;
	if (prm->hasval && !smtp_value_valid(prm->val, prm->vallen))
		return -1;
	return 1;
}

/* Case-insensitive "kw" prefix ("FROM:", "TO:"), then optional spaces. */
static bool
smtp_keyword_skip(const char *s, size_t len, const char *kw, size_t *pos)
{
	size_t n = strlen(kw);

	if (len < n || !smtp_word_eq(s, n, kw))
		return false;
	while (n < len && s[n] == ' ')
		n++;
	*pos = n;
	return true;
}

/* RFC 1870: SIZE=1*20DIGIT; 0 means the client does not know. */
static const char *
smtp_mail_size(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	if (!ext->size)
		return SMTP_E_MAIL_PARAM;
	if (!prm->hasval || prm->vallen > SMTP_SIZE_DIGITS)
		return SMTP_E_SIZE;
	switch (smtp_u64_parse(prm->val, prm->vallen, &p->size)) {
	case SMTP_NUM_BAD:
		return SMTP_E_SIZE;
	case SMTP_NUM_BIG:
		return SMTP_E_SIZE_BIG;
	case SMTP_NUM_OK:
		break;
	}
	p->has_size = true;
	return NULL;
}

/* BODY belongs to 8BITMIME (RFC 6152) and BINARYMIME (RFC 3030); each
 * value is only accepted when its own extension is on. */
static const char *
smtp_mail_body(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	if (!ext->eightbitmime && !ext->binarymime)
		return SMTP_E_MAIL_PARAM;
	if (!prm->hasval)
		return SMTP_E_BODY;
	if (smtp_word_eq(prm->val, prm->vallen, "7BIT"))
		p->body = SMTP_BODY_7BIT;
	else if (smtp_word_eq(prm->val, prm->vallen, "8BITMIME"))
		p->body = SMTP_BODY_8BITMIME;
	else if (smtp_word_eq(prm->val, prm->vallen, "BINARYMIME"))
		p->body = SMTP_BODY_BINARYMIME;
	else
		return SMTP_E_BODY;
	if ((p->body == SMTP_BODY_8BITMIME && !ext->eightbitmime) ||
	    (p->body == SMTP_BODY_BINARYMIME && !ext->binarymime)) {
		p->body = SMTP_BODY_NONE;
		return SMTP_E_BODY_OFF;
	}
	return NULL;
}

/* RFC 6531 3.4: a bare keyword; a value is an error, not ignored. */
static const char *
smtp_mail_smtputf8(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	if (!ext->smtputf8)
		return SMTP_E_MAIL_PARAM;
	if (prm->hasval)
		return SMTP_E_SMTPUTF8;
	p->smtputf8 = true;
	return NULL;
}

/* RFC 4954 5: AUTH=<> or the xtext of an addr-spec. Decoded, only
 * printable ASCII may remain (a quoted local part may hold a space). */
static const char *
smtp_mail_auth(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	long n;

	if (!ext->auth)
		return SMTP_E_MAIL_PARAM;
	if (!prm->hasval)
		return SMTP_E_AUTH;
	n = smtp_xtext_decode(prm->val, prm->vallen, p->auth, sizeof(p->auth));
	if (n <= 0 || !smtp_bytes_within(p->auth, (size_t)n, 32, 126)) {
		p->auth[0] = '\0';
		return SMTP_E_AUTH;
	}
	if (n == 2 && p->auth[0] == '<' && p->auth[1] == '>')
		p->auth[0] = '\0';
	p->has_auth = true;
	return NULL;
}

typedef const char *smtp_mail_param_fn(const struct smtp_param *, const struct smtp_ext *,
    struct smtp_mail_params *);

static const struct {
	const char         *name;
	smtp_mail_param_fn *take;
} smtp_mail_param_table[] = {
	{ "SIZE", smtp_mail_size }, { "BODY", smtp_mail_body },
	{ "SMTPUTF8", smtp_mail_smtputf8 }, { "RET", smtp_mail_ret },
	{ "ENVID", smtp_mail_envid }, { "AUTH", smtp_mail_auth },
};

/* Dispatch one MAIL parameter; seen has one bit per table row. */
static const char *
smtp_mail_param(const struct smtp_param *prm, const struct smtp_ext *ext, void *out,
    unsigned *seen)
{
	for (size_t i = 0; i < sizeof(smtp_mail_param_table) / sizeof(smtp_mail_param_table[0]); i++) {
		if (!smtp_word_eq(prm->key, prm->keylen, smtp_mail_param_table[i].name))
			continue;
		if (*seen & (1u << i))
			return SMTP_E_REPEAT;
		*seen |= 1u << i;
		return smtp_mail_param_table[i].take(prm, ext, out);
	}
	return SMTP_E_MAIL_PARAM;
}

typedef const char *smtp_rcpt_param_fn(const struct smtp_param *, const struct smtp_ext *,
    struct smtp_rcpt_params *);

static const struct {
	const char         *name;
	smtp_rcpt_param_fn *take;
} smtp_rcpt_param_table[] = {
	{ "NOTIFY", smtp_rcpt_notify }, { "ORCPT", smtp_rcpt_orcpt },
};

/* Dispatch one RCPT parameter; seen has one bit per table row. */
static const char *
smtp_rcpt_param(const struct smtp_param *prm, const struct smtp_ext *ext, void *out,
    unsigned *seen)
{
	for (size_t i = 0; i < sizeof(smtp_rcpt_param_table) / sizeof(smtp_rcpt_param_table[0]); i++) {
		if (!smtp_word_eq(prm->key, prm->keylen, smtp_rcpt_param_table[i].name))
			continue;
		if (*seen & (1u << i))
			return SMTP_E_REPEAT;
		*seen |= 1u << i;
		return smtp_rcpt_param_table[i].take(prm, ext, out);
	}
	return SMTP_E_RCPT_PARAM;
}

/* What tells MAIL's argument from RCPT's: its keyword, which paths it
 * takes, its error replies and its parameters. */
struct smtp_args_form {
	const char *keyword;                 /* "FROM:" or "TO:" */
	bool        allow_null, allow_postmaster;
	const char *e_keyword, *e_path;      /* no keyword; junk after the path */
	const char *(*param)(const struct smtp_param *, const struct smtp_ext *, void *, unsigned *);
};

/* KEYWORD path [SP parameters] (RFC 5321 4.1.1.2, 4.1.1.3); path and params
 * are zeroed by the caller. */
static const char *
smtp_args_parse(const char *arg, size_t len, const struct smtp_args_form *form,
    const struct smtp_ext *ext, struct smtp_path *path, void *params)
{
	struct smtp_param prm;
	size_t pos = 0, used = 0;
	unsigned seen = 0;
	const char *err;
	int r;

	if (!smtp_keyword_skip(arg, len, form->keyword, &pos))
		return form->e_keyword;
	err = smtp_path_parse(arg + pos, len - pos, form->allow_null, form->allow_postmaster, path, &used);
	if (err != NULL)
		return err;
	pos += used;
	if (pos < len && arg[pos] != ' ')
		return form->e_path;
	while ((r = smtp_param_next(arg, len, &pos, &prm)) > 0)
		if ((err = form->param(&prm, ext, params, &seen)) != NULL)
			return err;
	return r < 0 ? SMTP_E_PARAM : NULL;
}

/* "FROM:" reverse-path [SP Mail-parameters] (RFC 5321 4.1.1.2). */
const char *
smtp_mail_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_mail_params *p)
{
	static const struct smtp_args_form form = { "FROM:", true, false, SMTP_E_MAIL,
	    SMTP_E_SENDER, smtp_mail_param };

	memset(path, 0, sizeof(*path));
	memset(p, 0, sizeof(*p));
	return smtp_args_parse(arg, len, &form, ext, path, p);
}

/* "TO:" forward-path [SP Rcpt-parameters] (RFC 5321 4.1.1.3). */
const char *
smtp_rcpt_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_rcpt_params *p)
{
	static const struct smtp_args_form form = { "TO:", false, true, SMTP_E_RCPT,
	    SMTP_E_RECIPIENT, smtp_rcpt_param };

	memset(path, 0, sizeof(*path));
	memset(p, 0, sizeof(*p));
	return smtp_args_parse(arg, len, &form, ext, path, p);
}
