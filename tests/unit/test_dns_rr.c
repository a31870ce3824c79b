/* test_dns_rr.c - dns_answer_parse on hand-built DNS responses: TXT
 * strings joined, MX names through compression pointers, CNAMEs stepped
 * over, the record limit, and malformed messages (short header, RDATA past
 * the end, a string longer than its RDATA, pointer loops, bad A lengths)
 * refused, never read past. Lookups against a real server are in
 * tests/integration/test_domain_check.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "dns/dns.h"

/* A response being built: header, one question "a.test", then answers. */
struct msg {
	unsigned char b[16384];
	size_t        len;
	unsigned      an;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	put(m, x, 2);
}

static void
msg_start(struct msg *m, int qtype)
{
	static const unsigned char hdr[12] = { 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0 };

	memset(m, 0, sizeof(*m));
	put(m, hdr, sizeof(hdr));
	put(m, "\1a\4test", 8);                 /* at offset 12, with its 0 */
	put16(m, (unsigned)qtype);
	put16(m, 1);
}

/* An answer owned by the question's name (pointer 0xc00c). */
static void
msg_rr(struct msg *m, int type, const void *rdata, size_t rdlen)
{
	put16(m, 0xc00c);
	put16(m, (unsigned)type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
	m->an++;
	m->b[6] = (unsigned char)(m->an >> 8);
	m->b[7] = (unsigned char)m->an;
}

static struct dns_rrset set;

static void
test_txt_strings_joined(void **state)
{
	struct msg m;

	(void)state;
	msg_start(&m, DNS_T_TXT);
	msg_rr(&m, 5, "\3b\4test", 8);                  /* a CNAME: stepped over */
	msg_rr(&m, DNS_T_TXT, "\5v=spf\7 1 -all", 14);
	msg_rr(&m, DNS_T_TXT, "\0", 1);                 /* one empty string */
	msg_rr(&m, DNS_T_TXT, "\3a\0b", 4);             /* a NUL inside */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), 0);
	assert_int_equal(set.n, 3);
	assert_int_equal(set.rr[0].len, 12);
	assert_string_equal((char *)set.rr[0].data, "v=spf 1 -all");
	assert_int_equal(set.rr[1].len, 0);
	assert_string_equal((char *)set.rr[1].data, "");
	assert_int_equal(set.rr[2].len, 3);
	assert_memory_equal(set.rr[2].data, "a\0b", 4);
}

static void
test_txt_over_limit_dropped(void **state)
{
	static struct msg m;
	static unsigned char big[33 * 256];

	(void)state;
	/* 33 strings of 255 octets: 8415 joined, over DNS_TXT_MAX */
	for (size_t i = 0; i < 33; i++) {
		big[i * 256] = 255;
		memset(big + i * 256 + 1, 'x', 255);
	}
	msg_start(&m, DNS_T_TXT);
	msg_rr(&m, DNS_T_TXT, big, sizeof(big));
	msg_rr(&m, DNS_T_TXT, "\2ok", 3);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal((char *)set.rr[0].data, "ok");
}

static void
test_mx_and_ptr_names(void **state)
{
	struct msg m;
	unsigned char mx[16] = { 0, 10, 2, 'm', 'x', 0xc0, 12 };  /* "mx" + pointer to a.test */

	(void)state;
	msg_start(&m, DNS_T_MX);
	msg_rr(&m, DNS_T_MX, mx, 7);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_MX, &set), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.rr[0].pref, 10);
	assert_string_equal((char *)set.rr[0].data, "mx.a.test");

	msg_start(&m, DNS_T_PTR);
	msg_rr(&m, DNS_T_PTR, "\4host\4test", 11);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_PTR, &set), 0);
	assert_string_equal((char *)set.rr[0].data, "host.test");
}

static void
test_addresses(void **state)
{
	struct msg m;

	(void)state;
	msg_start(&m, DNS_T_A);
	msg_rr(&m, DNS_T_A, "\xc0\0\2\7", 4);
	msg_rr(&m, DNS_T_AAAA, "0123456789abcdef", 16);    /* other type: ignored */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_A, &set), 0);
	assert_int_equal(set.n, 1);
	assert_memory_equal(set.rr[0].data, "\xc0\0\2\7", 5);      /* NUL-terminated too */
	msg_rr(&m, DNS_T_A, "\1\2\3\4\5", 5);                /* A of 5 octets */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_A, &set), -1);
}

static void
test_record_limit(void **state)
{
	static struct msg m;

	(void)state;
	msg_start(&m, DNS_T_TXT);
	for (int i = 0; i < DNS_RR_MAX + 5; i++)
		msg_rr(&m, DNS_T_TXT, "\1x", 2);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), 0);
	assert_int_equal(set.n, DNS_RR_MAX);
}

static void
test_malformed_refused(void **state)
{
	struct msg m;
	unsigned char loop[8] = { 0, 10, 0xc0, 0 };

	(void)state;
	msg_start(&m, DNS_T_TXT);
	assert_int_equal(dns_answer_parse(m.b, 11, DNS_T_TXT, &set), -1);     /* short header */
	msg_rr(&m, DNS_T_TXT, "\11abc", 4);                                /* string past RDATA */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), -1);

	msg_start(&m, DNS_T_TXT);
	msg_rr(&m, DNS_T_TXT, "\3abc", 4);
	for (size_t cut = 12; cut < m.len; cut++)                          /* every truncation */
		assert_int_equal(dns_answer_parse(m.b, cut, DNS_T_TXT, &set), -1);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), 0);
	m.b[7] = 2;                                                        /* claims 2 answers */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_TXT, &set), -1);

	msg_start(&m, DNS_T_MX);
	loop[2] = 0xc0;
	loop[3] = (unsigned char)(m.len + 12 + 2);                          /* points at itself */
	msg_rr(&m, DNS_T_MX, loop, 4);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_MX, &set), -1);
	m.b[12] = 0x40;                                                    /* reserved label type */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_MX, &set), -1);

	/* a name that runs past its RDATA into the next record, or stops short */
	msg_start(&m, DNS_T_PTR);
	msg_rr(&m, DNS_T_PTR, "\4host", 5);                                /* no end: next octets */
	msg_rr(&m, DNS_T_TXT, "\3abc", 4);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_PTR, &set), -1);
	msg_start(&m, DNS_T_PTR);
	msg_rr(&m, DNS_T_PTR, "\4host\4test\0xy", 13);                     /* junk after the name */
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_PTR, &set), -1);
	msg_start(&m, DNS_T_MX);
	msg_rr(&m, DNS_T_MX, "\0\12\2mx", 5);                               /* MX name past RDATA */
	msg_rr(&m, DNS_T_TXT, "\0\0\0", 3);
	assert_int_equal(dns_answer_parse(m.b, m.len, DNS_T_MX, &set), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_strings_joined),
		cmocka_unit_test(test_txt_over_limit_dropped),
		cmocka_unit_test(test_mx_and_ptr_names),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_record_limit),
		cmocka_unit_test(test_malformed_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
