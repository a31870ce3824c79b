/*
 * sendmail_msg.c - reading the message from standard input: LF or CRLF
 * line ends become CRLF and every other CR is dropped (a bare CR is never
 * sent), the header section goes to sendmail_headers, lines longer than
 * 998 octets are broken, and the content is stored for sending.
 * STANDARDS: RFC 5322 2.1.1, 2.2.3 (folding long header lines), 2.3.
 * SECURITY: input may be hostile or endless; every buffer here is bounded
 * and the stored content stops at max_message_size.
 */
#include "sendmail/sendmail_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/xmalloc.h"

#define SENDMAIL_EOF   (-1)
#define SENDMAIL_IOERR (-2)

/* The line buffer also serves the header section, which it must hold a
 * whole field line of, plus slack to tell an over-long field from a body
 * line that merely starts the message. */
#define SENDMAIL_LINEBUF (SENDMAIL_HDR_MAX + SENDMAIL_LINE_MAX)

/* A line being written out: at most SENDMAIL_LINE_MAX octets wait here
 * until the line ends or must be broken. */
struct sendmail_wrap {
	char   pend[SENDMAIL_LINE_MAX];
	size_t n;
	bool   header;   /* a broken header line continues with WSP (a fold) */
};

void
sendmail_msg_init(struct sendmail_msg *m, int fd, bool dot_ends, uint64_t max_size)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->dot_ends = dot_ends;
	m->out.max = max_size;
	m->line = xmalloc(SENDMAIL_LINEBUF);
}

static int
sendmail_msg_fail(struct sendmail_msg *m, int code, const char *what)
{
	snprintf(m->err, sizeof(m->err), "%s", what);
	return code;
}

/* ---- the stored content ------------------------------------------------ */

static FILE *
sendmail_spill_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd;

	if (dir == NULL || dir[0] != '/' || strlen(dir) > sizeof(path) - 32)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/ferry-sendmail.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return NULL;
	unlink(path);   /* gone when we exit, however we exit */
	if ((f = fdopen(fd, "w+")) == NULL)
		close(fd);
	return f;
}

static int
sendmail_store_write(struct sendmail_msg *m, const char *s, size_t len)
{
	struct sendmail_store *st = &m->out;

	if (len > st->max - st->size) {
		snprintf(m->err, sizeof(m->err), "message too large (the limit is %llu octets)",
		    (unsigned long long)st->max);
		return EX_DATAERR;
	}
	for (size_t i = 0; i < len && !st->eightbit; i++)
		st->eightbit = (unsigned char)s[i] >= 0x80;
	if (st->spill == NULL && st->memlen + len <= SENDMAIL_MEM_MAX) {
		if (st->memlen + len > st->memcap) {
			st->memcap = st->memcap ? st->memcap * 2 : 16384;
			while (st->memcap < st->memlen + len)
				st->memcap *= 2;
			st->mem = xrealloc(st->mem, st->memcap);
		}
		memcpy(st->mem + st->memlen, s, len);
		st->memlen += len;
	} else {
		if (st->spill == NULL && (st->spill = sendmail_spill_open()) == NULL) {
			snprintf(m->err, sizeof(m->err), "cannot create a temporary file: %s", strerror(errno));
			return EX_TEMPFAIL;
		}
		if (fwrite(s, 1, len, st->spill) != len) {
			snprintf(m->err, sizeof(m->err), "temporary file write error: %s", strerror(errno));
			return EX_TEMPFAIL;
		}
	}
	st->size += len;
	return 0;
}

int
sendmail_msg_content_each(struct sendmail_msg *m,
    int (*fn)(void *arg, const char *buf, size_t len), void *arg)
{
	struct sendmail_store *st = &m->out;
	char buf[65536];
	size_t n;

	if (st->memlen > 0 && fn(arg, st->mem, st->memlen) < 0)
		return -1;
	if (st->spill == NULL)
		return 0;
	if (fflush(st->spill) != 0 || fseek(st->spill, 0, SEEK_SET) != 0)
		return -2;
	while ((n = fread(buf, 1, sizeof(buf), st->spill)) > 0)
		if (fn(arg, buf, n) < 0)
			return -1;
	return ferror(st->spill) ? -2 : 0;
}

/* ---- long lines -------------------------------------------------------- */

static bool
sendmail_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The line is full and next is the octet that does not fit. Break before
 * the last whitespace that follows text (for a header line that is a fold
 * and changes nothing), else between two UTF-8 characters, else anywhere. */
static int
sendmail_wrap_break(struct sendmail_msg *m, struct sendmail_wrap *w, unsigned char next)
{
	size_t bp = 0, rest, j;
	int rc;

	for (size_t i = w->n - 1; i > 0; i--)
		if (sendmail_is_wsp(w->pend[i]) && !sendmail_is_wsp(w->pend[i - 1])) {
			bp = i;
			break;
		}
	if (bp == 0) {
		bp = w->n;
		if ((next & 0xC0) == 0x80) {
			for (j = w->n; j > 1 && w->n - j < 3 && ((unsigned char)w->pend[j - 1] & 0xC0) == 0x80; j--)
				;
			if (((unsigned char)w->pend[j - 1] & 0xC0) == 0xC0)
				bp = j - 1;
		}
	}
	if ((rc = sendmail_store_write(m, w->pend, bp)) != 0 || (rc = sendmail_store_write(m, "\r\n", 2)) != 0)
		return rc;
	rest = w->n - bp;
	memmove(w->pend, w->pend + bp, rest);
	if (w->header && (rest == 0 || !sendmail_is_wsp(w->pend[0]))) {
		memmove(w->pend + 1, w->pend, rest);   /* rest <= 3 here */
		w->pend[0] = ' ';
		rest++;
	}
	w->n = rest;
	return 0;
}

static int
sendmail_wrap_feed(struct sendmail_msg *m, struct sendmail_wrap *w, const char *s, size_t len)
{
	size_t n;
	int rc;

	while (len > 0) {
		if (w->n == SENDMAIL_LINE_MAX && (rc = sendmail_wrap_break(m, w, (unsigned char)s[0])) != 0)
			return rc;
		n = SENDMAIL_LINE_MAX - w->n < len ? SENDMAIL_LINE_MAX - w->n : len;
		memcpy(w->pend + w->n, s, n);
		w->n += n;
		s += n;
		len -= n;
	}
	return 0;
}

static int
sendmail_wrap_end(struct sendmail_msg *m, struct sendmail_wrap *w)
{
	int rc = sendmail_store_write(m, w->pend, w->n);

	w->n = 0;
	return rc != 0 ? rc : sendmail_store_write(m, "\r\n", 2);
}

/* ---- input ------------------------------------------------------------- */

static int
sendmail_input_fill(struct sendmail_msg *m)
{
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
	ssize_t r;

	for (;;) {
		r = read(m->fd, m->ibuf, sizeof(m->ibuf));
		if (r > 0) {
			m->ipos = 0;
			m->ilen = (size_t)r;
			return 0;
		}
		if (r == 0) {
			m->ieof = true;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			poll(&pfd, 1, -1);   /* a non-blocking stdin inherited from the caller */
		else if (errno != EINTR)
			return -1;
	}
}

/* The next piece of the current line, CRs dropped: at most cap octets.
 * *eol when the line ends with it (LF, or end of input after a partial
 * line). Returns its length, SENDMAIL_EOF or SENDMAIL_IOERR. */
static long
sendmail_input_piece(struct sendmail_msg *m, char *out, size_t cap, bool *eol)
{
	size_t got = 0;

	*eol = false;
	for (;;) {
		if (m->ipos == m->ilen) {
			if (!m->ieof && sendmail_input_fill(m) < 0)
				return SENDMAIL_IOERR;
			if (m->ipos < m->ilen)
				continue;
			if (got == 0 && !m->in_line)
				return SENDMAIL_EOF;
			m->in_line = false;   /* the last line had no line end */
			*eol = true;
			return (long)got;
		}
		while (m->ipos < m->ilen) {
			char c = m->ibuf[m->ipos];
			if (c == '\n') {
				m->ipos++;
				m->in_line = false;
				*eol = true;
				return (long)got;
			}
			if (got == cap) {
				m->in_line = true;
				return (long)got;
			}
			m->ipos++;
			if (c != '\r')
				out[got++] = c;
		}
	}
}

int
sendmail_msg_headers_read(struct sendmail_msg *m)
{
	enum sendmail_hdr_add r;
	bool eol, first = true;
	long n;

	for (;; first = false) {
		n = sendmail_input_piece(m, m->line, SENDMAIL_LINEBUF - m->hdr.bytes, &eol);
		if (n == SENDMAIL_IOERR)
			return sendmail_msg_fail(m, EX_IOERR, strerror(errno));
		if (n == SENDMAIL_EOF) {
			m->done = true;
			return 0;
		}
		if (first && eol && n >= 5 && memcmp(m->line, "From ", 5) == 0)
			continue;   /* an mbox envelope line, not a header */
		if (!eol) {
			if (sendmail_headers_line_is_header(&m->hdr, m->line, (size_t)n))
				return sendmail_msg_fail(m, EX_DATAERR, "header section too large");
			break;
		}
		if (m->dot_ends && n == 1 && m->line[0] == '.') {
			m->done = true;
			return 0;
		}
		if (n == 0)
			return 0;   /* the empty line that ends the header section */
		r = sendmail_headers_line_add(&m->hdr, m->line, (size_t)n);
		if (r == SENDMAIL_HDR_TOO_BIG)
			return sendmail_msg_fail(m, EX_DATAERR, "header section too large");
		if (r == SENDMAIL_HDR_NOT_HEADER)
			break;
	}
	/* Not a header line: the body starts here, after an empty line that
	 * sendmail_msg_headers_write adds. */
	m->pending = true;
	m->pendlen = (size_t)n;
	m->pending_eol = eol;
	return 0;
}

int
sendmail_msg_headers_write(struct sendmail_msg *m, char *const *extra, size_t nextra)
{
	struct sendmail_wrap w = { .header = true };
	int rc;

	for (size_t i = 0; i < m->hdr.n + nextra; i++) {
		const char *s = i < m->hdr.n ? m->hdr.v[i].text : extra[i - m->hdr.n];
		size_t len = i < m->hdr.n ? m->hdr.v[i].len : strlen(s);
		const char *end = s + len, *nl;

		if (i < m->hdr.n && m->hdr.v[i].removed)
			continue;
		for (;;) {   /* each physical line; folds are CRLF in text */
			nl = s;
			while (nl < end && !(nl[0] == '\r' && nl + 1 < end && nl[1] == '\n'))
				nl++;
			if ((rc = sendmail_wrap_feed(m, &w, s, (size_t)(nl - s))) != 0 ||
			    (rc = sendmail_wrap_end(m, &w)) != 0)
				return rc;
			if (nl == end)
				break;
			s = nl + 2;
		}
	}
	return sendmail_store_write(m, "\r\n", 2);
}

int
sendmail_msg_body_read(struct sendmail_msg *m)
{
	struct sendmail_wrap w = { .header = false };
	bool eol = true, bol;
	long n;
	int rc;

	if (m->pending) {
		m->pending = false;
		if ((rc = sendmail_wrap_feed(m, &w, m->line, m->pendlen)) != 0 ||
		    (m->pending_eol && (rc = sendmail_wrap_end(m, &w)) != 0))
			return rc;
		eol = m->pending_eol;
	}
	while (!m->done) {
		bol = eol;
		n = sendmail_input_piece(m, m->line, SENDMAIL_IBUF, &eol);
		if (n == SENDMAIL_IOERR)
			return sendmail_msg_fail(m, EX_IOERR, strerror(errno));
		if (n == SENDMAIL_EOF)
			break;
		if (m->dot_ends && bol && eol && n == 1 && m->line[0] == '.')
			break;
		if ((rc = sendmail_wrap_feed(m, &w, m->line, (size_t)n)) != 0 ||
		    (eol && (rc = sendmail_wrap_end(m, &w)) != 0))
			return rc;
	}
	m->done = true;
	return 0;
}

void
sendmail_msg_free(struct sendmail_msg *m)
{
	sendmail_headers_free(&m->hdr);
	free(m->out.mem);
	if (m->out.spill != NULL)
		fclose(m->out.spill);
	free(m->line);
	m->line = NULL;
	m->out.mem = NULL;
	m->out.spill = NULL;
}
