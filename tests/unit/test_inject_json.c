/*
 * test_inject_json.c - unit tests for the messages of POST /v1/messages
 * (src/inject/): the JSON fields in the header and envelope, the MIME
 * structure (alternative, related, mixed) read back with GMime, header
 * injection and bad input refused naming the field, bcc kept out of the
 * header, the size limit, and raw messages (CRLF, Date/Message-ID, Bcc).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <gmime/gmime.h>

#include "inject/inject_json.h"

static const struct inject_opts opts = { .hostname = "relay.test", .max_size = 100000, .max_line = 998 };

static enum inject_status
build(const char *json, struct inject_msg *m, char *err)
{
	return inject_json_build_text(json, strlen(json), &opts, m, err, 256);
}

/* The header section of m (up to the empty line). */
static char *
header_of(const struct inject_msg *m)
{
	const char *e = strstr(m->data, "\r\n\r\n");

	assert_non_null(e);
	return strndup(m->data, (size_t)(e - m->data) + 2);
}

static GMimeMessage *
parse(const struct inject_msg *m)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m->data, m->len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);

	g_object_unref(p);
	g_object_unref(st);
	assert_non_null(msg);
	return msg;
}

static bool
crlf_only(const struct inject_msg *m)
{
	for (size_t i = 0; i < m->len; i++)
		if ((m->data[i] == '\n') != (i > 0 && m->data[i - 1] == '\r' && m->data[i] == '\n'))
			return false;
	return m->len > 2 && memcmp(m->data + m->len - 2, "\r\n", 2) == 0;
}

static void
test_fields(void **state)
{
	struct inject_msg m;
	char err[256], *h;

	(void)state;
	assert_int_equal(build("{\"from\": {\"email\": \"news@acme.test\", \"name\": \"Acme News\"},"
	    " \"to\": [\"a@dst.test\", {\"email\": \"b@dst.test\", \"name\": \"B\"}], \"cc\": \"c@dst.test\","
	    " \"bcc\": [\"secret@dst.test\", \"A@dst.test\"], \"reply_to\": \"help@acme.test\","
	    " \"subject\": \"Hello \\u00e9t\\u00e9\", \"text\": \"hi\", \"message_id\": \"abc.1@acme.test\","
	    " \"headers\": {\"X-Campaign\": \"spring\"}}", &m, err), INJECT_OK);
	assert_string_equal(m.from, "news@acme.test");
	assert_int_equal(m.nrcpts, 4);   /* A@dst.test is a@dst.test again */
	assert_string_equal(m.rcpts[0], "a@dst.test");
	assert_string_equal(m.rcpts[1], "b@dst.test");
	assert_string_equal(m.rcpts[2], "c@dst.test");
	assert_string_equal(m.rcpts[3], "secret@dst.test");
	assert_string_equal(m.message_id, "<abc.1@acme.test>");
	h = header_of(&m);
	assert_non_null(strstr(h, "From: Acme News <news@acme.test>\r\n"));
	assert_non_null(strstr(h, "To: a@dst.test, B <b@dst.test>\r\n"));
	assert_non_null(strstr(h, "Cc: c@dst.test\r\n"));
	assert_non_null(strstr(h, "Reply-To: help@acme.test\r\n"));
	assert_non_null(strstr(h, "Subject: Hello =?UTF-8?B?w6l0w6k=?=\r\n"));   /* encoded word */
	assert_non_null(strstr(h, "Message-Id: <abc.1@acme.test>\r\n"));
	assert_non_null(strstr(h, "Date: "));
	assert_non_null(strstr(h, "X-Campaign: spring\r\n"));
	assert_null(strstr(m.data, "secret@"));            /* bcc: envelope only */
	assert_null(strcasestr(h, "\nBcc:"));
	assert_true(crlf_only(&m));
	free(h);
	inject_msg_free(&m);
}

static void
test_generated_msgid(void **state)
{
	struct inject_msg m;
	char err[256];

	(void)state;
	assert_int_equal(build("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\"}", &m, err),
	    INJECT_OK);
	assert_int_equal(strlen(m.message_id), 1 + 32 + 1 + strlen("relay.test") + 1);
	assert_non_null(strstr(m.message_id, "@relay.test>"));
	assert_non_null(strstr(m.data, m.message_id));
	inject_msg_free(&m);
}

static const char *
ctype(GMimeObject *o)
{
	static char buf[64];
	GMimeContentType *ct = g_mime_object_get_content_type(o);

	snprintf(buf, sizeof(buf), "%s/%s", g_mime_content_type_get_media_type(ct),
	    g_mime_content_type_get_media_subtype(ct));
	return buf;
}

static void
test_multipart(void **state)
{
	struct inject_msg m;
	char err[256];
	GMimeMessage *msg;
	GMimeMultipart *mixed, *rel, *alt;
	GMimeObject *att;
	GMimeStream *out;
	GByteArray *ba;

	(void)state;
	/* "aGVsbG8=" is "hello"; the logo is inline with a content id */
	assert_int_equal(build("{\"from\": \"a@acme.test\", \"to\": [\"b@dst.test\"], \"subject\": \"s\","
	    " \"text\": \"plain\\nline\", \"html\": \"<p>html <img src=cid:logo@acme.test></p>\","
	    " \"attachments\": [{\"filename\": \"a.txt\", \"content_type\": \"text/plain\","
	    " \"content\": \"aGVsbG8=\"}, {\"content_type\": \"image/png\", \"content\": \"iVBORw0K\","
	    " \"disposition\": \"inline\", \"content_id\": \"<logo@acme.test>\"}]}", &m, err), INJECT_OK);
	assert_true(crlf_only(&m));
	msg = parse(&m);
	assert_string_equal(ctype(g_mime_message_get_mime_part(msg)), "multipart/mixed");
	mixed = GMIME_MULTIPART(g_mime_message_get_mime_part(msg));
	assert_int_equal(g_mime_multipart_get_count(mixed), 2);
	assert_string_equal(ctype(g_mime_multipart_get_part(mixed, 0)), "multipart/related");
	rel = GMIME_MULTIPART(g_mime_multipart_get_part(mixed, 0));
	assert_int_equal(g_mime_multipart_get_count(rel), 2);
	assert_string_equal(ctype(g_mime_multipart_get_part(rel, 0)), "multipart/alternative");
	assert_string_equal(ctype(g_mime_multipart_get_part(rel, 1)), "image/png");
	assert_string_equal(g_mime_object_get_content_id(g_mime_multipart_get_part(rel, 1)), "logo@acme.test");
	alt = GMIME_MULTIPART(g_mime_multipart_get_part(rel, 0));
	assert_string_equal(ctype(g_mime_multipart_get_part(alt, 0)), "text/plain");
	assert_string_equal(ctype(g_mime_multipart_get_part(alt, 1)), "text/html");
	att = g_mime_multipart_get_part(mixed, 1);
	assert_string_equal(g_mime_part_get_filename(GMIME_PART(att)), "a.txt");
	assert_true(g_mime_part_is_attachment(GMIME_PART(att)));
	out = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(att)), out);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	assert_int_equal(ba->len, 5);
	assert_memory_equal(ba->data, "hello", 5);
	g_object_unref(out);
	g_object_unref(msg);
	inject_msg_free(&m);
}

static void
test_html_only_long_line(void **state)
{
	struct inject_msg m;
	char err[256], json[4000];
	char line[2001];

	(void)state;
	memset(line, 'x', 2000);
	line[2000] = '\0';
	snprintf(json, sizeof(json), "{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"html\": \"%s\"}", line);
	assert_int_equal(build(json, &m, err), INJECT_OK);
	assert_non_null(strstr(m.data, "Content-Type: text/html"));
	/* a 2000-octet line is encoded: no line of the message passes 998 */
	for (const char *p = m.data, *e; (e = strstr(p, "\r\n")) != NULL; p = e + 2)
		assert_true(e - p <= 998);
	inject_msg_free(&m);
}

/* A refused request: its status, and err names the field. */
static void
refused(const char *json, enum inject_status want, const char *field)
{
	struct inject_msg m;
	char err[256];

	assert_int_equal(build(json, &m, err), want);
	if (strstr(err, field) != err)
		fail_msg("%s: error \"%s\" does not start with \"%s\"", json, err, field);
	assert_null(m.data);
	assert_int_equal(m.nrcpts, 0);
}

static void
test_header_injection(void **state)
{
	(void)state;
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"headers\": {\"X-A\": \"v\\r\\nBcc: victim@x.test\"}}", INJECT_BAD, "headers.X-A:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"headers\": {\"X-A\": \"v\\nX-B: w\"}}", INJECT_BAD, "headers.X-A:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"headers\": {\"X-A: y\": \"v\"}}", INJECT_BAD, "headers.X-A: y:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"headers\": {\"From\": \"boss@acme.test\"}}", INJECT_BAD, "headers.From:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"headers\": {\"bcc\": \"x@y.test\"}}", INJECT_BAD, "headers.bcc:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"subject\": \"hi\\r\\nBcc: victim@x.test\"}", INJECT_BAD, "subject:");
	refused("{\"from\": {\"email\": \"a@acme.test\", \"name\": \"A\\r\\nBcc: v@x.test\"},"
	    " \"to\": \"b@dst.test\", \"text\": \"x\"}", INJECT_BAD, "from:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"attachments\": [{\"content\": \"aGk=\", \"filename\": \"a\\r\\nX: y\"}]}", INJECT_BAD,
	    "attachments[0]:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"attachments\": [{\"content\": \"aGk=\", \"content_type\": \"text/plain\\r\\nX: y\"}]}",
	    INJECT_BAD, "attachments[0]:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"message_id\": \"<a@b>\\r\\nX: y\"}", INJECT_BAD, "message_id:");
}

static void
test_bad_input(void **state)
{
	(void)state;
	refused("[1]", INJECT_BAD, "the body");
	refused("{\"to\": \"b@dst.test\", \"text\": \"x\"}", INJECT_BAD, "from:");
	refused("{\"from\": \"a@acme.test\", \"text\": \"x\"}", INJECT_BAD, "to:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\"}", INJECT_BAD, "text:");
	refused("{\"from\": \"a@acme.test\", \"to\": [\"b@dst.test\", \"not an address\"], \"text\": \"x\"}",
	    INJECT_BAD, "to[1]:");
	refused("{\"from\": \"a@acme.test\", \"to\": [\"b@dst.test\"], \"cc\": [\"<c@dst.test>\"], \"text\": \"x\"}",
	    INJECT_BAD, "cc[0]:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"bcc\": [\"d@\"], \"text\": \"x\"}",
	    INJECT_BAD, "bcc[0]:");
	refused("{\"from\": \"\\u00e9@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\"}", INJECT_BAD, "from:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"attachments\": [{\"content\": \"not base64!\"}]}", INJECT_BAD, "attachments[0]:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"attachments\": [{\"content\": \"aGk=\", \"content_type\": \"multipart/mixed\"}]}",
	    INJECT_BAD, "attachments[0]:");
	refused("{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": 5}", INJECT_BAD, "text:");
}

static void
test_too_big(void **state)
{
	size_t n = 140000;
	char *json = malloc(n + 200), *p;

	(void)state;
	p = json + sprintf(json, "{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"");
	memset(p, 'y', n);
	strcpy(p + n, "\"}");
	refused(json, INJECT_TOO_BIG, "message:");
	p = json + sprintf(json, "{\"from\": \"a@acme.test\", \"to\": \"b@dst.test\", \"text\": \"x\","
	    " \"attachments\": [{\"content\": \"");
	memset(p, 'A', n);
	strcpy(p + n, "\"}]}");
	refused(json, INJECT_TOO_BIG, "attachments[0]:");
	free(json);
}

static void
test_raw(void **state)
{
	const char *raw = "From: Acme <news@acme.test>\nTo: a@dst.test, B <b@dst.test>\n"
	    "Cc: c@dst.test\nBcc: hidden@dst.test,\n secret@dst.test\nResent-Bcc: other@dst.test\n"
	    "Subject: raw\n\nbody\n.\nend\n";
	struct inject_msg m;
	char err[256];

	(void)state;
	assert_int_equal(inject_raw_build(raw, strlen(raw), NULL, NULL, &opts, &m, err, sizeof(err)), INJECT_OK);
	assert_string_equal(m.from, "news@acme.test");
	assert_int_equal(m.nrcpts, 5);
	assert_string_equal(m.rcpts[4], "secret@dst.test");
	assert_true(crlf_only(&m));
	assert_null(strstr(m.data, "hidden@"));
	assert_null(strstr(m.data, "other@"));
	assert_null(strstr(m.data, "Bcc"));
	assert_non_null(strstr(m.data, "\r\nSubject: raw\r\n\r\nbody\r\n.\r\nend\r\n"));
	assert_true(strncmp(m.data, "Date: ", 6) == 0);
	assert_non_null(strstr(m.data, "\r\nMessage-ID: <"));
	assert_non_null(strstr(m.data, m.message_id));
	inject_msg_free(&m);

	raw = "Message-ID: <given@acme.test>\r\nDate: Thu, 03 Dec 2026 18:00:00 +0000\r\nFrom: x@y.test\r\n"
	    "To: ignored@dst.test\r\n\r\nhi\r\n";
	assert_int_equal(inject_raw_build(raw, strlen(raw), "bounce@acme.test", "p@dst.test, q@dst.test", &opts,
	    &m, err, sizeof(err)), INJECT_OK);
	assert_string_equal(m.from, "bounce@acme.test");
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[1], "q@dst.test");
	assert_string_equal(m.message_id, "<given@acme.test>");
	assert_string_equal(m.data, raw);
	inject_msg_free(&m);

	assert_int_equal(inject_raw_build("From: a@acme.test\r\nTo: b@dst.test\r\n\r\nx\ry\r\n", 39, NULL,
	    NULL, &opts, &m, err, sizeof(err)), INJECT_BAD);
	assert_non_null(strstr(err, "bare CR"));
	assert_int_equal(inject_raw_build("To: b@dst.test\r\n\r\nx\r\n", 21, NULL, NULL, &opts, &m, err,
	    sizeof(err)), INJECT_BAD);
	assert_non_null(strstr(err, "from:"));
	assert_int_equal(inject_raw_build("From: a@acme.test\r\n\r\nx\r\n", 24, NULL, "b@dst.test,bad", &opts, &m,
	    err, sizeof(err)), INJECT_BAD);
	assert_non_null(strstr(err, "to:"));
	assert_int_equal(inject_raw_build("not a header\r\n\r\nx\r\n", 19, NULL, NULL, &opts, &m, err,
	    sizeof(err)), INJECT_BAD);
	/* a list GMime reads only part of, an open domain literal */
	raw = "From: a@acme.test\r\nTo: b@dst.test; c@dst.test\r\n\r\nx\r\n";
	assert_int_equal(inject_raw_build(raw, strlen(raw), NULL, NULL, &opts, &m, err, sizeof(err)), INJECT_BAD);
	assert_non_null(strstr(err, "To:"));
	raw = "From: a@acme.test\r\nTo: b@[1.2.3\r\n\r\nx\r\n";
	assert_int_equal(inject_raw_build(raw, strlen(raw), NULL, NULL, &opts, &m, err, sizeof(err)), INJECT_BAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_generated_msgid),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_html_only_long_line),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_raw),
	};

	inject_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
