/*
 * log.c - logfmt event lines to stderr or a file, one write(2) per line so
 * lines from several worker threads never interleave; the same pairs as
 * JSON objects (RFC 8259, one per line, written by jansson) for log
 * shippers; a copy to syslog.
 * SECURITY: a line's values may hold network text the caller forgot to
 * quote; the JSON form reads a value as quoted only when its closing quote
 * ends the word, and a later key never replaces an earlier one (time,
 * prog, pid, level included), so a value cannot forge or hide a field.
 */
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/log_syslog.h"

/* A key is at most this long with its NUL; longer words are no pairs. */
#define LOG_KEY_MAX 64

static const char *log_prog = "ferry";
/* Where lines go: 2, or once a file was opened a descriptor number of its
 * own that is never closed again, only pointed elsewhere by dup3(2) (see
 * log_open). Read by every thread at each write. */
static atomic_int log_fd = 2;
static enum log_level log_min = LOG_INFO;
/* set by the main thread at start and on reload, read by every thread */
static atomic_int log_format = LOG_FORMAT_TEXT;
static atomic_bool log_syslog;

/* Point the log at fd (consumed). The first file gets a number of its own;
 * after that the number never changes: dup3 replaces what it refers to in
 * one step. Closing it and storing a new number would leave a window in
 * which another thread's accept or open reuses the closed number and a
 * log line lands in a client's socket or a spool file. Returns 0, or -1
 * (errno set; the old destination stays). */
static int
log_fd_replace(int fd)
{
	int cur = atomic_load(&log_fd), rc = 0, e = 0;

	if (cur <= 2) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		rc = -1;
		e = errno;
	}
	if (fd != 2)
		close(fd);
	if (rc < 0)
		errno = e;
	return rc;
}

int
log_open(const char *prog, const char *path)
{
	int fd;

	if (prog != NULL)
		log_prog = prog;
	if (path == NULL || strcmp(path, "-") == 0) {
		/* stderr again: the own number, if any, now points at it */
		return log_fd_replace(2);
	}
	/* opened as root at start, often in a directory the run user owns:
	 * a link there is refused (ELOOP), never followed */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	return log_fd_replace(fd);
}

int
log_chown(uid_t uid, gid_t gid)
{
	if (log_fd <= 2)
		return 0;
	return fchown(log_fd, uid, gid);
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

static const char *
log_level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO:  return "info";
	case LOG_WARN:  return "warn";
	default:        return "error";
	}
}

void
log_set_format(enum log_format fmt)
{
	atomic_store(&log_format, fmt);
}

void
log_set_syslog(bool on)
{
	if (on && !atomic_load(&log_syslog))
		log_syslog_open(log_prog);
	atomic_store(&log_syslog, on);
}

/* A JSON string for a value: as is when it is UTF-8, else with every
 * non-ASCII octet written as the text \xHH (log_quote's notation). */
static json_t *
log_json_string(const char *v, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char buf[4 * 4096];
	size_t o = 0;
	json_t *j = json_stringn(v, len);

	if (j != NULL)
		return j;
	for (size_t i = 0; i < len && o + 4 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x80) {
			buf[o++] = (char)c;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[c >> 4];
		buf[o++] = hex[c & 15];
	}
	return json_stringn(buf, o);
}

/* The end of the word at p: the first space, or end. */
static const char *
log_word_end(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	return p;
}

/* The key of a "key=" word at p into key (NUL-terminated); returns the
 * octets to skip (key and '='), or 0 when the word is not a key=value
 * pair: no '=' before the word ends, an empty or over-long key, or a
 * character no format string of ours puts in a key. */
static size_t
log_key_read(const char *p, const char *end, char key[LOG_KEY_MAX])
{
	size_t n = 0;

	for (; p + n < end && p[n] != '=' && p[n] != ' '; n++)
		if (n + 1 >= LOG_KEY_MAX ||
		    !(isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '.'))
			return 0;
	if (n == 0 || p + n == end || p[n] != '=')
		return 0;
	memcpy(key, p, n);
	key[n] = '\0';
	return n + 1;
}

/* The value of a "quoted" word at p (log_quote's escapes undone) into out;
 * returns the end of the value, or NULL when its closing quote is not
 * followed by a space or the end of the line: then the word is not one
 * log_quote wrote and the caller reads it literally. A quote left open
 * (a line cut at its maximum length) runs to the end. */
static const char *
log_quoted_read(const char *p, const char *end, char *out, size_t *outlen)
{
	size_t n = 0;

	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
			out[n++] = *++p;
		} else if (*p == '\\' && p + 3 < end && p[1] == 'x' && isxdigit((unsigned char)p[2]) &&
		    isxdigit((unsigned char)p[3])) {
			char h[3] = { p[2], p[3], '\0' };
			out[n++] = (char)strtol(h, NULL, 16);
			p += 3;
		} else {
			out[n++] = *p;
		}
	}
	if (p + 1 < end && p[1] != ' ')     /* closed, but the word goes on */
		return NULL;
	*outlen = n;
	return p < end ? p + 1 : p;
}

/* One value at p into out: "quoted" as log_quote writes it, else the
 * literal octets up to the next space. Returns the end of the value. */
static const char *
log_value_read(const char *p, const char *end, char *out, size_t *outlen)
{
	const char *q;

	if (p < end && *p == '"' && (q = log_quoted_read(p, end, out, outlen)) != NULL)
		return q;
	q = log_word_end(p, end);
	memcpy(out, p, (size_t)(q - p));
	*outlen = (size_t)(q - p);
	return q;
}

/* Add key to o without ever replacing a member: the first one stays (so
 * time, prog, pid and level, set first, cannot be overwritten) and a later
 * one is renamed key_2, key_3 ... key_9, then dropped. Takes v. */
static void
log_json_add(json_t *o, const char *key, json_t *v)
{
	char alt[LOG_KEY_MAX + 8];

	if (json_object_get(o, key) == NULL) {
		json_object_set_new(o, key, v);
		return;
	}
	for (int i = 2; i <= 9; i++) {
		snprintf(alt, sizeof(alt), "%s_%d", key, i);
		if (json_object_get(o, alt) == NULL) {
			json_object_set_new(o, alt, v);
			return;
		}
	}
	json_decref(v);
}

char *
log_json_format(const char *time, const char *prog, long pid, const char *level,
    const char *pairs, size_t len)
{
	const char *p = pairs, *end = pairs + len;
	char key[LOG_KEY_MAX], val[4096], msg[4096];
	size_t vlen, mlen = 0, k;
	json_t *o = json_object();
	char *s;

	if (o == NULL)
		return NULL;
	if (len >= sizeof(val))
		end = pairs + sizeof(val) - 1;    /* a value or msg never outgrows its buffer */
	json_object_set_new(o, "time", json_string(time));
	json_object_set_new(o, "prog", json_string(prog));
	json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "level", json_string(level));
	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if ((k = log_key_read(p, end, key)) == 0) {
			/* a word that is no pair: the words join, space-separated, in "msg" */
			const char *w = log_word_end(p, end);
			if (mlen > 0)
				msg[mlen++] = ' ';
			memcpy(msg + mlen, p, (size_t)(w - p));
			mlen += (size_t)(w - p);
			p = w;
			continue;
		}
		p = log_value_read(p + k, end, val, &vlen);
		log_json_add(o, key, log_json_string(val, vlen));
	}
	if (mlen > 0)
		log_json_add(o, "msg", log_json_string(msg, mlen));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* The JSON line, written with one write(2) like the text one (and the
 * same object to syslog). */
static void
log_json_write(const char *stamp, enum log_level lvl, const char *pairs, size_t len)
{
	char *s = log_json_format(stamp, log_prog, (long)getpid(), log_level_name(lvl), pairs, len);
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (atomic_load(&log_syslog))
		log_syslog_send(lvl, s, n);
	s[n] = '\n';      /* over the NUL: written with its length, never as a string */
	if (write(atomic_load(&log_fd), s, n + 1) < 0) {
		/* nowhere left to report it */
	}
	free(s);
}

static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[4096], stamp[96];
	struct timeval tv;
	struct tm tm;
	int n, m, pairs;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (long)(tv.tv_usec / 1000));
	n = snprintf(line, sizeof(line), "%s %s[%d]: ", stamp, log_prog, (int)getpid());
	pairs = n;
	n += snprintf(line + n, sizeof(line) - n, "level=%s ", log_level_name(lvl));
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = sizeof(line) - 2 - n;
	line[n + m] = '\n';
	if (atomic_load(&log_format) == LOG_FORMAT_JSON) {
		log_json_write(stamp, lvl, line + n, m);
		return;
	}
	if (atomic_load(&log_syslog))
		log_syslog_send(lvl, line + pairs, n + m - pairs);
	/* A single write keeps lines whole across threads (O_APPEND). */
	if (write(atomic_load(&log_fd), line, n + m + 1) < 0) {
		/* nowhere left to report it */
	}
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_quote(char *out, size_t outsz, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (i = 0; i < len && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < len && o + 4 < outsz) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
