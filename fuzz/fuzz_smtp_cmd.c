/*
 * fuzz_smtp_cmd.c - libFuzzer target for src/smtp/smtp_parse.c: one input
 * is fed, as a command line and as a bare argument, to every parser there.
 * STANDARDS: RFC 5321, 1870, 3030, 3461, 4954, 6531, 3463 (reply shape).
 * The input is the hostile client line; the invariants below are what the
 * rest of ferryd relies on when a parser says yes (and how it says no).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_parse.h"

/* abort() makes libFuzzer report the input; assert() could be compiled out. */
#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "ddd" SP class "." 1*3digit "." 1*3digit SP text, class matching the
 * reply's first digit (RFC 3463), all of it printable ASCII. */
static void
check_reply(const char *r)
{
	size_t i = 6, n;

	if (r == NULL)
		return;
	n = strlen(r);
	CHECK(n >= 12);
	CHECK((r[0] == '4' || r[0] == '5') && is_digit(r[1]) && is_digit(r[2]) && r[3] == ' ');
	CHECK(r[4] == r[0] && r[5] == '.');
	while (is_digit(r[i]))
		i++;
	CHECK(i > 6 && i <= 9 && r[i] == '.');
	n = ++i;
	while (is_digit(r[i]))
		i++;
	CHECK(i > n && i <= n + 3 && r[i] == ' ' && r[i + 1] != '\0');
	for (i = 0; r[i] != '\0'; i++)
		CHECK(r[i] >= 32 && r[i] < 127);
}

static void check_path(const struct smtp_path *p);

/* A parsed mailbox, written back as "<addr>", parses to itself. */
static void
check_path_reparse(const struct smtp_path *p)
{
	char buf[SMTP_PATH_MAX + 3];
	struct smtp_path q;
	size_t used;

	buf[0] = '<';
	memcpy(buf + 1, p->addr, p->len);
	buf[p->len + 1] = '>';
	CHECK(smtp_path_parse(buf, p->len + 2, false, true, &q, &used) == NULL);
	CHECK(used == p->len + 2);
	CHECK(q.len == p->len && q.at == p->at && q.utf8 == p->utf8 && q.literal == p->literal);
	CHECK(memcmp(q.addr, p->addr, p->len + 1) == 0);
}

static void
check_path(const struct smtp_path *p)
{
	bool high = false;

	CHECK(p->len <= SMTP_PATH_MAX && p->addr[p->len] == '\0' && strlen(p->addr) == p->len);
	CHECK(p->at <= p->len);
	for (size_t i = 0; i < p->len; i++) {
		unsigned char c = (unsigned char)p->addr[i];
		CHECK(c >= 32 && c != 127);
		high |= c >= 0x80;
		if (i > p->at)
			CHECK(!(c >= 'A' && c <= 'Z'));
	}
	CHECK(p->utf8 == high);
	if (p->len == 0) {
		CHECK(p->at == 0 && !p->literal);
		return;
	}
	CHECK(p->at <= SMTP_LOCAL_MAX);
	if (p->at == p->len) {
		CHECK(p->len == 10 && !p->literal);   /* <Postmaster> */
		return;
	}
	CHECK(p->at > 0 && p->addr[p->at] == '@' && p->len - p->at - 1 <= SMTP_DOMAIN_MAX);
	if (p->literal)
		CHECK(p->addr[p->at + 1] == '[' && p->addr[p->len - 1] == ']');
	check_path_reparse(p);
}

static bool
all_within(const char *s, unsigned char lo, unsigned char hi)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < lo || (unsigned char)*s > hi)
			return false;
	return true;
}

static void
fuzz_mail(const char *s, size_t n, const struct smtp_ext *e)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	const char *r = smtp_mail_parse(s, n, e, &p, &mp);

	check_reply(r);
	if (r != NULL)
		return;
	check_path(&p);
	CHECK(mp.has_size || mp.size == 0);
	CHECK(strlen(mp.envid) <= SMTP_ENVID_MAX && all_within(mp.envid, 33, 126));
	CHECK(mp.has_envid == (mp.envid[0] != '\0'));
	CHECK(strlen(mp.auth) <= SMTP_PATH_MAX && all_within(mp.auth, 32, 126));
	CHECK(mp.has_auth || mp.auth[0] == '\0');
	CHECK(e->size || !mp.has_size);
	CHECK(e->smtputf8 || !mp.smtputf8);
	CHECK(e->dsn || (mp.ret == SMTP_RET_NONE && !mp.has_envid));
	CHECK(e->auth || !mp.has_auth);
	CHECK(e->binarymime || mp.body != SMTP_BODY_BINARYMIME);
	CHECK(e->eightbitmime || mp.body != SMTP_BODY_8BITMIME);
}

static void
fuzz_rcpt(const char *s, size_t n, const struct smtp_ext *e)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	const char *r = smtp_rcpt_parse(s, n, e, &p, &rp);

	check_reply(r);
	if (r != NULL)
		return;
	check_path(&p);
	CHECK(p.len > 0);
	CHECK((rp.notify & ~0xfu) == 0);
	CHECK(!(rp.notify & SMTP_NOTIFY_NEVER) || rp.notify == SMTP_NOTIFY_NEVER);
	CHECK(strlen(rp.orcpt) <= SMTP_ORCPT_MAX && rp.has_orcpt == (rp.orcpt[0] != '\0'));
	CHECK(rp.orcpt[0] == '\0' || strchr(rp.orcpt, ';') != NULL);
	CHECK(e->dsn || (rp.notify == 0 && !rp.has_orcpt));
}

static void
fuzz_cmd(const char *s, size_t n)
{
	struct smtp_cmd c;
	const char *r = smtp_cmd_parse(s, n, &c);

	check_reply(r);
	if (r != NULL) {
		CHECK(c.verb == SMTP_VERB_UNKNOWN);
		return;
	}
	CHECK(c.verb != SMTP_VERB_UNKNOWN);
	CHECK(c.arg >= s && c.arg + c.arglen <= s + n);
	CHECK(memchr(s, '\0', n) == NULL && memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL);
	if (c.arglen > 0)
		CHECK(c.arg[0] != ' ' && c.arg[0] != '\t' && c.arg[c.arglen - 1] != ' ' &&
		    c.arg[c.arglen - 1] != '\t');
}

static void
fuzz_path(const char *s, size_t n)
{
	struct smtp_path p;
	size_t used;
	const char *r = smtp_path_parse(s, n, true, true, &p, &used);

	check_reply(r);
	if (r == NULL) {
		CHECK(used >= 2 && used <= n && s[0] == '<' && s[used - 1] == '>');
		check_path(&p);
	} else {
		CHECK(used == 0 && p.len == 0);
	}
}

static void
fuzz_bdat_helo(const char *s, size_t n)
{
	uint64_t size = 1;
	bool last = true;
	const char *r = smtp_bdat_parse(s, n, &size, &last);

	check_reply(r);
	if (r != NULL)
		CHECK(size == 0 && !last);
	r = smtp_helo_check(s, n);
	check_reply(r);
	if (r == NULL) {
		CHECK(n > 0 && n <= SMTP_DOMAIN_MAX);
		for (size_t i = 0; i < n; i++)
			CHECK(s[i] > 32 && s[i] < 127);
	}
}

/* decode(encode(x)) == x for any x without NUL; decode's output is a C
 * string of the returned length and re-encodes to valid xtext. */
static void
fuzz_xtext(const char *s, size_t n)
{
	char *enc = malloc(3 * n + 1), *dec = malloc(n + 1);
	long e, d;

	CHECK(enc != NULL && dec != NULL);
	e = smtp_xtext_encode(s, n, enc, 3 * n + 1);
	CHECK(e >= 0 && (size_t)e >= n && strlen(enc) == (size_t)e);
	d = smtp_xtext_decode(enc, (size_t)e, dec, n + 1);
	if (memchr(s, '\0', n) == NULL)
		CHECK(d == (long)n && memcmp(dec, s, n) == 0);
	else
		CHECK(d == -1);
	CHECK(smtp_xtext_encode(s, n, enc, (size_t)e) == -1);
	d = smtp_xtext_decode(s, n, dec, n + 1);
	CHECK(d >= -1 && d <= (long)n);
	if (d >= 0) {
		CHECK(dec[d] == '\0' && strlen(dec) == (size_t)d);
		e = smtp_xtext_encode(dec, (size_t)d, enc, 3 * n + 1);
		CHECK(e >= 0 && smtp_xtext_decode(enc, (size_t)e, dec, n + 1) == d);
	}
	free(enc);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_ext all = { true, true, true, true, true, true };
	static const struct smtp_ext none = { false, false, false, false, false, false };
	const char *s = (const char *)data;
	struct smtp_ext mixed = none;
	struct smtp_cmd c;

	if (size > 0) {
		mixed.size = data[0] & 1;
		mixed.eightbitmime = data[0] & 2;
		mixed.smtputf8 = data[0] & 4;
		mixed.dsn = data[0] & 8;
		mixed.auth = data[0] & 16;
		mixed.binarymime = data[0] & 32;
	}
	fuzz_cmd(s, size);
	if (smtp_cmd_parse(s, size, &c) == NULL) {
		if (c.verb == SMTP_VERB_MAIL || c.verb == SMTP_VERB_RCPT) {
			fuzz_mail(c.arg, c.arglen, &all);
			fuzz_rcpt(c.arg, c.arglen, &all);
		}
		fuzz_bdat_helo(c.arg, c.arglen);
	}
	for (int i = 0; i < 3; i++) {
		const struct smtp_ext *e = i == 0 ? &all : i == 1 ? &none : &mixed;
		fuzz_mail(s, size, e);
		fuzz_rcpt(s, size, e);
	}
	fuzz_path(s, size);
	fuzz_bdat_helo(s, size);
	fuzz_xtext(s, size);
	return 0;
}
