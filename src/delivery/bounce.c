/*
 * bounce.c - build a delivery status notification: a multipart/report with
 * a human-readable explanation, the machine-readable delivery status and the
 * returned original (its headers, or all of it when asked and small enough).
 * STANDARDS: RFC 3464 (message/delivery-status), RFC 6522 (multipart/report),
 * RFC 3461 (RET, ENVID, ORCPT), RFC 3463 (status codes), RFC 3834
 * (Auto-Submitted), RFC 5322 (format, folding), RFC 2045/2046 (MIME),
 * RFC 6532 and RFC 6533 (internationalized headers and DSNs).
 * SECURITY: configuration strings (host name, postmaster) are trusted to be
 * sane but still cleaned; everything else (diagnostics, remote MTA names,
 * addresses, ENVID, ORCPT) is peer text: control characters become spaces,
 * invalid UTF-8 becomes '?', and each field is folded below 998 octets. The
 * original content is copied verbatim; the MIME boundary is random and
 * checked not to occur in any part.
 */
#include "delivery/bounce.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp_parse.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define DSN_FOLD_SOFT  78      /* RFC 5322 2.1.1: SHOULD be no more than 78 */
#define DSN_FOLD_HARD  990     /* MUST be no more than 998; keep some room */
#define DSN_FIELD_MAX  4096    /* peer text beyond this is cut */
#define DSN_READ_CHUNK 16384
#define DSN_HOST_MAX   255

_Static_assert(sizeof(off_t) >= 8, "content offsets need 64-bit off_t");

/* A growing output buffer. err is sticky: once a length would overflow,
 * further writes are dropped and the build fails at the end. */
struct dsn_buf {
	char  *data;
	size_t len, cap;
	bool   err;
};

/* The returned original, as it goes into the third part. */
struct dsn_orig {
	struct dsn_buf text;
	bool           present;   /* there is a third part (maybe empty) */
	bool           full;      /* message/rfc822 rather than headers only */
	bool           capped;    /* RET=FULL but larger than max_return */
	bool           hdr8;      /* 8-bit octets in the header section */
	bool           any8;      /* 8-bit octets anywhere in what we return */
};

enum dsn_kind { DSN_K_FAILED, DSN_K_DELAYED, DSN_K_DELIVERED, DSN_K_RELAYED };

struct dsn_ctx {
	const struct bounce_info *b;
	enum dsn_kind kind;
	bool          intl;      /* non-ASCII addresses: RFC 6533 global DSN */
	char          host[DSN_HOST_MAX + 1];
	char          qid[33];
	struct dsn_orig orig;
};

/* ---- buffer ---- */

/* Make room for n more octets (plus a NUL); NULL after an overflow. */
static char *
dsn_reserve(struct dsn_buf *b, size_t n)
{
	size_t cap;

	if (b->err || n > SIZE_MAX / 4 - b->len) {
		b->err = true;
		return NULL;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

static void
dsn_put(struct dsn_buf *b, const char *s, size_t n)
{
	char *p = dsn_reserve(b, n);

	if (p == NULL)
		return;
	memcpy(p, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
dsn_puts(struct dsn_buf *b, const char *s)
{
	dsn_put(b, s, strlen(s));
}

/* Formatted text from our own, bounded values only (never peer text). */
static void __attribute__((format(printf, 2, 3)))
dsn_printf(struct dsn_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->err = true;
		return;
	}
	dsn_put(b, tmp, (size_t)n);
}

static void
dsn_buf_free(struct dsn_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- cleaning peer text ---- */

/* Copy untrusted text into a new string fit for one line: controls (CR, LF,
 * TAB, NUL, DEL) become spaces; a valid UTF-8 character is kept when utf8
 * is set, else it becomes one '?'; any other octet >= 0x80 becomes '?'. */
static char *
dsn_clean(const char *s, size_t len, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out;
	size_t o = 0;

	if (len > DSN_FIELD_MAX)
		len = DSN_FIELD_MAX;
	out = xmalloc(len + 1);
	for (size_t i = 0; i < len; ) {
		size_t n = u[i] >= 0x80 ? utf8_len(s + i, len - i) : 0;
		if (n > 0 && utf8) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		if (u[i] < 0x20 || u[i] == 0x7F)
			out[o++] = ' ';
		else
			out[o++] = u[i] >= 0x80 ? '?' : (char)u[i];
		i += n > 0 ? n : 1;
	}
	out[o] = '\0';
	return out;
}

static char *
dsn_clean_str(const char *s, bool utf8)
{
	return dsn_clean(s ? s : "", s ? strnlen(s, DSN_FIELD_MAX) : 0, utf8);
}

static bool
dsn_has8(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* Keep only the characters of a host name or queue id, so these can go
 * into Message-ID and the boundary as they are. */
static void
dsn_token(char *out, size_t outsz, const char *in, const char *fallback)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < outsz; in++) {
		unsigned char c = (unsigned char)*in;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-')
			out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, outsz, "%s", fallback);
}

/* ---- lines ---- */

/* Append head, then the cleaned text word by word, breaking lines before
 * DSN_FOLD_SOFT where a space allows it and always before DSN_FOLD_HARD
 * (a longer word is split, never inside a UTF-8 sequence). Continuation
 * lines start with indent, which for a header field must be whitespace. */
static void
dsn_fold(struct dsn_buf *o, const char *head, const char *text, const char *indent)
{
	size_t col = strlen(head), ilen = strlen(indent);
	bool first = true;

	dsn_puts(o, head);
	while (*text == ' ')
		text++;
	while (*text != '\0') {
		size_t w = strcspn(text, " ");
		if (!first && col + 1 + w > DSN_FOLD_SOFT && col > ilen) {
			dsn_puts(o, "\r\n");
			dsn_puts(o, indent);
			col = ilen;
		} else if (!first) {
			dsn_put(o, " ", 1);
			col++;
		}
		while (col + w > DSN_FOLD_HARD) {
			size_t n = DSN_FOLD_HARD - col, k = n;
			while (k > 0 && ((unsigned char)text[k] & 0xC0) == 0x80)
				k--;
			n = k > 0 ? k : n;
			dsn_put(o, text, n);
			dsn_puts(o, "\r\n");
			dsn_puts(o, indent);
			text += n;
			w -= n;
			col = ilen;
		}
		dsn_put(o, text, w);
		col += w;
		text += w;
		while (*text == ' ')
			text++;
		first = false;
	}
	dsn_puts(o, "\r\n");
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static void
dsn_date(char *out, size_t outsz, time_t t)
{
	static const char wd[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mo[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	    "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
	    mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
dsn_date_field(struct dsn_buf *o, const char *name, time_t t)
{
	char d[64];

	dsn_date(d, sizeof(d), t);
	dsn_printf(o, "%s: %s\r\n", name, d);
}

/* 2*n hex digits of fresh randomness into out[2*n+1]. */
static void
dsn_random_hex(char *out, size_t n)
{
	unsigned char r[32];

	if (n > sizeof(r))
		n = sizeof(r);
	randombytes_buf(r, n);
	sodium_bin2hex(out, 2 * n + 1, r, n);
}

/* ---- the returned original ---- */

/* Read exactly len octets at off; -1 on error or early end of file. */
static int
dsn_pread(int fd, off_t off, char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Offset just past the CRLF of the last header line; when the content has
 * no blank line, *found is false and the result is len. */
static size_t
dsn_header_end(const char *p, size_t len, bool *found)
{
	const char *e;

	*found = true;
	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	e = len >= 4 ? memmem(p, len, "\r\n\r\n", 4) : NULL;
	if (e != NULL)
		return (size_t)(e - p) + 2;
	*found = false;
	return len;
}

/* Read up to limit octets; when stop_at_headers, stop once the header
 * section is complete. */
static int
dsn_orig_read(const struct bounce_info *b, struct dsn_buf *t, uint64_t limit, bool stop_at_headers)
{
	while (t->len < limit) {
		size_t n = limit - t->len < DSN_READ_CHUNK ? (size_t)(limit - t->len) : DSN_READ_CHUNK;
		size_t from = t->len >= 3 ? t->len - 3 : 0;
		char *p = dsn_reserve(t, n);
		if (p == NULL || dsn_pread(b->content_fd, b->content_off + (off_t)t->len, p, n) < 0)
			return -1;
		t->len += n;
		t->data[t->len] = '\0';
		if (stop_at_headers && (memmem(t->data + from, t->len - from, "\r\n\r\n", 4) != NULL ||
		    (t->data[0] == '\r' && t->len >= 2 && t->data[1] == '\n')))
			break;
	}
	return 0;
}

/* Cut a header section that did not fit the cap after its last complete
 * field, so no field is returned half. */
static size_t
dsn_header_cut(const char *p, size_t len)
{
	for (size_t i = len; i >= 2; i--)
		if (p[i - 2] == '\r' && p[i - 1] == '\n' && i < len && p[i] != ' ' && p[i] != '\t')
			return i;
	return 0;
}

/* Load what the third part returns: all of the content for RET=FULL when
 * it is at most max_return octets, else only the header section. */
static int
dsn_orig_load(const struct bounce_info *b, struct dsn_orig *o)
{
	uint64_t limit;
	size_t hend;
	bool found;

	memset(o, 0, sizeof(*o));
	if (b->content_len == 0 || b->max_return == 0)
		return 0;
	if (b->content_fd < 0 || b->content_off < 0 || b->content_len > (uint64_t)INT64_MAX -
	    (uint64_t)b->content_off || b->max_return > SIZE_MAX / 8)
		return -1;
	o->present = true;
	o->full = b->return_full && b->content_len <= b->max_return;
	o->capped = b->return_full && !o->full;
	limit = b->content_len < b->max_return ? b->content_len : b->max_return;
	if (dsn_orig_read(b, &o->text, limit, !o->full) < 0)
		return -1;
	hend = dsn_header_end(o->text.data, o->text.len, &found);
	if (!o->full) {
		if (!found && o->text.len < b->content_len)
			hend = dsn_header_cut(o->text.data, o->text.len);
		o->text.len = hend;
		if (o->text.data != NULL)
			o->text.data[hend] = '\0';
	}
	o->hdr8 = dsn_has8(o->text.data, hend < o->text.len ? hend : o->text.len);
	o->any8 = dsn_has8(o->text.data, o->text.len);
	if (o->text.len >= 1 && (o->text.len < 2 || memcmp(o->text.data + o->text.len - 2, "\r\n", 2) != 0))
		dsn_puts(&o->text, "\r\n");
	return o->text.err ? -1 : 0;
}

/* ---- the delivery-status part ---- */

/* Split "addr-type;xtext" into a cleaned type and the decoded address (or
 * the xtext as it is when it does not decode to clean text). */
static void
dsn_orcpt_split(const char *orcpt, bool utf8, char **type, char **value)
{
	char dec[SMTP_ORCPT_MAX + 1];
	size_t len = strnlen(orcpt, DSN_FIELD_MAX);
	const char *semi = memchr(orcpt, ';', len);
	long n;

	if (semi == NULL) {
		*type = xstrdup("rfc822");
		*value = dsn_clean(orcpt, len, utf8);
		return;
	}
	*type = dsn_clean(orcpt, (size_t)(semi - orcpt), false);
	if ((*type)[0] == '\0' || strchr(*type, ' ') != NULL) {
		free(*type);
		*type = xstrdup("rfc822");
	}
	semi++;
	while (semi < orcpt + len && *semi == ' ')
		semi++;
	len -= (size_t)(semi - orcpt);
	n = smtp_xtext_decode(semi, len, dec, sizeof(dec));
	if (n > 0)
		*value = dsn_clean(dec, (size_t)n, utf8);
	else
		*value = dsn_clean(semi, len, utf8);
}

/* Whether an address needs the RFC 6533 treatment. */
static bool
dsn_rcpt_intl(const struct bounce_rcpt *r)
{
	char *type, *value;
	bool intl = r->addr != NULL && dsn_has8(r->addr, strnlen(r->addr, DSN_FIELD_MAX));

	if (!intl && r->orcpt != NULL) {
		dsn_orcpt_split(r->orcpt, true, &type, &value);
		intl = dsn_has8(value, strlen(value));
		free(type);
		free(value);
	}
	return intl;
}

/* "x.y.z" with class 2, 4 or 5 and at most three digits per part (RFC 3463). */
static bool
dsn_status_valid(const char *s)
{
	size_t i = 0;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 0 || i > 3 || s[i] != (part == 0 ? '.' : '\0'))
			return false;
		s += i + 1;
	}
	return true;
}

static const char *
dsn_action_name(enum bounce_action a)
{
	switch (a) {
	case BOUNCE_FAILED:    return "failed";
	case BOUNCE_DELAYED:   return "delayed";
	case BOUNCE_DELIVERED: return "delivered";
	default:               return "relayed";
	}
}

static const char *
dsn_status_of(const struct bounce_rcpt *r)
{
	if (dsn_status_valid(r->status))
		return r->status;
	return r->action == BOUNCE_FAILED ? "5.0.0" : r->action == BOUNCE_DELAYED ? "4.0.0" : "2.0.0";
}

/* "host[addr]:port" -> host, or addr when there is no name. */
static char *
dsn_mta_name(const char *relay)
{
	size_t len = strnlen(relay, DSN_FIELD_MAX), n = strcspn(relay, "[");
	const char *start = relay;

	if (n == 0 && len > 1) {
		start = relay + 1;
		n = strcspn(start, "]");
	} else if (n == len) {
		n = strcspn(relay, ":");
	}
	return dsn_clean(start, n, false);
}

/* The diagnostic as (type, text): "smtp; 550 ..." -> "smtp", "550 ...";
 * text without a type is given "smtp". */
static void
dsn_diag_split(const char *diag, char type[32], const char **text)
{
	size_t n = 0;

	while (n < 31 && ((diag[n] >= 'a' && diag[n] <= 'z') || (diag[n] >= 'A' && diag[n] <= 'Z') ||
	    (diag[n] >= '0' && diag[n] <= '9') || diag[n] == '-'))
		n++;
	if (n > 0 && diag[n] == ';') {
		memcpy(type, diag, n);
		type[n] = '\0';
		*text = diag + n + 1;
	} else {
		snprintf(type, 32, "smtp");
		*text = diag;
	}
	while (**text == ' ')
		(*text)++;
}

static void
dsn_status_rcpt(const struct dsn_ctx *c, const struct bounce_rcpt *r, struct dsn_buf *o)
{
	char dtype[32], head[64];
	const char *dtext, *addr = r->addr ? r->addr : "";
	char *type, *value;

	if (r->orcpt != NULL) {
		dsn_orcpt_split(r->orcpt, c->intl, &type, &value);
		snprintf(head, sizeof(head), "Original-Recipient: %.30s; ", type);
		dsn_fold(o, head, value, " ");
		free(type);
		free(value);
	}
	value = dsn_clean_str(addr, c->intl);
	dsn_fold(o, dsn_has8(value, strlen(value)) ? "Final-Recipient: utf-8; " : "Final-Recipient: rfc822; ",
	    value, " ");
	free(value);
	dsn_printf(o, "Action: %s\r\nStatus: %s\r\n", dsn_action_name(r->action), dsn_status_of(r));
	if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
		value = dsn_mta_name(r->remote_mta);
		if (value[0] != '\0' && strchr(value, ' ') == NULL)
			dsn_fold(o, "Remote-MTA: dns; ", value, " ");
		free(value);
	}
	if (r->diagnostic != NULL && r->diagnostic[0] != '\0') {
		dsn_diag_split(r->diagnostic, dtype, &dtext);
		snprintf(head, sizeof(head), "Diagnostic-Code: %s; ", dtype);
		value = dsn_clean_str(dtext, c->intl);
		dsn_fold(o, head, value, " ");
		free(value);
	}
	if (r->last_attempt != 0)
		dsn_date_field(o, "Last-Attempt-Date", r->last_attempt);
	if (r->action == BOUNCE_DELAYED && r->will_retry_until != 0)
		dsn_date_field(o, "Will-Retry-Until", r->will_retry_until);
}

/* Per-message fields, then one block per recipient (RFC 3464 2.1). */
static void
dsn_status_part(const struct dsn_ctx *c, struct dsn_buf *o)
{
	const struct bounce_info *b = c->b;

	if (b->envid != NULL && b->envid[0] != '\0') {
		size_t len = strnlen(b->envid, DSN_FIELD_MAX);
		char *x = xmalloc(3 * len + 1);
		if (smtp_xtext_encode(b->envid, len, x, 3 * len + 1) > 0)
			dsn_fold(o, "Original-Envelope-Id: ", x, " ");
		free(x);
	}
	dsn_printf(o, "Reporting-MTA: dns; %s\r\n", c->host);
	dsn_printf(o, "X-Ferry-Queue-ID: %s\r\n", c->qid);
	if (b->arrival != 0)
		dsn_date_field(o, "Arrival-Date", b->arrival);
	for (size_t i = 0; i < b->nrcpts; i++) {
		dsn_puts(o, "\r\n");
		dsn_status_rcpt(c, &b->rcpts[i], o);
	}
}

/* ---- the human-readable part ---- */

static const char *const dsn_intro[] = {
	[DSN_K_FAILED] =
	"I'm sorry to have to inform you that your message could not\r\n"
	"be delivered to one or more recipients. It's attached below.\r\n"
	"\r\n"
	"For further assistance, please send mail to postmaster.\r\n"
	"\r\n"
	"If you do so, please include this problem report. You can\r\n"
	"delete your own text from the attached returned message.\r\n",
	[DSN_K_DELAYED] =
	"Your message could not be delivered to one or more recipients\r\n"
	"yet. The mail system will keep trying; you will be notified\r\n"
	"if it gives up. You do not need to send the message again.\r\n",
	[DSN_K_DELIVERED] =
	"Your message was successfully delivered to the destination(s)\r\n"
	"listed below. If the message was delivered to mailbox you will\r\n"
	"receive no further notifications. Otherwise you may still receive\r\n"
	"notifications of mail delivery errors from other systems.\r\n",
	[DSN_K_RELAYED] =
	"Your message was successfully handed on to the destination(s)\r\n"
	"listed below, which do not offer delivery notifications. You may\r\n"
	"still receive notifications of mail delivery errors from other\r\n"
	"systems.\r\n",
};

/* "<addr>: host mx.example said: 550 5.1.1 ..." wrapped like Postfix. */
static void
dsn_text_rcpt(const struct dsn_ctx *c, const struct bounce_rcpt *r, struct dsn_buf *o)
{
	struct dsn_buf line = { 0 };
	char dtype[32], *s;
	const char *dtext = NULL;
	bool ok = r->action == BOUNCE_DELIVERED || r->action == BOUNCE_RELAYED;

	dsn_puts(&line, "<");
	dsn_puts(&line, r->addr ? r->addr : "");
	dsn_puts(&line, ">:");
	if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
		const char *e = strchr(r->remote_mta, ']');   /* "host[addr]", no port */
		dsn_puts(&line, ok ? " delivery via " : " host ");
		dsn_put(&line, r->remote_mta, e ? (size_t)(e - r->remote_mta) + 1 : strlen(r->remote_mta));
		dsn_puts(&line, ok ? ":" : " said:");
	}
	if (r->diagnostic != NULL && r->diagnostic[0] != '\0')
		dsn_diag_split(r->diagnostic, dtype, &dtext);
	dsn_puts(&line, " ");
	if (dtext != NULL && dtext[0] != '\0')
		dsn_puts(&line, dtext);
	else
		dsn_printf(&line, "%s (status %s)", dsn_action_name(r->action), dsn_status_of(r));
	s = dsn_clean(line.data, line.len, c->intl);
	dsn_fold(o, "", s, "    ");
	free(s);
	if (line.err)
		o->err = true;
	dsn_buf_free(&line);
}

static void
dsn_text_part(const struct dsn_ctx *c, struct dsn_buf *o)
{
	const struct bounce_info *b = c->b;
	time_t until = 0;
	char d[64];

	if (c->kind == DSN_K_DELAYED)
		dsn_puts(o, "####### THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\r\n\r\n");
	dsn_printf(o, "This is the mail system at host %s.\r\n\r\n", c->host);
	dsn_puts(o, dsn_intro[c->kind]);
	for (size_t i = 0; i < b->nrcpts; i++)
		if (b->rcpts[i].action == BOUNCE_DELAYED && b->rcpts[i].will_retry_until > until)
			until = b->rcpts[i].will_retry_until;
	if (c->kind == DSN_K_DELAYED && until != 0) {
		dsn_date(d, sizeof(d), until);
		dsn_printf(o, "\r\nDelivery will be retried until %s.\r\n", d);
	}
	if (c->orig.capped)
		dsn_printf(o, "\r\nThe message was larger than %llu octets, so only its headers\r\n"
		    "are returned.\r\n", (unsigned long long)b->max_return);
	dsn_puts(o, "\r\n                   The mail system\r\n\r\n");
	for (size_t i = 0; i < b->nrcpts; i++)
		dsn_text_rcpt(c, &b->rcpts[i], o);
}

/* ---- assembly ---- */

static enum dsn_kind
dsn_kind_of(const struct bounce_info *b)
{
	bool del = false, dly = false;

	for (size_t i = 0; i < b->nrcpts; i++) {
		if (b->rcpts[i].action == BOUNCE_FAILED)
			return DSN_K_FAILED;
		dly |= b->rcpts[i].action == BOUNCE_DELAYED;
		del |= b->rcpts[i].action == BOUNCE_DELIVERED;
	}
	return dly ? DSN_K_DELAYED : del ? DSN_K_DELIVERED : DSN_K_RELAYED;
}

/* A boundary made of randomness and the queue id that occurs in no part
 * (RFC 2046 5.1.1: at most 70 characters). */
static int
dsn_boundary(const struct dsn_ctx *c, const struct dsn_buf *parts[3], char out[80])
{
	char rnd[33];

	for (int tries = 0; tries < 8; tries++) {
		bool clash = false;
		dsn_random_hex(rnd, 16);
		snprintf(out, 80, "=_ferry_%.20s_%s", c->qid, rnd);
		for (int i = 0; i < 3; i++)
			if (parts[i]->len > 0 && memmem(parts[i]->data, parts[i]->len, out, strlen(out)))
				clash = true;
		if (!clash)
			return 0;
	}
	return -1;
}

static const char *const dsn_subject[] = {
	[DSN_K_FAILED] = "Undelivered Mail Returned to Sender",
	[DSN_K_DELAYED] = "Delayed Mail (still being retried)",
	[DSN_K_DELIVERED] = "Successful Mail Delivery Report",
	[DSN_K_RELAYED] = "Relayed mail",
};

/* "head<addr>" as a header field; the address may be UTF-8 (RFC 6532). */
static void
dsn_addr_field(struct dsn_buf *o, const char *head, const char *addr)
{
	char *v = dsn_clean_str(addr, true);
	size_t len = strlen(v);
	char *a = xmalloc(len + 3);

	a[0] = '<';
	memcpy(a + 1, v, len);
	memcpy(a + 1 + len, ">", 2);
	dsn_fold(o, head, a, " ");
	free(a);
	free(v);
}

/* RFC 5322 header of the notification itself. */
static void
dsn_headers(const struct dsn_ctx *c, const char *boundary, bool eight, struct dsn_buf *o)
{
	const struct bounce_info *b = c->b;
	char date[64], rnd[33];

	if (b->postmaster != NULL && b->postmaster[0] != '\0')
		dsn_addr_field(o, "From: Mail Delivery System ", b->postmaster);
	else
		dsn_printf(o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", c->host);
	dsn_addr_field(o, "To: ", b->to);
	dsn_printf(o, "Subject: %s\r\n", dsn_subject[c->kind]);
	dsn_date(date, sizeof(date), time(NULL));
	dsn_printf(o, "Date: %s\r\n", date);
	dsn_random_hex(rnd, 12);
	dsn_printf(o, "Message-ID: <%s.%s@%s>\r\n", rnd, c->qid, c->host);
	dsn_puts(o, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	dsn_printf(o, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary);
	if (eight)
		dsn_puts(o, "Content-Transfer-Encoding: 8bit\r\n");
	dsn_puts(o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");
}

/* One body part: delimiter, its header, its content. The content ends in
 * CRLF; the CRLF before the next delimiter belongs to the delimiter. */
static void
dsn_part(struct dsn_buf *o, const char *boundary, const char *desc, const char *type,
    bool eight, const struct dsn_buf *content)
{
	dsn_printf(o, "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n", boundary, desc, type);
	if (eight)
		dsn_puts(o, "Content-Transfer-Encoding: 8bit\r\n");
	dsn_puts(o, "\r\n");
	if (content->len > 0)
		dsn_put(o, content->data, content->len);
	dsn_puts(o, "\r\n");
}

static void
dsn_assemble(const struct dsn_ctx *c, const char *boundary, const struct dsn_buf *text,
    const struct dsn_buf *status, struct dsn_buf *o)
{
	bool t8 = dsn_has8(text->data, text->len), s8 = dsn_has8(status->data, status->len);
	const struct dsn_orig *g = &c->orig;
	const char *otype = g->full ? (g->hdr8 ? "message/global" : "message/rfc822") :
	    (g->hdr8 ? "message/global-headers" : "text/rfc822-headers");

	dsn_headers(c, boundary, t8 || s8 || g->any8, o);
	dsn_part(o, boundary, "Notification", t8 ? "text/plain; charset=utf-8" :
	    "text/plain; charset=us-ascii", t8, text);
	dsn_part(o, boundary, "Delivery report", c->intl ? "message/global-delivery-status" :
	    "message/delivery-status", s8, status);
	if (g->present)
		dsn_part(o, boundary, g->full ? "Returned message" : "Returned message headers", otype,
		    g->any8, &g->text);
	dsn_printf(o, "--%s--\r\n", boundary);
}

static void
dsn_ctx_init(struct dsn_ctx *c, const struct bounce_info *b)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	c->kind = dsn_kind_of(b);
	dsn_token(c->host, sizeof(c->host), b->reporting_mta, "localhost");
	dsn_token(c->qid, sizeof(c->qid), b->queue_id, "unknown");
	for (size_t i = 0; i < b->nrcpts && !c->intl; i++)
		c->intl = dsn_rcpt_intl(&b->rcpts[i]);
}

int
bounce_build(const struct bounce_info *b, char **out, size_t *outlen)
{
	struct dsn_buf text = { 0 }, status = { 0 }, msg = { 0 };
	const struct dsn_buf *parts[3] = { &text, &status, NULL };
	struct dsn_ctx c;
	char boundary[80];

	if (b == NULL || out == NULL || outlen == NULL || b->to == NULL || b->rcpts == NULL ||
	    b->nrcpts == 0 || sodium_init() < 0)
		return -1;
	dsn_ctx_init(&c, b);
	parts[2] = &c.orig.text;
	if (dsn_orig_load(b, &c.orig) < 0)
		goto fail;
	dsn_text_part(&c, &text);
	dsn_status_part(&c, &status);
	if (text.err || status.err || dsn_boundary(&c, parts, boundary) < 0)
		goto fail;
	dsn_assemble(&c, boundary, &text, &status, &msg);
	if (msg.err)
		goto fail;
	dsn_buf_free(&text);
	dsn_buf_free(&status);
	dsn_buf_free(&c.orig.text);
	*out = msg.data;
	*outlen = msg.len;
	return 0;
fail:
	dsn_buf_free(&text);
	dsn_buf_free(&status);
	dsn_buf_free(&c.orig.text);
	dsn_buf_free(&msg);
	return -1;
}
