/*
 * smtp_parse_path.c - the reverse-path and forward-path of MAIL and RCPT:
 * Mailbox, Local-part (Dot-string, Quoted-string), Domain, address literals
 * and source routes.
 * STANDARDS: RFC 5321 4.1.2, 4.1.3 and 4.5.3.1 (lengths), appendix C
 * (source routes); RFC 6531 3.3 (UTF-8 local parts and U-labels).
 * SECURITY: the path is the remote client's; the grammar is never loosened
 * (OpenSMTPD CVE-2020-7247), every copy is bounded by SMTP_PATH_MAX and
 * only well-formed UTF-8 passes.
 */
#include "smtp/smtp_parse_internal.h"
#include "util/utf8.h"

#include <arpa/inet.h>

#define SMTP_LABEL_MAX 63   /* RFC 1035 2.3.4 */

#define SMTP_E_TOOLONG    "553 5.1.3 Address too long"

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
