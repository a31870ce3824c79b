/*
 * smtp_parse.c - strict parsers for SMTP command lines, paths, ESMTP
 * parameters, BDAT sizes, HELO names and xtext (interface in smtp_parse.h).
 * STANDARDS: RFC 5321 4.1.1-4.1.3 and 4.5.3.1, RFC 1870, RFC 6152, RFC 3030,
 * RFC 3461 (RET, ENVID, NOTIFY, ORCPT, xtext), RFC 4954 5, RFC 6531 3.3,
 * RFC 3629 (well-formed UTF-8), RFC 3463 (enhanced status codes).
 * SECURITY: everything here comes from the remote client: it carries an
 * explicit length, may hold any octet and is never assumed NUL-terminated.
 * The grammar is never loosened for convenience (OpenSMTPD CVE-2020-7247);
 * the only tolerance is Postfix's: spaces after "FROM:"/"TO:", between
 * parameters and around the verb. Nothing allocates; every copy is bounded.
 */
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <string.h>

#include "util/utf8.h"

#define SMTP_LABEL_MAX 63   /* RFC 1035 2.3.4 */
#define SMTP_SIZE_DIGITS 20 /* RFC 1870: size-value = 1*20DIGIT */

#define SMTP_E_LINE_CHAR  "500 5.5.2 Syntax error, bad character in command line"
#define SMTP_E_VERB       "500 5.5.2 Syntax error, command unrecognized"
#define SMTP_E_MAIL       "501 5.5.2 Syntax: MAIL FROM:<address>"
#define SMTP_E_RCPT       "501 5.5.2 Syntax: RCPT TO:<address>"
#define SMTP_E_SENDER     "501 5.1.7 Bad sender address syntax"
#define SMTP_E_RECIPIENT  "501 5.1.3 Bad recipient address syntax"
#define SMTP_E_TOOLONG    "553 5.1.3 Address too long"
#define SMTP_E_PARAM      "501 5.5.4 Bad parameter syntax"
#define SMTP_E_MAIL_PARAM "555 5.5.4 Unsupported MAIL parameter"
#define SMTP_E_RCPT_PARAM "555 5.5.4 Unsupported RCPT parameter"
#define SMTP_E_REPEAT     "555 5.5.4 Repeated parameter"
#define SMTP_E_SIZE       "501 5.5.4 Bad SIZE value"
#define SMTP_E_SIZE_BIG   "552 5.3.4 Message size exceeds fixed limit"
#define SMTP_E_BODY       "501 5.5.4 Bad BODY value"
#define SMTP_E_BODY_OFF   "555 5.5.4 Unsupported BODY value"
#define SMTP_E_SMTPUTF8   "501 5.5.4 SMTPUTF8 takes no value"
#define SMTP_E_RET        "501 5.5.4 Bad RET value"
#define SMTP_E_ENVID      "501 5.5.4 Bad ENVID value"
#define SMTP_E_AUTH       "501 5.5.4 Bad AUTH value"
#define SMTP_E_NOTIFY     "501 5.5.4 Bad NOTIFY value"
#define SMTP_E_ORCPT      "501 5.5.4 Bad ORCPT value"
#define SMTP_E_BDAT       "501 5.5.4 Syntax: BDAT size [LAST]"
#define SMTP_E_BDAT_BIG   "552 5.3.4 Chunk size too large"
#define SMTP_E_HELO_EMPTY "501 5.5.4 Syntax: HELO hostname"
#define SMTP_E_HELO       "501 5.5.4 Invalid HELO hostname"

/* One "keyword[=value]" token of Mail-parameters / Rcpt-parameters. */
struct smtp_param {
	const char *key;
	size_t      keylen;
	const char *val;
	size_t      vallen;
	bool        hasval;
};

enum smtp_num { SMTP_NUM_OK, SMTP_NUM_BAD, SMTP_NUM_BIG };

/* ---- characters ------------------------------------------------------ */

/* ASCII-only case folding: the locale must never change what we accept. */
static char
smtp_ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII letter or digit, whatever the locale says. */
static bool
smtp_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5321 4.1.2 atext (RFC 5322 3.2.3), ASCII part. */
static bool
smtp_is_atext(unsigned char c)
{
	return smtp_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* s[0..len) equals word, ASCII case-insensitively, and has its length. */
static bool
smtp_word_eq(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || smtp_ascii_lower(s[i]) != smtp_ascii_lower(word[i]))
			return false;
	return word[i] == '\0';
}

/* Decimal digits only, no sign, no spaces; overflow is reported apart from
 * bad syntax because a well-formed but huge size deserves 552, not 501. */
static enum smtp_num
smtp_u64_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return SMTP_NUM_BAD;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return SMTP_NUM_BAD;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return SMTP_NUM_BIG;
		v = v * 10 + d;
	}
	*out = v;
	return SMTP_NUM_OK;
}

/* ---- command line ---------------------------------------------------- */

static const struct {
	const char    *name;
	enum smtp_verb verb;
} smtp_verb_table[] = {
	{ "HELO", SMTP_VERB_HELO }, { "EHLO", SMTP_VERB_EHLO },
	{ "MAIL", SMTP_VERB_MAIL }, { "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
	{ "RSET", SMTP_VERB_RSET }, { "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT }, { "HELP", SMTP_VERB_HELP },
	{ "VRFY", SMTP_VERB_VRFY }, { "EXPN", SMTP_VERB_EXPN },
	{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
};

/* Table names are ASCII letters, so a verb with NUL or 8-bit bytes can
 * never match and needs no separate test. */
static enum smtp_verb
smtp_verb_lookup(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(smtp_verb_table) / sizeof(smtp_verb_table[0]); i++)
		if (smtp_word_eq(s, len, smtp_verb_table[i].name))
			return smtp_verb_table[i].verb;
	return SMTP_VERB_UNKNOWN;
}

/* Postfix splits commands on SP and HTAB alike. */
static bool
smtp_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* NUL, CR and LF are refused in the whole line, not only in the verb: a
 * stray CR or LF is how command smuggling starts, and a NUL would cut the
 * argument short for anything that later treats it as a C string. */
const char *
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
	size_t vlen = 0, pos;

	out->verb = SMTP_VERB_UNKNOWN;
	out->arg = NULL;
	out->arglen = 0;
	if (len == 0)
		return SMTP_E_VERB;
	if (memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\n', len))
		return SMTP_E_LINE_CHAR;
	while (vlen < len && !smtp_is_blank(line[vlen]))
		vlen++;
	out->verb = smtp_verb_lookup(line, vlen);
	if (out->verb == SMTP_VERB_UNKNOWN)
		return SMTP_E_VERB;
	for (pos = vlen; pos < len && smtp_is_blank(line[pos]); pos++)
		continue;
	while (len > pos && smtp_is_blank(line[len - 1]))
		len--;
	out->arg = line + pos;
	out->arglen = len - pos;
	return NULL;
}

/* ---- domains and address literals -------------------------------------- */

/* One sub-domain: Let-dig [Ldh-str]; with allow_utf8 also a U-label, which
 * is only checked to be well-formed UTF-8 (RFC 6531 3.3). */
static size_t
smtp_label_scan(const char *s, size_t len, bool allow_utf8, bool *utf8)
{
	size_t pos = 0, n = 0;

	while (pos < len) {
		unsigned char c = (unsigned char)s[pos];
		if (smtp_is_alnum(c) || c == '-')
			n = 1;
		else if (allow_utf8 && c >= 0x80 && (n = utf8_len(s + pos, len - pos)) > 0)
			*utf8 = true;
		else
			break;
		pos += n;
	}
	if (pos == 0 || pos > SMTP_LABEL_MAX || s[0] == '-' || s[pos - 1] == '-')
		return 0;
	return pos;
}

/* Domain = sub-domain *("." sub-domain); stops at the first octet that
 * cannot continue it. A trailing dot fails (the empty label after it). */
static size_t
smtp_domain_scan(const char *s, size_t len, bool allow_utf8, bool *utf8)
{
	size_t pos = 0, n;

	for (;;) {
		n = smtp_label_scan(s + pos, len - pos, allow_utf8, utf8);
		if (n == 0)
			return 0;
		pos += n;
		if (pos == len || s[pos] != '.')
			return pos;
		pos++;
	}
}

/* "[" IPv4 "]" or "[IPv6:" IPv6 "]" (RFC 5321 4.1.3), checked by
 * inet_pton. General-address-literals name no usable address: refused. */
static size_t
smtp_literal_scan(const char *s, size_t len)
{
	const char *allowed = "0123456789.";
	unsigned char bin[16];
	char buf[64];
	size_t off = 1, end;
	int af = AF_INET;

	if (len < 2 || s[0] != '[')
		return 0;
	if (len > 6 && smtp_word_eq(s + 1, 5, "IPv6:")) {
		off = 6;
		af = AF_INET6;
		allowed = "0123456789abcdefABCDEF:.";
	}
	for (end = off; end < len && s[end] != ']'; end++)
		if (s[end] == '\0' || strchr(allowed, s[end]) == NULL)
			return 0;
	if (end == len || end - off >= sizeof(buf))
		return 0;
	memcpy(buf, s + off, end - off);
	buf[end - off] = '\0';
	if (inet_pton(af, buf, bin) != 1)
		return 0;
	return end + 1;
}

/* ---- paths ------------------------------------------------------------ */

/* Dot-string (RFC 5321 4.1.2, RFC 6531 3.3): atoms of atext or UTF-8 joined
 * by single dots; no leading, trailing or double dot. */
static size_t
smtp_dotstring_scan(const char *s, size_t len, bool *utf8)
{
	size_t pos = 0, atom = 0, n = 0;

	while (pos < len) {
		unsigned char c = (unsigned char)s[pos];
		if (c == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
			pos++;
			continue;
		}
		if (smtp_is_atext(c))
			n = 1;
		else if (c >= 0x80 && (n = utf8_len(s + pos, len - pos)) > 0)
			*utf8 = true;
		else
			break;
		atom += n;
		pos += n;
	}
	return atom == 0 ? 0 : pos;
}

/* Quoted-string of qtextSMTP / quoted-pairSMTP (backslash + %d32-126) and,
 * per RFC 6531, UTF-8. Returns its length including both quotes, or 0. */
static size_t
smtp_quoted_scan(const char *s, size_t len, bool *utf8)
{
	size_t pos = 1, n;

	while (pos < len) {
		unsigned char c = (unsigned char)s[pos];
		if (c == '"')
			return pos + 1;
		if (c == '\\') {
			if (pos + 1 >= len || s[pos + 1] < 32 || s[pos + 1] > 126)
				return 0;
			pos += 2;
		} else if (c >= 32 && c <= 126) {
			pos++;
		} else if (c >= 0x80 && (n = utf8_len(s + pos, len - pos)) > 0) {
			*utf8 = true;
			pos += n;
		} else {
			return 0;
		}
	}
	return 0;
}

/* A-d-l "@a,@b:" before the mailbox. RFC 5321 appendix C says to accept
 * and ignore source routes, so it is validated and dropped, never used. */
static size_t
smtp_route_skip(const char *s, size_t len)
{
	size_t pos = 0, n;
	bool u8 = false;

	for (;;) {
		if (pos >= len || s[pos] != '@')
			return 0;
		pos++;
		n = smtp_domain_scan(s + pos, len - pos, true, &u8);
		if (n == 0 || n > SMTP_DOMAIN_MAX || pos + n >= len)
			return 0;
		pos += n;
		if (s[pos] == ':')
			return pos + 1;
		if (s[pos] != ',')
			return 0;
		pos++;
	}
}

/* Copy local part and (lowercased) domain; lengths were checked. dom is
 * NULL for "<Postmaster>", which then has at == len. */
static void
smtp_path_store(struct smtp_path *out, const char *local, size_t llen,
    const char *dom, size_t dlen)
{
	memcpy(out->addr, local, llen);
	out->at = llen;
	out->len = llen;
	if (dom != NULL) {
		out->addr[llen] = '@';
		for (size_t i = 0; i < dlen; i++)
			out->addr[llen + 1 + i] = smtp_ascii_lower(dom[i]);
		out->len = llen + 1 + dlen;
	}
	out->addr[out->len] = '\0';
}

/* Local-part = Dot-string / Quoted-string, told apart by the first octet. */
static size_t
smtp_local_scan(const char *s, size_t len, bool *utf8)
{
	if (len > 0 && s[0] == '"')
		return smtp_quoted_scan(s, len, utf8);
	return smtp_dotstring_scan(s, len, utf8);
}

/* Mailbox ">" (the part after "<" and any route). bad is the syntax reply
 * that fits the caller (5.1.7 sender, 5.1.3 recipient). */
static const char *
smtp_mailbox_parse(const char *s, size_t len, bool allow_postmaster, const char *bad,
    struct smtp_path *out, size_t *used)
{
	size_t lp, dn;
	bool u8 = false;

	lp = smtp_local_scan(s, len, &u8);
	if (lp == 0 || lp >= len)
		return bad;
	if (s[lp] == '>' && allow_postmaster && smtp_word_eq(s, lp, "postmaster")) {
		smtp_path_store(out, s, lp, NULL, 0);
		*used = lp + 1;
		return NULL;
	}
	if (s[lp] != '@')
		return bad;
	if (lp + 1 < len && s[lp + 1] == '[') {
		dn = smtp_literal_scan(s + lp + 1, len - lp - 1);
		out->literal = true;
	} else {
		dn = smtp_domain_scan(s + lp + 1, len - lp - 1, true, &u8);
	}
	if (dn == 0 || lp + 1 + dn >= len || s[lp + 1 + dn] != '>')
		return bad;
	if (lp > SMTP_LOCAL_MAX || dn > SMTP_DOMAIN_MAX || lp + 1 + dn > SMTP_PATH_MAX)
		return SMTP_E_TOOLONG;
	smtp_path_store(out, s, lp, s + lp + 1, dn);
	out->utf8 = u8;
	*used = lp + 1 + dn + 1;
	return NULL;
}

/* The reply class follows the role: only a reverse-path may be null, so
 * allow_null tells a sender (5.1.7) from a recipient (5.1.3). */
const char *
smtp_path_parse(const char *s, size_t len, bool allow_null, bool allow_postmaster,
    struct smtp_path *out, size_t *consumed)
{
	const char *bad = allow_null ? SMTP_E_SENDER : SMTP_E_RECIPIENT;
	const char *err;
	size_t pos = 1, used = 0;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	if (len < 2 || s[0] != '<')
		return bad;
	if (s[1] == '>') {
		if (!allow_null)
			return bad;
		*consumed = 2;
		return NULL;
	}
	if (s[1] == '@') {
		size_t n = smtp_route_skip(s + 1, len - 1);
		if (n == 0)
			return bad;
		pos += n;
		allow_postmaster = false;   /* 4.1.1.3: "<Postmaster>" has no route */
	}
	err = smtp_mailbox_parse(s + pos, len - pos, allow_postmaster, bad, out, &used);
	if (err != NULL) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	*consumed = pos + used;
	return NULL;
}

/* ---- ESMTP parameters -------------------------------------------------- */

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

/* Every decoded octet within [lo, hi]. */
static bool
smtp_bytes_within(const char *s, size_t len, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			return false;
	return true;
}

/* ---- MAIL FROM parameters ---------------------------------------------- */

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

/* RFC 3461 4.3: RET=FULL or RET=HDRS, nothing else. */
static const char *
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
static const char *
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
smtp_mail_param(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_mail_params *p, unsigned *seen)
{
	for (size_t i = 0; i < sizeof(smtp_mail_param_table) / sizeof(smtp_mail_param_table[0]); i++) {
		if (!smtp_word_eq(prm->key, prm->keylen, smtp_mail_param_table[i].name))
			continue;
		if (*seen & (1u << i))
			return SMTP_E_REPEAT;
		*seen |= 1u << i;
		return smtp_mail_param_table[i].take(prm, ext, p);
	}
	return SMTP_E_MAIL_PARAM;
}

/* "FROM:" reverse-path [SP Mail-parameters] (RFC 5321 4.1.1.2). */
const char *
smtp_mail_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_mail_params *p)
{
	struct smtp_param prm;
	size_t pos = 0, used = 0;
	unsigned seen = 0;
	const char *err;
	int r;

	memset(path, 0, sizeof(*path));
	memset(p, 0, sizeof(*p));
	if (!smtp_keyword_skip(arg, len, "FROM:", &pos))
		return SMTP_E_MAIL;
	err = smtp_path_parse(arg + pos, len - pos, true, false, path, &used);
	if (err != NULL)
		return err;
	pos += used;
	if (pos < len && arg[pos] != ' ')
		return SMTP_E_SENDER;
	while ((r = smtp_param_next(arg, len, &pos, &prm)) > 0)
		if ((err = smtp_mail_param(&prm, ext, p, &seen)) != NULL)
			return err;
	return r < 0 ? SMTP_E_PARAM : NULL;
}

/* ---- RCPT TO parameters ------------------------------------------------ */

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
static const char *
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
static const char *
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
smtp_rcpt_param(const struct smtp_param *prm, const struct smtp_ext *ext,
    struct smtp_rcpt_params *p, unsigned *seen)
{
	for (size_t i = 0; i < sizeof(smtp_rcpt_param_table) / sizeof(smtp_rcpt_param_table[0]); i++) {
		if (!smtp_word_eq(prm->key, prm->keylen, smtp_rcpt_param_table[i].name))
			continue;
		if (*seen & (1u << i))
			return SMTP_E_REPEAT;
		*seen |= 1u << i;
		return smtp_rcpt_param_table[i].take(prm, ext, p);
	}
	return SMTP_E_RCPT_PARAM;
}

/* "TO:" forward-path [SP Rcpt-parameters] (RFC 5321 4.1.1.3). */
const char *
smtp_rcpt_parse(const char *arg, size_t len, const struct smtp_ext *ext,
    struct smtp_path *path, struct smtp_rcpt_params *p)
{
	struct smtp_param prm;
	size_t pos = 0, used = 0;
	unsigned seen = 0;
	const char *err;
	int r;

	memset(path, 0, sizeof(*path));
	memset(p, 0, sizeof(*p));
	if (!smtp_keyword_skip(arg, len, "TO:", &pos))
		return SMTP_E_RCPT;
	err = smtp_path_parse(arg + pos, len - pos, false, true, path, &used);
	if (err != NULL)
		return err;
	pos += used;
	if (pos < len && arg[pos] != ' ')
		return SMTP_E_RECIPIENT;
	while ((r = smtp_param_next(arg, len, &pos, &prm)) > 0)
		if ((err = smtp_rcpt_param(&prm, ext, p, &seen)) != NULL)
			return err;
	return r < 0 ? SMTP_E_PARAM : NULL;
}

/* ---- BDAT, xtext, HELO ------------------------------------------------- */

/* RFC 3030: chunk-size = 1*DIGIT [SP "LAST"]. */
const char *
smtp_bdat_parse(const char *arg, size_t len, uint64_t *size, bool *last)
{
	size_t n = 0, pos;

	*size = 0;
	*last = false;
	while (len > 0 && arg[len - 1] == ' ')
		len--;
	while (n < len && arg[n] != ' ')
		n++;
	switch (smtp_u64_parse(arg, n, size)) {
	case SMTP_NUM_BAD:
		return SMTP_E_BDAT;
	case SMTP_NUM_BIG:
		return SMTP_E_BDAT_BIG;
	case SMTP_NUM_OK:
		break;
	}
	for (pos = n; pos < len && arg[pos] == ' '; pos++)
		continue;
	if (pos < len && !smtp_word_eq(arg + pos, len - pos, "LAST")) {
		*size = 0;
		return SMTP_E_BDAT;
	}
	*last = pos < len;
	return NULL;
}

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

/* RFC 5321 4.1.1.1: Domain or address-literal, ASCII only. */
const char *
smtp_helo_check(const char *arg, size_t len)
{
	if (len == 0)
		return SMTP_E_HELO_EMPTY;
	if (len > SMTP_DOMAIN_MAX)
		return SMTP_E_HELO;
	/* Like Postfix's default, accept any printable ASCII name without
	 * spaces: real clients send "DESKTOP_1", "host." or bare words, and a
	 * HELO name proves nothing anyway. It goes into Received: verbatim, so
	 * control characters, spaces and 8-bit octets are still refused. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arg[i] <= ' ' || (unsigned char)arg[i] >= 0x7f)
			return SMTP_E_HELO;
	return NULL;
}
