/*
 * report_mime.c - the MIME side of the report parser, with GMime: read the
 * message, find the parts a report is made of, decode a part's text.
 * STANDARDS: RFC 2045-2049, RFC 6522 (multipart/report), RFC 3464 2,
 * RFC 5965 2, RFC 6533 (message/global-*).
 * SECURITY: hostile structure. GMime bounds its own nesting; the walk here
 * stops at REPORT_DEPTH_MAX levels and REPORT_PARTS_MAX parts, and never
 * descends into an attached message (its parts are the original's, not
 * the report's).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

#define REPORT_DEPTH_MAX 8
#define REPORT_PARTS_MAX 256

/* The message, or NULL when GMime finds no header in it. */
GMimeMessage *
report_mime_read(const char *msg, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(msg, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(st);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);

	g_object_unref(parser);
	g_object_unref(st);
	return m;
}

static bool
report_mime_is(GMimeContentType *ct, const char *type, const char *sub)
{
	return ct != NULL && g_mime_content_type_is_type(ct, type, sub);
}

static bool
report_mime_attachment(GMimeObject *obj)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);

	return d != NULL && g_mime_content_disposition_is_attachment(d);
}

/* Keep obj in *slot unless an earlier part took it. */
static void
report_mime_keep(GMimeObject **slot, GMimeObject *obj)
{
	if (*slot == NULL)
		*slot = obj;
}

static void
report_mime_leaf(GMimeObject *obj, struct report_parts *parts)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	if (report_mime_is(ct, "message", "delivery-status") || report_mime_is(ct, "message", "global-delivery-status"))
		report_mime_keep(&parts->dsn, obj);
	else if (report_mime_is(ct, "message", "feedback-report"))
		report_mime_keep(&parts->feedback, obj);
	else if (report_mime_is(ct, "text", "rfc822-headers") || report_mime_is(ct, "message", "rfc822-headers") ||
	    report_mime_is(ct, "message", "global-headers") || report_mime_is(ct, "message", "rfc822") ||
	    report_mime_is(ct, "message", "global"))
		report_mime_keep(&parts->orig_hdrs, obj);
	else if (report_mime_is(ct, "text", "plain") && !report_mime_attachment(obj))
		report_mime_keep(&parts->text, obj);
	else if (report_mime_is(ct, "text", "html") && !report_mime_attachment(obj))
		report_mime_keep(&parts->html, obj);
}

/* Walk the structure in order; first of each kind wins. */
void
report_mime_find(GMimeObject *obj, unsigned depth, struct report_parts *parts)
{
	if (obj == NULL || parts->visited++ >= REPORT_PARTS_MAX)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; depth < REPORT_DEPTH_MAX && i < n; i++)
			report_mime_find(g_mime_multipart_get_part(mp, i), depth + 1, parts);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		if (g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj)) != NULL)
			report_mime_keep(&parts->orig_msg, obj);
	} else if (GMIME_IS_PART(obj))
		report_mime_leaf(obj, parts);
}

/* A leaf part's content, transfer encoding undone, as normalised text
 * (HTML reduced to text when html); the caller frees it. The charset is
 * not converted: what the parser looks for is ASCII. */
char *
report_mime_text(GMimeObject *obj, bool html, size_t *n)
{
	GMimeDataWrapper *dw = GMIME_IS_PART(obj) ? g_mime_part_get_content(GMIME_PART(obj)) : NULL;
	GMimeStream *mem;
	GByteArray *ba;
	char *t;

	if (dw == NULL) {
		*n = 0;
		return report_text_normalise("", 0, n);
	}
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(dw, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	t = html ? report_html_strip((const char *)ba->data, ba->len, n) :
	    report_text_normalise((const char *)ba->data, ba->len, n);
	g_object_unref(mem);
	return t;
}
