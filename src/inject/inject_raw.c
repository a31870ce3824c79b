/*
 * inject_raw.c - a raw RFC 5322 message given to POST /v1/messages
 * (Content-Type: message/rfc822): lines normalised to CRLF, the envelope
 * taken from the query (?from=, ?to=a,b) or the header (From:, To:, Cc:,
 * Bcc:), Date: and Message-ID: added when missing, Bcc: removed when the
 * envelope came from it.
 * STANDARDS: RFC 5322 2.1.1 (line length), 2.2 (fields, folding), 3.4,
 * 3.6; RFC 5321 2.3.8 (CRLF only).
 * SECURITY: the message is hostile. NUL and bare CR are refused, lines are
 * bounded, address fields go through GMime's parser and then SMTP's path
 * parser; nothing in the message is interpreted otherwise (the content is
 * the client's and reaches the recipients as given).
 */
#include "inject/inject_json.h"

#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/sender.h"
#include "util/xmalloc.h"

#define INJECT_RAW_FIELDS_MAX 1000

struct inject_raw {
	char       *buf;            /* the CRLF message */
	size_t      len, hdr_len;   /* hdr_len: up to the empty line, exclusive */
	bool        has_date, has_msgid;
	char        msgid[INJECT_MSGID_MAX + 3];
	size_t      bcc_off[INJECT_RAW_FIELDS_MAX], bcc_len[INJECT_RAW_FIELDS_MAX], nbcc;
};

/* CRLF lines, bounded; false with err set. */
static bool
inject_raw_normalise(const char *in, size_t len, const struct inject_opts *o, struct inject_raw *r,
    char *err, size_t errlen)
{
	size_t cap = len + len / 8 + 4, line = 0;

	r->buf = xmalloc(cap);
	r->len = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\0' || (c == '\r' && (i + 1 == len || in[i + 1] != '\n'))) {
			snprintf(err, errlen, "message: %s at octet %zu", c == '\0' ? "NUL" : "bare CR", i);
			return false;
		}
		if (c == '\r')
			continue;
		if (r->len + 2 > cap)
			r->buf = xrealloc(r->buf, cap *= 2);
		if (c == '\n') {
			r->buf[r->len++] = '\r';
			line = 0;
		} else if (++line > o->max_line) {
			snprintf(err, errlen, "message: a line is longer than %zu octets", o->max_line);
			return false;
		}
		r->buf[r->len++] = c;
	}
	if (r->len > 0 && r->buf[r->len - 1] != '\n') {
		if (r->len + 2 > cap)
			r->buf = xrealloc(r->buf, cap + 2);
		memcpy(r->buf + r->len, "\r\n", 2);
		r->len += 2;
	}
	return true;
}

/* A field's body unfolded, without its final CRLF (NULL: unreadable). */
static char *
inject_raw_value(const char *colon, const char *end)
{
	size_t n = (size_t)(end - colon - 1);

	if (n >= 2 && end[-2] == '\r' && end[-1] == '\n')
		n -= 2;
	return sender_field_unfold(colon + 1, n);
}

static bool
inject_raw_name_is(const char *f, size_t namelen, const char *name)
{
	return strlen(name) == namelen && strncasecmp(f, name, namelen) == 0;
}

/* The field at off: its length, folding included, in *flen, and its
 * colon; NULL when it is not a field. */
static const char *
inject_raw_field(const struct inject_raw *r, size_t off, size_t *flen)
{
	const char *f = r->buf + off, *end = r->buf + r->hdr_len;
	const char *colon = memchr(f, ':', (size_t)(end - f));
	const char *p = f;

	while ((p = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL && p + 2 < end &&
	    (p[2] == ' ' || p[2] == '\t'))
		p += 2;
	p = p == NULL ? end : p + 2;
	*flen = (size_t)(p - f);
	return colon == NULL || colon >= p || colon == f ? NULL : colon;
}

/* Its name's length (WSP before the colon is obs-syntax, still the name). */
static size_t
inject_raw_name_len(const char *f, const char *colon)
{
	size_t nl = (size_t)(colon - f);

	while (nl > 0 && (f[nl - 1] == ' ' || f[nl - 1] == '\t'))
		nl--;
	return nl;
}

/* Remember what the envelope and the additions need of the field at off. */
static void
inject_raw_field_note(struct inject_raw *r, size_t off, const char *colon, size_t flen)
{
	const char *f = r->buf + off;
	size_t nl = inject_raw_name_len(f, colon);

	if (inject_raw_name_is(f, nl, "Date"))
		r->has_date = true;
	else if (inject_raw_name_is(f, nl, "Message-ID")) {
		char *v = inject_raw_value(colon, f + flen);
		r->has_msgid = true;
		if (v == NULL || inject_msgid_parse(v + strspn(v, " \t"), r->msgid) != 0)
			r->msgid[0] = '\0';
		free(v);
	} else if ((inject_raw_name_is(f, nl, "Bcc") || inject_raw_name_is(f, nl, "Resent-Bcc")) &&
	    r->nbcc < INJECT_RAW_FIELDS_MAX) {
		r->bcc_off[r->nbcc] = off;
		r->bcc_len[r->nbcc++] = flen;
	}
}

static bool
inject_raw_header(struct inject_raw *r, char *err, size_t errlen)
{
	const char *e = memmem(r->buf, r->len, "\r\n\r\n", 4);
	size_t off = 0, flen, n = 0;

	if (r->len < 2 || r->buf[0] == '\r' || r->buf[0] == ' ' || r->buf[0] == '\t') {
		snprintf(err, errlen, "message: no header section");
		return false;
	}
	r->hdr_len = e != NULL ? (size_t)(e - r->buf) + 2 : r->len;
	while (off < r->hdr_len) {
		const char *colon = inject_raw_field(r, off, &flen);
		if (colon == NULL || ++n > INJECT_RAW_FIELDS_MAX) {
			snprintf(err, errlen, "message: header field %zu is not a field (Name: value)", n + 1);
			return false;
		}
		inject_raw_field_note(r, off, colon, flen);
		off += flen;
	}
	return true;
}

/* Every mailbox of an address list (groups walked) into the recipients;
 * *n counts them. */
static bool
inject_raw_list_add(struct inject_msg *m, InternetAddressList *l, int depth, size_t *n, char *err,
    size_t errlen)
{
	char addr[SMTP_PATH_MAX + 1], why[128];

	for (int i = 0; l != NULL && i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia) && depth > 2) {
			snprintf(err, errlen, "address groups nested too deep");
			return false;
		}
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (!inject_raw_list_add(m, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			    depth + 1, n, err, errlen))
				return false;
			continue;
		}
		if (inject_addr_parse(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)),
		    addr, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "recipient \"%.100s\": %s",
			    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)), why);
			return false;
		}
		if (inject_rcpt_add(m, addr) != 0) {
			snprintf(err, errlen, "more than %d recipients", INJECT_RCPTS_MAX);
			return false;
		}
		(*n)++;
	}
	return true;
}

/* One unfolded address-list value. As for From: (policy/sender.c), a value
 * GMime would read only part of ("a@x; b@y"), or one with an open quote,
 * comment or literal, is refused rather than guessed at. */
static bool
inject_raw_value_rcpts(const char *name, const char *v, struct inject_msg *m, char *err, size_t errlen)
{
	size_t ats = v != NULL ? sender_value_ats(v) : SIZE_MAX, n = 0;
	InternetAddressList *l = ats != SIZE_MAX ? internet_address_list_parse(NULL, v) : NULL;
	bool ok = l != NULL && inject_raw_list_add(m, l, 0, &n, err, errlen);

	if (l != NULL)
		g_object_unref(l);
	if (ok && n != ats) {
		snprintf(err, errlen, "%s: not a list of addresses", name);
		ok = false;
	} else if (!ok && l == NULL)
		snprintf(err, errlen, "%s: field cannot be read", name);
	return ok;
}

/* The mailboxes of every field named name (unfolded, parsed by GMime). */
static bool
inject_raw_fields_rcpts(const struct inject_raw *r, const char *name, struct inject_msg *m, char *err,
    size_t errlen)
{
	size_t off = 0, flen;

	while (off < r->hdr_len) {
		const char *f = r->buf + off, *colon = inject_raw_field(r, off, &flen);   /* checked */
		if (inject_raw_name_is(f, inject_raw_name_len(f, colon), name)) {
			char *v = inject_raw_value(colon, f + flen);
			bool ok = inject_raw_value_rcpts(name, v, m, err, errlen);
			free(v);
			if (!ok)
				return false;
		}
		off += flen;
	}
	return true;
}

/* ?to=a@x,b@y */
static bool
inject_raw_to_param(const char *to, struct inject_msg *m, char *err, size_t errlen)
{
	char *list = xstrdup(to), *save = NULL, why[128], addr[SMTP_PATH_MAX + 1];
	bool ok = true;

	for (char *a = strtok_r(list, ",", &save); ok && a != NULL; a = strtok_r(NULL, ",", &save)) {
		a += strspn(a, " ");
		a[strcspn(a, " ")] = '\0';
		if (inject_addr_parse(a, addr, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "to: \"%.100s\": %s", a, why);
			ok = false;
		} else if (inject_rcpt_add(m, addr) != 0) {
			snprintf(err, errlen, "to: more than %d recipients", INJECT_RCPTS_MAX);
			ok = false;
		}
	}
	free(list);
	return ok;
}

/* The envelope sender: ?from=, or the From: field's only mailbox. */
static bool
inject_raw_from(struct inject_raw *r, const char *from, struct inject_msg *m, char *err, size_t errlen)
{
	struct inject_msg tmp = { 0 };
	char why[128];
	bool ok;

	if (from != NULL) {
		if (inject_addr_parse(from, m->from, why, sizeof(why)) == 0)
			return true;
		snprintf(err, errlen, "from: %s", why);
		return false;
	}
	/* the From: mailboxes, parsed as recipients would be */
	ok = inject_raw_fields_rcpts(r, "From", &tmp, err, errlen);
	if (ok && tmp.nrcpts != 1) {
		snprintf(err, errlen, "from: the message needs ?from= or a From: field with one address");
		ok = false;
	}
	if (ok)
		snprintf(m->from, sizeof(m->from), "%s", tmp.rcpts[0]);
	inject_msg_free(&tmp);
	return ok;
}

/* Date: and Message-ID: if missing, the header without Bcc: fields
 * (always: they never reach the recipients), the rest as it came. */
static void
inject_raw_compose(struct inject_raw *r, const struct inject_opts *o, struct inject_msg *m)
{
	char pre[INJECT_MSGID_MAX + 128], date[64];
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0, off = 0;

	if (!r->has_date) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		n += (size_t)snprintf(pre + n, sizeof(pre) - n, "Date: %s\r\n", date);
	}
	if (!r->has_msgid) {
		inject_msgid_new(o->hostname, r->msgid);
		n += (size_t)snprintf(pre + n, sizeof(pre) - n, "Message-ID: %s\r\n", r->msgid);
	}
	snprintf(m->message_id, sizeof(m->message_id), "%s", r->msgid);
	m->data = xmalloc(n + r->len + 3);
	memcpy(m->data, pre, n);
	for (size_t i = 0; i < r->nbcc; i++) {
		memcpy(m->data + n, r->buf + off, r->bcc_off[i] - off);
		n += r->bcc_off[i] - off;
		off = r->bcc_off[i] + r->bcc_len[i];
	}
	memcpy(m->data + n, r->buf + off, r->len - off);
	m->len = n + r->len - off;
	if (r->hdr_len == r->len) {   /* a header and no body: the empty line ends it */
		memcpy(m->data + m->len, "\r\n", 2);
		m->len += 2;
	}
	m->data[m->len] = '\0';
}

enum inject_status
inject_raw_build(const char *raw, size_t len, const char *from, const char *to,
    const struct inject_opts *o, struct inject_msg *out, char *err, size_t errlen)
{
	struct inject_raw *r = xcalloc(1, sizeof(*r));
	enum inject_status st = INJECT_BAD;

	memset(out, 0, sizeof(*out));
	inject_init();
	if (len > o->max_size) {
		snprintf(err, errlen, "message: larger than the message size limit");
		st = INJECT_TOO_BIG;
	} else if (inject_raw_normalise(raw, len, o, r, err, errlen) && inject_raw_header(r, err, errlen) &&
	    inject_raw_from(r, from, out, err, errlen) &&
	    (to != NULL ? inject_raw_to_param(to, out, err, errlen) :
	    inject_raw_fields_rcpts(r, "To", out, err, errlen) &&
	    inject_raw_fields_rcpts(r, "Cc", out, err, errlen) &&
	    inject_raw_fields_rcpts(r, "Bcc", out, err, errlen))) {
		if (out->nrcpts == 0)
			snprintf(err, errlen, "to: no recipient (give ?to= or To:/Cc: fields)");
		else {
			inject_raw_compose(r, o, out);
			st = out->len > o->max_size ? INJECT_TOO_BIG : INJECT_OK;
			if (st == INJECT_TOO_BIG)
				snprintf(err, errlen, "message: larger than the message size limit");
		}
	}
	free(r->buf);
	free(r);
	if (st != INJECT_OK)
		inject_msg_free(out);
	return st;
}
