/*
 * report_copy.c - checked copies out of a report into struct report's
 * fixed fields, and the small recognisers every format shares: an
 * address in running text, an SMTP reply code with its enhanced status
 * (RFC 5321 4.2, RFC 3463), a field's "type;" prefix (RFC 3464 2.1.2).
 * SECURITY: hostile text; a copy never overruns, never splits a UTF-8
 * sequence, and leaves no control character (they become spaces).
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "feedback/report_internal.h"
#include "util/xmalloc.h"

/* n octets of src, trimmed, controls as spaces, into dst (dstsz >= 1);
 * cut before a UTF-8 sequence that does not fit whole. */
void
report_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	size_t o = 0;

	while (n > 0 && isspace((unsigned char)*src))
		src++, n--;
	while (n > 0 && isspace((unsigned char)src[n - 1]))
		n--;
	if (n > dstsz - 1) {
		n = dstsz - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;   /* src[n] continues a sequence: cut before its start */
	}
	for (; o < n; o++) {
		unsigned char c = (unsigned char)src[o];

		dst[o] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	dst[o] = '\0';
}

void
report_copy_str(char *dst, size_t dstsz, const char *src)
{
	report_copy(dst, dstsz, src, src != NULL ? strlen(src) : 0);
}

/* "rfc822; a@b" -> "a@b": a leading atom and ';' (RFC 3464 address-type,
 * diagnostic-type) are dropped. */
const char *
report_type_strip(const char *v)
{
	const char *p = v;

	while (*p == ' ' || *p == '\t')
		p++;
	for (const char *q = p; q - p <= 16; q++) {
		if (*q == ';') {
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			return q;
		}
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_' && *q != '.')
			break;
	}
	return p;
}

/* An address out of a field value: inside the first <...> when there is
 * one, else the first word (up to space, comma, semicolon or '('). */
void
report_addr_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	const char *lt, *end;
	size_t k = 0;
	bool quoted = false, angle = false;

	for (size_t i = 0; i < n; i++) {   /* only the first of a list */
		quoted ^= src[i] == '"';
		angle = src[i] == '<' ? true : src[i] == '>' ? false : angle;
		if (src[i] == ',' && !quoted && !angle) {
			n = i;
			break;
		}
	}
	lt = memchr(src, '<', n);

	if (lt != NULL && (end = memchr(lt, '>', n - (size_t)(lt - src))) != NULL) {
		report_copy(dst, dstsz, lt + 1, (size_t)(end - lt - 1));
		return;
	}
	while (n > 0 && isspace((unsigned char)*src))
		src++, n--;
	while (k < n && !isspace((unsigned char)src[k]) && strchr(",;(<>\"", src[k]) == NULL)
		k++;
	report_copy(dst, dstsz, src, k);
}

static bool
report_addr_local_char(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static bool
report_addr_domain_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-';
}

/* The first thing in s that looks like local@domain.tld: its offset and
 * length. Deliberately plain (no quoted local parts, no literals): it only
 * names a recipient a bounce's prose talks about. */
bool
report_addr_find(const char *s, size_t n, size_t *start, size_t *alen)
{
	for (const char *at = memchr(s, '@', n); at != NULL;
	    at = memchr(at + 1, '@', n - (size_t)(at + 1 - s))) {
		size_t a = (size_t)(at - s), b = a + 1, e;
		bool dot = false;

		while (a > 0 && report_addr_local_char(s[a - 1]) && (size_t)(at - s) - a < 64)
			a--;
		while (a < (size_t)(at - s) && s[a] == '.')
			a++;
		while (b < n && report_addr_domain_char(s[b]) && b - (size_t)(at - s) < 256)
			b++;
		e = b;
		while (e > (size_t)(at - s) + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
			e--;
		for (size_t i = (size_t)(at - s) + 1; i < e; i++)
			dot |= s[i] == '.';
		if (a < (size_t)(at - s) && dot && e - a <= REPORT_ADDR_MAX) {
			*start = a;
			*alen = e - a;
			return true;
		}
		if (at + 1 >= s + n)
			break;
	}
	return false;
}

/* "5.1.1" at s (class 2, 4 or 5; subject and detail of 1-3 digits) not
 * inside a longer number: its length, or 0. */
static size_t
report_status_at(const char *s, size_t n, size_t i)
{
	size_t j = i + 1, d;

	if (i >= n || (s[i] != '2' && s[i] != '4' && s[i] != '5'))
		return 0;
	if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
		return 0;
	for (int part = 0; part < 2; part++) {
		if (j >= n || s[j] != '.')
			return 0;
		for (d = 0, j++; j < n && isdigit((unsigned char)s[j]) && d < 4; j++)
			d++;
		if (d == 0 || d > 3)
			return 0;
	}
	if (j < n && (isdigit((unsigned char)s[j]) || (s[j] == '.' && j + 1 < n && isdigit((unsigned char)s[j + 1]))))
		return 0;
	return j - i;
}

/* A reply code at s[i]: [245]xx alone as a word (not part of an address,
 * a number or a dotted quad), followed by space, '-' or the end. */
static bool
report_code_at(const char *s, size_t n, size_t i)
{
	if (i + 3 > n || (s[i] != '2' && s[i] != '4' && s[i] != '5') ||
	    !isdigit((unsigned char)s[i + 1]) || !isdigit((unsigned char)s[i + 2]))
		return false;
	if (i > 0 && strchr(" \t:'\"(=[", s[i - 1]) == NULL)
		return false;
	return i + 3 == n || s[i + 3] == ' ' || s[i + 3] == '-' || s[i + 3] == '\'' ||
	    s[i + 3] == '"';
}

/* The first SMTP reply code in s and the enhanced status after it, or
 * the first enhanced status anywhere when no code carries one. Either may
 * stay unset (code 0, status ""). */
void
report_smtp_scan(const char *s, size_t n, int *code, char *status, size_t statussz)
{
	*code = 0;
	status[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t j, k;

		if (!report_code_at(s, n, i))
			continue;
		*code = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
		for (j = i + 3; j < n && (s[j] == ' ' || s[j] == '-'); j++)
			;
		if ((k = report_status_at(s, n, j)) > 0) {
			report_copy(status, statussz, s + j, k);
			return;
		}
		break;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = report_status_at(s, n, i);

		if (k > 0) {
			report_copy(status, statussz, s + i, k);
			return;
		}
	}
}

/* A new, zeroed recipient, or NULL when the report holds REPORT_RCPTS_MAX.
 * The array's capacity is 4, then the next power of two: it grows when
 * the count reaches one. */
struct report_rcpt *
report_rcpt_add(struct report *r)
{
	size_t n = r->nrcpts;

	if (n >= REPORT_RCPTS_MAX)
		return NULL;
	if (n == 0)
		r->rcpts = xrealloc(r->rcpts, 4 * sizeof(*r->rcpts));
	else if (n >= 4 && (n & (n - 1)) == 0)
		r->rcpts = xrealloc(r->rcpts, 2 * n * sizeof(*r->rcpts));
	memset(&r->rcpts[n], 0, sizeof(*r->rcpts));
	r->nrcpts = n + 1;
	return &r->rcpts[n];
}
