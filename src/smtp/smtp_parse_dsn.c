/*
 * smtp_parse_dsn.c - RFC 3461 in one place: the xtext codec and the DSN
 * parameters RET and ENVID (MAIL) and NOTIFY and ORCPT (RCPT).
 * STANDARDS: RFC 3461 4 (xtext), 4.1 NOTIFY, 4.2 ORCPT, 4.3 RET, 4.4 ENVID.
 * SECURITY: values are the remote client's and end up in DSN headers:
 * a decoded ENVID is graphic US-ASCII, a decoded NUL is refused, and every
 * copy is bounded by the caller's buffer.
 */
#include "smtp/smtp_parse_internal.h"

#define SMTP_E_RET        "501 5.5.4 Bad RET value"
#define SMTP_E_ENVID      "501 5.5.4 Bad ENVID value"
#define SMTP_E_NOTIFY     "501 5.5.4 Bad NOTIFY value"
#define SMTP_E_ORCPT      "501 5.5.4 Bad ORCPT value"

/* Value of an xtext hex digit, -1 when it is not one. */
static int
smtp_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;   /* RFC 3461 4: hexchar uses upper case only */
}

/* A decoded NUL is refused: callers keep the result as a C string. */
long
smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)in[i];
		if (c == '+') {
			int hi, lo;
			if (len - i < 3)
				return -1;
			hi = smtp_hex_value(in[i + 1]);
			lo = smtp_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -1;
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

/* Only the octets xtext cannot carry plainly are escaped (RFC 3461 4). */
long
smtp_xtext_encode(const char *in, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (outsz == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool plain = c >= 33 && c <= 126 && c != '+' && c != '=';
		size_t need = plain ? 1 : 3;
		if (o + need >= outsz)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	return (long)o;
}

/* RFC 3461 4.3: RET=FULL or RET=HDRS, nothing else. */
const char *
smtp_mail_ret(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	if (!ext->dsn)
		return SMTP_E_MAIL_PARAM;
	if (prm->hasval && smtp_word_eq(prm->val, prm->vallen, "FULL"))
		p->ret = SMTP_RET_FULL;
	else if (prm->hasval && smtp_word_eq(prm->val, prm->vallen, "HDRS"))
		p->ret = SMTP_RET_HDRS;
	else
		return SMTP_E_RET;
	return NULL;
}

/* RFC 3461 4.4: the decoded ENVID is printable (graphic) US-ASCII; it ends
 * up in DSN headers, so nothing else may come out of the xtext. */
const char *
smtp_mail_envid(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p)
{
	long n;

	if (!ext->dsn)
		return SMTP_E_MAIL_PARAM;
	if (!prm->hasval)
		return SMTP_E_ENVID;
	n = smtp_xtext_decode(prm->val, prm->vallen, p->envid, sizeof(p->envid));
	if (n <= 0 || !smtp_bytes_within(p->envid, (size_t)n, 33, 126)) {
		p->envid[0] = '\0';
		return SMTP_E_ENVID;
	}
	p->has_envid = true;
	return NULL;
}

/* One NOTIFY keyword as its bit, 0 when unknown. */
static unsigned
smtp_notify_word(const char *s, size_t len)
{
	if (smtp_word_eq(s, len, "NEVER"))
		return SMTP_NOTIFY_NEVER;
	if (smtp_word_eq(s, len, "SUCCESS"))
		return SMTP_NOTIFY_SUCCESS;
	if (smtp_word_eq(s, len, "FAILURE"))
		return SMTP_NOTIFY_FAILURE;
	if (smtp_word_eq(s, len, "DELAY"))
		return SMTP_NOTIFY_DELAY;
	return 0;
}

/* RFC 3461 4.1: "NEVER" alone or a comma list of SUCCESS, FAILURE, DELAY;
 * a repeated word is refused rather than silently merged. */
const char *
smtp_rcpt_notify(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_rcpt_params *p)
{
	unsigned bits = 0, bit;
	size_t pos = 0, end;

	if (!ext->dsn)
		return SMTP_E_RCPT_PARAM;
	if (!prm->hasval)
		return SMTP_E_NOTIFY;
	while (pos <= prm->vallen) {
		for (end = pos; end < prm->vallen && prm->val[end] != ','; end++)
			continue;
		bit = smtp_notify_word(prm->val + pos, end - pos);
		if (bit == 0 || (bits & bit) != 0)
			return SMTP_E_NOTIFY;
		bits |= bit;
		pos = end + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) != 0 && bits != SMTP_NOTIFY_NEVER)
		return SMTP_E_NOTIFY;
	p->notify = bits;
	return NULL;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext, at most 500 characters. The
 * xtext must decode (checked here) but is kept encoded, as received. */
const char *
smtp_rcpt_orcpt(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_rcpt_params *p)
{
	char scratch[SMTP_ORCPT_MAX + 1];
	const char *semi;
	size_t tlen;

	if (!ext->dsn)
		return SMTP_E_RCPT_PARAM;
	if (!prm->hasval || prm->vallen > SMTP_ORCPT_MAX)
		return SMTP_E_ORCPT;
	semi = memchr(prm->val, ';', prm->vallen);
	if (semi == NULL || semi == prm->val)
		return SMTP_E_ORCPT;
	tlen = (size_t)(semi - prm->val);
	for (size_t i = 0; i < tlen; i++)
		if (!smtp_is_atext((unsigned char)prm->val[i]))
			return SMTP_E_ORCPT;
	if (smtp_xtext_decode(semi + 1, prm->vallen - tlen - 1, scratch, sizeof(scratch)) <= 0)
		return SMTP_E_ORCPT;
	memcpy(p->orcpt, prm->val, prm->vallen);
	p->orcpt[prm->vallen] = '\0';
	p->has_orcpt = true;
	return NULL;
}
