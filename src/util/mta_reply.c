/*
 * mta_reply.c - strict parsing of a peer's SMTP replies and of the
 * keywords of its EHLO reply (mta_reply.h).
 * STANDARDS: RFC 5321 4.2 (reply syntax, multi-line replies), RFC 2034 /
 * RFC 3463 (enhanced codes), RFC 1870 (SIZE keyword), RFC 4954 (AUTH).
 * SECURITY: replies are untrusted (CVE-2020-8794 was a multi-line reply
 * trick): every line must carry the same three-digit code, '-' continues,
 * ' ' or the line end finishes; NUL, bare CR, overlong lines or too many
 * lines make the whole reply malformed. Text kept for logs and bounces is
 * reduced to printable ASCII.
 */
#include "util/mta_reply.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* r = a local failure presented as a reply. */
void
mta_reply_set(struct mta_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	r->local = true;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Append line text to r->text, printable ASCII only, space-separated. */
static void
reply_text_add(struct mta_reply *r, const char *s, size_t n)
{
	size_t len = strlen(r->text);

	if (len > 0 && len + 1 < sizeof(r->text))
		r->text[len++] = ' ';
	for (size_t i = 0; i < n && len + 1 < sizeof(r->text); i++) {
		unsigned char ch = (unsigned char)s[i];
		r->text[len++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	r->text[len] = '\0';
}

/* Length of an enhanced status code ("5.1.1 ") at s, 0 if none. */
static size_t
reply_enhanced_len(const char *s, size_t n)
{
	size_t i = 0, parts = 0;

	while (parts < 3) {
		size_t d = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && d < 3) {
			i++;
			d++;
		}
		if (d == 0)
			return 0;
		parts++;
		if (parts < 3) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	return i < n ? i + 1 : i;
}

/* Check one line (without its line end); returns its code, or -1. */
static int
reply_line_check(const char *l, size_t n, enum mta_reply_mode mode, bool *last)
{
	char max2 = mode == MTA_REPLY_STRICT ? '5' : '9';

	if (n < 3 || n > MTA_LINE_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (l[i] == '\0' || l[i] == '\r')
			return -1;
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > max2 || l[2] < '0' || l[2] > '9')
		return -1;
	if (n == 3 || l[3] == ' ')
		*last = true;
	else if (l[3] == '-')
		*last = false;
	else
		return -1;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

long
mta_reply_parse(const char *buf, size_t len, enum mta_reply_mode mode, struct mta_reply *r)
{
	size_t pos = 0, first_enh = 0;
	int code = -1;

	memset(r, 0, sizeof(*r));
	for (int lines = 0; lines < MTA_LINES_MAX; lines++) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (nl == NULL)
			return len - pos > MTA_LINE_MAX + 2 ? -1 : 0;
		size_t n = (size_t)(nl - (buf + pos));
		if (n > 0 && buf[pos + n - 1] == '\r')
			n--;
		else if (mode == MTA_REPLY_STRICT)
			return -1;      /* a bare LF: tolerated only as Postfix does, from others */
		bool last = false;
		int lc = reply_line_check(buf + pos, n, mode, &last);
		if (lc < 0 || (code >= 0 && lc != code))
			return -1;
		const char *t = buf + pos + (n > 3 ? 4 : 3);
		size_t tn = n > 3 ? n - 4 : 0;
		size_t enh = reply_enhanced_len(t, tn);
		if (code < 0)
			first_enh = enh;
		else if (enh > 0 && enh == first_enh && memcmp(t, r->text, enh) == 0) {
			t += enh;            /* "550-5.1.1 a" "550 5.1.1 b" -> "5.1.1 a b" */
			tn -= enh;
		}
		code = lc;
		reply_text_add(r, t, tn);
		pos = (size_t)(nl - buf) + 1;
		if (last) {
			r->code = code;
			return (long)pos;
		}
	}
	return -1;
}

/* Does the keyword line l (length n) start with word kw, followed by the end or sep? */
static bool
caps_word(const char *l, size_t n, const char *kw, const char **arg, size_t *argn)
{
	size_t k = strlen(kw);

	if (n < k || strncasecmp(l, kw, k) != 0 || (n > k && l[k] != ' ' && l[k] != '='))
		return false;
	*arg = n > k ? l + k + 1 : l + n;
	*argn = n > k ? n - k - 1 : 0;
	return true;
}

/* Does the mechanism list contain PLAIN? */
static bool
caps_auth_plain(const char *a, size_t n)
{
	for (size_t i = 0; i + 5 <= n; i++)
		if ((i == 0 || a[i - 1] == ' ') && strncasecmp(a + i, "PLAIN", 5) == 0 &&
		    (i + 5 == n || a[i + 5] == ' '))
			return true;
	return false;
}

/* One EHLO keyword line. */
static void
caps_line(const char *l, size_t n, struct mta_caps *caps)
{
	const char *a;
	size_t an;

	if (caps_word(l, n, "PIPELINING", &a, &an))
		caps->pipelining = true;
	else if (caps_word(l, n, "8BITMIME", &a, &an))
		caps->eightbit = true;
	else if (caps_word(l, n, "SMTPUTF8", &a, &an))
		caps->smtputf8 = true;
	else if (caps_word(l, n, "DSN", &a, &an))
		caps->dsn = true;
	else if (caps_word(l, n, "STARTTLS", &a, &an))
		caps->starttls = true;
	else if (caps_word(l, n, "AUTH", &a, &an))
		caps->auth_plain |= caps_auth_plain(a, an);
	else if (caps_word(l, n, "SIZE", &a, &an)) {
		caps->has_size = true;
		caps->size = 0;
		for (size_t i = 0; i < an && a[i] >= '0' && a[i] <= '9' && caps->size < UINT64_MAX / 10; i++)
			caps->size = caps->size * 10 + (uint64_t)(a[i] - '0');
	}
}

/* Fill caps from an EHLO/LHLO reply's octets (already checked by mta_reply_parse). */
void
mta_caps_parse(const char *raw, size_t len, struct mta_caps *caps)
{
	size_t pos = 0;
	bool first = true;

	memset(caps, 0, sizeof(*caps));
	while (pos < len) {
		const char *nl = memchr(raw + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (raw + pos)) : len - pos;
		size_t next = pos + n + 1;
		if (n > 0 && raw[pos + n - 1] == '\r')
			n--;
		if (!first && n > 4)     /* the first line is the greeting text */
			caps_line(raw + pos + 4, n - 4, caps);
		first = false;
		pos = next;
	}
}

bool
mta_reply_status(const char *text, char *out, size_t outsz)
{
	const char *p = text;
	size_t n = 0;
	int dots = 0, digits = 0;

	if (p == NULL)
		return false;
	if (p[0] >= '2' && p[0] <= '5' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    p[3] == ' ')
		p += 4;
	if ((p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return false;
	/* class "." subject (1-3 digits) "." detail (1-3 digits) */
	for (; p[n] != '\0' && (isdigit((unsigned char)p[n]) || p[n] == '.'); n++) {
		if (p[n] == '.') {
			if (digits == 0 || ++dots > 2)
				return false;
			digits = 0;
		} else if (++digits > 3 || (dots == 0 && digits > 1))
			return false;
	}
	if (dots != 2 || digits == 0 || n + 1 > outsz || (p[n] != '\0' && p[n] != ' '))
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}
