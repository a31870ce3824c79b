/*
 * report.c - report_parse: read a message that came back to a return path
 * or a complaint address and say what it is. The order of the decision:
 * a delivery-status part (DSN) always wins; then a feedback-report part
 * (ARF) or a JMRP-like complaint; then the non-standard bounce formats
 * recognised by their words; then the auto-reply signals; then the
 * generic bounce fallback. See docs/operations.md, "Bounce and complaint
 * reports: what ferry recognises".
 * STANDARDS: RFC 3464, RFC 6522, RFC 6533, RFC 5965, RFC 3834.
 * SECURITY: the input is hostile; see report.h. GMime objects are owned
 * here and released before returning.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"
#include "policy/sender.h"

/* Everything report_parse works from, released by report_ctx_free. */
struct report_ctx {
	GMimeMessage       *msg;
	struct report_parts parts;
	char               *text;       /* the first text part (or HTML reduced to text) */
	size_t              tlen;
	size_t              prose;      /* where the copy of the original starts in text */
	char                hmxmr[REPORT_ADDR_MAX + 1];   /* X-HmXmrOriginalRecipient of the original */
};

const char *
report_kind_name(enum report_kind k)
{
	switch (k) {
	case REPORT_DSN:       return "dsn";
	case REPORT_BOUNCE:    return "bounce";
	case REPORT_ARF:       return "arf";
	case REPORT_AUTOREPLY: return "autoreply";
	case REPORT_UNKNOWN:   break;
	}
	return "unknown";
}

void
report_free(struct report *r)
{
	free(r->rcpts);
	r->rcpts = NULL;
	r->nrcpts = 0;
}

static void
report_set(struct report *r, enum report_kind kind, const char *format)
{
	r->kind = kind;
	report_copy_str(r->format, sizeof(r->format), format);
}

/* The original message's header: an attached message, text/rfc822-headers,
 * or the copy after a bounce's text (only when no part carries it). */
static void
report_ctx_orig(struct report_ctx *x, struct report *r)
{
	size_t n;
	char *t;

	if (x->parts.orig_msg != NULL) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(x->parts.orig_msg));
		char *h = g_mime_object_get_headers(GMIME_OBJECT(m), NULL);

		t = report_text_normalise(h != NULL ? h : "", h != NULL ? strlen(h) : 0, &n);
		report_orig_scan(t, n, r, x->hmxmr, sizeof(x->hmxmr));
		free(t);
		g_free(h);
	}
	if (x->parts.orig_hdrs != NULL) {
		t = report_mime_text(x->parts.orig_hdrs, false, &n);
		report_orig_scan(t, n, r, x->hmxmr, sizeof(x->hmxmr));
		free(t);
	}
	if (x->prose < x->tlen && x->parts.orig_msg == NULL && x->parts.orig_hdrs == NULL)
		report_orig_scan(x->text + x->prose, x->tlen - x->prose, r, x->hmxmr, sizeof(x->hmxmr));
}

/* Is the report's sender a mailer daemon (null Return-Path, or From
 * MAILER-DAEMON / postmaster), or its subject a bounce's? */
static bool
report_null_sender(GMimeObject *top, const char *subject)
{
	const char *rp = g_mime_object_get_header(top, "Return-Path");
	const char *from = g_mime_object_get_header(top, "From");
	char a[REPORT_ADDR_MAX + 1];

	if (rp != NULL) {
		report_addr_copy(a, sizeof(a), rp, strlen(rp));
		if (a[0] == '\0')
			return true;
	}
	if (from != NULL) {
		report_addr_copy(a, sizeof(a), from, strlen(from));
		if (strncasecmp(a, "mailer-daemon", 13) == 0 || strncasecmp(a, "postmaster", 10) == 0)
			return true;
	}
	return report_subject_bounce(subject);
}

static void
report_ctx_body(const struct report_ctx *x, const struct report *r, struct report_body *b)
{
	GMimeObject *top = GMIME_OBJECT(x->msg);
	const char *v;

	memset(b, 0, sizeof(*b));
	b->text = x->text;
	b->len = x->prose;
	b->subject = r->subject;
	if ((v = g_mime_object_get_header(top, "X-Failed-Recipients")) != NULL)
		report_copy_str(b->x_failed, sizeof(b->x_failed), v);
	if ((v = g_mime_object_get_header(top, "To")) != NULL)
		report_addr_copy(b->self[0], sizeof(b->self[0]), v, strlen(v));
	report_copy_str(b->self[1], sizeof(b->self[1]), r->orig_return_path);
	report_copy_str(b->self[2], sizeof(b->self[2]), r->orig_from);
	b->null_sender = report_null_sender(top, r->subject);
}

/* JMRP-like complaint: an attached original with X-HmXmrOriginalRecipient
 * and no feedback-report part. The source IP, when the text says "from IP
 * a.b.c.d". */
static void
report_jmrp(const struct report_ctx *x, struct report *r)
{
	const char *ip = report_memcasemem(x->text, x->prose, "from IP ");
	size_t k = 0;

	report_set(r, REPORT_ARF, "microsoft");
	report_copy_str(r->feedback_type, sizeof(r->feedback_type), "abuse");
	report_copy_str(r->original_rcpt, sizeof(r->original_rcpt), x->hmxmr);
	if (ip != NULL) {
		ip += strlen("from IP ");
		while (ip + k < x->text + x->prose && (isxdigit((unsigned char)ip[k]) || ip[k] == '.' || ip[k] == ':'))
			k++;
		report_copy(r->source_ip, sizeof(r->source_ip), ip, k);
	}
}

/* Decode a part and hand its text to a parser. */
static void
report_ctx_part(GMimeObject *part, void (*parse)(const char *, size_t, struct report *), struct report *r)
{
	size_t n;
	char *t = report_mime_text(part, false, &n);

	parse(t, n, r);
	free(t);
}

static void
report_classify(struct report_ctx *x, struct report *r)
{
	struct report_body b;
	bool dsn = x->parts.dsn != NULL;

	if (dsn) {
		report_ctx_part(x->parts.dsn, report_dsn_parse, r);
		if (r->nrcpts > 0) {
			report_set(r, REPORT_DSN, "rfc3464");
			return;
		}
	}
	if (x->parts.feedback != NULL) {
		report_ctx_part(x->parts.feedback, report_arf_parse, r);
		report_set(r, REPORT_ARF, "arf");
		return;
	}
	if (x->hmxmr[0] != '\0') {
		report_jmrp(x, r);
		return;
	}
	report_ctx_body(x, r, &b);
	if (report_bounce_parse(&b, r)) {
		r->kind = REPORT_BOUNCE;
		return;
	}
	if (!dsn && report_auto_detect(GMIME_OBJECT(x->msg), r->subject, r->autoreply_why,
	    sizeof(r->autoreply_why))) {
		report_set(r, REPORT_AUTOREPLY, "autoreply");
		return;
	}
	if (report_bounce_generic(&b, r))
		r->kind = REPORT_BOUNCE;
	else if (dsn)
		report_set(r, REPORT_DSN, "rfc3464");   /* a DSN part naming no recipient */
}

static void
report_ctx_text(struct report_ctx *x)
{
	if (x->parts.text != NULL)
		x->text = report_mime_text(x->parts.text, false, &x->tlen);
	else if (x->parts.html != NULL)
		x->text = report_mime_text(x->parts.html, true, &x->tlen);
	else
		x->text = report_text_normalise("", 0, &x->tlen);
	x->prose = report_orig_inline_start(x->text, x->tlen);
}

int
report_parse(const char *msg, size_t len, struct report *out)
{
	struct report_ctx x;
	const char *subject;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	if (msg == NULL || len == 0)
		return -1;
	sender_init();   /* GMime's set-up, once per process */
	x.msg = report_mime_read(msg, len < REPORT_INPUT_MAX ? len : REPORT_INPUT_MAX);
	if (x.msg == NULL)
		return -1;
	subject = g_mime_message_get_subject(x.msg);
	report_copy_str(out->subject, sizeof(out->subject), subject != NULL ? subject : "");
	report_mime_find(g_mime_message_get_mime_part(x.msg), 0, &x.parts);
	report_ctx_text(&x);
	report_ctx_orig(&x, out);
	report_classify(&x, out);
	free(x.text);
	g_object_unref(x.msg);
	return 0;
}
