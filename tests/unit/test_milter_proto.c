/* test_milter_proto.c - the milter packet codec (src/milter/milter_proto.c)
 * and the header section code the client uses (milter_hdr.c): commands
 * built with explicit lengths, replies decoded strictly (every field, its
 * NUL, nothing after it, the length cap), header edits that would inject a
 * line refused, edits applied in order, and scores read from rspamd's and
 * SpamAssassin's headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"
#include "milter/milter_proto.h"

static int
decode(const char *pkt, size_t len, struct milter_reply *r)
{
	const char *why = NULL;
	int rc = milter_reply_decode((const unsigned char *)pkt, len, r, &why);

	if (rc < 0)
		assert_non_null(why);
	return rc;
}

static void
test_encode_optneg_and_strings(void **state)
{
	struct milter_pkt p;
	(void)state;
	milter_pkt_begin(&p, MILTER_CMD_OPTNEG);
	milter_pkt_u32(&p, 6);
	milter_pkt_u32(&p, MILTER_ACTS_OFFERED);
	milter_pkt_u32(&p, MILTER_P_OFFERED);
	assert_int_equal(milter_pkt_end(&p), 0);
	assert_int_equal(p.len, 4 + 13);
	assert_memory_equal(p.buf, "\0\0\0\x0dO\0\0\0\x06", 9);

	milter_pkt_begin(&p, MILTER_CMD_HEADER);
	milter_pkt_str(&p, "Subject", 7);
	milter_pkt_str(&p, "hi", 2);
	assert_int_equal(milter_pkt_end(&p), 0);
	assert_memory_equal(p.buf, "\0\0\0\x0cLSubject\0hi\0", 16);

	/* a NUL inside a field would make the filter read a shorter one */
	milter_pkt_begin(&p, MILTER_CMD_HELO);
	milter_pkt_str(&p, "a\0b", 3);
	assert_int_equal(milter_pkt_end(&p), -1);
}

static void
test_encode_overflow(void **state)
{
	struct milter_pkt p;
	static char big[MILTER_CHUNK_MAX + 100];
	(void)state;
	milter_pkt_begin(&p, MILTER_CMD_BODY);
	milter_pkt_raw(&p, big, MILTER_CHUNK_MAX);
	assert_int_equal(milter_pkt_end(&p), 0);
	milter_pkt_raw(&p, big, 100);
	assert_int_equal(milter_pkt_end(&p), -1);
}

static void
test_length_prefix(void **state)
{
	(void)state;
	assert_int_equal(milter_len_decode((const unsigned char *)"\0\0\0\x01"), 1);
	assert_int_equal(milter_len_decode((const unsigned char *)"\0\0\0\0"), -1);
	assert_int_equal(milter_len_decode((const unsigned char *)"\0\x04\0\0"), MILTER_PACKET_MAX);
	assert_int_equal(milter_len_decode((const unsigned char *)"\0\x04\0\x01"), -1);
	assert_int_equal(milter_len_decode((const unsigned char *)"\xff\xff\xff\xff"), -1);
}

static void
test_simple_replies(void **state)
{
	struct milter_reply r;
	(void)state;
	assert_int_equal(decode("c", 1, &r), 0);
	assert_int_equal(r.kind, MILTER_R_CONTINUE);
	assert_int_equal(decode("r", 1, &r), 0);
	assert_int_equal(r.kind, MILTER_R_REJECT);
	assert_int_equal(decode("p", 1, &r), 0);
	assert_int_equal(decode("cX", 2, &r), -1);      /* trailing octets */
	assert_int_equal(decode("Z", 1, &r), -1);       /* unknown */
	assert_int_equal(decode("+<a@b>", 7, &r), -1);  /* an action ferry did not offer */
	assert_int_equal(decode("", 0, &r), -1);
}

static void
test_optneg_reply(void **state)
{
	struct milter_reply r;
	static const char ok[] = "O\0\0\0\x06\0\0\0\x31\0\0\0\x80";
	static const char more[] = "O\0\0\0\x06\0\0\0\x01\0\0\0\0\0\0\0\x01{i}\0";
	(void)state;
	assert_int_equal(decode(ok, 13, &r), 0);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 0x31);
	assert_int_equal(r.protocol, 0x80);
	assert_int_equal(decode(more, sizeof(more) - 1, &r), 0);   /* v6 symbol lists */
	assert_int_equal(decode(ok, 12, &r), -1);                   /* truncated */
}

static void
test_replycode(void **state)
{
	struct milter_reply r;
	static const char ok[] = "y554 5.7.1 Spam message rejected";
	(void)state;
	assert_int_equal(decode(ok, sizeof(ok), &r), 0);
	assert_int_equal(r.code, 554);
	assert_string_equal(r.text, "554 5.7.1 Spam message rejected");
	assert_int_equal(decode("y451 later", 11, &r), 0);
	assert_int_equal(r.code, 451);
	assert_int_equal(decode("y250 ok", 8, &r), -1);              /* not a refusal */
	assert_int_equal(decode("y550 no nul", 11, &r), -1);
	assert_int_equal(decode("y550 x\0y", 9, &r), -1);            /* after the NUL */
}

/* A filter's words are made safe, never a filter failure: multi-line
 * replies joined, 8-bit and control octets '?', "%%" undoubled, cut. */
static void
test_replycode_made_safe(void **state)
{
	struct milter_reply r;
	static const char two[] = "y550-5.7.1 first\r\n550 5.7.1 second\r\n";
	static const char lf[] = "y451-4.7.1 a\n451 b";
	static const char eight[] = "y554 5.7.1 caf\xc3\xa9\t100%% sure";
	static const char mixed[] = "y550-5.7.1 a\r\n451 4.7.1 b";
	static const char q[] = "qbad \xff\r\nthing";
	char big[2000];
	(void)state;
	assert_int_equal(decode(two, sizeof(two), &r), 0);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.text, "550 5.7.1 first second");
	assert_int_equal(decode(lf, sizeof(lf), &r), 0);
	assert_string_equal(r.text, "451 4.7.1 a b");
	assert_int_equal(decode(eight, sizeof(eight), &r), 0);
	assert_int_equal(r.code, 554);
	assert_string_equal(r.text, "554 5.7.1 caf???100% sure");
	assert_int_equal(decode(mixed, sizeof(mixed), &r), -1);      /* which code? */
	assert_int_equal(decode("y550", 5, &r), 0);
	assert_string_equal(r.text, "550");
	assert_int_equal(decode(q, sizeof(q), &r), 0);
	assert_string_equal(r.text, "bad ???thing");
	big[0] = 'y';
	memcpy(big + 1, "550 ", 4);
	memset(big + 5, 'x', sizeof(big) - 6);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(decode(big, sizeof(big), &r), 0);
	assert_int_equal(strlen(r.text), MILTER_REPLY_MAX);
	assert_true(strlen("550 5.7.1 ") + strlen(r.text) - 4 + 2 <= 512);
}

static void
test_header_replies(void **state)
{
	struct milter_reply r;
	static const char add[] = "hX-Spam\0yes";
	static const char chg[] = "m\0\0\0\x02Subject\0new";
	static const char fold[] = "hX-Long\0a\r\n\tb";
	static const char inject[] = "hX-A\0a\r\nBcc: victim@example.com";
	static const char bare_cr[] = "hX-A\0a\rb";
	static const char colon[] = "hX:A\0a";
	static const char empty[] = "h\0a";
	(void)state;
	assert_int_equal(decode(add, sizeof(add), &r), 0);
	assert_string_equal(r.name, "X-Spam");
	assert_string_equal(r.value, "yes");
	assert_int_equal(decode(chg, sizeof(chg), &r), 0);
	assert_int_equal(r.index, 2);
	assert_string_equal(r.name, "Subject");
	assert_int_equal(decode(fold, sizeof(fold), &r), 0);
	assert_int_equal(decode(inject, sizeof(inject), &r), -1);
	assert_int_equal(decode(bare_cr, sizeof(bare_cr), &r), -1);
	assert_int_equal(decode(colon, sizeof(colon), &r), -1);
	assert_int_equal(decode(empty, sizeof(empty), &r), -1);
	assert_int_equal(decode("m\0\0", 3, &r), -1);                 /* index truncated */
	assert_int_equal(decode("hX-A\0a", 6, &r), -1);               /* value without its NUL */
}

static void
test_quarantine(void **state)
{
	struct milter_reply r;
	static const char q[] = "qvirus found";
	(void)state;
	assert_int_equal(decode(q, sizeof(q), &r), 0);
	assert_string_equal(r.text, "virus found");
}

static void
test_scores(void **state)
{
	double v = 0;
	(void)state;
	assert_true(milter_score_parse("X-Spamd-Result", "default: False [2.50 / 15.00];\n\tR_X(1.0)", &v));
	assert_true(v > 2.49 && v < 2.51);
	assert_true(milter_score_parse("x-rspamd-score", "-0.10", &v));
	assert_true(v < -0.09 && v > -0.11);
	assert_true(milter_score_parse("X-Spam-Status", "Yes, score=7.3 required=5.0", &v));
	assert_true(v > 7.29 && v < 7.31);
	assert_false(milter_score_parse("X-Spam-Status", "No", &v));
	assert_false(milter_score_parse("X-Spamd-Result", "default: False [nan / 15]", &v));
	assert_false(milter_score_parse("Subject", "3.0", &v));
}

/* The header section helpers, over a message in memory. */
struct mem { const char *s; size_t len; char out[1024]; size_t n; };

static long
mem_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct mem *m = arg;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(buf, m->s + off, len);
	return (long)len;
}

static int
mem_write(void *arg, const void *buf, size_t len)
{
	struct mem *m = arg;

	if (m->n + len >= sizeof(m->out))
		return -1;
	memcpy(m->out + m->n, buf, len);
	m->n += len;
	m->out[m->n] = '\0';
	return 0;
}

static void
test_hdrs_split_and_edit(void **state)
{
	static const char msg[] = "Received: by x\r\nSubject: one\r\n two\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n";
	struct mem m = { .s = msg, .len = sizeof(msg) - 1 };
	struct milter_env env = { .read = mem_read, .read_arg = &m, .size = sizeof(msg) - 1 };
	struct milter_hdrs h;
	struct milter_edit e[] = {
		{ MILTER_EDIT_CHANGE, 2, "x-a", "" },            /* the second X-A goes */
		{ MILTER_EDIT_CHANGE, 1, "Subject", "new\n\tfolded" },
		{ MILTER_EDIT_INSERT, 1, "X-Ins", "i" },
		{ MILTER_EDIT_ADD, 0, "X-End", "e" },
		{ MILTER_EDIT_CHANGE, 1, "X-None", "added" },    /* none of that name: added */
	};
	(void)state;
	assert_int_equal(milter_hdrs_load(&h, &env), 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.v[1].name_len, 7);
	assert_memory_equal(h.buf + h.v[1].value_off, "one\r\n two", h.v[1].value_len);
	assert_memory_equal(msg + h.body, "body\r\n", 6);
	assert_memory_equal(msg + h.end, "\r\nbody", 6);
	assert_int_equal(milter_hdrs_write(&h, e, 5, 1, mem_write, &m), 0);
	assert_string_equal(m.out, "X-Ins: i\r\nSubject: new\r\n\tfolded\r\nX-A: 1\r\nX-End: e\r\nX-None: added\r\n");
	milter_hdrs_free(&h);
}

/* The headers ferry prepended (Received:, X-Ferry-Ref:) are all left out
 * of a rewrite: the caller writes them anew for the new queue id. */
static void
test_hdrs_skip_prepended(void **state)
{
	static const char msg[] = "Received: by x\r\nX-Ferry-Ref: 1-old-0-m\r\nSubject: s\r\n\r\nbody\r\n";
	struct mem m = { .s = msg, .len = sizeof(msg) - 1 };
	struct milter_env env = { .read = mem_read, .read_arg = &m, .size = sizeof(msg) - 1 };
	struct milter_edit e[] = { { MILTER_EDIT_ADD, 0, "X-Add", "a" } };
	struct milter_hdrs h;
	(void)state;
	assert_int_equal(milter_hdrs_load(&h, &env), 0);
	assert_int_equal(milter_hdrs_write(&h, e, 1, 2, mem_write, &m), 0);
	assert_string_equal(m.out, "Subject: s\r\nX-Add: a\r\n");
	milter_hdrs_free(&h);
}

static void
test_hdrs_no_header_section(void **state)
{
	static const char msg[] = "just a body line\r\n";
	struct mem m = { .s = msg, .len = sizeof(msg) - 1 };
	struct milter_env env = { .read = mem_read, .read_arg = &m, .size = sizeof(msg) - 1 };
	struct milter_hdrs h;
	(void)state;
	assert_int_equal(milter_hdrs_load(&h, &env), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.body, 0);
	milter_hdrs_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_optneg_and_strings),
		cmocka_unit_test(test_encode_overflow),
		cmocka_unit_test(test_length_prefix),
		cmocka_unit_test(test_simple_replies),
		cmocka_unit_test(test_optneg_reply),
		cmocka_unit_test(test_replycode),
		cmocka_unit_test(test_replycode_made_safe),
		cmocka_unit_test(test_header_replies),
		cmocka_unit_test(test_quarantine),
		cmocka_unit_test(test_scores),
		cmocka_unit_test(test_hdrs_split_and_edit),
		cmocka_unit_test(test_hdrs_skip_prepended),
		cmocka_unit_test(test_hdrs_no_header_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
