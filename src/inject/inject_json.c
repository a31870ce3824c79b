/*
 * inject_json.c - a JSON message description (POST /v1/messages) built
 * into a MIME message with GMime: text and html as multipart/alternative,
 * inline parts with a content_id beside the body in multipart/related,
 * attachments in multipart/mixed; Date: and Message-ID: always set.
 * STANDARDS: RFC 5322, RFC 2045-2047, RFC 2046 5.1.4, RFC 2387, RFC 2183,
 * RFC 2392.
 * SECURITY: the request is hostile (see inject_json.h). Every string that
 * becomes a header goes through a check refusing CR/LF first, GMime then
 * encodes (RFC 2047) and folds it; attachments are decoded with strict
 * base64. bcc is read into the envelope only.
 */
#include "inject/inject_json.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

/* What the builder carries between its steps. */
struct inject_build {
	const json_t             *req;
	const struct inject_opts *o;
	struct inject_msg        *out;
	GMimeMessage             *msg;
	char                     *err;
	size_t                    errlen;
	enum inject_status        status;
	size_t                    attach_octets;   /* decoded, for an early 413 */
};

/* Fields ferry writes itself, or that would change the message's meaning
 * or its trace: not accepted in "headers". */
static const char *const inject_reserved[] = {
	"From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "Sender",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"Content-ID", "Received", "Return-Path", "DKIM-Signature", "X-Ferry-Ref", NULL,
};

static pthread_once_t inject_once = PTHREAD_ONCE_INIT;

static void
inject_gmime_init(void)
{
	g_mime_init();
}

void
inject_init(void)
{
	pthread_once(&inject_once, inject_gmime_init);
}

static bool
inject_fail(struct inject_build *b, enum inject_status st, const char *fmt, const char *field,
    const char *why)
{
	if (b->status == INJECT_OK) {
		b->status = st;
		snprintf(b->err, b->errlen, fmt, field, why);
	}
	return false;
}

#define INJECT_BAD_FIELD(b, field, why) inject_fail((b), INJECT_BAD, "%s: %s", (field), (why))

/* An optional string member: NULL when absent or null; false (and the
 * error set) when it is there but not a string. */
static bool
inject_str(struct inject_build *b, const json_t *obj, const char *key, const char *field,
    const char **out)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return INJECT_BAD_FIELD(b, field, "must be a string");
	*out = json_string_value(v);
	return true;
}

/* "a@x" or {"email": "a@x", "name": "A"}: the address in addr, the name
 * (or NULL) in *name. */
static bool
inject_mailbox(struct inject_build *b, const json_t *v, const char *field, char addr[SMTP_PATH_MAX + 1],
    const char **name)
{
	const char *email = NULL;
	char why[128];

	*name = NULL;
	if (json_is_string(v))
		email = json_string_value(v);
	else if (json_is_object(v)) {
		if (!inject_str(b, v, "email", field, &email) || !inject_str(b, v, "name", field, name))
			return false;
	} else
		return INJECT_BAD_FIELD(b, field, "must be an address or {\"email\", \"name\"}");
	if (email == NULL)
		return INJECT_BAD_FIELD(b, field, "\"email\" is missing");
	if (inject_addr_parse(email, addr, why, sizeof(why)) != 0)
		return INJECT_BAD_FIELD(b, field, why);
	if (*name != NULL && (strlen(*name) > INJECT_NAME_MAX || strpbrk(*name, "\r\n") != NULL))
		return INJECT_BAD_FIELD(b, field, "name longer than 200 octets or holding CR/LF");
	return true;
}

/* An address list member (one address or an array of them) into the
 * message's header type (none for bcc) and the envelope recipients. */
static bool
inject_list(struct inject_build *b, const char *key, GMimeAddressType type, bool header)
{
	const json_t *v = json_object_get(b->req, key);
	char addr[SMTP_PATH_MAX + 1], field[64];
	const char *name;
	size_t i, n;

	if (v == NULL || json_is_null(v))
		return true;
	n = json_is_array(v) ? json_array_size(v) : 1;
	for (i = 0; i < n; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		snprintf(field, sizeof(field), json_is_array(v) ? "%s[%zu]" : "%s", key, i);
		if (!inject_mailbox(b, e, field, addr, &name))
			return false;
		if (inject_rcpt_add(b->out, addr) != 0)
			return inject_fail(b, INJECT_BAD, "%s: more than %s recipients", field, "1000");
		if (header)
			g_mime_message_add_mailbox(b->msg, type, name, addr);
	}
	return true;
}

static bool
inject_addresses(struct inject_build *b)
{
	const json_t *from = json_object_get(b->req, "from"), *rt = json_object_get(b->req, "reply_to");
	char addr[SMTP_PATH_MAX + 1];
	const char *name;

	if (from == NULL || json_is_null(from))
		return INJECT_BAD_FIELD(b, "from", "is required");
	if (!inject_mailbox(b, from, "from", b->out->from, &name))
		return false;
	g_mime_message_add_mailbox(b->msg, GMIME_ADDRESS_TYPE_FROM, name, b->out->from);
	if (rt != NULL && !json_is_null(rt)) {
		if (!inject_mailbox(b, rt, "reply_to", addr, &name))
			return false;
		g_mime_message_add_mailbox(b->msg, GMIME_ADDRESS_TYPE_REPLY_TO, name, addr);
	}
	if (!inject_list(b, "to", GMIME_ADDRESS_TYPE_TO, true) ||
	    !inject_list(b, "cc", GMIME_ADDRESS_TYPE_CC, true) ||
	    !inject_list(b, "bcc", GMIME_ADDRESS_TYPE_BCC, false))
		return false;
	if (b->out->nrcpts == 0)
		return INJECT_BAD_FIELD(b, "to", "at least one recipient (to, cc or bcc) is required");
	return true;
}

static bool
inject_reserved_name(const char *name)
{
	for (size_t i = 0; inject_reserved[i] != NULL; i++)
		if (strcasecmp(name, inject_reserved[i]) == 0)
			return true;
	return false;
}

/* Subject, Message-ID, Date, and the client's own "headers". */
static bool
inject_header_fields(struct inject_build *b)
{
	const json_t *h = json_object_get(b->req, "headers"), *v;
	const char *subject, *msgid, *key, *why;
	char field[INJECT_HNAME_MAX + 16];
	GDateTime *now;

	if (!inject_str(b, b->req, "subject", "subject", &subject) ||
	    !inject_str(b, b->req, "message_id", "message_id", &msgid))
		return false;
	if (subject != NULL && (why = inject_header_check("Subject", subject)) != NULL)
		return INJECT_BAD_FIELD(b, "subject", why);
	g_mime_message_set_subject(b->msg, subject != NULL ? subject : "", "utf-8");
	now = g_date_time_new_now_utc();
	g_mime_message_set_date(b->msg, now);
	g_date_time_unref(now);
	if (msgid != NULL && inject_msgid_parse(msgid, b->out->message_id) != 0)
		return INJECT_BAD_FIELD(b, "message_id", "not a Message-ID (<left@right>, printable, no spaces)");
	if (msgid == NULL)
		inject_msgid_new(b->o->hostname, b->out->message_id);
	/* GMime takes the id without its angle brackets */
	b->out->message_id[strlen(b->out->message_id) - 1] = '\0';
	g_mime_message_set_message_id(b->msg, b->out->message_id + 1);
	b->out->message_id[strlen(b->out->message_id)] = '>';
	if (h == NULL || json_is_null(h))
		return true;
	if (!json_is_object(h) || json_object_size(h) > INJECT_HEADERS_MAX)
		return INJECT_BAD_FIELD(b, "headers", "must be an object of at most 100 \"Name\": \"value\"");
	json_object_foreach((json_t *)h, key, v) {
		snprintf(field, sizeof(field), "headers.%.*s", INJECT_HNAME_MAX, key);
		if (!json_is_string(v))
			return INJECT_BAD_FIELD(b, field, "must be a string");
		if ((why = inject_header_check(key, json_string_value(v))) != NULL)
			return INJECT_BAD_FIELD(b, field, why);
		if (inject_reserved_name(key))
			return INJECT_BAD_FIELD(b, field, "is set by ferry or by its own field, not in headers");
		g_mime_object_append_header(GMIME_OBJECT(b->msg), key, json_string_value(v), "utf-8");
	}
	return true;
}

/* Text with its line breaks as LF only (GMime writes them as CRLF): a
 * lone CR is a line break too, never a bare CR in the message. */
static char *
inject_text_lf(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *t = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			t[o++] = '\n';
			if (s[i + 1] == '\n')
				i++;
		} else
			t[o++] = s[i];
	}
	t[o] = '\0';
	return t;
}

/* 7bit when it is ASCII in lines of at most 998 octets (RFC 5322
 * 2.1.1), else quoted-printable: GMime's own choice looks at the octets,
 * not the line length. */
static GMimeContentEncoding
inject_text_encoding(const char *t)
{
	size_t line = 0;

	for (; *t != '\0'; t++) {
		if ((unsigned char)*t >= 0x80 || ++line > 998)
			return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
		if (*t == '\n')
			line = 0;
	}
	return GMIME_CONTENT_ENCODING_7BIT;
}

static GMimeObject *
inject_text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
	char *t = inject_text_lf(text);

	g_mime_text_part_set_text(p, t);
	g_mime_part_set_content_encoding(GMIME_PART(p), inject_text_encoding(t));
	free(t);
	return GMIME_OBJECT(p);
}

/* text, html or both (multipart/alternative: the plainest first). */
static GMimeObject *
inject_body(struct inject_build *b)
{
	const char *text, *html;
	GMimeMultipart *alt;
	GMimeObject *t, *h;

	if (!inject_str(b, b->req, "text", "text", &text) || !inject_str(b, b->req, "html", "html", &html))
		return NULL;
	if (text == NULL && html == NULL) {
		INJECT_BAD_FIELD(b, "text", "a body (text or html) is required");
		return NULL;
	}
	if (html == NULL)
		return inject_text_part("plain", text);
	if (text == NULL)
		return inject_text_part("html", html);
	alt = g_mime_multipart_new_with_subtype("alternative");
	t = inject_text_part("plain", text);
	h = inject_text_part("html", html);
	g_mime_multipart_add(alt, t);
	g_mime_multipart_add(alt, h);
	g_object_unref(t);
	g_object_unref(h);
	return GMIME_OBJECT(alt);
}

/* Strict base64 (whitespace between groups allowed): a new buffer. */
static unsigned char *
inject_base64(const char *s, size_t *outlen)
{
	size_t n = strlen(s), max = n / 4 * 3 + 3;
	unsigned char *bin = xmalloc(max + 1);
	const char *end;

	if (sodium_base642bin(bin, max, s, n, " \t\r\n", outlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != s + n) {
		free(bin);
		return NULL;
	}
	return bin;
}

/* The attachment's Content-Type: a discrete type/subtype only (a client's
 * multipart or message type would be a structure GMime did not build). */
static bool
inject_attach_type(const char *ct, char type[64], char sub[64])
{
	size_t tl = strcspn(ct, "/"), sl;

	if (ct[tl] != '/' || tl == 0 || tl >= 64)
		return false;
	sl = strlen(ct + tl + 1);
	if (sl == 0 || sl >= 64)
		return false;
	for (size_t i = 0; ct[i] != '\0'; i++)
		if (i != tl && !((ct[i] >= 'a' && ct[i] <= 'z') || (ct[i] >= 'A' && ct[i] <= 'Z') ||
		    (ct[i] >= '0' && ct[i] <= '9') || strchr("!#$&^_.+-", ct[i]) != NULL))
			return false;
	memcpy(type, ct, tl);
	type[tl] = '\0';
	memcpy(sub, ct + tl + 1, sl + 1);
	return strcasecmp(type, "multipart") != 0 && strcasecmp(type, "message") != 0;
}

struct inject_attach {
	const char *filename, *ctype, *content, *disposition, *cid;
};

static bool
inject_attach_fields(struct inject_build *b, const json_t *a, const char *field, struct inject_attach *x)
{
	if (!json_is_object(a))
		return INJECT_BAD_FIELD(b, field, "must be an object");
	if (!inject_str(b, a, "filename", field, &x->filename) ||
	    !inject_str(b, a, "content_type", field, &x->ctype) ||
	    !inject_str(b, a, "content", field, &x->content) ||
	    !inject_str(b, a, "disposition", field, &x->disposition) ||
	    !inject_str(b, a, "content_id", field, &x->cid))
		return false;
	if (x->content == NULL)
		return INJECT_BAD_FIELD(b, field, "\"content\" (base64) is required");
	if (x->filename != NULL && (strlen(x->filename) > INJECT_NAME_MAX || strpbrk(x->filename, "\r\n") != NULL))
		return INJECT_BAD_FIELD(b, field, "\"filename\" longer than 200 octets or holding CR/LF");
	if (x->disposition != NULL && strcmp(x->disposition, "attachment") != 0 &&
	    strcmp(x->disposition, "inline") != 0)
		return INJECT_BAD_FIELD(b, field, "\"disposition\" must be \"attachment\" or \"inline\"");
	return true;
}

/* One attachment as a part; *related: inline with a content_id (it goes
 * beside the body in multipart/related). */
static GMimePart *
inject_attach_part(struct inject_build *b, const json_t *a, const char *field, bool *related)
{
	struct inject_attach x;
	char type[64] = "application", sub[64] = "octet-stream", cid[INJECT_MSGID_MAX + 3];
	unsigned char *bin;
	size_t len;
	GMimeStream *st;
	GMimeDataWrapper *dw;
	GMimePart *p;

	if (!inject_attach_fields(b, a, field, &x))
		return NULL;
	if (x.ctype != NULL && !inject_attach_type(x.ctype, type, sub)) {
		INJECT_BAD_FIELD(b, field, "\"content_type\" must be a type/subtype, not multipart or message");
		return NULL;
	}
	if (x.cid != NULL && inject_msgid_parse(x.cid, cid) != 0) {
		INJECT_BAD_FIELD(b, field, "\"content_id\" must look like left@right (printable, no spaces)");
		return NULL;
	}
	if ((bin = inject_base64(x.content, &len)) == NULL) {
		INJECT_BAD_FIELD(b, field, "\"content\" is not valid base64");
		return NULL;
	}
	b->attach_octets += len;
	if (b->attach_octets > b->o->max_size) {
		free(bin);
		inject_fail(b, INJECT_TOO_BIG, "%s: %s", field, "attachments exceed the message size limit");
		return NULL;
	}
	p = g_mime_part_new_with_type(type, sub);
	st = g_mime_stream_mem_new_with_buffer((const char *)bin, len);
	free(bin);
	dw = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, dw);
	g_object_unref(dw);
	g_object_unref(st);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	*related = x.cid != NULL && x.disposition != NULL && strcmp(x.disposition, "inline") == 0;
	g_mime_object_set_disposition(GMIME_OBJECT(p), x.disposition != NULL ? x.disposition : "attachment");
	if (x.filename != NULL)
		g_mime_part_set_filename(p, x.filename);
	if (x.cid != NULL) {
		cid[strlen(cid) - 1] = '\0';
		g_mime_part_set_content_id(p, cid + 1);
	}
	return p;
}

/* body, then [related: body + inline parts], then [mixed: that + attachments]. */
static GMimeObject *
inject_attachments(struct inject_build *b, GMimeObject *body)
{
	const json_t *list = json_object_get(b->req, "attachments");
	GMimeMultipart *rel = NULL, *mixed = NULL;
	GMimeObject *top = body;
	char field[48];
	bool related;

	if (list == NULL || json_is_null(list))
		return body;
	if (!json_is_array(list) || json_array_size(list) > INJECT_ATTACH_MAX) {
		INJECT_BAD_FIELD(b, "attachments", "must be an array of at most 100 objects");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		GMimePart *p;
		snprintf(field, sizeof(field), "attachments[%zu]", i);
		if ((p = inject_attach_part(b, json_array_get(list, i), field, &related)) == NULL)
			goto fail;
		if (related && rel == NULL) {
			rel = g_mime_multipart_new_with_subtype("related");
			g_mime_multipart_add(rel, body);
		}
		if (!related && mixed == NULL)
			mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(related ? rel : mixed, GMIME_OBJECT(p));
		g_object_unref(p);
	}
	top = rel != NULL ? GMIME_OBJECT(rel) : body;
	if (mixed != NULL) {
		g_mime_multipart_insert(mixed, 0, top);
		if (rel != NULL)
			g_object_unref(rel);
		top = GMIME_OBJECT(mixed);
	}
	if (top != body)
		g_object_unref(body);
	return top;
fail:
	if (rel != NULL)
		g_object_unref(rel);
	if (mixed != NULL)
		g_object_unref(mixed);
	g_object_unref(body);
	return NULL;
}

/* The message as CRLF text (every part's encoding is set: 7bit-clean). */
static bool
inject_serialize(struct inject_build *b)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	char *s;

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	s = g_mime_object_to_string(GMIME_OBJECT(b->msg), fo);
	g_mime_format_options_free(fo);
	if (s == NULL)
		return inject_fail(b, INJECT_BAD, "%s: %s", "message", "could not be written");
	b->out->len = strlen(s);
	b->out->data = xstrdup(s);
	g_free(s);
	if (b->out->len > b->o->max_size)
		return inject_fail(b, INJECT_TOO_BIG, "%s: %s", "message", "larger than the message size limit");
	return true;
}

enum inject_status
inject_json_build(const json_t *req, const struct inject_opts *o, struct inject_msg *out,
    char *err, size_t errlen)
{
	struct inject_build b = { .req = req, .o = o, .out = out, .err = err, .errlen = errlen };
	GMimeObject *body;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	inject_init();
	if (!json_is_object(req)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return INJECT_BAD;
	}
	b.msg = g_mime_message_new(TRUE);
	if (inject_addresses(&b) && inject_header_fields(&b) && (body = inject_body(&b)) != NULL &&
	    (body = inject_attachments(&b, body)) != NULL) {
		g_mime_message_set_mime_part(b.msg, body);
		g_object_unref(body);
		inject_serialize(&b);
	}
	g_object_unref(b.msg);
	if (b.status != INJECT_OK)
		inject_msg_free(out);
	return b.status;
}

enum inject_status
inject_json_build_text(const char *text, size_t len, const struct inject_opts *o,
    struct inject_msg *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	enum inject_status st;

	if (req == NULL) {
		memset(out, 0, sizeof(*out));
		snprintf(err, errlen, "not JSON: %s (offset %d)", je.text, je.position);
		return INJECT_BAD;
	}
	st = inject_json_build(req, o, out, err, errlen);
	json_decref(req);
	return st;
}

void
inject_msg_free(struct inject_msg *m)
{
	for (size_t i = 0; m->rcpts != NULL && i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->data);
	memset(m, 0, sizeof(*m));
}
