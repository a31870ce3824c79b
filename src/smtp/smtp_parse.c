/*
 * smtp_parse.c - the command line: verb and argument (RFC 5321 4.1.1), the
 * HELO/EHLO name and the BDAT argument (RFC 3030), plus the lexical pieces
 * every parser shares (UTF-8, RFC 3629; decimal numbers). The other parsers
 * are smtp_parse_path.c (paths), smtp_parse_param.c (MAIL and RCPT
 * arguments) and smtp_parse_dsn.c (RFC 3461 and xtext); smtp_parse.h is the
 * interface of all four.
 * SECURITY: everything here comes from the remote client: it carries an
 * explicit length, may hold any octet and is never assumed NUL-terminated.
 * The grammar is never loosened for convenience (OpenSMTPD CVE-2020-7247);
 * the only tolerance is Postfix's: spaces after "FROM:"/"TO:", between
 * parameters and around the verb. Nothing allocates; every copy is bounded.
 */
#include "smtp/smtp_parse_internal.h"

#define SMTP_E_LINE_CHAR  "500 5.5.2 Syntax error, bad character in command line"
#define SMTP_E_VERB       "500 5.5.2 Syntax error, command unrecognized"
#define SMTP_E_BDAT       "501 5.5.4 Syntax: BDAT size [LAST]"
#define SMTP_E_BDAT_BIG   "552 5.3.4 Chunk size too large"
#define SMTP_E_HELO_EMPTY "501 5.5.4 Syntax: HELO hostname"
#define SMTP_E_HELO       "501 5.5.4 Invalid HELO hostname"

/* Decimal digits only, no sign, no spaces; overflow is reported apart from
 * bad syntax because a well-formed but huge size deserves 552, not 501. */
enum smtp_num
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
