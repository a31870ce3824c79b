/*
 * rulefile.c - the bounded reader of ferry's rules files (see rulefile.h):
 * the file read whole under a size limit, then cut into checked lines and
 * split into words for the file's own parser (shape_rules.c, classify_parse.c);
 * and the fields both files have: names, reply codes, enhanced status
 * patterns, regular expressions and the limits they run under.
 * SECURITY: explicit lengths throughout; a line is copied only after its
 * length is checked against line_max, which is itself capped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/rulefile.h"
#include "util/xmalloc.h"

int
rulefile_fail(struct rulefile *f, const char *fmt, ...)
{
	va_list ap;
	int n = f->line > 0 ? snprintf(f->err, f->errlen, "%s:%d: ", f->name, f->line) :
	    snprintf(f->err, f->errlen, "%s: ", f->name);

	if (n < 0 || (size_t)n >= f->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(f->err + n, f->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

char *
rulefile_read(struct rulefile *f, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd = open(f->name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	f->line = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rulefile_fail(f, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rulefile_fail(f, "%s", S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		goto fail;
	}
	/* one octet more than allowed, so a file over the limit is seen as such */
	buf = xmalloc(f->file_max + 1);
	*len = 0;
	while (*len < f->file_max + 1 &&
	    ((n = read(fd, buf + *len, f->file_max + 1 - *len)) > 0 || (n < 0 && errno == EINTR)))
		*len += n > 0 ? (size_t)n : 0;
	if (n < 0) {
		rulefile_fail(f, "read: %s", strerror(errno));
		goto fail;
	}
	close(fd);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* A quoted word from s (just after its opening quote) into *w, in place.
 * The position after the word, NULL on error. */
static char *
rulefile_word_quoted(struct rulefile *f, char *s, struct rulefile_word *w)
{
	char *o = s;

	w->s = s;
	w->quoted = true;
	for (;;) {
		if (*s == '\0') {
			rulefile_fail(f, "no closing quote");
			return NULL;
		}
		if (*s == '"')
			break;
		if (s[0] == '\\' && s[1] == '"')
			s++;
		else if (s[0] == '\\' && s[1] != '\0')
			*o++ = *s++;
		*o++ = *s++;
	}
	w->len = (size_t)(o - w->s);
	*o = '\0';
	s++;
	if (*s == 'i') {
		w->icase = true;
		s++;
	}
	if (*s != '\0' && *s != ' ' && *s != '\t') {
		rulefile_fail(f, "'%c' after a closing quote (only i, for case-insensitive, may follow)", *s);
		return NULL;
	}
	return s;
}

/* Split a checked, NUL-terminated line into words. Their number, or -1. */
static int
rulefile_line_split(struct rulefile *f, char *s, struct rulefile_word *w)
{
	int n = 0;

	for (;;) {
		s += strspn(s, " \t");
		if (*s == '\0' || *s == '#')
			return n;
		if (n == f->words_max)
			return rulefile_fail(f, "too many words (%s)", f->too_many);
		memset(&w[n], 0, sizeof(w[n]));
		if (*s == '"') {
			if ((s = rulefile_word_quoted(f, s + 1, &w[n])) == NULL)
				return -1;
		} else {
			w[n].s = s;
			w[n].len = strcspn(s, " \t");
			s += w[n].len;
		}
		n++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* Check one line's octets and copy it into buf (line_max + 1 octets). */
static int
rulefile_line_check(struct rulefile *f, const char *s, size_t len, char *buf)
{
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len > f->line_max)
		return rulefile_fail(f, "line too long (max %zu octets)", f->line_max);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\0')
			return rulefile_fail(f, "NUL octet in line (column %zu)", i + 1);
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return rulefile_fail(f, "control character 0x%02x in line (column %zu)", ch, i + 1);
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

int
rulefile_parse(struct rulefile *f, const char *text, size_t len,
    int (*line)(struct rulefile *f, struct rulefile_word *w, int n, void *arg), void *arg)
{
	char buf[RULEFILE_LINE_LIMIT + 1];
	struct rulefile_word w[RULEFILE_WORDS_MAX];
	size_t off = 0;

	f->line = 0;
	if (f->line_max > RULEFILE_LINE_LIMIT)
		f->line_max = RULEFILE_LINE_LIMIT;
	if (f->words_max > RULEFILE_WORDS_MAX)
		f->words_max = RULEFILE_WORDS_MAX;
	if (len > f->file_max)
		return rulefile_fail(f, "larger than %zu octets", f->file_max);
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (text + off)) : len - off;
		int words;
		f->line++;
		if (rulefile_line_check(f, text + off, n, buf) < 0 ||
		    (words = rulefile_line_split(f, buf, w)) < 0 ||
		    (words > 0 && line(f, w, words, arg) < 0))
			return -1;
		off += n + (nl != NULL);
	}
	return 0;
}

bool
rulefile_name_valid(const struct rulefile_word *w, size_t max)
{
	return !w->quoted && w->len > 0 && w->len <= max &&
	    w->s[strspn(w->s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] == '\0';
}

int
rulefile_code_pattern(const char *s, int *lo, int *hi)
{
	size_t digits = strspn(s, "0123456789");
	int span = 1;

	if (strcmp(s, "*") == 0) {
		*lo = 0;
		*hi = 999;
		return 0;
	}
	if (strlen(s) != 3 || digits == 0 || strspn(s + digits, "xX") != 3 - digits ||
	    s[0] < '2' || s[0] > '5')
		return -1;
	*lo = 0;
	for (size_t i = 0; i < 3; i++) {
		*lo = *lo * 10 + (i < digits ? s[i] - '0' : 0);
		span *= i < digits ? 1 : 10;
	}
	*hi = *lo + span - 1;
	return 0;
}

long long
rulefile_digits(const char *s, const char *end, int max)
{
	long long v = 0;

	if (s == end || end - s > max)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int
rulefile_status_pattern(const char *s, int st[3])
{
	const char *q = s;

	st[0] = st[1] = st[2] = -1;
	if (strcmp(s, "*") == 0)
		return 0;
	for (int i = 0; i < 3; i++) {
		const char *end = q + strcspn(q, ".");
		if (i > 0 && strcmp(q, "*") == 0)
			return 0;
		int v = (int)rulefile_digits(q, end, 3);
		if (v < 0 || (i == 0 && v != 2 && v != 4 && v != 5) || (*end == '.') != (i < 2))
			return -1;
		st[i] = v;
		q = end + 1;
	}
	return 0;
}

int
rulefile_regex_compile(struct rulefile *f, const struct rulefile_word *w, pcre2_code **re)
{
	/* bytes, not UTF-8: a peer's text need not be valid UTF-8 */
	uint32_t opts = PCRE2_NEVER_UTF | PCRE2_NEVER_BACKSLASH_C | (w->icase ? PCRE2_CASELESS : 0);
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	*re = NULL;
	if (!w->quoted && strcmp(w->s, "*") == 0)
		return 0;
	if (!w->quoted)
		return rulefile_fail(f, "text '%s': a regular expression in double quotes, or *", w->s);
	*re = pcre2_compile((PCRE2_SPTR)w->s, w->len, opts, &code, &off, NULL);
	if (*re == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return rulefile_fail(f, "regular expression \"%s\" at offset %zu: %s", w->s, (size_t)off,
		    (char *)msg);
	}
	return 0;
}

pcre2_match_context *
rulefile_match_context(void)
{
	pcre2_match_context *m = pcre2_match_context_create(NULL);

	if (m == NULL)
		return NULL;
	pcre2_set_match_limit(m, RULEFILE_MATCH_LIMIT);
	pcre2_set_depth_limit(m, RULEFILE_DEPTH_LIMIT);
	pcre2_set_heap_limit(m, RULEFILE_HEAP_LIMIT);
	return m;
}
