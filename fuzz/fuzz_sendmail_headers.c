/*
 * fuzz_sendmail_headers.c - libFuzzer target for ferry-sendmail's input
 * handling: the RFC 5322 address-list parser (src/sendmail/
 * sendmail_headers.c) and the whole standard-input path of
 * src/sendmail/sendmail_msg.c (line ends, header section, -t, Bcc:
 * removal, long-line breaking, the stored content).
 * STANDARDS: RFC 5322 2.1.1, 2.2, 3.4; RFC 5321 4.1.2, 4.5.2.
 * The first input octet picks options; the rest is the hostile text. The
 * invariants are what sendmail_smtp.c relies on: addresses that are valid
 * forward-paths, content made of CRLF lines of at most 998 octets.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sendmail/sendmail_headers.h"
#include "sendmail/sendmail_msg.h"
#include "smtp/smtp_parse.h"

/* abort() makes libFuzzer report the input; assert() could be compiled out. */
#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Every address is a forward-path ferryd's own parser takes back whole. */
static void
check_rcpts(const struct sendmail_rcpts *r)
{
	bool high = false;

	for (size_t i = 0; i < r->n; i++) {
		char buf[SMTP_PATH_MAX + 3];
		struct smtp_path p;
		size_t len = strlen(r->v[i]), used;

		CHECK(len > 0 && len <= SMTP_PATH_MAX);
		for (size_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)r->v[i][k];
			CHECK(c >= 32 && c != 127 && c != '\r' && c != '\n');
			high |= c >= 0x80;
		}
		buf[0] = '<';
		memcpy(buf + 1, r->v[i], len);
		buf[len + 1] = '>';
		CHECK(smtp_path_parse(buf, len + 2, false, false, &p, &used) == NULL && used == len + 2);
		CHECK(p.len == len && memcmp(p.addr, r->v[i], len) == 0 && p.at < len);
	}
	CHECK(r->utf8 == high);
}

static void
check_err(const char *err)
{
	CHECK(err[0] != '\0');
	for (const char *p = err; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 32 && *p != 127);
}

static void
fuzz_addrlist(const char *s, size_t n, const char *domain)
{
	struct sendmail_rcpts r = { 0 };
	char err[256] = "";

	if (sendmail_addrlist_parse(s, n, domain, &r, err, sizeof(err)) < 0) {
		check_err(err);
	} else {
		check_rcpts(&r);
		sendmail_rcpts_dedup(&r);
		check_rcpts(&r);
		for (size_t i = 1; i < r.n; i++)
			for (size_t k = 0; k < i; k++)
				CHECK(strcmp(r.v[i], r.v[k]) != 0);
	}
	sendmail_rcpts_free(&r);
}

struct content {
	char  *buf;
	size_t len;
};

static int
content_cb(void *arg, const char *buf, size_t len)
{
	struct content *c = arg;

	c->buf = realloc(c->buf, c->len + len + 1);
	CHECK(c->buf != NULL);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

/* CRLF lines of at most 998 octets; in the header section (up to the
 * first empty line), no Bcc: or Resent-Bcc: field. */
static void
check_content(const struct sendmail_msg *m, const struct content *c)
{
	size_t start = 0;
	bool in_header = true, high = false;

	CHECK(m->out.size == c->len);
	for (size_t i = 0; i < c->len; i++) {
		high |= (unsigned char)c->buf[i] >= 0x80;
		if (c->buf[i] == '\n')
			CHECK(i > 0 && c->buf[i - 1] == '\r');
		if (c->buf[i] != '\r')
			continue;
		CHECK(i + 1 < c->len && c->buf[i + 1] == '\n');
		CHECK(i - start <= SENDMAIL_LINE_MAX);
		if (in_header && i == start)
			in_header = false;
		if (in_header) {
			const char *l = c->buf + start;
			size_t n = i - start, k = 0;
			if (n >= 7 && strncasecmp(l, "Resent-", 7) == 0)
				k = 7;
			if (n >= k + 3 && strncasecmp(l + k, "bcc", 3) == 0) {
				k += 3;
				while (k < n && (l[k] == ' ' || l[k] == '\t'))
					k++;
				CHECK(k >= n || l[k] != ':');
			}
		}
		start = i + 2;
	}
	CHECK(start == c->len);
	CHECK(m->out.eightbit == high);
}

static void
fuzz_msg(const uint8_t *data, size_t size, bool dot_ends, bool extract)
{
	struct sendmail_rcpts r = { 0 };
	struct sendmail_msg m;
	struct content c = { 0 };
	char err[512], *extra[1] = { "X-Added: yes" };
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	sendmail_msg_init(&m, fd, dot_ends, 1 << 20);
	if (sendmail_msg_headers_read(&m) != 0) {
		check_err(m.err);
		goto out;
	}
	if (extract) {
		if (sendmail_headers_rcpts(&m.hdr, "example.test", &r, err, sizeof(err)) < 0)
			check_err(err);
		else
			check_rcpts(&r);
	}
	sendmail_headers_bcc_remove(&m.hdr);
	CHECK(!sendmail_headers_has(&m.hdr, "Bcc") && !sendmail_headers_has(&m.hdr, "Resent-Bcc"));
	if (sendmail_msg_headers_write(&m, extra, 1) != 0 || sendmail_msg_body_read(&m) != 0) {
		check_err(m.err);
		goto out;
	}
	CHECK(m.done);
	CHECK(sendmail_msg_content_each(&m, content_cb, &c) == 0);
	check_content(&m, &c);
out:
	free(c.buf);
	sendmail_rcpts_free(&r);
	sendmail_msg_free(&m);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;

	if (size == 0)
		return 0;
	flags = data[0];
	data++;
	size--;
	fuzz_addrlist((const char *)data, size, (flags & 1) ? NULL : "example.test");
	fuzz_msg(data, size, flags & 2, flags & 4);
	return 0;
}
