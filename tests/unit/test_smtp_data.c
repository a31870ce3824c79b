/* test_smtp_data.c - the DATA/BDAT content reader: transparency, the end of
 * message only at CRLF.CRLF (SMTP smuggling), line-end normalisation, bare
 * CR, long lines, BDAT chunk boundaries. Every case is also fed byte by byte
 * and in odd splits, which must give exactly the same result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

struct out {
	char   buf[8192];
	size_t len;
	int    fail_after;   /* sink fails once len would exceed this (0: never) */
};

static int
sink(void *arg, const char *b, size_t n)
{
	struct out *o = arg;

	if (o->fail_after && o->len + n > (size_t)o->fail_after)
		return -1;
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, b, n);
	o->len += n;
	return 0;
}

struct result {
	struct out out;
	size_t     consumed;
	bool       done;
	unsigned   errors;
};

/* Feed in pieces of `step` octets (0: all at once). */
static struct result
run(const char *in, size_t len, bool dot, const struct smtp_data_opts *o, size_t step, bool finish)
{
	struct result r;
	struct smtp_data d;
	size_t off = 0;

	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, o, dot, sink, &r.out);
	while (off < len && !r.done) {
		size_t n = step == 0 || step > len - off ? len - off : step;
		bool done = false;
		size_t used = smtp_data_feed(&d, in + off, n, &done);
		off += used;
		r.done = done;
		if (!done)
			assert_int_equal(used, n);   /* consumes all unless finished */
	}
	if (finish)
		smtp_data_finish(&d);
	r.consumed = off;
	r.errors = d.errors;
	assert_int_equal(d.out_bytes, r.out.len);
	return r;
}

/* Same input, every way of splitting it: identical results. */
static struct result
check(const char *in, bool dot, const struct smtp_data_opts *o, bool finish)
{
	size_t len = strlen(in);
	struct result whole = run(in, len, dot, o, 0, finish);

	for (size_t step = 1; step <= 7; step++) {
		struct result r = run(in, len, dot, o, step, finish);
		assert_int_equal(r.consumed, whole.consumed);
		assert_int_equal(r.done, whole.done);
		assert_int_equal(r.errors, whole.errors);
		assert_int_equal(r.out.len, whole.out.len);
		assert_memory_equal(r.out.buf, whole.out.buf, r.out.len);
	}
	/* the output never carries a bare CR or LF */
	for (size_t i = 0; i < whole.out.len; i++) {
		if (whole.out.buf[i] == '\r')
			assert_true(i + 1 < whole.out.len && whole.out.buf[i + 1] == '\n');
		if (whole.out.buf[i] == '\n')
			assert_true(i > 0 && whole.out.buf[i - 1] == '\r');
	}
	return whole;
}

static const struct smtp_data_opts dflt = { .reject_bare_lf = false, .max_line = 1000 };

#define OUT_IS(r, s) do { \
	assert_int_equal((r).out.len, strlen(s)); \
	assert_memory_equal((r).out.buf, (s), strlen(s)); \
} while (0)

static void
test_simple_and_pipelined(void **state)
{
	const char *in = "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
	struct result r = check(in, true, &dflt, false);

	(void)state;
	assert_true(r.done);
	assert_int_equal(r.consumed, strlen(in) - strlen("QUIT\r\n"));
	OUT_IS(r, "Subject: x\r\n\r\nhello\r\n");
	assert_int_equal(r.errors, 0);
}

static void
test_empty_message(void **state)
{
	struct result r = check(".\r\n", true, &dflt, false);

	(void)state;
	assert_true(r.done);
	assert_int_equal(r.out.len, 0);
}

static void
test_dot_unstuffing(void **state)
{
	struct result r = check("..leading\r\n...\r\n.x\r\n. \r\nmid.dle\r\n.\r\n", true, &dflt, false);

	(void)state;
	assert_true(r.done);
	OUT_IS(r, ".leading\r\n..\r\nx\r\n \r\nmid.dle\r\n");
}

static void
test_smuggling_variants_do_not_end(void **state)
{
	const char *variants[] = {
		"a\n.\nMAIL FROM:<e@x>\r\n",
		"a\n.\r\nMAIL FROM:<e@x>\r\n",
		"a\r\n.\nMAIL FROM:<e@x>\r\n",
		"a\r.\rMAIL FROM:<e@x>\r\n",
		"a\r\n.\rMAIL FROM:<e@x>\r\n",
		"a\r.\r\nMAIL FROM:<e@x>\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct result r = check(variants[i], true, &dflt, false);
		assert_false(r.done);
		assert_int_equal(r.consumed, strlen(variants[i]));
		assert_non_null(memmem(r.out.buf, r.out.len, "MAIL FROM:<e@x>\r\n", 17));
	}
}

static void
test_dot_after_bare_lf_is_content(void **state)
{
	/* "\n.\r\n" is not CRLF.CRLF: the "." line is kept, the real end follows */
	struct result r = check("a\n.\r\nb\r\n.\r\n", true, &dflt, false);

	(void)state;
	assert_true(r.done);
	OUT_IS(r, "a\r\n.\r\nb\r\n");
	assert_int_equal(r.errors, 0);
}

static void
test_bare_lf_normalise_or_reject(void **state)
{
	struct smtp_data_opts rej = dflt;
	struct result r = check("a\nb\r\n.\r\n", true, &dflt, false);

	(void)state;
	assert_true(r.done);
	OUT_IS(r, "a\r\nb\r\n");
	assert_int_equal(r.errors, 0);
	rej.reject_bare_lf = true;
	r = check("a\nb\r\n.\r\n", true, &rej, false);
	assert_true(r.done);
	assert_int_equal(r.errors, SMTP_DATA_ERR_BARE_LF);
}

static void
test_bare_cr(void **state)
{
	struct result r = check("a\rb\r\n.\r\n", true, &dflt, false);

	(void)state;
	assert_true(r.done);
	assert_int_equal(r.errors, SMTP_DATA_ERR_BARE_CR);
	OUT_IS(r, "ab\r\n");
	r = check("a\r\r\n.\r\n", true, &dflt, false);
	assert_true(r.done);
	assert_int_equal(r.errors, SMTP_DATA_ERR_BARE_CR);
}

static void
test_line_length(void **state)
{
	struct smtp_data_opts o = { .max_line = 10 };
	struct result r = check("12345678\r\n.\r\n", true, &o, false);   /* 10 with CRLF */

	(void)state;
	assert_int_equal(r.errors, 0);
	r = check("123456789\r\n.\r\n", true, &o, false);
	assert_int_equal(r.errors, SMTP_DATA_ERR_LONG_LINE);
	assert_true(r.done);
}

static void
test_nul(void **state)
{
	struct smtp_data_opts o = { .reject_nul = true };
	char in[] = "aXb\r\n.\r\n";
	struct result r;

	(void)state;
	in[1] = '\0';
	r = run(in, sizeof(in) - 1, true, &o, 0, false);
	assert_true(r.done);
	assert_int_equal(r.errors, SMTP_DATA_ERR_NUL);
	assert_int_equal(r.out.len, 5);
}

static void
test_bdat_chunks_and_finish(void **state)
{
	/* no dot handling, CRLF split across feeds, final line gets CRLF */
	struct result r = check(".not stuffed\r\n.\r\nend", false, &dflt, true);

	(void)state;
	assert_false(r.done);
	OUT_IS(r, ".not stuffed\r\n.\r\nend\r\n");
	r = check("x\r", false, &dflt, true);
	assert_int_equal(r.errors, SMTP_DATA_ERR_BARE_CR);
	r = check("", false, &dflt, true);
	assert_int_equal(r.out.len, 0);
}

static void
test_write_failure(void **state)
{
	struct result r;
	struct smtp_data d;
	bool done = false;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.out.fail_after = 4;
	smtp_data_init(&d, &dflt, true, sink, &r.out);
	assert_int_equal(smtp_data_feed(&d, "abcdef\r\nxy\r\n.\r\n", 15, &done), 15);
	assert_true(done);
	assert_true(d.write_failed);
	assert_int_equal(r.out.len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_and_pipelined),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_smuggling_variants_do_not_end),
		cmocka_unit_test(test_dot_after_bare_lf_is_content),
		cmocka_unit_test(test_bare_lf_normalise_or_reject),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_bdat_chunks_and_finish),
		cmocka_unit_test(test_write_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
