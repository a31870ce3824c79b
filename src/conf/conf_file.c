/*
 * conf_file.c - read ferry.conf: bounded lines with explicit lengths, split
 * into words, each line handed to the option table. Every message names
 * FILE:LINE and the real cause (a NUL byte is a NUL byte, not a long line),
 * or FILE alone when the file itself cannot be read.
 * SECURITY: the file is the administrator's, yet no line can grow a buffer:
 * a line is at most CONF_LINE_MAX bytes and CONF_ARGS_MAX words.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf_internal.h"

/* A read buffer over the file: one line and the next one's start. */
struct conf_reader {
	int    fd;
	size_t start, end;               /* unread bytes: buf[start, end) */
	bool   eof;
	char   buf[CONF_LINE_MAX + 2];   /* a full line, its newline, a NUL */
};

enum conf_next { CONF_NEXT_LINE, CONF_NEXT_EOF, CONF_NEXT_LONG, CONF_NEXT_ERROR };

static int
conf_vfail(struct conf_parse *p, int line, const char *fmt, va_list ap)
{
	int n;

	if (line > 0)
		n = snprintf(p->err, p->errlen, "%s:%d: ", p->file, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->file);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	return -1;
}

int
conf_fail(struct conf_parse *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vfail(p, p->line, fmt, ap);
	va_end(ap);
	return -1;
}

int
conf_fail_at(struct conf_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vfail(p, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* Refill after moving the unread bytes to the front; one byte stays free
 * for the NUL that ends a last line without a newline. */
static int
conf_reader_fill(struct conf_reader *r)
{
	ssize_t n;

	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
	do
		n = read(r->fd, r->buf + r->end, sizeof(r->buf) - 1 - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return 0;
}

/* The next line (without its newline, NUL-terminated after len bytes; it
 * may hold NUL bytes of its own). Valid until the next call. */
static enum conf_next
conf_reader_next(struct conf_reader *r, char **line, size_t *len)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl != NULL || (r->eof && r->start < r->end)) {
			*line = r->buf + r->start;
			*len = nl != NULL ? (size_t)(nl - *line) : r->end - r->start;
			(*line)[*len] = '\0';
			r->start += *len + (nl != NULL);
			return *len > CONF_LINE_MAX ? CONF_NEXT_LONG : CONF_NEXT_LINE;
		}
		if (r->eof)
			return CONF_NEXT_EOF;
		if (r->end - r->start > CONF_LINE_MAX)
			return CONF_NEXT_LONG;
		if (conf_reader_fill(r) < 0)
			return CONF_NEXT_ERROR;
	}
}

/* Split a line into whitespace-separated words; '#' at a word's start
 * comments out the rest. -1 when there are too many words. */
static int
conf_line_split(char *s, char **argv)
{
	int argc = 0;

	for (;;) {
		s += strspn(s, " \t\r");
		if (*s == '\0' || *s == '#')
			return argc;
		if (argc == CONF_ARGS_MAX)
			return -1;
		argv[argc++] = s;
		s += strcspn(s, " \t\r");
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* Check one line's bytes, split it and apply it. */
static int
conf_line_apply(struct conf_parse *p, char *line, size_t len)
{
	char *argv[CONF_ARGS_MAX];
	int argc;

	if (memchr(line, '\0', len) != NULL)
		return conf_fail(p, "NUL byte in line");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f)
			return conf_fail(p, "control character 0x%02x in line (column %zu)", ch, i + 1);
	}
	argc = conf_line_split(line, argv);
	if (argc < 0)
		return conf_fail(p, "too many values (max %d)", CONF_ARGS_MAX - 1);
	return argc > 0 ? conf_option_apply(p, argv, argc) : 0;
}

static int
conf_lines_read(struct conf_parse *p, struct conf_reader *r)
{
	char *line;
	size_t len;

	for (;;) {
		switch (conf_reader_next(r, &line, &len)) {
		case CONF_NEXT_EOF:
			return 0;
		case CONF_NEXT_LONG:
			return conf_fail_at(p, p->line + 1, "line too long (max %d bytes)", CONF_LINE_MAX);
		case CONF_NEXT_ERROR:
			return conf_fail_at(p, 0, "read error after line %d: %s", p->line, strerror(errno));
		case CONF_NEXT_LINE:
			p->line++;
			if (conf_line_apply(p, line, len) < 0)
				return -1;
			break;
		}
	}
}

int
conf_file_read(struct conf_parse *p)
{
	struct conf_reader r = { .fd = -1 };
	struct stat st;
	int rc;

	r.fd = open(p->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (r.fd < 0)
		return conf_fail_at(p, 0, "%s", strerror(errno));
	if (fstat(r.fd, &st) != 0)
		rc = conf_fail_at(p, 0, "%s", strerror(errno));
	else if (S_ISDIR(st.st_mode))
		rc = conf_fail_at(p, 0, "is a directory");
	else
		rc = conf_lines_read(p, &r);
	close(r.fd);
	return rc;
}
